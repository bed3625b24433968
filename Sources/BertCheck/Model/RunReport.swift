import Foundation

/// What `bertcheck run` shows: the inputs, the outputs as torch prints them, and the notebook's
/// check that the pooler applied to the [CLS] rows gives pooler_output.
public struct RunReport {
    public let model: String
    public let batch: Batch
    public let tokens: [[String]]?
    public let output: BertOutput
    /// `pool(CLS rows)` recomputed from the pooler weights (nil without a pooler).
    public let recomputedPooler: [Float]?

    public init(model: String, batch: Batch, tokens: [[String]]?, output: BertOutput, bert: BertModel) {
        self.model = model
        self.batch = batch
        self.tokens = tokens
        self.output = output
        let cls = clsRows(output.lastHiddenState, batch: output.batch, seq: output.seq, hidden: output.hidden)
        recomputedPooler = bert.pool(cls, rows: output.batch)
    }

    /// Does `pooler(CLS) == pooler_output` hold exactly (as the notebook's `.all()` asks)? nil without a pooler.
    public var poolerCheck: Bool? {
        guard let pooled = output.poolerOutput, let recomputed = recomputedPooler else { return nil }
        return pooled == recomputed
    }

    public var poolerCheckMaxDifference: Float? {
        guard let pooled = output.poolerOutput, let recomputed = recomputedPooler else { return nil }
        return zip(pooled, recomputed).map { abs($0 - $1) }.max() ?? 0
    }

    func rows(_ values: [Int]) -> [[Int]] {
        (0..<batch.batch).map { Array(values[($0 * batch.seq)..<(($0 + 1) * batch.seq)]) }
    }

    /// The notebook's view: ids, shapes, torch-style previews, the pooler check.
    public var text: String {
        var lines: [String] = []
        let idRows = rows(batch.inputIds)
        if batch.batch == 1 {
            lines.append("input_ids: " + list(idRows[0]))
        } else {
            lines.append("input_ids:")
            for (row, ids) in idRows.enumerated() {
                let real = batch.attentionMask[(row * batch.seq)..<((row + 1) * batch.seq)].reduce(0, +)
                lines.append("  [\(row)] " + list(ids) + (real < batch.seq ? "  (\(batch.seq - real) padding)" : ""))
            }
        }
        if let tokens {
            for (row, t) in tokens.enumerated() {
                lines.append((batch.batch == 1 ? "tokens: " : "tokens[\(row)]: ") + "[" + t.map { StrictJSON.quote($0) }.joined(separator: ", ") + "]")
            }
        }
        if batch.tokenTypeIds.contains(where: { $0 != 0 }) {
            lines.append("token_type_ids: " + rows(batch.tokenTypeIds).map(list).joined(separator: ", "))
        }
        lines.append("")
        let shape = [output.batch, output.seq, output.hidden]
        lines.append("last_hidden_state: " + TorchFormat.size(shape))
        lines.append(TorchFormat.tensor(output.lastHiddenState, shape: shape))
        if let states = output.hiddenStates {
            lines.append("")
            lines.append("hidden_states: \(states.count) tensors of " + TorchFormat.size(shape) + " (0 = embeddings, N = output of layer N-1)")
        }
        lines.append("")
        if let pooled = output.poolerOutput {
            lines.append("pooler_output: " + TorchFormat.size([output.batch, output.hidden]))
            lines.append(TorchFormat.tensor(pooled, shape: [output.batch, output.hidden]))
            lines.append("")
            if poolerCheck == true {
                lines.append("pooler(CLS) == pooler_output: True")
            } else {
                lines.append("pooler(CLS) == pooler_output: False (max abs difference \(poolerCheckMaxDifference ?? .nan))")
            }
        } else {
            lines.append("pooler_output: none (the checkpoint has no pooler weights)")
        }
        return lines.joined(separator: "\n")
    }

    /// Everything as JSON: inputs as [B][S] arrays, outputs as nested [B][S][H] / [B][H] arrays.
    public var json: String {
        var fields: [String] = []
        fields.append("\"model\": " + StrictJSON.quote(model))
        fields.append("\"input_ids\": " + nested(rows(batch.inputIds).map(list)))
        fields.append("\"attention_mask\": " + nested(rows(batch.attentionMask).map(list)))
        fields.append("\"token_type_ids\": " + nested(rows(batch.tokenTypeIds).map(list)))
        if let tokens {
            fields.append("\"tokens\": " + nested(tokens.map { "[" + $0.map { StrictJSON.quote($0) }.joined(separator: ", ") + "]" }))
        }
        let h = output.hidden
        fields.append("\"last_hidden_state\": {\"shape\": [\(output.batch), \(output.seq), \(h)], \"values\": "
                      + floats(output.lastHiddenState, shape: [output.batch, output.seq, h]) + "}")
        if let pooled = output.poolerOutput {
            fields.append("\"pooler_output\": {\"shape\": [\(output.batch), \(h)], \"values\": " + floats(pooled, shape: [output.batch, h]) + "}")
        } else {
            fields.append("\"pooler_output\": null")
        }
        if let states = output.hiddenStates {
            fields.append("\"hidden_states\": [" + states.map { floats($0, shape: [output.batch, output.seq, h]) }.joined(separator: ", ") + "]")
        }
        fields.append("\"pooler_check\": " + (poolerCheck.map { $0 ? "true" : "false" } ?? "null"))
        return "{" + fields.joined(separator: ", ") + "}"
    }

    func list(_ values: [Int]) -> String { "[" + values.map(String.init).joined(separator: ", ") + "]" }

    func nested(_ items: [String]) -> String { "[" + items.joined(separator: ", ") + "]" }

    /// Nested JSON arrays; shortest round-trip decimal per value, null for non-finite ones.
    func floats(_ values: [Float], shape: [Int]) -> String {
        var out = ""
        out.reserveCapacity(values.count * 11)
        func walk(_ offset: Int, _ dims: ArraySlice<Int>) {
            guard let length = dims.first else {
                let v = values[offset]
                out += v.isFinite ? "\(v)" : "null"
                return
            }
            let stride = dims.dropFirst().reduce(1, *)
            out += "["
            for i in 0..<length {
                if i > 0 { out += ", " }
                walk(offset + i * stride, dims.dropFirst())
            }
            out += "]"
        }
        walk(0, shape[...])
        return out
    }
}
