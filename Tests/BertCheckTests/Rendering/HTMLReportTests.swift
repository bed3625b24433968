import Foundation
import Testing
@testable import BertCheck
@testable import BertCheckRendering

/// `verify --html/--markdown` and `diff --html`: one self-contained page, texts escaped, the
/// verdict the same in every form. (Scripts/check-report-browser.sh renders them in Chromium.)
@Suite struct HTMLReportTests {
    /// The sample report with a golden text that tries to be markup.
    static func hostileReport() throws -> VerifyReport {
        var report = try ReportTests.sampleReport()
        report.golden.metadata.texts = [TextItem("a <script>alert('x')</script> & \"b\"", pair: nil),
                                        TextItem("<b>bold</b>", pair: "| pipe | `tick` *star*")]
        report.checks[0].rows = [RowResult(row: 1, status: .fail, maxAbsErr: 0.5, mismatched: 3, compared: 5,
                                           worst: report.checks[0].worst)]
        report.tokens = (0..<report.golden.batch).map { _ in (0..<report.golden.seq).map { "<t\($0)>" } }
        return report
    }

    /// Everything a page must not hold: script, anything fetched or linked.
    static func expectSelfContained(_ page: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(page.components(separatedBy: "<svg").count - 1 == 1, "exactly one SVG plot", sourceLocation: sourceLocation)
        #expect(page.components(separatedBy: "</svg>").count - 1 == 1, sourceLocation: sourceLocation)
        for forbidden in ["<script", "http:", "https:", "src=", "href=", "url(", "@import", "<link", "<img", "<iframe"] {
            #expect(!page.lowercased().contains(forbidden), "the page holds \(forbidden)", sourceLocation: sourceLocation)
        }
        #expect(page.hasPrefix("<!DOCTYPE html>"), sourceLocation: sourceLocation)
    }

    @Test func verifyPageIsSelfContainedAndEscapesEveryText() throws {
        let report = try Self.hostileReport()
        let page = VerifyReportRenderer.html(report)
        Self.expectSelfContained(page)
        #expect(page.contains("a &lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt; &amp; &quot;b&quot;"))
        #expect(page.contains("&lt;b&gt;bold&lt;/b&gt;") && page.contains("| pipe | `tick` *star*"))
        #expect(page.contains("golden &lt;&quot;&amp;&quot;&gt;.safetensors"))
        #expect(page.contains("outside &lt;tolerance&gt;"))
        // The token in its context, marked.
        #expect(page.contains("<mark>&lt;t2&gt;</mark>"))
        #expect(page.contains("FAIL at encoder layer 1 (hidden_states.2)"))
    }

    @Test func markdownSummaryEscapesTextsAndCarriesTheVerdict() throws {
        let report = try Self.hostileReport()
        let summary = VerifyReportRenderer.markdown(report)
        #expect(summary.contains("**FAIL at encoder layer 1 (hidden\\_states.2), token '&lt;&amp;"))
        #expect(!summary.contains("<script") && !summary.contains("<tolerance>"))
        // Table rows keep their column count: a | in a text is escaped.
        for line in summary.split(separator: "\n") where line.hasPrefix("| `hidden_states.2`") || line.hasPrefix("| **`hidden_states.2`") {
            #expect(line.filter { $0 == "|" }.count == 9, "\(line)")
        }
        #expect(VerifyReportRenderer.md("a | b <c>") == "a \\| b &lt;c&gt;")
    }

