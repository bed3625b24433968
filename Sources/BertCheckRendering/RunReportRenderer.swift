import BertCheck

/// `bertcheck run` as the notebook showed it (ids, torch-style previews, the pooler check) or as
/// JSON with every value.
public enum RunReportRenderer {
    /// The notebook's view: ids, shapes, torch-style previews, the pooler check.
    public static func text(_ report: RunReport) -> String {
        let batch = report.batch, output = report.output
        var lines: [String] = []
        let idRows = rows(batch.inputIds, of: batch)
        if batch.batch == 1 {
            lines.append("input_ids: " + list(idRows[0]))
        } else {
            lines.append("input_ids:")
            for (row, ids) in idRows.enumerated() {
                let real = batch.attentionMask[(row * batch.seq)..<((row + 1) * batch.seq)].reduce(0, +)
                lines.append("  [\(row)] " + list(ids) + (real < batch.seq ? "  (\(batch.seq - real) padding)" : ""))
            }
        }
        if let tokens = report.tokens {
            for (row, t) in tokens.enumerated() {
                lines.append((batch.batch == 1 ? "tokens: " : "tokens[\(row)]: ") + JSONValue.array(t.map { .string($0) }).serialized(.oneLine))
            }
        }
        if batch.tokenTypeIds.contains(where: { $0 != 0 }) {
            lines.append("token_type_ids: " + rows(batch.tokenTypeIds, of: batch).map(list).joined(separator: ", "))
        }
        lines.append("")
        let shape = [output.batch, output.seq, output.hidden]
        lines.append("\(OutputRegistry.lastHiddenState.name): " + TorchFormat.size(shape))
        lines.append(TorchFormat.tensor(output.lastHiddenState, shape: shape))
        if let states = output.hiddenStates {
            lines.append("")
            lines.append("\(OutputRegistry.hiddenStates.name): \(states.count) tensors of " + TorchFormat.size(shape) + " (0 = embeddings, N = output of layer N-1)")
        }
        lines.append("")
        if let pooled = output.poolerOutput {
            lines.append("\(OutputRegistry.poolerOutput.name): " + TorchFormat.size([output.batch, output.hidden]))
            lines.append(TorchFormat.tensor(pooled, shape: [output.batch, output.hidden]))
            lines.append("")
            if report.poolerCheck == true {
                lines.append("pooler(CLS) == pooler_output: True")
            } else {
                lines.append("pooler(CLS) == pooler_output: False (max abs difference \(report.poolerCheckMaxDifference ?? .nan))")
            }
        } else {
            lines.append("\(OutputRegistry.poolerOutput.name): none (the checkpoint has no pooler weights)")
        }
        lines += HeadPredictionsRenderer.text(report)
        return lines.joined(separator: "\n")
    }

    /// Everything: inputs as [B][S] arrays, outputs as nested [B][S][H] / [B][H] arrays (print it
    /// with the `.oneLine` layout, as `bertcheck run --json` does).
    public static func json(_ report: RunReport) -> JSONValue { jsonStream(report).materialized }

    /// The same JSON, with the tensors written from their buffers: `bertcheck run --json` streams
    /// it to stdout rather than building one string of every value.
    public static func jsonStream(_ report: RunReport) -> JSONStream {
        let batch = report.batch, output = report.output
        func ids(_ values: [Int]) -> JSONStream { .value(.array(rows(values, of: batch).map { .array($0.map { .int($0) }) })) }
        func tensor(_ values: [Float], _ shape: [Int]) -> JSONStream {
            .object([("shape", .value(.array(shape.map { .int($0) }))), ("values", .floats(values, shape: shape))])
        }
        let states = [output.batch, output.seq, output.hidden]
        var members: [(key: String, value: JSONStream)] = [
            ("model", .value(.string(report.model))),
            ("input_ids", ids(batch.inputIds)),
            ("attention_mask", ids(batch.attentionMask)),
            ("token_type_ids", ids(batch.tokenTypeIds)),
        ]
        if let tokens = report.tokens {
            members.append(("tokens", .value(.array(tokens.map { .array($0.map { .string($0) }) }))))
        }
        members.append((OutputRegistry.lastHiddenState.name, tensor(output.lastHiddenState, states)))
        members.append((OutputRegistry.poolerOutput.name, output.poolerOutput.map { tensor($0, [output.batch, output.hidden]) } ?? .value(.null)))
        if let hiddenStates = output.hiddenStates {
            members.append((OutputRegistry.hiddenStates.name, .array(hiddenStates.map { .floats($0, shape: states) })))
        }
        members.append(("pooler_check", .value(report.poolerCheck.map { .bool($0) } ?? .null)))
        members += HeadPredictionsRenderer.json(report)
        return .object(members)
    }

    /// `values` (row-major [B][S]) split into one array per row.
    static func rows(_ values: [Int], of batch: Batch) -> [[Int]] {
        (0..<batch.batch).map { Array(values[($0 * batch.seq)..<(($0 + 1) * batch.seq)]) }
    }

    /// `[1, 2, 3]`.
    static func list(_ values: [Int]) -> String { "[" + values.map(String.init).joined(separator: ", ") + "]" }
}
