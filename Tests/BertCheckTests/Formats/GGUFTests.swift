import Foundation
import Testing
@testable import BertCheck

/// GGUF files written by llama.cpp's converter and by gguf-py (goldens/gguf/): names, shapes,
/// config, tokenizer, and dequantization bit for bit against gguf-py.
@Suite struct GGUFTests {
    static let directory = TestPaths.goldens.appendingPathComponent("gguf").path
    static func path(_ name: String) -> String { directory + "/" + name }
    static let tinyTypes = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q4_K_M"]

    /// Every type bertcheck dequantizes, decoded as gguf-py's `gguf.quants.dequantize` does,
    /// on random blocks (Scripts/make_gguf_dequant_vectors.py).
    @Test(arguments: ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"])
    func dequantizationIsBitExactAgainstGGUFPy(type: String) throws {
        let file = try MappedFile(path: Self.path("dequant-vectors.gguf"))
        let parsed = try GGUFFile.parse(file.bytes)
        func tensor(_ name: String) throws -> Tensor {
            let info = try #require(parsed.tensors.first { $0.name == name })
            let start = parsed.dataStart + info.offset
            return Tensor(name: name, dtype: info.dtype, shape: info.dims.reversed(),
                          data: UnsafeRawBufferPointer(rebasing: file.bytes[start..<(start + info.byteCount)]), storage: file)
        }
        let quantized = try tensor(type), expected = try tensor(type + ".expected")
        #expect(quantized.dtype.rawValue == type)
        #expect(quantized.shape == [8, 512])
        let ours = quantized.floats(), theirs = expected.floats()
        #expect(ours.count == theirs.count)
        let differing = zip(ours, theirs).enumerated().filter { $0.element.0.bitPattern != $0.element.1.bitPattern }
        #expect(differing.isEmpty, "\(type): \(differing.count) elements differ, first at \(differing.first.map { "\($0.offset): \($0.element.0) vs \($0.element.1)" } ?? "")")
        // One element at a time decodes its block the same way.
        for i in stride(from: 0, to: ours.count, by: 97) { #expect(quantized.element(i).bitPattern == theirs[i].bitPattern) }
    }

    /// llama.cpp conversions of tiny-bert-h256: what bertcheck reads equals what gguf-py's
    /// reader dequantizes (the first rows of every tensor, NAME.dequant.safetensors).
    @Test(arguments: tinyTypes)
    func llamaCppConversionsDequantizeAsGGUFPyDoes(type: String) throws {
        let checkpoint = try loadCheckpoint(Self.path("tiny-h256-\(type).gguf"))
        let reference = try SafetensorsFile.read(Self.path("tiny-h256-\(type).dequant.safetensors")).tensors
        #expect(reference.count == 21)
        for expected in reference {
            let tensor = try #require(checkpoint.tensors.first { ($0.storedName ?? $0.name) == expected.name })
            let ours = tensor.floats().prefix(expected.elementCount), theirs = expected.floats()
            #expect(Array(ours.map(\.bitPattern)) == theirs.map(\.bitPattern), "\(type) \(expected.name)")
        }
    }

    @Test(arguments: tinyTypes)
    func paramsShowsHuggingFaceNamesShapesAndGGUFTypes(type: String) throws {
        let checkpoint = try loadCheckpoint(Self.path("tiny-h256-\(type).gguf"))
        #expect(checkpoint.format == .gguf)
        let inventory = ParameterInventory(checkpoint: checkpoint)
        #expect(inventory.schema?.ok == true, "\(inventory.schema?.faults ?? [])")
        #expect(inventory.parameters.count == 21)
        #expect(!inventory.hasPooler)
        let byName = Dictionary(uniqueKeysWithValues: inventory.parameters.map { ($0.name, $0) })
        let up = try #require(byName["encoder.layer.0.intermediate.dense.weight"])
        #expect(up.shape == [512, 256])
        #expect(up.storedName == "blk.0.ffn_up.weight")
        #expect(up.dtype.rawValue == (type == "Q4_K_M" ? "Q4_K" : type))
        if type == "Q4_K_M" { #expect(byName["encoder.layer.0.output.dense.weight"]?.dtype == .Q6_K) }
        #expect(byName["encoder.layer.0.output.dense.weight"]?.shape == [256, 512])
        #expect(byName["embeddings.word_embeddings.weight"]?.storedName == "token_embd.weight")
        #expect(byName["embeddings.LayerNorm.bias"]?.dtype == .F32)
        #expect(checkpoint.details.first { $0.key == "version" }?.value == "3")
        #expect(checkpoint.details.first { $0.key == "architecture" }?.value == "bert")

        let result = try CLI.run(["params", "--json", Self.path("tiny-h256-\(type).gguf")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("\"format\": \"gguf\""))
        #expect(result.stdout.contains("\"stored_name\": \"blk.0.attn_q.weight\""))
    }

    /// The config from metadata equals config.json of the model converted.
    @Test func configComesFromTheMetadata() throws {
        let checkpoint = try loadCheckpoint(Self.path("tiny-h256-F32.gguf"))
        let source = try BertConfig.load(TestPaths.goldens.appendingPathComponent("checkpoints/tiny-bert-h256/config.json").path)
        let config = try #require(checkpoint.config)
        #expect(config.firstStructuralDifference(from: source) == nil)
        #expect(config.hiddenSize == 256 && config.intermediateSize == 512 && config.numHiddenLayers == 1)
        #expect(checkpoint.configPath == Self.path("tiny-h256-F32.gguf"))
    }

    /// The classifier of a BertForSequenceClassification conversion is listed, not a parameter.
    @Test func aClassifierHeadIsIgnored() throws {
        let inventory = ParameterInventory(checkpoint: try loadCheckpoint(Self.path("tiny-cls-F32.gguf")))
        #expect(inventory.schema?.ok == true)
        #expect(Set(inventory.ignored.map(\.name)) == ["cls.output.weight", "cls.output.bias"])
    }

    /// The f32 conversion holds the safetensors weights unchanged: the forward pass is the same,
    /// float for float.
    @Test func forwardOfTheF32ConversionEqualsTheSafetensorsCheckpoint() throws {
        let gguf = try BertModel(checkpoint: loadCheckpoint(Self.path("tiny-h256-F32.gguf")), threads: 1)
        let safetensors = try BertModel(checkpoint: loadCheckpoint(TestPaths.goldens.appendingPathComponent("checkpoints/tiny-bert-h256").path), threads: 1)
        let tokenizer = try BertTokenizer.load(TestPaths.goldens.appendingPathComponent("checkpoints/tiny-bert-h256").path)
        let batch = tokenizer.batch([("the quick brown fox", nil), ("hello world", "a pair")], maxLength: 64)
        let a = try gguf.forward(batch, outputHiddenStates: false), b = try safetensors.forward(batch, outputHiddenStates: false)
        #expect(a.lastHiddenState.count == batch.batch * batch.seq * 256)
        #expect(a.lastHiddenState.map(\.bitPattern) == b.lastHiddenState.map(\.bitPattern))
        #expect(!gguf.hasPooler)
    }

    /// A quantized conversion runs through the same forward pass, close to the f32 one.
    @Test func forwardOfTheQ8Conversion() throws {
        let q8 = try BertModel(checkpoint: loadCheckpoint(Self.path("tiny-h256-Q8_0.gguf")), threads: 1)
        let f32 = try BertModel(checkpoint: loadCheckpoint(Self.path("tiny-h256-F32.gguf")), threads: 1)
        let tokenizer = try BertTokenizer.load(Self.path("tiny-h256-Q8_0.gguf"))
        let batch = tokenizer.batch([("the quick brown fox", nil)], maxLength: nil)
        let a = try q8.forward(batch, outputHiddenStates: false).lastHiddenState
        let b = try f32.forward(batch, outputHiddenStates: false).lastHiddenState
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst > 0 && worst < 0.1, "max abs \(worst)")
    }

    /// The vocabulary in the metadata tokenizes as the model's vocab.txt does.
    @Test func theEmbeddedTokenizerMatchesTheVocabTxt() throws {
        let checkpoint = try loadCheckpoint(Self.path("tiny-h256-F32.gguf"))
        guard case .embedded(let vocabulary)? = checkpoint.tokenizer else {
            Issue.record("no embedded tokenizer: \(String(describing: checkpoint.tokenizer))")
            return
        }
        let embedded = try BertTokenizer(embedded: vocabulary)
        let reference = try BertTokenizer.load(TestPaths.goldens.appendingPathComponent("checkpoints/tiny-bert-h256").path)
        #expect(embedded.vocabularySize == reference.vocabularySize)
        for id in 0..<reference.vocabularySize { #expect(embedded.token(for: id) == reference.token(for: id)) }
        for text in ["the quick brown fox", "Hello, World! unaffable", "[CLS] x [SEP]", "Café naïve"] {
            #expect(embedded.encode(text, pair: "a pair") == reference.encode(text, pair: "a pair"), "\(text)")
        }
        let cli = try CLI.run(["tokenize", Self.path("tiny-h256-F32.gguf"), "the quick brown fox"])
        let direct = try CLI.run(["tokenize", TestPaths.goldens.appendingPathComponent("checkpoints/tiny-bert-h256").path, "the quick brown fox"])
        #expect(cli.status == 0, "\(cli.stderr)")
        #expect(cli.stdout == direct.stdout)
        let run = try CLI.run(["run", Self.path("tiny-h256-Q8_0.gguf"), "the quick brown fox"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("last_hidden_state"))
    }

    @Test func anEmbeddedVocabularyWithASpecialIdOutsideIsRefused() {
        let vocabulary = EmbeddedVocabulary(source: "x.gguf", tokens: ["[PAD]"], lowercase: true, clsId: 5, sepId: 0, unkId: 0,
                                            padId: 0, maskId: nil, modelMaxLength: nil)
        let found = fileProblem(VocabProblem.self) { _ = try BertTokenizer(embedded: vocabulary) }
        #expect(found?.path == "x.gguf")
        #expect(found?.problem == .badTokenId("special token id 5"))
    }

    @Test func wordPieceFormOfConvertedTokens() {
        #expect(GGUFConfig.wordPieceToken("\u{2581}hello", control: false) == "hello")
        #expect(GGUFConfig.wordPieceToken("ing", control: false) == "##ing")
        #expect(GGUFConfig.wordPieceToken("[CLS]", control: true) == "[CLS]")
        #expect(GGUFConfig.wordPieceToken("\u{2581}[unused0]", control: false) == "[unused0]")
        // A continuation "##[x]" is written "[x]": the token type tells it from a control token.
        #expect(GGUFConfig.wordPieceToken("[x]", control: false) == "##[x]")
        #expect(GGUFConfig.wordPieceToken("[CLS]", control: nil) == "[CLS]")
        #expect(GGUFConfig.wordPieceToken("", control: false) == "##")
    }

    @Test func llamaCppNamesMapToBertModelNames() {
        let cases: [(String, String?)] = [
            ("token_embd.weight", "embeddings.word_embeddings.weight"),
            ("position_embd.weight", "embeddings.position_embeddings.weight"),
            ("token_types.weight", "embeddings.token_type_embeddings.weight"),
            ("token_embd_norm.bias", "embeddings.LayerNorm.bias"),
            ("blk.11.attn_v.weight", "encoder.layer.11.attention.self.value.weight"),
            ("blk.0.attn_output_norm.weight", "encoder.layer.0.attention.output.LayerNorm.weight"),
            ("blk.2.layer_output_norm.bias", "encoder.layer.2.output.LayerNorm.bias"),
            ("blk.3.ffn_down.weight", "encoder.layer.3.output.dense.weight"),
            ("blk.03.ffn_down.weight", nil), ("blk.-1.ffn_up.weight", nil), ("cls.output.weight", nil),
            ("blk.0.ffn_up.scale", nil), ("token_embd", nil),
        ]
        for (gguf, hf) in cases { #expect(GGUFTensorNames.huggingFaceName(gguf) == hf, "\(gguf)") }
    }

    /// verify runs bertcheck's forward pass on the GGUF, checks the golden's ids with the
    /// embedded tokenizer, and skips the pooler checks the GGUF cannot pass.
    @Test func verifyAgainstTheGoldenOfTheModelConverted() throws {
        let golden = TestPaths.goldens.appendingPathComponent("tiny-bert-h256.golden.safetensors").path
        let f32 = try CLI.run(["verify", "--golden", golden, "--model", Self.path("tiny-h256-F32.gguf")])
        #expect(f32.status == 0, "\(f32.stdout)\(f32.stderr)")
        #expect(f32.stdout.contains("input_ids          pass"))
        #expect(f32.stdout.contains("the GGUF carries no pooler"))
        #expect(f32.stdout.contains("pooler_output      not produced"), "\(f32.stdout)")
        let q8 = try CLI.run(["verify", "--golden", golden, "--model", Self.path("tiny-h256-Q8_0.gguf"), "--profile", "bf16"])
        #expect(q8.status == 0, "\(q8.stdout)\(q8.stderr)")
    }

    /// A GGUF whose vocabulary lost the lower-casing the model had: the input_ids check names the
    /// text and both token lists.
    @Test func aTokenizerThatLostLowerCasingIsNamed() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var bytes = try Data(contentsOf: URL(fileURLWithPath: Self.path("tiny-h256-F32.gguf")))
        // The key, its type (bool, 7) and its one-byte value.
        let key = Array("tokenizer.ggml.normalizer.lowercase".utf8) + [7, 0, 0, 0]
        let at = try #require(bytes.firstRange(of: Data(key)))
        #expect(bytes[at.upperBound] == 1)
        bytes[at.upperBound] = 0
        let cased = dir.appendingPathComponent("cased.gguf").path
        try bytes.write(to: URL(fileURLWithPath: cased))
        let golden = TestPaths.goldens.appendingPathComponent("tiny-bert-h256.golden.safetensors").path
        let result = try CLI.run(["verify", "--golden", golden, "--model", cased])
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("text \"The quick brown fox jumps over the lazy dog.\""), "\(result.stdout)")
        #expect(result.stdout.contains("the golden has ['[CLS]', 'the', "), "\(result.stdout)")
        #expect(result.stdout.contains("the tokenizer gives ['[CLS]', '[UNK]', "), "\(result.stdout)")
    }

    /// A corrupted quantized tensor in layer 0's output dense: verify fails and names layer 0's
    /// output as the first divergence, the embeddings still passing.
    @Test func aCorruptedQuantizedTensorIsTheFirstDivergence() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var bytes = try Data(contentsOf: URL(fileURLWithPath: Self.path("tiny-h256-Q8_0.gguf")))
        let parsed = try bytes.withUnsafeBytes { try GGUFFile.parse($0) }
        let down = try #require(parsed.tensors.first { $0.name == "blk.0.ffn_down.weight" })
        #expect(down.dtype == .Q8_0)
        // Scale up the first block of every row by 64 (its f16 scale: exponent + 6).
        let rowBytes = 512 / 32 * 34
        for row in 0..<256 {
            let scale = parsed.dataStart + down.offset + row * rowBytes
            let half = UInt16(bytes[scale]) | UInt16(bytes[scale + 1]) << 8
            let raised = half &+ (6 << 10)
            bytes[scale] = UInt8(raised & 0xFF)
            bytes[scale + 1] = UInt8(raised >> 8)
        }
        let corrupted = dir.appendingPathComponent("corrupted.gguf").path
        try bytes.write(to: URL(fileURLWithPath: corrupted))
        let golden = TestPaths.goldens.appendingPathComponent("tiny-bert-h256.golden.safetensors").path
        let result = try CLI.run(["verify", "--golden", golden, "--model", corrupted, "--profile", "bf16"])
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("First divergence: hidden_states.1"), "\(result.stdout)")
        #expect(result.stdout.contains("hidden_states.0    pass"))
    }

    /// diff HF_DIR model.gguf: every common tensor after dequantization; the pooler the GGUF drops
    /// by design is listed, not failed.
    @Test func diffAgainstTheModelConverted() throws {
        let source = TestPaths.goldens.appendingPathComponent("checkpoints/tiny-bert-h256").path
        let settings = ToleranceSettings(profile: nil, atol: nil, rtol: nil, minCosine: nil, perTensor: [:])
        let f32 = try diffCheckpoints(source, Self.path("tiny-h256-F32.gguf"), settings: settings)
        #expect(f32.status == .pass)
        #expect(f32.missing.isEmpty && f32.extra.isEmpty)
        #expect(Set(f32.notCarried) == ["pooler.dense.weight", "pooler.dense.bias"])
        #expect(f32.tensors.count == 21 && f32.tensors.allSatisfy { $0.maxAbsErr == 0 })
        let q8 = try diffCheckpoints(source, Self.path("tiny-h256-Q8_0.gguf"), settings: settings)
        #expect(q8.tensors.filter { $0.dtypeB == .Q8_0 }.count == 7)
        #expect(q8.tensors.allSatisfy { ($0.cosine ?? 0) > 0.9999 })
        #expect(q8.status == .pass, "each Q8_0 tensor within its block bound")
        let cli = try CLI.run(["diff", "--json", source, Self.path("tiny-h256-F16.gguf")])
        #expect(cli.status == 0, "\(cli.stdout)\(cli.stderr)")
        #expect(cli.stdout.contains("\"not_carried\""))
    }

    /// A directory holding one .gguf is read as that checkpoint.
    @Test func aDirectoryWithOneGGUF() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(atPath: Self.path("tiny-h256-Q8_0.gguf"), toPath: dir.appendingPathComponent("model-q8.gguf").path)
        let checkpoint = try loadCheckpoint(dir.path)
        #expect(checkpoint.format == .gguf)
        #expect(checkpoint.files == [dir.appendingPathComponent("model-q8.gguf").path])
    }
}
