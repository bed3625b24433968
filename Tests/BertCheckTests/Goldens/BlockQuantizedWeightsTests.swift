import Foundation
import Testing
@testable import BertCheck

/// `diff HF_DIR model.gguf` holds each GGML block-quantized tensor to its type's bound on the
/// relative error and the gain (BlockQuantizedWeights.swift), on llama.cpp's own conversions.
@Suite struct BlockQuantizedWeightsTests {
    static let source = TestPaths.goldens.appendingPathComponent("checkpoints/tiny-bert-h256").path
    static let blockTypes = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q4_K_M"]
    static func gguf(_ type: String) -> String { GGUFTests.path("tiny-h256-\(type).gguf") }

    /// Every correct conversion passes; each block-quantized tensor carries its type's bound.
    @Test(arguments: blockTypes) func aCorrectConversionPasses(_ type: String) throws {
        let report = try diffCheckpoints(Self.source, Self.gguf(type), settings: ToleranceSettings())
        #expect(report.status == .pass, "\(report.tensors.filter { $0.status == .fail }.map { "\($0.name) \($0.relativeError ?? -1) \($0.gain ?? -1)" })")
        let blocks = report.tensors.filter { $0.dtypeB.isQuantized }
        #expect(!blocks.isEmpty)
        for t in blocks {
            #expect(t.quantizationBound == BlockQuantizationBound.forType(t.dtypeB))
            #expect((t.relativeError ?? 0) > 0, "\(t.name): a quantized tensor differs from its source")
        }
    }

    /// One tensor 2% off (here the source's, divided by 1.02: the same as a converter scaling the
    /// GGUF's) fails every type but Q2_K, on that tensor alone, with the factor as its gain.
    @Test(arguments: blockTypes.filter { $0 != "Q2_K" }) func aTwoPercentScalingFails(_ type: String) throws {
        let scaled = try Self.sourceWithScaledTensor("encoder.layer.0.output.dense.weight", by: 1 / 1.02)
        defer { try? FileManager.default.removeItem(atPath: scaled) }
        let report = try diffCheckpoints(scaled, Self.gguf(type), settings: ToleranceSettings())
        #expect(report.status == .fail)
        let failing = report.tensors.filter { $0.status == .fail }
        #expect(failing.map(\.name) == ["encoder.layer.0.output.dense.weight"], "\(type): \(failing.map(\.name))")
        #expect(abs((failing.first?.gain ?? 0) - 0.02) < 0.006, "\(type): gain \(failing.first?.gain ?? .nan)")
    }

    /// An elementwise tolerance the user sets replaces the block bound (their rule, not ours).
    @Test func anExplicitToleranceIsElementwise() throws {
        let report = try diffCheckpoints(Self.source, Self.gguf("Q4_0"), settings: ToleranceSettings(atol: 1e-6))
        #expect(report.status == .fail)
        #expect(report.tensors.allSatisfy { $0.quantizationBound == nil })
    }

    /// The relative error and gain of known vectors.
    @Test func theFiguresOfKnownVectors() {
        var scaled = QuantizationErrorAccumulator()
        for a in [1.0, -2.0, 3.0] { scaled.add(a, a * 1.02) }
        #expect(abs(scaled.gain - 0.02) < 1e-12 && abs(scaled.relativeError - 0.02) < 1e-12)
        var noise = QuantizationErrorAccumulator()
        for (a, b) in [(1.0, 1.1), (1.0, 0.9)] { noise.add(a, b) }
        #expect(abs(noise.gain) < 1e-12 && abs(noise.relativeError - 0.1) < 1e-12)
        var zero = QuantizationErrorAccumulator()
        zero.add(0, 1)
        #expect(zero.relativeError == .infinity && zero.gain == 0)
    }

    /// A copy of the source checkpoint with `name` multiplied by `factor`.
    static func sourceWithScaledTensor(_ name: String, by factor: Float) throws -> String {
        let directory = TestPaths.temporaryDirectory()
        for file in ["config.json", "vocab.txt"] {
            try FileManager.default.copyItem(atPath: source + "/" + file, toPath: directory.appendingPathComponent(file).path)
        }
        let (tensors, metadata) = try SafetensorsFile.read(source + "/model.safetensors")
        let edited = tensors.map { t in
            t.name == name ? Tensor.makeTensor(name: t.name, floats: t.floats().map { $0 * factor }, shape: t.shape) : t
        }
        try SafetensorsWriter.write(edited, metadata: metadata, to: directory.appendingPathComponent("model.safetensors").path)
        return directory.path
    }
}
