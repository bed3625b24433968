/// A padded batch of encoded inputs, row-major [batch, seq]. `attentionMask` is 1 for real
/// tokens and 0 for padding, as transformers takes it.
public struct Batch: Equatable, Sendable {
    public var batch: Int
    public var seq: Int
    public var inputIds: [Int]
    public var attentionMask: [Int]
    public var tokenTypeIds: [Int]

    public init(batch: Int, seq: Int, inputIds: [Int], attentionMask: [Int], tokenTypeIds: [Int]) {
        self.batch = batch
        self.seq = seq
        self.inputIds = inputIds
        self.attentionMask = attentionMask
        self.tokenTypeIds = tokenTypeIds
    }
}

/// What `BertModel` returns, as transformers' `BaseModelOutputWithPooling` does. Flat row-major
/// buffers: `lastHiddenState` is [batch, seq, hidden], `poolerOutput` [batch, hidden] (nil when
/// the checkpoint has no pooler), `hiddenStates[n]` [batch, seq, hidden] when asked for
/// (0 = embedding output, n = output of layer n-1). Padded positions (attention mask 0) other
/// than position 0 hold 0 unless the pass computed them (`BertModel.forward(_:computePadding:)`).
public struct BertOutput: Sendable {
    public var batch: Int
    public var seq: Int
    public var hidden: Int
    public var lastHiddenState: [Float]
    public var poolerOutput: [Float]?
    public var hiddenStates: [[Float]]?
    /// The task head's outputs under transformers' field names (`logits`, `start_logits`, …;
    /// OutputRegistry), empty for a bare `BertModel`. A sentence-transformers pipeline adds
    /// `sentence_embedding`.
    public var headOutputs: [String: FloatArray] = [:]

    public init(batch: Int, seq: Int, hidden: Int, lastHiddenState: [Float], poolerOutput: [Float]?, hiddenStates: [[Float]]?) {
        self.batch = batch
        self.seq = seq
        self.hidden = hidden
        self.lastHiddenState = lastHiddenState
        self.poolerOutput = poolerOutput
        self.hiddenStates = hiddenStates
    }
}

/// The first token whose id or token type falls outside a config's tables.
enum TokenRangeViolation: Equatable {
    case id(row: Int, position: Int, value: Int64)
    case type(row: Int, position: Int, value: Int64)
}

extension BertConfig {
    /// The first id outside `0..<vocab_size` or token type outside `0..<type_vocab_size`, in row-major
    /// order (an id before the type at the same position); nil when all fit.
    func firstTokenOutOfRange<I: BinaryInteger>(ids: [I], types: [I], seq: Int) -> TokenRangeViolation? {
        for t in 0..<min(ids.count, types.count) {
            let id = Int64(truncatingIfNeeded: ids[t]), type = Int64(truncatingIfNeeded: types[t])
            if id < 0 || id >= Int64(vocabSize) { return .id(row: t / max(seq, 1), position: t % max(seq, 1), value: id) }
            if type < 0 || type >= Int64(typeVocabSize) { return .type(row: t / max(seq, 1), position: t % max(seq, 1), value: type) }
        }
        return nil
    }
}
