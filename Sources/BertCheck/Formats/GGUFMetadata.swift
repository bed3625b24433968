/// The value types of GGUF metadata (gguf.h's `enum gguf_type`).
public enum GGUFValueType: UInt32, Sendable {
    case uint8 = 0, int8, uint16, int16, uint32, int32, float32, bool, string, array, uint64, int64, float64

    /// Bytes of one value; for a string, its length prefix (the least it can take).
    var minimumSize: Int {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64, .string, .array: return 8
        }
    }

    /// The name gguf-py gives the type (the case name).
    var name: String { "\(self)" }
}

/// A metadata array: strings decoded (validated UTF-8), numbers kept as their bytes, so an
/// array costs about what the file spends on it (a value per element would multiply it).
public struct GGUFArray: Equatable, Sendable {
    public let elementType: GGUFValueType
    public let count: Int
    /// The elements when they are strings.
    public let strings: [String]
    /// The little-endian bytes of numeric or bool elements.
    let raw: [UInt8]

    /// Element `i` (`0 ..< count`).
    public subscript(i: Int) -> GGUFValue {
        if elementType == .string { return .string(strings[i]) }
        return raw.withUnsafeBytes { bytes in
            var cursor = GGUFByteReader(bytes)
            cursor.position = i * elementType.minimumSize
            // Cannot fail: `raw` holds `count` whole elements of a fixed-size type.
            return (try? GGUFMetadata.readValue(&cursor, type: elementType, key: "")) ?? .uint8(0)
        }
    }

    public var elements: [GGUFValue] { (0..<count).map { self[$0] } }

    /// The elements as integers when they are of an integer type (uint64 above Int64.max: nil).
    public var integers: [Int64]? {
        func load<T: FixedWidthInteger>(_: T.Type) -> [Int64]? {
            raw.withUnsafeBytes { bytes in
                var out: [Int64] = []
                out.reserveCapacity(count)
                for i in 0..<count {
                    guard let v = Int64(exactly: T(littleEndian: bytes.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self))) else { return nil }
                    out.append(v)
                }
                return out
            }
        }
        switch elementType {
        case .uint8: return load(UInt8.self)
        case .int8: return load(Int8.self)
        case .uint16: return load(UInt16.self)
        case .int16: return load(Int16.self)
        case .uint32: return load(UInt32.self)
        case .int32: return load(Int32.self)
        case .uint64: return load(UInt64.self)
        case .int64: return load(Int64.self)
        default: return nil
        }
    }
}

/// One metadata value.
public enum GGUFValue: Equatable, Sendable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String), uint64(UInt64), int64(Int64), float64(Double)
    case array(GGUFArray)

    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .float32: return .float32
        case .bool: return .bool
        case .string: return .string
        case .uint64: return .uint64
        case .int64: return .int64
        case .float64: return .float64
        case .array: return .array
        }
    }

    public var typeName: String {
        if case .array(let array) = self { return "array of \(array.elementType.name)" }
        return type.name
    }

    /// The value of any integer type.
    public var integer: Int64? {
        switch self {
        case .uint8(let v): return Int64(v)
        case .int8(let v): return Int64(v)
        case .uint16(let v): return Int64(v)
        case .int16(let v): return Int64(v)
        case .uint32(let v): return Int64(v)
        case .int32(let v): return Int64(v)
        case .uint64(let v): return Int64(exactly: v)
        case .int64(let v): return v
        default: return nil
        }
    }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// A short rendering for `params`.
    public var display: String {
        switch self {
        case .string(let s): return s
        case .float32(let f): return "\(f)"
        case .float64(let d): return "\(d)"
        case .bool(let b): return "\(b)"
        case .array(let array): return "[\(array.count) \(array.elementType.name)]"
        default: return integer.map { "\($0)" } ?? ""
        }
    }
}

/// The key-value pairs of a GGUF file, in file order, with typed look-ups that throw a
/// `GGUFProblem` naming the key.
public struct GGUFMetadata: Sendable {
    public private(set) var entries: [(key: String, value: GGUFValue)] = []
    private var index: [String: Int] = [:]

    public subscript(key: String) -> GGUFValue? { index[key].map { entries[$0].value } }

    static func parse(_ reader: inout GGUFByteReader, count: Int) throws -> GGUFMetadata {
        var metadata = GGUFMetadata()
        metadata.entries.reserveCapacity(count)
        for i in 0..<count {
            let key = try reader.readString("metadata key \(i)")
            guard !key.isEmpty else { throw GGUFProblem.emptyKey(index: i) }
            guard metadata.index[key] == nil else { throw GGUFProblem.duplicateKey(key) }
            let typeId = try reader.read(UInt32.self, "the type of \"\(key)\"")
            guard let type = GGUFValueType(rawValue: typeId) else { throw GGUFProblem.unknownValueType(key: key, type: typeId) }
            let value = try readValue(&reader, type: type, key: key)
            metadata.index[key] = metadata.entries.count
            metadata.entries.append((key, value))
        }
        return metadata
    }

