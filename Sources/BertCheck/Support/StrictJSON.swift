/// A small, strict JSON parser (RFC 8259) for file headers and model metadata.
///
/// Foundation's JSONSerialization silently keeps one of two duplicate keys, accepts trailing
/// garbage in some modes and turns every number into a Double. A checkpoint reader has to say
/// exactly what is wrong with a header, so this parser keeps object keys in file order, rejects
/// duplicate keys, keeps numbers as written (an integer stays an exact integer) and bounds nesting.
public enum JSONValue: Equatable, Sendable {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    /// The number as written in the file.
    case number(String)
    case bool(Bool)
    case null

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case let (.array(x), .array(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.bool(x), .bool(y)): return x == y
        case (.null, .null): return true
        default: return false
        }
    }

    /// The value as an exact `Int` when it is a JSON integer literal (no fraction, no exponent)
    /// that fits; nil otherwise (1.0, 1e3, 2^64 and non-numbers are not integers).
    public var integer: Int? {
        guard case .number(let text) = self else { return nil }
        let digits = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
        guard !digits.isEmpty, digits.allSatisfy({ $0 >= "0" && $0 <= "9" }) else { return nil }
        return Int(text)
    }

    public var double: Double? {
        guard case .number(let text) = self else { return nil }
        return Double(text)
    }

    public var string: String? {
        guard case .string(let s) = self else { return nil }
        return s
    }

    public var members: [(key: String, value: JSONValue)]? {
        guard case .object(let m) = self else { return nil }
        return m
    }

    public var elements: [JSONValue]? {
        guard case .array(let e) = self else { return nil }
        return e
    }

    /// The first member named `key` of an object (keys are unique after parsing).
    public subscript(key: String) -> JSONValue? {
        members?.first(where: { $0.key == key })?.value
    }

    /// A short name for the kind of value, for error messages.
    public var kind: String {
        switch self {
        case .object: return "object"
        case .array: return "array"
        case .string: return "string"
        case .number: return "number"
        case .bool: return "boolean"
        case .null: return "null"
        }
    }
}

/// Why a text is not acceptable JSON, with the byte offset where parsing stopped.
public enum JSONProblem: Error, CustomStringConvertible, Equatable {
    case invalidUTF8
    case syntax(String, offset: Int)
    case duplicateKey(String, offset: Int)
    case tooDeep(offset: Int)

    public var description: String {
        switch self {
        case .invalidUTF8: return "not valid UTF-8"
        case let .syntax(what, offset): return "invalid JSON at byte \(offset): \(what)"
        case let .duplicateKey(key, offset): return "duplicate key \"\(key)\" at byte \(offset)"
        case let .tooDeep(offset): return "JSON nested deeper than \(StrictJSON.maximumDepth) levels at byte \(offset)"
        }
    }
}

public enum StrictJSON {
    public static let maximumDepth = 128

