import Foundation
import Testing
@testable import BertCheck

/// sentence-transformers folders made by Scripts/make_sentence_transformers.py, against
/// `SentenceTransformer.encode` (goldens/st/).
@Suite struct SentenceTransformersTests {
    static let folders = ["mean-normalize", "cls", "max-dense", "mean-short", "sqrt-weighted"]
    static func folder(_ name: String) -> String { TinyCheckpoints.path("st/\(name)") }
    static func golden(_ name: String) -> String { TestPaths.goldens.appendingPathComponent("st/\(name).golden.safetensors").path }

    @Test(arguments: folders)
    func sentenceEmbeddingMatchesEncodeWithin1e5(_ name: String) throws {
        let golden = try GoldenFile.read(Self.golden(name))
        let model = try BertModel(checkpoint: try loadCheckpoint(Self.folder(name)), threads: 1)
        #expect(model.sentencePipeline != nil)
        let output = try model.forward(golden.inputBatch)
        let expected = try #require(golden.outputs["sentence_embedding"])
        let actual = try #require(output.headOutputs["sentence_embedding"])
        #expect(actual.shape == expected.shape)
        let worst = zip(actual.values, expected.values).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-5, "\(name): max abs err \(worst)")
        let report = try verifyGolden(VerifyOptions(goldenPath: Self.golden(name), modelPath: Self.folder(name)))
        #expect(report.status == .pass)
        // The tokenizer check passes with the folder's max_seq_length (mean-short truncates at 8).
        #expect(report.checks.first { $0.name == "input_ids" }?.status == .pass)
        let check = try #require(report.checks.first { $0.name == "sentence_embedding" })
        #expect(check.requiredMinCosine == ToleranceProfile.fp32.minRowCosine)
    }

    @Test func maxSeqLengthBelowTheTextLengthTruncates() throws {
        let golden = try GoldenFile.read(Self.golden("mean-short"))
        #expect(golden.seq == 8)
        let model = try BertModel(checkpoint: try loadCheckpoint(Self.folder("mean-short")))
        let tokenizer = try BertTokenizer.load(Self.folder("mean-short"))
        #expect(model.inputLength(tokenizer: tokenizer) == 8)
    }

    @Test(arguments: folders)
    func similarityMatchesSentenceTransformersCosine(_ name: String) throws {
        let golden = try GoldenFile.read(Self.golden(name))
        let texts = try #require(golden.metadata.texts)
        let embedding = try #require(golden.outputs["sentence_embedding"])
        let width = embedding.shape[1]
        for (a, b) in [(0, 1), (0, 3), (2, 4)] {
            let expected = cosineSimilarity(Array(embedding.values[(a * width)..<((a + 1) * width)]),
                                            Array(embedding.values[(b * width)..<((b + 1) * width)]))
            let result = try CLI.run(["similarity", Self.folder(name), texts[a].text, texts[b].text, "--json"])
            #expect(result.status == 0, "\(result.stderr)")
            let got = jsonObject(result.stdout)["similarity"] as? Double ?? .nan
            #expect(abs(got - expected) < 1e-5, "\(name) \(a)-\(b): \(got) vs sentence-transformers \(expected)")
        }
    }

    @Test func poolingOptionOverridesTheFolder() throws {
        let folder = Self.folder("cls")
        let own = jsonObject(try CLI.run(["similarity", folder, "hello world", "the cat", "--json"]).stdout)
        let mean = jsonObject(try CLI.run(["similarity", folder, "hello world", "the cat", "--json", "--pooling", "mean"]).stdout)
        #expect(own["pooling"] as? String == "cls")
        #expect(mean["pooling"] as? String == "mean")
        #expect((own["similarity"] as? Double) != (mean["similarity"] as? Double))
    }

    @Test func aModuleBertcheckCannotComputeIsExit2NamingIt() throws {
        let dir = try TinyCheckpoints.copy("st/mean-normalize")
        let modules = dir.appendingPathComponent("modules.json")
        let text = try String(contentsOf: modules, encoding: .utf8)
            .replacingOccurrences(of: "\"path\": \"2_Normalize\"", with: "\"path\": \"2_LayerNorm\"")
            .replacingOccurrences(of: "modules.normalize.Normalize", with: "modules.layer_norm.LayerNorm")
        try text.write(to: modules, atomically: true, encoding: .utf8)
        let result = try CLI.run(["similarity", dir.path, "a", "b"])
        expectInputError(result, naming: modules.path, containing: "LayerNorm")
    }

    /// The real all-MiniLM-L6-v2 against `SentenceTransformer.encode` (golden recorded by
    /// Scripts/record_goldens.py, which uses sentence-transformers for a folder with modules.json).
    @Test func miniLMEmbeddingAndSimilarityMatchSentenceTransformers() throws {
        let path = TestPaths.goldens.appendingPathComponent("st/all-MiniLM-L6-v2.golden.safetensors").path
        let report = try verifyGolden(VerifyOptions(goldenPath: path, modelPath: TestPaths.miniLM))
        #expect(report.status == .pass)
        let check = try #require(report.checks.first { $0.name == "sentence_embedding" })
        #expect((check.maxAbsErr ?? 1) <= 1e-5)
        let golden = try GoldenFile.read(path)
        let texts = try #require(golden.metadata.texts)
        let embedding = try #require(golden.outputs["sentence_embedding"])
        let width = embedding.shape[1]
        let expected = cosineSimilarity(Array(embedding.values[0..<width]), Array(embedding.values[width..<(2 * width)]))
        let got = jsonObject(try CLI.run(["similarity", TestPaths.miniLM, texts[0].text, texts[1].text, "--json"]).stdout)["similarity"] as? Double
        #expect(abs((got ?? .nan) - expected) < 1e-5)
    }

    @Test func legacyPoolingConfigIsRead() throws {
        // all-MiniLM-L6-v2 has the older layout: pooling_mode_mean_tokens and sentence_bert_config max_seq_length 256.
        let model = try BertModel(checkpoint: try loadCheckpoint(TestPaths.miniLM))
        let pipeline = try #require(model.sentencePipeline)
        #expect(pipeline.modes == [.mean])
        #expect(pipeline.normalizes)
        #expect(pipeline.maxSeqLength == 256)
    }
}
