import BertCheck

/// `bertcheck tokenize` output: Python-style lists for people, one JSON object per encoding for
/// programs (JSON Lines with `--file`).
public enum EncodingRenderer {
    /// The human view: Python-style lists of tokens and ids, as the notebook printed them.
    public static func text(_ encoding: Encoding) -> String {
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

    /// `{"input_ids": [...], "tokens": [...], "token_type_ids": [...]}`; with the `.oneLine` layout,
    /// what Python's `json.dumps(..., ensure_ascii=False)` writes for the same dict.
    public static func json(_ encoding: Encoding) -> JSONValue {
        .object([
            ("input_ids", .array(encoding.inputIds.map { .int($0) })),
            ("tokens", .array(encoding.tokens.map { .string($0) })),
            ("token_type_ids", .array(encoding.tokenTypeIds.map { .int($0) })),
        ])
    }

    /// Appends the encoding as one line of JSON Lines (UTF-8, ending in a newline) to `out`.
    public static func appendJSONLine(_ encoding: Encoding, to out: inout [UInt8]) {
        json(encoding).write(to: &out, layout: .oneLine)
        out.append(UInt8(ascii: "\n"))
    }

    /// One line of JSON Lines, newline included.
    public static func jsonLine(_ encoding: Encoding) -> String {
        var out: [UInt8] = []
        appendJSONLine(encoding, to: &out)
        return String(decoding: out, as: UTF8.self)
    }
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
