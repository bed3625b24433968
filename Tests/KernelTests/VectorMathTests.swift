import CKernels
import Foundation
import Testing
@testable import BertCheck

/// `function` (a `BC_FUNCTION_*`) applied to a copy of `x` by the kernels' vector math.
func vectorFunction(_ function: Int32, _ x: [Float]) -> [Float] {
    var y = x
    y.withUnsafeMutableBufferPointer { bc_elementwise(function, $0.baseAddress!, $0.count) }
    return y
}

extension Activation {
    /// One value through the C reference activation (libm's erff and tanhf).
    func reference(_ x: Float) -> Float { bc_activation_reference(x, kernelCode) }
}

@Suite struct VectorMathTests {
    @Test func vectorisedExpErfTanhMatchTheLibm() {
        // Eight points 0.001 apart every 0.371 over [-12, 12).
        var points: [Float] = []
        var x: Float = -12
        while x < 12 {
            points += (0..<8).map { x + Float($0) * 0.001 }
            x += 0.371
        }
        let e = vectorFunction(Int32(BC_FUNCTION_EXP), points), r = vectorFunction(Int32(BC_FUNCTION_ERF), points)
        let t = vectorFunction(Int32(BC_FUNCTION_TANH), points)
        var worstExp: Float = 0, worstErf: Float = 0, worstTanh: Float = 0
        for (i, xi) in points.enumerated() {
            worstExp = max(worstExp, abs(e[i] - Foundation.exp(xi)) / Foundation.exp(xi))
            worstErf = max(worstErf, abs(r[i] - Foundation.erf(xi)))
            worstTanh = max(worstTanh, abs(t[i] - Foundation.tanh(xi)))
        }
        #expect(worstExp < 3e-7)
        #expect(worstErf < 5e-7)
        #expect(worstTanh < 3e-7)
        // erf densely over the range where it is not yet ±1 in Float, and at the ends.
        var dense: [Float] = []
        for start in stride(from: Float(-4.2), to: 4.2, by: 0.004) { dense += (0..<8).map { start + Float($0) * 0.0005 } }
        let denseErf = vectorFunction(Int32(BC_FUNCTION_ERF), dense)
        let worstDenseErf = zip(denseErf, dense).map { abs($0 - Foundation.erf($1)) }.max()!
        #expect(worstDenseErf < 4e-7, "\(worstDenseErf)")
        #expect(vectorFunction(Int32(BC_FUNCTION_ERF), [Float](repeating: 30, count: 8)) == [Float](repeating: 1, count: 8))
        #expect(vectorFunction(Int32(BC_FUNCTION_ERF), [Float](repeating: -.infinity, count: 8)) == [Float](repeating: -1, count: 8))
        #expect(vectorFunction(Int32(BC_FUNCTION_ERF), [Float](repeating: .nan, count: 8))[0].isNaN)
        #expect(vectorFunction(Int32(BC_FUNCTION_EXP), [Float](repeating: -Float.greatestFiniteMagnitude, count: 8))
                == [Float](repeating: 0, count: 8))
        #expect(vectorFunction(Int32(BC_FUNCTION_EXP), [Float](repeating: -100, count: 8)) == [Float](repeating: 0, count: 8))
    }

    /// Every length's tail (the last 1…7 floats go through a padded vector) gets the same values as
    /// the full vectors, and nothing past `count` is written.
    @Test func partialVectorsMatchFullOnesAndStayInBounds() {
        let values = (0..<24).map { Float($0) * 0.37 - 4 }
        for function in [BC_FUNCTION_EXP, BC_FUNCTION_ERF, BC_FUNCTION_TANH].map(Int32.init) {
            let whole = vectorFunction(function, values)
            for count in 0...values.count {
                var buffer = values + [42]
                buffer.withUnsafeMutableBufferPointer { bc_elementwise(function, $0.baseAddress!, count) }
                #expect(Array(buffer[..<count]) == Array(whole[..<count]), "function \(function), count \(count)")
                #expect(Array(buffer[count...]) == Array(values[count...]) + [42], "function \(function), count \(count)")
            }
        }
    }

    /// The activations through the vector math (`bc_activate`) against the libm reference.
    @Test(arguments: Activation.allCases)
    func activationsMatchTheReference(activation: Activation) {
        let x = (0..<1003).map { Float($0) * 0.0173 - 8.7 } + [.nan, .infinity, -.infinity, 0, -0.0]
        var fast = x, reference = x
        fast.withUnsafeMutableBufferPointer { bc_activate($0.baseAddress!, $0.count, activation.kernelCode) }
        reference.withUnsafeMutableBufferPointer { bc_activate_reference($0.baseAddress!, $0.count, activation.kernelCode) }
        for i in x.indices {
            if reference[i].isNaN {
                #expect(fast[i].isNaN, "\(activation) at \(x[i])")
            } else {
                #expect(fast[i] == reference[i] || abs(fast[i] - reference[i]) <= 1e-6 * max(1, abs(reference[i])), "\(activation) at \(x[i]): \(fast[i]) vs \(reference[i])")
            }
        }
    }
}
