import Testing
@testable import BertCheck
import BertCheckRendering

/// The verify report as a table, JSON and JUnit XML.
@Suite struct ReportTests {
    static func sampleReport() throws -> VerifyReport {
        let golden = try GoldenFile.read(GoldenFormatTests.tinyGolden)
        var failing = CheckResult(name: "hidden_states.2", status: .fail, message: "3 of 10 values outside <tolerance> & \"quotes\" 'here'\u{1}")
        failing.maxAbsErr = 0.5
        failing.compared = 10
        failing.mismatched = 3
        failing.tolerance = Tolerance(atol: 1e-4, rtol: 1e-4)
        failing.worst = WorstElement(subject: nil, row: 1, position: 2, token: "<&\u{7}>", hiddenIndex: 3, actual: 1.5, expected: 1)
        var passing = CheckResult(name: "last_hidden_state", status: .pass)
        passing.maxAbsErr = 1e-7
        passing.minCosine = 1
        passing.compared = 10
        return VerifyReport(goldenPath: "golden <\"&\">.safetensors", golden: golden, candidate: "outputs o.npz", weightDType: nil,
                            profile: .fp32, checks: [failing, passing], firstDivergence: "hidden_states.2", notes: [])
    }

    @Test func jsonReportHasTheAgreedFields() throws {
        let report = try Self.sampleReport()
        let text = VerifyReportRenderer.json(report).serialized()
        let parsed = try StrictJSON.parse(Array(text.utf8))
        #expect(parsed["status"]?.string == "fail")
        #expect(parsed["first_divergence"]?.string == "hidden_states.2")
        let checks = parsed["checks"]?.elements ?? []
        #expect(checks.count == 2)
        for key in ["name", "status", "max_abs_err", "max_rel_err", "mean_abs_err", "min_cosine", "mismatched", "compared", "worst", "atol", "rtol"] {
            #expect(checks.first?[key] != nil, "missing \(key)")
        }
        #expect(checks.first?["worst"]?["position"]?.integer == 2)
        #expect(checks.first?["max_abs_err"]?.double == 0.5)
        #expect(checks.last?["worst"] == .null)
    }

    @Test func junitIsWellFormedXMLWithOneTestcasePerCheck() throws {
        let report = try Self.sampleReport()
        let xml = VerifyReportRenderer.junit(report)
        let summary = try JUnitSummary.parse(xml)
        #expect(summary.testcases == ["hidden_states.2", "last_hidden_state"])
        #expect(summary.failures == ["hidden_states.2"])
        #expect(summary.failureText.contains("max_abs_err=0.5"))
        // Escaped and read back intact; the control character XML cannot hold is replaced.
        #expect(summary.failureText.contains("outside <tolerance> & \"quotes\" 'here'\u{FFFD}"))
        #expect(summary.failureText.contains("('<&\\u{7}>')"))
        #expect(summary.suiteAttributes["tests"] == "2" && summary.suiteAttributes["failures"] == "1")
    }

    @Test func tableNamesTheFirstDivergenceAndTheWorstElement() throws {
        let table = VerifyReportRenderer.table(try Self.sampleReport())
        #expect(table.contains("First divergence: hidden_states.2 (output of encoder layer 1)"))
        #expect(table.contains("row 1, position 2 ('<&\\u{7}>'), hidden 3: 1.5 vs golden 1"))
        #expect(table.contains("FAIL: 1 of 2 checks failed"))
    }
}
