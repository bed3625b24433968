/// What a caller asked `verify` or `diff` for that cannot be done: problems with the request, not
/// with a file. The CLI words them as problems with its flags (`--tolerance`, `--model`).
public enum ComparisonRequestProblem: Error, CustomStringConvertible, Equatable {
    /// A per-tensor tolerance that is not `NAME=ATOL,RTOL` with finite non-negative numbers.
    case malformedToleranceOverride(String)
    /// A per-tensor tolerance for a name no compared checkpoint has (a typo, or a stored `bert.`
    /// name): it would be silently ignored.
    case toleranceForUnknownTensor(String, checkpoints: [String])
    /// Neither a model nor an outputs file to compare with the golden.
    case noCandidate
    /// A `--map` value that is not `GOLDEN_NAME=THEIR_NAME`.
    case malformedNameMapping(String)
    /// A `--map` golden name that is no input or output of a golden.
    case unknownGoldenName(String)
    /// A golden name given in two `--map` values.
    case nameMappedTwice(String)

    public var description: String {
        switch self {
        case let .malformedToleranceOverride(text):
            return "'\(text)' is not NAME=ATOL,RTOL with non-negative numbers, e.g. pooler_output=1e-3,1e-3"
        case let .toleranceForUnknownTensor(name, checkpoints):
            return "no tensor named '\(name)' in \(checkpoints.joined(separator: " or ")) (use BertModel names, e.g. pooler.dense.weight)"
        case .noCandidate:
            return "neither a model nor an outputs file to compare with the golden"
        case let .malformedNameMapping(text):
            return "'\(text)' is not GOLDEN_NAME=THEIR_NAME, e.g. last_hidden_state=output_0"
        case let .unknownGoldenName(name):
            return "'\(name)' is not a golden tensor name (outputs: \(OutputRegistry.all.map { $0.indexed ? $0.name + ".N" : $0.name }.joined(separator: ", ")); inputs: \(GoldenFile.inputNames.joined(separator: ", ")); hidden_states for all of them stacked)"
        case let .nameMappedTwice(text):
            return "'\(text)' maps a golden name an earlier --map already maps"
        }
    }
}
