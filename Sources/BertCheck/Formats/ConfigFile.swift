/// Every rule a `config.json` can break. Thrown wrapped in `FileError(configPath, problem)`.
public enum ConfigProblem: Error, CustomStringConvertible, Equatable {
    case notJSON(JSONProblem)
    case notObject(kind: String)
    case wrongType(key: String, expected: String, found: String)
    case notPositive(key: String, value: String)
    case tooLarge(key: String, value: Int, limit: Int)
    /// An integer written in the file that does not even fit 64 bits (2^63, say).
    case integerBeyond64Bits(key: String, text: String, limit: Int)
    case headsDoNotDivideHidden(hidden: Int, heads: Int)
    case padTokenOutsideVocabulary(padTokenId: Int, vocabSize: Int)

    public var description: String {
        switch self {
        case let .notJSON(problem): return "config is not valid JSON: \(problem)"
        case let .notObject(kind): return "config is a JSON \(kind), not an object"
        case let .wrongType(key, expected, found): return "\"\(key)\" must be \(expected), found a JSON \(found)"
        case let .notPositive(key, value): return "\"\(key)\" must be positive, found \(value)"
        case let .tooLarge(key, value, limit): return "\"\(key)\" = \(value) is absurdly large (limit \(limit))"
        case let .integerBeyond64Bits(key, text, limit):
            return "\"\(key)\" = \(text) is an integer too large for 64 bits (limit \(limit))"
        case let .headsDoNotDivideHidden(hidden, heads):
            return "\"num_attention_heads\" (\(heads)) does not divide \"hidden_size\" (\(hidden))"
        case let .padTokenOutsideVocabulary(pad, vocab):
            return "\"pad_token_id\" \(pad) is outside the vocabulary (vocab_size \(vocab))"
        }
    }
}

extension BertConfig {
    /// Upper bounds far above any real BERT, so a typo or a hostile file cannot make later code
    /// allocate terabytes or overflow a shape product.
    static let sizeLimits: [(key: String, path: WritableKeyPath<BertConfig, Int>, limit: Int)] = [
        ("vocab_size", \.vocabSize, 16_777_216),
        ("hidden_size", \.hiddenSize, 65_536),
        ("num_hidden_layers", \.numHiddenLayers, 1_024),
        ("num_attention_heads", \.numAttentionHeads, 4_096),
        ("intermediate_size", \.intermediateSize, 1_048_576),
        ("max_position_embeddings", \.maxPositionEmbeddings, 1_048_576),
        ("type_vocab_size", \.typeVocabSize, 65_536),
    ]

    /// Reads and validates `config.json`, with transformers' defaults for missing keys (and for
    /// keys set to null). Unknown keys are ignored, as transformers keeps them as attributes.
    public static func load(_ path: String) throws -> BertConfig {
        let file = try mapWholeFile(path, limit: WholeFileLimit.json, kind: "a config.json")
        do {
            return try parse(file.bytes)
        } catch let problem as ConfigProblem {
            throw FileError(path, problem)
        }
    }

    /// Parses and validates config JSON. Throws `ConfigProblem`.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws -> BertConfig {
        let root: JSONValue
        do { root = try StrictJSON.parse(bytes) } catch { throw ConfigProblem.notJSON(error) }
        guard root.members != nil else { throw ConfigProblem.notObject(kind: root.kind) }
        func present(_ key: String) -> JSONValue? {
            guard let value = root[key], value != .null else { return nil }
            return value
        }
        var config = BertConfig()
        for (key, path, limit) in sizeLimits {
            guard let value = present(key) else { continue }
            guard let number = value.integer else {
                if case .number(let text) = value, text.allSatisfy({ $0 == "-" || ($0 >= "0" && $0 <= "9") }) {
                    if text.hasPrefix("-") { throw ConfigProblem.notPositive(key: key, value: text) }
                    throw ConfigProblem.integerBeyond64Bits(key: key, text: text, limit: limit)
                }
                throw ConfigProblem.wrongType(key: key, expected: "an integer", found: value.double != nil ? "non-integer number" : value.kind)
            }
            guard number > 0 else { throw ConfigProblem.notPositive(key: key, value: String(number)) }
            guard number <= limit else { throw ConfigProblem.tooLarge(key: key, value: number, limit: limit) }
            config[keyPath: path] = number
        }
        guard config.hiddenSize % config.numAttentionHeads == 0 else {
            throw ConfigProblem.headsDoNotDivideHidden(hidden: config.hiddenSize, heads: config.numAttentionHeads)
        }
        if let value = present("pad_token_id") {
            guard let pad = value.integer else { throw ConfigProblem.wrongType(key: "pad_token_id", expected: "an integer", found: value.kind) }
            guard pad >= 0 && pad < config.vocabSize else {
                throw ConfigProblem.padTokenOutsideVocabulary(padTokenId: pad, vocabSize: config.vocabSize)
            }
            config.padTokenId = pad
        }
        if let value = present("layer_norm_eps") {
            guard let eps = value.double else { throw ConfigProblem.wrongType(key: "layer_norm_eps", expected: "a number", found: value.kind) }
            guard eps > 0, eps.isFinite else { throw ConfigProblem.notPositive(key: "layer_norm_eps", value: String(eps)) }
            config.layerNormEps = eps
        }
        let strings: [(String, WritableKeyPath<BertConfig, String>)] = [
            ("hidden_act", \.hiddenAct), ("position_embedding_type", \.positionEmbeddingType),
        ]
        for (key, path) in strings {
            guard let value = present(key) else { continue }
            guard let text = value.string else { throw ConfigProblem.wrongType(key: key, expected: "a string", found: value.kind) }
            config[keyPath: path] = text
        }
        if let value = root["model_type"] {
            guard value == .null || value.string != nil else { throw ConfigProblem.wrongType(key: "model_type", expected: "a string", found: value.kind) }
            config.modelType = value.string
        } else {
            config.modelType = nil
        }
        if let value = present("architectures") {
            guard let items = value.elements, items.allSatisfy({ $0.string != nil }) else {
                throw ConfigProblem.wrongType(key: "architectures", expected: "an array of strings", found: value.kind)
            }
            config.architectures = items.compactMap(\.string)
        }
        config.id2label = try parseLabels(present("id2label"))
        if let value = present("problem_type") {
            guard let text = value.string else { throw ConfigProblem.wrongType(key: "problem_type", expected: "a string", found: value.kind) }
            config.problemType = text
        }
        return config
    }

    /// `id2label`: an object whose keys are the label ids 0…n-1 (as strings) and values names.
    static func parseLabels(_ value: JSONValue?) throws -> [String]? {
        guard let value else { return nil }
        let expected = "an object of label ids 0…n-1 to names"
        guard let members = value.members else { throw ConfigProblem.wrongType(key: "id2label", expected: expected, found: value.kind) }
        var labels = [String?](repeating: nil, count: members.count)
        for (key, name) in members {
            guard let id = Int(key), id >= 0, id < labels.count, labels[id] == nil, let text = name.string else {
                throw ConfigProblem.wrongType(key: "id2label", expected: expected, found: "object with key \"\(key)\"")
            }
            labels[id] = text
        }
        return labels.compactMap { $0 }
    }
}
