import Foundation
@testable import BertCheck

// The hostile corpus's goldens (`verify`) and the broken inputs of `record --out` and
// `run --out` (HostileInputTests.swift runs them).

// MARK: - goldens

/// A small `bertcheck-golden/1` for the committed tiny-bert (hidden 32, 40 positions, vocab 99,
/// 2 token types): one row of four tokens, with every piece replaceable to break one rule.
struct GoldenParts {
    var seq = 4
    var hidden = 32
    var ids: [Int64] = [2, 5, 6, 3]
    var mask: [Int64] = [1, 1, 1, 1]
    var types: [Int64] = [0, 0, 0, 0]
    var metadata = ["format": "bertcheck-golden/1"]
    var drop: Set<String> = []
    var extra: [Tensor] = []
    var floatIds = false

    var tensors: [Tensor] {
        var list: [Tensor] = []
        if floatIds {
            list.append(.makeTensor(name: "input_ids", floats: ids.map(Float.init), shape: [1, ids.count]))
        } else {
            list.append(.makeTensor(name: "input_ids", int64s: ids, shape: [1, ids.count]))
        }
        list.append(.makeTensor(name: "attention_mask", int64s: mask, shape: [1, mask.count]))
        list.append(.makeTensor(name: "token_type_ids", int64s: types, shape: [1, types.count]))
        list.append(.makeTensor(name: "last_hidden_state", floats: [Float](repeating: 0.5, count: seq * hidden), shape: [1, seq, hidden]))
        return list.filter { !drop.contains($0.name) } + extra
    }

    func write(to path: String) throws {
        try SafetensorsWriter.write(tensors, metadata: metadata, to: path)
    }
}

enum HostileGolden {
    /// `verify --golden GOLDEN --model tiny-bert --junit OUT`: nothing may be written, the JUnit
    /// file included.
    static func golden(_ name: String, _ rule: String, _ edit: @escaping @Sendable (inout GoldenParts) -> Void) -> HostileCase {
        raw(name, rule) { path in
            var parts = GoldenParts()
            edit(&parts)
            try parts.write(to: path)
        }
    }

    static func raw(_ name: String, _ rule: String, _ write: @escaping @Sendable (String) throws -> Void) -> HostileCase {
        HostileCase(name: "golden: " + name, fuzzTarget: "golden", rule: rule, make: { ws in
            try ws.copyCheckpoint("tiny-bert")
            let path = ws.root.appendingPathComponent("golden.safetensors").path
            try write(path)
            return path
        }, arguments: { ws in
            ["verify", "--golden", ws.root.appendingPathComponent("golden.safetensors").path, "--model", ws.modelPath,
             "--junit", ws.root.appendingPathComponent("report.xml").path]
        })
    }

    static let cases: [HostileCase] = [
        golden("missing last_hidden_state", "missing tensor 'last_hidden_state'") { $0.drop = ["last_hidden_state"] },
        golden("missing attention_mask", "attention_mask") { $0.drop = ["attention_mask"] },
        golden("float ids", "'input_ids' has dtype F32") { $0.floatIds = true },
        golden("id outside the vocabulary", "input_ids[0, 2] = 99 is outside the vocabulary") { $0.ids[2] = 99 },
        golden("negative id", "input_ids[0, 1] = -5 is negative") { $0.ids[1] = -5 },
        golden("token type outside the table", "token_type_ids[0, 3] = 2 is outside the token types") { $0.types[3] = 2 },
        golden("mask that is not 0 or 1", "attention_mask[0, 1] = 7") { $0.mask[1] = 7 },
        golden("sequence longer than the position table", "41 tokens are longer than the position table") { parts in
            parts.seq = 41
            parts.ids = [Int64](repeating: 5, count: 41); parts.mask = [Int64](repeating: 1, count: 41)
            parts.types = [Int64](repeating: 0, count: 41)
        },
        golden("hidden size that does not fit the model", "hidden size 16 does not fit the model") { $0.hidden = 16 },
        golden("last_hidden_state shape inconsistent with the ids", "inconsistent with input_ids") { $0.seq = 3 },
        golden("hidden states with a gap", "hidden_states.1 is missing") { parts in
            for n in [0, 2] {
                parts.extra.append(.makeTensor(name: "hidden_states.\(n)", floats: [Float](repeating: 0, count: 4 * 32), shape: [1, 4, 32]))
            }
        },
        golden("more hidden states than layers", "hidden states do not fit the model") { parts in
            for n in 0...5 {
                parts.extra.append(.makeTensor(name: "hidden_states.\(n)", floats: [Float](repeating: 0, count: 4 * 32), shape: [1, 4, 32]))
            }
        },
        golden("no format in the metadata", "has no 'format'") { $0.metadata = [:] },
        golden("another format", "format is 'bertcheck-golden/2'") { $0.metadata = ["format": "bertcheck-golden/2"] },
        golden("texts that are not JSON", "'texts'") { $0.metadata["texts"] = "[\"a\"" },
        raw("not a golden at all", "not a safetensors file") { path in try Data("hi".utf8).write(to: URL(fileURLWithPath: path)) },
        raw("a header claiming 32 GB of ids", "past the end of the file") { path in
            let header = #"{"__metadata__":{"format":"bertcheck-golden/1"},"input_ids":{"dtype":"I64","shape":[65536,65536],"data_offsets":[0,34359738368]}}"#
            try Data(safetensorsBytes(header: header)).write(to: URL(fileURLWithPath: path))
        },
    ]
}

