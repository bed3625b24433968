// How a Swift project's own tests gate its BERT model with BertCheck, through the public API only
// (no @testable): this target is what another package that depends on the `BertCheck` product sees.
// The model is the committed tiny BERT (goldens/models/tiny-bert, with its vocabulary) and the
// golden the one transformers recorded for it (goldens/tiny-bert.golden.safetensors).
import Foundation
import Testing
import BertCheck

/// Where the committed model and golden are: this file is Tests/PublicAPITests/GateModelTests.swift.
enum Repository {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let model = root.appendingPathComponent("goldens/models/tiny-bert").path
    static let golden = root.appendingPathComponent("goldens/tiny-bert.golden.safetensors").path
}

@Suite struct GateModelTests {
    /// The whole gate in one call: run the model on the golden's inputs and compare every output
    /// the golden holds, with the tolerance profile of the model's weights.
    @Test func theModelMatchesItsGolden() throws {
        let report = try verifyGolden(VerifyOptions(goldenPath: Repository.golden, modelPath: Repository.model))
        #expect(report.status == .pass, "first divergence: \(report.firstDivergence ?? "none")")
        #expect(report.firstDivergence == nil)
        #expect(report.weightDType == .F32 && report.profile == .fp32)
        // Every hidden state, the last one and the pooler were compared, and the tokenizer agreed.
        let names = Set(report.checks.map(\.name))
        #expect(names.isSuperset(of: ["input_ids", "last_hidden_state", "pooler_output", "pooler_invariant"]))
        #expect(report.layerChecks.count == 4, "the embedding output and three layers: \(report.layerChecks.map(\.name))")
        #expect(report.checks.allSatisfy { $0.status == .pass })
    }

    /// Outputs held in memory (from this model, or from any runtime the package wraps) against
    /// the golden: no file but the golden is involved.
    @Test func outputsInMemoryMatchTheGolden() throws {
        let golden = try GoldenFile.read(Repository.golden)
        let model = try BertModel(checkpoint: loadCheckpoint(Repository.model))
        let outputs = ModelOutputs(try model.forward(golden.inputBatch, outputHiddenStates: true))
        let report = verifyGolden(golden, outputs: outputs)
        #expect(report.status == .pass, "first divergence: \(report.firstDivergence ?? "none")")
        #expect(report.layerChecks.count == 4)
        #expect(Set(report.checks.map(\.name)).isSuperset(of: ["last_hidden_state", "pooler_output"]))
        for check in report.checks {
            #expect(check.status == .pass, "\(check.name): \(check.status), max abs error \(check.maxAbsErr ?? .nan)")
        }
    }

    /// The gate must be able to fail: one layer's weights nudged in memory make that layer's
    /// output, and everything after it, diverge from the golden, while the layers before it
    /// still match.
    @Test func aCorruptedModelInMemoryFails() throws {
        let golden = try GoldenFile.read(Repository.golden)
        let checkpoint = try loadCheckpoint(Repository.model)
        let corrupted = try checkpoint.replacing("encoder.layer.1.intermediate.dense.weight") { $0 + 0.05 }
        let model = try BertModel(checkpoint: corrupted)
        let report = try verifyGolden(golden, model: model, tokenizer: BertTokenizer.load(Repository.model))
        #expect(report.status == .fail)
        #expect(report.firstDivergence == "hidden_states.2", "layer 1's output is hidden_states.2")
        let status = Dictionary(uniqueKeysWithValues: report.checks.map { ($0.name, $0.status) })
        #expect(status["input_ids"] == .pass, "the tokenizer still agrees")
        #expect(status["hidden_states.0"] == .pass && status["hidden_states.1"] == .pass)
        #expect(status["hidden_states.3"] == .fail && status["last_hidden_state"] == .fail && status["pooler_output"] == .fail)
    }

    /// The same through files, as CI would meet a broken conversion: a perturbed copy of the
    /// checkpoint fails `verifyGolden`, which names the first output that diverges.
    @Test func aCorruptedCopyOnDiskFailsAndNamesTheFirstDivergence() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("public-api-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for name in try FileManager.default.contentsOfDirectory(atPath: Repository.model) where name != "model.safetensors" {
            try FileManager.default.copyItem(atPath: Repository.model + "/" + name, toPath: directory.appendingPathComponent(name).path)
        }
        let checkpoint = try loadCheckpoint(Repository.model)
        let corrupted = try checkpoint.replacing("encoder.layer.2.attention.output.dense.weight") { $0 * 1.5 }
        try SafetensorsWriter.write(corrupted.tensors, metadata: ["format": "pt"],
                                    to: directory.appendingPathComponent("model.safetensors").path)

        let report = try verifyGolden(VerifyOptions(goldenPath: Repository.golden, modelPath: directory.path))
        #expect(report.status == .fail)
        #expect(report.firstDivergence == "hidden_states.3", "layer 2's output is hidden_states.3")
    }

    /// A file that is not a checkpoint is a typed error naming the file, not a crash.
    @Test func aBrokenWeightsFileIsAnErrorNamingIt() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("public-api-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data([0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0x7B]).write(to: file)
        let error = #expect(throws: FileError.self) { try loadCheckpoint(file.path) }
        #expect(error?.path == file.path)
    }
}

extension Checkpoint {
    /// This checkpoint with one tensor's values changed in memory (the weights file is untouched).
    func replacing(_ name: String, _ change: (Float) -> Float) throws -> Checkpoint {
        guard let index = tensors.firstIndex(where: { $0.name == name }) else {
            throw CocoaError(.coderValueNotFound, userInfo: [NSDebugDescriptionErrorKey: "no tensor \(name)"])
        }
        var changed = tensors
        let original = tensors[index]
        changed[index] = Tensor.makeTensor(name: name, floats: original.floats().map(change), shape: original.shape)
        return Checkpoint(path: path, format: format, files: files, tensors: changed, config: config, configPath: configPath,
                          tokenizer: tokenizer, details: details)
    }
}
