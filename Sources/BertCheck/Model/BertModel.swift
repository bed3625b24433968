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
        }
    }
}

// MARK: - Modules, one per transformers module, loaded by canonical name prefix (like candle's bert.rs)

/// nn.Linear: weight [out, in], bias [out].
struct Linear {
    let weight: FloatWeight
    let bias: FloatWeight
    let inFeatures: Int
    let outFeatures: Int

    init(_ table: WeightTable, prefix: String, inFeatures: Int, outFeatures: Int) throws {
        weight = try table.weight(prefix + ".weight", shape: [outFeatures, inFeatures])
        bias = try table.weight(prefix + ".bias", shape: [outFeatures])
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
    }

    /// `out[rows, outFeatures] = activation(input · Wᵀ + b)`, on `workers` threads; `packed` is
    /// scratch for the packed input, and either side may be packed (see `linearForward`).
    func forward(_ out: FloatPointer, _ input: ConstFloatPointer, rows: Int, activation: Activation? = nil, workers: Int,
                 packed: FloatPointer? = nil, inputLayout: MatrixLayout = .rowMajor, outLayout: MatrixLayout = .rowMajor) {
        linearForward(out, input, weight: weight.pointer, bias: bias.pointer, rows: rows, inFeatures: inFeatures,
                      outFeatures: outFeatures, activation: activation, workers: workers, packed: packed,
                      inputLayout: inputLayout, outLayout: outLayout)
    }

    /// This layer as one product of a combined `linearForward`, writing into `out`.
    func product(into out: FloatPointer, activation: Activation? = nil) -> LinearProduct {
        LinearProduct(weight: weight.pointer, bias: bias.pointer, out: out, outFeatures: outFeatures, activation: activation)
    }

    var mappedBytes: Int { weight.mappedBytes + bias.mappedBytes }

    func releasePages() {
        weight.releasePages()
        bias.releasePages()
    }
}

/// nn.LayerNorm over the hidden size.
struct LayerNorm {
    let weight: FloatWeight
    let bias: FloatWeight
    let eps: Float

    init(_ table: WeightTable, prefix: String, size: Int, eps: Float) throws {
        weight = try table.weight(prefix + ".weight", shape: [size])
        bias = try table.weight(prefix + ".bias", shape: [size])
        self.eps = eps
    }
}

/// `embeddings.*`: word + token type + position, then LayerNorm.
struct BertEmbeddings {
    let wordEmbeddings: FloatWeight
    let positionEmbeddings: FloatWeight
    let tokenTypeEmbeddings: FloatWeight
    let layerNorm: LayerNorm

    init(_ table: WeightTable, config: BertConfig) throws {
        let h = config.hiddenSize
        wordEmbeddings = try table.weight("embeddings.word_embeddings.weight", shape: [config.vocabSize, h])
        positionEmbeddings = try table.weight("embeddings.position_embeddings.weight", shape: [config.maxPositionEmbeddings, h])
        tokenTypeEmbeddings = try table.weight("embeddings.token_type_embeddings.weight", shape: [config.typeVocabSize, h])
        layerNorm = try LayerNorm(table, prefix: "embeddings.LayerNorm", size: h, eps: Float(config.layerNormEps))
    }

    /// `out[b·S + s] = LayerNorm(word[id] + type[tt] + position[s])`, also packed into `packed`
    /// if given (see `residualLayerNorm`); ids already validated.
    func forward(_ out: FloatPointer, batch: Batch, hidden: Int, workers: Int, packed: FloatPointer?) {
        for row in 0..<batch.batch {
            for position in 0..<batch.seq {
                let t = row * batch.seq + position
                let word = wordEmbeddings.pointer + batch.inputIds[t] * hidden
                let type = tokenTypeEmbeddings.pointer + batch.tokenTypeIds[t] * hidden
                let pos = positionEmbeddings.pointer + position * hidden
                let o = out + t * hidden
                // transformers' order: (inputs_embeds + token_type_embeddings) + position_embeddings.
                for c in 0..<hidden { o[c] = (word[c] + type[c]) + pos[c] }
            }
        }
        residualLayerNorm(out, out, residual: nil, weight: layerNorm.weight.pointer, shift: layerNorm.bias.pointer,
                          eps: layerNorm.eps, rows: batch.batch * batch.seq, columns: hidden, workers: workers,
                          packed: packed)
    }
}

