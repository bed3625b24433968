import BertCheck

// The one-line verdicts that end the text reports: the last line of the table, and all that
// `--quiet` prints.

extension VerifyReportRenderer {
    /// "PASS: all 8 checks passed" or "FAIL: 2 of 8 checks failed (hidden_states.3, last_hidden_state)".
    public static func verdictLine(_ report: VerifyReport) -> String {
        let failures = report.checks.filter { $0.status == .fail }
        let ran = report.checks.filter { $0.status != .notProduced }.count
        let notProduced = report.checks.count - ran
        return failures.isEmpty ? "PASS: all \(ran) checks passed" + (notProduced > 0 ? " (\(notProduced) not produced by the model)" : "")
            : "FAIL: \(failures.count) of \(report.checks.count) checks failed (\(failures.map(\.name).joined(separator: ", ")))"
    }
}

extension CheckpointDiffRenderer {
    /// "PASS: 199 tensors within tolerance, none missing or extra" or what failed, counted.
    public static func verdictLine(_ report: CheckpointDiffReport) -> String {
        if report.status == .pass {
            return "PASS: \(report.tensors.count) tensors within tolerance, none missing or extra"
        }
        let failing = report.tensors.filter { $0.status == .fail }.count
        return "FAIL: \(report.missing.count) missing, \(report.extra.count) extra, \(failing) differing beyond tolerance or in shape"
            + (report.storedTwice.isEmpty ? "" : ", \(report.storedTwice.count) stored twice")
    }
}
