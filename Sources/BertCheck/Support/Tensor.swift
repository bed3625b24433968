/// Element types, named as safetensors names them.
public enum DType: String, CaseIterable, Sendable, Codable {
    case F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL

    public var size: Int {
        switch self {
        case .F64, .I64: return 8
        case .F32, .I32: return 4
        case .F16, .BF16, .I16: return 2
        case .I8, .U8, .BOOL: return 1
        }
    }

    public var isFloatingPoint: Bool {
        switch self {
        case .F64, .F32, .F16, .BF16: return true
        default: return false
        }
    }
}

/// A named, contiguous, row-major, little-endian tensor whose bytes live in a `ByteStorage`
/// (a mapped file or an owned buffer). Readers produce these; nothing copies the data until a
/// consumer asks for floats of another dtype.
public struct Tensor: @unchecked Sendable {
    public var name: String
    public let dtype: DType
    public let shape: [Int]
    /// Exactly `elementCount * dtype.size` bytes.
    public let data: UnsafeRawBufferPointer
    /// Keeps `data` alive.
    public let storage: ByteStorage

    public init(name: String, dtype: DType, shape: [Int], data: UnsafeRawBufferPointer, storage: ByteStorage) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.data = data
        self.storage = storage
    }

    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { data.count }

    /// Shape as Python prints a tuple: `(30522, 768)`, `(768,)`, `()`.
    public var shapeDescription: String { Tensor.describe(shape: shape) }

    public static func describe(shape: [Int]) -> String {
        shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }

    /// Calls `body` with the elements as Float: zero-copy for aligned F32, converted otherwise
    /// (F16/BF16/F64 and integers).
    public func withFloats<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        if dtype == .F32, Int(bitPattern: data.baseAddress) % MemoryLayout<Float>.alignment == 0 {
            let p = data.baseAddress.map { $0.assumingMemoryBound(to: Float.self) }
            return try body(UnsafeBufferPointer(start: p, count: elementCount))
        }
        let converted = floats()
        return try converted.withUnsafeBufferPointer(body)
    }

    /// The elements converted to Float (a copy).
    public func floats() -> [Float] {
        let n = elementCount
        return [Float](unsafeUninitializedCapacity: n) { out, initialized in
            for i in 0..<n { out[i] = element(i) }
            initialized = n
        }
    }

    /// The elements converted to Int64 (for id tensors).
    public func int64s() -> [Int64] {
        let n = elementCount
        return (0..<n).map { i in
            switch dtype {
            case .I64: return data.loadUnaligned(fromByteOffset: i * 8, as: Int64.self)
            case .I32: return Int64(data.loadUnaligned(fromByteOffset: i * 4, as: Int32.self))
            case .I16: return Int64(data.loadUnaligned(fromByteOffset: i * 2, as: Int16.self))
            case .I8: return Int64(data.load(fromByteOffset: i, as: Int8.self))
            case .U8, .BOOL: return Int64(data[i])
            case .F64, .F32, .F16, .BF16:
                let v = element(i)
                return v.isFinite ? Int64(exactly: v.rounded()) ?? 0 : 0
            }
        }
    }

    /// Element `i` as Float.
    @inline(__always)
    public func element(_ i: Int) -> Float {
        switch dtype {
        case .F32: return data.loadUnaligned(fromByteOffset: i * 4, as: Float.self)
        case .F64: return Float(data.loadUnaligned(fromByteOffset: i * 8, as: Double.self))
        case .F16: return halfToFloat(data.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))
        case .BF16: return Float(bitPattern: UInt32(data.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)) << 16)
        case .I64: return Float(data.loadUnaligned(fromByteOffset: i * 8, as: Int64.self))
        case .I32: return Float(data.loadUnaligned(fromByteOffset: i * 4, as: Int32.self))
        case .I16: return Float(data.loadUnaligned(fromByteOffset: i * 2, as: Int16.self))
        case .I8: return Float(data.load(fromByteOffset: i, as: Int8.self))
        case .U8, .BOOL: return Float(data[i])
        }
    }
}

/// IEEE 754 binary16 to binary32, exact (subnormals, infinities and NaN included).
@inline(__always)
public func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = Int((h >> 10) & 0x1F)
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0 {
        // Zero or subnormal: mantissa · 2^-24.
        let magnitude = Float(mantissa) * Float(bitPattern: 0x3380_0000)
        return Float(bitPattern: magnitude.bitPattern | sign)
    }
    if exponent == 31 {
        return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    }
    return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
}
