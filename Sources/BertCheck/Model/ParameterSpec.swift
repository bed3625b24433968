/// The one table of transformers' `BertModel` parameter names: every module that holds
/// parameters, its checkpoint path, its kind and its shapes from the config, plus the buffers and
/// the legacy aliases checkpoints use. The schema check, the weight loader, name normalisation
/// and the formats' name maps (GGUF, ONNX) all read it; no other file spells a parameter name.

/// A parameter-holding module of `BertModel`, in `named_parameters()` order. The raw value is its
/// checkpoint path; `{L}` stands for the encoder layer's number.
public enum BertModule: String, CaseIterable, Sendable {
    case wordEmbeddings = "embeddings.word_embeddings"
    case positionEmbeddings = "embeddings.position_embeddings"
    case tokenTypeEmbeddings = "embeddings.token_type_embeddings"
    case embeddingsLayerNorm = "embeddings.LayerNorm"
    case query = "encoder.layer.{L}.attention.self.query"
    case key = "encoder.layer.{L}.attention.self.key"
    case value = "encoder.layer.{L}.attention.self.value"
    case distanceEmbedding = "encoder.layer.{L}.attention.self.distance_embedding"
    case attentionOutputDense = "encoder.layer.{L}.attention.output.dense"
    case attentionOutputLayerNorm = "encoder.layer.{L}.attention.output.LayerNorm"
    case intermediateDense = "encoder.layer.{L}.intermediate.dense"
    case outputDense = "encoder.layer.{L}.output.dense"
    case outputLayerNorm = "encoder.layer.{L}.output.LayerNorm"
    case poolerDense = "pooler.dense"

    /// What parameters a module holds.
    public enum Kind: Sendable {
        /// nn.Embedding: `weight` [rows, hidden].
        case embedding
        /// nn.Linear: `weight` [out, in], `bias` [out].
        case linear
        /// nn.LayerNorm: `weight` and `bias` [hidden].
        case layerNorm
    }

    public var kind: Kind {
        switch self {
        case .wordEmbeddings, .positionEmbeddings, .tokenTypeEmbeddings, .distanceEmbedding: return .embedding
        case .embeddingsLayerNorm, .attentionOutputLayerNorm, .outputLayerNorm: return .layerNorm
        default: return .linear
        }
    }

    /// Whether the module is repeated in every encoder layer.
    public var isPerLayer: Bool { rawValue.contains(Self.layerPlaceholder) }

    static let layerPlaceholder = "{L}"

    /// The module's checkpoint path (`encoder.layer.3.attention.self.query`).
    public func path(layer: Int? = nil) -> String {
        rawValue.replacingOccurrences(of: Self.layerPlaceholder, with: layer.map(String.init) ?? Self.layerPlaceholder)
    }

    /// Leaf names of the module's parameters, in `named_parameters()` order.
    public var leaves: [String] { kind == .embedding ? ["weight"] : ["weight", "bias"] }

    /// Whether a `BertModel` of this config has the module.
    public func exists(in config: BertConfig, pooler: Bool) -> Bool {
        switch self {
        case .distanceEmbedding: return config.usesRelativePositions
        case .poolerDense: return pooler
        default: return true
        }
    }

    /// The shape of `leaf` for a config, as transformers stores it ([out, in] for Linear).
    public func shape(of leaf: String, config: BertConfig) -> [Int] {
        let h = config.hiddenSize
        switch kind {
        case .embedding:
            switch self {
            case .wordEmbeddings: return [config.vocabSize, h]
            case .positionEmbeddings: return [config.maxPositionEmbeddings, h]
            case .tokenTypeEmbeddings: return [config.typeVocabSize, h]
            default: return [2 * config.maxPositionEmbeddings - 1, config.headSize]
            }
        case .layerNorm:
            return [h]
        case .linear:
            let (inFeatures, outFeatures) = self == .intermediateDense ? (h, config.intermediateSize)
                : self == .outputDense ? (config.intermediateSize, h) : (h, h)
            return leaf == "bias" ? [outFeatures] : [outFeatures, inFeatures]
        }
    }

