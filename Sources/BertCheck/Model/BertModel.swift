import COpenBLAS
import Foundation

/// What is wrong with a batch handed to `BertModel.forward` (one case per rule). Callers that
/// read the batch from a file wrap it in a `FileError` naming that file.
public enum InputProblem: Error, CustomStringConvertible, Equatable {
    case emptyBatch
    case inconsistentBatch(String)
    case sequenceTooLong(length: Int, maximum: Int)
    case tokenIdOutOfRange(row: Int, position: Int, id: Int, vocabularySize: Int)
    case tokenTypeOutOfRange(row: Int, position: Int, tokenType: Int, typeVocabularySize: Int)
    case attentionMaskNotBinary(row: Int, position: Int, value: Int)
    case tooLarge(String)
    case exceedsMemory(tokens: String, needed: Int, available: Int, source: String)

    public var description: String {
        switch self {
        case .emptyBatch:
            return "the batch is empty"
        case .inconsistentBatch(let detail):
            return "inconsistent batch: \(detail)"
        case .sequenceTooLong(let length, let maximum):
            return "sequence length \(length) exceeds max_position_embeddings \(maximum)"
        case .tokenIdOutOfRange(let row, let position, let id, let size):
            return "input id \(id) at row \(row), position \(position) is outside the vocabulary (vocab_size \(size))"
        case .tokenTypeOutOfRange(let row, let position, let type, let size):
            return "token type \(type) at row \(row), position \(position) is outside type_vocab_size \(size)"
        case .attentionMaskNotBinary(let row, let position, let value):
            return "attention mask value \(value) at row \(row), position \(position) is not 0 or 1"
        case .tooLarge(let detail):
            return "batch too large: \(detail)"
        case let .exceedsMemory(tokens, needed, available, source):
            return "batch too large: \(tokens) tokens need about \(MemoryBudget.describe(needed)) of memory, more than the \(MemoryBudget.describe(available)) available (\(source)); use fewer or shorter texts"
        }
    }
}

/// transformers' `BertModel` in FP32, over a checkpoint's weights (mapped, not copied, when F32).
public final class BertModel: @unchecked Sendable {
    public let config: BertConfig
    let embeddings: BertEmbeddings
    let encoder: BertEncoder
    let pooler: BertPooler?
    let head: LoadedTaskHead?
    /// A sentence-transformers folder's pooling, Dense and Normalize modules (modules.json).
    public let sentencePipeline: SentenceTransformerPipeline?
    public let weightDType: DType
    /// Worker threads for every part of the forward pass.
    public let threads: Int
    /// Bytes of mapped layer weights that stay in the process between passes. The first layers
    /// whose weights fit in it keep their pages; every later layer drops its pages after it ran
    /// (they come back from the page cache on the next pass, which costs page faults), so peak
    /// RSS stays near this budget plus one layer. 0 keeps only the running layer, `Int.max`
    /// keeps everything. nil (the default) chooses per pass: `smallBatchResidentWeights` for a
    /// batch of at most `smallBatchTokens` tokens (for bert-base, peak RSS at 1 × 128 stays near
    /// 0.37× PyTorch's), everything for a larger one (re-faulting cost 2 % at 8 × 128, and peak
    /// RSS there is 0.6× PyTorch's with every page kept; Docs/performance.md).
    public var residentWeightBudget: Int?
    public static let smallBatchResidentWeights = 192 << 20
    public static let smallBatchTokens = 512

    /// The budget a pass of `tokens` tokens uses (see `residentWeightBudget`).
    func residentWeightBudget(tokens: Int) -> Int {
        residentWeightBudget ?? (tokens <= BertModel.smallBatchTokens ? BertModel.smallBatchResidentWeights : .max)
    }

    private let lock = NSLock()
    private var cachedWorkspace: Workspace?

