import Foundation
import Testing
@testable import BertCheck

/// Vocabulary reading, bad inputs, batching, adversarial lengths (the `tokenize` command: CLI/TokenizeCommandTests.swift).
@Suite struct TokenizerTests {
    static let agney = "Agney really loves Pokemon, Lucario is his favorite."
    static let agneyIds = [101, 12943, 5420, 2428, 7459, 20421, 1010, 15604, 9488, 2003, 2010, 5440, 1012, 102]

    func write(_ bytes: [UInt8], _ name: String, in directory: URL) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    func withDirectory<T>(_ body: (URL) throws -> T) rethrows -> T {
        let directory = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        return try body(directory)
    }

    // MARK: vocabulary

    /// The reference reads vocab.txt with tokenizers' WordPiece::read_file: split on "\n" only,
    /// trailing whitespace trimmed ("\r\n" endings, NBSP), a later duplicate wins, an empty line
    /// is a token, the last line needs no "\n". transformers 5.24.0 gives
    /// {'[PAD]': 0, '[UNK]': 1, '[CLS]': 2, '[SEP]': 3, '[MASK]': 4, 'hello\rworld': 5, 'hello': 6,
    /// '': 7, ' x': 8, 'foo': 9, 'last': 10} and the ids below for this file.
    @Test func vocabularyIsReadAsTheReferenceReadsIt() throws {
        try withDirectory { directory in
            let vocab = Array("[PAD]\r\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\rworld\nhello\n\n x \nfoo\u{a0}\nlast".utf8)
            let path = try write(vocab, "vocab.txt", in: directory)
            let tokenizer = try BertTokenizer.load(path)
            #expect(tokenizer.vocabularySize == 11)
            #expect(tokenizer.id(for: "hello") == 6)
            #expect(tokenizer.id(for: "hello\rworld") == 5)
            #expect(tokenizer.id(for: " x") == 8)
            #expect(tokenizer.id(for: "foo") == 9)
            #expect(tokenizer.id(for: "last") == 10)
            #expect(tokenizer.id(for: "[PAD]") == 0)
            #expect(tokenizer.token(for: 9) == "foo")
            #expect(tokenizer.token(for: 11) == nil)
            #expect(tokenizer.token(for: -1) == nil)
            #expect(tokenizer.encode("hello world foo x", pair: "[UNK]").inputIds == [2, 6, 1, 9, 1, 3, 1, 3])
        }
    }

    @Test func realModelDirectoryAndItsVocabularyFile() throws {
        let fromDirectory = try BertTokenizer.load(TestPaths.miniLM)
        let fromVocab = try BertTokenizer.load(TestPaths.miniLM + "/vocab.txt")
        let fromWeights = try BertTokenizer.load(TestPaths.miniLM + "/model.safetensors")
        #expect(fromDirectory.encode(Self.agney).inputIds == Self.agneyIds)
        #expect(fromVocab.encode(Self.agney).inputIds == Self.agneyIds)
        #expect(fromDirectory.modelMaxLength == 512)
        #expect(fromWeights.modelMaxLength == 512)
        #expect(fromVocab.modelMaxLength == nil)
        #expect(fromDirectory.encode(Self.agney).tokens == ["[CLS]", "ag", "##ney", "really", "loves", "pokemon", ",", "luca", "##rio", "is", "his", "favorite", ".", "[SEP]"])
        let long = String(repeating: "word ", count: 600)
        #expect(fromDirectory.encode(long).inputIds.count == 512)
        #expect(fromVocab.encode(long).inputIds.count == 602)
        #expect(fromVocab.encode(long, maxLength: 10).inputIds.count == 10)
    }

