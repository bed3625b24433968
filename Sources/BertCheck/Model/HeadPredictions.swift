import Foundation

/// What a transformers pipeline shows for a task head's outputs, per batch row: the label and its
/// probability (text classification; a score for regression), a label per token (token
/// classification), the best answer span (question answering), the top tokens at each [MASK]
/// (fill-mask). `run` renders it.

/// A label id with its name (config.json `id2label`) and probability (softmax over the labels;
/// sigmoid for multi-label classification).
public struct PredictedLabel: Equatable, Sendable {
    public var id: Int
    public var name: String
    public var probability: Double
}

public struct TokenLabel: Equatable, Sendable {
    public var position: Int
    public var token: String
    public var label: PredictedLabel
}

public struct MaskFill: Equatable, Sendable {
    public var position: Int
    /// The top `topKCount` tokens, most probable first, with their softmax probabilities.
    public var candidates: [(token: String, probability: Double)]

    public static func == (a: MaskFill, b: MaskFill) -> Bool {
        a.position == b.position && a.candidates.map(\.token) == b.candidates.map(\.token)
            && a.candidates.map(\.probability) == b.candidates.map(\.probability)
    }
}

public struct AnswerPrediction: Equatable, Sendable {
    public var span: AnswerSpan
    /// The span's word pieces joined as the tokenizer's decode does (`##` pieces glued).
    public var text: String
}

/// One row's predictions (only the fields of the row's task are set).
public struct RowPrediction: Equatable, Sendable {
    public var label: PredictedLabel?
    public var score: Double?
    public var tokenLabels: [TokenLabel] = []
    public var answer: AnswerPrediction?
    public var masks: [MaskFill] = []
    /// BertForPreTraining's next-sentence label.
    public var nextSentence: PredictedLabel?
}

/// Labels of the next-sentence head (transformers: 0 = B follows A).
public let nextSentenceLabels = ["is next", "not next"]

/// The predictions for every row of a forward pass through a model with a task head; nil for a
/// bare `BertModel`. `tokenText` turns a vocabulary id into its text.
public func headPredictions(task: TaskHead?, config: BertConfig, batch: Batch, output: BertOutput,
                            tokenText: (Int) -> String?) -> [RowPrediction]? {
    guard let task else { return nil }
    let seq = batch.seq
    func label(_ values: ArraySlice<Float>, names: [String]?, sigmoid: Bool = false) -> PredictedLabel {
        let row = Array(values)
        let best = argmax(row, base: 0, count: row.count)
        let probability = sigmoid ? 1 / (1 + exp(-Double(row[best]))) : softmax(row)[best]
        let name = names.flatMap { best < $0.count ? $0[best] : nil } ?? "LABEL_\(best)"
        return PredictedLabel(id: best, name: name, probability: probability)
    }
    func realPositions(_ row: Int) -> [Int] { (0..<seq).filter { batch.attentionMask[row * seq + $0] == 1 } }
    func text(_ row: Int, _ position: Int) -> String { tokenText(batch.inputIds[row * seq + position]) ?? "[\(batch.inputIds[row * seq + position])]" }
    let maskId = task == .maskedLM || task == .preTraining ? maskTokenId(tokenText, config) : nil
    func masks(_ logits: FloatArray, row: Int) -> [MaskFill] {
        guard let width = logits.shape.last, let maskId else { return [] }
        return realPositions(row).filter { batch.inputIds[row * seq + $0] == maskId }.map { position in
            let base = (row * seq + position) * width
            let probabilities = softmax(Array(logits.values[base..<(base + width)]))
            let top = topIndices(logits.values, base: base, count: width, k: min(topKCount, width))
            return MaskFill(position: position, candidates: top.map { (tokenText($0) ?? "[\($0)]", probabilities[$0]) })
        }
    }
    var rows = [RowPrediction](repeating: RowPrediction(), count: batch.batch)
    let heads = output.headOutputs
    for row in 0..<batch.batch {
        switch task {
        case .sequenceClassification:
            guard let logits = heads["logits"], let k = logits.shape.last else { continue }
            let values = logits.values[(row * k)..<(row * k + k)]
            if k == 1 || config.problemType == "regression" {
                rows[row].score = Double(values[values.startIndex])
            } else {
                rows[row].label = label(values, names: config.id2label, sigmoid: config.problemType == "multi_label_classification")
            }
        case .nextSentencePrediction:
            guard let logits = heads["logits"] else { continue }
            rows[row].nextSentence = label(logits.values[(row * 2)..<(row * 2 + 2)], names: nextSentenceLabels)
        case .tokenClassification:
            guard let logits = heads["logits"], let k = logits.shape.last else { continue }
            rows[row].tokenLabels = realPositions(row).map { position in
                let base = (row * seq + position) * k
                return TokenLabel(position: position, token: text(row, position), label: label(logits.values[base..<(base + k)], names: config.id2label))
            }
        case .questionAnswering:
            guard let start = heads["start_logits"], let end = heads["end_logits"] else { continue }
            let range = (row * seq)..<(row * seq + seq)
            let types = Array(batch.tokenTypeIds[range]), hasPair = types.contains(1)
            let special: Set<String> = ["[CLS]", "[SEP]", "[PAD]"]
            // The answer lies in the context (the pair, token type 1) when there is one.
            let allowed = { (p: Int) in
                batch.attentionMask[row * seq + p] == 1 && (!hasPair || types[p] == 1) && !special.contains(text(row, p))
            }
            if let span = bestAnswerSpan(start: start.values[range], end: end.values[range], allowed: allowed) {
                let pieces = (span.start...span.end).map { text(row, $0) }
                rows[row].answer = AnswerPrediction(span: span, text: joinWordPieces(pieces))
            }
        case .maskedLM:
            if let logits = heads["logits"] { rows[row].masks = masks(logits, row: row) }
        case .preTraining:
            if let logits = heads["prediction_logits"] { rows[row].masks = masks(logits, row: row) }
            if let nsp = heads["seq_relationship_logits"] {
                rows[row].nextSentence = label(nsp.values[(row * 2)..<(row * 2 + 2)], names: nextSentenceLabels)
            }
        }
    }
    return rows
}

/// The vocabulary id of [MASK] (found by scanning ids; nil when the vocabulary has none).
func maskTokenId(_ tokenText: (Int) -> String?, _ config: BertConfig) -> Int? {
    (0..<config.vocabSize).first { tokenText($0) == "[MASK]" }
}

/// Softmax in Double, max-subtracted.
func softmax(_ values: [Float]) -> [Double] {
    let top = Double(values.max() ?? 0)
    let exps = values.map { exp(Double($0) - top) }
    let sum = exps.reduce(0, +)
    return exps.map { $0 / sum }
}

/// Word pieces as text: `##` continuations glued to the piece before, others space-separated.
public func joinWordPieces(_ pieces: [String]) -> String {
    var out = ""
    for piece in pieces {
        if piece.hasPrefix("##") { out += piece.dropFirst(2) } else { out += (out.isEmpty ? "" : " ") + piece }
    }
    return out
}
