import BertCheck
import Foundation

/// The task head's part of `bertcheck run`: what a transformers pipeline would show, and the
/// head's tensors in JSON.
enum HeadPredictionsRenderer {
    static func percent(_ p: Double) -> String { String(format: "%.2f%%", p * 100) }

    static func text(_ report: RunReport) -> [String] {
        var lines: [String] = []
        if let embedding = report.output.headOutputs[OutputRegistry.sentenceEmbedding.name] {
            lines += ["", "sentence_embedding: " + TorchFormat.size(embedding.shape), TorchFormat.tensor(embedding.values, shape: embedding.shape)]
        }
        guard let task = report.task, let rows = report.predictions else { return lines }
        lines += ["", "task head: \(task.rawValue)"]
        for (name, value) in report.output.headOutputs.sorted(by: { $0.key < $1.key }) where name != OutputRegistry.sentenceEmbedding.name {
            lines.append("\(name): " + TorchFormat.size(value.shape))
        }
        let many = rows.count > 1
        for (row, prediction) in rows.enumerated() {
            let lead = many ? "[\(row)] " : ""
            if let label = prediction.label { lines.append("\(lead)label: \(label.name) (id \(label.id), probability \(percent(label.probability)))") }
            if let score = prediction.score { lines.append("\(lead)score: \(formatNumber(score))") }
            if let next = prediction.nextSentence { lines.append("\(lead)next sentence: \(next.name) (probability \(percent(next.probability)))") }
            if !prediction.tokenLabels.isEmpty {
                lines.append("\(lead)token labels: " + prediction.tokenLabels.map { "\($0.token)/\($0.label.name)" }.joined(separator: " "))
            }
            if let answer = prediction.answer {
                lines.append("\(lead)answer: \"\(answer.text)\" (tokens \(answer.span.start)…\(answer.span.end), score \(formatNumber(answer.span.score)))")
            } else if task == .questionAnswering {
                lines.append("\(lead)answer: none (no span in the context)")
            }
            for fill in prediction.masks {
                lines.append("\(lead)[MASK] at token \(fill.position): " + fill.candidates.map { "\($0.token) \(percent($0.probability))" }.joined(separator: ", "))
            }
        }
        return lines
    }

    static func json(_ report: RunReport) -> [(key: String, value: JSONStream)] {
        // The head's tensors (a masked-LM head's logits are vocabulary-wide) stream from their buffers.
        let tensors: [(key: String, value: JSONStream)] = report.output.headOutputs.sorted(by: { $0.key < $1.key }).map { name, value in
            (name, .object([("shape", .value(.array(value.shape.map { .int($0) }))), ("values", .floats(value.values, shape: value.shape))]))
        }
        guard let task = report.task, let rows = report.predictions else { return tensors }
        func label(_ l: PredictedLabel?) -> JSONValue {
            l.map { .object([("id", .int($0.id)), ("label", .string($0.name)), ("probability", .number($0.probability))]) } ?? .null
        }
        var members: [(key: String, value: JSONStream)] = [("task", .value(.string(task.rawValue)))] + tensors
        members.append(("predictions", .value(.array(rows.map { p in
            .object([
                ("label", label(p.label)),
                ("score", p.score.map { .number($0) } ?? .null),
                ("next_sentence", label(p.nextSentence)),
                ("token_labels", .array(p.tokenLabels.map { .object([("position", .int($0.position)), ("token", .string($0.token)), ("label", label($0.label))]) })),
                ("answer", p.answer.map { .object([("start", .int($0.span.start)), ("end", .int($0.span.end)), ("score", .number($0.span.score)), ("text", .string($0.text))]) } ?? .null),
                ("masks", .array(p.masks.map { fill in
                    .object([("position", .int(fill.position)),
                             ("top", .array(fill.candidates.map { .object([("token", .string($0.token)), ("probability", .number($0.probability))]) }))])
                })),
            ])
        }))))
        return members
    }
}
