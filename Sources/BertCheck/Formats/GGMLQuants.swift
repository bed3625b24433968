/// Dequantization of GGML's block types, float for float what gguf-py's
/// `gguf.quants.dequantize` computes (its numpy code works in float32 with one rounding per
/// operation, in this order; Swift does not fuse `a * b + c`, so the results are bit-identical).
/// Block layouts are ggml-common.h's; QK_K = 256.
enum GGMLQuants {
    /// Decodes `out.count / block.elements` consecutive blocks of `type` from `bytes`.
    static func dequantize(_ type: DType, _ bytes: UnsafeRawBufferPointer, into out: UnsafeMutableBufferPointer<Float>) {
        let (perBlock, blockBytes) = type.block
        guard let source = bytes.baseAddress, let destination = out.baseAddress else { return }
        let blocks = out.count / perBlock
        precondition(blocks * blockBytes <= bytes.count, "dequantize: \(bytes.count) bytes hold fewer than \(blocks) \(type) blocks")
        for b in 0..<blocks {
            let block = Block(source + b * blockBytes)
            let y = destination + b * perBlock
            switch type {
            case .Q4_0: q4_0(block, y)
            case .Q4_1: q4_1(block, y)
            case .Q5_0: q5_0(block, y)
            case .Q5_1: q5_1(block, y)
            case .Q8_0: q8_0(block, y)
            case .Q2_K: q2_K(block, y)
            case .Q3_K: q3_K(block, y)
            case .Q4_K: q4_K(block, y)
            case .Q5_K: q5_K(block, y)
            case .Q6_K: q6_K(block, y)
            default: preconditionFailure("\(type) is not a block type")
            }
        }
    }