    /// transformers 5.24.0 reads the vocabulary of tokenizer.json when a directory has no
    /// vocab.txt, and ignores its normalizer (here switched to keep case and CJK together):
    /// "Hello World 中文" gives [101, 7592, 2088, 1746, 1861, 102] there.
    @Test func tokenizerJSONOnlyDirectory() throws {
        try withDirectory { directory in
            let original = try Data(contentsOf: URL(fileURLWithPath: TestPaths.miniLM + "/tokenizer.json"))
            let edited = String(decoding: original, as: UTF8.self)
                .replacingOccurrences(of: "\"lowercase\":true", with: "\"lowercase\":false")
                .replacingOccurrences(of: "\"handle_chinese_chars\":true", with: "\"handle_chinese_chars\":false")
            #expect(edited.utf8.count == original.count + 2) // both switches really flipped
            try Data(edited.utf8).write(to: directory.appendingPathComponent("tokenizer.json"))
            let tokenizer = try BertTokenizer.load(directory.path)
            #expect(tokenizer.vocabularySize == 30522)
            #expect(tokenizer.encode("Hello World 中文").inputIds == [101, 7592, 2088, 1746, 1861, 102])
            #expect(tokenizer.encode(Self.agney).inputIds == Self.agneyIds)
            #expect(tokenizer.token(for: 5420) == "##ney")
            let result = try CLI.run(["tokenize", directory.path, Self.agney, "--json"])
            #expect(result.status == 0 && result.stdout.hasPrefix(#"{"input_ids": [101, 12943, 5420, "#), "\(result.stderr)")

            let bad = directory.appendingPathComponent("bad")
            try FileManager.default.createDirectory(at: bad, withIntermediateDirectories: true)
            let path = bad.path + "/tokenizer.json"
            let cases: [(json: String, rule: String)] = [
                ("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[PAD]\": 0, \"[UNK]\": 7}}}", "id of token \"[UNK]\" is not an integer"),
                ("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[PAD]\": -1}}}", "is not an integer"),
                ("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}", "model type is BPE, not WordPiece"),
                ("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}", "vocabulary is empty"),
                ("{\"model\": {}}", "no \"model\""),
                ("{\"model\": ", "invalid JSON"),
                ("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[PAD]\": 0, \"[UNK]\": 1, \"[CLS]\": 2}}}", "no [SEP] token"),
            ]
            for item in cases {
                try Data(item.json.utf8).write(to: URL(fileURLWithPath: path))
                expectInputError(try CLI.run(["tokenize", bad.path, "hello"]), naming: path, containing: item.rule)
            }
        }
    }

    @Test func badVocabulariesAreFileErrors() throws {
        try withDirectory { directory in
            let cases: [(bytes: [UInt8], rule: String)] = [
                ([], "vocabulary is empty"),
                (Array("[PAD]\n[UNK]\n[CLS]\nhello\n".utf8), "no [SEP] token"),
                (Array("[UNK]\n[CLS]\n[SEP]\n".utf8), "no [PAD] token"),
                (Array("[PAD]\n[CLS]\n[SEP]\n".utf8), "no [UNK] token"),
                (Array("[PAD]\n[UNK]\n[SEP]\n".utf8), "no [CLS] token"),
                (Array("[PAD]\n[UNK]\n[CLS]\n[SEP]\n".utf8) + [0x61, 0xFF, 0x0A], "line 5 of the vocabulary is not valid UTF-8"),
                (Array("[PAD]\n[UNK]\n".utf8) + [0xED, 0xA0, 0x80, 0x0A], "line 3 of the vocabulary is not valid UTF-8"),
            ]
            for (index, item) in cases.enumerated() {
                let path = try write(item.bytes, "vocab\(index).txt", in: directory)
                #expect(throws: FileError.self) { try BertTokenizer.load(path) }
                let result = try CLI.run(["tokenize", path, "hello"])
                expectInputError(result, naming: path, containing: item.rule)
            }
        }
    }

