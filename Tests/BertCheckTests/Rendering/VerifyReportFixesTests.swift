import Foundation
import Testing
@testable import BertCheck
@testable import BertCheckRendering

/// The report details issue 15 (item 6) found misleading in real gates: the tolerances in force,
/// the place of a cosine failure, max rel against near-zero golden values, digits of cosines,
/// non-finite values on either side.
@Suite struct VerifyReportFixesTests {
    @Test func theHeaderShowsTheTolerancesInForce() throws {
        let golden = try GoldenFile.read(GoldenFormatTests.tinyGolden)
        let report = verifyGolden(golden, outputs: golden.outputs, tolerances: ToleranceSettings(atol: 1e9, minCosine: 0.99995))
        let table = VerifyReportRenderer.table(report)
        let header = table.split(separator: "\n").first { $0.hasPrefix("tolerance") }.map(String.init) ?? ""
        #expect(header.contains("atol 1e+09") && !header.contains("atol 0.0001"), "\(header)")
        #expect(header.contains("min cosine 0.99995"), "\(header)")
        let json = try StrictJSON.parse(Array(VerifyReportRenderer.json(report).serialized().utf8))
        #expect(json["tolerance"]?["atol"]?.double == 1e9 && json["tolerance"]?["rtol"]?.double == 1e-4)
        #expect(json["tolerance"]?["min_cosine"]?.double == 0.99995)
        #expect(VerifyReportRenderer.html(report).contains("atol 1e+09"))
        #expect(VerifyReportRenderer.markdown(report).contains("atol 1e+09"))
        #expect(VerifyReportRenderer.junit(report).contains("<property name=\"tolerance\" value=\"|actual − golden| ≤ atol 1e+09"))
    }

    /// Two rows of two tokens, hidden 4. The largest element difference is in row 0, token 0 (a
    /// long vector, hardly turned); the lowest cosine is row 1, token 1 (a short vector, turned).
    static func cosineCase() -> (expected: FloatArray, actual: FloatArray) {
        let expected: [Float] = [10, 0, 0, 0, 1, 1, 0, 0,
                                 0, 1, 0, 0, 0.1, 0, 0, 0]
        var actual = expected
        actual[0] = 10.3       // cosine 1, |diff| 0.3
        actual[13] = 0.02      // cosine ~0.98, |diff| 0.02
        return (FloatArray(shape: [2, 2, 4], values: expected), FloatArray(shape: [2, 2, 4], values: actual))
    }

    @Test func aCosineFailureNamesTheLowestCosineToken() {
        let (expected, actual) = Self.cosineCase()
        let result = compareTensor(name: "last_hidden_state", expected: expected, actual: actual,
                                   layout: TokenLayout(batch: 2, seq: 2, mask: nil, tokenText: { "t\($0)\($1)" }),
                                   perToken: true, tolerance: Tolerance(atol: 1e9, rtol: 0), minCosine: 0.999)
        #expect(result.status == .fail && result.mismatched == 0)
        #expect(result.worst?.row == 1 && result.worst?.position == 1 && result.worst?.hiddenIndex == 1)
        #expect((result.worst?.cosine ?? 1) < 0.99 && result.worst?.token == "t11")
        #expect(result.rows.map(\.status) == [.pass, .fail])
        #expect(result.rows[1].worst?.position == 1 && result.rows[0].worst?.position == 0)
        let described = VerifyReportRenderer.describe(result.worst!)
        #expect(described.hasPrefix("row 1, position 1 ('t11'): cosine 0.98"), "\(described)")
        // Failing elementwise (no cosine floor), the worst place is the largest excess.
        let elementwise = compareTensor(name: "last_hidden_state", expected: expected, actual: actual,
                                        layout: TokenLayout(batch: 2, seq: 2, mask: nil), perToken: true,
                                        tolerance: Tolerance(atol: 1e-3, rtol: 0), minCosine: nil)
        #expect(elementwise.worst?.row == 0 && elementwise.worst?.position == 0 && elementwise.worst?.cosine == nil)
    }

