import Foundation
import Testing
@testable import BertCheck


/// The problem inside the `FileError` that `body` throws, and the path it names.
func fileProblem<P: Error>(_ type: P.Type, _ body: () throws -> Void) -> (path: String, problem: P)? {
    do {
        try body()
        Issue.record("expected a FileError with a \(P.self)")
    } catch let error as FileError {
        if let problem = error.problem as? P { return (error.path, problem) }
        Issue.record("expected a \(P.self), got \(error)")
    } catch {
        Issue.record("expected a FileError, got \(error)")
    }
    return nil
}

@Suite struct CheckpointLoaderTests {
    @Test func resolvesDirectoriesLikeFromPretrained() throws {
        let single = try loadCheckpoint(TinyCheckpoints.path("tiny-bert"))
        #expect(single.format == .safetensors)
        #expect(single.files == [TinyCheckpoints.path("tiny-bert") + "/model.safetensors"])
        #expect(single.config?.hiddenSize == 32)
        #expect(single.configPath == TinyCheckpoints.path("tiny-bert") + "/config.json")

        let sharded = try loadCheckpoint(TinyCheckpoints.path("tiny-bert-sharded") + "/")
        #expect(sharded.format == .shardedSafetensors)
        #expect(sharded.files.count == 7)
        #expect(sharded.tensors.count == single.tensors.count)
        // Same weights, whatever the sharding.
        let byName = Dictionary(uniqueKeysWithValues: single.tensors.map { ($0.name, $0) })
        for t in sharded.tensors {
            #expect(byName[t.name].map { Array($0.data) == Array(t.data) } == true, "\(t.name)")
        }

        // model.safetensors wins over pytorch_model.bin (tiny-bert-legacy has both).
        #expect(try loadCheckpoint(TinyCheckpoints.path("tiny-bert-legacy")).format == .safetensors)
    }

    @Test func acceptsAFilePath() throws {
        let file = try loadCheckpoint(TinyCheckpoints.path("tiny-bert-bf16") + "/model.safetensors")
        #expect(file.format == .safetensors)
        #expect(file.config?.numHiddenLayers == 3)
        let index = try loadCheckpoint(TinyCheckpoints.path("tiny-bert-sharded") + "/model.safetensors.index.json")
        #expect(index.format == .shardedSafetensors)
    }

    @Test func pytorchBinIsReadWithTheSameWeights() throws {
        let bin = try loadCheckpoint(TinyCheckpoints.path("tiny-bert-bin"))
        #expect(bin.format == .pytorchZip)
        #expect(bin.files == [TinyCheckpoints.path("tiny-bert-bin") + "/pytorch_model.bin"])
        #expect(bin.config?.hiddenSize == 32)
        let safetensors = try loadCheckpoint(TinyCheckpoints.path("tiny-bert"))
        let byName = Dictionary(uniqueKeysWithValues: safetensors.tensors.map { ($0.name, $0) })
        #expect(bin.tensors.count == safetensors.tensors.count)
        for t in bin.tensors {
            #expect(byName[t.name].map { $0.shape == t.shape && $0.floats() == t.floats() } == true, "\(t.name)")
        }
        // The legacy-named .bin holds what its safetensors twin holds.
        let legacyBin = try loadCheckpoint(TinyCheckpoints.path("tiny-bert-legacy") + "/pytorch_model.bin")
        let legacy = try loadCheckpoint(TinyCheckpoints.path("tiny-bert-legacy"))
        #expect(Set(legacyBin.tensors.map(\.name)) == Set(legacy.tensors.map(\.name)))
    }

    @Test func aPrePickleFileIsRefusedWithHowToResave() throws {
        // torch.save before 1.6 wrote a raw pickle stream (protocol 2 starts with 0x80 0x02).
        let path = try temporaryFile([0x80, 0x02, 0x8A, 0x0A] + [UInt8](repeating: 0, count: 16), name: "pytorch_model.bin")
        let result = try CLI.run(["params", (path as NSString).deletingLastPathComponent])
        expectInputError(result, naming: path, containing: "re-save")
    }

    @Test func directoryWithoutWeightsAndMissingPathAreFileErrors() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(throws: FileError.self) { try loadCheckpoint(dir.path) }
        #expect(throws: FileError.self) { try loadCheckpoint(dir.path + "/nothing-here") }
    }

    @Test func noConfigMeansNoSchema() throws {
        let dir = try TinyCheckpoints.copy("tiny-bert")
        defer { try? FileManager.default.removeItem(at: dir.deletingLastPathComponent()) }
        try FileManager.default.removeItem(at: dir.appendingPathComponent("config.json"))
        let checkpoint = try loadCheckpoint(dir.path)
        #expect(checkpoint.config == nil)
        #expect(checkpoint.configPath == nil)
        #expect(ParameterInventory(checkpoint: checkpoint).schema == nil)
    }
}

