import Foundation
import Testing
@testable import BertCheck

/// 100 % parity with transformers' BertTokenizer on the committed corpus
/// (goldens/tokenizer/corpus.jsonl, recorded by Scripts/record_tokenizer_goldens.py).
@Suite struct TokenizerParityTests {
    struct Case {
        var line: Int
        var config: String
        var text: String
        var pair: String?
        var maxLength: Int?
        var inputIds: [Int]
    }

    static let corpusDirectory = TestPaths.goldens.appendingPathComponent("tokenizer")

    static func loadCorpus() throws -> [Case] {
        let data = try Data(contentsOf: corpusDirectory.appendingPathComponent("corpus.jsonl"))
        var cases: [Case] = []
        for (index, line) in data.split(separator: UInt8(ascii: "\n")).enumerated() {
            let value = try StrictJSON.parse(Array(line))
            guard let config = value["config"]?.string, let text = value["text"]?.string,
                  let ids = value["input_ids"]?.elements?.compactMap(\.integer) else {
                throw Problem("corpus line \(index + 1) is malformed")
            }
            cases.append(Case(line: index + 1, config: config, text: text, pair: value["pair"]?.string,
                              maxLength: value["max_length"]?.integer, inputIds: ids))
        }
        return cases
    }

    /// The tokenizer of each configuration named in configs.json, built as the recorder built it:
    /// the real model directory, a bare vocabulary file, or a directory with the committed
    /// vocabulary and a tokenizer_config.json.
    static func tokenizers(in directory: URL) throws -> [String: BertTokenizer] {
        let configs = try StrictJSON.parse(Array(Data(contentsOf: corpusDirectory.appendingPathComponent("configs.json"))))
        var result: [String: BertTokenizer] = [:]
        for (name, spec) in configs.members ?? [] {
            guard let vocab = spec["vocab"]?.string else { throw Problem("configs.json: \(name) has no vocab") }
            if vocab == "minilm" {
                result[name] = try BertTokenizer.load(TestPaths.miniLM)
                continue
            }
            let vocabPath = corpusDirectory.appendingPathComponent(vocab).path
            if spec["bare"] == .bool(true) {
                result[name] = try BertTokenizer.load(vocabPath)
                continue
            }
            let modelDir = directory.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: modelDir, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: vocabPath, toPath: modelDir.appendingPathComponent("vocab.txt").path)
            if let config = spec["tokenizer_config"], config != .null {
                try Data(serialize(config).utf8).write(to: modelDir.appendingPathComponent("tokenizer_config.json"))
            }
            result[name] = try BertTokenizer.load(modelDir.path)
        }
        return result
    }

    static func serialize(_ value: JSONValue) -> String {
        switch value {
        case let .object(members): return "{" + members.map { StrictJSON.quote($0.key) + ": " + serialize($0.value) }.joined(separator: ", ") + "}"
        case let .array(items): return "[" + items.map(serialize).joined(separator: ", ") + "]"
        case let .string(text): return StrictJSON.quote(text)
        case let .number(text): return text
        case let .bool(flag): return flag ? "true" : "false"
        case .null: return "null"
        }
    }

    @Test(.tags(.slow), .skippedInFastLoop) func everyCorpusLineMatchesTransformers() throws {
        let directory = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let tokenizers = try Self.tokenizers(in: directory)
        let cases = try Self.loadCorpus()
        #expect(cases.count > 5000)
        var counts: [String: Int] = [:]
        var mismatches: [String] = []
        for item in cases {
            guard let tokenizer = tokenizers[item.config] else {
                mismatches.append("line \(item.line): unknown config \(item.config)")
                continue
            }
            counts[item.config, default: 0] += 1
            let encoding = tokenizer.encode(item.text, pair: item.pair, maxLength: item.maxLength)
            if encoding.inputIds != item.inputIds {
                mismatches.append("""
                line \(item.line) [\(item.config)] text=\(StrictJSON.quote(item.text))\
                \(item.pair.map { " pair=" + StrictJSON.quote($0) } ?? "")\(item.maxLength.map { " max_length=\($0)" } ?? "")
                  expected \(item.inputIds)
                  got      \(encoding.inputIds) \(encoding.tokens)
                """)
            }
        }
        for name in ["uncased", "cased", "cased_strip", "lower_keep_accents", "bare_vocab"] {
            #expect(counts[name, default: 0] > 100, "config \(name) has too few cases")
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(cases.count) corpus lines differ from transformers:\n\(mismatches.joined(separator: "\n"))")
    }
}