    public init(checkpoint: Checkpoint, threads: Int? = nil) throws {
        let configFile = checkpoint.configPath ?? checkpoint.path
        guard let config = checkpoint.config else { throw FileError(checkpoint.path, WeightProblem.noConfig) }
        try BertModel.validate(config, file: configFile)
        guard let activation = Activation(rawValue: config.hiddenAct) else {
            throw FileError(configFile, WeightProblem.unsupportedActivation(config.hiddenAct))
        }
        self.config = config
        let table = try WeightTable(checkpoint: checkpoint, config: config)
        embeddings = try BertEmbeddings(table)
        encoder = try BertEncoder(table, activation: activation)
        // A checkpoint saved with add_pooling_layer=False has no pooler; one with half of it is broken.
        let pooler = ["weight", "bias"].map { ParameterName(.poolerDense, leaf: $0) }
        let present = pooler.filter { table.contains($0) }
        if present.count == pooler.count {
            self.pooler = try BertPooler(table)
        } else if let found = present.first, let absent = pooler.first(where: { !table.contains($0) }) {
            throw FileError(table.defaultFile, WeightProblem.incompletePooler(present: found.description, missing: absent.description))
        } else {
            self.pooler = nil
        }
        if let kind = TaskHead.of(architectures: config.architectures, storedModules: table.storedHeadModules,
                                  hasPooler: self.pooler != nil) {
            head = try LoadedTaskHead.load(kind, table: table, wordEmbeddings: embeddings.wordEmbeddings, activation: activation,
                                           hasPooler: self.pooler != nil)
        } else {
            head = nil
        }
        let directory = isDirectory(checkpoint.path)
            ? checkpoint.path : (checkpoint.path as NSString).deletingLastPathComponent
        sentencePipeline = try SentenceTransformerPipeline.load(directory: directory.isEmpty ? "." : directory, hidden: config.hiddenSize)
        weightDType = table.dominantDType
        let cores = ProcessInfo.processInfo.activeProcessorCount
        self.threads = max(1, threads ?? cores)
        // The workers split every product themselves (linearForward, attention), so OpenBLAS runs
        // single-threaded inside them instead of spinning a pool of its own beside them.
        openblas_set_num_threads(1)
    }

    /// The config rules a forward pass relies on (sizes positive, heads dividing hidden size).
    static func validate(_ config: BertConfig, file: String) throws {
        func check(_ ok: Bool, _ rule: String) throws {
            if !ok { throw FileError(file, WeightProblem.invalidConfig(rule)) }
        }
        let limit = 1 << 24
        try check(config.hiddenSize > 0 && config.hiddenSize <= limit, "hidden_size must be in 1...\(limit)")
        try check(config.numAttentionHeads > 0 && config.numAttentionHeads <= config.hiddenSize, "num_attention_heads must be in 1...hidden_size")
        try check(config.hiddenSize % config.numAttentionHeads == 0, "hidden_size \(config.hiddenSize) is not a multiple of num_attention_heads \(config.numAttentionHeads)")
        try check(config.numHiddenLayers >= 0 && config.numHiddenLayers <= 10_000, "num_hidden_layers must be in 0...10000")
        try check(config.intermediateSize > 0 && config.intermediateSize <= limit, "intermediate_size must be in 1...\(limit)")
        try check(config.vocabSize > 0 && config.vocabSize <= 1 << 31, "vocab_size must be positive")
        try check(config.maxPositionEmbeddings > 0 && config.maxPositionEmbeddings <= limit, "max_position_embeddings must be in 1...\(limit)")
        try check(config.typeVocabSize > 0 && config.typeVocabSize <= limit, "type_vocab_size must be positive")
        try check(config.layerNormEps.isFinite && config.layerNormEps >= 0, "layer_norm_eps must be finite and not negative")
        if config.positionEmbeddingType != "absolute" {
            throw FileError(file, WeightProblem.unsupportedPositionEmbedding(config.positionEmbeddingType))
        }
    }

    public var hasPooler: Bool { pooler != nil }

    /// The longest input the model takes from `tokenizer`: its model_max_length, the position
    /// table, and a sentence-transformers folder's max_seq_length, whichever is least.
    public func inputLength(tokenizer: BertTokenizer?) -> Int {
        min(tokenizer?.truncationLength(maxPositionEmbeddings: config.maxPositionEmbeddings) ?? config.maxPositionEmbeddings,
            sentencePipeline?.maxSeqLength ?? Int.max)
    }

    /// The task head computed after the encoder (nil for a bare `BertModel`).
    public var taskHead: TaskHead? { head?.kind }

    /// `tanh(W x + b)` of the pooler for `rows` rows of hidden size (nil without pooler weights).
    public func pool(_ clsRows: [Float], rows: Int) -> [Float]? {
        guard let pooler, rows >= 0, clsRows.count == rows * config.hiddenSize else { return nil }
        return clsRows.withUnsafeBufferPointer { p in
            guard let base = p.baseAddress else { return [] }
            return pooler.forward(base, count: rows)
        }
    }

