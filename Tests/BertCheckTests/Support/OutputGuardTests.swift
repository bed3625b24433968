import Foundation
import Testing
@testable import BertCheck

/// Outputs are written by rename: pointing one at an input must be refused, not replace the input.
@Suite struct OutputGuardTests {
    let tinyModel = TestPaths.goldens.appendingPathComponent("models/tiny-bert").path
    let tinyGolden = TestPaths.goldens.appendingPathComponent("tiny-bert.golden.safetensors").path

    @Test func recordRefusesToWriteOverTheModelsWeights() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("model")
        try FileManager.default.copyItem(atPath: tinyModel, toPath: model.path)
        let weights = model.appendingPathComponent("model.safetensors").path
        let before = try Data(contentsOf: URL(fileURLWithPath: weights))
        let texts = dir.appendingPathComponent("texts.json")
        try Data(#"["hello world"]"#.utf8).write(to: texts)
        let result = try CLI.run(["record", model.path, "--texts-file", texts.path, "--out", weights])
        expectInputError(result, naming: weights, containing: "input of this command")
        #expect(try Data(contentsOf: URL(fileURLWithPath: weights)) == before)
    }

    @Test func verifyRefusesJUnitOverTheGolden() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let golden = dir.appendingPathComponent("golden.safetensors").path
        try FileManager.default.copyItem(atPath: tinyGolden, toPath: golden)
        let before = try Data(contentsOf: URL(fileURLWithPath: golden))
        let result = try CLI.run(["verify", "--golden", golden, "--model", tinyModel, "--junit", golden])
        expectInputError(result, naming: golden, containing: "input of this command")
        #expect(try Data(contentsOf: URL(fileURLWithPath: golden)) == before)
    }

    @Test func freezeAcceptsStoredTaskCheckpointNames() throws {
        #expect(try FreezeStrategy.parse("bert.embeddings,encoder.layer.0-1") == .prefixes(["embeddings", "encoder.layer.0", "encoder.layer.1"]))
    }
}