/// `encoder.layer.N.attention.self.{query,key,value}`.
struct BertSelfAttention {
    let query: Linear
    let key: Linear
    let value: Linear
    let heads: Int
    let headSize: Int

    init(_ table: WeightTable, prefix: String, config: BertConfig) throws {
        let h = config.hiddenSize
        query = try Linear(table, prefix: prefix + ".query", inFeatures: h, outFeatures: h)
        key = try Linear(table, prefix: prefix + ".key", inFeatures: h, outFeatures: h)
        value = try Linear(table, prefix: prefix + ".value", inFeatures: h, outFeatures: h)
        heads = config.numAttentionHeads
        headSize = config.headSize
    }

    /// `context = softmax(Q Kᵀ / √d + mask) V`, head by head, for every row of the batch; the
    /// workers take (row, head) pairs from a shared counter, each with its own buffers.
    func forward(_ context: FloatPointer, input: ConstFloatPointer, workspace: Workspace, batch: Int, seq: Int, workers: Int) {
        let hidden = heads * headSize
        let tokens = batch * seq
        let q = workspace.query, k = workspace.key, v = workspace.value
        // Q, K and V share one packed input (packed by the LayerNorm before, when chained) and one
        // pool of work.
        let chained = workspace.chainsPacked
        linearForward([query.product(into: q), key.product(into: k), value.product(into: v)],
                      input: chained ? ConstFloatPointer(workspace.packedInput) : input, rows: tokens, inFeatures: hidden,
                      workers: workers, packed: workspace.packedInput, inputLayout: chained ? .packed : .rowMajor)
        let scaling = 1 / Float(headSize).squareRoot()
        onPool(batch * heads, workers: min(workers, workspace.attentionBuffers)) { pair, worker in
            let row = pair / heads, head = pair % heads
            let offset = row * seq * hidden + head * headSize
            attentionHead(context: context + offset, query: q + offset, key: k + offset, value: v + offset, ld: hidden,
                          seq: seq, headSize: headSize, scale: scaling, keyMask: workspace.keyMask + row * seq,
                          scores: workspace.scores(worker), packed: workspace.attentionPacked(worker))
        }
    }

    func releasePages() {
        query.releasePages()
        key.releasePages()
        value.releasePages()
    }
}

/// A dense layer whose output joins the residual stream through LayerNorm: transformers'
/// BertSelfOutput (`encoder.layer.N.attention.output`) and BertOutput (`encoder.layer.N.output`)
/// are both this module.
struct DenseResidualLayerNorm {
    let dense: Linear
    let layerNorm: LayerNorm

    init(_ table: WeightTable, prefix: String, inFeatures: Int, config: BertConfig) throws {
        dense = try Linear(table, prefix: prefix + ".dense", inFeatures: inFeatures, outFeatures: config.hiddenSize)
        layerNorm = try LayerNorm(table, prefix: prefix + ".LayerNorm", size: config.hiddenSize, eps: Float(config.layerNormEps))
    }

    /// `out = LayerNorm(input · Wᵀ + b + residual)`; `scratch` holds the product and `packed` the
    /// packed input, unless `inputLayout` says it comes packed. `out` may be `residual`. With
    /// `packedOut` (which may be `packed`), `out` is also written there packed for the next product.
    func forward(_ out: FloatPointer, input: ConstFloatPointer, inputLayout: MatrixLayout = .rowMajor,
                 residual: ConstFloatPointer, scratch: FloatPointer, packed: FloatPointer, packedOut: FloatPointer?,
                 rows: Int, workers: Int) {
        dense.forward(scratch, input, rows: rows, workers: workers, packed: packed, inputLayout: inputLayout)
        residualLayerNorm(out, scratch, residual: residual, weight: layerNorm.weight.pointer, shift: layerNorm.bias.pointer,
                          eps: layerNorm.eps, rows: rows, columns: dense.outFeatures, workers: workers, packed: packedOut)
    }
}

/// transformers' BertSelfOutput.
typealias BertAttentionOutput = DenseResidualLayerNorm
/// transformers' BertOutput (the name `BertOutput` is the forward pass's result type here).
typealias BertLayerOutput = DenseResidualLayerNorm

/// `encoder.layer.N.intermediate`: dense and the activation, fused in one pass over the output.
struct BertIntermediate {
    let dense: Linear
    let activation: Activation

    init(_ table: WeightTable, prefix: String, config: BertConfig, activation: Activation) throws {
        dense = try Linear(table, prefix: prefix + ".dense", inFeatures: config.hiddenSize, outFeatures: config.intermediateSize)
        self.activation = activation
    }
}