    /// The group a module's parameters are counted in.
    public func group(layer: Int?) -> ParameterGroup {
        if let layer, isPerLayer { return .layer(layer) }
        return self == .poolerDense ? .pooler : .embeddings
    }
}

extension BertConfig {
    var usesRelativePositions: Bool {
        positionEmbeddingType == "relative_key" || positionEmbeddingType == "relative_key_query"
    }
}

/// A canonical parameter name taken apart: module, encoder layer (for per-layer modules) and leaf.
public struct ParameterName: Hashable, Sendable, CustomStringConvertible {
    public let module: BertModule
    public let layer: Int?
    public let leaf: String

    public init(_ module: BertModule, layer: Int? = nil, leaf: String) {
        self.module = module
        self.layer = layer
        self.leaf = leaf
    }

    public var description: String { module.path(layer: layer) + "." + leaf }
    public var group: ParameterGroup { module.group(layer: layer) }

    /// Every module's path split around `{L}` once (suffix nil: not per layer): parsing runs for
    /// every stored tensor, and splitting the paths there was a fifth of `params`' CPU time.
    private static let pathParts: [(module: BertModule, prefix: String, suffix: String?)] = BertModule.allCases.map { module in
        guard module.isPerLayer else { return (module, module.rawValue, nil) }
        let parts = module.rawValue.components(separatedBy: BertModule.layerPlaceholder)
        return (module, parts[0], parts[1])
    }

    /// Parses a canonical name (`encoder.layer.3.output.dense.bias`); nil for names `BertModel`
    /// does not have.
    public init?(parsing name: String) {
        guard let dot = name.lastIndex(of: ".") else { return nil }
        let path = String(name[..<dot]), leaf = String(name[name.index(after: dot)...])
        for (module, prefix, suffix) in Self.pathParts where module.leaves.contains(leaf) {
            guard let suffix else {
                if module.rawValue == path { self.init(module, leaf: leaf); return }
                continue
            }
            guard path.hasPrefix(prefix), path.hasSuffix(suffix), path.count > prefix.count + suffix.count else { continue }
            let number = path.dropFirst(prefix.count).dropLast(suffix.count)
            // Layer numbers as PyTorch writes them: digits, no leading zeros.
            guard number.allSatisfy(\.isASCII), number.allSatisfy(\.isNumber), number == "0" || !number.hasPrefix("0"),
                  let layer = Int(number) else { continue }
            self.init(module, layer: layer, leaf: leaf)
            return
        }
        return nil
    }
}

/// Buffers `BertModel` registers (not parameters: never counted, never required).
public let bertModelBuffers = ["embeddings.position_ids", "embeddings.token_type_ids"]

/// Legacy spellings: task models (BertForPreTraining, BertForSequenceClassification, …) prefix the
/// encoder with `bert.`, and TF-era checkpoints name LayerNorm's weight and bias gamma and beta.
let legacyEncoderPrefix = "bert."
let legacyLayerNormLeaves = ["gamma": "weight", "beta": "bias"]

/// How a tensor name stored in a checkpoint maps to transformers' `BertModel` names.
public enum ParameterRole: Equatable, Sendable {
    /// A `BertModel` parameter, under its canonical name (`encoder.layer.0.attention.self.query.weight`).
    case parameter(String)
    /// A registered buffer (`embeddings.position_ids`, `embeddings.token_type_ids`): not a parameter.
    case buffer(String)
    /// A tensor outside `BertModel` (task heads such as `cls.*`, `classifier.*`): listed, not an error.
    case ignored(String)
}

/// Canonical `BertModel` name of a stored tensor name: strips the `bert.` prefix of task
/// checkpoints and maps the TF-era `LayerNorm.gamma` / `LayerNorm.beta` to `weight` / `bias`.
/// Names under a `BertModel` module's path that are not its parameters stay parameters (the
/// schema check reports them as unexpected).
public func parameterRole(ofStoredName stored: String) -> ParameterRole {
    var name = stored
    if name.hasPrefix(legacyEncoderPrefix) { name.removeFirst(legacyEncoderPrefix.count) }
    for (legacy, modern) in legacyLayerNormLeaves where name.hasSuffix("LayerNorm." + legacy) {
        name = String(name.dropLast(legacy.count)) + modern
    }
    if bertModelBuffers.contains(name) { return .buffer(name) }
    if ParameterGroup.allTopLevelPrefixes.contains(where: name.hasPrefix) { return .parameter(name) }
    return .ignored(stored)
}