    /// Parses one JSON value filling `bytes` (surrounding JSON whitespace allowed, nothing else).
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONProblem) -> JSONValue {
        guard isValidUTF8(bytes) else { throw .invalidUTF8 }
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.position == bytes.count else { throw .syntax("unexpected data after the JSON value", offset: parser.position) }
        return value
    }

    public static func parse(_ bytes: [UInt8]) throws(JSONProblem) -> JSONValue {
        do {
            return try bytes.withUnsafeBytes { raw in try parse(raw) }
        } catch let problem as JSONProblem {
            throw problem
        } catch {
            throw .invalidUTF8 // unreachable: parse(_:) throws only JSONProblem
        }
    }

    public static func isValidUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let failed = transcode(bytes.makeIterator(), from: UTF8.self, to: UTF32.self, stoppingOnError: true) { _ in }
        return !failed
    }

    private struct Parser {
        let bytes: UnsafeRawBufferPointer
        var position = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        var current: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skipWhitespace() {
            while let c = current, c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { position += 1 }
        }

        mutating func expect(_ literal: StaticString, _ value: JSONValue) throws(JSONProblem) -> JSONValue {
            let start = position
            let count = literal.utf8CodeUnitCount
            guard bytes.count - position >= count else { throw .syntax("truncated literal", offset: start) }
            for i in 0..<count where bytes[position + i] != literal.utf8Start[i] {
                throw .syntax("unexpected character", offset: position + i)
            }
            position += count
            return value
        }

        mutating func value(depth: Int) throws(JSONProblem) -> JSONValue {
            guard depth < StrictJSON.maximumDepth else { throw .tooDeep(offset: position) }
            guard let c = current else { throw .syntax("unexpected end of text", offset: position) }
            switch c {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try expect("true", .bool(true))
            case UInt8(ascii: "f"): return try expect("false", .bool(false))
            case UInt8(ascii: "n"): return try expect("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw .syntax("unexpected character", offset: position)
            }
        }

        mutating func object(depth: Int) throws(JSONProblem) -> JSONValue {
            position += 1
            var members: [(key: String, value: JSONValue)] = []
            // Keys compare as bytes, as Python's json and safetensors do: Swift's String equality
            // would call "é" and "e\u{301}" (canonically equivalent) the same key.
            var seen = Set<[UInt8]>()
            skipWhitespace()
            if current == UInt8(ascii: "}") { position += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard current == UInt8(ascii: "\"") else { throw .syntax("expected a string key", offset: position) }
                let keyOffset = position
                let key = try string()
                guard seen.insert(Array(key.utf8)).inserted else { throw .duplicateKey(key, offset: keyOffset) }
                skipWhitespace()
                guard current == UInt8(ascii: ":") else { throw .syntax("expected ':'", offset: position) }
                position += 1
                skipWhitespace()
                members.append((key, try value(depth: depth + 1)))
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "}"): position += 1; return .object(members)
                default: throw .syntax("expected ',' or '}'", offset: position)
                }
            }
        }

        mutating func array(depth: Int) throws(JSONProblem) -> JSONValue {
            position += 1
            var elements: [JSONValue] = []
            skipWhitespace()
            if current == UInt8(ascii: "]") { position += 1; return .array(elements) }
            while true {
                skipWhitespace()
                elements.append(try value(depth: depth + 1))
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "]"): position += 1; return .array(elements)
                default: throw .syntax("expected ',' or ']'", offset: position)
                }
            }
        }

        mutating func number() throws(JSONProblem) -> JSONValue {
            let start = position
            if current == UInt8(ascii: "-") { position += 1 }
            func isDigit(_ c: UInt8?) -> Bool { c.map { $0 >= 0x30 && $0 <= 0x39 } ?? false }
            guard isDigit(current) else { throw .syntax("expected a digit", offset: position) }
            if current == UInt8(ascii: "0") {
                position += 1
                if isDigit(current) { throw .syntax("leading zero in a number", offset: position) }
            } else {
                while isDigit(current) { position += 1 }
            }
            if current == UInt8(ascii: ".") {
                position += 1
                guard isDigit(current) else { throw .syntax("expected a digit after '.'", offset: position) }
                while isDigit(current) { position += 1 }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                position += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
                guard isDigit(current) else { throw .syntax("expected a digit in the exponent", offset: position) }
                while isDigit(current) { position += 1 }
            }
            return .number(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self))
        }

        mutating func hex4() throws(JSONProblem) -> UInt32 {
            guard bytes.count - position >= 4 else { throw .syntax("truncated \\u escape", offset: position) }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[position]
                let digit: UInt32
                switch c {
                case 0x30...0x39: digit = UInt32(c - 0x30)
                case 0x41...0x46: digit = UInt32(c - 0x41 + 10)
                case 0x61...0x66: digit = UInt32(c - 0x61 + 10)
                default: throw .syntax("invalid hex digit in \\u escape", offset: position)
                }
                value = value << 4 | digit
                position += 1
            }
            return value
        }

        mutating func string() throws(JSONProblem) -> String {
            position += 1
            var out = String()
            var runStart = position
            func flush(_ end: Int) {
                if end > runStart {
                    out += String(decoding: UnsafeRawBufferPointer(rebasing: bytes[runStart..<end]), as: UTF8.self)
                }
            }
            while true {
                guard let c = current else { throw .syntax("unterminated string", offset: position) }
                if c == UInt8(ascii: "\"") {
                    flush(position)
                    position += 1
                    return out
                }
                if c < 0x20 { throw .syntax("unescaped control character in a string", offset: position) }
                if c != UInt8(ascii: "\\") { position += 1; continue }
                flush(position)
                position += 1
                guard let e = current else { throw .syntax("unterminated escape", offset: position) }
                position += 1
                switch e {
                case UInt8(ascii: "\""): out += "\""
                case UInt8(ascii: "\\"): out += "\\"
                case UInt8(ascii: "/"): out += "/"
                case UInt8(ascii: "b"): out += "\u{08}"
                case UInt8(ascii: "f"): out += "\u{0C}"
                case UInt8(ascii: "n"): out += "\n"
                case UInt8(ascii: "r"): out += "\r"
                case UInt8(ascii: "t"): out += "\t"
                case UInt8(ascii: "u"):
                    let escapeOffset = position - 2
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code) {
                        guard bytes.count - position >= 2, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                            throw .syntax("unpaired surrogate in \\u escape", offset: escapeOffset)
                        }
                        position += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw .syntax("unpaired surrogate in \\u escape", offset: escapeOffset) }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(code) {
                        throw .syntax("unpaired surrogate in \\u escape", offset: escapeOffset)
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw .syntax("invalid \\u escape", offset: escapeOffset) }
                    out.unicodeScalars.append(scalar)
                default:
                    throw .syntax("invalid escape", offset: position - 1)
                }
                runStart = position
            }
        }
    }
}
