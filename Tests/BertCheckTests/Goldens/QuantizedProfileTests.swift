import Foundation
import Testing
@testable import BertCheck

/// The quantized tolerance profiles (int8, q8, q6, q5, q4): which one a candidate gets, the
/// floors against real conversions (llama.cpp GGUFs of tiny-bert-h256, ONNX Runtime int8 outputs of
/// all-MiniLM-L6-v2 written by Scripts/measure_quant_profiles.py --dumps), and `--atol inf`.
@Suite struct QuantizedProfileTests {
    static let gguf = TestPaths.goldens.appendingPathComponent("gguf").path
    static let tinyGolden = TestPaths.goldens.appendingPathComponent("tiny-bert-h256.golden.safetensors").path
    static let minilmGolden = TestPaths.goldens.appendingPathComponent("all-MiniLM-L6-v2.golden.safetensors").path
    static func dump(_ kind: String) -> String {
        TestPaths.goldens.appendingPathComponent("profiles/all-MiniLM-L6-v2-ort-int8-\(kind).npz").path
    }

    static func report(_ arguments: [String]) throws -> (status: Int32, json: JSONValue, stdout: String) {
        let result = try CLI.run(["verify", "--json"] + arguments)
        #expect(result.stderr.isEmpty, "\(result.stderr)")
        return (result.status, try StrictJSON.parse(Array(result.stdout.utf8)), result.stdout)
    }

    static func check(_ json: JSONValue, _ name: String) -> JSONValue? {
        json["checks"]?.elements?.first { $0["name"]?.string == name }
    }

