/// The `BertConfig` and the WordPiece vocabulary a BERT GGUF carries in its metadata.
enum GGUFConfig {
    /// From `bert.*` (llama.cpp's `LLM_KV_*` keys); the vocabulary and type-vocabulary sizes from
    /// the embedding tables' rows, as the converter writes no key for them.
    static func bertConfig(_ metadata: GGUFMetadata, tensors: [Tensor]) throws -> BertConfig {
        var config = BertConfig()
        config.hiddenSize = try metadata.count("bert.embedding_length")
        config.numHiddenLayers = try metadata.count("bert.block_count", minimum: 0)
        config.numAttentionHeads = try metadata.count("bert.attention.head_count")
        config.intermediateSize = try metadata.count("bert.feed_forward_length")
        config.maxPositionEmbeddings = try metadata.count("bert.context_length")
        if let eps = try metadata.real("bert.attention.layer_norm_epsilon") {
            guard eps > 0, eps.isFinite else {
                throw GGUFProblem.badMetadataValue(key: "bert.attention.layer_norm_epsilon", reason: "\(eps) is not a positive number")
            }
            config.layerNormEps = eps
        }
        func rows(_ name: String) -> Int? {
            tensors.first { $0.name == name && $0.shape.count == 2 }?.shape[0]
        }
        let tokens = try metadata.strings("tokenizer.ggml.tokens")
        if let vocab = rows("embeddings.word_embeddings.weight") ?? tokens?.count { config.vocabSize = vocab }
        let typeCount = try metadata.integer("bert.token_type_count")
        if let types = rows("embeddings.token_type_embeddings.weight") ?? typeCount {
            config.typeVocabSize = types
        }
        if let pad = try metadata.integer("tokenizer.ggml.padding_token_id") { config.padTokenId = pad }
        try checkLimits(config)
        return config
    }

    /// Where each size comes from, for messages.
    static let sizeSources = [
        "vocab_size": "token_embd.weight", "hidden_size": "bert.embedding_length", "num_hidden_layers": "bert.block_count",
        "num_attention_heads": "bert.attention.head_count", "intermediate_size": "bert.feed_forward_length",
        "max_position_embeddings": "bert.context_length", "type_vocab_size": "token_types.weight",
    ]

    /// config.json's limits (`BertConfig.sizeLimits`, heads dividing hidden, pad inside the
    /// vocabulary), so a hostile file cannot make later code allocate terabytes.
    static func checkLimits(_ config: BertConfig) throws {
        for (key, path, limit) in BertConfig.sizeLimits where config[keyPath: path] > limit {
            throw GGUFProblem.badMetadataValue(key: sizeSources[key] ?? key, reason: "\(key) \(config[keyPath: path]) is absurdly large (limit \(limit))")
        }
        guard config.hiddenSize % config.numAttentionHeads == 0 else {
            throw GGUFProblem.badMetadataValue(key: "bert.attention.head_count",
                                               reason: "\(config.numAttentionHeads) heads do not divide bert.embedding_length \(config.hiddenSize)")
        }
        guard config.padTokenId >= 0, config.padTokenId < config.vocabSize else {
            throw GGUFProblem.badMetadataValue(key: "tokenizer.ggml.padding_token_id",
                                               reason: "\(config.padTokenId) is outside the vocabulary of \(config.vocabSize)")
        }
    }

