import Foundation
import Testing
@testable import BertCheck

/// bert-base-uncased's named parameters as the notebook listed them (transformers' BertModel):
/// 5 embeddings, 16 per layer × 12, 2 pooler.
func bertBaseShapes(layers: Int = 12, pooler: Bool = true) -> [(String, [Int])] {
    var list: [(String, [Int])] = [
        ("embeddings.word_embeddings.weight", [30522, 768]), ("embeddings.position_embeddings.weight", [512, 768]),
        ("embeddings.token_type_embeddings.weight", [2, 768]), ("embeddings.LayerNorm.weight", [768]), ("embeddings.LayerNorm.bias", [768]),
    ]
    for l in 0..<layers {
        let p = "encoder.layer.\(l)."
        for name in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"] {
            list += [(p + name + ".weight", [768, 768]), (p + name + ".bias", [768])]
        }
        list += [(p + "attention.output.LayerNorm.weight", [768]), (p + "attention.output.LayerNorm.bias", [768]),
                 (p + "intermediate.dense.weight", [3072, 768]), (p + "intermediate.dense.bias", [3072]),
                 (p + "output.dense.weight", [768, 3072]), (p + "output.dense.bias", [768]),
                 (p + "output.LayerNorm.weight", [768]), (p + "output.LayerNorm.bias", [768])]
    }
    if pooler { list += [("pooler.dense.weight", [768, 768]), ("pooler.dense.bias", [768])] }
    return list
}

let bertBaseConfig = #"{"architectures":["BertModel"],"hidden_size":768,"num_hidden_layers":12,"num_attention_heads":12,"intermediate_size":3072,"vocab_size":30522,"max_position_embeddings":512,"type_vocab_size":2,"model_type":"bert"}"#

/// Writes a safetensors file with a correct header for `tensors` (F32, in this order, names
/// written as given) and a sparse data area: the file has its full size (440 MB for bert-base)
/// but no data blocks are written.
func writeSparseSafetensors(_ tensors: [(String, [Int])], to path: String, dtype: String = "F32", size: Int = 4) throws {
    var offset = 0
    var entries: [String] = []
    for (name, shape) in tensors {
        let bytes = shape.reduce(size, *)
        entries.append("\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":[\(shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes)]}")
        offset += bytes
    }
    var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
    header += [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)
    let prefix = (0..<8).map { UInt8(truncatingIfNeeded: UInt64(header.count) >> (8 * UInt64($0))) }
    FileManager.default.createFile(atPath: path, contents: Data(prefix + header))
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    try handle.truncate(atOffset: UInt64(8 + header.count + offset))
    try handle.close()
}

/// A bert-base-shaped model directory (sparse weights + config.json).
func bertBaseDirectory(_ tensors: [(String, [Int])] = bertBaseShapes(), config: String = bertBaseConfig) throws -> URL {
    let dir = TestPaths.temporaryDirectory()
    try writeSparseSafetensors(tensors, to: dir.appendingPathComponent("model.safetensors").path)
    try Data(config.utf8).write(to: dir.appendingPathComponent("config.json"))
    return dir
}


