import Foundation
import Testing
@testable import BertCheck

// Issue 18, defect 10: a golden's own tolerances are bounded, F64 values are compared in Double,
// tensor names compare as bytes.

@Suite struct GoldenEdgeTests {
    static let model = TestPaths.goldens.appendingPathComponent("models/tiny-bert").path

    @Test(arguments: ["1e308", "1.5", "1000"]) func aGoldenCannotLoosenItsOwnCheckPastOne(_ atol: String) throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let golden = try recordGolden(modelPath: Self.model, texts: [TextItem("a tiny text")], hiddenStates: false)
        let path = root.appendingPathComponent("loose.safetensors").path
        try SafetensorsWriter.write(golden.tensorsForWriting(), metadata: golden.metadataForWriting.merging(["atol": atol]) { _, b in b }, to: path)
        let result = try CLI.run(["verify", "--golden", path, "--model", Self.model])
        expectInputError(result, naming: path, containing: "looser than 1, the most a golden may ask for")
        // At the bound it is accepted.
        try FileManager.default.removeItem(atPath: path)
        try SafetensorsWriter.write(golden.tensorsForWriting(), metadata: golden.metadataForWriting.merging(["rtol": "1"]) { _, b in b }, to: path)
        #expect(try CLI.run(["verify", "--golden", path, "--model", Self.model]).status == 0)
    }

    static func f64(_ values: [Double]) -> Tensor {
        values.withUnsafeBytes { Tensor.makeTensor(name: "last_hidden_state", dtype: .F64, shape: [1, 1, values.count], bytes: $0) }
    }

    @Test func f64ValuesBeyondFloatAreComparedInDouble() throws {
        let golden = try GoldenFile.floatOutput(Self.f64([1e39, 1e300, 1.0]))
        let candidate = try GoldenFile.floatOutput(Self.f64([1e300, 1e39, 1.0]))
        #expect(golden.exact(0) == 1e39 && golden.exact(1) == 1e300)
        let layout = TokenLayout(batch: 1, seq: 1, mask: nil)
        let tolerance = Tolerance(atol: 1e-4, rtol: 1e-4)
        let differ = compareTensor(name: "last_hidden_state", expected: golden, actual: candidate, layout: layout, perToken: true,
                                   tolerance: tolerance, minCosine: nil)
        #expect(differ.status == .fail && differ.mismatched == 2 && differ.nonFiniteGolden == 0 && differ.nonFinite == 0)
        let same = compareTensor(name: "last_hidden_state", expected: golden, actual: golden, layout: layout, perToken: true,
                                 tolerance: tolerance, minCosine: nil)
        #expect(same.status == .pass, "\(same.message ?? "")")
    }

    @Test func jsonKeysCompareAsBytes() throws {
        let text = "{\"\u{e9}\": 1, \"e\u{301}\": 2}"
        let value = try Array(text.utf8).withUnsafeBytes { try StrictJSON.parse($0) }
        #expect(value.members?.count == 2)
        let twice = "{\"\u{e9}\": 1, \"\u{e9}\": 2}"
        #expect(throws: JSONProblem.self) { try Array(twice.utf8).withUnsafeBytes { try StrictJSON.parse($0) } }
    }

    /// Two names equal only after Unicode normalisation are two tensors: the golden is refused for
    /// an unexpected name, not for a duplicate.
    @Test func tensorNamesCompareAsBytes() throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let golden = try recordGolden(modelPath: Self.model, texts: [TextItem("a tiny text")], hiddenStates: false)
        let extra = [Float(1)].withUnsafeBytes { bytes in
            ["x\u{e9}", "xe\u{301}"].map { Tensor.makeTensor(name: $0, dtype: .F32, shape: [1], bytes: bytes) }
        }
        let path = root.appendingPathComponent("names.safetensors").path
        try SafetensorsWriter.write(golden.tensorsForWriting() + extra, metadata: golden.metadataForWriting, to: path)
        let result = try CLI.run(["verify", "--golden", path, "--model", Self.model])
        expectInputError(result, naming: path)
        #expect(!result.stderr.contains("duplicate"), "\(result.stderr)")
    }
}
