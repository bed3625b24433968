/// What `bertcheck tokenize` prints, and how it reads a file of texts.

/// Rules a texts file (`tokenize --file`) must follow.
public enum TextLinesProblem: Error, CustomStringConvertible, Equatable {
    case invalidUTF8(line: Int)

    public var description: String {
        switch self {
        case let .invalidUTF8(line): return "line \(line) is not valid UTF-8"
        }
    }
}

public enum TextLines {
    /// One text per line, split on "\n" only ("\r" stays in the text, where it is whitespace); a
    /// final "\n" ends the last line rather than starting an empty one. The whole file is checked
    /// before anything is returned, so bad input never yields partial output.
    public static func read(_ path: String) throws -> [String] {
        let file = try MappedFile(path: path)
        let bytes = file.bytes
        var lines: [String] = []
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            guard let line = String(validating: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self) else {
                throw FileError(path, TextLinesProblem.invalidUTF8(line: lines.count + 1))
            }
            lines.append(line)
            start = end + 1
        }
        return lines
    }
}

/// Writes encodings as JSON objects `{"input_ids": [...], "tokens": [...], "token_type_ids": [...]}`
/// (json.dumps' separators, UTF-8 text), one per line for JSON Lines. Token strings are quoted
/// once per vocabulary entry, so long files cost little beyond tokenization.
public final class EncodingJSONWriter {
    private let tokenizer: BertTokenizer
    private var quoted: [[UInt8]?]

    public init(tokenizer: BertTokenizer) {
        self.tokenizer = tokenizer
        quoted = [[UInt8]?](repeating: nil, count: tokenizer.vocabularySize)
    }

    public func appendLine(_ encoding: Encoding, to out: inout [UInt8]) {
        out.append(contentsOf: Array(#"{"input_ids": ["#.utf8))
        appendIntegers(encoding.inputIds, to: &out)
        out.append(contentsOf: Array(#"], "tokens": ["#.utf8))
        for (index, id) in encoding.inputIds.enumerated() {
            if index > 0 { out.append(contentsOf: [0x2C, 0x20]) }
            out.append(contentsOf: quotedToken(id: id, text: encoding.tokens[index]))
        }
        out.append(contentsOf: Array(#"], "token_type_ids": ["#.utf8))
        appendIntegers(encoding.tokenTypeIds, to: &out)
        out.append(contentsOf: Array("]}\n".utf8))
    }

    public func line(_ encoding: Encoding) -> String {
        var out: [UInt8] = []
        appendLine(encoding, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private func quotedToken(id: Int, text: String) -> [UInt8] {
        guard quoted.indices.contains(id), tokenizer.token(for: id) == text else { return Array(StrictJSON.quote(text).utf8) }
        if let bytes = quoted[id] { return bytes }
        let bytes = Array(StrictJSON.quote(text).utf8)
        quoted[id] = bytes
        return bytes
    }

    private func appendIntegers(_ values: [Int], to out: inout [UInt8]) {
        for (index, value) in values.enumerated() {
            if index > 0 { out.append(contentsOf: [0x2C, 0x20]) }
            appendDecimal(value, to: &out)
        }
    }

    private func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        if value < 0 { out.append(0x2D) }
        var magnitude = value.magnitude
        var digits: [UInt8] = []
        repeat {
            digits.append(UInt8(truncatingIfNeeded: 0x30 + magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        out.append(contentsOf: digits.reversed())
    }
}

/// The human view: Python-style lists of tokens and ids, as the notebook printed them.
public func describeEncoding(_ encoding: Encoding) -> String {
    let tokens = encoding.tokens.map(pythonRepr).joined(separator: ", ")
    let ids = encoding.inputIds.map(String.init).joined(separator: ", ")
    let types = encoding.tokenTypeIds.map(String.init).joined(separator: ", ")
    return """
    \(encoding.inputIds.count) tokens
    tokens:         [\(tokens)]
    input_ids:      [\(ids)]
    token_type_ids: [\(types)]
    """
}

/// Python's repr of a str, enough for tokens: single quotes unless the text has one and no
/// double quote; backslashes, quotes and control characters escaped.
func pythonRepr(_ text: String) -> String {
    let quote: Unicode.Scalar = text.contains("'") && !text.contains("\"") ? "\"" : "'"
    var out = String(quote)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\\": out += "\\\\"
        case quote: out += "\\" + String(quote)
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20 || scalar.value == 0x7F:
            let hex = String(scalar.value, radix: 16)
            out += "\\x" + (hex.count < 2 ? "0" : "") + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    out.unicodeScalars.append(quote)
    return out
}
