/// The one table of output tensors: each output a golden can hold and a model can produce is
/// declared here once — its name, rank, place in stack order, which checks apply and its
/// tolerance class. The golden reader, `verify`, `record`, the reports and the CLI read it.
/// Adding an output (a task head's logits, a sentence embedding) is one entry here plus the code
/// that computes it.

/// The shape of an output relative to the golden's batch.
public enum OutputRank: Sendable, Equatable {
    /// [batch, seq, hidden]: one vector per token.
    case perToken
    /// [batch, hidden]: one vector per row.
    case perRow
    /// [batch, seq]: one number per token (`start_logits`, `end_logits`).
    case perTokenScalar
    /// [batch, K], K > 0 set by the head (`seq_relationship_logits`, `sentence_embedding`).
    case perRowScores
    /// [batch, seq, K], K > 0 set by the head (`prediction_logits`).
    case perTokenScores
    /// [batch, K] or [batch, seq, K]: `logits`, whose rank depends on the task (sequence or
    /// token classification, masked LM, next sentence).
    case rowOrTokenScores

    /// The expected shape for a golden of `batch` × `seq` tokens and hidden size `hidden`; for
    /// ranks whose last dimension the head sets, the shape of `actual` when it fits, else a
    /// representative shape with K = hidden.
    public func shape(batch: Int, seq: Int, hidden: Int, actual: [Int]? = nil) -> [Int] {
        if let actual, fits(actual, batch: batch, seq: seq, hidden: hidden) { return actual }
        switch self {
        case .perToken, .perTokenScores: return [batch, seq, hidden]
        case .perRow, .perRowScores, .rowOrTokenScores: return [batch, hidden]
        case .perTokenScalar: return [batch, seq]
        }
    }

    /// Whether a tensor of `shape` is this output for a golden of `batch` × `seq` tokens.
    public func fits(_ shape: [Int], batch: Int, seq: Int, hidden: Int) -> Bool {
        switch self {
        case .perToken: return shape == [batch, seq, hidden]
        case .perRow: return shape == [batch, hidden]
        case .perTokenScalar: return shape == [batch, seq]
        case .perRowScores: return shape.count == 2 && shape[0] == batch && shape[1] > 0
        case .perTokenScores: return shape.count == 3 && shape[0] == batch && shape[1] == seq && shape[2] > 0
        case .rowOrTokenScores:
            return OutputRank.perRowScores.fits(shape, batch: batch, seq: seq, hidden: hidden)
                || OutputRank.perTokenScores.fits(shape, batch: batch, seq: seq, hidden: hidden)
        }
    }

    /// Whether a tensor of this rank and `shape` holds one vector per token (so padded tokens are
    /// skipped): [batch, seq, K] tensors, and [batch, seq] ones compared as [batch, seq, 1].
    public func isPerToken(_ shape: [Int]) -> Bool {
        switch self {
        case .perToken, .perTokenScores, .perTokenScalar: return true
        case .perRow, .perRowScores: return false
        case .rowOrTokenScores: return shape.count == 3
        }
    }

    /// What the reports call the expected shape.
    public var shapeDescription: String {
        switch self {
        case .perToken: return "[batch, seq, hidden]"
        case .perRow: return "[batch, hidden]"
        case .perTokenScalar: return "[batch, seq]"
        case .perRowScores: return "[batch, K]"
        case .perTokenScores: return "[batch, seq, K]"
        case .rowOrTokenScores: return "[batch, K] or [batch, seq, K]"
        }
    }
}

/// The checks `verify` applies to an output.
public enum OutputCheck: Sendable, Hashable {
    /// `|actual − golden| ≤ atol + rtol·|golden|` element by element.
    case elementwise
    /// Cosine of each vector (token or row) against the golden's, against `--min-cosine`.
    case cosine
    /// Cosine of each row against the golden's, always checked (`--min-cosine`, else the
    /// profile's `minRowCosine`): the product of a sentence embedder.
    case rowCosine
    /// The argmax of each row (or real token) agrees with the golden's: the `labels` check of
    /// classification outputs (skipped for one-column regression logits).
    case labels
    /// The golden's top-k tokens at each [MASK] position are the candidate's (masked LM).
    case topK
    /// The best answer span agrees with the golden's (question answering; checked on the
    /// `start_logits` entry, reading `end_logits` too).
    case bestSpan
}

/// Which row of the tolerance profiles an output takes its default tolerances from.
public enum ToleranceClass: Sendable, Equatable {
    /// Encoder activations and what is computed from them by the base model (pooler).
    case encoder
    /// Task-head outputs and sentence embeddings: computed from the encoder's outputs by one or
    /// two more products. They take the same profiles as the encoder today (measured: logits of
    /// the tiny heads are within 1e-5 in FP32 and 1e-2 with FP16 weights).
    case taskHead
}