    @Test func everyWeightTypeHasItsProfile() {
        let expected: [DType: ToleranceProfile] = [
            .F32: .fp32, .F64: .fp32, .F16: .fp16, .BF16: .bf16, .I8: .int8, .U8: .int8, .Q8_0: .q8, .Q6_K: .q6,
            .Q5_0: .q5, .Q5_1: .q5, .Q5_K: .q5, .Q4_0: .q4, .Q4_1: .q4, .Q4_K: .q4, .Q3_K: .q4, .Q2_K: .q4,
        ]
        for (dtype, profile) in expected { #expect(ToleranceProfile.forWeights(dtype) == profile, "\(dtype)") }
        #expect(ToleranceProfile.forWeights(nil) == .fp32)
        // Coarser quantization, lower floors.
        let quantized: [ToleranceProfile] = [.q8, .q6, .q5, .q4]
        for (finer, coarser) in zip(quantized, quantized.dropFirst()) {
            #expect((finer.minTokenCosine ?? 0) > (coarser.minTokenCosine ?? 0))
            #expect(finer.minRowCosine > coarser.minRowCosine)
        }
        #expect(ToleranceProfile.allCases.filter(\.isQuantized) == [.int8, .q8, .q6, .q5, .q4])
        #expect(ToleranceProfile.allCases.filter { !$0.isQuantized }.allSatisfy { $0.minTokenCosine == nil })
    }

    /// llama.cpp's conversions of tiny-bert-h256: the coarsest quantized type decides (Q4_K_M mixes
    /// Q4_K with Q6_K: q4), float files keep the dtype holding most weights.
    @Test(arguments: [("F32", ToleranceProfile.fp32), ("F16", .fp16), ("BF16", .bf16), ("Q8_0", .q8), ("Q6_K", .q6),
                      ("Q5_0", .q5), ("Q5_1", .q5), ("Q5_K", .q5), ("Q4_0", .q4), ("Q4_1", .q4), ("Q4_K", .q4),
                      ("Q4_K_M", .q4), ("Q3_K", .q4), ("Q2_K", .q4)])
    func ggufTypesInferTheirProfile(type: String, profile: ToleranceProfile) throws {
        let checkpoint = try loadCheckpoint(Self.gguf + "/tiny-h256-\(type).gguf")
        let (inferred, note) = ToleranceProfile.forWeights(checkpoint.tensors, dequantized: checkpoint.dequantized)
        #expect(inferred == profile)
        #expect((note != nil) == profile.isQuantized)
        if type == "Q4_K_M" { #expect(note?.contains("Q4_K, Q6_K") == true, "\(note ?? "")") }
        // The types coarser than every profile are said to be.
        #expect((note?.contains("coarser than every profile") == true) == ["Q3_K", "Q2_K"].contains(type))
    }

    @Test(arguments: ["int8", "int8-per-channel"])
    func onnxInt8WeightsInferInt8(form: String) throws {
        let checkpoint = try loadCheckpoint(TestPaths.goldens.appendingPathComponent("onnx/tiny-bert-\(form).onnx").path)
        #expect(ToleranceProfile.forWeights(checkpoint.tensors, dequantized: checkpoint.dequantized).profile == .int8)
        let fp32 = try loadCheckpoint(TestPaths.goldens.appendingPathComponent("onnx/tiny-bert-torchscript.onnx").path)
        #expect(ToleranceProfile.forWeights(fp32.tensors, dequantized: fp32.dequantized).profile == .fp32)
    }

    /// verify picks the q-profile of a GGUF by itself, checks the mean-pooled rows and notes both.
    @Test func verifyInfersTheProfileOfAGGUF() throws {
        for (type, profile) in [("Q8_0", "q8"), ("Q6_K", "q6"), ("Q5_0", "q5"), ("Q4_K_M", "q4"), ("Q4_0", "q4")] {
            let (status, json, stdout) = try Self.report(["--golden", Self.tinyGolden, "--model", Self.gguf + "/tiny-h256-\(type).gguf"])
            #expect(status == 0, "\(type): \(stdout)")
            #expect(json["profile"]?.string == profile)
            let pooled = Self.check(json, MeanPooled.checkName)
            #expect(pooled?["status"]?.string == "pass", "\(type)")
            #expect(pooled?["rows"]?.elements?.count == 5)
            #expect(stdout.contains("inferred from the quantized weights"))
            // The same conversion fails the fp32 profile: the inference is what lets it pass.
            let (fp32Status, _, _) = try Self.report(["--golden", Self.tinyGolden, "--model", Self.gguf + "/tiny-h256-\(type).gguf",
                                                      "--profile", "fp32"])
            #expect(fp32Status == 1, "\(type)")
        }
        // A float GGUF keeps the elementwise profile and gets no mean-pooled check.
        let (status, json, _) = try Self.report(["--golden", Self.tinyGolden, "--model", Self.gguf + "/tiny-h256-F16.gguf"])
        #expect(status == 0)
        #expect(json["profile"]?.string == "fp16")
        #expect(Self.check(json, MeanPooled.checkName) == nil)
    }

    /// Q2_K is coarser than every profile: checked with q4's floors, and the report says so.
    @Test func q2KIsCheckedWithTheCoarsestProfileAndANote() throws {
        let (_, json, stdout) = try Self.report(["--golden", Self.tinyGolden, "--model", Self.gguf + "/tiny-h256-Q2_K.gguf"])
        #expect(json["profile"]?.string == "q4")
        #expect(stdout.contains("Q2_K is coarser than every profile"), "\(stdout)")
    }

    /// A Q8_0 conversion whose layer-0 FFN output weights are scaled by `factor` (every block's
    /// f16 scale multiplied): a tenth more fails q8 at that layer's output, as on MiniLM
    /// (Docs/golden-format.md); the unchanged file passes.
    @Test func aScaledQuantizedLayerFailsItsProfile() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func scaled(_ factor: Float) throws -> String {
            var bytes = try Data(contentsOf: URL(fileURLWithPath: Self.gguf + "/tiny-h256-Q8_0.gguf"))
            let parsed = try bytes.withUnsafeBytes { try GGUFFile.parse($0) }
            let down = try #require(parsed.tensors.first { $0.name == "blk.0.ffn_down.weight" })
            #expect(down.dtype == .Q8_0)
            let blocks = down.byteCount / 34
            for block in 0..<blocks {
                let at = parsed.dataStart + down.offset + block * 34
                let half = Float16(bitPattern: UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8)
                let raised = Float16(Float(half) * factor).bitPattern
                bytes[at] = UInt8(raised & 0xFF)
                bytes[at + 1] = UInt8(raised >> 8)
            }
            let path = dir.appendingPathComponent("scaled-\(factor).gguf").path
            try bytes.write(to: URL(fileURLWithPath: path))
            return path
        }
        let (unchanged, _, _) = try Self.report(["--golden", Self.tinyGolden, "--model", try scaled(1)])
        #expect(unchanged == 0)
        let (status, json, stdout) = try Self.report(["--golden", Self.tinyGolden, "--model", try scaled(1.1)])
        #expect(status == 1, "\(stdout)")
        #expect(json["profile"]?.string == "q8")
        #expect(json["first_divergence"]?.string == "hidden_states.1", "\(stdout)")
        #expect(Self.check(json, "hidden_states.0")?["status"]?.string == "pass")
        #expect(Self.check(json, "hidden_states.1")?["message"]?.string?.contains("min per-token cosine") == true)
    }

    /// ONNX Runtime's quantize_dynamic on MiniLM: per-channel int8 passes the int8 profile,
    /// per-tensor (its defaults) fails it on the cosine floors; neither passes fp32, which an F32
    /// outputs file gets without --profile.
    @Test func ortInt8PerChannelPassesAndPerTensorFails() throws {
        let (channelStatus, channel, channelOut) = try Self.report(["--golden", Self.minilmGolden, "--outputs", Self.dump("per-channel"),
                                                                    "--profile", "int8"])
        #expect(channelStatus == 0, "\(channelOut)")
        #expect(Self.check(channel, MeanPooled.checkName)?["status"]?.string == "pass")
        let (tensorStatus, tensor, tensorOut) = try Self.report(["--golden", Self.minilmGolden, "--outputs", Self.dump("per-tensor"),
                                                                 "--profile", "int8"])
        #expect(tensorStatus == 1, "\(tensorOut)")
        let lastState = Self.check(tensor, "last_hidden_state")
        #expect(lastState?["status"]?.string == "fail")
        #expect(lastState?["message"]?.string?.contains("min per-token cosine") == true, "\(lastState?["message"]?.string ?? "")")
        #expect(Self.check(tensor, MeanPooled.checkName)?["status"]?.string == "fail")
        let (inferredStatus, inferred, _) = try Self.report(["--golden", Self.minilmGolden, "--outputs", Self.dump("per-channel")])
        #expect(inferredStatus == 1)
        #expect(inferred["profile"]?.string == "fp32")
    }

    /// An outputs file of F16 arrays selects fp16; the same values fail fp32.
    @Test func f16OutputsSelectFp16() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let golden = try GoldenFile.read(Self.tinyGolden)
        var tensors: [Tensor] = []
        for name in golden.outputs.namesInStackOrder {
            guard let array = golden.outputs[name] else { continue }
            let bits = array.values.map { Float16($0).bitPattern }
            tensors.append(bits.withUnsafeBytes { Tensor.makeTensor(name: name, dtype: .F16, shape: array.shape, bytes: $0) })
        }
        let path = dir.appendingPathComponent("half.safetensors").path
        try SafetensorsWriter.write(tensors, metadata: [:], to: path)
        let (status, json, stdout) = try Self.report(["--golden", Self.tinyGolden, "--outputs", path])
        #expect(status == 0, "\(stdout)")
        #expect(json["profile"]?.string == "fp16")
        let (fp32Status, _, _) = try Self.report(["--golden", Self.tinyGolden, "--outputs", path, "--profile", "fp32"])
        #expect(fp32Status == 1)
    }

