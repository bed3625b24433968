/// The one JSON encoder: every JSON text bertcheck writes (reports, JSON Lines, safetensors
/// headers, golden metadata) is a `JSONValue` serialized here, so strings are escaped and numbers
/// spelled in one place.
///
/// Numbers: an `Int` as an integer; a `Double` or `Float` as its shortest round-trip decimal
/// (`0.5`, `1.0`, `1e-05`, as Python's `json.dumps` writes a float); NaN and ±Inf as `null`, since
/// JSON has no spelling for them.

/// How a JSON text is laid out.
public enum JSONLayout: Sendable {
    /// No whitespace at all: `{"a":[1,2]}` (file headers).
    case compact
    /// One line with `json.dumps`' default separators: `{"a": [1, 2]}`.
    case oneLine
    /// Two spaces of indent per level; a container of at most 16 items whose compact form fits in
    /// 100 bytes (a shape, one parameter's fields) stays on one line.
    case pretty
}

extension JSONValue {
    /// An integer, or null for nil.
    public static func int(_ value: Int?) -> JSONValue {
        value.map { .number(String($0)) } ?? .null
    }

    /// The shortest decimal that reads back as `value`; null for nil, NaN and ±Inf.
    public static func number(_ value: Double?) -> JSONValue {
        guard let value, value.isFinite else { return .null }
        return .number("\(value)")
    }

    /// The shortest decimal that reads back as this `Float`; null for nil, NaN and ±Inf.
    public static func number(_ value: Float?) -> JSONValue {
        guard let value, value.isFinite else { return .null }
        return .number("\(value)")
    }

    /// A string, or null for nil.
    public static func string(_ value: String?) -> JSONValue {
        value.map { .string($0) } ?? .null
    }

    /// Nested arrays for the row-major `values` of `shape` (`[B][S][H]` for a hidden state).
    public static func array(_ values: [Float], shape: [Int]) -> JSONValue {
        func nest(_ offset: Int, _ dims: ArraySlice<Int>) -> JSONValue {
            guard let length = dims.first else { return .number(values[offset]) }
            let stride = dims.dropFirst().reduce(1, *)
            return .array((0..<length).map { nest(offset + $0 * stride, dims.dropFirst()) })
        }
        return nest(0, shape[...])
    }

    /// The value as JSON text.
    public func serialized(_ layout: JSONLayout = .pretty) -> String {
        var out: [UInt8] = []
        write(to: &out, layout: layout)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the value as JSON text (UTF-8) to `out`.
    public func write(to out: inout [UInt8], layout: JSONLayout) {
        write(to: &out, layout: layout, indent: 0)
    }

    private func write(to out: inout [UInt8], layout: JSONLayout, indent: Int) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let text): out.append(contentsOf: text.utf8)
        case .string(let s): StrictJSON.appendQuoted(s, to: &out)
        case .array(let items):
            if layout == .pretty && fitsOnOneLine(count: items.count) { return write(to: &out, layout: .oneLine) }
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                Self.separate(i, to: &out, layout: layout, indent: indent)
                item.write(to: &out, layout: layout, indent: indent + 1)
            }
            Self.close(UInt8(ascii: "]"), empty: items.isEmpty, to: &out, layout: layout, indent: indent)
        case .object(let members):
            if layout == .pretty && fitsOnOneLine(count: members.count) { return write(to: &out, layout: .oneLine) }
            out.append(UInt8(ascii: "{"))
            for (i, member) in members.enumerated() {
                Self.separate(i, to: &out, layout: layout, indent: indent)
                StrictJSON.appendQuoted(member.key, to: &out)
                out.append(UInt8(ascii: ":"))
                if layout != .compact { out.append(UInt8(ascii: " ")) }
                member.value.write(to: &out, layout: layout, indent: indent + 1)
            }
            Self.close(UInt8(ascii: "}"), empty: members.isEmpty, to: &out, layout: layout, indent: indent)
        }
    }

    /// Pretty layout keeps a container of at most 16 items on one line when its compact form fits
    /// in 100 bytes.
    private func fitsOnOneLine(count: Int) -> Bool {
        guard count <= 16 else { return false }
        var probe: [UInt8] = []
        write(to: &probe, layout: .compact)
        return count == 0 || probe.count <= 100
    }

    /// What goes before item `index` of a container: a comma after the first, then a space
    /// (one-line) or a line break and indent (pretty).
    private static func separate(_ index: Int, to out: inout [UInt8], layout: JSONLayout, indent: Int) {
        if index > 0 {
            out.append(UInt8(ascii: ","))
            if layout == .oneLine { out.append(UInt8(ascii: " ")) }
        }
        if layout == .pretty {
            out.append(UInt8(ascii: "\n"))
            out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * (indent + 1)))
        }
    }

    private static func close(_ bracket: UInt8, empty: Bool, to out: inout [UInt8], layout: JSONLayout, indent: Int) {
        if layout == .pretty && !empty {
            out.append(UInt8(ascii: "\n"))
            out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * indent))
        }
        out.append(bracket)
    }
}

