import Foundation
import Testing
@testable import BertCheck

/// `diff` compares parameters: buffers are reported and never fail it; a parameter stored twice
/// (legacy and modern names) fails it, as `params` reports it.
@Suite struct CheckpointDiffBufferTests {
    /// tiny-bert-legacy (buffers, gamma/beta names) with its safetensors rewritten by `edit`.
    static func legacyCopy(_ edit: (inout [Tensor]) -> Void) throws -> String {
        let dir = try TinyCheckpoints.copy("tiny-bert-legacy")
        try FileManager.default.removeItem(at: dir.appendingPathComponent("pytorch_model.bin"))
        let file = dir.appendingPathComponent("model.safetensors").path
        var (tensors, metadata) = try SafetensorsFile.read(file)
        edit(&tensors)
        try SafetensorsWriter.write(tensors, metadata: metadata, to: file + ".new")
        try FileManager.default.removeItem(atPath: file)
        try FileManager.default.moveItem(atPath: file + ".new", toPath: file)
        return dir.path
    }

    @Test func absentBuffersAreReportedNotFailed() throws {
        let resaved = try Self.legacyCopy { tensors in tensors.removeAll { $0.name.hasSuffix("position_ids") || $0.name.hasSuffix("embeddings.token_type_ids") } }
        let report = try diffCheckpoints(TinyCheckpoints.path("tiny-bert-legacy"), resaved, settings: ToleranceSettings())
        #expect(report.status == .pass)
        #expect(report.missing.isEmpty)
        #expect(report.buffersOnlyInA == ["embeddings.position_ids", "embeddings.token_type_ids"])
        let result = try CLI.run(["diff", TinyCheckpoints.path("tiny-bert-legacy"), resaved])
        #expect(result.status == 0)
        #expect(result.stdout.contains("Buffers only in A (not parameters, not compared): embeddings.position_ids"))
    }

    @Test func aParameterStoredTwiceFailsDiff() throws {
        let doubled = try Self.legacyCopy { tensors in
            guard let gamma = tensors.first(where: { $0.name == "bert.embeddings.LayerNorm.gamma" }) else { return }
            tensors.append(Tensor.makeTensor(name: "embeddings.LayerNorm.weight", floats: gamma.floats(), shape: gamma.shape))
        }
        let report = try diffCheckpoints(TinyCheckpoints.path("tiny-bert-legacy"), doubled, settings: ToleranceSettings())
        #expect(report.status == .fail)
        #expect(report.storedTwice.map(\.name) == ["embeddings.LayerNorm.weight"])
        #expect(report.storedTwice.first?.storedNames.sorted() == ["bert.embeddings.LayerNorm.gamma", "embeddings.LayerNorm.weight"])
        let result = try CLI.run(["diff", TinyCheckpoints.path("tiny-bert-legacy"), doubled])
        #expect(result.status == 1)
        #expect(!result.stdout.contains("none missing or extra"))
        #expect(result.stdout.contains("Stored twice in"))
        // params fails it the same way.
        #expect(try CLI.run(["params", doubled]).stdout.contains("unexpected embeddings.LayerNorm.weight"))
    }
}