// MARK: - record --out: a broken model, vocabulary or texts file writes no golden

enum HostileRecord {
    static let model = TestPaths.goldens.appendingPathComponent("models/tiny-bert").path

    /// `record MODEL --texts-file TEXTS --out OUT` on a copy of the committed tiny model (with its
    /// vocabulary) after `edit` broke one file; returns the file the error must name.
    static func record(_ name: String, _ fuzzTarget: String, _ rule: String,
                       _ edit: @escaping @Sendable (HostileWorkspace) throws -> String) -> HostileCase {
        HostileCase(name: "record: " + name, fuzzTarget: fuzzTarget, rule: rule, make: { ws in
            for item in try FileManager.default.contentsOfDirectory(atPath: model) {
                try FileManager.default.copyItem(atPath: model + "/" + item, toPath: ws.file(item))
            }
            try Data(#"["a tiny text", ["a pair", "of texts"]]"#.utf8).write(to: ws.root.appendingPathComponent("texts.json"))
            return try edit(ws)
        }, arguments: { ws in
            ["record", ws.modelPath, "--texts-file", ws.root.appendingPathComponent("texts.json").path, "--out", ws.out]
        })
    }

    /// The same inputs through `run MODEL TEXT --out OUT`, which must not write OUT either.
    static func run(_ hostile: HostileCase) -> HostileCase {
        var copy = HostileCase(name: "run --out: " + hostile.name.dropFirst("record: ".count), fuzzTarget: hostile.fuzzTarget,
                               rule: hostile.rule, make: hostile.make)
        copy.arguments = { ws in ["run", ws.modelPath, "a tiny text", "--out", ws.out] }
        return copy
    }

    static let runCases: [HostileCase] = cases.filter { !$0.name.contains("texts file") }.map(run)

    static let cases: [HostileCase] = [
        record("empty vocab.txt", "tokenizer", "vocabulary is empty") { try $0.write("", to: "vocab.txt") },
        record("vocab.txt without special tokens", "tokenizer", "vocabulary has no [CLS] token") {
            try $0.write("hello\nworld\n##s\n", to: "vocab.txt")
        },
        record("texts file not JSON", "golden", "a texts file must be a JSON array") { ws in
            let path = ws.root.appendingPathComponent("texts.json").path
            try Data("a tiny text\n".utf8).write(to: URL(fileURLWithPath: path))
            return path
        },
        record("texts file with a number", "golden", "item 1 is neither a text nor a [text, pair] array") { ws in
            let path = ws.root.appendingPathComponent("texts.json").path
            try Data(#"["fine", 42]"#.utf8).write(to: URL(fileURLWithPath: path))
            return path
        },
        record("config with heads not dividing hidden", "config", "does not divide") {
            try $0.write(#"{"hidden_size": 32, "num_attention_heads": 3}"#, to: "config.json")
        },
        record("weights cut short", "safetensors", "past the end of the file") { ws in
            let path = ws.file("model.safetensors")
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            return try ws.write(Array(bytes.dropLast(100)), to: "model.safetensors")
        },
    ]
}
