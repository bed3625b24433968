import BertCheck
import Foundation

/// `verify --markdown FILE`: GitHub-flavoured Markdown for `$GITHUB_STEP_SUMMARY` and merge
/// request comments: the verdict, the checks table and the error along the stack as a Mermaid
/// `xychart-beta` (log10 values: Mermaid has no log axis).
extension VerifyReportRenderer {
    public static func markdown(_ report: VerifyReport) -> String {
        let verdict = VerifyVerdict(report)
        var lines = ["## bertcheck verify: \(verdict.passed ? "✅ PASS" : "❌ FAIL")", "", "**\(md(verdict.headline))**", ""]
        for detail in verdict.details { lines.append(md(detail)); lines.append("") }
        lines.append("| | |")
        lines.append("|---|---|")
        lines.append("| golden | `\(code(report.goldenPath))` |")
        if let producer = report.golden.metadata.producer { lines.append("| recorded by | \(md(producer)) |") }
        lines.append("| candidate | `\(code(report.candidate))` |")
        lines.append("| weight dtype, profile | \(md(report.weightDType?.rawValue ?? "unknown")), \(report.profile.rawValue) |")
        lines.append("| tolerances in force | \(md(toleranceWords(report))) |")
        lines.append("")
        lines.append("### Checks")
        lines.append("")
        lines.append("| check | layer | status | max abs | mean abs | min cos | mismatched | atol |")
        lines.append("|---|---|---|--:|--:|--:|--:|--:|")
        for check in report.checks {
            let numeric = check.name != "input_ids"
            var name = "`\(code(check.name))`"
            if check.name == report.firstDivergence { name = "**\(name)** ← first divergence" }
            let status = check.status == .fail ? "❌ FAIL" : check.status == .pass ? "pass" : check.status.label
            lines.append("| \(name) | \(md(OutputRegistry.layerLabel(of: check.name) ?? "")) | \(status) | " +
                         "\(numeric ? number(check.maxAbsErr) : "–") | \(numeric ? number(check.meanAbsErr) : "–") | " +
                         "\(check.minCosine.map(formatCosineColumn) ?? "–") | \(check.mismatched)/\(check.compared) | \(number(check.tolerance?.atol)) |")
        }
        let points = plotChecks(report)
        if points.count >= 2 {
            lines.append("")
            lines.append("### Error through the stack")
            lines.append("")
            lines.append(contentsOf: mermaidChart(report, points))
            lines.append("")
            lines.append("The three lines, in order: max abs error, mean abs error, the tolerance (atol), as log10; an exact 0 sits at the bottom." +
                         (report.firstDivergence.map { " First divergence: \(md(plotLabel($0)))." } ?? "") +
                         (report.precisionDrift ? " Precision drift: no single layer." : ""))
        }
        if !report.notes.isEmpty {
            lines.append("")
            for note in report.notes { lines.append("- note: \(md(note))") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes the summary atomically.
    public static func writeMarkdown(_ report: VerifyReport, to path: String) throws {
        try AtomicFile.write(to: path) { sink in try sink.write(markdown(report)) }
    }

    static func mermaidChart(_ report: VerifyReport, _ checks: [CheckResult]) -> [String] {
        let series = [checks.map(\.maxAbsErr), checks.map(\.meanAbsErr), checks.map { $0.tolerance?.atol }]
        let axis = LogAxis(values: series.flatMap { $0 }, maxDecades: 14)
        func log10Value(_ v: Double?) -> String {
            guard let v, v > 0, v.isFinite else { return "\(axis.low)" }
            return String(format: "%.3f", max(log10(v), Double(axis.low)))
        }
        let labels = checks.map { "\"" + plotLabel($0.name).replacingOccurrences(of: "\"", with: "'") + "\"" }
        var out = ["```mermaid", "xychart-beta", "    title \"log10 abs error along the stack\"",
                   "    x-axis [\(labels.joined(separator: ", "))]",
                   "    y-axis \"log10 abs error\" \(axis.low) --> \(axis.high)"]
        for values in series { out.append("    line [\(values.map(log10Value).joined(separator: ", "))]") }
        out.append("```")
        return out
    }

    /// Text inside a table cell or paragraph: no HTML, no table breaks, no Markdown markup.
    static func md(_ text: String) -> String {
        var out = ""
        for ch in text {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "|", "\\", "`", "*", "_", "[", "]", "#": out += "\\" + String(ch)
            case "\n", "\r", "\t": out += " "
            default: out.append(ch)
            }
        }
        return out
    }

    /// Text inside a code span: backticks and pipes cannot be escaped there, so they are replaced.
    static func code(_ text: String) -> String {
        text.replacingOccurrences(of: "`", with: "'").replacingOccurrences(of: "|", with: "¦").replacingOccurrences(of: "\n", with: " ")
    }

    static func number(_ value: Double?) -> String { value.map(formatNumber) ?? "–" }
}
