import ArgumentParser
import BertCheck

extension ToleranceProfile: ExpressibleByArgument {}

/// Tolerance flags shared by `verify` and `diff`.
struct ToleranceOptions: ParsableArguments {
    @Option(help: "Tolerance profile (fp32: atol 1e-4 rtol 1e-4; fp16: 1e-2 1e-2; bf16: 1e-1 5e-2). Default: verify uses the candidate's weight dtype, diff the less precise dtype of the two checkpoints.")
    var profile: ToleranceProfile?

    @Option(parsing: .unconditional, help: "Absolute tolerance for every tensor (overrides the profile and a golden's atol metadata).")
    var atol: Double?

    @Option(parsing: .unconditional, help: "Relative tolerance for every tensor (overrides the profile and a golden's rtol metadata).")
    var rtol: Double?

    @Option(name: .customLong("min-cosine"), parsing: .unconditional, help: "Fail a tensor whose minimum per-token cosine similarity is below this (a number from -1 to 1).")
    var minCosine: Double?

    @Option(name: .customLong("tolerance"), help: ArgumentHelp("Per-tensor tolerance NAME=ATOL,RTOL (repeatable); wins over every other setting.", valueName: "NAME=ATOL,RTOL"))
    var perTensor: [String] = []

    func settings(allowedName: (String) -> Bool) throws -> ToleranceSettings {
        for (flag, value) in [("--atol", atol), ("--rtol", rtol)] {
            if let value, !value.isFinite || value < 0 { throw UsageError("\(flag) \(value): must be a finite number, at least 0") }
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
