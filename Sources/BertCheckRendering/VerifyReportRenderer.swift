import BertCheck
import Foundation

/// Renders a verify report for people (a table), for programs (JSON) and for CI dashboards (JUnit).
public enum VerifyReportRenderer {
    // MARK: table

    public static func table(_ report: VerifyReport) -> String {
        let golden = report.golden
        var lines: [String] = []
        var about = "golden     \(report.goldenPath): \(golden.batch) rows × \(golden.seq) tokens, hidden \(golden.hidden)"
        if !golden.outputs.hiddenStates.isEmpty { about += ", \(golden.outputs.hiddenStates.count) hidden states" }
        lines.append(about)
        if let producer = golden.metadata.producer { lines.append("recorded   by \(producer)" + (golden.metadata.model.map { " from \($0)" } ?? "")) }
        lines.append("candidate  \(report.candidate)")
        lines.append("tolerance  profile \(report.profile.rawValue); in force: \(toleranceWords(report)); per-check values below")
        lines.append("")
        let header = ["check", "status", "max abs", "max rel", "mean abs", "min cos", "mismatched", "atol", "rtol"]
        var rows: [[String]] = [header]
        for check in report.checks {
            let numeric = check.name != "input_ids"
            rows.append([
                check.name,
                check.status.label,
                numeric ? (check.maxAbsErr.map(formatNumber) ?? "-") : "-",
                numeric ? (check.maxRelErr.map(formatNumber) ?? "-") : "-",
                numeric ? (check.meanAbsErr.map(formatNumber) ?? "-") : "-",
                check.minCosine.map(formatCosineColumn) ?? "-",
                "\(check.mismatched)/\(check.compared) (\(String(format: "%.2f", check.mismatchedPercent))%)",
                check.tolerance.map { formatNumber($0.atol) } ?? "-",
                check.tolerance.map { formatNumber($0.rtol) } ?? "-",
            ])
        }
        lines.append(contentsOf: alignedTable(rows, rightAligned: Set(2..<header.count)))

        let failures = report.checks.filter { $0.status == .fail }
        if !failures.isEmpty {
            lines.append("")
            lines.append("Failures:")
            for check in failures {
                lines.append("  \(check.name): \(check.message ?? "failed")")
                if let worst = check.worst, check.name != "input_ids" { lines.append("    worst: \(describe(worst))") }
                if let rows = failingRows(check, report.golden) { lines.append("    failing rows: \(rows)") }
            }
        }
        let layers = report.layerChecks
        if !layers.isEmpty {
            lines.append("")
            lines.append("Error through the stack (hidden_states.0 = embeddings, N = output of encoder layer N-1):")
            var table: [[String]] = [["tensor", "layer", "max abs", "mean abs", "min cos", "growth", "status"]]
            // The library's growth (measured from a noise floor), as the HTML page shows it.
            let growthByName = Dictionary((report.errorGrowth?.layers ?? []).map { ($0.name, $0.growth) }, uniquingKeysWith: { a, _ in a })
            for check in layers {
                let growth = (growthByName[check.name] ?? nil).map { String(format: "×%.2f", $0) } ?? "-"
                table.append([check.name, OutputRegistry.layerLabel(of: check.name) ?? "-",
                              check.maxAbsErr.map(formatNumber) ?? "-", check.meanAbsErr.map(formatNumber) ?? "-",
                              check.minCosine.map(formatCosineColumn) ?? "-", growth,
                              check.status.label])
            }
            lines.append(contentsOf: alignedTable(table, rightAligned: [2, 3, 4, 5]).map { "  " + $0 })
        }
        for note in report.notes { lines.append("note: \(note)") }
        lines.append("")
        if let first = report.firstDivergence {
            var where_ = first
            if let label = OutputRegistry.layerLabel(of: first) {
                where_ += label == "embeddings" ? " (the embeddings)" : " (output of encoder \(label))"
            }
            let worst = report.checks.first { $0.name == first }?.worst
            lines.append("First divergence: \(where_)" + (worst.map { ", at \(describe($0))" } ?? ""))
        } else if report.precisionDrift {
            lines.append("Precision drift, no single layer. " + (VerifyVerdict(report).details.first ?? ""))
        }
        lines.append(verdictLine(report))
        return lines.joined(separator: "\n") + "\n"
    }

    /// The failing rows of a check with their texts: `2 ("a text"), 4 ("q" | "a")`; nil when no
    /// row fails.
    static func failingRows(_ check: CheckResult, _ golden: GoldenFile, limit: Int = 6) -> String? {
        let failing = check.rows.filter { $0.status == .fail }.map(\.row)
        guard !failing.isEmpty else { return nil }
        if failing.count == check.rows.count && failing.count > 1 { return "all \(failing.count) rows" }
        let shown = failing.prefix(limit).map { row in
            rowText(golden, row).map { "\(row) (\($0))" } ?? "\(row)"
        }
        return shown.joined(separator: ", ") + (failing.count > limit ? " and \(failing.count - limit) more" : "")
            + " of \(check.rows.count)"
    }