    @Test func maxRelIgnoresGoldenValuesNearZero() {
        // -1.6e-34 beside O(1) values: 1.2e-7 off it once gave max rel 7.4e+26.
        let expected = FloatArray(shape: [1, 1, 4], values: [-1.6e-34, 0.5, -2, 1])
        let actual = FloatArray(shape: [1, 1, 4], values: [1.2e-7, 0.5001, -2, 1])
        let result = compareTensor(name: "last_hidden_state", expected: expected, actual: actual,
                                   layout: TokenLayout(batch: 1, seq: 1, mask: nil), perToken: true,
                                   tolerance: Tolerance(atol: 1e-4, rtol: 1e-4), minCosine: nil)
        let rel = result.maxRelErr ?? .infinity
        #expect(abs(rel - 1e-4 / 0.5) < 1e-6, "max rel \(rel): the near-zero golden value is left out")
        // An atol of 1e9 does not leave every value out: near zero is at most 1e-3 of the scale.
        let loose = compareTensor(name: "last_hidden_state", expected: expected, actual: actual,
                                  layout: TokenLayout(batch: 1, seq: 1, mask: nil), perToken: true,
                                  tolerance: Tolerance(atol: 1e9, rtol: 0), minCosine: nil)
        #expect(loose.maxRelErr != nil && (loose.maxRelErr ?? 1) < 1e-3)
    }

    @Test func cosinesKeepTheirDigits() throws {
        #expect(formatCosine(0.99995) == "0.99995")
        #expect(formatCosine(0.9999999) == "0.9999999")
        #expect(formatCosine(0.5) == "0.5")
        #expect(formatCosineColumn(0.99999996) == "0.99999996" && formatCosineColumn(0.9999) == "0.9999000")
        #expect(formatCosineColumn(1) == "1.0000000")
        #expect(formatApart(0.99995, 0.99999) == ("0.99995", "0.99999"))
        // A row whose cosine is 0.99995 against a floor of 0.99999, through JUnit.
        let angle = acos(0.99995)
        let expected = FloatArray(shape: [1, 1, 2], values: [1, 0])
        let actual = FloatArray(shape: [1, 1, 2], values: [Float(cos(angle)), Float(sin(angle))])
        let check = compareTensor(name: "sentence_embedding", expected: expected, actual: actual,
                                  layout: TokenLayout(batch: 1, seq: 1, mask: nil), perToken: false,
                                  tolerance: Tolerance(atol: 1e9, rtol: 0), minCosine: 0.99999)
        #expect(check.status == .fail)
        #expect(check.message?.contains("min per-row cosine 0.99995 < 0.99999") == true, "\(check.message ?? "")")
        let golden = try GoldenFile.read(GoldenFormatTests.tinyGolden)
        let report = VerifyReport(goldenPath: "g", golden: golden, candidate: "c", weightDType: nil, profile: .fp32,
                                  checks: [check], firstDivergence: nil, notes: [])
        let junit = try JUnitSummary.parse(VerifyReportRenderer.junit(report))
        #expect(junit.failureText.contains("min_cosine=0.99995") && junit.failureText.contains("min_cosine_required=0.99999"), "\(junit.failureText)")
        #expect(!junit.failureText.contains("min_cosine=1 "))
    }

    @Test func nonFiniteValuesOnEitherSideFail() {
        let layout = TokenLayout(batch: 1, seq: 1, mask: nil)
        for (golden, candidate) in [([Float.nan, 1], [Float.nan, 1]), ([Float.infinity, 1], [Float.infinity, 1]),
                                    ([0.5, 1], [Float.nan, 1]), ([0.5, 1], [-Float.infinity, 1])] {
            let result = compareTensor(name: "last_hidden_state", expected: FloatArray(shape: [1, 1, 2], values: golden),
                                       actual: FloatArray(shape: [1, 1, 2], values: candidate), layout: layout, perToken: true,
                                       tolerance: Tolerance(atol: .infinity, rtol: 0), minCosine: nil)
            #expect(result.status == .fail, "golden \(golden), candidate \(candidate)")
            #expect(result.rows.first?.status == .fail)
        }
    }
}
