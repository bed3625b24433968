import CKernels
import Foundation
import Testing
@testable import BertCheck

@Suite struct AttentionHeadTests {
    func values(_ count: Int, seed: UInt64) -> [Float] { MatrixProductTests().values(count, seed: seed) }

    /// One head in Double from Float inputs; the logits `scale · q·k + mask` are rounded to Float
    /// as transformers computes them (so a finfo.min mask swallows the score, as in torch).
    func reference(q: [Float], k: [Float], v: [Float], ld: Int, column: Int, seq: Int, headSize: Int, scale: Float,
                   mask: [Float]) -> [Double] {
        var out = [Double](repeating: 0, count: seq * headSize)
        for i in 0..<seq {
            var logits = [Double](repeating: 0, count: seq)
            for j in 0..<seq {
                var dot = 0.0
                for d in 0..<headSize { dot += Double(q[i * ld + column + d]) * Double(k[j * ld + column + d]) }
                logits[j] = Double(Float(dot) * scale + mask[j])
            }
            let top = logits.max()!
            let weights = logits.map { Foundation.exp($0 - top) }
            let total = weights.reduce(0, +)
            for d in 0..<headSize {
                var sum = 0.0
                for j in 0..<seq { sum += weights[j] / total * Double(v[j * ld + column + d]) }
                out[i * headSize + d] = sum
            }
        }
        return out
    }

    // Sequences with partial tiles, longer than one 144-row block and than one 256-wide k block
    // (P·V), head sizes with partial 16-column panels; `padded` keys masked at the end, all of
    // them in the last case (every key masked: transformers' softmax is then uniform).
    @Test(arguments: [(1, 4, 0), (7, 20, 2), (37, 64, 5), (150, 64, 0), (300, 32, 41), (9, 16, 9)])
    func oneHeadMatchesADoubleReference(shape: (Int, Int, Int)) throws {
        let (seq, headSize, padded) = shape
        // Three heads side by side (ld = 3·headSize); the middle one is computed.
        let ld = 3 * headSize, column = headSize
        let q = values(seq * ld, seed: 31), k = values(seq * ld, seed: 32), v = values(seq * ld, seed: 33)
        let mask = (0..<seq).map { $0 < seq - padded ? Float(0) : -Float.greatestFiniteMagnitude }
        let scale = 1 / Float(headSize).squareRoot()
        let expected = reference(q: q, k: k, v: v, ld: ld, column: column, seq: seq, headSize: headSize, scale: scale, mask: mask)
        let packedCount = packedInputCount(rows: seq, inFeatures: max(headSize, seq))!
        let products = MatrixProductTests()
        let query = products.copy(q), key = products.copy(k), value = products.copy(v), keyMask = products.copy(mask)
        let scores = FloatPointer.allocate(capacity: seq * seq), packed = FloatPointer.allocate(capacity: packedCount)
        defer { [query, key, value, keyMask, scores, packed].forEach { $0.deallocate() } }
        let unmasked = products.copy([Float](repeating: 0, count: seq))
        defer { unmasked.deallocate() }
        // Every query against all keys with the mask, and (packed rows: the masked keys are left
        // out) against the real keys only, unmasked: the same context.
        let variants = [(keys: seq, mask: ConstFloatPointer(keyMask))] + (padded < seq ? [(seq - padded, ConstFloatPointer(unmasked))] : [])
        for useKernel in [true, false] where !useKernel || cpuHasAVX2FMA {
            for (keys, mask) in variants {
                let context = products.copy([Float](repeating: 42, count: seq * ld))
                defer { context.deallocate() }
                scores.initialize(repeating: .nan, count: seq * seq)
                packed.initialize(repeating: .nan, count: packedCount)
                attentionHead(context: context + column, query: query + column, key: key + column, value: value + column,
                              ld: ld, queries: seq, keys: keys, headSize: headSize, scale: scale, keyMask: mask, scores: scores,
                              packed: packed, useKernel: useKernel)
                var worst = 0.0
                for i in 0..<seq {
                    for d in 0..<ld {
                        let got = context[i * ld + d]
                        if (column..<column + headSize).contains(d) {
                            worst = max(worst, abs(Double(got) - expected[i * headSize + d - column]))
                        } else {
                            #expect(got == 42, "seq \(seq), kernel \(useKernel): column \(d) outside the head was written")
                        }
                    }
                }
                #expect(worst <= 2e-6, "seq \(seq), keys \(keys), head \(headSize), padded \(padded), kernel \(useKernel): \(worst)")
            }
        }
    }
}

extension AttentionHeadTests {
    @Test func aNaNInOneQueryRowMakesThatContextRowNaNAsInTorch() throws {
        let seq = 9, headSize = 16, ld = headSize
        var q = values(seq * ld, seed: 41)
        q[4 * ld + 3] = .nan
        let products = MatrixProductTests()
        let query = products.copy(q), key = products.copy(values(seq * ld, seed: 42))
        let value = products.copy(values(seq * ld, seed: 43)), keyMask = products.copy([Float](repeating: 0, count: seq))
        let scores = FloatPointer.allocate(capacity: seq * seq)
        let packed = FloatPointer.allocate(capacity: packedInputCount(rows: seq, inFeatures: max(headSize, seq))!)
        let context = FloatPointer.allocate(capacity: seq * ld)
        defer { [query, key, value, keyMask, scores, packed, context].forEach { $0.deallocate() } }
        for useKernel in [true, false] where !useKernel || cpuHasAVX2FMA {
            attentionHead(context: context, query: query, key: key, value: value, ld: ld, queries: seq, keys: seq, headSize: headSize,
                          scale: 0.25, keyMask: keyMask, scores: scores, packed: packed, useKernel: useKernel)
            for row in 0..<seq {
                let nans = (0..<headSize).filter { context[row * ld + $0].isNaN }.count
                #expect(nans == (row == 4 ? headSize : 0), "row \(row), kernel \(useKernel): \(nans) NaN")
            }
        }
    }
}
