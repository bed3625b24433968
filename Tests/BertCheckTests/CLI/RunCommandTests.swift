import Foundation
import Testing
@testable import BertCheck


@Suite struct RunCommandTests {
    static let notebookText = "Agney really loves Pokemon, Lucario is his favorite."

    @Test func runShowsTheNotebookViewAndThePoolerCheck() throws {
        let result = try CLI.run(["run", TestPaths.miniLM, Self.notebookText])
        #expect(result.status == 0, "\(result.stderr)")
        let golden = try ForwardGolden("minilm-single.safetensors")
        let ids = "[" + golden.batch.inputIds.map(String.init).joined(separator: ", ") + "]"
        #expect(result.stdout.contains("input_ids: \(ids)"))
        #expect(result.stdout.contains("last_hidden_state: torch.Size([1, 14, 384])"))
        // The preview's first row as torch prints it: token 0's first and last three values, each
        // within the print's ±0.00005 plus the 1e-5 tolerance (transformers printed -0.1312 for
        // -0.13115047, a hair from the rounding boundary, so either last digit is right).
        let row = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("tensor([[[") })
        #expect(row.hasSuffix("],") && row.contains(",  ..., "), "\(row)")
        let printed = row.dropFirst("tensor([[[".count).split(separator: ",").compactMap {
            Float($0.trimmingCharacters(in: CharacterSet(charactersIn: " ]")))
        }
        let token0 = try #require(golden.tensors["last_hidden_state"]).floats()[0..<384]
        let expected = Array(token0.prefix(3)) + Array(token0.suffix(3))
        #expect(printed.count == 6, "\(row)")
        for (value, reference) in zip(printed, expected) {
            #expect(abs(value - reference) <= 0.00005 + 1e-5, "\(row): \(value) vs \(reference)")
        }
        #expect(result.stdout.contains("pooler_output: torch.Size([1, 384])"))
        #expect(result.stdout.contains("pooler(CLS) == pooler_output: True"))
    }

    @Test func runJSONCarriesTheOutputsWithinTolerance() throws {
        let result = try CLI.run(["run", TestPaths.miniLM, "How old are you?", "--pair", "I am six years old.", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let types = try #require(object["token_type_ids"] as? [[Int]])
        #expect(types[0].contains(1))
        let golden = try ForwardGolden("minilm-pairs.safetensors")
        let row = golden.batch.seq
        let length = golden.batch.attentionMask[0..<row].reduce(0, +)
        #expect((object["input_ids"] as? [[Int]])?.first == Array(golden.batch.inputIds[0..<length]))
        let pooled = try #require((object["pooler_output"] as? [String: Any])?["values"] as? [[Double]])
        let expected = try #require(golden.tensors["pooler_output"]).floats()
        let worst = zip(pooled[0], expected[0..<384]).map { abs(Float($0) - $1) }.max() ?? .infinity
        #expect(worst <= 1e-5)
        #expect(object["pooler_check"] as? Bool == true)
    }

    @Test func runTextsFileOutWritesAGoldenThatMatchesTransformers() throws {
        let directory = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let reference = try ForwardGolden("minilm-pairs.safetensors")
        let texts = try #require(SafetensorsFile.read(reference.path).metadata["texts"])
        let textsFile = directory.appendingPathComponent("texts.json").path
        try texts.write(toFile: textsFile, atomically: true, encoding: .utf8)
        let out = directory.appendingPathComponent("run.safetensors").path
        let result = try CLI.run(["run", TestPaths.miniLM, "--texts-file", textsFile, "--out", out, "--hidden-states"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("last_hidden_state: torch.Size([4, \(reference.batch.seq), 384])"))
        let written = try SafetensorsFile.read(out)
        #expect(written.metadata["format"] == "bertcheck-golden/1")
        let expectedTexts = try TextItem.parseList(Array(texts.utf8)).get()
        let writtenTexts = try TextItem.parseList(Array((written.metadata["texts"] ?? "").utf8)).get()
        #expect(writtenTexts == expectedTexts)
        let tensors = Dictionary(uniqueKeysWithValues: written.tensors.map { ($0.name, $0) })
        for name in ["input_ids", "attention_mask", "token_type_ids"] {
            #expect(tensors[name]?.dtype == .I64 && tensors[name]?.shape == [4, reference.batch.seq])
            #expect(tensors[name]?.int64s() == reference.tensors[name]?.int64s(), "\(name)")
        }
        #expect(tensors["pooler_output"]?.shape == [4, 384])
        #expect(reference.maxError(hiddenTensor: "last_hidden_state", tensors["last_hidden_state"]?.floats() ?? []) <= 1e-5)
        #expect(reference.maxError(pooler: tensors["pooler_output"]?.floats()) <= 1e-5)
        for n in 0...6 {
            #expect(reference.maxError(hiddenTensor: "hidden_states.\(n)", tensors["hidden_states.\(n)"]?.floats() ?? []) <= 1e-5)
        }
        // The goldens reader takes it, and verify passes it against the model.
        let verify = try CLI.run(["verify", "--golden", out, "--model", TestPaths.miniLM])
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
        expectInputError(try CLI.run(["run", TestPaths.miniLM, "a", "--texts-file", textsFile]), naming: "--texts-file")
    }

    @Test(.tags(.slow), .skippedInFastLoop) func similarityRanksRelatedTextsHigher() throws {
        func similarity(_ a: String, _ b: String, _ pooling: String) throws -> Double {
            let result = try CLI.run(["similarity", TestPaths.miniLM, a, b, "--pooling", pooling, "--json"])
            #expect(result.status == 0, "\(result.stderr)")
            let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            return object?["similarity"] as? Double ?? .nan
        }
        let close = try similarity("A man is eating food.", "A man is eating a meal.", "mean")
        let far = try similarity("A man is eating food.", "The stock market fell sharply today.", "mean")
        #expect(close > 0.8 && close <= 1.0001)
        #expect(far < close - 0.3)
        #expect(abs(try similarity("same text", "same text", "cls") - 1) < 1e-6)
        #expect(abs(try similarity("same text", "same text", "pooler") - 1) < 1e-6)
        let text = try CLI.run(["similarity", TestPaths.miniLM, "a", "b"])
        #expect(text.stdout.hasPrefix("cosine similarity (mean pooling): "))
    }

    @Test func meanPoolingIgnoresPadding() throws {
        let output = BertOutput(batch: 1, seq: 3, hidden: 2, lastHiddenState: [1, 2, 3, 4, 100, 100],
                                poolerOutput: nil, hiddenStates: nil)
        #expect(try sentenceEmbeddings(output, attentionMask: [1, 1, 0], pooling: .mean) == [[2, 3]])
        #expect(try sentenceEmbeddings(output, attentionMask: [1, 1, 0], pooling: .cls) == [[1, 2]])
        #expect(throws: SentenceEmbeddingProblem.noPoolerOutput) { try sentenceEmbeddings(output, attentionMask: [1, 1, 0], pooling: .pooler) }
        #expect(abs(cosineSimilarity([1, 0], [0, 1])) < 1e-12)
    }

    @Test func benchPrintsTheAgreedJSON() throws {
        let result = try CLI.run(["bench", TestPaths.miniLM, "--batch", "2", "--seq", "16", "--iterations", "1", "--threads", "1", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect((object["tokens_per_second"] as? Double ?? 0) > 0)
        #expect((object["ms_per_batch"] as? Double ?? 0) > 0)
        #expect(object["batch"] as? Int == 2 && object["seq"] as? Int == 16 && object["threads"] as? Int == 1)
    }

    @Test func benchLengthsTimesAPaddedBatchOverItsRealTokens() throws {
        let result = try CLI.run(["bench", TestPaths.miniLM, "--lengths", "12,3,5", "--iterations", "1", "--threads", "1", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["batch"] as? Int == 3 && object["seq"] as? Int == 12 && object["real_tokens"] as? Int == 20)
        #expect(object["lengths"] as? [Int] == [12, 3, 5])
        let rate = try #require(object["tokens_per_second"] as? Double), ms = try #require(object["ms_per_batch"] as? Double)
        #expect(abs(rate - 20 / (ms / 1000)) <= 0.01 * rate, "tokens/s counts the 20 real tokens, not 36 positions")
        expectInputError(try CLI.run(["bench", TestPaths.miniLM, "--lengths", "12,0"]), naming: "--lengths", containing: "length 2")
        expectInputError(try CLI.run(["bench", TestPaths.miniLM, "--lengths", "12,x"]), naming: "--lengths")
        expectInputError(try CLI.run(["bench", TestPaths.miniLM, "--lengths", "600"]), naming: "--lengths", containing: "max_position_embeddings")
    }

    @Test func badInputsExit2WithOneLine() throws {
        expectInputError(try CLI.run(["bench", TestPaths.miniLM, "--seq", "513"]), naming: "--seq", containing: "max_position_embeddings")
        expectInputError(try CLI.run(["run", "/nonexistent/model", "text"]), naming: "/nonexistent/model")
        let r = try CLI.run(["run", TestPaths.miniLM])
        #expect(r.status == 2 && r.stdout.isEmpty)
        expectInputError(try CLI.run(["bench", TestPaths.miniLM, "--threads", "0"]), naming: "--threads")
    }
}
