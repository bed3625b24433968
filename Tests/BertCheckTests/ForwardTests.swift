import Foundation
import Testing
@testable import BertCheck

/// Checkpoints whose weights come from splitmix64, the same scheme
/// Scripts/record_forward_goldens.py implements, so the tests rebuild exactly the weights the
/// transformers reference ran (no 440 MB file committed).
enum SyntheticBert {
    static let bertBase = Shape(vocab: 30522, hidden: 768, layers: 12, heads: 12, intermediate: 3072,
                                maxPositions: 512, typeVocab: 2, act: "gelu", eps: 1e-12)
    static func tiny(_ act: String) -> Shape {
        Shape(vocab: 99, hidden: 32, layers: 2, heads: 4, intermediate: 64, maxPositions: 40, typeVocab: 3, act: act, eps: 1e-5)
    }

    struct Shape {
        var vocab, hidden, layers, heads, intermediate, maxPositions, typeVocab: Int
        var act: String
        var eps: Double

        var configJSON: String {
            """
            {"vocab_size": \(vocab), "hidden_size": \(hidden), "num_hidden_layers": \(layers), \
            "num_attention_heads": \(heads), "intermediate_size": \(intermediate), "hidden_act": "\(act)", \
            "max_position_embeddings": \(maxPositions), "type_vocab_size": \(typeVocab), \
            "layer_norm_eps": \(eps), "pad_token_id": 0, "model_type": "bert", "architectures": ["BertModel"]}
            """
        }

        /// Canonical names and shapes; the position in this list (from 1) is the tensor's seed.
        var parameters: [(String, [Int])] {
            var list: [(String, [Int])] = [
                ("embeddings.word_embeddings.weight", [vocab, hidden]),
                ("embeddings.position_embeddings.weight", [maxPositions, hidden]),
                ("embeddings.token_type_embeddings.weight", [typeVocab, hidden]),
                ("embeddings.LayerNorm.weight", [hidden]),
                ("embeddings.LayerNorm.bias", [hidden]),
            ]
            for n in 0..<layers {
                let p = "encoder.layer.\(n)."
                for projection in ["query", "key", "value"] {
                    list.append((p + "attention.self.\(projection).weight", [hidden, hidden]))
                    list.append((p + "attention.self.\(projection).bias", [hidden]))
                }
                list += [
                    (p + "attention.output.dense.weight", [hidden, hidden]), (p + "attention.output.dense.bias", [hidden]),
                    (p + "attention.output.LayerNorm.weight", [hidden]), (p + "attention.output.LayerNorm.bias", [hidden]),
                    (p + "intermediate.dense.weight", [intermediate, hidden]), (p + "intermediate.dense.bias", [intermediate]),
                    (p + "output.dense.weight", [hidden, intermediate]), (p + "output.dense.bias", [hidden]),
                    (p + "output.LayerNorm.weight", [hidden]), (p + "output.LayerNorm.bias", [hidden]),
                ]
            }
            list += [("pooler.dense.weight", [hidden, hidden]), ("pooler.dense.bias", [hidden])]
            return list
        }
    }

    /// Element i is mix(seed + (i + 1)·φ) mapped to [-1, 1): top 24 bits / 2^24 · 2 − 1 (exact in Float).
    static func uniform(seed: UInt64, count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { out, initialized in
            var state = seed
            for i in 0..<count {
                state = state &+ 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                z = z ^ (z >> 31)
                out[i] = Float(z >> 40) * 0x1p-24 * 2 - 1
            }
            initialized = count
        }
    }

    /// Writes config.json and model.safetensors (dtype F32, F16 or BF16) into `directory`.
    static func write(_ shape: Shape, scale: Float, dtype: DType = .F32, pooler: Bool = true,
                      to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try shape.configJSON.write(to: directory.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        var tensors: [Tensor] = []
        for (index, (name, dims)) in shape.parameters.enumerated() {
            if !pooler && name.hasPrefix("pooler.") { continue }
            let u = uniform(seed: UInt64(index + 1), count: dims.reduce(1, *))
            let values = name.hasSuffix("LayerNorm.weight") ? u.map { $0 * 0.1 + 1 } : u.map { $0 * scale }
            switch dtype {
            case .F16:
                let bits = values.map { Float16($0).bitPattern }
                tensors.append(bits.withUnsafeBytes { Tensor.makeTensor(name: name, dtype: .F16, shape: dims, bytes: $0) })
            case .BF16:
                // Round to nearest even, as torch's .to(torch.bfloat16) does.
                let bits = values.map { v -> UInt16 in
                    let b = v.bitPattern
                    return UInt16(truncatingIfNeeded: (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16)
                }
                tensors.append(bits.withUnsafeBytes { Tensor.makeTensor(name: name, dtype: .BF16, shape: dims, bytes: $0) })
            default:
                tensors.append(Tensor.makeTensor(name: name, floats: values, shape: dims))
            }
        }
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: directory.appendingPathComponent("model.safetensors").path)
    }
}

/// A golden recorded by Scripts/record_forward_goldens.py, and the comparison the tests make.
struct ForwardGolden {
    let path: String
    let tensors: [String: Tensor]
    let batch: Batch

