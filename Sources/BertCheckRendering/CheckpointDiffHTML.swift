import BertCheck
import Foundation

/// `diff --html FILE`: the weight comparison as one self-contained page, in the style of the
/// verify report: verdict, the error of the tensors of each layer (plot), the tensors beyond
/// tolerance first, then missing, extra and reshaped ones, then every tensor by layer.
extension CheckpointDiffRenderer {
    public static func html(_ report: CheckpointDiffReport) -> String {
        let failing = report.tensors.filter { $0.status == .fail && !$0.shapeDiffers }
        let reshaped = report.tensors.filter(\.shapeDiffers)
        let passed = report.status == .pass
        let places = report.byPlace
        let firstBad = places.first { $0.tensors.contains { $0.status == .fail } }

        var body = "<h1>bertcheck diff: \(passed ? "PASS" : "FAIL")</h1>\n"
        var headline: String
        var details: [String] = []
        if passed {
            headline = "PASS: \(report.tensors.count) tensors within tolerance, none missing, extra or reshaped"
            if let largest = report.tensors.max(by: { ($0.maxAbsErr ?? 0) < ($1.maxAbsErr ?? 0) }), let err = largest.maxAbsErr, err > 0 {
                details.append("Largest difference: max abs \(formatNumber(err)) in \(largest.name).")
            }
        } else {
            headline = "FAIL: \(failing.count) beyond tolerance, \(report.missing.count) missing, \(report.extra.count) extra, \(reshaped.count) reshaped"
            if let firstBad, let worst = firstBad.tensors.filter({ $0.status == .fail }).max(by: { ($0.maxAbsErr ?? .infinity) < ($1.maxAbsErr ?? .infinity) }) {
                headline += "; first at \(firstBad.place.label)"
                details.append("Worst tensor there: \(worst.name), max abs \(worst.maxAbsErr.map(formatNumber) ?? "–"), \(worst.mismatched) values outside the tolerance.")
            }
        }
        body += "<div class=\"verdict \(passed ? "pass" : "fail")\"><div class=\"headline\">\(HTML.escape(headline))</div>\n"
        for line in details { body += "<p>\(HTML.escape(line))</p>\n" }
        body += "</div>\n"

        var facts: [(String, String)] = [("A (reference)", "<code>\(HTML.escape(report.pathA))</code>"),
                                         ("B (compared)", "<code>\(HTML.escape(report.pathB))</code>"),
                                         ("profile", HTML.escape(report.profile.rawValue)),
                                         ("tolerance", HTML.escape("|b − a| ≤ \(formatNumber(report.tolerance.atol)) + \(formatNumber(report.tolerance.rtol))·|a|"))]
        let dtypeChanges = Dictionary(grouping: report.tensors.filter(\.dtypeDiffers), by: { "\($0.dtypeA.rawValue) → \($0.dtypeB.rawValue)" })
        for (change, tensors) in dtypeChanges.sorted(by: { $0.key < $1.key }) {
            facts.append(("dtype", HTML.escape("\(change) for \(tensors.count) tensors")))
        }
        body += "<h2>Checkpoints</h2>\n" + HTML.facts(facts)

        if !places.isEmpty {
            body += "<h2>Error by layer</h2>\n<figure>\n<div class=\"scroll\">\n" + plot(report, places).svg() + "</div>\n"
            body += "<figcaption>For the tensors of each layer: the largest max abs error and the median one (log scale, left), the tolerance's atol (dashed red), the lowest cosine (right). Red dots: a tensor of that layer fails; the magenta bar marks the first such layer.</figcaption>\n</figure>\n"
        }
        if !failing.isEmpty { body += "<h2>Beyond tolerance (\(failing.count))</h2>\n" + tensorTable(failing) }
        if !report.missing.isEmpty { body += "<h2>Missing in B (\(report.missing.count))</h2>\n" + nameList(report.missing) }
        if !report.extra.isEmpty { body += "<h2>Extra in B (\(report.extra.count))</h2>\n" + nameList(report.extra) }
        if !reshaped.isEmpty {
            body += "<h2>Reshaped (\(reshaped.count))</h2>\n"
            body += HTML.table(header: ["tensor", "shape in A", "shape in B", "note"], rows: reshaped.map { t in
                ["<code>\(HTML.escape(t.name))</code>", HTML.escape(Tensor.describe(shape: t.shapeA)), HTML.escape(Tensor.describe(shape: t.shapeB)),
                 t.transposedEqual ? "B is A transposed, with equal values" : ""]
            })
        }
        body += "<h2>Every common tensor, by layer (\(report.tensors.count))</h2>\n"
        body += tensorTable(places.flatMap(\.tensors))
        return HTML.page(title: "bertcheck diff \(passed ? "PASS" : "FAIL"): \(report.pathA) vs \(report.pathB)", body: body)
    }

    /// Writes the page atomically (a temporary file beside it, then a rename).
    public static func writeHTML(_ report: CheckpointDiffReport, to path: String) throws {
        try AtomicFile.write(to: path) { sink in try sink.write(html(report)) }
    }

    static func plot(_ report: CheckpointDiffReport, _ places: [(place: StackPlace, tensors: [TensorDiff])]) -> ErrorPlot {
        let worst = places.map { $0.tensors.compactMap(\.maxAbsErr).max() }
        let typical = places.map { group -> Double? in
            let errors = group.tensors.compactMap(\.maxAbsErr).sorted()
            return errors.isEmpty ? nil : errors[errors.count / 2]
        }
        let cosines = places.map { $0.tensors.compactMap(\.cosine).min() }
        let failing = places.map { $0.tensors.contains { $0.status == .fail } }
        let marker = failing.firstIndex(of: true).map { ($0, "first failing layer: \(places[$0].place.label)") }
        return ErrorPlot(
            labels: places.map(\.place.label), failing: failing,
            errorSeries: [
                .init(name: "max abs (worst tensor)", values: worst, colour: ErrorPlot.maxAbsColour, dash: nil, width: 2.4),
                .init(name: "max abs (median tensor)", values: typical, colour: ErrorPlot.meanAbsColour, dash: "6 3", width: 2),
            ],
            tolerance: places.map { _ in report.tolerance.atol },
            cosine: cosines.contains { $0 != nil } ? cosines : nil,
            requiredCosine: nil, marker: marker, note: nil,
            title: "Weight error of each layer's tensors, B against A",
            xTitle: "along the stack: embeddings, encoder layers, what follows",
            yTitle: "max abs error (log)",
            markerName: "first failing layer")
    }

    static func tensorTable(_ tensors: [TensorDiff]) -> String {
        let rows = tensors.map { t -> [String] in
            ["<code>\(HTML.escape(t.name))</code>", HTML.escape(StackPlace(ofParameter: t.name).label),
             HTML.status(t.status),
             HTML.escape(t.dtypeDiffers ? "\(t.dtypeA.rawValue)→\(t.dtypeB.rawValue)" : t.dtypeA.rawValue),
             HTML.escape(Tensor.describe(shape: t.shapeB)),
             HTML.number(t.maxAbsErr), HTML.number(t.maxRelErr), HTML.cosine(t.cosine), "\(t.mismatched)"]
        }
        return HTML.table(header: ["tensor", "layer", "status", "dtype", "shape", "max abs", "max rel", "cosine", "mismatched"],
                          rows: rows, numeric: [5, 6, 7, 8], rowClasses: tensors.map { $0.status == .fail ? "fail" : nil })
    }

    static func nameList(_ names: [String]) -> String {
        "<ul>\n" + names.map { "<li><code>\(HTML.escape($0))</code></li>\n" }.joined() + "</ul>\n"
    }
}
