/// The one table of transformers' task-head parameter names (BertForSequenceClassification,
/// BertForMaskedLM, …): the modules outside `BertModel` that a task checkpoint stores beside the
/// `bert.` encoder, and the task classes built from them. The loader, `params` and the schema
/// check read it; no other file spells a head parameter name.

/// A parameter-holding module of a task head. The raw value is its checkpoint path.
public enum HeadModule: String, CaseIterable, Sendable {
    /// BertForSequenceClassification / BertForTokenClassification: Linear(H, num_labels).
    case classifier = "classifier"
    /// BertForQuestionAnswering: Linear(H, 2), start and end logits.
    case qaOutputs = "qa_outputs"
    /// BertPredictionHeadTransform: dense (H, H), the config's activation, LayerNorm.
    case predictionTransformDense = "cls.predictions.transform.dense"
    case predictionTransformLayerNorm = "cls.predictions.transform.LayerNorm"
    /// The decoder: tied to the word embeddings (its weight is usually not stored), with the bias
    /// stored as `cls.predictions.bias` (and, in older files, also as `cls.predictions.decoder.bias`).
    case predictionDecoder = "cls.predictions.decoder"
    case predictions = "cls.predictions"
    /// BertOnlyNSPHead / BertPreTrainingHeads: Linear(H, 2) on the pooled output.
    case seqRelationship = "cls.seq_relationship"

    /// Leaf names the module may hold, in `named_parameters()` order.
    public var leaves: [String] { self == .predictions ? ["bias"] : ["weight", "bias"] }

    /// Whether every leaf must be stored (the decoder's are tied to other tensors).
    public var leavesRequired: Bool { self != .predictionDecoder }

    /// The shape of `leaf` for a config, with `labels` output features for the classifier.
    public func shape(of leaf: String, config: BertConfig, labels: Int) -> [Int] {
        let h = config.hiddenSize, v = config.vocabSize
        let out: Int
        switch self {
        case .classifier: out = labels
        case .qaOutputs, .seqRelationship: out = 2
        case .predictionTransformDense, .predictionTransformLayerNorm: out = h
        case .predictionDecoder, .predictions: out = v
        }
        if self == .predictionTransformLayerNorm || leaf == "bias" { return [out] }
        return [out, h]
    }
}

/// A task head's parameter name taken apart.
public struct HeadParameterName: Hashable, Sendable, CustomStringConvertible {
    public let module: HeadModule
    public let leaf: String

    public init(_ module: HeadModule, leaf: String) {
        self.module = module
        self.leaf = leaf
    }

    public var description: String { module.rawValue + "." + leaf }

    /// Parses a stored name (TF-era `LayerNorm.gamma` / `beta` mapped); nil for names no head has.
    public init?(storedName stored: String) {
        var name = stored
        for (legacy, modern) in legacyLayerNormLeaves where name.hasSuffix("LayerNorm." + legacy) {
            name = String(name.dropLast(legacy.count)) + modern
        }
        guard let dot = name.lastIndex(of: ".") else { return nil }
        let path = String(name[..<dot]), leaf = String(name[name.index(after: dot)...])
        guard let module = HeadModule(rawValue: path), module.leaves.contains(leaf) else { return nil }
        self.init(module, leaf: leaf)
    }
}

/// The task classes bertcheck computes, by config.json `architectures` name. Each is `BertModel`
/// plus the head modules listed, producing transformers' output fields.
public enum TaskHead: String, CaseIterable, Sendable {
    case sequenceClassification = "BertForSequenceClassification"
    case tokenClassification = "BertForTokenClassification"
    case questionAnswering = "BertForQuestionAnswering"
    case maskedLM = "BertForMaskedLM"
    case preTraining = "BertForPreTraining"
    case nextSentencePrediction = "BertForNextSentencePrediction"

    /// The head modules whose parameters the class must hold (the decoder's are tied).
    public var modules: [HeadModule] {
        switch self {
        case .sequenceClassification, .tokenClassification: return [.classifier]
        case .questionAnswering: return [.qaOutputs]
        case .maskedLM: return [.predictionTransformDense, .predictionTransformLayerNorm, .predictions]
        case .preTraining: return [.predictionTransformDense, .predictionTransformLayerNorm, .predictions, .seqRelationship]
        case .nextSentencePrediction: return [.seqRelationship]
        }
    }

    /// Whether the head reads the pooled output (so the checkpoint needs a pooler).
    public var needsPooler: Bool { [.sequenceClassification, .preTraining, .nextSentencePrediction].contains(self) }

    /// The transformers output fields it produces, in the order of the model's output.
    public var outputNames: [String] {
        switch self {
        case .questionAnswering: return ["start_logits", "end_logits"]
        case .preTraining: return ["prediction_logits", "seq_relationship_logits"]
        default: return ["logits"]
        }
    }

    /// The head of a checkpoint: its `architectures` entry when that names a task class, else
    /// (no `architectures`) guessed from the head tensors present; nil for a bare `BertModel`.
    /// A classifier without `architectures` is taken for sequence classification when the
    /// checkpoint has a pooler, token classification otherwise.
    public static func of(architectures: [String]?, storedModules: Set<HeadModule>, hasPooler: Bool) -> TaskHead? {
        if let architectures {
            return architectures.lazy.compactMap(TaskHead.init(rawValue:)).first
        }
        if storedModules.contains(.predictions) || storedModules.contains(.predictionTransformDense) {
            return storedModules.contains(.seqRelationship) ? .preTraining : .maskedLM
        }
        if storedModules.contains(.seqRelationship) { return .nextSentencePrediction }
        if storedModules.contains(.qaOutputs) { return .questionAnswering }
        if storedModules.contains(.classifier) { return hasPooler ? .sequenceClassification : .tokenClassification }
        return nil
    }
}