    init(_ name: String) throws {
        path = TestPaths.goldens.appendingPathComponent("forward/\(name)").path
        let file = try SafetensorsFile.read(path)
        #expect(file.metadata["format"] == "bertcheck-golden/1")
        tensors = Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, $0) })
        guard let ids = tensors["input_ids"], let mask = tensors["attention_mask"], let types = tensors["token_type_ids"],
              ids.shape.count == 2 else { throw Problem("\(path): golden lacks its inputs") }
        batch = Batch(batch: ids.shape[0], seq: ids.shape[1], inputIds: ids.int64s().map { Int($0) },
                      attentionMask: mask.int64s().map { Int($0) }, tokenTypeIds: types.int64s().map { Int($0) })
    }

    var layerCount: Int { tensors.keys.filter { $0.hasPrefix("hidden_states.") }.count }

    /// Max |actual − golden| over real tokens of a [B, S, H] tensor.
    func maxError(hiddenTensor name: String, _ actual: [Float]) -> Float {
        guard let golden = tensors[name] else {
            Issue.record("\(path) has no \(name)")
            return .infinity
        }
        let expected = golden.floats()
        #expect(expected.count == actual.count, "\(name): \(actual.count) values, golden has \(expected.count)")
        guard expected.count == actual.count else { return .infinity }
        let hidden = expected.count / (batch.batch * batch.seq)
        var worst: Float = 0
        for t in 0..<(batch.batch * batch.seq) where batch.attentionMask[t] == 1 {
            for c in 0..<hidden {
                let e = abs(actual[t * hidden + c] - expected[t * hidden + c])
                worst = max(worst, e.isNaN ? .infinity : e)
            }
        }
        return worst
    }

    func maxError(pooler actual: [Float]?) -> Float {
        guard let golden = tensors["pooler_output"]?.floats() else { return .infinity }
        guard let actual, actual.count == golden.count else { return .infinity }
        return zip(actual, golden).reduce(0) { worst, pair in
            let e = abs(pair.0 - pair.1)
            return max(worst, e.isNaN ? .infinity : e)
        }
    }

    /// Runs `model` on the golden's inputs and checks every recorded tensor within `tolerance`.
    /// Returns the largest error seen.
    @discardableResult
    func check(_ model: BertModel, tolerance: Float = 1e-5, sourceLocation: SourceLocation = #_sourceLocation) throws -> Float {
        let withStates = layerCount > 0
        let output = try model.forward(batch, outputHiddenStates: withStates)
        var worst: Float = 0
        if withStates {
            #expect(layerCount == model.config.numHiddenLayers + 1, sourceLocation: sourceLocation)
            #expect(output.hiddenStates?.count == layerCount, sourceLocation: sourceLocation)
            for (n, state) in (output.hiddenStates ?? []).enumerated() {
                let e = maxError(hiddenTensor: "hidden_states.\(n)", state)
                #expect(e <= tolerance, "\(path): hidden_states.\(n) max abs error \(e)", sourceLocation: sourceLocation)
                worst = max(worst, e)
            }
        }
        let e = maxError(hiddenTensor: "last_hidden_state", output.lastHiddenState)
        #expect(e <= tolerance, "\(path): last_hidden_state max abs error \(e)", sourceLocation: sourceLocation)
        let p = maxError(pooler: output.poolerOutput)
        #expect(p <= tolerance, "\(path): pooler_output max abs error \(p)", sourceLocation: sourceLocation)
        return max(worst, e, p)
    }
}

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

    @Test func bertBaseShapedModelMatchesTransformers() throws {
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
