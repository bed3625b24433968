import CKernels
import Foundation
import Testing
@testable import BertCheck

@Suite struct LayerNormTests {
    /// The LayerNorm that ends a layer also leaves its output packed for the next layer's query,
    /// key and value: exactly what packing the output afterwards gives.
    @Test(arguments: [(13, 40), (290, 300), (1, 8)])
    func theLayerNormsPackedCopyIsItsOutputPacked(shape: (Int, Int)) throws {
        let (rows, columns) = shape
        let products = MatrixProductTests()
        let x = products.copy(products.values(rows * columns, seed: 61))
        let residual = products.copy(products.values(rows * columns, seed: 62))
        let weight = products.copy(products.values(columns, seed: 63)), shift = products.copy(products.values(columns, seed: 64))
        let out = FloatPointer.allocate(capacity: rows * columns)
        let count = packedInputCount(rows: rows, inFeatures: columns)!
        let packed = FloatPointer.allocate(capacity: count)
        packed.initialize(repeating: .nan, count: count)
        defer { [x, residual, weight, shift, out, packed].forEach { $0.deallocate() } }
        residualLayerNorm(out, x, residual: residual, weight: weight, shift: shift, eps: 1e-12, rows: rows,
                          columns: columns, workers: 2, packed: packed)
        let expected = products.packedCopy(Array(UnsafeBufferPointer(start: out, count: rows * columns)), rows: rows, n: columns)
        let mismatches = (0..<count).filter { packed[$0].bitPattern != expected[$0].bitPattern }.count
        #expect(mismatches == 0, "rows \(rows), columns \(columns)")
        #expect(!(0..<rows * columns).contains { out[$0].isNaN })
    }


    /// `LayerNorm(x + residual)` of one row in Double.
    func reference(_ x: [Float], _ residual: [Float]?, weight: [Float], shift: [Float], eps: Double) -> [Double] {
        let sum = x.indices.map { Double(x[$0] + (residual?[$0] ?? 0)) }
        let mean = sum.reduce(0, +) / Double(sum.count)
        let variance = sum.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(sum.count)
        return sum.indices.map { (sum[$0] - mean) / (variance + eps).squareRoot() * Double(weight[$0]) + Double(shift[$0]) }
    }

    /// The AVX2 LayerNorm and its portable reference (what a CPU without AVX2 runs) both match a
    /// Double LayerNorm, with and without a residual, for widths with a partial last vector; each
    /// leaves the sum in x, and its packed copy is its output packed.
    @Test(arguments: [(7, 768, true), (13, 37, false), (1, 5, true), (6, 64, false)])
    func bothFormsMatchADoubleReference(shape: (Int, Int, Bool)) {
        let (rows, columns, withResidual) = shape
        let products = MatrixProductTests()
        let x = products.values(rows * columns, seed: 71), residual = products.values(rows * columns, seed: 72)
        let weight = products.values(columns, seed: 73).map { $0 * 0.1 + 1 }, shift = products.values(columns, seed: 74)
        let panels = (rows + 5) / 6
        for reference in [false, true] {
            var sum = x, out = [Float](repeating: .nan, count: rows * columns)
            var packed = [Float](repeating: .nan, count: bc_packed_input_count(rows, columns))
            sum.withUnsafeMutableBufferPointer { s in
                out.withUnsafeMutableBufferPointer { o in
                    packed.withUnsafeMutableBufferPointer { p in
                        let r: [Float]? = withResidual ? residual : nil
                        r.withOptionalPointer { res in
                            (reference ? bc_residual_layer_norm_reference : bc_residual_layer_norm)(
                                rows, columns, o.baseAddress!, s.baseAddress!, res, weight, shift, 1e-12, p.baseAddress!, 0, panels)
                        }
                    }
                }
            }
            var worst = 0.0
            for r in 0..<rows {
                let slice = r * columns..<(r + 1) * columns
                let want = self.reference(Array(x[slice]), withResidual ? Array(residual[slice]) : nil, weight: weight,
                                          shift: shift, eps: 1e-12)
                for c in 0..<columns { worst = max(worst, abs(Double(out[r * columns + c]) - want[c])) }
                let wantSum = slice.map { x[$0] + (withResidual ? residual[$0] : 0) }
                #expect(Array(sum[slice]) == wantSum, "row \(r): x should hold the sum")
            }
            #expect(worst < 2e-5, "rows \(rows), columns \(columns), reference \(reference): \(worst)")
            let repacked = products.packedCopy(out, rows: rows, n: columns)
            #expect(zip(packed, repacked).allSatisfy { $0.bitPattern == $1.bitPattern }, "reference \(reference)")
        }
    }
}