/// One output tensor.
public struct OutputSpec: Sendable {
    /// The tensor name, or the family's name for an indexed output (`hidden_states` for
    /// `hidden_states.N`).
    public let name: String
    /// Indexed outputs are named `NAME.N`, N = 0, 1, … without gaps or leading zeros.
    public let indexed: Bool
    public let rank: OutputRank
    /// Place in the stack, for the first divergence: smaller runs earlier. An indexed output's
    /// element N sits at `stackOrder + N`.
    public let stackOrder: Int
    /// Whether every golden must hold it.
    public let required: Bool
    public let checks: Set<OutputCheck>
    public let toleranceClass: ToleranceClass
    /// The values bertcheck's forward pass produced, one per index (one for a plain output);
    /// nil when this model does not produce the output.
    let produce: @Sendable (BertOutput) -> [FloatArray]?
    /// Why a model produced nothing for it.
    public let notProducedReason: String

    /// The tensor name of element `index` (the name itself for a plain output).
    public func tensorName(_ index: Int? = nil) -> String {
        indexed ? "\(name).\(index ?? 0)" : name
    }
}

public enum OutputRegistry {
    /// `hidden_states.N`: 0 = the embeddings' output, N = the output of encoder layer N-1.
    public static let hiddenStates = OutputSpec(
        name: "hidden_states", indexed: true, rank: .perToken, stackOrder: 0, required: false,
        checks: [.elementwise, .cosine], toleranceClass: .encoder,
        produce: { output in
            output.hiddenStates.map { $0.map { FloatArray(shape: [output.batch, output.seq, output.hidden], values: $0) } }
        },
        notProducedReason: "hidden states were not computed")

    public static let lastHiddenState = OutputSpec(
        name: "last_hidden_state", indexed: false, rank: .perToken, stackOrder: 1_000_000, required: true,
        checks: [.elementwise, .cosine], toleranceClass: .encoder,
        produce: { output in [FloatArray(shape: [output.batch, output.seq, output.hidden], values: output.lastHiddenState)] },
        notProducedReason: "the model produced no last_hidden_state")

    /// `tanh(W · h[CLS] + b)`; checkpoints saved with `add_pooling_layer=False` have none.
    public static let poolerOutput = OutputSpec(
        name: "pooler_output", indexed: false, rank: .perRow, stackOrder: 1_000_001, required: false,
        checks: [.elementwise, .cosine], toleranceClass: .encoder,
        produce: { output in output.poolerOutput.map { [FloatArray(shape: [output.batch, output.hidden], values: $0)] } },
        notProducedReason: "the model has no pooler weights")

    /// Task-head outputs (transformers' field names) and the sentence-transformers embedding,
    /// after the encoder in stack order.
    static func head(_ name: String, rank: OutputRank, order: Int, checks: Set<OutputCheck>) -> OutputSpec {
        OutputSpec(name: name, indexed: false, rank: rank, stackOrder: 2_000_000 + order, required: false,
                   checks: checks.union([OutputCheck.elementwise]), toleranceClass: .taskHead,
                   produce: { output in output.headOutputs[name].map { [$0] } },
                   notProducedReason: "the model has no head that computes \(name)")
    }

    /// BertForSequenceClassification [B, L], BertForTokenClassification [B, S, L],
    /// BertForMaskedLM [B, S, V], BertForNextSentencePrediction [B, 2].
    public static let logits = head("logits", rank: .rowOrTokenScores, order: 0, checks: [.labels, .topK])
    /// BertForQuestionAnswering [B, S] each.
    public static let startLogits = head("start_logits", rank: .perTokenScalar, order: 1, checks: [.bestSpan])
    public static let endLogits = head("end_logits", rank: .perTokenScalar, order: 2, checks: [])
    /// BertForPreTraining: [B, S, V] and [B, 2].
    public static let predictionLogits = head("prediction_logits", rank: .perTokenScores, order: 3, checks: [.topK])
    public static let seqRelationshipLogits = head("seq_relationship_logits", rank: .perRowScores, order: 4, checks: [.labels])
    /// sentence-transformers: pooling, Dense modules and Normalize after the encoder, [B, H'].
    public static let sentenceEmbedding = head("sentence_embedding", rank: .perRowScores, order: 5, checks: [.rowCosine])

    /// Every output, in the order goldens are written.
    public static let all: [OutputSpec] = [lastHiddenState, poolerOutput, hiddenStates, logits, startLogits, endLogits,
                                           predictionLogits, seqRelationshipLogits, sentenceEmbedding]

    /// Every output in stack order.
    public static var inStackOrder: [OutputSpec] { all.sorted { $0.stackOrder < $1.stackOrder } }

