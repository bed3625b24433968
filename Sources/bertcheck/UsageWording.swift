import BertCheck
import Foundation

/// A problem with the command line itself (a bad flag value, conflicting options): one line on
/// stderr, exit 2. The library never throws it; it throws typed problems, and the initializers
/// below word them in terms of the command's flags.
struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension UsageError {
    /// `--freeze` / `--head` problems; `freeze` is the `--freeze` value as given.
    init(_ problem: FineTuningProblem, freeze: String) {
        switch problem {
        case .emptyFreezeItem, .notANamePrefix, .notALayerRange: self.init("--freeze \(freeze): \(problem)")
        case .prefixMatchesNothing: self.init("--freeze: \(problem)")
        case .headWithoutClasses(let classes), .headTooLarge(let classes, _): self.init("--head \(classes): \(problem)")
        case .hiddenSizeUnknown: self.init("--head: \(problem)")
        }
    }

    /// `lengths`: the batch came from `--lengths`, not `--batch` and `--seq`.
    init(_ problem: BenchmarkProblem, lengths: Bool = false) {
        switch problem {
        case .emptyBatch: self.init(lengths ? "--lengths needs at least one length" : "--batch and --seq must be positive")
        case let .sequenceTooLong(seq, maxPositions):
            self.init("\(lengths ? "--lengths: the longest row, \(seq)," : "--seq \(seq)") exceeds the model's max_position_embeddings \(maxPositions)")
        case .tooManyTokens: self.init(lengths ? "--lengths: rows × the longest row is too large" : "--batch × --seq is too large")
        case .noIterations: self.init("--iterations must be positive")
        case .emptyLength: self.init("--lengths: \(problem)")
        }
    }

    init(_ problem: ComparisonRequestProblem) {
        switch problem {
        case let .malformedToleranceOverride(text):
            self.init("--tolerance '\(text)': expected NAME=ATOL,RTOL with non-negative numbers, e.g. pooler_output=1e-3,1e-3")
        case let .toleranceForUnknownTensor(name, _):
            self.init("--tolerance \(name)=...: \(problem)")
        case .noCandidate:
            self.init("verify needs --model MODEL or --outputs FILE")
        case .malformedNameMapping, .unknownGoldenName, .nameMappedTwice:
            self.init("--map \(problem)")
        }
    }
}

/// `refuseOverwritingInputs`, worded for the flag that named the output (`--out`, `--junit`).
func refuseOverwritingInputs(output: String, option: String, inputs: [String], modelPath: String? = nil) throws {
    do {
        try BertCheck.refuseOverwritingInputs(output: output, inputs: inputs, modelPath: modelPath)
    } catch OutputProblem.overwritesInput(let output, let input) {
        throw UsageError("\(option) \(output): that is an input of this command (\(input)); choose another path")
    } catch let problem as OutputProblem {
        throw UsageError("\(option) \(problem); choose another path")
    }
}

/// Two report options naming one file would leave only the last report written.
func refuseSamePath(_ outputs: [(option: String, path: String)]) throws {
    for (i, a) in outputs.enumerated() {
        for b in outputs[(i + 1)...] where sameFile(a.path, b.path) {
            throw UsageError("\(a.option) and \(b.option) both name \(a.path); choose two paths")
        }
    }
}

private func sameFile(_ a: String, _ b: String) -> Bool {
    URL(fileURLWithPath: a).standardizedFileURL.path == URL(fileURLWithPath: b).standardizedFileURL.path
}