extension Optional where Wrapped == [Float] {
    /// `body` with a pointer to the array's elements, or nil.
    func withOptionalPointer<R>(_ body: (UnsafePointer<Float>?) -> R) -> R {
        switch self {
        case .some(let array): return array.withUnsafeBufferPointer { body($0.baseAddress) }
        case .none: return body(nil)
        }
    }
}

@Suite struct SoftmaxTests {
    /// Softmax of `scale · s + mask` per row in Double, the logits rounded to Float as transformers
    /// computes them.
    func reference(_ scores: [Float], columns: Int, scale: Float, mask: [Float]) -> [Double] {
        var out: [Double] = []
        for start in stride(from: 0, to: scores.count, by: columns) {
            let logits = (0..<columns).map { Double(scores[start + $0] * scale + mask[$0]) }
            let top = logits.max()!
            let weights = logits.map { Foundation.exp($0 - top) }
            let total = weights.reduce(0, +)
            out += weights.map { $0 / total }
        }
        return out
    }

    /// The AVX2 softmax and its portable reference both match a Double softmax, with padded keys
    /// masked (all of them in the last case, where the softmax is uniform as in torch); the
    /// packed form is the softmax packed, bit for bit.
    @Test(arguments: [(5, 13, 3), (7, 64, 0), (12, 300, 41), (3, 9, 9)])
    func bothFormsMatchADoubleReferenceAndThePackedFormPacksThem(shape: (Int, Int, Int)) {
        let (rows, columns, padded) = shape
        let products = MatrixProductTests()
        let scores = products.values(rows * columns, seed: 81).map { $0 * 8 }
        let mask = (0..<columns).map { $0 < columns - padded ? Float(0) : -Float.greatestFiniteMagnitude }
        let scale: Float = 0.125
        let expected = reference(scores, columns: columns, scale: scale, mask: mask)
        var results: [[Float]] = []
        for function in [bc_masked_softmax_rows, bc_masked_softmax_rows_reference] {
            var p = scores
            p.withUnsafeMutableBufferPointer { function(rows, columns, $0.baseAddress!, scale, mask) }
            let worst = zip(p, expected).map { abs(Double($0) - $1) }.max()!
            #expect(worst < 1e-6, "rows \(rows), columns \(columns), padded \(padded): \(worst)")
            results.append(p)
        }
        var scratch = scores
        var packed = [Float](repeating: .nan, count: bc_packed_input_count(rows, columns))
        scratch.withUnsafeMutableBufferPointer { s in
            packed.withUnsafeMutableBufferPointer { bc_softmax_pack(rows, columns, s.baseAddress!, scale, mask, $0.baseAddress!) }
        }
        let repacked = products.packedCopy(results[0], rows: rows, n: columns)
        #expect(zip(packed, repacked).allSatisfy { $0.bitPattern == $1.bitPattern })
    }

    @Test func aNaNScoreMakesItsRowNaNInBothForms() {
        let rows = 3, columns = 11
        var scores = MatrixProductTests().values(rows * columns, seed: 82)
        scores[columns + 4] = .nan
        let mask = [Float](repeating: 0, count: columns)
        for function in [bc_masked_softmax_rows, bc_masked_softmax_rows_reference] {
            var p = scores
            p.withUnsafeMutableBufferPointer { function(rows, columns, $0.baseAddress!, 1, mask) }
            for r in 0..<rows {
                let nans = (0..<columns).filter { p[r * columns + $0].isNaN }.count
                #expect(nans == (r == 1 ? columns : 0), "row \(r): \(nans) NaN")
            }
        }
    }
}