@Suite struct ParamsFigureTests {
    @Test func bertBaseFiguresFromASparseFile() throws {
        let dir = try bertBaseDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try CLI.run(["params", dir.path])
        #expect(result.status == 0, "\(result.stderr)")
        let out = result.stdout
        #expect(out.hasPrefix("The BERT model has 199 different named parameters.\n\nEmbedding Layer\n\n"))
        // The notebook's lines, character for character.
        for line in [
            "embeddings.word_embeddings.weight                       (30522, 768)",
            "embeddings.position_embeddings.weight                     (512, 768)",
            "embeddings.token_type_embeddings.weight                     (2, 768)",
            "embeddings.LayerNorm.weight                                   (768,)",
            "embeddings.LayerNorm.bias                                     (768,)",
            "\nFirst Encoder\n\nencoder.layer.0.attention.self.query.weight               (768, 768)",
            "encoder.layer.0.attention.self.query.bias                     (768,)",
            "encoder.layer.0.attention.output.LayerNorm.weight             (768,)",
            "\nOutput Layer\n\npooler.dense.weight                                       (768, 768)\npooler.dense.bias                                             (768,)\n",
        ] {
            #expect(out.contains(line + (line.hasSuffix("\n") ? "" : "\n")), "missing: \(line)")
        }
        #expect(!out.contains("encoder.layer.1."), "only the first encoder without --all")
        #expect(out.contains("all parameters                                           109,482,240\n"))
        #expect(out.contains("parameters in 2-D matrices                               109,360,128\n"))
        #expect(out.contains("  embeddings                                              23,837,184\n"))
        #expect(out.contains("  encoder.layer.11                                         7,087,872\n"))
        #expect(out.contains("  pooler                                                     590,592\n"))
        #expect(out.contains("bytes in F32 (199 tensors)                               437,928,960\n"))
        #expect(out.contains("Schema: matches"))

        let all = try CLI.run(["params", dir.path, "--all"])
        #expect(all.stdout.contains("\nEncoder 11\n\nencoder.layer.11.attention.self.query.weight              (768, 768)\n"))
        #expect(all.stdout.split(separator: "\n").filter { $0.contains("(") && !$0.hasPrefix("bytes") }.count == 199)

        let json = jsonObject(try CLI.run(["params", dir.path, "--json"]).stdout)
        #expect(json["named_parameters"] as? Int == 199)
        #expect(json["total_parameters"] as? Int == 109_482_240)
        #expect(json["matrix_parameters"] as? Int == 109_360_128)
        #expect(json["trainable"] as? Int == 109_482_240)
        #expect(json["frozen"] as? Int == 0)
        let parameters = json["parameters"] as? [[String: Any]] ?? []
        #expect(parameters.map { $0["name"] as? String ?? "" } == bertBaseShapes().map(\.0))
        #expect(parameters.first?["shape"] as? [Int] == [30522, 768])
        #expect(parameters.first?["dtype"] as? String == "F32")
        #expect(parameters.first?["count"] as? Int == 23_440_896)
        #expect((json["buffers"] as? [Any])?.isEmpty == true)
        #expect((json["ignored"] as? [Any])?.isEmpty == true)
        let schema = json["schema"] as? [String: Any] ?? [:]
        #expect(schema["ok"] as? Bool == true)
        #expect((schema["missing"] as? [Any])?.isEmpty == true)
        #expect((schema["mismatched"] as? [Any])?.isEmpty == true)
    }