    /// A row's text as quoted JSON strings, `"text" | "pair"` for a text pair; nil without texts.
    static func rowText(_ golden: GoldenFile, _ row: Int) -> String? {
        guard let texts = golden.metadata.texts, row < texts.count else { return nil }
        let item = texts[row]
        return StrictJSON.quote(item.text) + (item.pair.map { " | " + StrictJSON.quote($0) } ?? "")
    }

    /// "row 1, position 4 ('dog'), hidden 17: 0.5123 vs golden 0.5001 (|diff| 0.0122)"; for the
    /// lowest-cosine token of a cosine failure, "row 1, position 4 ('dog'): cosine 0.99871, largest
    /// difference at hidden 17: …".
    public static func describe(_ worst: WorstElement) -> String {
        var text = worst.subject.map { "\($0) " } ?? ""
        text += "row \(worst.row)"
        if let position = worst.position { text += ", position \(position)" }
        if let token = worst.token { text += " (\(quotedToken(token)))" }
        if let cosine = worst.cosine { text += ": cosine \(formatCosine(cosine)), largest difference at" }
        if let h = worst.hiddenIndex { text += worst.cosine == nil ? ", hidden \(h)" : " hidden \(h)" }
        let expectedLabel = worst.subject == nil ? "golden" : "expected"
        text += ": \(formatNumber(worst.actual)) vs \(expectedLabel) \(formatNumber(worst.expected))"
        if worst.actual.isFinite && worst.expected.isFinite { text += " (|diff| \(formatNumber(abs(worst.actual - worst.expected))))" }
        return text
    }

    static func quotedToken(_ token: String) -> String {
        "'" + token.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined() + "'"
    }

    // MARK: JSON

    public static func json(_ report: VerifyReport) -> JSONValue {
        .object([
            ("status", .string(report.status.rawValue)),
            ("golden", .string(report.goldenPath)),
            ("candidate", .string(report.candidate)),
            ("weight_dtype", .string(report.weightDType?.rawValue)),
            ("profile", .string(report.profile.rawValue)),
            ("first_divergence", .string(report.firstDivergence)),
            ("precision_drift", .bool(report.precisionDrift)),
            ("tolerance", toleranceJSON(report)),
            ("checks", .array(report.checks.map { checkJSON($0, golden: report.golden) })),
            ("notes", .array(report.notes.map { .string($0) })),
        ])
    }

    /// The tolerances in force: what an output without a `--tolerance` override is held to.
    static func toleranceJSON(_ report: VerifyReport) -> JSONValue {
        let base = report.toleranceInForce ?? report.profile.tolerance
        return .object([
            ("atol", .number(base.atol)), ("rtol", .number(base.rtol)), ("min_cosine", .number(report.requiredMinCosine)),
            ("overrides", .object(report.toleranceOverrides.sorted { $0.key < $1.key }.map { name, tolerance in
                (name, .object([("atol", .number(tolerance.atol)), ("rtol", .number(tolerance.rtol))]))
            })),
        ])
    }

    static func checkJSON(_ check: CheckResult, golden: GoldenFile) -> JSONValue {
        let worst: JSONValue = check.worst.map { w in
            var members: [(key: String, value: JSONValue)] = []
            if let subject = w.subject { members.append(("subject", .string(subject))) }
            members += [
                ("row", .int(w.row)), ("position", .int(w.position)), ("token", .string(w.token)),
                ("hidden_index", .int(w.hiddenIndex)),
                ("actual", .number(w.actual)), ("expected", .number(w.expected)),
            ]
            if let cosine = w.cosine { members.append(("cosine", .number(cosine))) }
            return .object(members)
        } ?? .null
        return .object([
            ("name", .string(check.name)),
            ("status", .string(check.status.rawValue)),
            ("message", .string(check.message)),
            ("expected_shape", check.expectedShape.map { .array($0.map { .int($0) }) } ?? .null),
            ("actual_shape", check.actualShape.map { .array($0.map { .int($0) }) } ?? .null),
            ("max_abs_err", .number(check.maxAbsErr)),
            ("max_rel_err", .number(check.maxRelErr)),
            ("mean_abs_err", .number(check.meanAbsErr)),
            ("min_cosine", .number(check.minCosine)),
            ("mismatched", .int(check.mismatched)),
            ("compared", .int(check.compared)),
            ("mismatched_percent", .number(check.mismatchedPercent)),
            ("non_finite", .int(check.nonFinite)),
            ("non_finite_golden", .int(check.nonFiniteGolden)),
            ("worst", worst),
            ("atol", .number(check.tolerance?.atol)),
            ("rtol", .number(check.tolerance?.rtol)),
            ("min_cosine_required", .number(check.requiredMinCosine)),
            ("rows", .array(check.rows.map { row in
                let item = golden.metadata.texts.flatMap { row.row < $0.count ? $0[row.row] : nil }
                return .object([
                    ("row", .int(row.row)), ("status", .string(row.status.rawValue)),
                    ("text", .string(item?.text)), ("pair", .string(item?.pair)),
                    ("max_abs_err", .number(row.maxAbsErr)), ("mean_abs_err", .number(row.meanAbsErr)),
                    ("min_cosine", .number(row.minCosine)), ("mismatched", .int(row.mismatched)), ("compared", .int(row.compared)),
                ])
            })),
        ])
    }

