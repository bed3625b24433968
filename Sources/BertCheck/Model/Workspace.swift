#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Activation buffers for one packed batch shape (`tokens` computed rows, rows up to `seq` long), reused across layers and calls (no allocation per layer).
final class Workspace {
    let tokens: Int
    let seq: Int
    private let storage: UnsafeMutablePointer<Float>
    let hidden: FloatPointer
    let query: FloatPointer
    let key: FloatPointer
    let value: FloatPointer
    let context: FloatPointer
    let projected: FloatPointer
    let attended: FloatPointer
    /// The intermediate dense's output, packed when `chainsPacked` (room for either layout).
    let intermediate: FloatPointer
    /// Per attention worker: a seq × seq scores buffer and a packing buffer (`attentionHead`).
    private let attentionStorage: FloatPointer
    let attentionBuffers: Int
    private let attentionStride: Int
    private let scoresCount: Int
    /// `seq` zeros (the keys of a row are its real tokens: nothing to mask), then `seq` times
    /// finfo(float32).min (a row without real tokens, whose keys transformers all masks).
    let keyMasks: FloatPointer
    var unmaskedKeys: ConstFloatPointer { ConstFloatPointer(keyMasks) }
    var maskedKeys: ConstFloatPointer { ConstFloatPointer(keyMasks + seq) }
    /// The packed input of the product being computed (`linearForward`); the output dense's
    /// comes packed in `intermediate`, so hidden-size inputs are the widest packed here.
    let packedInput: FloatPointer
    /// Whether the products chain packed inputs (the CKernels kernel runs): every LayerNorm also
    /// leaves its output packed in `packedInput`, and the intermediate dense writes its output
    /// packed, so of a layer's inputs only attention's context is packed in a pass of its own.
    let chainsPacked = cpuHasAVX2FMA

    /// nil when the sizes overflow or the whole would exceed `maximumFloats`.
    init?(tokens: Int, seq: Int, hiddenSize: Int, headSize: Int, intermediateSize: Int, attentionBuffers: Int,
          maximumFloats: Int) {
        func mul(_ a: Int, _ b: Int) -> Int? {
            let (r, o) = a.multipliedReportingOverflow(by: b)
            return o ? nil : r
        }
        // Every buffer, in order, and the total with each rounded up to 16 floats (64 bytes).
        guard let th = mul(tokens, hiddenSize), let ti = packedInputCount(rows: tokens, inFeatures: intermediateSize),
              let stride = Workspace.attentionStride(seq: seq, headSize: headSize), let attention = mul(stride, attentionBuffers),
              let packed = packedInputCount(rows: tokens, inFeatures: hiddenSize), let masks = mul(2, seq) else { return nil }
        let sizes = [th, th, th, th, th, th, th, ti, attention, masks, packed]
        var total = 0
        for size in sizes {
            let (room, o1) = (size / 16 + 1).multipliedReportingOverflow(by: 16) // past the end, to 64 bytes
            let (sum, o2) = total.addingReportingOverflow(room)
            guard !o1, !o2, sum <= maximumFloats else { return nil }
            total = sum
        }
        self.tokens = tokens
        self.seq = seq
        self.attentionBuffers = attentionBuffers
        attentionStride = stride
        scoresCount = seq * seq
        storage = Workspace.allocateHugePageBacked(floats: total)
        var next = storage, index = 0
        func take() -> FloatPointer {
            defer { next += (sizes[index] / 16 + 1) * 16; index += 1 } // as summed above, without overflow
            return next
        }
        hidden = take(); query = take(); key = take(); value = take()
        context = take(); projected = take(); attended = take()
        intermediate = take()
        attentionStorage = take()
        keyMasks = take()
        packedInput = take()
        keyMasks.initialize(repeating: 0, count: seq)
        (keyMasks + seq).initialize(repeating: -Float.greatestFiniteMagnitude, count: seq)
    }

    func scores(_ worker: Int) -> FloatPointer { attentionStorage + worker * attentionStride }
    func attentionPacked(_ worker: Int) -> FloatPointer { attentionStorage + worker * attentionStride + scoresCount }

    /// Floats of one attention worker's buffers: scores, then the packing (nil on overflow).
    static func attentionStride(seq: Int, headSize: Int) -> Int? {
        let (scores, o1) = seq.multipliedReportingOverflow(by: seq)
        guard !o1, let packed = packedInputCount(rows: seq, inFeatures: max(headSize, seq)) else { return nil }
        let (sum, o2) = scores.addingReportingOverflow(packed)
        return o2 ? nil : (sum + 15) / 16 * 16
    }

    /// `floats` Floats aligned to 2 MiB and advised as transparent huge pages: the kernel walks
    /// the activations row by row (a new 4 KiB page every row of a wide matrix), so with small
    /// pages nearly every output tile misses the TLB.
    static func allocateHugePageBacked(floats: Int) -> UnsafeMutablePointer<Float> {
        let hugePage = 2 << 20
        let bytes = max(floats * MemoryLayout<Float>.stride, 1)
        let rounded = (bytes + hugePage - 1) / hugePage * hugePage
        var raw: UnsafeMutableRawPointer?
        if posix_memalign(&raw, hugePage, rounded) == 0, let raw {
            #if os(Linux)
            _ = madvise(raw, rounded, MADV_HUGEPAGE)
            #endif
            return raw.bindMemory(to: Float.self, capacity: floats)
        }
        // Out of memory: Swift's own allocation would trap the same way.
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else { fatalError("out of memory for \(bytes) bytes") }
        return raw.bindMemory(to: Float.self, capacity: floats)
    }

    deinit { free(storage) }
}

// MARK: - BertModel