    @Test func failingGateThroughTheCLIWritesPageAndSummaryWithOneVerdict() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try VerifyCommandTests.modelCopy(in: dir) { tensors in
            for i in tensors.indices where tensors[i].name.hasPrefix("encoder.layer.1.") && tensors[i].shape.count == 2 {
                tensors[i] = VerifyCommandTests.changed(tensors[i]) { values in values = values.map { $0 * 1.02 } }
            }
        }
        let html = dir.appendingPathComponent("report.html").path, markdown = dir.appendingPathComponent("summary.md").path
        let result = try CLI.run(["verify", "--golden", VerifyCommandTests.tinyGolden, "--model", model, "--html", html, "--markdown", markdown])
        #expect(result.status == 1, "\(result.stderr)")
        let page = try String(contentsOfFile: html, encoding: .utf8)
        let summary = try String(contentsOfFile: markdown, encoding: .utf8)
        Self.expectSelfContained(page)
        #expect(page.contains("FAIL at encoder layer 1 (hidden_states.2), token &apos;"))
        #expect(summary.contains("**FAIL at encoder layer 1 (hidden\\_states.2), token '"))
        // The first divergence is marked once in the plot, in the colour the browser check seeks.
        #expect(page.components(separatedBy: "fill=\"\(ErrorPlot.markerColour)\"").count - 1 == 1)
        #expect(page.contains("first divergence: layer 1"))
        // The golden's texts, rows and worst tokens are on the page; the chart in the summary.
        #expect(page.contains("The quick brown fox"))
        #expect(page.contains("<h2>Rows</h2>") && page.contains("<h2>Worst tokens</h2>"))
        #expect(summary.contains("```mermaid\nxychart-beta"))
        #expect(page.utf8.count < 2_000_000)
        #expect(!FileManager.default.fileExists(atPath: html + ".tmp"))
    }

    @Test func reportFilesNeverReplaceInputsOrEachOther() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let golden = dir.appendingPathComponent("golden.safetensors").path
        try FileManager.default.copyItem(atPath: VerifyCommandTests.tinyGolden, toPath: golden)
        let before = try Data(contentsOf: URL(fileURLWithPath: golden))
        for option in ["--html", "--markdown"] {
            let result = try CLI.run(["verify", "--golden", golden, "--model", VerifyCommandTests.tinyModel, option, golden])
            #expect(result.status == 2, "\(option)")
            #expect(result.stderr.contains("\(option) \(golden): that is an input"), "\(result.stderr)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: golden)) == before)
        let same = dir.appendingPathComponent("r.out").path
        let twice = try CLI.run(["verify", "--golden", golden, "--model", VerifyCommandTests.tinyModel, "--html", same, "--markdown", same])
        #expect(twice.status == 2 && twice.stderr.contains("both name"), "\(twice.stderr)")
        let diff = try CLI.run(["diff", VerifyCommandTests.tinyModel, VerifyCommandTests.tinyModel,
                                "--html", VerifyCommandTests.tinyModel + "/config.json"])
        #expect(diff.status == 2 && diff.stderr.contains("--html"), "\(diff.stderr)")
    }

    @Test func diffPageListsTensorsBeyondToleranceFirstAndMarksTheirLayer() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try VerifyCommandTests.modelCopy(in: dir) { tensors in
            for i in tensors.indices where tensors[i].name == "encoder.layer.1.output.dense.weight" {
                tensors[i] = VerifyCommandTests.changed(tensors[i]) { values in values = values.map { $0 * 1.02 } }
            }
            tensors.removeAll { $0.name == "pooler.dense.bias" }
        }
        let html = dir.appendingPathComponent("diff.html").path
        let result = try CLI.run(["diff", VerifyCommandTests.tinyModel, model, "--html", html])
        #expect(result.status == 1)
        let page = try String(contentsOfFile: html, encoding: .utf8)
        Self.expectSelfContained(page)
        #expect(page.contains("FAIL: 1 beyond tolerance, 1 missing, 0 extra, 0 reshaped; first at layer 1"))
        let beyond = page.range(of: "<h2>Beyond tolerance (1)</h2>"), missing = page.range(of: "<h2>Missing in B (1)</h2>")
        let every = page.range(of: "<h2>Every common tensor")
        #expect(beyond != nil && missing != nil && every != nil)
        if let beyond, let missing, let every {
            #expect(beyond.lowerBound < missing.lowerBound && missing.lowerBound < every.lowerBound)
        }
        #expect(page.contains("first failing layer: layer 1"))
    }

    @Test func placesAlongTheStack() {
        #expect(StackPlace(ofParameter: "embeddings.word_embeddings.weight").label == "embeddings")
        #expect(StackPlace(ofParameter: "encoder.layer.11.output.dense.bias") == StackPlace(order: 12, label: "layer 11"))
        #expect(StackPlace(ofParameter: "pooler.dense.weight").label == "pooler")
        #expect(StackPlace(ofParameter: "encoder.layer.x.y").label == "encoder")
        let sorted = ["pooler.dense.weight", "encoder.layer.10.a", "encoder.layer.2.a", "embeddings.a"].map(StackPlace.init(ofParameter:)).sorted()
        #expect(sorted.map(\.label) == ["embeddings", "layer 2", "layer 10", "pooler"])
    }
}

/// A 24-layer stack (bert-large) with its heads: every place gets its label and the marker lands
/// on the right one.
@Suite struct ErrorPlotTests {
    @Test func twentyFourLayersAndTheHeadsAreAllLabelled() {
        var labels = ["embeddings"] + (0..<24).map { "layer \($0)" }
        labels.append("pooler_output")
        let errors: [Double?] = labels.indices.map { $0 < 14 ? 1e-6 * Double($0 + 1) : 0.05 }
        let plot = ErrorPlot(labels: labels, failing: errors.map { ($0 ?? 0) > 1e-4 },
                             errorSeries: [.init(name: "max abs error", values: errors, colour: ErrorPlot.maxAbsColour, dash: nil, width: 2)],
                             tolerance: labels.map { _ in 1e-4 }, cosine: nil, requiredCosine: nil,
                             marker: (14, "first divergence: layer 13"), note: nil, title: "t", xTitle: "x", yTitle: "y")
        let svg = plot.svg()
        for label in labels { #expect(svg.contains(">\(label)</text>"), "\(label)") }
        #expect(svg.components(separatedBy: "<circle").count - 1 == labels.count)
        #expect(svg.contains("first divergence: layer 13"))
        // The log axis spans the errors and the tolerance: 1e-6 … 1e-1 at least.
        #expect(svg.contains(">1e-6</text>") && svg.contains(">1e-1</text>"))
    }
}
