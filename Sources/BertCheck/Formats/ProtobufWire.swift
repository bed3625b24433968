/// The protobuf wire format (https://protobuf.dev/programming-guides/encoding/), only as far as a
/// reader of a few known messages needs it: tags, varints, fixed-width values and
/// length-delimited spans. Every read is bounds-checked; spans are returned as byte ranges into
/// the caller's buffer, so large `bytes` fields (ONNX `raw_data`) are never copied.

/// How a field's value is encoded (the low three bits of its tag).
public enum WireType: Int, Sendable, CustomStringConvertible {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case startGroup = 3
    case endGroup = 4
    case fixed32 = 5

    public var description: String {
        switch self {
        case .varint: return "varint"
        case .fixed64: return "fixed64"
        case .lengthDelimited: return "length-delimited"
        case .startGroup: return "start-group"
        case .endGroup: return "end-group"
        case .fixed32: return "fixed32"
        }
    }
}

/// Every rule of the wire format a byte stream can break. Offsets are from the start of the file.
public enum WireProblem: Error, Equatable, Sendable, CustomStringConvertible {
    /// The bytes end inside a varint (its last byte still has the continuation bit).
    case truncatedVarint(offset: Int)
    /// A varint longer than 10 bytes, or whose value does not fit in 64 bits.
    case varintTooLong(offset: Int)
    /// A fixed32/fixed64 value runs past the end of its message.
    case truncatedFixed(offset: Int, width: Int)
    /// A length-delimited field's length runs past the end of its message.
    case lengthPastEnd(offset: Int, length: UInt64, remaining: Int)
    /// Wire types 6 and 7 do not exist; 3 and 4 (groups) are not used by the messages read.
    case unsupportedWireType(offset: Int, type: Int)
    /// Field number 0 (or one above 2^29 − 1) is not a valid field.
    case invalidFieldNumber(offset: Int, number: UInt64)

    public var description: String {
        switch self {
        case let .truncatedVarint(offset): return "the bytes end inside a varint at byte \(offset)"
        case let .varintTooLong(offset): return "varint at byte \(offset) is longer than 64 bits"
        case let .truncatedFixed(offset, width): return "\(width)-byte value at byte \(offset) runs past the end of its message"
        case let .lengthPastEnd(offset, length, remaining):
            return "length \(length) at byte \(offset) runs past the end of its message (\(remaining) bytes left)"
        case let .unsupportedWireType(offset, type): return "wire type \(type) at byte \(offset) is not a valid protobuf wire type here"
        case let .invalidFieldNumber(offset, number): return "field number \(number) at byte \(offset) is not valid"
        }
    }
}

/// One field as read from a message: its number, encoding and where its value is.
public struct WireField: Sendable {
    public var number: Int
    public var wireType: WireType
    /// Offset of the tag (for messages).
    public var offset: Int
    /// For varint: the value. For fixed32/fixed64: the bits. Otherwise 0.
    public var scalar: UInt64
    /// For length-delimited: the span of the payload in the buffer. Otherwise empty.
    public var span: Range<Int>
}

/// Reads the fields of one message from `bytes[range]`, in order.
public struct WireReader {
    public let bytes: UnsafeRawBufferPointer
    public private(set) var position: Int
    public let end: Int

    public init(_ bytes: UnsafeRawBufferPointer, range: Range<Int>) {
        self.bytes = bytes
        position = range.lowerBound
        end = range.upperBound
    }

    public var isAtEnd: Bool { position >= end }

    public mutating func readVarint() throws -> UInt64 {
        let start = position
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else { throw WireProblem.truncatedVarint(offset: start) }
            let byte = bytes[position]
            position += 1
            // The tenth byte may only carry the 64th bit.
            if shift == 63 && byte > 1 { throw WireProblem.varintTooLong(offset: start) }
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
            if shift > 63 { throw WireProblem.varintTooLong(offset: start) }
        }
    }

    mutating func readFixed(width: Int) throws -> UInt64 {
        guard end - position >= width else { throw WireProblem.truncatedFixed(offset: position, width: width) }
        var value: UInt64 = 0
        for i in 0..<width { value |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
        position += width
        return value
    }

    /// The next field, or nil at the end of the message.
    public mutating func next() throws -> WireField? {
        guard !isAtEnd else { return nil }
        let offset = position
        let tag = try readVarint()
        let number = tag >> 3
        guard number > 0, number < (1 << 29) else { throw WireProblem.invalidFieldNumber(offset: offset, number: number) }
        guard let wireType = WireType(rawValue: Int(tag & 7)), wireType != .startGroup, wireType != .endGroup else {
            throw WireProblem.unsupportedWireType(offset: offset, type: Int(tag & 7))
        }
        var field = WireField(number: Int(number), wireType: wireType, offset: offset, scalar: 0, span: position..<position)
        switch wireType {
        case .varint: field.scalar = try readVarint()
        case .fixed32: field.scalar = try readFixed(width: 4)
        case .fixed64: field.scalar = try readFixed(width: 8)
        case .lengthDelimited:
            let lengthOffset = position
            let length = try readVarint()
            let remaining = end - position
            guard length <= UInt64(remaining) else {
                throw WireProblem.lengthPastEnd(offset: lengthOffset, length: length, remaining: remaining)
            }
            field.span = position..<(position + Int(length))
            position += Int(length)
        case .startGroup, .endGroup: break
        }
        return field
    }

    /// The values of a repeated varint field, packed (one span) or not (one value).
    public static func varints(_ field: WireField, in bytes: UnsafeRawBufferPointer) throws -> [UInt64] {
        switch field.wireType {
        case .varint: return [field.scalar]
        case .lengthDelimited:
            var reader = WireReader(bytes, range: field.span)
            var values: [UInt64] = []
            while !reader.isAtEnd { values.append(try reader.readVarint()) }
            return values
        default: return []
        }
    }
}

extension UInt64 {
    /// The two's-complement reading protobuf gives an `int64` (and a sign-extended `int32`).
    var asInt64: Int64 { Int64(bitPattern: self) }
}
