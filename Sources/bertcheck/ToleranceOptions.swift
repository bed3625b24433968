import ArgumentParser
import BertCheck

extension ToleranceProfile: ExpressibleByArgument {}

/// Tolerance flags shared by `verify` and `diff`.
struct ToleranceOptions: ParsableArguments {
    @Option(help: "Tolerance profile. Elementwise: fp32 (atol 1e-4, rtol 1e-4), fp16 (1e-2, 1e-2), bf16 (1e-1, 5e-2). Cosine first, for quantized weights: int8 (ONNX int8), q8 (GGUF Q8_0), q6 (Q6_K), q5 (Q5_0/Q5_1/Q5_K), q4 (Q4_0/Q4_1/Q4_K, Q4_K_M; also Q3_K/Q2_K): a per-token and a mean-pooled per-row cosine floor and a loose elementwise bound (Docs/golden-format.md, Tolerances). Default: verify infers it from the model's weights (the coarsest quantized type, else the dtype holding most weights) or from an outputs file's dtype (F16 arrays: fp16; else fp32), diff takes the less precise of the two checkpoints.")
    var profile: ToleranceProfile?

    @Option(parsing: .unconditional, help: "Absolute tolerance for every tensor (overrides the profile and a golden's atol metadata); inf: no elementwise bound.")
    var atol: Double?

    @Option(parsing: .unconditional, help: "Relative tolerance for every tensor (overrides the profile and a golden's rtol metadata); inf: no elementwise bound.")
    var rtol: Double?

    @Option(name: .customLong("min-cosine"), parsing: .unconditional, help: "Fail a tensor whose minimum per-token cosine similarity is below this (a number from -1 to 1); replaces the quantized profiles' per-token and mean-pooled row floors.")
    var minCosine: Double?

    @Option(name: .customLong("tolerance"), help: ArgumentHelp("Per-tensor tolerance NAME=ATOL,RTOL (repeatable); wins over every other setting.", valueName: "NAME=ATOL,RTOL"))
    var perTensor: [String] = []

    func settings(allowedName: (String) -> Bool) throws -> ToleranceSettings {
        for (flag, value) in [("--atol", atol), ("--rtol", rtol)] {
            if let value, !ToleranceSettings.isToleranceBound(value) {
                throw UsageError("\(flag) \(value): must be a number at least 0, or inf for no elementwise bound")
            }
        }
        // A cosine is in [-1, 1]: a bound above 1 would fail every tensor, below -1 none.
        if let minCosine, !(minCosine >= -1 && minCosine <= 1) {
            throw UsageError("--min-cosine \(minCosine): must be a number from -1 to 1")
        }
        var overrides: [String: Tolerance] = [:]
        for text in perTensor {
            let (name, tolerance): (String, Tolerance)
            do {
                (name, tolerance) = try ToleranceSettings.parseOverride(text)
            } catch let problem as ComparisonRequestProblem {
                throw UsageError(problem)
            }
            guard allowedName(name) else { throw UsageError("--tolerance '\(text)': unknown tensor name '\(name)'") }
            overrides[name] = tolerance
        }
        return ToleranceSettings(profile: profile, atol: atol, rtol: rtol, minCosine: minCosine, perTensor: overrides)
    }
}
