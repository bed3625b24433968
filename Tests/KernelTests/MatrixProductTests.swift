import CKernels
import Foundation
import Testing
@testable import BertCheck

@Suite struct MatrixProductTests {
    /// A Double-precision nn.Linear for checking the kernel.
    func reference(_ x: [Float], _ w: [Float], _ bias: [Float], rows: Int, k: Int, n: Int) -> [Double] {
        var out = [Double](repeating: 0, count: rows * n)
        for r in 0..<rows {
            for c in 0..<n {
                var sum = Double(bias[c])
                for i in 0..<k { sum += Double(x[r * k + i]) * Double(w[c * k + i]) }
                out[r * n + c] = sum
            }
        }
        return out
    }

    func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000
        }
    }

    // Shapes with partial 6-row and 16-column tiles, K across several 256-wide blocks, more rows
    // than one 144-row block, and a single row/column.
    @Test(arguments: [(1, 1, 1), (5, 3, 17), (7, 300, 33), (150, 257, 40), (13, 600, 16), (290, 64, 50), (12, 768, 96)])
    func linearForwardMatchesADoubleReference(shape: (Int, Int, Int)) throws {
        let (rows, k, n) = shape
        let x = values(rows * k, seed: 1), w = values(n * k, seed: 2), bias = values(n, seed: 3)
        let expected = reference(x, w, bias, rows: rows, k: k, n: n)
        for (workers, useKernel) in [(1, true), (2, true), (3, true), (2, false)] where useKernel ? cpuHasAVX2FMA : true {
            for activation in [nil, Activation.gelu, .geluNew, .relu] {
                var out = [Float](repeating: .nan, count: rows * n)
                x.withUnsafeBufferPointer { xp in
                    w.withUnsafeBufferPointer { wp in
                        bias.withUnsafeBufferPointer { bp in
                            out.withUnsafeMutableBufferPointer { op in
                                linearForward(op.baseAddress!, xp.baseAddress!, weight: wp.baseAddress!, bias: bp.baseAddress!,
                                              rows: rows, inFeatures: k, outFeatures: n, activation: activation, workers: workers,
                                              useKernel: useKernel)
                            }
                        }
                    }
                }
                var worst = 0.0
                for i in 0..<out.count {
                    let want = activation.map { Double($0.reference(Float(expected[i]))) } ?? expected[i]
                    worst = max(worst, abs(Double(out[i]) - want))
                }
                // Float accumulation over k terms of magnitude ≤ 1.
                #expect(worst <= 2e-7 * Double(k) + 1e-6, "rows \(rows), k \(k), n \(n), workers \(workers), kernel \(useKernel), \(String(describing: activation)): \(worst)")
            }
        }
    }

    /// A copy of `array` in memory the caller deallocates.
    func copy(_ array: [Float]) -> FloatPointer {
        let p = FloatPointer.allocate(capacity: max(array.count, 1))
        p.initialize(from: array, count: array.count)
        return p
    }

    @Test(arguments: [true, false])
    func productsOfOneInputComputedTogetherMatchTheReference(useKernel: Bool) throws {
        guard !useKernel || cpuHasAVX2FMA else { return }
        // Three products of one input, as a layer's query, key and value are computed.
        let rows = 131, k = 300, widths = [40, 16, 77]
        let activations: [Activation?] = [nil, .relu, .gelu]
        let x = values(rows * k, seed: 7)
        let weights = widths.indices.map { values(widths[$0] * k, seed: UInt64(10 + $0)) }
        let biases = widths.indices.map { values(widths[$0], seed: UInt64(20 + $0)) }
        let input = copy(x)
        let weightPointers = weights.map(copy), biasPointers = biases.map(copy)
        let outs = widths.map { FloatPointer.allocate(capacity: rows * $0) }
        defer { ([input] + weightPointers + biasPointers + outs).forEach { $0.deallocate() } }
        let products = widths.indices.map {
            LinearProduct(weight: weightPointers[$0], bias: biasPointers[$0], out: outs[$0], outFeatures: widths[$0],
                          activation: activations[$0])
        }
        linearForward(products, input: input, rows: rows, inFeatures: k, workers: 2, useKernel: useKernel)
        for i in widths.indices {
            let expected = reference(x, weights[i], biases[i], rows: rows, k: k, n: widths[i])
            var worst = 0.0
            for j in expected.indices {
                let want = activations[i].map { Double($0.reference(Float(expected[j]))) } ?? expected[j]
                worst = max(worst, abs(Double(outs[i][j]) - want))
            }
            #expect(worst <= 2e-7 * Double(k) + 1e-6, "product \(i), kernel \(useKernel): \(worst)")
        }
    }

    @Test(arguments: [Activation.gelu, .geluNew, .relu])
    func aNaNInTheInputStaysNaNThroughEveryActivation(activation: Activation) throws {
        let rows = 7, k = 5, n = 16
        var x = values(rows * k, seed: 8)
        x[2 * k + 1] = .nan
        let w = values(n * k, seed: 9), bias = values(n, seed: 10)
        for useKernel in [true, false] where !useKernel || cpuHasAVX2FMA {
            let input = copy(x), weight = copy(w), b = copy(bias), out = FloatPointer.allocate(capacity: rows * n)
            defer { [input, weight, b, out].forEach { $0.deallocate() } }
            linearForward(out, input, weight: weight, bias: b, rows: rows, inFeatures: k, outFeatures: n,
                          activation: activation, workers: 1, useKernel: useKernel)
            for c in 0..<n { #expect(out[2 * n + c].isNaN, "\(activation), kernel \(useKernel), column \(c)") }
            #expect(!out[0].isNaN)
        }
    }

    /// `rows` × `n` of `values` packed by `bc_pack_input`, the padding rows zero.
    func packedCopy(_ rowMajor: [Float], rows: Int, n: Int) -> [Float] {
        var packed = [Float](repeating: .nan, count: bc_packed_input_count(rows, n))
        packed.withUnsafeMutableBufferPointer { bc_pack_input(rows, n, rowMajor, n, $0.baseAddress!, 0, (rows + 5) / 6) }
        return packed
    }

    // Partial row and column tiles, K over several 256-wide blocks (the packed tiles are read
    // back and added to), more rows than a 144-row block, and an output wider than 256 columns
    // (a second k-block of the next product's layout).
    @Test(arguments: [(1, 20, 300), (5, 3, 17), (7, 300, 33), (150, 257, 40), (13, 600, 16), (290, 64, 272)])
    func aPackedOutputIsTheRowMajorOutputPackedBitForBit(shape: (Int, Int, Int)) throws {
        guard cpuHasAVX2FMA else { return }
        let (rows, k, n) = shape
        let x = values(rows * k, seed: 31), w = values(n * k, seed: 32), bias = values(n, seed: 33)
        let input = packedCopy(x, rows: rows, n: k)
        for activation in [nil, Activation.gelu, .relu] {
            let code = activation?.kernelCode ?? Int32(BC_ACTIVATION_NONE)
            var rowMajor = [Float](repeating: .nan, count: rows * n)
            rowMajor.withUnsafeMutableBufferPointer {
                bc_sgemm_packed(rows, k, input, w, k, bias, code, $0.baseAddress!, n, 0, n)
            }
            let expected = packedCopy(rowMajor, rows: rows, n: n)
            // In two column slices (as two workers would write them), and with the slice buffer
            // refused, so the panel-by-panel path writes it too.
            for refused in [false, true] {
                var packed = [Float](repeating: .nan, count: expected.count)
                bc_testing_refuse_slice_buffers(refused ? 1 : 0)
                packed.withUnsafeMutableBufferPointer { p in
                    let split = min(16, n)
                    bc_sgemm_packed_to_packed(rows, k, input, w, k, bias, code, p.baseAddress!, n, 0, split)
                    bc_sgemm_packed_to_packed(rows, k, input, w, k, bias, code, p.baseAddress!, n, split, n)
                }
                bc_testing_refuse_slice_buffers(0)
                let mismatches = zip(packed, expected).filter { $0.bitPattern != $1.bitPattern }.count
                #expect(mismatches == 0, "rows \(rows), k \(k), n \(n), \(String(describing: activation)), refused \(refused)")
            }
        }
    }

    @Test func withoutItsSliceBufferAProductGivesTheSameBits() throws {
        guard cpuHasAVX2FMA else { return }
        let rows = 300, k = 520, n = 70
        let x = values(rows * k, seed: 41), w = values(n * k, seed: 42), bias = values(n, seed: 43)
        let input = packedCopy(x, rows: rows, n: k)
        var results: [[Float]] = []
        for refused in [false, true] {
            var out = [Float](repeating: .nan, count: rows * n)
            bc_testing_refuse_slice_buffers(refused ? 1 : 0)
            out.withUnsafeMutableBufferPointer {
                bc_sgemm_packed(rows, k, input, w, k, bias, Int32(BC_ACTIVATION_GELU), $0.baseAddress!, n, 0, n)
            }
            bc_testing_refuse_slice_buffers(0)
            results.append(out)
        }
        #expect(results[0].map(\.bitPattern) == results[1].map(\.bitPattern))
        #expect(!results[0].contains { $0.isNaN })
    }

    /// The intermediate and output dense of a layer, chained as the forward pass does with the
    /// kernel (the first writes packed, the second reads it without packing), against the
    /// row-major chain: the same bits. Without the kernel a packed output is the packed row-major one.
    @Test(arguments: [(7, 40, 300), (150, 64, 272), (290, 24, 37)])
    func aPackedIntermediateChainsIntoTheNextProduct(shape: (Int, Int, Int)) throws {
        let (rows, hidden, intermediate) = shape
        let x = copy(values(rows * hidden, seed: 51))
        let w1 = copy(values(intermediate * hidden, seed: 52)), b1 = copy(values(intermediate, seed: 53))
        let w2 = copy(values(hidden * intermediate, seed: 54)), b2 = copy(values(hidden, seed: 55))
        let packedCount = packedInputCount(rows: rows, inFeatures: intermediate)!
        let middle = FloatPointer.allocate(capacity: packedCount), packedMiddle = FloatPointer.allocate(capacity: packedCount)
        let out = FloatPointer.allocate(capacity: rows * hidden), chainedOut = FloatPointer.allocate(capacity: rows * hidden)
        defer { [x, w1, b1, w2, b2, middle, packedMiddle, out, chainedOut].forEach { $0.deallocate() } }
        for useKernel in [true, false] where !useKernel || cpuHasAVX2FMA {
            packedMiddle.initialize(repeating: .nan, count: packedCount)
            linearForward(middle, x, weight: w1, bias: b1, rows: rows, inFeatures: hidden, outFeatures: intermediate,
                          activation: .gelu, workers: 2, useKernel: useKernel)
            linearForward(packedMiddle, x, weight: w1, bias: b1, rows: rows, inFeatures: hidden, outFeatures: intermediate,
                          activation: .gelu, workers: 2, outLayout: .packed, useKernel: useKernel)
            let repacked = packedCopy(Array(UnsafeBufferPointer(start: middle, count: rows * intermediate)), rows: rows,
                                      n: intermediate)
            let mismatches = (0..<packedCount).filter { packedMiddle[$0].bitPattern != repacked[$0].bitPattern }.count
            #expect(mismatches == 0, "rows \(rows), kernel \(useKernel): \(mismatches) packed values differ")
            guard useKernel else { continue }
            linearForward(out, middle, weight: w2, bias: b2, rows: rows, inFeatures: intermediate, outFeatures: hidden,
                          workers: 2)
            linearForward(chainedOut, packedMiddle, weight: w2, bias: b2, rows: rows, inFeatures: intermediate,
                          outFeatures: hidden, workers: 2, inputLayout: .packed)
            let differing = (0..<rows * hidden).filter { out[$0].bitPattern != chainedOut[$0].bitPattern }.count
            #expect(differing == 0, "rows \(rows): \(differing) outputs differ")
        }
    }

    @Test func theKernelWritesOnlyItsColumnSlice() throws {
        guard cpuHasAVX2FMA else { return }
        let rows = 9, k = 20, n = 40
        let x = values(rows * k, seed: 4), w = values(n * k, seed: 5), bias = values(n, seed: 6)
        let expected = reference(x, w, bias, rows: rows, k: k, n: n)
        var out = [Float](repeating: 42, count: rows * n)
        var packed = [Float](repeating: 0, count: bc_packed_input_count(rows, k))
        #expect(packed.count == packedInputCount(rows: rows, inFeatures: k))
        packed.withUnsafeMutableBufferPointer { pp in
            // Two calls over disjoint panel ranges, as two workers would pack.
            bc_pack_input(rows, k, x, k, pp.baseAddress!, 0, 1)
            bc_pack_input(rows, k, x, k, pp.baseAddress!, 1, 2)
        }
        out.withUnsafeMutableBufferPointer { op in
            bc_sgemm_packed(rows, k, packed, w, k, bias, Int32(BC_ACTIVATION_NONE), op.baseAddress!, n, 7, 29)
        }
        for r in 0..<rows {
            for c in 0..<n {
                if (7..<29).contains(c) {
                    #expect(abs(Double(out[r * n + c]) - expected[r * n + c]) < 1e-5)
                } else {
                    #expect(out[r * n + c] == 42)
                }
            }
        }
    }
}