    /// The output a tensor name belongs to, and its index for an indexed one; nil for a name no
    /// output has (a malformed index included).
    public static func lookup(_ name: String) -> (spec: OutputSpec, index: Int?)? {
        for spec in all {
            if !spec.indexed {
                if name == spec.name { return (spec, nil) }
                continue
            }
            if let index = index(of: name, in: spec) { return (spec, index) }
        }
        return nil
    }

    /// The indexed family whose `NAME.` prefix `name` carries, even when the index is malformed.
    static func indexedFamily(of name: String) -> OutputSpec? {
        all.first { $0.indexed && name.hasPrefix($0.name + ".") }
    }

    /// `NAME.N` → N; nil for anything else (leading zeros, signs, empty, over six digits).
    static func index(of name: String, in spec: OutputSpec) -> Int? {
        guard spec.indexed, name.hasPrefix(spec.name + ".") else { return nil }
        let digits = name.dropFirst(spec.name.count + 1)
        guard !digits.isEmpty, digits.count <= 6, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        if digits.count > 1 && digits.first == "0" { return nil }
        return Int(digits)
    }

    /// Place of a tensor in the stack (for the first divergence); nil for checks that are not
    /// outputs (`input_ids`, `pooler_invariant`).
    public static func stackOrder(of name: String) -> Int? {
        lookup(name).map { $0.spec.stackOrder + ($0.index ?? 0) }
    }

    /// The encoder layer whose output `hidden_states.N` is, as reports name it.
    public static func layerLabel(of name: String) -> String? {
        guard let index = index(of: name, in: hiddenStates) else { return nil }
        return index == 0 ? "embeddings" : "layer \(index - 1)"
    }

    /// Whether a name is an output's tensor or a check computed from outputs (for `--tolerance`).
    public static func acceptsToleranceOverride(_ name: String) -> Bool {
        lookup(name) != nil || name == poolerInvariantCheck
    }

    /// The name of the notebook's pooler check (`pooler(CLS) == pooler_output`).
    public static let poolerInvariantCheck = "pooler_invariant"
}

/// Output tensors by name: what a golden holds, or what a candidate produced.
public struct ModelOutputs: Sendable {
    public var tensors: [String: FloatArray]
    /// The dtype each tensor was stored as, when read from a file (an outputs file's F16 arrays
    /// select the fp16 profile).
    public var storedDTypes: [String: DType] = [:]

    public init(tensors: [String: FloatArray]) {
        self.tensors = tensors
    }

    /// transformers' `BaseModelOutputWithPooling` with `output_hidden_states`; a nil hidden state
    /// is one a lenient outputs file left out.
    public init(lastHiddenState: FloatArray, poolerOutput: FloatArray?, hiddenStates: [FloatArray?]) {
        var tensors = [OutputRegistry.lastHiddenState.name: lastHiddenState]
        tensors[OutputRegistry.poolerOutput.name] = poolerOutput
        for (n, state) in hiddenStates.enumerated() { tensors[OutputRegistry.hiddenStates.tensorName(n)] = state }
        self.tensors = tensors
    }

    /// Outputs of bertcheck's own forward pass: every output it produced.
    public init(_ output: BertOutput) {
        var tensors: [String: FloatArray] = [:]
        for spec in OutputRegistry.all {
            for (n, value) in (spec.produce(output) ?? []).enumerated() { tensors[spec.tensorName(spec.indexed ? n : nil)] = value }
        }
        self.tensors = tensors
    }

    public subscript(name: String) -> FloatArray? {
        get { tensors[name] }
        set { tensors[name] = newValue }
    }

    public var lastHiddenState: FloatArray {
        get { tensors[OutputRegistry.lastHiddenState.name] ?? FloatArray(shape: [0, 0, 0], values: []) }
        set { tensors[OutputRegistry.lastHiddenState.name] = newValue }
    }

    public var poolerOutput: FloatArray? {
        get { tensors[OutputRegistry.poolerOutput.name] }
        set { tensors[OutputRegistry.poolerOutput.name] = newValue }
    }

    /// `hidden_states.0…N` up to the highest present, nil where one is absent.
    public var hiddenStates: [FloatArray?] { indexed(OutputRegistry.hiddenStates) }

    /// Elements `0…N` of an indexed output, up to the highest present.
    public func indexed(_ spec: OutputSpec) -> [FloatArray?] {
        let highest = tensors.keys.compactMap { OutputRegistry.index(of: $0, in: spec) }.max() ?? -1
        return highest < 0 ? [] : (0...highest).map { tensors[spec.tensorName($0)] }
    }

    /// The tensor names held, in stack order.
    public var namesInStackOrder: [String] {
        tensors.keys.sorted { (OutputRegistry.stackOrder(of: $0) ?? .max, $0) < (OutputRegistry.stackOrder(of: $1) ?? .max, $1) }
    }
}
