/// Element types: the plain ones named as safetensors names them, and GGML's block-quantized
/// ones (Q8_0, Q4_K, …) whose `block` packs several elements with their scales and whose
/// `decode` is in GGMLQuants.swift.
public enum DType: String, CaseIterable, Sendable, Codable {
    case F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL
    case Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K

    /// Bytes per element of a plain type; for a block type, bytes per block (use
    /// `byteCount(elements:)` for sizes).
    public var size: Int { block.bytes }

    /// How elements are stored: (elements per block, bytes per block); one element per block
    /// for plain types. Block sizes are ggml's (ggml-common.h), QK_K = 256.
    public var block: (elements: Int, bytes: Int) {
        switch self {
        case .F64, .I64: return (1, 8)
        case .F32, .I32: return (1, 4)
        case .F16, .BF16, .I16: return (1, 2)
        case .I8, .U8, .BOOL: return (1, 1)
        case .Q4_0: return (32, 18)
        case .Q4_1: return (32, 20)
        case .Q5_0: return (32, 22)
        case .Q5_1: return (32, 24)
        case .Q8_0: return (32, 34)
        case .Q2_K: return (256, 84)
        case .Q3_K: return (256, 110)
        case .Q4_K: return (256, 144)
        case .Q5_K: return (256, 176)
        case .Q6_K: return (256, 210)
        }
    }

    /// The types stored one element at a time (what safetensors, PyTorch and numpy hold).
    public static var plainTypes: [DType] { allCases.filter { !$0.isQuantized } }

    /// Whether elements are stored in blocks with shared scales (and need dequantizing).
    public var isQuantized: Bool { block.elements > 1 }

    /// Bytes holding `elements` values, or nil when that overflows or is not a whole number of
    /// blocks.
    public func byteCount(elements: Int) -> Int? {
        let (perBlock, blockBytes) = block
        guard elements >= 0, elements % perBlock == 0 else { return nil }
        let (bytes, overflow) = (elements / perBlock).multipliedReportingOverflow(by: blockBytes)
        return overflow ? nil : bytes
    }

    public var isFloatingPoint: Bool {
        switch self {
        case .F64, .F32, .F16, .BF16: return true
        default: return false
        }
    }

    /// Whether the values are real numbers a weight can hold: floating point or quantized.
    public var isRealValued: Bool { isFloatingPoint || isQuantized }
}

/// A named, contiguous, row-major, little-endian tensor whose bytes live in a `ByteStorage`
/// (a mapped file or an owned buffer). Readers produce these; nothing copies the data until a
/// consumer asks for floats of another dtype.
public struct Tensor: @unchecked Sendable {
    public var name: String
    public let dtype: DType
    public let shape: [Int]
    /// Exactly `dtype.byteCount(elements: elementCount)` bytes.
    public let data: UnsafeRawBufferPointer
    /// Keeps `data` alive.
    public let storage: ByteStorage
    /// The name in the file when the reader renamed the tensor (GGUF's `blk.0.attn_q.weight`
    /// for `encoder.layer.0.attention.self.query.weight`); nil when `name` is the stored name.
    public var storedName: String?

    public init(name: String, dtype: DType, shape: [Int], data: UnsafeRawBufferPointer, storage: ByteStorage,
                storedName: String? = nil) {
        self.storedName = storedName
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

    /// Calls `body` with the elements as Float: zero-copy for aligned F32, decoded otherwise
    /// (F16/BF16/F64, integers, quantized blocks).
    public func withFloats<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        if dtype == .F32, Int(bitPattern: data.baseAddress) % MemoryLayout<Float>.alignment == 0 {
            let p = data.baseAddress.map { $0.assumingMemoryBound(to: Float.self) }
            return try body(UnsafeBufferPointer(start: p, count: elementCount))
        }
        let converted = floats()
        return try converted.withUnsafeBufferPointer(body)
    }

    /// The elements decoded to Float (a copy).
    public func floats() -> [Float] {
        let n = elementCount
        return [Float](unsafeUninitializedCapacity: n) { out, initialized in
            dtype.decode(data, into: UnsafeMutableBufferPointer(rebasing: out[0..<n]))
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
            default:
                let v = element(i)
                return v.isFinite ? Int64(exactly: v.rounded()) ?? 0 : 0
            }
        }
    }

    /// Element `i` as Float (for a block type, its block is decoded).
    public func element(_ i: Int) -> Float { dtype.scalar(data, at: i) }
}

extension DType {
    /// Element `i` of a plain (one element per block) type as Float.
    @inline(__always)
    func scalar(_ data: UnsafeRawBufferPointer, at i: Int) -> Float {
        switch self {
        case .F32: return data.loadUnaligned(fromByteOffset: i * 4, as: Float.self)
        case .F64: return Float(data.loadUnaligned(fromByteOffset: i * 8, as: Double.self))
        case .F16: return halfToFloat(data.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))
        case .BF16: return bfloat16ToFloat(data.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))
        case .I64: return Float(data.loadUnaligned(fromByteOffset: i * 8, as: Int64.self))
        case .I32: return Float(data.loadUnaligned(fromByteOffset: i * 4, as: Int32.self))
        case .I16: return Float(data.loadUnaligned(fromByteOffset: i * 2, as: Int16.self))
        case .I8: return Float(data.load(fromByteOffset: i, as: Int8.self))
        case .U8, .BOOL: return Float(data[i])
        default: return element(of: data, at: i)
        }
    }

    /// Element `i` of a block type: its block decoded.
    private func element(of data: UnsafeRawBufferPointer, at i: Int) -> Float {
        let (perBlock, blockBytes) = block
        let first = i / perBlock * blockBytes
        return withUnsafeTemporaryAllocation(of: Float.self, capacity: perBlock) { out in
            decode(UnsafeRawBufferPointer(rebasing: data[first..<(first + blockBytes)]), into: out)
            return out[i % perBlock]
        }
    }

    /// Decodes `out.count` elements from `bytes`, which hold at least
    /// `byteCount(elements: out.count)` bytes. The one place every dtype becomes Float.
    public func decode(_ bytes: UnsafeRawBufferPointer, into out: UnsafeMutableBufferPointer<Float>) {
        let n = out.count
        switch self {
        case .F32:
            if let src = bytes.baseAddress, let dst = out.baseAddress { UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: n * 4) }
        case .F16:
            for i in 0..<n { out[i] = halfToFloat(bytes.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)) }
        case .BF16:
            for i in 0..<n { out[i] = bfloat16ToFloat(bytes.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)) }
        case .Q4_0, .Q4_1, .Q5_0, .Q5_1, .Q8_0, .Q2_K, .Q3_K, .Q4_K, .Q5_K, .Q6_K:
            GGMLQuants.dequantize(self, bytes, into: out)
        default:
            for i in 0..<n { out[i] = scalar(bytes, at: i) }
        }
    }
}

/// bfloat16 to binary32: the upper half of the float's bits, exact.
@inline(__always)
public func bfloat16ToFloat(_ b: UInt16) -> Float {
    Float(bitPattern: UInt32(b) << 16)
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
