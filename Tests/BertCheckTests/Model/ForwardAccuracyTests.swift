import Foundation
import Testing
@testable import BertCheck

/// The forward pass against transformers' recorded outputs (goldens/forward/).
@Suite struct ForwardAccuracyTests {
    @Test func miniLMMatchesTransformersOnTheNotebookText() throws {
        let model = try BertModel(checkpoint: loadCheckpoint(TestPaths.miniLM))
        #expect(model.hasPooler)
        #expect(model.weightDType == .F32)
        try ForwardGolden("minilm-single.safetensors").check(model)
    }

    @Test func miniLMMatchesTransformersOnAPaddedBatchOfPairs() throws {
        let model = try BertModel(checkpoint: loadCheckpoint(TestPaths.miniLM))
        let golden = try ForwardGolden("minilm-pairs.safetensors")
        #expect(golden.batch.attentionMask.contains(0), "the batch must contain padding")
        #expect(golden.batch.tokenTypeIds.contains(1), "the batch must contain second segments")
        try golden.check(model)
    }

    @Test func miniLMMatchesTransformersAtTheFullPositionTable() throws {
        let model = try BertModel(checkpoint: loadCheckpoint(TestPaths.miniLM))
        let golden = try ForwardGolden("minilm-512.safetensors")
        #expect(golden.batch.seq == 512)
        try golden.check(model)
    }

    @Test(.tags(.slow), .skippedInFastLoop) func bertBaseShapedModelMatchesTransformers() throws {
        // 440 MB: in memory (/dev/shm) when there is one, to spare the disk.
        let shm = URL(fileURLWithPath: "/dev/shm")
        let directory = FileManager.default.isWritableFile(atPath: shm.path)
            ? shm.appendingPathComponent("bertcheck-test-\(UUID().uuidString)") : TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try SyntheticBert.write(SyntheticBert.bertBase, scale: 0.05, to: directory)
        let model = try BertModel(checkpoint: loadCheckpoint(directory.path))
        #expect(model.config.numHiddenLayers == 12 && model.config.hiddenSize == 768)
        try ForwardGolden("bertbase-pairs.safetensors").check(model)
        try ForwardGolden("bertbase-single.safetensors").check(model)
    }

    @Test(arguments: [("gelu", DType.F32), ("gelu_new", .F32), ("gelu_pytorch_tanh", .F32), ("relu", .F32),
                      ("gelu", .F16), ("gelu", .BF16)])
    func tinyModelsMatchTransformers(act: String, dtype: DType) throws {
        let directory = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try SyntheticBert.write(SyntheticBert.tiny(act), scale: 0.3, dtype: dtype, to: directory)
        let model = try BertModel(checkpoint: loadCheckpoint(directory.path))
        #expect(model.weightDType == dtype)
        let golden = try ForwardGolden("tiny-\(act)-\(dtype.rawValue.lowercased()).safetensors")
        #expect(golden.batch.seq == 40, "the last row fills the position table")
        try golden.check(model)
    }

    /// The comparison must be able to fail: the same weights under another activation, or one
    /// weight changed, are caught.
    @Test func theComparisonCatchesAWrongModel() throws {
        let directory = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try SyntheticBert.write(SyntheticBert.tiny("gelu_new"), scale: 0.3, to: directory)
        let model = try BertModel(checkpoint: loadCheckpoint(directory.path))
        let golden = try ForwardGolden("tiny-gelu-f32.safetensors")
        let output = try model.forward(golden.batch, outputHiddenStates: true)
        #expect(golden.maxError(hiddenTensor: "hidden_states.0", output.hiddenStates?[0] ?? []) <= 1e-5, "embeddings agree")
        #expect(golden.maxError(hiddenTensor: "hidden_states.1", output.hiddenStates?[1] ?? []) > 1e-4, "layer 0 differs")
        #expect(golden.maxError(hiddenTensor: "last_hidden_state", output.lastHiddenState) > 1e-4)
    }

    @Test func modelWithoutPoolerStillGivesLastHiddenState() throws {
        let directory = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try SyntheticBert.write(SyntheticBert.tiny("gelu"), scale: 0.3, pooler: false, to: directory)
        let model = try BertModel(checkpoint: loadCheckpoint(directory.path))
        #expect(!model.hasPooler)
        let golden = try ForwardGolden("tiny-gelu-f32.safetensors")
        let output = try model.forward(golden.batch)
        #expect(output.poolerOutput == nil)
        #expect(model.pool([Float](repeating: 0, count: 32), rows: 1) == nil)
        #expect(golden.maxError(hiddenTensor: "last_hidden_state", output.lastHiddenState) <= 1e-5)
    }

    @Test func poolRecomputesThePoolerOutputFromTheCLSRows() throws {
        let model = try BertModel(checkpoint: loadCheckpoint(TestPaths.miniLM))
        let golden = try ForwardGolden("minilm-pairs.safetensors")
        let output = try model.forward(golden.batch)
        let h = output.hidden
        var cls: [Float] = []
        for row in 0..<output.batch { cls += output.lastHiddenState[(row * output.seq * h)..<(row * output.seq * h + h)] }
        #expect(model.pool(cls, rows: output.batch) == output.poolerOutput)
        #expect(golden.maxError(pooler: model.pool(cls, rows: output.batch)) <= 1e-5)
    }

    @Test func repeatedAndDifferentlyShapedBatchesGiveTheSameRows() throws {
        let model = try BertModel(checkpoint: loadCheckpoint(TestPaths.miniLM))
        let golden = try ForwardGolden("minilm-pairs.safetensors")
        // Row 2 alone, cut to its real length: the same numbers as inside the padded batch.
        let s = golden.batch.seq
        let length = golden.batch.attentionMask[(2 * s)..<(3 * s)].reduce(0, +)
        let single = Batch(batch: 1, seq: length, inputIds: Array(golden.batch.inputIds[(2 * s)..<(2 * s + length)]),
                           attentionMask: [Int](repeating: 1, count: length),
                           tokenTypeIds: Array(golden.batch.tokenTypeIds[(2 * s)..<(2 * s + length)]))
        let alone = try model.forward(single)
        let batched = try model.forward(golden.batch)
        let again = try model.forward(golden.batch)
        #expect(batched.lastHiddenState == again.lastHiddenState)
        let h = alone.hidden
        let rowInBatch = Array(batched.lastHiddenState[(2 * s * h)..<(2 * s * h + length * h)])
        let worst = zip(rowInBatch, alone.lastHiddenState).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-5)
    }

    @Test func releasedWeightPagesComeBackUnchanged() throws {
        let model = try BertModel(checkpoint: loadCheckpoint(TestPaths.miniLM))
        // The default keeps 192 MiB for small batches and everything for large ones.
        #expect(model.residentWeightBudget(tokens: 128) == BertModel.smallBatchResidentWeights)
        #expect(model.residentWeightBudget(tokens: 8 * 128) == .max)
        let golden = try ForwardGolden("minilm-pairs.safetensors")
        model.residentWeightBudget = .max
        let kept = try model.forward(golden.batch)
        // Every layer drops its pages after it ran; the next pass faults them back in.
        model.residentWeightBudget = 0
        #expect(model.residentWeightBudget(tokens: 8 * 128) == 0)
        let released = try model.forward(golden.batch)
        let again = try model.forward(golden.batch)
        #expect(released.lastHiddenState == kept.lastHiddenState)
        #expect(again.lastHiddenState == kept.lastHiddenState)
        #expect(again.poolerOutput == kept.poolerOutput)
    }
}