    /// `--atol inf` (and `--rtol inf`) drop the elementwise bound; NaN and negatives stay refused.
    @Test func atolInfinityMeansNoElementwiseBound() throws {
        let q4 = Self.gguf + "/tiny-h256-Q4_0.gguf"
        #expect(try Self.report(["--golden", Self.tinyGolden, "--model", q4, "--profile", "fp32"]).status == 1)
        let (status, json, stdout) = try Self.report(["--golden", Self.tinyGolden, "--model", q4, "--profile", "fp32", "--atol", "inf"])
        #expect(status == 0, "\(stdout)")
        #expect(json["checks"]?.elements?.allSatisfy { $0["mismatched"]?.double ?? 0 == 0 } == true)
        // A cosine floor still gates it.
        #expect(try Self.report(["--golden", Self.tinyGolden, "--model", q4, "--profile", "fp32", "--atol", "inf",
                                 "--min-cosine", "0.9999"]).status == 1)
        #expect(try CLI.run(["verify", "--golden", Self.tinyGolden, "--model", q4, "--rtol", "inf", "--atol", "0"]).status == 0)
        for (flag, value) in [("--atol", "nan"), ("--rtol", "-inf"), ("--atol", "-1e-3")] {
            let refused = try CLI.run(["verify", "--golden", Self.tinyGolden, "--model", q4, flag, value])
            #expect(refused.status == 2)
            #expect(refused.stderr.contains("must be a number at least 0, or inf for no elementwise bound"), "\(refused.stderr)")
        }
        let override = try ToleranceSettings.parseOverride("last_hidden_state=inf,0")
        #expect(override.tolerance.atol == .infinity)
        #expect(throws: ComparisonRequestProblem.self) { try ToleranceSettings.parseOverride("last_hidden_state=nan,0") }
    }

    /// The golden's atol/rtol metadata is for float candidates: an inferred quantized profile keeps
    /// its own bound, an inferred fp32 profile takes the golden's.
    @Test func goldenMetadataDoesNotTightenAnInferredQuantizedProfile() {
        let metadata = GoldenMetadata(atol: 1e-5, rtol: 0)
        let settings = ToleranceSettings()
        #expect(settings.tolerance(for: "last_hidden_state", inferred: .q8, golden: metadata) == ToleranceProfile.q8.tolerance)
        #expect(settings.tolerance(for: "last_hidden_state", inferred: .fp32, golden: metadata) == Tolerance(atol: 1e-5, rtol: 0))
    }

    @Test func meanPoolingSkipsPaddedTokens() throws {
        // Two rows of two tokens, hidden 2; the second row's second token is padding.
        let states = FloatArray(shape: [2, 2, 2], values: [1, 0, 3, 2, 5, 5, 100, -100])
        let pooled = try #require(MeanPooled.pool(states, batch: 2, seq: 2, mask: [1, 1, 1, 0]))
        #expect(pooled.shape == [2, 2])
        #expect(pooled.values == [2, 1, 5, 5])
        #expect(MeanPooled.pool(states, batch: 2, seq: 3, mask: nil) == nil)
    }
}
