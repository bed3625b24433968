import BertCheck
import Foundation

/// `verify --html FILE`: the report as one self-contained page (inline CSS and one SVG plot, no
/// script, nothing fetched): verdict, provenance, error through the stack, checks, rows, tokens.
extension VerifyReportRenderer {
    public static func html(_ report: VerifyReport) -> String {
        let verdict = VerifyVerdict(report)
        var body = "<h1>bertcheck verify: \(verdict.passed ? "PASS" : "FAIL")</h1>\n"
        body += "<div class=\"verdict \(verdict.passed ? "pass" : "fail")\"><div class=\"headline\">\(HTML.escape(verdict.headline))</div>\n"
        for line in verdict.details { body += "<p>\(HTML.escape(line))</p>\n" }
        body += "</div>\n"
        body += "<h2>Golden and candidate</h2>\n" + HTML.facts(provenance(report))
        let points = plotChecks(report)
        if !points.isEmpty {
            body += "<h2>Error through the stack</h2>\n<figure>\n<div class=\"scroll\">\n" + plot(report, points).svg() + "</div>\n"
            body += "<figcaption>Max and mean abs error of each output against the golden (log scale, left), the tolerance in force (dashed red), and the lowest per-token cosine (right). Red dots fail their check; the magenta bar marks the first divergence. An exact 0 is drawn at the bottom of the axis.</figcaption>\n</figure>\n"
        }
        body += "<h2>Checks</h2>\n" + checksTable(report)
        body += rowsSection(report)
        body += worstTokensSection(report)
        if !report.notes.isEmpty {
            body += "<h2>Notes</h2>\n<ul class=\"notes\">\n" + report.notes.map { "<li>\(HTML.escape($0))</li>\n" }.joined() + "</ul>\n"
        }
        return HTML.page(title: "bertcheck verify \(verdict.passed ? "PASS" : "FAIL"): \(report.goldenPath)", body: body)
    }

    /// Writes the page atomically (a temporary file beside it, then a rename).
    public static func writeHTML(_ report: VerifyReport, to path: String) throws {
        try AtomicFile.write(to: path) { sink in try sink.write(html(report)) }
    }

    static func provenance(_ report: VerifyReport) -> [(String, String)] {
        let golden = report.golden
        var shape = "\(golden.batch) rows × \(golden.seq) tokens, hidden \(golden.hidden)"
        if !golden.outputs.hiddenStates.isEmpty { shape += ", \(golden.outputs.hiddenStates.count) hidden states" }
        var facts: [(String, String)] = [("golden", "<code>\(HTML.escape(report.goldenPath))</code>"), ("golden holds", HTML.escape(shape))]
        if let producer = golden.metadata.producer { facts.append(("recorded by", HTML.escape(producer))) }
        if let model = golden.metadata.model { facts.append(("recorded from", HTML.escape(model))) }
        facts.append(("candidate", "<code>\(HTML.escape(report.candidate))</code>"))
        facts.append(("weight dtype", HTML.escape(report.weightDType?.rawValue ?? "unknown (outputs file)")))
        facts.append(("profile", HTML.escape(report.profile.rawValue)))
        facts.append(("tolerances in force", HTML.escape(toleranceWords(report))))
        return facts
    }

    /// "atol 0.0001, rtol 0.0001, min cosine 0.999; last_hidden_state: atol 0.3, rtol 0".
    static func toleranceWords(_ report: VerifyReport) -> String {
        let base = report.toleranceInForce ?? report.profile.tolerance
        var words = "|actual − golden| ≤ atol \(formatNumber(base.atol)) + rtol \(formatNumber(base.rtol))·|golden|"
        if let cosine = report.requiredMinCosine { words += "; min cosine \(formatCosine(cosine))" }
        for (name, tolerance) in report.toleranceOverrides.sorted(by: { $0.key < $1.key }) {
            words += "; \(name): atol \(formatNumber(tolerance.atol)), rtol \(formatNumber(tolerance.rtol))"
        }
        return words
    }

    /// The outputs along the stack, as plotted: the hidden states, then what follows them; the
    /// last hidden state is the last hidden_states.N when those are there.
    static func plotChecks(_ report: VerifyReport) -> [CheckResult] {
        let hasLayers = !report.layerChecks.isEmpty
        return report.stackChecks.filter { check in
            !(hasLayers && check.name == OutputRegistry.lastHiddenState.name && report.firstDivergence != check.name)
        }
    }

