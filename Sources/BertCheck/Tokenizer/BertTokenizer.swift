#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One encoded input: `[CLS] A [SEP]` or `[CLS] A [SEP] B [SEP]`, with token type 0 for the
/// first segment (and its [CLS] and [SEP]) and 1 for the second.
public struct Encoding: Equatable, Sendable {
    public var inputIds: [Int]
    public var tokens: [String]
    public var tokenTypeIds: [Int]

    public init(inputIds: [Int], tokens: [String], tokenTypeIds: [Int]) {
        self.inputIds = inputIds
        self.tokens = tokens
        self.tokenTypeIds = tokenTypeIds
    }
}

/// Rules tokenizer_config.json / config.json must follow when the tokenizer reads them.
public enum TokenizerConfigProblem: Error, CustomStringConvertible, Equatable {
    case notAnObject
    case wrongType(key: String, expected: String)
    case maxLengthTooSmall(Double)

    public var description: String {
        switch self {
        case .notAnObject: return "expected a JSON object"
        case let .wrongType(key, expected): return "\"\(key)\" must be \(expected)"
        case let .maxLengthTooSmall(value):
            return "\"model_max_length\" is \(formatNumber(value)) but must be at least 2 to hold [CLS] and [SEP] (below that, truncation would silently be off)"
        }
    }
}

/// Hugging Face's BertTokenizer (transformers 5.x, backed by the `tokenizers` library), id for
/// id: special tokens in the text are kept whole, the rest goes through `BasicTokenizer` and
/// WordPiece (longest match first, "##" continuations, [UNK] for a word with no match or longer
/// than 100 scalars), then `[CLS] A [SEP] (B [SEP])` with `longest_first` truncation.
public final class BertTokenizer: @unchecked Sendable {
    /// Words longer than this many Unicode scalars are [UNK] without trying WordPiece.
    public static let maxInputCharsPerWord = 100

    public let vocabularyPath: String
    public let lowercase: Bool
    public let stripAccents: Bool
    public let tokenizeChineseChars: Bool
    /// Default truncation length: tokenizer_config.json `model_max_length`, else config.json
    /// `max_position_embeddings`; nil (no truncation) for a bare vocab.txt.
    public let modelMaxLength: Int?

    /// The truncation length for a model with `maxPositionEmbeddings` positions: the one rule
    /// every command uses, as transformers does (`model_max_length`, never past the position table).
    public func truncationLength(maxPositionEmbeddings: Int) -> Int {
        min(modelMaxLength ?? Int.max, maxPositionEmbeddings)
    }
    public let clsId: Int, sepId: Int, unkId: Int, padId: Int
    public var vocabularySize: Int { vocabulary.tokens.count }

    private let vocabulary: Vocabulary
    private let basic: BasicTokenizer
    private let unkToken: String
    /// Special tokens matched in raw text before normalization, longest first.
    private let specialTokens: [(scalars: [UInt32], id: Int)]

    struct Options {
        var lowercase = true
        var stripAccents: Bool? = nil
        var tokenizeChineseChars = true
        var modelMaxLength: Int? = nil
        var unk = "[UNK]", sep = "[SEP]", pad = "[PAD]", cls = "[CLS]", mask = "[MASK]"
    }

