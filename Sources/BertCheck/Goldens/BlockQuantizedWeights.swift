/// How far a block-quantized (GGML) weight may be from the float weight it was made from.
///
/// Elementwise bounds do not fit block quantization: each element's error depends on its block's
/// scale, and K-quants choose scales by search, not by rounding. Two figures per tensor do:
/// - the relative error ‖b − a‖ / ‖a‖, which the type's bits bound (noise);
/// - the gain ⟨a, b⟩ / ⟨a, a⟩ − 1: quantization noise is not correlated with the weights, so a
///   correct conversion keeps it near 0, while a scaled tensor (a converter applying a factor
///   twice, a wrong norm folded in) shows the factor itself, even when it hides in the noise.
///
/// Bounds are twice the largest figure measured over every quantized tensor of all-MiniLM-L6-v2
/// and a bert-base-shaped model in every llama.cpp type (Docs/golden-format.md, 29 November
/// 2026); a 2% scaling of one tensor has gain 0.017–0.020 and fails every type but Q2_K.
public struct BlockQuantizationBound: Sendable, Equatable {
    public var relativeError: Double
    public var gain: Double

    /// The bound for weights stored as `dtype`; nil for types that are not GGML blocks.
    public static func forType(_ dtype: DType) -> BlockQuantizationBound? {
        switch dtype {
        case .Q8_0: return BlockQuantizationBound(relativeError: 0.013, gain: 0.002)
        case .Q6_K: return BlockQuantizationBound(relativeError: 0.04, gain: 0.002)
        case .Q5_0, .Q5_1, .Q5_K: return BlockQuantizationBound(relativeError: 0.1, gain: 0.005)
        case .Q4_0, .Q4_1, .Q4_K: return BlockQuantizationBound(relativeError: 0.2, gain: 0.008)
        case .Q3_K: return BlockQuantizationBound(relativeError: 0.33, gain: 0.011)
        // Measured up to 0.018: a 2% scaling cannot be told from Q2_K's own bias.
        case .Q2_K: return BlockQuantizationBound(relativeError: 0.6, gain: 0.036)
        default: return nil
        }
    }

    /// The bound for a pair of tensors: the coarser side's type, when either is a GGML block.
    static func forPair(_ a: DType, _ b: DType) -> BlockQuantizationBound? {
        [forType(a), forType(b)].compactMap { $0 }.max { $0.relativeError < $1.relativeError }
    }
}

/// Sums for the relative error and the gain of `b` against `a`, in Double.
struct QuantizationErrorAccumulator {
    private var squaredError = 0.0, squaredA = 0.0, product = 0.0

    mutating func add(_ a: Double, _ b: Double) {
        squaredError += (b - a) * (b - a)
        squaredA += a * a
        product += a * b
    }

    /// ‖b − a‖ / ‖a‖ (0 when both are all zero, infinity when only `a` is).
    var relativeError: Double {
        squaredA > 0 ? (squaredError / squaredA).squareRoot() : (squaredError > 0 ? .infinity : 0)
    }

    /// ⟨a, b⟩ / ⟨a, a⟩ − 1 (0 when `a` is all zero).
    var gain: Double { squaredA > 0 ? product / squaredA - 1 : 0 }
}