@Suite struct ShardedSafetensorsTests {
    /// A copy of the sharded tiny checkpoint whose index is replaced by `edit(weight_map)`.
    func withIndex(_ edit: (inout [String: String]) -> Void, body: (URL) throws -> Void) throws {
        let dir = try TinyCheckpoints.copy("tiny-bert-sharded")
        defer { try? FileManager.default.removeItem(at: dir.deletingLastPathComponent()) }
        let indexURL = dir.appendingPathComponent("model.safetensors.index.json")
        let index = try JSONSerialization.jsonObject(with: Data(contentsOf: indexURL)) as? [String: Any]
        var map = index?["weight_map"] as? [String: String] ?? [:]
        edit(&map)
        try JSONSerialization.data(withJSONObject: ["weight_map": map]).write(to: indexURL)
        try body(dir)
    }

    func problem(_ dir: URL) -> ShardedIndexProblem? {
        let indexPath = dir.appendingPathComponent("model.safetensors.index.json").path
        guard let (path, problem) = fileProblem(ShardedIndexProblem.self, { _ = try loadCheckpoint(dir.path) }) else { return nil }
        #expect(path == indexPath)
        return problem
    }

    @Test func missingShard() throws {
        try withIndex({ $0["pooler.dense.bias"] = "model-00009-of-00007.safetensors" }) { dir in
            #expect(problem(dir) == .missingShard(shard: "model-00009-of-00007.safetensors"))
        }
    }