    /// `modelOrVocab` is a model directory (vocab.txt, else the vocabulary of tokenizer.json;
    /// plus tokenizer_config.json and config.json when present, as `from_pretrained` reads them),
    /// a file inside one (model.safetensors, config.json, ...), or a bare vocab.txt (default
    /// options: lower-casing, no length limit).
    public static func load(_ modelOrVocab: String) throws -> BertTokenizer {
        var isDirectory = false
        guard let info = fileStatus(modelOrVocab) else {
            throw FileError(modelOrVocab, Problem("cannot open: \(String(cString: strerror(errno)))"))
        }
        isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
        var directory: String? = isDirectory ? modelOrVocab : nil
        if !isDirectory {
            let name = modelOrVocab.split(separator: "/").last.map(String.init) ?? modelOrVocab
            let modelFiles = ["config.json", "tokenizer_config.json", "tokenizer.json", "model.safetensors.index.json"]
            if name.hasSuffix(".safetensors") || name.hasSuffix(".bin") || modelFiles.contains(name) {
                directory = parentDirectory(of: modelOrVocab)
            }
        }
        if !isDirectory, GGUFFormat.match(path: modelOrVocab, head: try CheckpointFormats.readHead(modelOrVocab)) == .byMagic {
            guard let embedded = try GGUFFormat.read(modelOrVocab).tokenizer else {
                throw FileError(modelOrVocab, GGUFProblem.missingMetadata("tokenizer.ggml.tokens"))
            }
            return try load(embedded)
        }
        guard let directory else {
            return try BertTokenizer(vocabularyPath: modelOrVocab, options: Options())
        }
        let bothRead = try checkVocabularyFilesAgree(directory: directory)
        var vocabPath = joinPath(directory, "vocab.txt")
        if !entryExists(vocabPath) {
            vocabPath = joinPath(directory, "tokenizer.json")
            guard entryExists(vocabPath) else { throw FileError(directory, VocabProblem.noVocabulary) }
        }
        var options = Options()
        let configPath = joinPath(directory, "config.json")
        if entryExists(configPath) {
            let config = try readObject(configPath)
            if let value = config["max_position_embeddings"] {
                guard let positions = value.integer, positions > 0 else {
                    throw FileError(configPath, TokenizerConfigProblem.wrongType(key: "max_position_embeddings", expected: "a positive integer"))
                }
                options.modelMaxLength = positions
            }
        }
        let tokenizerConfigPath = joinPath(directory, "tokenizer_config.json")
        if entryExists(tokenizerConfigPath) {
            try readTokenizerConfig(tokenizerConfigPath, into: &options)
        }
        // vocab.txt was already read when checked against tokenizer.json: not read twice.
        if let bothRead, vocabPath.hasSuffix("vocab.txt") {
            return try BertTokenizer(vocabulary: bothRead, path: vocabPath, options: options)
        }
        return try BertTokenizer(vocabularyPath: vocabPath, options: options)
    }

    convenience init(vocabularyPath: String, options: Options) throws {
        let vocabulary = vocabularyPath.hasSuffix(".json")
            ? try Vocabulary(tokenizerJSON: vocabularyPath) : try Vocabulary(contentsOf: vocabularyPath)
        try self.init(vocabulary: vocabulary, path: vocabularyPath, options: options)
    }

    /// The tokenizer a checkpoint carries (a GGUF's metadata): its special tokens are named by
    /// id, lower-casing and accent stripping as it says.
    public convenience init(embedded source: EmbeddedVocabulary) throws {
        let vocabulary = try Vocabulary(tokens: source.tokens, source: source.source)
        for id in [source.clsId, source.sepId, source.unkId, source.padId] + (source.maskId.map { [$0] } ?? [])
        where !source.tokens.indices.contains(id) {
            throw FileError(source.source, VocabProblem.badTokenId("special token id \(id)"))
        }
        var options = Options()
        options.lowercase = source.lowercase
        options.stripAccents = source.stripAccents
        options.modelMaxLength = source.modelMaxLength
        options.cls = source.tokens[source.clsId]
        options.sep = source.tokens[source.sepId]
        options.unk = source.tokens[source.unkId]
        options.pad = source.tokens[source.padId]
        options.mask = source.maskId.map { source.tokens[$0] } ?? ""
        try self.init(vocabulary: vocabulary, path: source.source, options: options)
    }

    /// The tokenizer of a loaded checkpoint: its own (GGUF) or its directory's.
    public static func load(_ source: TokenizerSource) throws -> BertTokenizer {
        switch source {
        case .directory(let directory): return try load(directory)
        case .embedded(let vocabulary): return try BertTokenizer(embedded: vocabulary)
        }
    }

    private init(vocabulary: Vocabulary, path vocabularyPath: String, options: Options) throws {
        func required(_ token: String) throws -> Int {
            guard let id = vocabulary.id(of: token) else {
                throw FileError(vocabularyPath, VocabProblem.missingSpecialToken(token))
            }
            return id
        }
        self.vocabularyPath = vocabularyPath
        self.vocabulary = vocabulary
        clsId = try required(options.cls)
        sepId = try required(options.sep)
        unkId = try required(options.unk)
        padId = try required(options.pad)
        unkToken = options.unk
        lowercase = options.lowercase
        stripAccents = options.stripAccents ?? options.lowercase
        tokenizeChineseChars = options.tokenizeChineseChars
        modelMaxLength = options.modelMaxLength
        basic = BasicTokenizer(lowercase: lowercase, stripAccents: stripAccents, tokenizeChineseChars: tokenizeChineseChars)
        var specials: [(scalars: [UInt32], id: Int)] = []
        for token in [options.pad, options.unk, options.cls, options.sep, options.mask] where !token.isEmpty {
            if let id = vocabulary.id(of: token), !specials.contains(where: { $0.id == id }) {
                specials.append((token.unicodeScalars.map(\.value), id))
            }
        }
        specialTokens = specials.sorted { $0.scalars.count > $1.scalars.count }
    }

