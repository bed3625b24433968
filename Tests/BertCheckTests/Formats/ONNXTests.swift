import Foundation
import Testing
@testable import BertCheck
import BertCheckRendering

/// Real exports of goldens/checkpoints/tiny-bert-distinct (Scripts/make_onnx_fixtures.py: the
/// TorchScript and dynamo exporters, onnxruntime's optimizer, quantize_dynamic per tensor and per
/// channel, fp16, external data, and a copy with one weight scaled by 1.02) read back under HF names.
@Suite struct ONNXTests {
    static let source = TinyCheckpoints.path("tiny-bert-distinct")
    static func export(_ form: String) -> String { TestPaths.goldens.appendingPathComponent("onnx/tiny-bert-\(form).onnx").path }
    static let fp32Forms = ["torchscript", "dynamo", "optimized", "external"]
    static let allForms = fp32Forms + ["int8", "int8-per-channel", "fp16"]

    /// What each form must be recognised as (a part of the `exporter` detail).
    static let recognisedAs = [
        "torchscript": "TorchScript", "dynamo": "dynamo", "optimized": "transformer optimizer",
        "external": "TorchScript", "int8": "quantize_dynamic", "int8-per-channel": "quantize_dynamic", "fp16": "fp16",
    ]

    @Test(arguments: allForms) func paramsRecoversEveryParameter(form: String) throws {
        let reference = try loadCheckpoint(Self.source)
        let onnx = try loadCheckpoint(Self.export(form))
        #expect(onnx.format == .onnx)
        let expected = Dictionary(uniqueKeysWithValues: reference.tensors.map { ($0.name, $0.shape) })
        let recovered = Dictionary(uniqueKeysWithValues: onnx.tensors.map { ($0.name, $0.shape) })
        #expect(recovered == expected)
        let exporter = onnx.details.first { $0.key == "exporter" }?.value ?? ""
        #expect(exporter.contains(Self.recognisedAs[form]!), "exporter: \(exporter)")
        #expect(!onnx.details.contains { $0.key == "unmapped" })
        switch form {
        case "fp16": #expect(onnx.tensors.allSatisfy { $0.dtype == .F16 })
        case "int8", "int8-per-channel":
            #expect(onnx.tensors.allSatisfy { $0.dtype == .F32 })
            #expect(onnx.dequantized["encoder.layer.0.attention.self.query.weight"]?.storedDType.isRealValued == false)
            #expect(onnx.dequantized["embeddings.word_embeddings.weight"] != nil)
        default: #expect(onnx.tensors.allSatisfy { $0.dtype == .F32 })
        }
    }

