import Foundation
import Testing
@testable import BertCheck

/// The output table: names, stack order, golden validation and verify all read it.
@Suite struct OutputRegistryTests {
    @Test func namesAndIndicesComeFromTheTable() {
        #expect(OutputRegistry.lookup("last_hidden_state")?.spec.name == "last_hidden_state")
        #expect(OutputRegistry.lookup("pooler_output")?.spec.rank == .perRow)
        let state = OutputRegistry.lookup("hidden_states.12")
        #expect(state?.spec.name == "hidden_states" && state?.index == 12)
        for bad in ["hidden_states.", "hidden_states.01", "hidden_states.-1", "hidden_states.1234567", "logits_x", "input_ids"] {
            #expect(OutputRegistry.lookup(bad) == nil, "\(bad)")
        }
        #expect(OutputRegistry.hiddenStates.tensorName(3) == "hidden_states.3")
        #expect(OutputRegistry.layerLabel(of: "hidden_states.0") == "embeddings")
        #expect(OutputRegistry.layerLabel(of: "hidden_states.4") == "layer 3")
        #expect(OutputRegistry.acceptsToleranceOverride("pooler_invariant"))
        #expect(!OutputRegistry.acceptsToleranceOverride("input_ids"))
    }

    @Test func stackOrderRunsFromTheEmbeddingsToThePooler() {
        let names = ["pooler_output", "hidden_states.2", "last_hidden_state", "hidden_states.0", "hidden_states.10"]
        let sorted = names.sorted { OutputRegistry.stackOrder(of: $0)! < OutputRegistry.stackOrder(of: $1)! }
        #expect(sorted == ["hidden_states.0", "hidden_states.2", "hidden_states.10", "last_hidden_state", "pooler_output"])
        #expect(OutputRegistry.stackOrder(of: "pooler_invariant") == nil)
        // The task heads and the sentence embedding come after the encoder's outputs.
        #expect(OutputRegistry.inStackOrder.map(\.name) == ["hidden_states", "last_hidden_state", "pooler_output", "logits", "start_logits",
                                                            "end_logits", "prediction_logits", "seq_relationship_logits", "sentence_embedding"])
    }

    @Test func modelOutputsHoldWhatTheForwardPassProduced() {
        let output = BertOutput(batch: 1, seq: 2, hidden: 2, lastHiddenState: [1, 2, 3, 4], poolerOutput: nil,
                                hiddenStates: [[0, 0, 0, 0], [1, 2, 3, 4]])
        let outputs = ModelOutputs(output)
        #expect(outputs.namesInStackOrder == ["hidden_states.0", "hidden_states.1", "last_hidden_state"])
        #expect(outputs.poolerOutput == nil)
        #expect(outputs["hidden_states.1"] == FloatArray(shape: [1, 2, 2], values: [1, 2, 3, 4]))
        #expect(OutputRegistry.poolerOutput.produce(output) == nil)
    }

    /// A golden with pooler_output, run through the same weights saved without a pooler: the
    /// encoder outputs pass and pooler_output is reported as not produced, not as a failure.
    @Test func anOutputTheModelCannotProduceIsReportedAsNotProduced() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try VerifyCommandTests.modelCopy(in: dir) { tensors in tensors.removeAll { $0.name.contains("pooler.") } }
        let report = try verifyGolden(VerifyOptions(goldenPath: VerifyCommandTests.tinyGolden, modelPath: model))
        let pooler = report.checks.first { $0.name == "pooler_output" }
        #expect(pooler?.status == .notProduced)
        #expect(pooler?.message == "not produced: the model has no pooler weights")
        #expect(report.status == .pass)
        #expect(report.firstDivergence == nil)

        let result = try CLI.run(["verify", "--golden", VerifyCommandTests.tinyGolden, "--model", model, "--junit", dir.appendingPathComponent("v.xml").path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("pooler_output      not produced"))
        #expect(result.stdout.contains("(1 not produced by the model)"))
        let junit = try String(contentsOf: dir.appendingPathComponent("v.xml"), encoding: .utf8)
        #expect(junit.contains("skipped=\"1\""))
        #expect(junit.contains("<skipped message=\"not produced: the model has no pooler weights\"/>"))
    }

    @Test func unexpectedTensorsAreNamedWithTheAllowedOnesFromTheTable() {
        let message = GoldenProblem.unexpectedTensor("attentions").description
        #expect(message == "unexpected tensor 'attentions' (allowed: input_ids, attention_mask, token_type_ids, last_hidden_state, pooler_output, hidden_states.N, logits, start_logits, end_logits, prediction_logits, seq_relationship_logits, sentence_embedding)")
        #expect(GoldenProblem.missingTensor("last_hidden_state").description.hasSuffix("holds input_ids, attention_mask, token_type_ids, last_hidden_state)"))
    }
}
