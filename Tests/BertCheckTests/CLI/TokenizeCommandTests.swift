import Foundation
import Testing
@testable import BertCheck
import BertCheckRendering

/// The `tokenize` command end to end (the tokenizer itself: Tokenizer/TokenizerTests.swift).
extension TokenizerTests {
    @Test func tokenizePrintsTokensAndIds() throws {
        let human = try CLI.run(["tokenize", TestPaths.miniLM, Self.agney])
        #expect(human.status == 0, "\(human.stderr)")
        #expect(human.stdout.contains("input_ids:      [101, 12943, 5420, 2428, 7459, 20421, 1010, 15604, 9488, 2003, 2010, 5440, 1012, 102]"))
        #expect(human.stdout.contains("tokens:         ['[CLS]', 'ag', '##ney', 'really', 'loves', 'pokemon', ',', 'luca', '##rio'"))
        #expect(human.stdout.contains("14 tokens"))
        let json = try CLI.run(["tokenize", TestPaths.miniLM + "/vocab.txt", "Hello, \"world\"", "--pair", "Bye", "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        #expect(json.stdout == #"{"input_ids": [101, 7592, 1010, 1000, 2088, 1000, 102, 9061, 102], "tokens": ["[CLS]", "hello", ",", "\"", "world", "\"", "[SEP]", "bye", "[SEP]"], "token_type_ids": [0, 0, 0, 0, 0, 0, 0, 1, 1]}"# + "\n")
        let truncated = try CLI.run(["tokenize", TestPaths.miniLM, Self.agney, "--max-length", "4", "--json"])
        #expect(truncated.stdout.hasPrefix(#"{"input_ids": [101, 12943, 5420, 102], "#))
    }

    @Test(.tags(.slow), .skippedInFastLoop) func tokenizeFileWritesOneJSONLinePerInputLine() throws {
        try withDirectory { directory in
            let cases: [(content: String, texts: [String])] = [
                ("hello\n\nworld\n", ["hello", "", "world"]),
                ("hello\n\nworld", ["hello", "", "world"]),
                ("", []),
                ("\n", [""]),
                ("\n\n", ["", ""]),
                ("a\r\nb \u{2028} c\n", ["a\r", "b \u{2028} c"]),
                (Self.agney + "\n[SEP]", [Self.agney, "[SEP]"]),
            ]
            let tokenizer = try BertTokenizer.load(TestPaths.miniLM)
            for (index, item) in cases.enumerated() {
                let path = try write(Array(item.content.utf8), "texts\(index).txt", in: directory)
                let result = try CLI.run(["tokenize", TestPaths.miniLM, "--file", path])
                #expect(result.status == 0, "\(result.stderr)")
                let expected = item.texts.map { EncodingRenderer.jsonLine(tokenizer.encode($0)) }.joined()
                #expect(result.stdout == expected, "file \(StrictJSON.quote(item.content))")
                #expect(result.stdout.split(separator: "\n", omittingEmptySubsequences: false).count == item.texts.count + 1)
            }
            let empty = try CLI.run(["tokenize", TestPaths.miniLM, "--file", directory.path + "/texts3.txt"])
            #expect(empty.stdout == #"{"input_ids": [101, 102], "tokens": ["[CLS]", "[SEP]"], "token_type_ids": [0, 0]}"# + "\n")
        }
    }

    /// The command agrees with transformers on every single-text corpus line of the uncased
    /// configuration (no newline inside, default length), through --file.
    @Test(.tags(.slow), .skippedInFastLoop) func tokenizeFileMatchesTheCorpus() throws {
        try withDirectory { directory in
            let cases = try TokenizerParityTests.loadCorpus().filter {
                $0.config == "uncased" && $0.pair == nil && $0.maxLength == nil && !$0.text.unicodeScalars.contains("\n")
            }
            #expect(cases.count > 2000)
            let path = try write(Array(cases.map(\.text).joined(separator: "\n").utf8), "corpus.txt", in: directory)
            let result = try CLI.run(["tokenize", TestPaths.miniLM, "--file", path])
            #expect(result.status == 0, "\(result.stderr)")
            let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            #expect(lines.count == cases.count)
            var mismatches: [String] = []
            for (item, line) in zip(cases, lines) {
                let ids = try StrictJSON.parse(Array(line.utf8))["input_ids"]?.elements?.compactMap(\.integer)
                if ids != item.inputIds { mismatches.append("corpus line \(item.line): expected \(item.inputIds), got \(line)") }
            }
            #expect(mismatches.isEmpty, "\(mismatches.count) lines differ:\n\(mismatches.joined(separator: "\n"))")
        }
    }

    @Test func tokenizeRejectsBadFilesAndUsage() throws {
        try withDirectory { directory in
            let bad = try write(Array("fine\n".utf8) + [0xC3, 0x28, 0x0A], "bad.txt", in: directory)
            expectInputError(try CLI.run(["tokenize", TestPaths.miniLM, "--file", bad]), naming: bad, containing: "line 2 is not valid UTF-8")
            let missing = directory.path + "/missing.txt"
            expectInputError(try CLI.run(["tokenize", TestPaths.miniLM, "--file", missing]), naming: missing)
            for arguments in [["tokenize", TestPaths.miniLM], ["tokenize", TestPaths.miniLM, "x", "--file", bad],
                              ["tokenize", TestPaths.miniLM, "x", "--max-length", "1"],
                              ["tokenize", TestPaths.miniLM, "x", "--pair", "y", "--max-length", "2"],
                              ["tokenize", TestPaths.miniLM, "--file", bad, "--pair", "y"]] {
                let result = try CLI.run(arguments)
                #expect(result.status == 2, "\(arguments): \(result.stderr)")
                #expect(result.stdout.isEmpty)
                #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
            }
        }
    }
}