    @Test func realMiniLM() throws {
        let result = try CLI.run(["params", TestPaths.miniLM, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = jsonObject(result.stdout)
        #expect(json["named_parameters"] as? Int == 103)
        #expect(json["total_parameters"] as? Int == 22_713_216)
        let buffers = json["buffers"] as? [[String: Any]] ?? []
        #expect(buffers.map { $0["name"] as? String } == ["embeddings.position_ids"])
        #expect((json["schema"] as? [String: Any])?["ok"] as? Bool == true)
        let human = try CLI.run(["params", TestPaths.miniLM]).stdout
        #expect(human.hasPrefix("The BERT model has 103 different named parameters.\n"))
        #expect(human.contains("embeddings.word_embeddings.weight                       (30522, 384)\n"))
    }

    /// Each committed checkpoint against what transformers' BertModel.named_parameters() gave
    /// for it when the generator wrote it (goldens/checkpoints/*/expected.json).
    @Test(arguments: ["tiny-bert", "tiny-bert-sharded", "tiny-bert-bf16", "tiny-bert-bin", "tiny-bert-legacy", "tiny-bert-legacy/pytorch_model.bin", "tiny-bert-mlm"])
    func committedCheckpointsMatchTransformers(_ name: String) throws {
        let dir = TinyCheckpoints.path(name)
        let expectedPath = TinyCheckpoints.path(name.split(separator: "/").first.map(String.init) ?? name) + "/expected.json"
        let expected = jsonObject(try String(contentsOfFile: expectedPath, encoding: .utf8))
        let result = try CLI.run(["params", dir, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = jsonObject(result.stdout)
        for key in ["named_parameters", "total_parameters", "matrix_parameters"] {
            #expect(json[key] as? Int == expected[key] as? Int, "\(name) \(key)")
        }
        #expect(json["pooler"] as? Bool == expected["pooler"] as? Bool)
        let ours = (json["parameters"] as? [[String: Any]] ?? []).map { "\($0["name"] ?? "") \($0["shape"] ?? "")" }
        let theirs = (expected["parameters"] as? [[String: Any]] ?? []).map { "\($0["name"] ?? "") \($0["shape"] ?? "")" }
        #expect(ours == theirs)
        #expect((json["schema"] as? [String: Any])?["ok"] as? Bool == true)
    }

    @Test func legacyNamesBuffersAndHeads() throws {
        let inventory = ParameterInventory(checkpoint: try loadCheckpoint(TinyCheckpoints.path("tiny-bert-legacy")))
        #expect(inventory.parameters.first?.storedName == "bert.embeddings.word_embeddings.weight")
        #expect(inventory.parameters.contains { $0.storedName == "bert.embeddings.LayerNorm.gamma" && $0.name == "embeddings.LayerNorm.weight" })
        #expect(inventory.buffers.map(\.name) == ["embeddings.position_ids", "embeddings.token_type_ids"])
        // The cls.* tensors are BertForPreTraining's heads: part of the model, not ignored.
        #expect(inventory.ignored.isEmpty)
        #expect(inventory.headParameters.count == 9)
        #expect(inventory.headParameters.allSatisfy { $0.storedName.hasPrefix("cls.") })
        #expect(inventory.headParameters.contains { $0.storedName == "cls.predictions.transform.LayerNorm.gamma" && $0.name == "cls.predictions.transform.LayerNorm.weight" })
        #expect(inventory.task == .preTraining)
        #expect(inventory.schema?.ok == true)
    }

    @Test func bf16BytesAreCountedPerDType() throws {
        let json = jsonObject(try CLI.run(["params", TinyCheckpoints.path("tiny-bert-bf16"), "--json"]).stdout)
        #expect(json["bytes_by_dtype"] as? [String: Int] == ["BF16": 28_144 * 2])
    }

    @Test func modelWithoutPoolerIsNotMissingOne() throws {
        let inventory = ParameterInventory(checkpoint: try loadCheckpoint(TinyCheckpoints.path("tiny-bert-mlm")))
        #expect(!inventory.hasPooler)
        #expect(inventory.schema?.ok == true)
        let out = try CLI.run(["params", TinyCheckpoints.path("tiny-bert-mlm")]).stdout
        #expect(out.contains("no pooler weights"))
    }
}

@Suite struct SchemaFaultTests {
    func run(_ tensors: [(String, [Int])], _ extra: [String] = []) throws -> (CLIResult, [String: Any]) {
        let dir = try bertBaseDirectory(tensors)
        defer { try? FileManager.default.removeItem(at: dir) }
        let human = try CLI.run(["params", dir.path] + extra)
        let json = try CLI.run(["params", dir.path, "--json"] + extra)
        #expect(json.status == human.status)
        return (human, jsonObject(json.stdout))
    }

    @Test func missingTensorExits1AndIsNamed() throws {
        let (result, json) = try run(bertBaseShapes().filter { $0.0 != "encoder.layer.3.output.dense.bias" })
        #expect(result.status == 1)
        #expect(result.stdout.contains("missing encoder.layer.3.output.dense.bias (768,)"))
        #expect(result.stderr.contains("1 missing") && result.stderr.contains("encoder.layer.3.output.dense.bias"))
        #expect(result.stderr.split(separator: "\n").count == 1)
        let schema = json["schema"] as? [String: Any] ?? [:]
        #expect(schema["ok"] as? Bool == false)
        #expect((schema["missing"] as? [[String: Any]])?.first?["name"] as? String == "encoder.layer.3.output.dense.bias")
    }

    @Test func transposedWeightIsCalledTheTranspose() throws {
        let tensors = bertBaseShapes().map { $0.0 == "encoder.layer.5.intermediate.dense.weight" ? ($0.0, [768, 3072]) : $0 }
        let (result, json) = try run(tensors)
        #expect(result.status == 1)
        #expect(result.stdout.contains("wrong shape encoder.layer.5.intermediate.dense.weight: expected (3072, 768), found (768, 3072) (the transpose of the expected shape)"))
        let mismatched = (json["schema"] as? [String: Any])?["mismatched"] as? [[String: Any]] ?? []
        #expect(mismatched.count == 1)
        #expect(mismatched.first?["expected"] as? [Int] == [3072, 768])
        #expect(mismatched.first?["actual"] as? [Int] == [768, 3072])
        #expect(mismatched.first?["transposed"] as? Bool == true)
    }

    @Test func wrongButNotTransposedShape() throws {
        let tensors = bertBaseShapes().map { $0.0 == "embeddings.word_embeddings.weight" ? ($0.0, [30000, 768]) : $0 }
        let (result, json) = try run(tensors)
        #expect(result.status == 1)
        let mismatched = (json["schema"] as? [String: Any])?["mismatched"] as? [[String: Any]] ?? []
        #expect(mismatched.first?["transposed"] as? Bool == false)
        #expect(!result.stdout.contains("transpose"))
    }

    @Test func unexpectedLayerAndHalfAPooler() throws {
        // A 13th layer the config does not have, and a pooler weight without its bias.
        let tensors = bertBaseShapes().filter { $0.0 != "pooler.dense.bias" } + [("encoder.layer.12.output.dense.bias", [768])]
        let (result, json) = try run(tensors)
        #expect(result.status == 1)
        let schema = json["schema"] as? [String: Any] ?? [:]
        #expect(schema["unexpected"] as? [String] == ["encoder.layer.12.output.dense.bias"])
        #expect((schema["missing"] as? [[String: Any]])?.map { $0["name"] as? String } == ["pooler.dense.bias"])
    }

    @Test func sameParameterUnderTwoNamesIsUnexpected() throws {
        let tensors = bertBaseShapes() + [("bert.embeddings.LayerNorm.gamma", [768])]
        let (result, json) = try run(tensors)
        #expect(result.status == 1)
        #expect((json["schema"] as? [String: Any])?["unexpected"] as? [String] == ["bert.embeddings.LayerNorm.gamma"])
    }
}

@Suite struct FineTuningCountTests {
    func counts(_ arguments: [String]) throws -> (trainable: Int?, frozen: Int?) {
        let dir = try bertBaseDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let json = jsonObject(try CLI.run(["params", dir.path, "--json"] + arguments).stdout)
        return (json["trainable"] as? Int, json["frozen"] as? Int)
    }

    @Test func theNotebooksThreeStrategies() throws {
        #expect(try counts(["--freeze", "none", "--head", "2"]) == (109_482_240 + 2 * 768 + 2, 0))
        #expect(try counts(["--freeze", "all", "--head", "2"]) == (1_538, 109_482_240))
        // Embeddings and layers 0..7 frozen: 23,837,184 + 8 × 7,087,872.
        let frozen = 23_837_184 + 8 * 7_087_872
        #expect(try counts(["--freeze", "embeddings,encoder.layer.0-7", "--head", "3"]) == (109_482_240 - frozen + 3 * 768 + 3, frozen))
        // encoder.layer.1 covers layer 1 only, not 10 and 11.
        #expect(try counts(["--freeze", "encoder.layer.1"]).frozen == 7_087_872)
    }

    @Test func badStrategiesAreUsageErrors() throws {
        let dir = try bertBaseDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for strategy in ["encoder.layer.7-3", "encoder.layer.20", "embeddings,,pooler", "encoder..layer"] {
            let result = try CLI.run(["params", dir.path, "--freeze", strategy])
            #expect(result.status == 2, "\(strategy)")
            #expect(result.stdout.isEmpty)
            #expect(result.stderr.split(separator: "\n").count == 1)
        }
        #expect(try CLI.run(["params", dir.path, "--head", "0"]).status == 2)
        expectInputError(try CLI.run(["params", ""]), naming: "'': cannot open")
        // N·H + N overflows Int: a usage error, not an arithmetic-overflow trap.
        for head in [String(Int.max), String(Int.max / 768)] {
            let huge = try CLI.run(["params", dir.path, "--head", head])
            #expect(huge.status == 2, "--head \(head)")
            #expect(huge.stdout.isEmpty)
            #expect(huge.stderr.split(separator: "\n").count == 1 && huge.stderr.contains("--head"))
        }
        #expect(try FreezeStrategy.parse("embeddings, encoder.layer.0-2") == .prefixes(["embeddings", "encoder.layer.0", "encoder.layer.1", "encoder.layer.2"]))
    }
}

@Suite struct TensorStatsTests {
    @Test func statsCountNaNAndInfAndUseFiniteValues() throws {
        let stats = TensorStats(Tensor.makeTensor(name: "w", floats: [1, 2, 3, 4, .nan, .infinity, -.infinity], shape: [7]))
        #expect(stats.min == 1 && stats.max == 4 && stats.mean == 2.5)
        #expect(abs(stats.std - 1.118033988749895) < 1e-12)
        #expect(stats.nanCount == 1 && stats.infCount == 2)
        let bf16: [UInt16] = [0x3F80, 0xC040]
        let half = bf16.withUnsafeBytes { Tensor.makeTensor(name: "h", dtype: .BF16, shape: [2], bytes: $0) }
        #expect(TensorStats(half).mean == -1)
    }

    @Test(.tags(.slow), .skippedInFastLoop) func statsOnTheRealModel() throws {
        let result = try CLI.run(["params", TestPaths.miniLM, "--stats", "--json"])
        #expect(result.status == 0)
        let parameters = jsonObject(result.stdout)["parameters"] as? [[String: Any]] ?? []
        let bias = parameters.first { $0["name"] as? String == "pooler.dense.bias" }?["stats"] as? [String: Any]
        // all-MiniLM-L6-v2 ships a zero pooler bias.
        #expect(bias?["min"] as? Double == 0 && bias?["max"] as? Double == 0 && bias?["nan"] as? Int == 0)
        let ln = parameters.first { $0["name"] as? String == "embeddings.LayerNorm.weight" }?["stats"] as? [String: Any]
        #expect((ln?["std"] as? Double ?? 0) > 0)
        let human = try CLI.run(["params", TestPaths.miniLM, "--stats"]).stdout
        #expect(human.contains("\nStatistics\n"))
    }
}

@Suite struct ParamsInputErrorTests {
    @Test func brokenFilesExit2WithOneLine() throws {
        let header = #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#
        let path = try temporaryFile(safetensorsBytes(header: header, data: [0, 0, 0, 0]))
        expectInputError(try CLI.run(["params", path]), naming: path, containing: "span 4 bytes but shape and dtype need 8")
        expectInputError(try CLI.run(["params", path, "--json"]), naming: path)
        expectInputError(try CLI.run(["params", "/nonexistent/model"]), naming: "/nonexistent/model")
    }

    @Test func brokenConfigExit2NamingConfig() throws {
        let dir = try bertBaseDirectory(config: #"{"hidden_size": 768, "num_attention_heads": 10}"#)
        defer { try? FileManager.default.removeItem(at: dir) }
        expectInputError(try CLI.run(["params", dir.path]), naming: "config.json", containing: "does not divide")
    }
}
