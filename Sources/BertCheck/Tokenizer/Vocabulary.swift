/// Rules a vocab.txt must follow; one case per rule.
public enum VocabProblem: Error, CustomStringConvertible, Equatable {
    case empty
    case invalidUTF8(line: Int)
    case missingSpecialToken(String)
    case noVocabulary
    case noModelVocabulary
    case notWordPiece(String)
    case badTokenId(String)

    public var description: String {
        switch self {
        case .noModelVocabulary: return "no \"model\": {\"vocab\": {token: id, ...}} object"
        case let .notWordPiece(type): return "model type is \(type), not WordPiece"
        case let .badTokenId(token): return "id of token \(StrictJSON.quote(token)) is not an integer from 0 to the vocabulary size - 1"
        case .empty: return "vocabulary is empty (one token per line expected)"
        case let .invalidUTF8(line): return "line \(line) of the vocabulary is not valid UTF-8"
        case let .missingSpecialToken(token): return "vocabulary has no \(token) token, which BERT's tokenizer requires"
        case .noVocabulary: return "no vocab.txt or tokenizer.json in this directory"
        }
    }
}

/// A WordPiece vocabulary read as the reference reads vocab.txt (`tokenizers`' WordPiece
/// `read_file`): one token per line split on "\n", id = line index, trailing whitespace trimmed,
/// a later duplicate wins, a last line without "\n" counts.
struct Vocabulary {
    /// Token text by id (line index); nil for an id no token has.
    let tokens: [String?]
    private let trie: ByteTrie

    init(contentsOf path: String) throws {
        let file = try mapWholeFile(path, limit: WholeFileLimit.vocabulary, kind: "a vocabulary")
        var tokens: [String?] = []
        let bytes = file.bytes
        var trie = ByteTrie(capacity: bytes.count) // at most one node per byte
        let properties = ScalarProperties.shared
        var lineStart = 0
        while lineStart < bytes.count {
            var lineEnd = lineStart
            while lineEnd < bytes.count && bytes[lineEnd] != 0x0A { lineEnd += 1 }
            let line = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<lineEnd])
            guard let text = String(validating: line, as: UTF8.self) else {
                throw FileError(path, VocabProblem.invalidUTF8(line: tokens.count + 1))
            }
            var scalars = text.unicodeScalars[...]
            while let last = scalars.last, properties.flags(last.value).contains(.splitSpace) {
                scalars.removeLast()
            }
            let token = String(String.UnicodeScalarView(scalars))
            trie.insert(token.utf8, id: Int32(clamping: tokens.count))
            tokens.append(token)
            lineStart = lineEnd + 1
        }
        guard !tokens.isEmpty else { throw FileError(path, VocabProblem.empty) }
        self.tokens = tokens
        self.trie = trie
    }

    /// The vocabulary of a tokenizer.json (`model.vocab`, token -> id), which transformers 5.x
    /// reads when a model directory has no vocab.txt (it takes only the vocabulary from there:
    /// the normalization options still come from tokenizer_config.json or the defaults).
    init(tokenizerJSON path: String) throws {
        let root = try BertTokenizer.readObject(path, limit: WholeFileLimit.vocabulary)
        guard let model = root["model"], let members = model["vocab"]?.members else {
            throw FileError(path, VocabProblem.noModelVocabulary)
        }
        if let type = model["type"]?.string, type != "WordPiece" { throw FileError(path, VocabProblem.notWordPiece(type)) }
        guard !members.isEmpty else { throw FileError(path, VocabProblem.empty) }
        var tokens = [String?](repeating: nil, count: members.count)
        var trie = ByteTrie(capacity: members.count * 8)
        for (token, value) in members {
            guard let id = value.integer, tokens.indices.contains(id) else { throw FileError(path, VocabProblem.badTokenId(token)) }
            tokens[id] = token
            trie.insert(token.utf8, id: Int32(clamping: id))
        }
        self.tokens = tokens
        self.trie = trie
    }

    /// A vocabulary given as its token list (id = index), as a GGUF's metadata carries it.
    init(tokens: [String], source: String) throws {
        guard !tokens.isEmpty else { throw FileError(source, VocabProblem.empty) }
        var trie = ByteTrie(capacity: tokens.count * 8)
        for (id, token) in tokens.enumerated() { trie.insert(token.utf8, id: Int32(clamping: id)) }
        self.tokens = tokens
        self.trie = trie
    }

    /// The id of `token` (the last line holding it), if present.
    func id(of token: String) -> Int? {
        var node: Int32 = 0
        for byte in token.utf8 {
            guard let next = trie.child(node, byte) else { return nil }
            node = next
        }
        let id = trie.tokenId(node)
        return id >= 0 ? Int(id) : nil
    }

    /// Greedy longest-match-first WordPiece over one word of normalized scalars; continuation
    /// pieces match tokens spelled with the "##" prefix. Returns false when some position has
    /// no match (the whole word is then unknown), leaving `ids` as it was.
    func appendWordPieces(of word: UnsafeBufferPointer<UInt32>, to ids: inout [Int]) -> Bool {
        let start = ids.count
        let continuation = trie.continuationRoot
        var position = 0
        while position < word.count {
            var node: Int32 = position == 0 ? 0 : continuation
            guard node >= 0 else { ids.removeSubrange(start...); return false }
            var matchEnd = -1, matchId: Int32 = -1
            var index = position
            walk: while index < word.count {
                guard let next = trie.child(node, scalar: word[index]) else { break walk }
                node = next
                index += 1
                let id = trie.tokenId(node)
                if id >= 0 { matchEnd = index; matchId = id }
            }
            guard matchEnd > position else { ids.removeSubrange(start...); return false }
            ids.append(Int(matchId))
            position = matchEnd
        }
        return true
    }
}