/// `encoder.layer.N`.
struct BertLayer {
    let attention: BertSelfAttention
    let attentionOutput: BertAttentionOutput
    let intermediate: BertIntermediate
    let output: BertLayerOutput

    init(_ table: WeightTable, index: Int, config: BertConfig, activation: Activation) throws {
        let prefix = "encoder.layer.\(index)"
        attention = try BertSelfAttention(table, prefix: prefix + ".attention.self", config: config)
        attentionOutput = try BertAttentionOutput(table, prefix: prefix + ".attention.output", inFeatures: config.hiddenSize, config: config)
        intermediate = try BertIntermediate(table, prefix: prefix + ".intermediate", config: config, activation: activation)
        output = try BertLayerOutput(table, prefix: prefix + ".output", inFeatures: config.intermediateSize, config: config)
    }

    /// `hidden` [T, H] in, the layer's output written back into it. When the workspace chains
    /// packed inputs, `workspace.packedInput` holds `hidden` packed on the way in and on the way out.
    func forward(_ hidden: FloatPointer, workspace: Workspace, batch: Int, seq: Int, workers: Int) {
        let tokens = batch * seq
        let chained = workspace.chainsPacked
        let layout: MatrixLayout = chained ? .packed : .rowMajor
        attention.forward(workspace.context, input: hidden, workspace: workspace, batch: batch, seq: seq, workers: workers)
        attentionOutput.forward(workspace.attended, input: workspace.context, residual: hidden,
                                scratch: workspace.projected, packed: workspace.packedInput,
                                packedOut: chained ? workspace.packedInput : nil, rows: tokens, workers: workers)
        // intermediate: activation(dense(attended) + bias), the activation in the product's epilogue.
        // Chained, it is written packed, as the output dense reads it: its largest input
        // (tokens × intermediate_size) is then never packed in a pass of its own.
        intermediate.dense.forward(workspace.intermediate, chained ? workspace.packedInput : workspace.attended,
                                   rows: tokens, activation: intermediate.activation, workers: workers,
                                   packed: workspace.packedInput, inputLayout: layout, outLayout: layout)
        output.forward(hidden, input: workspace.intermediate, inputLayout: layout, residual: workspace.attended,
                       scratch: workspace.projected, packed: workspace.packedInput,
                       packedOut: chained ? workspace.packedInput : nil, rows: tokens, workers: workers)
    }

    /// The mapped bytes of the layer's dense weights (what `releasePages` drops).
    var mappedBytes: Int {
        attention.query.mappedBytes + attention.key.mappedBytes + attention.value.mappedBytes
            + attentionOutput.dense.mappedBytes + intermediate.dense.mappedBytes + output.dense.mappedBytes
    }

    func releasePages() {
        attention.releasePages()
        attentionOutput.dense.releasePages()
        intermediate.dense.releasePages()
        output.dense.releasePages()
    }
}

/// `pooler.dense` + tanh on position 0.
struct BertPooler {
    let dense: Linear

    init(_ table: WeightTable, config: BertConfig) throws {
        dense = try Linear(table, prefix: "pooler.dense", inFeatures: config.hiddenSize, outFeatures: config.hiddenSize)
    }

    /// `tanh(W · rows + b)` for `count` rows of `hidden` floats.
    func forward(_ rows: ConstFloatPointer, count: Int) -> [Float] {
        let h = dense.outFeatures
        var out = [Float](repeating: 0, count: count * h)
        out.withUnsafeMutableBufferPointer { o in
            guard let base = o.baseAddress else { return }
            dense.forward(base, rows, rows: count, workers: 1)
            tanhInPlace(base, count: count * h)
        }
        return out
    }
}

// MARK: - Workspace