    static func readValue(_ reader: inout GGUFByteReader, type: GGUFValueType, key: String) throws -> GGUFValue {
        let what = "the value of \"\(key)\""
        switch type {
        case .uint8: return .uint8(try reader.read(UInt8.self, what))
        case .int8: return .int8(try reader.read(Int8.self, what))
        case .uint16: return .uint16(try reader.read(UInt16.self, what))
        case .int16: return .int16(try reader.read(Int16.self, what))
        case .uint32: return .uint32(try reader.read(UInt32.self, what))
        case .int32: return .int32(try reader.read(Int32.self, what))
        case .float32: return .float32(Float(bitPattern: try reader.read(UInt32.self, what)))
        case .bool: return .bool(try reader.read(UInt8.self, what) != 0)
        case .string: return .string(try reader.readString(what))
        case .uint64: return .uint64(try reader.read(UInt64.self, what))
        case .int64: return .int64(try reader.read(Int64.self, what))
        case .float64: return .float64(Double(bitPattern: try reader.read(UInt64.self, what)))
        case .array:
            let elementId = try reader.read(UInt32.self, "the element type of \"\(key)\"")
            guard let element = GGUFValueType(rawValue: elementId) else { throw GGUFProblem.unknownValueType(key: key, type: elementId) }
            guard element != .array else { throw GGUFProblem.nestedArray(key: key) }
            let count = try reader.read(UInt64.self, "the length of \"\(key)\"")
            guard count <= UInt64(reader.remaining / element.minimumSize) else {
                throw GGUFProblem.arrayTooLong(key: key, count: count)
            }
            guard element == .string else {
                let size = Int(count) * element.minimumSize
                let raw = Array(reader.bytes[reader.position..<(reader.position + size)])
                reader.position += size
                return .array(GGUFArray(elementType: element, count: Int(count), strings: [], raw: raw))
            }
            var strings: [String] = []
            strings.reserveCapacity(Int(count))
            for _ in 0..<Int(count) { strings.append(try reader.readString(what)) }
            return .array(GGUFArray(elementType: element, count: Int(count), strings: strings, raw: []))
        }
    }

    // MARK: Typed look-ups

    /// An integer value (any integer type), nil when absent.
    public func integer(_ key: String) throws -> Int? {
        guard let value = self[key] else { return nil }
        guard let v = value.integer else { throw GGUFProblem.wrongMetadataType(key: key, expected: "an integer", found: value.typeName) }
        guard let result = Int(exactly: v) else { throw GGUFProblem.badMetadataValue(key: key, reason: "\(v) is out of range") }
        return result
    }

    /// A count (an integer of at least `minimum`); throws when absent.
    public func count(_ key: String, minimum: Int = 1) throws -> Int {
        guard let v = try integer(key) else { throw GGUFProblem.missingMetadata(key) }
        guard v >= minimum else { throw GGUFProblem.badMetadataValue(key: key, reason: "\(v) is below \(minimum)") }
        return v
    }

    /// A float32/float64 value, nil when absent.
    public func real(_ key: String) throws -> Double? {
        switch self[key] {
        case nil: return nil
        // The shortest decimal that rounds to the float: 1e-12 stored as float32 reads 1e-12,
        // as config.json says, not 9.9999999960e-13.
        case .float32(let f)?: return Double("\(f)") ?? Double(f)
        case .float64(let d)?: return d
        case let value?: throw GGUFProblem.wrongMetadataType(key: key, expected: "a float", found: value.typeName)
        }
    }

    public func string(_ key: String) throws -> String? {
        guard let value = self[key] else { return nil }
        guard let s = value.string else { throw GGUFProblem.wrongMetadataType(key: key, expected: "a string", found: value.typeName) }
        return s
    }

    public func bool(_ key: String) throws -> Bool? {
        guard let value = self[key] else { return nil }
        guard case .bool(let b) = value else { throw GGUFProblem.wrongMetadataType(key: key, expected: "a bool", found: value.typeName) }
        return b
    }

    public func strings(_ key: String) throws -> [String]? {
        guard let value = self[key] else { return nil }
        guard case .array(let array) = value, array.elementType == .string else {
            throw GGUFProblem.wrongMetadataType(key: key, expected: "an array of strings", found: value.typeName)
        }
        return array.strings
    }
}