/// What a canonical name belongs to: embeddings, an encoder layer, the pooler, or nothing known.
public enum ParameterGroup: Hashable, Comparable, Sendable, CustomStringConvertible {
    case embeddings
    case layer(Int)
    case pooler
    case other

    public init(canonicalName name: String) {
        if let parsed = ParameterName(parsing: name) {
            self = parsed.group
        } else if let layer = ParameterGroup.layerNumber(inPath: name) {
            self = .layer(layer)
        } else if name.hasPrefix(ParameterGroup.embeddings.prefix) {
            self = .embeddings
        } else if name.hasPrefix(ParameterGroup.pooler.prefix) {
            self = .pooler
        } else {
            self = .other
        }
    }

    public var description: String {
        switch self {
        case .embeddings: return "embeddings"
        case .layer(let n): return BertModule.layerPath(n)
        case .pooler: return "pooler"
        case .other: return "other"
        }
    }

    /// The name prefix (with its trailing dot) of parameters in this group.
    var prefix: String { self == .other ? "" : description + "." }

    /// The top-level module paths of `BertModel` (`embeddings.`, `encoder.`, `pooler.`).
    static var allTopLevelPrefixes: [String] {
        Set(BertModule.allCases.map { String($0.rawValue.prefix { $0 != "." }) + "." }).sorted()
    }

    /// The layer number of a name under `encoder.layer.N.` that no module claims.
    static func layerNumber(inPath name: String) -> Int? {
        let head = BertModule.layerPath(nil)
        guard name.hasPrefix(head), let number = name.dropFirst(head.count).split(separator: ".", maxSplits: 1).first,
              let layer = Int(number), layer >= 0 else { return nil }
        return layer
    }
}

extension BertModule {
    /// `encoder.layer.N` (with its trailing dot and no number for nil): the path every per-layer
    /// module starts with.
    static func layerPath(_ layer: Int?) -> String {
        let head = BertModule.query.rawValue.components(separatedBy: layerPlaceholder)[0]
        return layer.map { head + String($0) } ?? head
    }
}

/// A parameter a `BertModel` of some config must have.
public struct ExpectedParameter: Equatable, Sendable {
    public var name: String
    public var shape: [Int]
}

/// The parameters `BertModel(config)` has, in `named_parameters()` order. `pooler` is false for
/// `add_pooling_layer=False` models (BertForMaskedLM, BertForTokenClassification, ...).
public func expectedParameters(for config: BertConfig, pooler: Bool = true) -> [ExpectedParameter] {
    func parameters(of module: BertModule, layer: Int?) -> [ExpectedParameter] {
        guard module.exists(in: config, pooler: pooler) else { return [] }
        return module.leaves.map {
            ExpectedParameter(name: ParameterName(module, layer: layer, leaf: $0).description,
                              shape: module.shape(of: $0, config: config))
        }
    }
    let global = BertModule.allCases.filter { !$0.isPerLayer }
    let perLayer = BertModule.allCases.filter(\.isPerLayer)
    return global.filter { $0 != .poolerDense }.flatMap { parameters(of: $0, layer: nil) }
        + (0..<max(config.numHiddenLayers, 0)).flatMap { layer in perLayer.flatMap { parameters(of: $0, layer: layer) } }
        + parameters(of: .poolerDense, layer: nil)
}

/// The order `named_parameters()` lists a `BertModel`'s parameters in: embeddings, encoder
/// layers in order (each in module order), pooler; unknown names last. Sorting by this key keeps
/// checkpoints in any file order comparable with the notebook.
public func canonicalOrderKey(_ name: String) -> (ParameterGroup, Int) {
    guard let parsed = ParameterName(parsing: name) else {
        return (ParameterGroup(canonicalName: name), Int.max)
    }
    let rank = BertModule.allCases.firstIndex(of: parsed.module)! * 2 + (parsed.module.leaves.firstIndex(of: parsed.leaf) ?? 1)
    return (parsed.group, rank)
}