    /// Checks the batch against the config: shape, ids, token types, mask, length.
    public func validate(_ batch: Batch) throws {
        guard batch.batch > 0, batch.seq > 0 else { throw InputProblem.emptyBatch }
        let (tokens, overflow) = batch.batch.multipliedReportingOverflow(by: batch.seq)
        guard !overflow else { throw InputProblem.tooLarge("\(batch.batch) × \(batch.seq) tokens") }
        guard batch.inputIds.count == tokens else {
            throw InputProblem.inconsistentBatch("\(batch.inputIds.count) input ids for \(batch.batch) × \(batch.seq)")
        }
        guard batch.attentionMask.count == tokens else {
            throw InputProblem.inconsistentBatch("\(batch.attentionMask.count) attention mask values for \(batch.batch) × \(batch.seq)")
        }
        guard batch.tokenTypeIds.count == tokens else {
            throw InputProblem.inconsistentBatch("\(batch.tokenTypeIds.count) token type ids for \(batch.batch) × \(batch.seq)")
        }
        guard batch.seq <= config.maxPositionEmbeddings else {
            throw InputProblem.sequenceTooLong(length: batch.seq, maximum: config.maxPositionEmbeddings)
        }
        switch config.firstTokenOutOfRange(ids: batch.inputIds, types: batch.tokenTypeIds, seq: batch.seq) {
        case .id(let row, let position, let id)?:
            throw InputProblem.tokenIdOutOfRange(row: row, position: position, id: Int(id), vocabularySize: config.vocabSize)
        case .type(let row, let position, let type)?:
            throw InputProblem.tokenTypeOutOfRange(row: row, position: position, tokenType: Int(type), typeVocabularySize: config.typeVocabSize)
        case nil:
            break
        }
        for t in 0..<tokens where batch.attentionMask[t] != 0 && batch.attentionMask[t] != 1 {
            throw InputProblem.attentionMaskNotBinary(row: t / batch.seq, position: t % batch.seq, value: batch.attentionMask[t])
        }
    }

    /// Bytes of the outputs alone (last_hidden_state, the hidden states when asked for, a
    /// masked-LM head's logits, the pooler), as `estimatedPassBytes` counts them.
    func estimatedOutputBytes(_ batch: Batch, hiddenStates: Bool) -> Int {
        let h = config.hiddenSize
        let vocabularyLogits = taskHead == .maskedLM || taskHead == .preTraining ? config.vocabSize : 0
        let perToken = h * (hiddenStates ? config.numHiddenLayers + 2 : 1) + vocabularyLogits
        let (tokens, o1) = batch.batch.multipliedReportingOverflow(by: batch.seq)
        let (floats, o2) = tokens.multipliedReportingOverflow(by: perToken)
        let (bytes, o3) = (floats + batch.batch * h).multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        return o1 || o2 || o3 ? .max : bytes
    }

    /// Bytes a pass over `batch` allocates, roughly: the workspace (hidden-size buffers, the
    /// intermediate and its packed copy, per-worker attention scores) and the outputs
    /// (last_hidden_state, the hidden states when asked for, a masked-LM head's vocabulary-wide
    /// logits). An estimate to refuse what cannot fit, not an exact figure.
    /// `packedTokens`: the tokens the pass computes (`PackedRows.tokens`), which size the
    /// workspace; every padded position when nil. The outputs are [batch, seq, …] either way.
    func estimatedPassBytes(_ batch: Batch, packedTokens: Int? = nil, attentionBuffers: Int, hiddenStates: Bool) -> Int {
        let h = config.hiddenSize, i = config.intermediateSize
        let tokens = batch.batch.multipliedReportingOverflow(by: batch.seq)
        let (workspace, o1) = (packedTokens ?? tokens.partialValue).multipliedReportingOverflow(by: (8 * h + 2 * i) * MemoryLayout<Float>.stride)
        let (scores, o2) = (batch.seq * (batch.seq + 2 * config.headSize)).multipliedReportingOverflow(by: attentionBuffers)
        let (floats, o3) = workspace.addingReportingOverflow(estimatedOutputBytes(batch, hiddenStates: hiddenStates))
        let (bytes, o4) = floats.addingReportingOverflow(scores.multipliedReportingOverflow(by: MemoryLayout<Float>.stride).partialValue)
        return tokens.overflow || o1 || o2 || o3 || o4 ? .max : bytes
    }

    /// The attention workers never outnumber the (row, head) pairs, nor 64 (more buffers than
    /// that would only cost memory for a --threads far past the cores).
    private func attentionBuffers(for batch: Batch) -> Int {
        max(1, min(threads, batch.batch * config.numAttentionHeads, 64))
    }

    /// Refuses a pass whose estimated memory exceeds what the process may still allocate.
    /// `tokens`: the rows the pass computes (`PackedRows.tokens`), which size its workspace.
    private func checkMemory(for batch: Batch, tokens: Int, hiddenStates: Bool) throws {
        var needed = estimatedPassBytes(batch, packedTokens: tokens, attentionBuffers: attentionBuffers(for: batch), hiddenStates: hiddenStates)
        // A cached workspace of this shape is reused, and already counted as memory in use.
        if let cached = cachedWorkspace, cached.tokens == tokens, cached.seq == batch.seq {
            needed = estimatedOutputBytes(batch, hiddenStates: hiddenStates)
        }
        if let (available, source) = MemoryBudget.available(), needed > available {
            throw InputProblem.exceedsMemory(tokens: "\(batch.batch) × \(batch.seq)", needed: needed, available: available, source: source)
        }
    }

