import Foundation
import Testing
@testable import BertCheck

/// tokenizer.json is read wherever vocab.txt is (transformers 5 saves no vocab.txt); both present
/// and disagreeing is exit 2 naming both files.
@Suite struct TokenizerJSONSourceTests {
    /// A sentence-transformers folder saved by transformers 5 (tokenizer.json), without vocab.txt.
    static func withoutVocabTxt() throws -> URL {
        let dir = try TinyCheckpoints.copy("st/mean-normalize")
        try FileManager.default.removeItem(at: dir.appendingPathComponent("vocab.txt"))
        return dir
    }

    @Test func recordAndVerifyWorkWithTokenizerJSONOnly() throws {
        let dir = try Self.withoutVocabTxt()
        let golden = TestPaths.goldens.appendingPathComponent("st/mean-normalize.golden.safetensors").path
        let report = try verifyGolden(VerifyOptions(goldenPath: golden, modelPath: dir.path))
        #expect(report.status == .pass)
        #expect(report.checks.first { $0.name == "input_ids" }?.status == .pass)
        let recorded = try recordGolden(modelPath: dir.path, texts: [TextItem("hello world"), TextItem("the cat sat")], hiddenStates: false)
        #expect(recorded.outputs["sentence_embedding"]?.shape == [2, 32])
        let out = dir.appendingPathComponent("g.safetensors").path
        let result = try CLI.run(["record", dir.path, "--texts-file", TestPaths.goldens.appendingPathComponent("texts/sentences.json").path, "--out", out])
        #expect(result.status == 0, "\(result.stderr)")
        let tokenize = try CLI.run(["tokenize", dir.path, "hello world"])
        #expect(tokenize.status == 0)
    }

    @Test func disagreeingVocabTxtAndTokenizerJSONIsExit2NamingBoth() throws {
        let dir = try TinyCheckpoints.copy("st/mean-normalize")
        let vocab = dir.appendingPathComponent("vocab.txt")
        var lines = try String(contentsOf: vocab, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.swapAt(20, 21)
        try lines.joined(separator: "\n").write(to: vocab, atomically: true, encoding: .utf8)
        for arguments in [["tokenize", dir.path, "hello"], ["run", dir.path, "hello"]] {
            let result = try CLI.run(arguments)
            expectInputError(result, naming: vocab.path, containing: "disagree")
            #expect(result.stderr.contains(dir.appendingPathComponent("tokenizer.json").path))
        }
        let golden = TestPaths.goldens.appendingPathComponent("st/mean-normalize.golden.safetensors").path
        expectInputError(try CLI.run(["verify", "--golden", golden, "--model", dir.path]), naming: vocab.path, containing: "id 20")
    }
}