    @Test func unusableModelDirectoriesAreFileErrors() throws {
        try withDirectory { directory in
            let missing = directory.appendingPathComponent("nothing-here").path
            expectInputError(try CLI.run(["tokenize", missing, "hello"]), naming: missing, containing: "cannot open")
            expectInputError(try CLI.run(["tokenize", directory.path, "hello"]), naming: directory.path, containing: "no vocab.txt or tokenizer.json")
            // vocab.txt that is not a file
            let odd = directory.appendingPathComponent("odd")
            try FileManager.default.createDirectory(at: odd.appendingPathComponent("vocab.txt"), withIntermediateDirectories: true)
            expectInputError(try CLI.run(["tokenize", odd.path, "hello"]), naming: odd.path + "/vocab.txt", containing: "not a regular file")
            // tokenizer_config.json that is not JSON, or has a wrong type
            let model = directory.appendingPathComponent("model")
            try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: TestPaths.miniLM + "/vocab.txt", toPath: model.path + "/vocab.txt")
            let config = model.path + "/tokenizer_config.json"
            try Data("{\"do_lower_case\": tru".utf8).write(to: URL(fileURLWithPath: config))
            expectInputError(try CLI.run(["tokenize", model.path, "hello"]), naming: config, containing: "invalid JSON")
            try Data("{\"do_lower_case\": \"yes\"}".utf8).write(to: URL(fileURLWithPath: config))
            expectInputError(try CLI.run(["tokenize", model.path, "hello"]), naming: config, containing: "\"do_lower_case\" must be true or false")
            try Data("[1]".utf8).write(to: URL(fileURLWithPath: config))
            expectInputError(try CLI.run(["tokenize", model.path, "hello"]), naming: config, containing: "expected a JSON object")
            try Data("{\"model_max_length\": -3}".utf8).write(to: URL(fileURLWithPath: config))
            expectInputError(try CLI.run(["tokenize", model.path, "hello"]), naming: config, containing: "model_max_length")
            // special tokens renamed in tokenizer_config.json must exist in the vocabulary
            try Data("{\"cls_token\": {\"content\": \"<s>\"}}".utf8).write(to: URL(fileURLWithPath: config))
            expectInputError(try CLI.run(["tokenize", model.path, "hello"]), naming: model.path + "/vocab.txt", containing: "no <s> token")
        }
    }

    @Test func tokenizerConfigOptionsAndDefaultLength() throws {
        try withDirectory { directory in
            try FileManager.default.copyItem(atPath: TestPaths.miniLM + "/vocab.txt", toPath: directory.path + "/vocab.txt")
            try Data("{\"do_lower_case\": false, \"model_max_length\": 1000000000000000019884624838656}".utf8)
                .write(to: directory.appendingPathComponent("tokenizer_config.json"))
            try Data("{\"max_position_embeddings\": 8}".utf8).write(to: directory.appendingPathComponent("config.json"))
            let tokenizer = try BertTokenizer.load(directory.path)
            #expect(!tokenizer.lowercase && !tokenizer.stripAccents && tokenizer.tokenizeChineseChars)
            // "no limit" from tokenizer_config.json: the model's position table is the limit.
            #expect(tokenizer.modelMaxLength == 8)
            #expect(tokenizer.encode("hello Hello").inputIds == [101, 7592, 100, 102])
            #expect(tokenizer.encode(String(repeating: "hello ", count: 20)).inputIds.count == 8)
        }
    }

    // MARK: encoding

    @Test func batchPadsOnTheRight() throws {
        let tokenizer = try BertTokenizer.load(TestPaths.miniLM)
        let batch = tokenizer.batch([("hello world", nil), ("hello", "world peace"), ("", nil)], maxLength: nil)
        #expect(batch.batch == 3 && batch.seq == 6)
        #expect(batch.inputIds == [101, 7592, 2088, 102, 0, 0,
                                   101, 7592, 102, 2088, 3521, 102,
                                   101, 102, 0, 0, 0, 0])
        #expect(batch.attentionMask == [1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0])
        #expect(batch.tokenTypeIds == [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
        let truncated = tokenizer.batch([("hello world peace", nil)], maxLength: 3)
        #expect(truncated.inputIds == [101, 7592, 102] && truncated.seq == 3)
        let empty = tokenizer.batch([], maxLength: nil)
        #expect(empty.batch == 0 && empty.seq == 0 && empty.inputIds.isEmpty)
    }

    /// Linear time on adversarial input: a 1 MB word is one [UNK], a 1 MB line of punctuation is
    /// a million one-scalar words, a megabyte of alternating combining marks is reordered in
    /// n log n. Quadratic behaviour would take hours; the bound only catches that.
    @Test(.tags(.slow), .skippedInFastLoop) func adversarialLinesStayLinear() throws {
        let tokenizer = try BertTokenizer.load(TestPaths.miniLM)
        let megabyte = 1 << 20
        // CPU time of this thread, not wall time: on a loaded 2-core CI machine the wall clock
        // of a debug build says more about the neighbours than about the tokenizer.
        let start = threadCPUSeconds()
        #expect(tokenizer.encode(String(repeating: "a", count: megabyte), maxLength: 1 << 30).inputIds == [101, 100, 102])
        let punctuation = tokenizer.encode(String(repeating: "!", count: megabyte), maxLength: 1 << 30).inputIds
        #expect(punctuation.count == megabyte + 2 && punctuation[1] == 999 && punctuation[megabyte] == 999)
        let marks = String(repeating: "e\u{301}\u{316}", count: megabyte / 6)
        #expect(tokenizer.encode(marks, maxLength: 1 << 30).inputIds == [101, 100, 102])
        let spaces = tokenizer.encode(String(repeating: "\u{3000}\u{200B}", count: megabyte / 6), maxLength: 1 << 30).inputIds
        #expect(spaces == [101, 102])
        let elapsed = threadCPUSeconds() - start
        #expect(elapsed < 60, "adversarial lines took \(elapsed) s of CPU")
    }
}

/// CPU seconds the calling thread has used.
func threadCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}
