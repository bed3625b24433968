import Foundation
import Testing
@testable import BertCheck

/// Inputs, weights and configs the forward pass must refuse, naming what is wrong.
@Suite struct ForwardInputErrorTests {
    static func tinyModel(_ act: String = "gelu", edit: ((inout String) -> Void)? = nil) throws -> (BertModel, URL) {
        let directory = TestPaths.temporaryDirectory()
        try SyntheticBert.write(SyntheticBert.tiny(act), scale: 0.3, to: directory)
        return (try BertModel(checkpoint: loadCheckpoint(directory.path)), directory)
    }

    static func batch(ids: [Int], types: [Int]? = nil, mask: [Int]? = nil) -> Batch {
        Batch(batch: 1, seq: ids.count, inputIds: ids, attentionMask: mask ?? ids.map { _ in 1 },
              tokenTypeIds: types ?? ids.map { _ in 0 })
    }

    @Test func idsTypesLengthsAndMasksOutOfRangeAreInputErrors() throws {
        let (model, directory) = try Self.tinyModel()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(throws: InputProblem.tokenIdOutOfRange(row: 0, position: 1, id: 99, vocabularySize: 99)) {
            try model.forward(Self.batch(ids: [1, 99, 3]))
        }
        #expect(throws: InputProblem.tokenIdOutOfRange(row: 0, position: 0, id: -1, vocabularySize: 99)) {
            try model.forward(Self.batch(ids: [-1]))
        }
        #expect(throws: InputProblem.tokenTypeOutOfRange(row: 0, position: 2, tokenType: 3, typeVocabularySize: 3)) {
            try model.forward(Self.batch(ids: [1, 2, 3], types: [0, 2, 3]))
        }
        #expect(throws: InputProblem.sequenceTooLong(length: 41, maximum: 40)) {
            try model.forward(Self.batch(ids: [Int](repeating: 5, count: 41)))
        }
        #expect(throws: InputProblem.attentionMaskNotBinary(row: 0, position: 0, value: 2)) {
            try model.forward(Self.batch(ids: [5], mask: [2]))
        }
        #expect(throws: InputProblem.emptyBatch) {
            try model.forward(Batch(batch: 0, seq: 0, inputIds: [], attentionMask: [], tokenTypeIds: []))
        }
        #expect(throws: InputProblem.self) {
            try model.forward(Batch(batch: 2, seq: 2, inputIds: [1, 2, 3], attentionMask: [1, 1, 1, 1], tokenTypeIds: [0, 0, 0, 0]))
        }
        // The longest allowed sequence runs.
        let output = try model.forward(Self.batch(ids: [Int](repeating: 5, count: 40)))
        #expect(output.lastHiddenState.count == 40 * 32)
        #expect(output.lastHiddenState.allSatisfy { $0.isFinite })
    }

    /// Rewrites one tensor of a tiny checkpoint and expects `BertModel` to refuse it.
    func refusal(_ problem: WeightProblem, change: (inout [Tensor]) -> Void) throws {
        let directory = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try SyntheticBert.write(SyntheticBert.tiny("gelu"), scale: 0.3, to: directory)
        let file = directory.appendingPathComponent("model.safetensors").path
        var tensors = try SafetensorsFile.read(file).tensors.map { t in
            t.withFloats { Tensor.makeTensor(name: t.name, floats: Array($0), shape: t.shape) }
        }
        change(&tensors)
        try SafetensorsWriter.write(tensors, metadata: [:], to: file)
        do {
            _ = try BertModel(checkpoint: loadCheckpoint(directory.path))
            Issue.record("expected \(problem)")
        } catch let error as FileError {
            #expect(error.path == file)
            #expect((error.problem as? WeightProblem) == problem, "\(error)")
        }
    }

    @Test func wrongShapesMissingTensorsAndHalfPoolersAreRefusedNamingTheFile() throws {
        try refusal(.wrongShape(name: "encoder.layer.1.intermediate.dense.weight", expected: [64, 32], actual: [32, 64])) { tensors in
            let i = tensors.firstIndex { $0.name == "encoder.layer.1.intermediate.dense.weight" }!
            tensors[i] = Tensor.makeTensor(name: tensors[i].name, floats: tensors[i].floats(), shape: [32, 64])
        }
        try refusal(.missing("encoder.layer.0.attention.self.key.bias")) { tensors in
            tensors.removeAll { $0.name == "encoder.layer.0.attention.self.key.bias" }
        }
        try refusal(.incompletePooler(present: "pooler.dense.weight", missing: "pooler.dense.bias")) { tensors in
            tensors.removeAll { $0.name == "pooler.dense.bias" }
        }
        try refusal(.notFloatingPoint(name: "embeddings.LayerNorm.bias", dtype: .I64)) { tensors in
            let i = tensors.firstIndex { $0.name == "embeddings.LayerNorm.bias" }!
            tensors[i] = Tensor.makeTensor(name: tensors[i].name, int64s: [Int64](repeating: 0, count: 32), shape: [32])
        }
        try refusal(.duplicate("embeddings.LayerNorm.bias")) { tensors in
            let t = tensors.first { $0.name == "embeddings.LayerNorm.bias" }!
            tensors.append(Tensor.makeTensor(name: "bert.embeddings.LayerNorm.beta", floats: t.floats(), shape: [32]))
        }
        #expect(WeightProblem.wrongShape(name: "w", expected: [64, 32], actual: [32, 64]).description.contains("transposed"))
    }

    @Test func taskCheckpointNamesAreAccepted() throws {
        // bert.* prefixes and LayerNorm.gamma/beta, plus a cls.* head that is ignored.
        let directory = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try SyntheticBert.write(SyntheticBert.tiny("gelu"), scale: 0.3, to: directory)
        let file = directory.appendingPathComponent("model.safetensors").path
        var tensors = try SafetensorsFile.read(file).tensors.map { t -> Tensor in
            var name = "bert." + t.name
            if name.hasSuffix("LayerNorm.weight") { name = String(name.dropLast(6)) + "gamma" }
            if name.hasSuffix("LayerNorm.bias") { name = String(name.dropLast(4)) + "beta" }
            return t.withFloats { Tensor.makeTensor(name: name, floats: Array($0), shape: t.shape) }
        }
        tensors.append(Tensor.makeTensor(name: "cls.predictions.bias", floats: [Float](repeating: 0, count: 99), shape: [99]))
        try SafetensorsWriter.write(tensors, metadata: [:], to: file)
        let model = try BertModel(checkpoint: loadCheckpoint(directory.path))
        try ForwardGolden("tiny-gelu-f32.safetensors").check(model)
    }

    @Test func badConfigsAreRefusedNamingConfigJSON() throws {
        let directory = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try SyntheticBert.write(SyntheticBert.tiny("gelu"), scale: 0.3, to: directory)
        let base = try loadCheckpoint(directory.path)
        func refused(_ edit: (inout BertConfig) -> Void) -> WeightProblem? {
            var config = base.config ?? BertConfig()
            edit(&config)
            let checkpoint = Checkpoint(path: base.path, format: base.format, files: base.files, tensors: base.tensors,
                                        config: config, configPath: base.configPath)
            do {
                _ = try BertModel(checkpoint: checkpoint)
                return nil
            } catch let error as FileError {
                #expect(error.path == base.configPath)
                return error.problem as? WeightProblem
            } catch {
                return nil
            }
        }
        #expect(refused { $0.hiddenAct = "swish" } == .unsupportedActivation("swish"))
        #expect(refused { $0.positionEmbeddingType = "relative_key" } == .unsupportedPositionEmbedding("relative_key"))
        #expect(refused { $0.numAttentionHeads = 5 } != nil)
        #expect(refused { $0.hiddenSize = -32 } != nil)
        #expect(refused { $0.layerNormEps = .nan } != nil)
        let noConfig = Checkpoint(path: base.path, format: base.format, files: base.files, tensors: base.tensors, config: nil, configPath: nil)
        #expect(throws: FileError.self) { try BertModel(checkpoint: noConfig) }
    }
}