/// Activation buffers for one batch shape, reused across layers and calls (no allocation per layer).
final class Workspace {
    let tokens: Int
    let seq: Int
    private let storage: UnsafeMutablePointer<Float>
    let hidden: FloatPointer
    let query: FloatPointer
    let key: FloatPointer
    let value: FloatPointer
    let context: FloatPointer
    let projected: FloatPointer
    let attended: FloatPointer
    /// The intermediate dense's output, packed when `chainsPacked` (room for either layout).
    let intermediate: FloatPointer
    /// Per attention worker: a seq × seq scores buffer and a packing buffer (`attentionHead`).
    private let attentionStorage: FloatPointer
    let attentionBuffers: Int
    private let attentionStride: Int
    private let scoresCount: Int
    let keyMask: FloatPointer
    /// The packed input of the product being computed (`linearForward`); the output dense's
    /// comes packed in `intermediate`, so hidden-size inputs are the widest packed here.
    let packedInput: FloatPointer
    /// Whether the products chain packed inputs (the CKernels kernel runs): every LayerNorm also
    /// leaves its output packed in `packedInput`, and the intermediate dense writes its output
    /// packed, so of a layer's inputs only attention's context is packed in a pass of its own.
    let chainsPacked = cpuHasAVX2FMA

    /// nil when the sizes overflow or the whole would exceed `maximumFloats`.
    init?(tokens: Int, seq: Int, hiddenSize: Int, headSize: Int, intermediateSize: Int, attentionBuffers: Int,
          maximumFloats: Int) {
        func mul(_ a: Int, _ b: Int) -> Int? {
            let (r, o) = a.multipliedReportingOverflow(by: b)
            return o ? nil : r
        }
        // Every buffer, in order, and the total with each rounded up to 16 floats (64 bytes).
        guard let th = mul(tokens, hiddenSize), let ti = packedInputCount(rows: tokens, inFeatures: intermediateSize),
              let stride = Workspace.attentionStride(seq: seq, headSize: headSize), let attention = mul(stride, attentionBuffers),
              let packed = packedInputCount(rows: tokens, inFeatures: hiddenSize) else { return nil }
        let sizes = [th, th, th, th, th, th, th, ti, attention, tokens, packed]
        var total = 0
        for size in sizes {
            let (room, o1) = (size / 16 + 1).multipliedReportingOverflow(by: 16) // past the end, to 64 bytes
            let (sum, o2) = total.addingReportingOverflow(room)
            guard !o1, !o2, sum <= maximumFloats else { return nil }
            total = sum
        }
        self.tokens = tokens
        self.seq = seq
        self.attentionBuffers = attentionBuffers
        attentionStride = stride
        scoresCount = seq * seq
        storage = Workspace.allocateHugePageBacked(floats: total)
        var next = storage, index = 0
        func take() -> FloatPointer {
            defer { next += (sizes[index] / 16 + 1) * 16; index += 1 } // as summed above, without overflow
            return next
        }
        hidden = take(); query = take(); key = take(); value = take()
        context = take(); projected = take(); attended = take()
        intermediate = take()
        attentionStorage = take()
        keyMask = take()
        packedInput = take()
    }

    func scores(_ worker: Int) -> FloatPointer { attentionStorage + worker * attentionStride }
    func attentionPacked(_ worker: Int) -> FloatPointer { attentionStorage + worker * attentionStride + scoresCount }

    /// Floats of one attention worker's buffers: scores, then the packing (nil on overflow).
    static func attentionStride(seq: Int, headSize: Int) -> Int? {
        let (scores, o1) = seq.multipliedReportingOverflow(by: seq)
        guard !o1, let packed = packedInputCount(rows: seq, inFeatures: max(headSize, seq)) else { return nil }
        let (sum, o2) = scores.addingReportingOverflow(packed)
        return o2 ? nil : (sum + 15) / 16 * 16
    }

    /// `floats` Floats aligned to 2 MiB and advised as transparent huge pages: the kernel walks
    /// the activations row by row (a new 4 KiB page every row of a wide matrix), so with small
    /// pages nearly every output tile misses the TLB.
    static func allocateHugePageBacked(floats: Int) -> UnsafeMutablePointer<Float> {
        let hugePage = 2 << 20
        let bytes = max(floats * MemoryLayout<Float>.stride, 1)
        let rounded = (bytes + hugePage - 1) / hugePage * hugePage
        var raw: UnsafeMutableRawPointer?
        if posix_memalign(&raw, hugePage, rounded) == 0, let raw {
            #if os(Linux)
            _ = madvise(raw, rounded, MADV_HUGEPAGE)
            #endif
            return raw.bindMemory(to: Float.self, capacity: floats)
        }
        // Out of memory: Swift's own allocation would trap the same way.
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else { fatalError("out of memory for \(bytes) bytes") }
        return raw.bindMemory(to: Float.self, capacity: floats)
    }

    deinit { free(storage) }
}

// MARK: - BertModel