    /// The token text of `id` (its line in vocab.txt), or nil outside the vocabulary.
    public func token(for id: Int) -> String? {
        vocabulary.tokens.indices.contains(id) ? vocabulary.tokens[id] : nil as String?
    }

    /// The id of a vocabulary token, if present.
    public func id(for token: String) -> Int? { vocabulary.id(of: token) }

    /// The wordpiece ids of `text`, without special tokens added or truncation.
    public func tokenIds(_ text: String) -> [Int] {
        var scalars: [UInt32] = []
        scalars.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars { scalars.append(scalar.value) }
        var ids: [Int] = []
        scalars.withUnsafeBufferPointer { appendIds(of: $0, to: &ids) }
        return ids
    }

    /// Encodes `text` (and `pair`) as transformers' `tokenizer(text, pair, truncation=True,
    /// max_length=maxLength)` does. `maxLength` nil means `modelMaxLength`. As in the reference, a
    /// limit too small to hold the special tokens (below 2, or 3 for a pair) truncates nothing,
    /// and an empty pair is no pair (transformers tests the pair's truthiness).
    public func encode(_ text: String, pair: String? = nil, maxLength: Int? = nil) -> Encoding {
        var first = tokenIds(text)
        var second = pair.flatMap { $0.isEmpty ? nil : tokenIds($0) }
        if let limit = maxLength ?? modelMaxLength {
            let kept = Self.truncatedLengths(first: first.count, second: second?.count, maxLength: limit)
            first.removeSubrange(min(kept.first, first.count)...)
            if let keep = kept.second, let count = second?.count { second?.removeSubrange(min(keep, count)...) }
        }
        var ids = [clsId]
        ids.reserveCapacity(first.count + (second?.count ?? 0) + 3)
        ids += first
        ids.append(sepId)
        var types = [Int](repeating: 0, count: ids.count)
        if let second {
            ids += second
            ids.append(sepId)
            types += [Int](repeating: 1, count: second.count + 1)
        }
        let tokens = ids.map { token(for: $0) ?? unkToken }
        return Encoding(inputIds: ids, tokens: tokens, tokenTypeIds: types)
    }

    /// Encodes each `(text, pair)` and pads on the right to the longest: pad id, attention mask 0,
    /// token type 0 on padding.
    public func batch(_ items: [(String, String?)], maxLength: Int?) -> Batch {
        let encodings = items.map { encode($0.0, pair: $0.1, maxLength: maxLength) }
        let seq = encodings.map(\.inputIds.count).max() ?? 0
        var ids: [Int] = [], mask: [Int] = [], types: [Int] = []
        ids.reserveCapacity(seq * encodings.count)
        mask.reserveCapacity(seq * encodings.count)
        types.reserveCapacity(seq * encodings.count)
        for encoding in encodings {
            let padding = seq - encoding.inputIds.count
            ids += encoding.inputIds + [Int](repeating: padId, count: padding)
            mask += [Int](repeating: 1, count: encoding.inputIds.count) + [Int](repeating: 0, count: padding)
            types += encoding.tokenTypeIds + [Int](repeating: 0, count: padding)
        }
        return Batch(batch: encodings.count, seq: seq, inputIds: ids, attentionMask: mask, tokenTypeIds: types)
    }

    /// How many content tokens of each segment survive `longest_first` truncation to
    /// `maxLength`, counted as the reference counts (special tokens included in the limit).
    static func truncatedLengths(first: Int, second: Int?, maxLength: Int) -> (first: Int, second: Int?) {
        let specials = second == nil ? 2 : 3
        guard maxLength >= specials else { return (first, second) }
        let budget = maxLength - specials
        guard let second else { return (min(first, budget), nil) }
        guard first + second > budget else { return (first, second) }
        guard budget > 0 else { return (0, 0) }
        // As tokenizers' LongestFirst: the shorter keeps what it can up to half, the longer the rest.
        let swapped = first > second
        var short = swapped ? second : first
        var long = swapped ? first : second
        long = short > budget ? short : max(short, budget - short)
        if short + long > budget {
            short = budget / 2
            long = short + budget % 2
        }
        return swapped ? (long, short) : (short, long)
    }