    /// The vocabulary of `tokenizer.ggml.tokens` back in WordPiece form: the converter keeps
    /// control tokens (token type 3: [PAD], [CLS], …) as they are, writes a continuation `##w` as
    /// `w` and every other token `w` as `▁w`. Lower-casing and accent stripping follow
    /// `tokenizer.ggml.normalizer.*` (accent stripping defaults to lower-casing, as in HF and
    /// llama.cpp). Nil when the file has no token list.
    static func tokenizer(_ metadata: GGUFMetadata, config: BertConfig, path: String) throws -> EmbeddedVocabulary? {
        guard let stored = try metadata.strings("tokenizer.ggml.tokens") else { return nil }
        let model = try metadata.string("tokenizer.ggml.model") ?? "bert"
        guard model == "bert" else { throw GGUFProblem.notWordPieceTokenizer(model: model) }
        var types: [Int64]?
        if let value = metadata["tokenizer.ggml.token_type"] {
            var integers: [Int64]?
            if case .array(let array) = value, array.count == stored.count { integers = array.integers }
            guard let integers else {
                throw GGUFProblem.wrongMetadataType(key: "tokenizer.ggml.token_type",
                                                    expected: "an array of \(stored.count) integers", found: value.typeName)
            }
            types = integers
        }
        let tokens = stored.indices.map { id in wordPieceToken(stored[id], control: types.map { $0[id] == controlTokenType }) }
        let lowercase = try metadata.bool("tokenizer.ggml.normalizer.lowercase") ?? true
        func special(_ keys: [String], _ fallback: String) throws -> Int? {
            for key in keys {
                guard let id = try metadata.integer(key) else { continue }
                guard tokens.indices.contains(id) else {
                    throw GGUFProblem.badMetadataValue(key: key, reason: "token id \(id) is outside the vocabulary of \(tokens.count)")
                }
                return id
            }
            return tokens.firstIndex(of: fallback)
        }
        func required(_ keys: [String], _ fallback: String) throws -> Int {
            guard let id = try special(keys, fallback) else { throw GGUFProblem.missingMetadata(keys[0]) }
            return id
        }
        return EmbeddedVocabulary(
            source: path, tokens: tokens, lowercase: lowercase, stripAccents: try metadata.bool("tokenizer.ggml.normalizer.strip_accents"),
            clsId: try required(["tokenizer.ggml.cls_token_id", "tokenizer.ggml.bos_token_id"], "[CLS]"),
            sepId: try required(["tokenizer.ggml.seperator_token_id", "tokenizer.ggml.eos_token_id"], "[SEP]"),
            unkId: try required(["tokenizer.ggml.unknown_token_id"], "[UNK]"),
            padId: try required(["tokenizer.ggml.padding_token_id"], "[PAD]"),
            maskId: try special(["tokenizer.ggml.mask_token_id"], "[MASK]"),
            modelMaxLength: config.maxPositionEmbeddings)
    }

    /// llama.cpp's token type of special tokens (LLAMA_TOKEN_TYPE_CONTROL).
    static let controlTokenType: Int64 = 3

    /// `control` is nil when the file has no token types: then a bracketed `[X]` is taken as a
    /// control token.
    static func wordPieceToken(_ stored: String, control: Bool?) -> String {
        // UTF-8 level checks: 30,522 tokens per load, and Character ops find grapheme breaks.
        let utf8 = stored.utf8
        if control ?? (utf8.first == UInt8(ascii: "[") && utf8.last == UInt8(ascii: "]")) { return stored }
        if utf8.starts(with: wordStart) { return String(decoding: utf8.dropFirst(wordStart.count), as: UTF8.self) }
        return "##" + stored
    }

    /// U+2581 "▁" in UTF-8.
    static let wordStart: [UInt8] = [0xE2, 0x96, 0x81]
}

/// `gguf-split` output: `NAME-00001-of-00003.gguf`, … each a GGUF with `split.no` (0-based)
/// and `split.count`; the first holds the model's metadata.
enum GGUFSplit {
    /// The shard number (1-based) of a `-NNNNN-of-MMMMM.gguf` name, nil for another name.
    static func shardNumber(of name: String) -> Int? { parse(name)?.number }

    private static func parse(_ path: String) -> (prefix: String, number: Int, count: Int)? {
        guard path.hasSuffix(".gguf") else { return nil }
        let stem = path.dropLast(5)
        // "-00001-of-00003" is 15 characters.
        guard stem.count > 15 else { return nil }
        let tail = stem.suffix(15)
        let parts = tail.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0].isEmpty, parts[2] == "of", parts[1].count == 5, parts[3].count == 5,
              let number = Int(parts[1]), let count = Int(parts[3]), number >= 1, count >= 1, number <= count else { return nil }
        return (String(stem.dropLast(15)), number, count)
    }

    /// Every shard's path when `path` is a shard (read from the first, whichever was named),
    /// else `[path]`.
    static func shardPaths(forFirst path: String) throws -> [String] {
        guard let (prefix, _, count) = parse(path), count > 1 else { return [path] }
        func pad(_ n: Int) -> String { String(repeating: "0", count: max(0, 5 - String(n).count)) + String(n) }
        return (1...count).map { "\(prefix)-\(pad($0))-of-\(pad(count)).gguf" }
    }

    /// Shard `index` (0-based) of `count` says so in its metadata.
    static func check(_ metadata: GGUFMetadata, index: Int, count: Int) throws {
        let number = try metadata.integer("split.no")
        let total = try metadata.integer("split.count")
        guard number == index else {
            throw GGUFProblem.badMetadataValue(key: "split.no", reason: "is \(number.map(String.init) ?? "absent") in shard \(index + 1) of \(count)")
        }
        guard total == count else {
            throw GGUFProblem.badMetadataValue(key: "split.count", reason: "is \(total.map(String.init) ?? "absent"), the file names say \(count)")
        }
    }
}
