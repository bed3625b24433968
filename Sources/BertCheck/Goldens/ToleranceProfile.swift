import Foundation

/// Default tolerances by the candidate's weights (Docs/golden-format.md, "Tolerances").
///
/// The float profiles are elementwise. The quantized ones are cosine first: a floor on the cosine
/// of every token's vector and of every row's mean-pooled vector (what an embedding model hands
/// out), with a loose elementwise bound that only catches gross magnitude errors. Their floors
/// were chosen from measurement (Scripts/measure_quant_profiles.py).
public enum ToleranceProfile: String, CaseIterable, Sendable {
    case fp32, fp16, bf16
    /// Weights stored as int8 (ONNX Runtime's `quantize_dynamic`). `diff` compares the
    /// dequantized weights within half a quantization step (see `diffCheckpoints`).
    case int8
    /// GGUF block quantizations: Q8_0; Q6_K; Q5_0, Q5_1, Q5_K; Q4_0, Q4_1, Q4_K (and llama.cpp's
    /// Q4_K_M mix). Q3_K and Q2_K are checked with q4 (`forWeights` notes it).
    case q8, q6, q5, q4

    /// Whether the profile is cosine first (quantized weights) rather than elementwise.
    public var isQuantized: Bool {
        switch self {
        case .fp32, .fp16, .bf16: return false
        case .int8, .q8, .q6, .q5, .q4: return true
        }
    }

    /// The elementwise tolerance of the outputs `verify` compares. For the quantized profiles a
    /// loose bound, two to four times the largest error a correct conversion showed on MiniLM and
    /// bert-base; the cosine floors do the gating.
    public var tolerance: Tolerance {
        switch self {
        case .fp32: return Tolerance(atol: 1e-4, rtol: 1e-4)
        case .fp16: return Tolerance(atol: 1e-2, rtol: 1e-2)
        case .bf16: return Tolerance(atol: 1e-1, rtol: 5e-2)
        case .q8: return Tolerance(atol: 0.2, rtol: 0.1)
        case .q6: return Tolerance(atol: 0.3, rtol: 0.1)
        case .q5: return Tolerance(atol: 2, rtol: 0.1)
        case .int8: return Tolerance(atol: 2.5, rtol: 0.1)
        case .q4: return Tolerance(atol: 3, rtol: 0.1)
        }
    }

    /// The elementwise tolerance `diff` compares weights with. A dequantized int8 weight gets half
    /// its quantization step on top (see `diffCheckpoints`); a GGUF block type its own bound
    /// (`BlockQuantizationBound`).
    public var weightTolerance: Tolerance {
        isQuantized ? ToleranceProfile.fp32.tolerance : tolerance
    }

    /// The least cosine of each token's vector (and of each [batch, hidden] output's rows) when no
    /// `--min-cosine` is given; nil: not checked (the float profiles are elementwise).
    public var minTokenCosine: Double? {
        switch self {
        case .fp32, .fp16, .bf16: return nil
        case .int8: return 0.94
        case .q8: return 0.999
        case .q6: return 0.997
        case .q5: return 0.955
        case .q4: return 0.85
        }
    }

    /// The least cosine of each row of a sentence embedding (and, for the quantized profiles, of
    /// each row's mean-pooled last_hidden_state) against the golden's when no `--min-cosine` is
    /// given.
    public var minRowCosine: Double {
        switch self {
        case .fp32: return 0.99999
        case .fp16: return 0.999
        case .bf16: return 0.99
        // ONNX Runtime's per-channel int8 keeps MiniLM's mean-pooled rows at ≥ 0.98, per-tensor
        // int8 (its default) falls to 0.89 (Docs/golden-format.md).
        case .int8: return 0.97
        case .q8: return 0.999
        case .q6: return 0.998
        case .q5: return 0.97
        case .q4: return 0.89
        }
    }

    /// How coarse the profile is: a diff of two checkpoints takes the coarser one's.
    var looseness: Int {
        switch self {
        case .fp32: return 0
        case .fp16: return 1
        case .bf16: return 2
        case .q8: return 3
        case .int8: return 4
        case .q6: return 5
        case .q5: return 6
        case .q4: return 7
        }
    }

    /// The profile for weights of `dtype`: the float dtypes theirs, a GGUF block type its
    /// quantization's (Q3_K and Q2_K: q4, the coarsest), I8/U8 int8; fp32 for F32, F64 and
    /// anything unknown.
    public static func forWeights(_ dtype: DType?) -> ToleranceProfile {
        switch dtype {
        case .F16?: return .fp16
        case .BF16?: return .bf16
        case .I8?, .U8?: return .int8
        case .Q8_0?: return .q8
        case .Q6_K?: return .q6
        case .Q5_0?, .Q5_1?, .Q5_K?: return .q5
        case .Q4_0?, .Q4_1?, .Q4_K?, .Q3_K?, .Q2_K?: return .q4
        default: return .fp32
        }
    }

