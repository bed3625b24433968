/// How a sentence vector is taken from the forward pass's outputs.
public enum Pooling: String, CaseIterable, Sendable {
    /// The [CLS] row of last_hidden_state.
    case cls
    /// The attention-masked mean of last_hidden_state, as sentence-transformers' mean pooling
    /// (sum of real tokens / max(count, 1e-9)).
    case mean
    /// pooler_output (dense + tanh on [CLS]).
    case pooler
}

/// Why a sentence vector cannot be taken.
public enum SentenceEmbeddingProblem: Error, CustomStringConvertible, Equatable {
    /// Pooling `.pooler` on outputs without pooler_output (the model has no pooler weights).
    case noPoolerOutput

    public var description: String {
        switch self {
        case .noPoolerOutput: return "the outputs have no pooler_output (the model has no pooler weights)"
        }
    }
}

/// One sentence vector per batch row. Throws `SentenceEmbeddingProblem`.
public func sentenceEmbeddings(_ output: BertOutput, attentionMask: [Int], pooling: Pooling) throws -> [[Float]] {
    let h = output.hidden, s = output.seq
    switch pooling {
    case .cls:
        let rows = clsRows(output.lastHiddenState, batch: output.batch, seq: s, hidden: h)
        return (0..<output.batch).map { row in Array(rows[(row * h)..<(row * h + h)]) }
    case .pooler:
        guard let pooled = output.poolerOutput else {
            throw SentenceEmbeddingProblem.noPoolerOutput
        }
        return (0..<output.batch).map { row in Array(pooled[(row * h)..<(row * h + h)]) }
    case .mean:
        return (0..<output.batch).map { row in
            var sum = [Double](repeating: 0, count: h)
            var count = 0.0
            for position in 0..<s where attentionMask[row * s + position] == 1 {
                count += 1
                let base = (row * s + position) * h
                for c in 0..<h { sum[c] += Double(output.lastHiddenState[base + c]) }
            }
            return sum.map { Float($0 / max(count, 1e-9)) }
        }
    }
}