    @Test func shardPathsMustStayInsideTheModelDirectory() throws {
        for escape in ["../tiny-bert-sharded/model-00001-of-00007.safetensors", "/etc/passwd", "sub/../../x.safetensors"] {
            try withIndex({ $0["pooler.dense.bias"] = escape }) { dir in
                #expect(problem(dir) == .shardOutsideModelDirectory(tensor: "pooler.dense.bias", shard: escape))
            }
        }
        // A symlink inside the directory that points outside it.
        try withIndex({ $0["pooler.dense.bias"] = "link.safetensors" }) { dir in
            let outside = dir.deletingLastPathComponent().appendingPathComponent("outside.safetensors")
            try FileManager.default.copyItem(at: dir.appendingPathComponent("model-00007-of-00007.safetensors"), to: outside)
            try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("link.safetensors").path, withDestinationPath: outside.path)
            #expect(problem(dir) == .shardOutsideModelDirectory(tensor: "pooler.dense.bias", shard: "link.safetensors"))
        }
    }

    @Test func aTensorInTwoShards() throws {
        // The map sends pooler.dense.bias to shard 1, but shard 7 holds it (and shard 1 does not).
        try withIndex({ $0["pooler.dense.bias"] = "model-00001-of-00007.safetensors" }) { dir in
            #expect(problem(dir) == .tensorInOtherShard(tensor: "pooler.dense.bias", mapped: "model-00001-of-00007.safetensors",
                                                        holder: "model-00007-of-00007.safetensors"))
        }
        // Two shard files holding the same tensor.
        try withIndex({ _ in }) { dir in
            let one = dir.appendingPathComponent("model-00001-of-00007.safetensors").path
            let (tensors, _) = try SafetensorsFile.read(dir.appendingPathComponent("model-00007-of-00007.safetensors").path)
            let original = try SafetensorsFile.read(one).tensors
            try SafetensorsWriter.write(original + tensors, metadata: [:], to: one)
            guard case .tensorInTwoShards? = problem(dir) else { Issue.record("tensor in two shard files accepted"); return }
        }
    }

    @Test func mapAndShardHeadersMustAgreeBothWays() throws {
        try withIndex({ $0["encoder.layer.7.output.dense.bias"] = "model-00007-of-00007.safetensors" }) { dir in
            #expect(problem(dir) == .tensorMissingFromShard(tensor: "encoder.layer.7.output.dense.bias", shard: "model-00007-of-00007.safetensors"))
        }
        try withIndex({ $0.removeValue(forKey: "pooler.dense.weight") }) { dir in
            #expect(problem(dir) == .tensorNotInWeightMap(tensor: "pooler.dense.weight", shard: "model-00007-of-00007.safetensors"))
        }
    }

    @Test func malformedIndex() throws {
        let cases: [(String, ShardedIndexProblem)] = [
            ("[]", .notObject(kind: "array")),
            (#"{"metadata":{}}"#, .noWeightMap),
            (#"{"weight_map":[]}"#, .weightMapNotObject(kind: "array")),
            (#"{"weight_map":{}}"#, .emptyWeightMap),
            (#"{"weight_map":{"a":1}}"#, .shardNameNotString(tensor: "a")),
        ]
        for (text, expected) in cases {
            try withIndex({ _ in }) { dir in
                try Data(text.utf8).write(to: dir.appendingPathComponent("model.safetensors.index.json"))
                #expect(problem(dir) == expected, "\(text)")
            }
        }
        try withIndex({ _ in }) { dir in
            try Data(#"{"weight_map":{"a":"x","a":"y"}}"#.utf8).write(to: dir.appendingPathComponent("model.safetensors.index.json"))
            guard case .notJSON(.duplicateKey("a", _))? = problem(dir) else { Issue.record("duplicate tensor in weight_map accepted"); return }
        }
    }

    @Test func aBrokenShardNamesTheShard() throws {
        try withIndex({ _ in }) { dir in
            let shard = dir.appendingPathComponent("model-00003-of-00007.safetensors")
            var bytes = try Data(contentsOf: shard)
            bytes.removeLast(4)
            try bytes.write(to: shard)
            guard let (path, problem) = fileProblem(SafetensorsProblem.self, { _ = try loadCheckpoint(dir.path) }) else { return }
            #expect(path == shard.path)
            guard case .tensorPastEndOfFile = problem else { Issue.record("wrong problem \(problem)"); return }
        }
    }
}

@Suite struct ConfigTests {
    func problem(_ text: String) -> ConfigProblem? {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("config.json").path
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        guard let (named, problem) = fileProblem(ConfigProblem.self, { _ = try BertConfig.load(path) }) else { return nil }
        #expect(named == path)
        return problem
    }

    @Test func readsTheRealConfigs() throws {
        let miniLM = try BertConfig.load(TestPaths.miniLM + "/config.json")
        #expect(miniLM.hiddenSize == 384)
        #expect(miniLM.numHiddenLayers == 6)
        #expect(miniLM.numAttentionHeads == 12)
        #expect(miniLM.intermediateSize == 1536)
        #expect(miniLM.architectures == ["BertModel"])
        let tiny = try BertConfig.load(TinyCheckpoints.path("tiny-bert") + "/config.json")
        #expect(tiny.vocabSize == 99 && tiny.maxPositionEmbeddings == 40 && tiny.intermediateSize == 48)
    }

    @Test func defaultsAreTransformers() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("config.json").path
        FileManager.default.createFile(atPath: path, contents: Data("{}".utf8))
        #expect(try BertConfig.load(path) == { var c = BertConfig(); c.modelType = nil; return c }())
    }

    @Test func brokenConfigs() {
        guard case .notJSON? = problem("{hidden_size: 768}") else { Issue.record("not JSON accepted"); return }
        guard case .notJSON? = problem(#"{"hidden_size": 768, "hidden_size": 384}"#) else { Issue.record("duplicate key accepted"); return }
        #expect(problem("[768]") == .notObject(kind: "array"))
        #expect(problem(#"{"hidden_size": 768, "num_attention_heads": 7}"#) == .headsDoNotDivideHidden(hidden: 768, heads: 7))
        #expect(problem(#"{"hidden_size": -768}"#) == .notPositive(key: "hidden_size", value: "-768"))
        #expect(problem(#"{"num_hidden_layers": 0}"#) == .notPositive(key: "num_hidden_layers", value: "0"))
        #expect(problem(#"{"vocab_size": 100000000000}"#) == .tooLarge(key: "vocab_size", value: 100_000_000_000, limit: 16_777_216))
        #expect(problem(#"{"hidden_size": 99999999999999999999999}"#) == .integerBeyond64Bits(key: "hidden_size", text: "99999999999999999999999", limit: 65_536))
        #expect(problem(#"{"hidden_size": 768.5}"#) == .wrongType(key: "hidden_size", expected: "an integer", found: "non-integer number"))
        #expect(problem(#"{"hidden_size": "768"}"#) == .wrongType(key: "hidden_size", expected: "an integer", found: "string"))
        #expect(problem(#"{"pad_token_id": 30522}"#) == .padTokenOutsideVocabulary(padTokenId: 30522, vocabSize: 30522))
        #expect(problem(#"{"layer_norm_eps": 0}"#) == .notPositive(key: "layer_norm_eps", value: "0.0"))
        #expect(problem(#"{"hidden_act": 5}"#) == .wrongType(key: "hidden_act", expected: "a string", found: "number"))
    }

    @Test func brokenConfigBesideWeightsFailsTheLoad() throws {
        let dir = try TinyCheckpoints.copy("tiny-bert")
        defer { try? FileManager.default.removeItem(at: dir.deletingLastPathComponent()) }
        try Data(#"{"hidden_size": 32, "num_attention_heads": 5}"#.utf8).write(to: dir.appendingPathComponent("config.json"))
        guard let (path, problem) = fileProblem(ConfigProblem.self, { _ = try loadCheckpoint(dir.path) }) else { return }
        #expect(path.hasSuffix("config.json"))
        #expect(problem == .headsDoNotDivideHidden(hidden: 32, heads: 5))
    }
}
