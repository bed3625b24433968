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

    public var description: String {
        switch self {
        case let .malformedToleranceOverride(text):
            return "'\(text)' is not NAME=ATOL,RTOL with non-negative numbers, e.g. pooler_output=1e-3,1e-3"
        case let .toleranceForUnknownTensor(name, checkpoints):
            return "no tensor named '\(name)' in \(checkpoints.joined(separator: " or ")) (use BertModel names, e.g. pooler.dense.weight)"
        case .noCandidate:
            return "neither a model nor an outputs file to compare with the golden"
        }
    }
}