extension StrictJSON {
    /// A string as a JSON string literal: quotes, backslashes and control characters escaped,
    /// everything else written as UTF-8.
    public static func quote(_ text: String) -> String {
        var out: [UInt8] = []
        appendQuoted(text, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func appendQuoted(_ text: String, to out: inout [UInt8]) {
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        out.append(quote)
        // Most strings (names, tokens) need no escape: one copy.
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == quote || $0 == backslash }) {
            out.append(contentsOf: text.utf8)
            out.append(quote)
            return
        }
        for byte in text.utf8 {
            switch byte {
            case quote, backslash: out.append(contentsOf: [backslash, byte])
            case UInt8(ascii: "\n"): out.append(contentsOf: [backslash, UInt8(ascii: "n")])
            case UInt8(ascii: "\r"): out.append(contentsOf: [backslash, UInt8(ascii: "r")])
            case UInt8(ascii: "\t"): out.append(contentsOf: [backslash, UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [backslash, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                        hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: out.append(byte)
            }
        }
        out.append(quote)
    }
}

/// A JSON text too large to hold as one string (issue 18 #2: `run --json` of 300 texts × 512
/// tokens is tens of millions of numbers): small parts are `JSONValue`s, float tensors are written
/// straight from their buffers, and the text goes out in pieces of about a megabyte. One line
/// (`.oneLine` or `.compact`); `materialized` is the same text as a `JSONValue`.
public indirect enum JSONStream {
    case value(JSONValue)
    /// Row-major values of `shape`, as `JSONValue.array(_:shape:)` nests them.
    case floats([Float], shape: [Int])
    case array([JSONStream])
    case object([(key: String, value: JSONStream)])

    /// Bytes gathered before `flush` is called.
    public static let pieceSize = 1 << 20

    /// Appends the text to `out`, calling `flush` (which should empty `out`) whenever it holds
    /// `pieceSize` bytes or more. The caller flushes what remains.
    public func write(to out: inout [UInt8], layout: JSONLayout, flush: (inout [UInt8]) throws -> Void) throws {
        precondition(layout != .pretty, "JSONStream writes one line")
        let separator: [UInt8] = layout == .oneLine ? Array(", ".utf8) : [UInt8(ascii: ",")]
        switch self {
        case .value(let value):
            value.write(to: &out, layout: layout)
        case .floats(let values, let shape):
            try Self.writeNested(values, shape: shape[...], offset: 0, separator: separator, to: &out, flush: flush)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(contentsOf: separator) }
                try item.write(to: &out, layout: layout, flush: flush)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, member) in members.enumerated() {
                if i > 0 { out.append(contentsOf: separator) }
                StrictJSON.appendQuoted(member.key, to: &out)
                out.append(UInt8(ascii: ":"))
                if layout == .oneLine { out.append(UInt8(ascii: " ")) }
                try member.value.write(to: &out, layout: layout, flush: flush)
            }
            out.append(UInt8(ascii: "}"))
        }
        if out.count >= Self.pieceSize { try flush(&out) }
    }

    private static func writeNested(_ values: [Float], shape: ArraySlice<Int>, offset: Int, separator: [UInt8],
                                    to out: inout [UInt8], flush: (inout [UInt8]) throws -> Void) throws {
        guard let length = shape.first else {
            JSONValue.number(values[offset]).write(to: &out, layout: .compact)
            return
        }
        let inner = shape.dropFirst()
        let stride = inner.reduce(1, *)
        out.append(UInt8(ascii: "["))
        for i in 0..<length {
            if i > 0 { out.append(contentsOf: separator) }
            try writeNested(values, shape: inner, offset: offset + i * stride, separator: separator, to: &out, flush: flush)
        }
        out.append(UInt8(ascii: "]"))
        if out.count >= pieceSize { try flush(&out) }
    }

    /// The same JSON as one value (small reports, tests).
    public var materialized: JSONValue {
        switch self {
        case .value(let value): return value
        case .floats(let values, let shape): return .array(values, shape: shape)
        case .array(let items): return .array(items.map(\.materialized))
        case .object(let members): return .object(members.map { ($0.key, $0.value.materialized) })
        }
    }
}