    @Test(arguments: allForms) func diffAgainstTheCheckpointPasses(form: String) throws {
        let report = try diffCheckpoints(Self.source, Self.export(form), settings: ToleranceSettings())
        #expect(report.status == .pass)
        #expect(report.missing.isEmpty && report.extra.isEmpty)
        #expect(report.tensors.count == 55)
        if Self.fp32Forms.contains(form) {
            // The same float32 values, only renamed and transposed.
            #expect(report.tensors.allSatisfy { $0.maxAbsErr == 0 })
            #expect(report.profile == .fp32)
        }
        if form == "fp16" { #expect(report.profile == .fp16) }
        if form.hasPrefix("int8") {
            #expect(report.profile == .int8)
            // Every quantized matrix differs, but by at most half a step.
            let onnx = try loadCheckpoint(Self.export(form))
            for t in report.tensors {
                guard let q = onnx.dequantized[t.name] else { continue }
                #expect((t.maxAbsErr ?? 1) <= q.largestStep / 2 * 1.0001 + 1e-6, "\(t.name)")
            }
        }
    }

    @Test func oneScaledWeightFailsTheDiffByName() throws {
        let report = try diffCheckpoints(Self.source, Self.export("scaled"), settings: ToleranceSettings())
        #expect(report.status == .fail)
        #expect(report.tensors.filter { $0.status == .fail }.map(\.name) == ["encoder.layer.1.output.dense.weight"])
        let failing = report.tensors.first { $0.status == .fail }
        #expect(abs((failing?.maxRelErr ?? 0) - 0.02) < 1e-4)
        let result = try CLI.run(["diff", Self.source, Self.export("scaled")])
        #expect(result.status == 1)
        #expect(result.stdout.contains("encoder.layer.1.output.dense.weight"))
        let passing = try CLI.run(["diff", Self.source, Self.export("torchscript"), "--json"])
        #expect(passing.status == 0)
    }

    /// tiny-bert's zero biases and unit LayerNorms are merged by both exporters into a few
    /// initializers (Scripts/make_onnx_merged_fixtures.py); each parameter is still recovered.
    @Test func mergedInitializersServeEveryParameter() throws {
        let torchscript = try diffCheckpoints(TinyCheckpoints.path("tiny-bert"), Self.export("merged-torchscript"), settings: ToleranceSettings())
        #expect(torchscript.status == .pass)
        #expect(torchscript.tensors.count == 55 && torchscript.tensors.allSatisfy { $0.maxAbsErr == 0 })
        // dynamo drops the pooler's Gemm bias (all zeros) from the graph: the graph adds none, so it
        // is read as zeros, and said so.
        let dynamo = try diffCheckpoints(TinyCheckpoints.path("tiny-bert"), Self.export("merged-dynamo"), settings: ToleranceSettings())
        #expect(dynamo.status == .pass)
        #expect(dynamo.tensors.count == 55 && dynamo.tensors.allSatisfy { $0.maxAbsErr == 0 })
        let details = try loadCheckpoint(Self.export("merged-dynamo")).details
        #expect(details.contains { $0.key == "zero biases" && $0.value.hasPrefix("pooler.dense.bias ") })
        // A checkpoint whose pooler bias is not zero fails on exactly that tensor.
        let distinct = try diffCheckpoints(Self.source, Self.export("merged-dynamo"), settings: ToleranceSettings())
        #expect(distinct.tensors.first { $0.name == "pooler.dense.bias" }?.status == .fail)
    }

    @Test func aTransposedButEqualWeightIsReportedAsSuch() throws {
        // An ONNX file holding output.dense.weight as [in, out] with no node saying so.
        let reference = try loadCheckpoint(Self.source)
        let weight = try #require(reference.tensors.first { $0.name == "encoder.layer.0.output.dense.weight" })
        let flipped = try #require(transposed(weight, name: weight.name))
        let path = try writeONNX(Proto.model(initializers: [
            Proto.tensor(weight.name, dims: flipped.shape.map(Int64.init), raw: Proto.floats(flipped.floats())),
        ]))
        let report = try diffCheckpoints(Self.source, path, settings: ToleranceSettings())
        let entry = try #require(report.tensors.first { $0.name == weight.name })
        #expect(entry.shapeA == [32, 48] && entry.shapeB == [48, 32])
        #expect(entry.transposedEqual && entry.status == .fail)
        #expect(CheckpointDiffRenderer.table(report, all: false).contains("(transposed: the values are equal after transposing)"))
        // The same shape swap with other values is only a shape difference.
        let other = try writeONNX(Proto.model(initializers: [
            Proto.tensor(weight.name, dims: flipped.shape.map(Int64.init), raw: Proto.floats(flipped.floats().map { $0 + 1 })),
        ]))
        let otherEntry = try diffCheckpoints(Self.source, other, settings: ToleranceSettings()).tensors.first { $0.name == weight.name }
        #expect(otherEntry?.transposedEqual == false)
    }

    @Test func buffersInOneCheckpointAreNeitherMissingNorExtra() throws {
        // tiny-bert-legacy saves embeddings.position_ids and token_type_ids; ONNX folds them away.
        let report = try diffCheckpoints(TinyCheckpoints.path("tiny-bert-legacy"), Self.export("merged-torchscript"), settings: ToleranceSettings())
        #expect(report.buffersOnlyInA == ["embeddings.position_ids", "embeddings.token_type_ids"])
        #expect(report.buffersOnlyInB.isEmpty)
        #expect(!report.missing.contains("embeddings.position_ids"))
        #expect(CheckpointDiffRenderer.table(report, all: false).contains("Buffers only in A (not parameters, not compared): embeddings.position_ids"))
    }

    @Test func paramsShowsTheExporterForm() throws {
        let human = try CLI.run(["params", Self.export("int8-per-channel")])
        #expect(human.status == 0)
        #expect(human.stdout.contains("exporter: "))
        #expect(human.stdout.contains("per-channel"))
        let json = try CLI.run(["params", Self.export("optimized"), "--json"])
        #expect(json.status == 0)
        #expect(json.stdout.contains("\"format\":\"onnx\"") || json.stdout.contains("\"format\": \"onnx\""))
        #expect(json.stdout.contains("transformer optimizer"))
    }

    // MARK: Synthetic graphs

    @Test func aMatMulWeightIsNamedByItsBiasAndUntransposed() throws {
        // [in 2, out 3] as MatMul stores it; the HF weight is its transpose.
        let w = Proto.tensor("onnx::MatMul_7", dims: [2, 3], raw: Proto.floats([1, 2, 3, 4, 5, 6]))
        let b = Proto.tensor("encoder.layer.0.output.dense.bias", dims: [3], raw: Proto.floats([0, 0, 0]))
        let nodes = [
            Proto.node("MatMul", name: "/x/MatMul", inputs: ["h", "onnx::MatMul_7"], outputs: ["m"]),
            Proto.node("Add", name: "/x/Add", inputs: ["encoder.layer.0.output.dense.bias", "m"], outputs: ["y"]),
        ]
        let contents = try ONNXFormat.read(try writeONNX(Proto.model(initializers: [w, b], nodes: nodes, producer: "pytorch")))
        let weight = contents.tensors.first { $0.name == "encoder.layer.0.output.dense.weight" }
        #expect(weight?.shape == [3, 2])
        #expect(weight?.floats() == [1, 4, 2, 5, 3, 6])
        #expect(contents.details.first?.value == "torch.onnx TorchScript export")
    }

    @Test func aWeightNoRuleNamesIsListedWithItsConsumer() throws {
        let w = Proto.tensor("mystery", dims: [2, 2], raw: Proto.floats([1, 2, 3, 4]))
        let shape = Proto.tensor("shape", dims: [2], type: 7, extra: Proto.packed(7, [1, 4]))
        let nodes = [Proto.node("Relu", name: "r", inputs: ["mystery"], outputs: ["y"]),
                     Proto.node("Reshape", name: "s", inputs: ["y", "shape"], outputs: ["z"])]
        let contents = try ONNXFormat.read(try writeONNX(Proto.model(initializers: [w, shape], nodes: nodes)))
        #expect(contents.tensors.map(\.name) == ["mystery"])
        #expect(contents.details.contains { $0.key == "unmapped" && $0.value == "mystery (consumed by Relu r (input 0))" })
        #expect(contents.details.contains { $0.key == "not weights" && $0.value.contains("shape") })
        // params lists it apart; diff reports it as extra, so the gate fails.
        #expect(parameterRole(ofStoredName: "mystery") == .ignored("mystery"))
    }

    /// Small graphs made with onnx.helper (Scripts/make_onnx_fuzz_seeds.py), one rule each.
    @Test(arguments: [
        ("linear", 2, false), ("external", 2, false), ("typed", 2, false), ("quantized", 2, true), ("dequantize", 1, true), ("fused", 17, false),
    ]) func everyRuleNamesItsWeights(model: String, count: Int, quantized: Bool) throws {
        let path = TestPaths.fixtures.appendingPathComponent("onnx/\(model).onnx").path
        let checkpoint = try loadCheckpoint(path)
        #expect(checkpoint.tensors.count == count)
        #expect(checkpoint.tensors.allSatisfy { ONNXGraphIndex.isHFName($0.name) }, "\(checkpoint.tensors.map(\.name))")
        #expect(!checkpoint.details.contains { $0.key == "unmapped" })
        #expect(checkpoint.dequantized.isEmpty != quantized)
    }

    @Test func aPackedQKVIsSplitIntoQueryKeyValue() throws {
        let checkpoint = try loadCheckpoint(TestPaths.fixtures.appendingPathComponent("onnx/fused.onnx").path)
        let onnx = try ONNXFile.read(TestPaths.fixtures.appendingPathComponent("onnx/fused.onnx").path)
        let packed = try #require(onnx.initializers.first { $0.name == "Attention_0_qkv_weight" })
        let values = packed.floats()  // [in 4, 3 * out 4]
        for (part, name) in ["query", "key", "value"].enumerated() {
            let weight = try #require(checkpoint.tensors.first { $0.name == "encoder.layer.0.attention.self.\(name).weight" })
            #expect(weight.shape == [4, 4])
            let w = weight.floats()
            for o in 0..<4 { for i in 0..<4 { #expect(w[o * 4 + i] == values[i * 12 + part * 4 + o]) } }
        }
    }

    @Test func typedFieldsAreDecoded() throws {
        let floats = Proto.tensor("a", dims: [2], extra: Proto.bytes(4, Proto.floats([1.5, -2])))
        // float16 1.0 = 0x3C00, -2.0 = 0xC000, carried in int32_data.
        let halves = Proto.tensor("b", dims: [2], type: 10, extra: Proto.packed(5, [0x3C00, 0xC000]))
        let int8s = Proto.tensor("c", dims: [2], type: 3, extra: Proto.packed(5, [-3, 7]))
        let onnx = try ONNXFile.read(try writeONNX(Proto.model(initializers: [floats, halves, int8s])))
        #expect(onnx.initializers.map { $0.floats() } == [[1.5, -2], [1, -2], [-3, 7]])
        #expect(onnx.initializers.map(\.dtype) == [.F32, .F16, .I8])
    }
}