    /// The profile a checkpoint's weights call for: with quantized tensors, the coarsest
    /// quantization among them (a Q4_K_M file mixes Q4_K with Q6_K and Q5_0: q4); a reader's
    /// dequantized int8 tensors (ONNX) give int8; else the dtype holding most elements. The note
    /// says where the profile came from, and warns for types coarser than every profile.
    public static func forWeights(_ tensors: [Tensor], dequantized: [String: DequantizedWeight]) -> (profile: ToleranceProfile, note: String?) {
        let blockTypes = Set(tensors.map(\.dtype).filter(\.isQuantized))
        let storedTypes = blockTypes.union(dequantized.values.map(\.storedDType))
        guard !storedTypes.isEmpty else { return (forWeights(dominantDType(tensors)), nil) }
        let profile = storedTypes.map(forWeights).max { $0.looseness < $1.looseness } ?? .int8
        let names = storedTypes.map(\.rawValue).sorted().joined(separator: ", ")
        var note = "profile \(profile.rawValue) inferred from the quantized weights (\(names))"
        let coarser = storedTypes.filter { $0 == .Q3_K || $0 == .Q2_K }.map(\.rawValue).sorted()
        if !coarser.isEmpty {
            note += "; \(coarser.joined(separator: ", ")) is coarser than every profile and is checked with q4's floors "
                + "(Docs/golden-format.md: Q3_K_M conversions passed them, a bert-base-shaped Q2_K fell below them); --min-cosine sets a floor of your own"
        }
        return (profile, note)
    }

    /// The profile another runtime's outputs file calls for: the float dtype holding most of its
    /// output elements (F16 arrays: fp16, BF16: bf16), else fp32. A quantized runtime writes F32:
    /// pass `--profile int8` (or q8 …) for it.
    public static func forOutputs(storedDTypes: [(dtype: DType, elements: Int)]) -> ToleranceProfile {
        var elements: [DType: Int] = [:]
        for (dtype, count) in storedDTypes { elements[dtype, default: 0] += count }
        let dominant = elements.max { a, b in a.value < b.value || (a.value == b.value && a.key.rawValue > b.key.rawValue) }?.key
        switch dominant {
        case .F16?: return .fp16
        case .BF16?: return .bf16
        default: return .fp32
        }
    }
}

/// What the user asked for on the command line; resolved per tensor by `tolerance(for:)`.
///
/// Precedence, lowest first: the profile inferred from the candidate's weights (or outputs file);
/// the golden's metadata `atol` / `rtol` (not for an inferred quantized profile: the golden's
/// numbers are meant for float candidates); an explicit `--profile`; explicit `--atol` /
/// `--rtol`; `--tolerance NAME=…` for that one tensor.
public struct ToleranceSettings: Sendable {
    public var profile: ToleranceProfile?
    public var atol: Double?
    public var rtol: Double?
    public var minCosine: Double?
    public var perTensor: [String: Tolerance]

    public init(profile: ToleranceProfile? = nil, atol: Double? = nil, rtol: Double? = nil, minCosine: Double? = nil,
                perTensor: [String: Tolerance] = [:]) {
        self.profile = profile
        self.atol = atol
        self.rtol = rtol
        self.minCosine = minCosine
        self.perTensor = perTensor
    }

    /// Parses `NAME=ATOL,RTOL` (a `--tolerance` value); `inf` means no bound.
    public static func parseOverride(_ text: String) throws -> (name: String, tolerance: Tolerance) {
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        let numbers = parts.count == 2 ? parts[1].split(separator: ",", omittingEmptySubsequences: false).map(String.init) : []
        guard parts.count == 2, !parts[0].isEmpty, numbers.count == 2,
              let atol = Double(numbers[0]), let rtol = Double(numbers[1]),
              isToleranceBound(atol), isToleranceBound(rtol) else {
            throw ComparisonRequestProblem.malformedToleranceOverride(text)
        }
        return (parts[0], Tolerance(atol: atol, rtol: rtol))
    }

    /// An atol or rtol: a number at least 0, or +inf for no elementwise bound; never NaN.
    public static func isToleranceBound(_ value: Double) -> Bool { value >= 0 }

    /// The base profile in force: explicit, else by the candidate's weight dtype.
    public func effectiveProfile(weightDType: DType?) -> ToleranceProfile {
        effectiveProfile(inferred: ToleranceProfile.forWeights(weightDType))
    }

    /// The base profile in force: explicit, else the one inferred from the candidate.
    public func effectiveProfile(inferred: ToleranceProfile) -> ToleranceProfile {
        profile ?? inferred
    }

    public func tolerance(for name: String, weightDType: DType?, golden: GoldenMetadata) -> Tolerance {
        tolerance(for: name, inferred: ToleranceProfile.forWeights(weightDType), golden: golden)
    }

    public func tolerance(for name: String, inferred: ToleranceProfile, golden: GoldenMetadata) -> Tolerance {
        if let exact = perTensor[name] { return exact }
        var result = effectiveProfile(inferred: inferred).tolerance
        if profile == nil && !inferred.isQuantized {
            if let a = golden.atol { result.atol = a }
            if let r = golden.rtol { result.rtol = r }
        }
        if let atol { result.atol = atol }
        if let rtol { result.rtol = rtol }
        return result
    }

    /// The per-token cosine floor in force: `--min-cosine`, else the profile's (quantized
    /// profiles only).
    public func minTokenCosine(inferred: ToleranceProfile) -> Double? {
        minCosine ?? effectiveProfile(inferred: inferred).minTokenCosine
    }

    /// The per-row cosine floor in force (sentence embeddings; mean-pooled rows for the quantized
    /// profiles): `--min-cosine`, else the profile's.
    public func minRowCosine(inferred: ToleranceProfile) -> Double {
        minCosine ?? effectiveProfile(inferred: inferred).minRowCosine
    }
}