    private func workspace(for batch: Batch, tokens: Int) throws -> Workspace {
        if let cached = cachedWorkspace, cached.tokens == tokens, cached.seq == batch.seq { return cached }
        cachedWorkspace = nil
        let attentionBuffers = attentionBuffers(for: batch)
        guard let created = Workspace(tokens: tokens, seq: batch.seq, hiddenSize: config.hiddenSize,
                                      headSize: config.headSize, intermediateSize: config.intermediateSize,
                                      attentionBuffers: attentionBuffers,
                                      maximumFloats: (1 << 40) / MemoryLayout<Float>.stride) else {
            throw InputProblem.tooLarge("\(batch.batch) × \(batch.seq) tokens need too much memory")
        }
        cachedWorkspace = created
        return created
    }

    /// The forward pass. Throws `InputProblem` for ids, token types or lengths the model cannot take.
    ///
    /// Only the real tokens (attention mask 1) are computed, packed (`PackedRows`), and position 0
    /// of every row; the other padded positions of every output hold 0 unless `computePadding`,
    /// which gives them transformers' values (their queries attending to the row's real tokens).
    /// `progress` hears of each step of each encoder layer (attention, intermediate, output) as it completes.
    public func forward(_ batch: Batch, outputHiddenStates: Bool = false, computePadding: Bool = false,
                        progress: ProgressObserver? = nil) throws -> BertOutput {
        try validate(batch)
        lock.lock()
        defer { lock.unlock() }
        let tokens = PackedRows(batch, computePadding: computePadding)
        try checkMemory(for: batch, tokens: tokens.tokens, hiddenStates: outputHiddenStates)
        let workspace = try self.workspace(for: batch, tokens: tokens.tokens)
        let hiddenSize = config.hiddenSize
        let hidden = workspace.hidden
        func snapshot() -> [Float] { tokens.scatter(hidden, width: hiddenSize) }
        embeddings.forward(hidden, batch: batch, tokens: tokens, hidden: hiddenSize, workers: threads,
                           packed: workspace.chainsPacked ? workspace.packedInput : nil)
        var states: [[Float]]? = outputHiddenStates ? [snapshot()] : nil
        let layerCount = encoder.layers.count, stepCount = layerCount * BertLayer.steps
        let activity = "forward pass over \(batch.batch) rows (\(tokens.tokens) tokens), \(layerCount) layers of \(BertLayer.steps) steps"
        var stepsDone = 0
        progress?.update(activity, unit: "steps", 0, of: stepCount)
        encoder.forward(hidden, workspace: workspace, tokens: tokens, workers: threads,
                        residentBudget: residentWeightBudget(tokens: tokens.tokens), afterStep: {
            stepsDone += 1
            progress?.update(activity, unit: "steps", stepsDone, of: stepCount)
        }) {
            if outputHiddenStates { states?.append(snapshot()) }
        }
        var pooled: [Float]?
        if let pooler {
            var cls = [Float](repeating: 0, count: batch.batch * hiddenSize)
            for (row, index) in tokens.firstTokens.enumerated() {
                for c in 0..<hiddenSize { cls[row * hiddenSize + c] = hidden[index * hiddenSize + c] }
            }
            pooled = cls.withUnsafeBufferPointer { p in
                p.baseAddress.map { pooler.forward($0, count: batch.batch) } ?? []
            }
        }
        var output = BertOutput(batch: batch.batch, seq: batch.seq, hidden: hiddenSize, lastHiddenState: snapshot(),
                                poolerOutput: pooled, hiddenStates: states)
        if let head {
            let encoderOutputs = EncoderOutputs(batch: batch.batch, seq: batch.seq, hidden: hiddenSize,
                                                lastHiddenState: output.lastHiddenState, pooled: pooled, tokens: tokens,
                                                packedHidden: ConstFloatPointer(hidden))
            output.headOutputs = head.module.outputs(encoderOutputs, workers: threads)
        }
        if let sentencePipeline {
            output.headOutputs[OutputRegistry.sentenceEmbedding.name] = sentencePipeline.embed(
                lastHiddenState: output.lastHiddenState, attentionMask: batch.attentionMask, batch: batch.batch, seq: batch.seq,
                hidden: hiddenSize)
        }
        return output
    }
}