    /// The bytes of one block.
    struct Block {
        let base: UnsafeRawPointer
        init(_ base: UnsafeRawPointer) { self.base = base }
        @inline(__always) subscript(_ i: Int) -> UInt8 { base.load(fromByteOffset: i, as: UInt8.self) }
        @inline(__always) func half(_ i: Int) -> Float { halfToFloat(base.loadUnaligned(fromByteOffset: i, as: UInt16.self)) }
        @inline(__always) func uint32(_ i: Int) -> UInt32 { UInt32(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt32.self)) }
        @inline(__always) func int8(_ i: Int) -> Int8 { Int8(bitPattern: self[i]) }
    }

    /// d (f16), 16 bytes of nibbles: low nibbles are elements 0-15, high nibbles 16-31; q - 8.
    static func q4_0(_ b: Block, _ y: UnsafeMutablePointer<Float>) {
        let d = b.half(0)
        for j in 0..<16 {
            y[j] = d * Float(Int(b[2 + j] & 0x0F) - 8)
            y[j + 16] = d * Float(Int(b[2 + j] >> 4) - 8)
        }
    }

    /// d, m (f16), nibbles as Q4_0; d·q + m.
    static func q4_1(_ b: Block, _ y: UnsafeMutablePointer<Float>) {
        let d = b.half(0), m = b.half(2)
        for j in 0..<16 {
            y[j] = d * Float(b[4 + j] & 0x0F) + m
            y[j + 16] = d * Float(b[4 + j] >> 4) + m
        }
    }

    /// Element j's 5-bit value: its nibble plus bit j of the 32-bit `qh` as bit 4.
    @inline(__always)
    static func fiveBit(_ b: Block, qh: UInt32, qs: Int, _ j: Int) -> UInt8 {
        let nibble = j < 16 ? b[qs + j] & 0x0F : b[qs + j - 16] >> 4
        return nibble | UInt8(truncatingIfNeeded: (qh >> UInt32(j)) & 1) << 4
    }

    /// d (f16), qh (u32), 16 bytes of nibbles; q - 16.
    static func q5_0(_ b: Block, _ y: UnsafeMutablePointer<Float>) {
        let d = b.half(0), qh = b.uint32(2)
        for j in 0..<32 { y[j] = d * Float(Int(fiveBit(b, qh: qh, qs: 6, j)) - 16) }
    }

    /// d, m (f16), qh (u32), nibbles; d·q + m.
    static func q5_1(_ b: Block, _ y: UnsafeMutablePointer<Float>) {
        let d = b.half(0), m = b.half(2), qh = b.uint32(4)
        for j in 0..<32 { y[j] = d * Float(fiveBit(b, qh: qh, qs: 8, j)) + m }
    }

    /// d (f16), 32 int8.
    static func q8_0(_ b: Block, _ y: UnsafeMutablePointer<Float>) {
        let d = b.half(0)
        for j in 0..<32 { y[j] = Float(b.int8(2 + j)) * d }
    }

    /// scales[16] (low nibble scale, high nibble min), qs[64] (2 bits), d, dmin (f16). Element
    /// i = 128·half + 32·shift + l is bits 2·shift of qs[32·half + l]; group i/16.
    static func q2_K(_ b: Block, _ y: UnsafeMutablePointer<Float>) {
        let d = b.half(80), dmin = b.half(82)
        for group in 0..<16 {
            let dl = d * Float(b[group] & 0x0F), ml = dmin * Float(b[group] >> 4)
            for i in (16 * group)..<(16 * group + 16) {
                let half = i / 128, shift = (i % 128) / 32, l = i % 32
                let q = (b[16 + 32 * half + l] >> UInt8(2 * shift)) & 3
                y[i] = dl * Float(q) - ml
            }
        }
    }

    /// hmask[32], qs[64] (2 bits), scales[12] (16 six-bit signed scales), d (f16). The high
    /// bit of element i is bit i/32 of hmask[i % 32]; a clear bit subtracts 4.
    static func q3_K(_ b: Block, _ y: UnsafeMutablePointer<Float>) {
        let d = b.half(108)
        for group in 0..<16 {
            let low = group < 8 ? b[96 + group] & 0x0F : b[96 + group - 8] >> 4
            let high = (b[104 + group % 4] >> UInt8(2 * (group / 4))) & 3
            let dl = d * Float(Int(low | high << 4) - 32)
            for i in (16 * group)..<(16 * group + 16) {
                let half = i / 128, shift = (i % 128) / 32, l = i % 32
                let low2 = Int((b[32 + 32 * half + l] >> UInt8(2 * shift)) & 3)
                let highBit = Int((b[l] >> UInt8(i / 32)) & 1)
                y[i] = dl * Float(low2 - ((highBit ^ 1) << 2))
            }
        }
    }

    /// The 8 six-bit (scale, min) pairs of Q4_K and Q5_K, packed in 12 bytes at `at`.
    @inline(__always)
    static func scaleMin(_ b: Block, at: Int, _ j: Int) -> (scale: UInt8, min: UInt8) {
        if j < 4 { return (b[at + j] & 63, b[at + j + 4] & 63) }
        return ((b[at + j + 4] & 0x0F) | (b[at + j - 4] >> 6) << 4, (b[at + j + 4] >> 4) | (b[at + j] >> 6) << 4)
    }

    /// d, dmin (f16), scales[12], qs[128]: sub-block j of 32 is the low (even j) or high (odd j)
    /// nibbles of qs[32·(j/2) ..< 32·(j/2) + 32].
    static func q4_K(_ b: Block, _ y: UnsafeMutablePointer<Float>) {
        let d = b.half(0), dmin = b.half(2)
        for j in 0..<8 {
            let (scale, min) = scaleMin(b, at: 4, j)
            let dl = d * Float(scale), ml = dmin * Float(min)
            for l in 0..<32 {
                let q = (b[16 + 32 * (j / 2) + l] >> UInt8(4 * (j % 2))) & 0x0F
                y[32 * j + l] = dl * Float(q) - ml
            }
        }
    }

    /// d, dmin (f16), scales[12], qh[32], qs[128]: Q4_K's nibbles plus bit j of qh[l] as bit 4.
    static func q5_K(_ b: Block, _ y: UnsafeMutablePointer<Float>) {
        let d = b.half(0), dmin = b.half(2)
        for j in 0..<8 {
            let (scale, min) = scaleMin(b, at: 4, j)
            let dl = d * Float(scale), ml = dmin * Float(min)
            for l in 0..<32 {
                let low = (b[48 + 32 * (j / 2) + l] >> UInt8(4 * (j % 2))) & 0x0F
                let high = (b[16 + l] >> UInt8(j)) & 1
                y[32 * j + l] = dl * Float(low | high << 4) - ml
            }
        }
    }

    /// ql[128] (nibbles), qh[64] (2 bits), scales[16] (int8), d (f16). Element
    /// i = 128·half + r: nibble r/64 of ql[64·half + r % 64], bits 2·(r/32) of qh[32·half + r % 32].
    static func q6_K(_ b: Block, _ y: UnsafeMutablePointer<Float>) {
        let d = b.half(208)
        for group in 0..<16 {
            let dl = d * Float(b.int8(192 + group))
            for i in (16 * group)..<(16 * group + 16) {
                let half = i / 128, r = i % 128
                let low = (b[64 * half + r % 64] >> UInt8(4 * (r / 64))) & 0x0F
                let high = (b[128 + 32 * half + r % 32] >> UInt8(2 * (r / 32))) & 3
                y[i] = dl * Float(Int(low | high << 4) - 32)
            }
        }
    }
}
