import Foundation
import Testing
@testable import BertCheck
import CKernels

@Suite struct KernelTests {
    @Test func vectorisedExpErfTanhMatchTheLibm() {
        var worstExp: Float = 0, worstErf: Float = 0, worstTanh: Float = 0
        var x: Float = -12
        while x < 12 {
            let v = Float8((0..<8).map { x + Float($0) * 0.001 })
            let e = exp8(v), r = erf8(v), t = tanh8(v)
            for i in 0..<8 {
                let xi = v[i]
                worstExp = max(worstExp, abs(e[i] - Foundation.exp(xi)) / Foundation.exp(xi))
                worstErf = max(worstErf, abs(r[i] - Foundation.erf(xi)))
                worstTanh = max(worstTanh, abs(t[i] - Foundation.tanh(xi)))
            }
            x += 0.371
        }
        #expect(worstExp < 3e-7)
        #expect(worstErf < 5e-7)
        #expect(worstTanh < 3e-7)
        // erf densely over the range where it is not yet ±1 in Float, and at the ends.
        var worstDenseErf: Float = 0
        for start in stride(from: Float(-4.2), to: 4.2, by: 0.004) {
            let v = Float8((0..<8).map { start + Float($0) * 0.0005 })
            let r = erf8(v)
            for i in 0..<8 { worstDenseErf = max(worstDenseErf, abs(r[i] - Foundation.erf(v[i]))) }
        }
        #expect(worstDenseErf < 4e-7, "\(worstDenseErf)")
        #expect(erf8(Float8(repeating: 30)) == Float8(repeating: 1))
        #expect(erf8(Float8(repeating: -.infinity)) == Float8(repeating: -1))
        #expect(erf8(Float8(repeating: .nan))[0].isNaN)
        #expect(exp8(Float8(repeating: -Float.greatestFiniteMagnitude)) == Float8(repeating: 0))
        #expect(exp8(Float8(repeating: -100)) == Float8(repeating: 0))
    }
}

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
                    let want = activation.map { Double($0.apply(Float(expected[i]))) } ?? expected[i]
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
                let want = activations[i].map { Double($0.apply(Float(expected[j]))) } ?? expected[j]
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

    /// The LayerNorm that ends a layer also leaves its output packed for the next layer's query,
    /// key and value: exactly what packing the output afterwards gives.
    @Test(arguments: [(13, 40), (290, 300), (1, 8)])
    func theLayerNormsPackedCopyIsItsOutputPacked(shape: (Int, Int)) throws {
        let (rows, columns) = shape
        let x = copy(values(rows * columns, seed: 61)), residual = copy(values(rows * columns, seed: 62))
        let weight = copy(values(columns, seed: 63)), shift = copy(values(columns, seed: 64))
        let out = FloatPointer.allocate(capacity: rows * columns)
        let count = packedInputCount(rows: rows, inFeatures: columns)!
        let packed = FloatPointer.allocate(capacity: count)
        packed.initialize(repeating: .nan, count: count)
        defer { [x, residual, weight, shift, out, packed].forEach { $0.deallocate() } }
        residualLayerNorm(out, x, residual: residual, weight: weight, shift: shift, eps: 1e-12, rows: rows,
                          columns: columns, workers: 2, packed: packed)
        let expected = packedCopy(Array(UnsafeBufferPointer(start: out, count: rows * columns)), rows: rows, n: columns)
        let mismatches = (0..<count).filter { packed[$0].bitPattern != expected[$0].bitPattern }.count
        #expect(mismatches == 0, "rows \(rows), columns \(columns)")
        #expect(!(0..<rows * columns).contains { out[$0].isNaN })
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
        for useKernel in [true, false] where !useKernel || cpuHasAVX2FMA {
            let context = products.copy([Float](repeating: 42, count: seq * ld))
            defer { context.deallocate() }
            scores.initialize(repeating: .nan, count: seq * seq)
            packed.initialize(repeating: .nan, count: packedCount)
            attentionHead(context: context + column, query: query + column, key: key + column, value: value + column,
                          ld: ld, seq: seq, headSize: headSize, scale: scale, keyMask: keyMask, scores: scores,
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
            #expect(worst <= 2e-6, "seq \(seq), head \(headSize), padded \(padded), kernel \(useKernel): \(worst)")
        }
    }
}

@Suite struct WorkerPoolTests {
    /// Runs `onPool` and `parallelChunks` `rounds` times and checks every item ran exactly once
    /// (and `onPool`'s worker numbers stayed below min(workers, count)).
    func checkEveryItemRunsOnce(count: Int, workers: Int, rounds: Int) -> Bool {
        // hits[count] counts worker numbers out of range.
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: count + 1)
        defer { hits.deallocate() }
        var ok = true
        for round in 0..<rounds {
            hits.initialize(repeating: 0, count: count + 1)
            if round % 2 == 0 {
                onPool(count, workers: workers) { item, worker in
                    if !(0..<min(workers, count)).contains(worker) { _ = bc_fetch_add(hits + count, 1) }
                    _ = bc_fetch_add(hits + item, 1)
                }
            } else {
                parallelChunks(count, workers: workers) { range in
                    for item in range { _ = bc_fetch_add(hits + item, 1) }
                }
            }
            ok = ok && (0..<count).allSatisfy { hits[$0] == 1 } && hits[count] == 0
        }
        return ok
    }

    @Test func everyItemRunsExactlyOnceStepAfterStep() {
        // Many short steps back to back (the workers spin between them) and a few after a pause
        // long enough for them to sleep.
        #expect(checkEveryItemRunsOnce(count: 37, workers: 2, rounds: 2000))
        #expect(checkEveryItemRunsOnce(count: 1, workers: 8, rounds: 10))
        for _ in 0..<3 {
            usleep(2_000)
            #expect(checkEveryItemRunsOnce(count: 100, workers: 4, rounds: 1))
        }
    }

    @Test func stepsFromSeveralThreadsAndFromInsideAStepAllComplete() async {
        // Callers on other threads take turns; a step started inside a task runs on its thread.
        let results = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<4 {
                group.addTask { checkEveryItemRunsOnce(count: 64, workers: 2, rounds: 200) }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results == [true, true, true, true])
        let inner = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        inner.initialize(to: 0)
        defer { inner.deallocate() }
        onPool(6, workers: 2) { _, _ in
            parallelChunks(10, workers: 2) { range in _ = bc_fetch_add(inner, range.count) }
        }
        #expect(inner.pointee == 60)
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
            attentionHead(context: context, query: query, key: key, value: value, ld: ld, seq: seq, headSize: headSize,
                          scale: 0.25, keyMask: keyMask, scores: scores, packed: packed, useKernel: useKernel)
            for row in 0..<seq {
                let nans = (0..<headSize).filter { context[row * ld + $0].isNaN }.count
                #expect(nans == (row == 4 ? headSize : 0), "row \(row), kernel \(useKernel): \(nans) NaN")
            }
        }
    }
}