/// A byte trie over the UTF-8 spelling of the vocabulary: longest-match lookups in one pass over
/// the word, without building candidate strings.
struct ByteTrie {
    /// (node << 8 | byte) -> child node
    private var children: [UInt64: Int32] = [:]
    /// Token id ending at each node, or -1.
    private var ids: [Int32] = [-1]
    /// The node reached by "##", where continuation pieces start (-1 if no token starts so).
    private(set) var continuationRoot: Int32 = -1

    init(capacity: Int = 0) {
        children.reserveCapacity(capacity)
        ids.reserveCapacity(capacity + 1)
    }

    mutating func insert(_ bytes: String.UTF8View, id: Int32) {
        var node: Int32 = 0
        for byte in bytes {
            let key = UInt64(UInt32(bitPattern: node)) << 8 | UInt64(byte)
            if let next = children[key] {
                node = next
            } else {
                let next = Int32(ids.count)
                ids.append(-1)
                children[key] = next
                node = next
            }
        }
        ids[Int(node)] = id
        if continuationRoot < 0, let hash = child(0, 0x23), let hashHash = child(hash, 0x23) {
            continuationRoot = hashHash
        }
    }

    @inline(__always)
    func child(_ node: Int32, _ byte: UInt8) -> Int32? {
        children[UInt64(UInt32(bitPattern: node)) << 8 | UInt64(byte)]
    }

    /// Steps over the UTF-8 bytes of one scalar.
    @inline(__always)
    func child(_ node: Int32, scalar: UInt32) -> Int32? {
        if scalar < 0x80 { return child(node, UInt8(scalar)) }
        var node = node
        if scalar < 0x800 {
            guard let a = child(node, UInt8(0xC0 | scalar >> 6)) else { return nil }
            node = a
        } else if scalar < 0x10000 {
            guard let a = child(node, UInt8(0xE0 | scalar >> 12)),
                  let b = child(a, UInt8(0x80 | (scalar >> 6) & 0x3F)) else { return nil }
            node = b
        } else {
            guard let a = child(node, UInt8(0xF0 | scalar >> 18)),
                  let b = child(a, UInt8(0x80 | (scalar >> 12) & 0x3F)),
                  let c = child(b, UInt8(0x80 | (scalar >> 6) & 0x3F)) else { return nil }
            node = c
        }
        return child(node, UInt8(0x80 | scalar & 0x3F))
    }

    @inline(__always)
    func tokenId(_ node: Int32) -> Int32 { ids[Int(node)] }
}