/// transformers' `BertModel` in FP32, over a checkpoint's weights (mapped, not copied, when F32).
public final class BertModel: @unchecked Sendable {
    public let config: BertConfig
    let embeddings: BertEmbeddings
    let layers: [BertLayer]
    let pooler: BertPooler?
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
        let table = try WeightTable(checkpoint: checkpoint)
        embeddings = try BertEmbeddings(table, config: config)
        var layers: [BertLayer] = []
        for index in 0..<config.numHiddenLayers {
            layers.append(try BertLayer(table, index: index, config: config, activation: activation))
        }
        self.layers = layers
        let hasWeight = table.contains("pooler.dense.weight"), hasBias = table.contains("pooler.dense.bias")
        if hasWeight && hasBias {
            pooler = try BertPooler(table, config: config)
        } else if hasWeight || hasBias {
            throw FileError(table.defaultFile, WeightProblem.incompletePooler(
                present: hasWeight ? "pooler.dense.weight" : "pooler.dense.bias",
                missing: hasWeight ? "pooler.dense.bias" : "pooler.dense.weight"))
        } else {
            pooler = nil
        }
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
        for t in 0..<tokens {
            let id = batch.inputIds[t], type = batch.tokenTypeIds[t], mask = batch.attentionMask[t]
            if id < 0 || id >= config.vocabSize {
                throw InputProblem.tokenIdOutOfRange(row: t / batch.seq, position: t % batch.seq, id: id, vocabularySize: config.vocabSize)
            }
            if type < 0 || type >= config.typeVocabSize {
                throw InputProblem.tokenTypeOutOfRange(row: t / batch.seq, position: t % batch.seq, tokenType: type, typeVocabularySize: config.typeVocabSize)
            }
            if mask != 0 && mask != 1 {
                throw InputProblem.attentionMaskNotBinary(row: t / batch.seq, position: t % batch.seq, value: mask)
            }
        }
    }

    private func workspace(for batch: Batch) throws -> Workspace {
        let tokens = batch.batch * batch.seq
        if let cached = cachedWorkspace, cached.tokens == tokens, cached.seq == batch.seq { return cached }
        cachedWorkspace = nil
        // The attention workers never outnumber the (row, head) pairs, nor 64 (more buffers
        // than that would only cost memory for a --threads far past the cores).
        let attentionBuffers = max(1, min(threads, batch.batch * config.numAttentionHeads, 64))
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
    public func forward(_ batch: Batch, outputHiddenStates: Bool = false) throws -> BertOutput {
        try validate(batch)
        lock.lock()
        defer { lock.unlock() }
        let workspace = try self.workspace(for: batch)
        let hiddenSize = config.hiddenSize
        let tokens = batch.batch * batch.seq
        let count = tokens * hiddenSize
        // transformers' extended mask: 0 where attended, finfo(float32).min on padded keys.
        for t in 0..<tokens {
            workspace.keyMask[t] = batch.attentionMask[t] == 1 ? 0 : -Float.greatestFiniteMagnitude
        }
        let hidden = workspace.hidden
        func snapshot() -> [Float] { Array(UnsafeBufferPointer(start: hidden, count: count)) }
        embeddings.forward(hidden, batch: batch, hidden: hiddenSize, workers: threads,
                           packed: workspace.chainsPacked ? workspace.packedInput : nil)
        var states: [[Float]]? = outputHiddenStates ? [snapshot()] : nil
        let budget = residentWeightBudget(tokens: tokens)
        var residentBytes = 0
        for layer in layers {
            layer.forward(hidden, workspace: workspace, batch: batch.batch, seq: batch.seq, workers: threads)
            residentBytes += layer.mappedBytes
            if residentBytes > budget { layer.releasePages() }
            if outputHiddenStates { states?.append(snapshot()) }
        }
        var pooled: [Float]?
        if let pooler {
            // Position 0 of every row, gathered into contiguous rows.
            var cls = [Float](repeating: 0, count: batch.batch * hiddenSize)
            for row in 0..<batch.batch {
                for c in 0..<hiddenSize { cls[row * hiddenSize + c] = hidden[row * batch.seq * hiddenSize + c] }
            }
            pooled = cls.withUnsafeBufferPointer { p in
                p.baseAddress.map { pooler.forward($0, count: batch.batch) } ?? []
            }
        }
        return BertOutput(batch: batch.batch, seq: batch.seq, hidden: hiddenSize, lastHiddenState: snapshot(),
                          poolerOutput: pooled, hiddenStates: states)
    }
}