    // MARK: JUnit

    /// JUnit XML: one testsuite, one testcase per check, a `<failure>` with the figures for each
    /// failed check.
    public static func junit(_ report: VerifyReport) -> String {
        let failures = report.checks.filter { $0.status == .fail }.count
        let suite = "bertcheck verify \(report.goldenPath)"
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml += "<testsuites name=\"bertcheck verify\" tests=\"\(report.checks.count)\" failures=\"\(failures)\" errors=\"0\">\n"
        let skipped = report.checks.filter { $0.status == .notProduced }.count
        xml += "  <testsuite name=\"\(xmlEscape(suite))\" tests=\"\(report.checks.count)\" failures=\"\(failures)\" errors=\"0\" skipped=\"\(skipped)\">\n"
        xml += "    <properties>\n"
        for (name, value) in [("golden", report.goldenPath), ("candidate", report.candidate), ("profile", report.profile.rawValue),
                              ("first_divergence", report.firstDivergence ?? "none"),
                              ("precision_drift", report.precisionDrift ? "true" : "false"),
                              ("tolerance", toleranceWords(report))] {
            xml += "      <property name=\"\(name)\" value=\"\(xmlEscape(value))\"/>\n"
        }
        xml += "    </properties>\n"
        for check in report.checks {
            let open = "    <testcase classname=\"bertcheck.verify\" name=\"\(xmlEscape(check.name))\" time=\"0\""
            if check.status == .notProduced {
                xml += open + ">\n      <skipped message=\"\(xmlEscape(check.message ?? "not produced"))\"/>\n    </testcase>\n"
                continue
            }
            guard check.status == .fail else {
                xml += open + "/>\n"
                continue
            }
            xml += open + ">\n"
            xml += "      <failure type=\"\(check.nonFinite + check.nonFiniteGolden > 0 ? "non-finite" : "tolerance")\" message=\"\(xmlEscape(check.message ?? "failed"))\">"
            xml += xmlEscape(figures(check, golden: report.golden))
            xml += "</failure>\n"
            xml += "    </testcase>\n"
        }
        xml += "  </testsuite>\n</testsuites>\n"
        return xml
    }

    static func figures(_ check: CheckResult, golden: GoldenFile) -> String {
        var lines = [check.message ?? "failed"]
        if let shape = check.actualShape, let expected = check.expectedShape, shape != expected {
            lines.append("shape \(Tensor.describe(shape: shape)), golden \(Tensor.describe(shape: expected))")
        }
        lines.append("max_abs_err=\(check.maxAbsErr.map(formatNumber) ?? "-") max_rel_err=\(check.maxRelErr.map(formatNumber) ?? "-") mean_abs_err=\(check.meanAbsErr.map(formatNumber) ?? "-") min_cosine=\(check.minCosine.map(formatCosine) ?? "-")\(check.requiredMinCosine.map { " min_cosine_required=" + formatCosine($0) } ?? "")")
        lines.append("mismatched=\(check.mismatched)/\(check.compared) (\(String(format: "%.2f", check.mismatchedPercent))%) non_finite=\(check.nonFinite) atol=\(check.tolerance.map { formatNumber($0.atol) } ?? "-") rtol=\(check.tolerance.map { formatNumber($0.rtol) } ?? "-")")
        if let worst = check.worst { lines.append("worst: \(describe(worst))") }
        if let rows = failingRows(check, golden, limit: 20) { lines.append("failing rows: \(rows)") }
        return lines.joined(separator: "\n")
    }

    /// Escapes text for XML attribute values and character data; characters XML 1.0 cannot hold
    /// (most C0 controls, lone surrogates cannot occur in Swift strings) become U+FFFD.
    public static func xmlEscape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\n": out += "&#10;"
            case "\t": out += "&#9;"
            case "\r": out += "&#13;"
            case _ where scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF:
                out += "\u{FFFD}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Writes the JUnit file atomically.
    public static func writeJUnit(_ report: VerifyReport, to path: String) throws {
        try AtomicFile.write(to: path) { sink in try sink.write(junit(report)) }
    }
}