    /// Splits raw scalars on special tokens (matched before normalization, leftmost then
    /// longest), and runs the other segments through normalization, word splitting and WordPiece.
    private func appendIds(of text: UnsafeBufferPointer<UInt32>, to ids: inout [Int]) {
        var segmentStart = 0
        var index = 0
        while index < text.count {
            if let special = specialToken(at: index, in: text) {
                appendSegment(UnsafeBufferPointer(rebasing: text[segmentStart..<index]), to: &ids)
                ids.append(special.id)
                index += special.length
                segmentStart = index
            } else {
                index += 1
            }
        }
        appendSegment(UnsafeBufferPointer(rebasing: text[segmentStart..<text.count]), to: &ids)
    }

    @inline(__always)
    private func specialToken(at index: Int, in text: UnsafeBufferPointer<UInt32>) -> (id: Int, length: Int)? {
        candidates: for special in specialTokens {
            let length = special.scalars.count
            guard text[index] == special.scalars[0], text.count - index >= length else { continue }
            for offset in 1..<max(length, 1) where text[index + offset] != special.scalars[offset] {
                continue candidates
            }
            return (special.id, length)
        }
        return nil
    }

    private func appendSegment(_ segment: UnsafeBufferPointer<UInt32>, to ids: inout [Int]) {
        guard !segment.isEmpty else { return }
        var normalized: [UInt32] = []
        basic.normalize(segment, into: &normalized)
        normalized.withUnsafeBufferPointer { text in
            basic.forEachWord(in: text) { word in
                let scalars = UnsafeBufferPointer(rebasing: text[word])
                if scalars.count > Self.maxInputCharsPerWord || !vocabulary.appendWordPieces(of: scalars, to: &ids) {
                    ids.append(unkId)
                }
            }
        }
    }

    // MARK: reading the model directory

    private static func readTokenizerConfig(_ path: String, into options: inout Options) throws {
        let config = try readObject(path)
        func bool(_ key: String) throws -> Bool? {
            guard let value = config[key], value != .null else { return nil }
            guard case .bool(let flag) = value else {
                throw FileError(path, TokenizerConfigProblem.wrongType(key: key, expected: "true or false"))
            }
            return flag
        }
        func token(_ key: String) throws -> String? {
            guard let value = config[key], value != .null else { return nil }
            if let text = value.string ?? value["content"]?.string { return text }
            throw FileError(path, TokenizerConfigProblem.wrongType(key: key, expected: "a string or {\"content\": string}"))
        }
        if let flag = try bool("do_lower_case") { options.lowercase = flag }
        if let flag = try bool("strip_accents") { options.stripAccents = flag }
        if let flag = try bool("tokenize_chinese_chars") { options.tokenizeChineseChars = flag }
        if let value = config["model_max_length"], value != .null {
            // transformers writes 1e30 ("no limit") for models that have none.
            guard let number = value.double, number > 0 else {
                throw FileError(path, TokenizerConfigProblem.wrongType(key: "model_max_length", expected: "a positive number"))
            }
            // Below 2 the limit cannot hold [CLS] and [SEP], and transformers then truncates
            // nothing: a limit that silently turns truncation off is refused instead.
            if number < 2 { throw FileError(path, TokenizerConfigProblem.maxLengthTooSmall(number)) }
            if number < 1e9 { options.modelMaxLength = Int(number) }
        }
        if let text = try token("unk_token") { options.unk = text }
        if let text = try token("sep_token") { options.sep = text }
        if let text = try token("pad_token") { options.pad = text }
        if let text = try token("cls_token") { options.cls = text }
        if let text = try token("mask_token") { options.mask = text }
    }

    /// A JSON file whose top level must be an object.
    static func readObject(_ path: String, limit: Int = WholeFileLimit.json) throws -> JSONValue {
        let file = try mapWholeFile(path, limit: limit, kind: limit == WholeFileLimit.json ? "a JSON config" : "a tokenizer.json")
        let value: JSONValue
        do {
            value = try StrictJSON.parse(file.bytes)
        } catch {
            throw FileError(path, error)
        }
        guard case .object = value else { throw FileError(path, TokenizerConfigProblem.notAnObject) }
        return value
    }
}