    static func plotLabel(_ name: String) -> String { OutputRegistry.layerLabel(of: name) ?? name }

    static func plot(_ report: VerifyReport, _ checks: [CheckResult]) -> ErrorPlot {
        var marker: (Int, String)?
        if let first = report.firstDivergence, let index = checks.firstIndex(where: { $0.name == first }) {
            marker = (index, "first divergence: \(plotLabel(first))")
        }
        let cosines = checks.map(\.minCosine)
        return ErrorPlot(
            labels: checks.map { plotLabel($0.name) },
            failing: checks.map { $0.status == .fail },
            errorSeries: [
                .init(name: "max abs error", values: checks.map(\.maxAbsErr), colour: ErrorPlot.maxAbsColour, dash: nil, width: 2.4),
                .init(name: "mean abs error", values: checks.map(\.meanAbsErr), colour: ErrorPlot.meanAbsColour, dash: "6 3", width: 2),
            ],
            tolerance: checks.map { $0.tolerance?.atol },
            cosine: cosines.contains { $0 != nil } ? cosines : nil,
            requiredCosine: report.requiredMinCosine,
            marker: marker,
            note: report.precisionDrift ? "precision drift: no single layer" : nil,
            title: "Error of each output along the stack against the golden",
            xTitle: "along the stack: embeddings, encoder layers, outputs after the stack",
            yTitle: "abs error (log)")
    }

    static func checksTable(_ report: VerifyReport) -> String {
        let growth = Dictionary((report.errorGrowth?.layers ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var rows: [[String]] = [], classes: [String?] = []
        for check in report.checks {
            let numeric = check.name != "input_ids"
            let layer = growth[check.name]
            rows.append([
                "<code>\(HTML.escape(check.name))</code>",
                HTML.escape(OutputRegistry.layerLabel(of: check.name) ?? ""),
                HTML.status(check.status),
                numeric ? HTML.number(check.maxAbsErr) : "–",
                numeric ? HTML.number(check.maxRelErr) : "–",
                numeric ? HTML.number(check.meanAbsErr) : "–",
                HTML.cosine(check.minCosine),
                // Growth between layers; the embeddings' (over the noise floor) says nothing to a reader.
                check.name == report.errorGrowth?.layers.first?.name ? "–"
                    : layer?.growth.map { "×" + VerifyVerdict.factor($0) + (check.name == report.firstDivergence ? " jump" : "") } ?? "",
                "\(check.mismatched)/\(check.compared)",
                HTML.number(check.tolerance?.atol),
                HTML.number(check.tolerance?.rtol),
            ])
            classes.append(check.name == report.firstDivergence ? "divergence" : check.status == .fail ? "fail" : nil)
        }
        var out = HTML.table(header: ["check", "layer", "status", "max abs", "max rel", "mean abs", "min cos", "growth", "mismatched", "atol", "rtol"],
                             rows: rows, numeric: [3, 4, 5, 6, 7, 8, 9, 10], rowClasses: classes)
        let failures = report.checks.filter { $0.status != .pass }
        if !failures.isEmpty {
            out += "<ul class=\"failures\">\n" + failures.map { check in
                "<li><code>\(HTML.escape(check.name))</code>: \(HTML.escape(check.message ?? check.status.label))</li>\n"
            }.joined() + "</ul>\n"
        }
        return out
    }

    /// The check whose rows and tokens are shown: where the error starts, else the first failing
    /// output, else the one closest to its tolerance.
    static func keyCheck(_ report: VerifyReport) -> CheckResult? {
        if let first = report.firstDivergence, let check = report.checks.first(where: { $0.name == first }) { return check }
        let outputs = report.stackChecks.filter { !$0.rows.isEmpty }
        return outputs.first { $0.status == .fail }
            ?? report.checks.first { $0.status == .fail && !$0.rows.isEmpty }
            ?? outputs.max { VerifyVerdict.toleranceShare($0) < VerifyVerdict.toleranceShare($1) }
    }

    static func rowsSection(_ report: VerifyReport) -> String {
        let golden = report.golden
        guard golden.batch > 0 else { return "" }
        let key = keyCheck(report)
        var out = "<h2>Rows</h2>\n<p>Each row of the golden with the checks it fails"
        if let key { out += "; figures of <code>\(HTML.escape(key.name))</code>" }
        out += ".</p>\n"
        var rows: [[String]] = [], classes: [String?] = []
        for row in 0..<golden.batch {
            let failing = report.checks.filter { check in check.rows.contains { $0.row == row && $0.status == .fail } }
            let figures = key?.rows.first { $0.row == row }
            var text = "–"
            if let item = golden.metadata.texts.flatMap({ row < $0.count ? $0[row] : nil }) {
                text = HTML.escape(item.text)
                if let pair = item.pair { text += " <span class=\"status not_produced\">[pair]</span> " + HTML.escape(pair) }
            }
            rows.append([
                "\(row)", text,
                HTML.status(failing.isEmpty ? .pass : .fail),
                failing.isEmpty ? "" : HTML.escape(abbreviated(failing.map(\.name))),
                HTML.number(figures?.maxAbsErr), HTML.number(figures?.meanAbsErr), HTML.cosine(figures?.minCosine),
                figures.map { "\($0.mismatched)/\($0.compared)" } ?? "–",
            ])
            classes.append(failing.isEmpty ? nil : "fail")
        }
        out += HTML.table(header: ["row", "text", "status", "failing checks", "max abs", "mean abs", "min cos", "mismatched"],
                          rows: rows, numeric: [0, 4, 5, 6, 7], rowClasses: classes)
        return out
    }

    /// "hidden_states.2, hidden_states.3 … pooler_output (6 checks)".
    static func abbreviated(_ names: [String]) -> String {
        names.count <= 4 ? names.joined(separator: ", ") : "\(names[0]), \(names[1]) … \(names[names.count - 1]) (\(names.count) checks)"
    }

    static func worstTokensSection(_ report: VerifyReport) -> String {
        guard let key = keyCheck(report) else { return "" }
        // Worst first as the check ranks them: by how far outside the tolerance (NaN and Inf first).
        func excess(_ w: WorstElement) -> Double {
            VerifyVerdict.excess(w, key.tolerance) ?? (w.actual.isFinite && w.expected.isFinite ? abs(w.actual - w.expected) : .infinity)
        }
        let worst = key.rows.compactMap(\.worst).sorted { excess($0) > excess($1) }.prefix(10)
        guard !worst.isEmpty else { return "" }
        var out = "<h2>Worst tokens</h2>\n<p>The element furthest outside its tolerance in each row of <code>\(HTML.escape(key.name))</code>, worst first.</p>\n"
        var rows: [[String]] = []
        for w in worst {
            rows.append([
                "\(w.row)", w.position.map { "\($0)" } ?? "–", context(report, w),
                w.hiddenIndex.map { "\($0)" } ?? "–",
                HTML.number(w.expected), HTML.number(w.actual), HTML.number(abs(w.actual - w.expected)),
                VerifyVerdict.excess(w, key.tolerance).map { HTML.escape(VerifyVerdict.times($0)) } ?? "–",
            ])
        }
        out += HTML.table(header: ["row", "position", "token in context", "hidden", "expected", "actual", "|diff|", "× tolerance"],
                          rows: rows, numeric: [0, 1, 3, 4, 5, 6, 7])
        return out
    }

    /// The token among its neighbours (five each side, real tokens only), marked.
    static func context(_ report: VerifyReport, _ w: WorstElement) -> String {
        let golden = report.golden
        guard let position = w.position, let tokens = report.tokens, w.row < tokens.count else {
            return w.token.map { "<mark>\(HTML.escape($0))</mark>" } ?? "–"
        }
        let row = tokens[w.row]
        let real = (0..<min(row.count, golden.seq)).filter { golden.attentionMask[w.row * golden.seq + $0] == 1 || $0 == position }
        guard let at = real.firstIndex(of: position) else { return "–" }
        let shown = real[max(0, at - 5)..<min(real.count, at + 6)]
        var parts: [String] = []
        if shown.first != real.first { parts.append("…") }
        for p in shown { parts.append(p == position ? "<mark>\(HTML.escape(row[p]))</mark>" : HTML.escape(row[p])) }
        if shown.last != real.last { parts.append("…") }
        return "<span class=\"mono\">" + parts.joined(separator: " ") + "</span>"
    }
}
