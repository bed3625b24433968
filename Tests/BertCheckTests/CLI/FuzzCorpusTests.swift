import Foundation
import Testing
@testable import BertCheck

/// The fuzz targets (Tests/Fuzz/Fuzz<Target>.swift). Each folder
/// Tests/BertCheckTests/Fixtures/hostile/TARGET/ holds inputs in the very shape that target
/// consumes (Scripts/make_hostile_seeds.py writes the seeds and says what each byte means), so a
/// crashing input libFuzzer writes to fuzz-artifacts/TARGET/ is added there as it is.
enum FuzzTarget: String, CaseIterable, Sendable {
    case safetensors, zip, pickle, tokenizer, golden, config, onnx, gguf
}

extension HostileInputTests {
    /// Replays every seed and every fixed fuzz finding through the code path its target fuzzes:
    /// the real `bertcheck` for files (exit 0, 1 or 2, never a signal; a refusal is one line
    /// naming the file), the library for what has no file of its own (pickle streams, texts,
    /// tokenizer input). A target whose folder is missing or empty fails: the replay must
    /// never pass by having nothing to replay.
    @Test(.tags(.slow), .skippedInFastLoop, arguments: FuzzTarget.allCases)
    func fuzzFindingsNeverCrash(_ target: FuzzTarget) throws {
        let folder = TestPaths.fixtures.appendingPathComponent("hostile/" + target.rawValue)
        let inputs = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
            .filter { !$0.hasPrefix(".") }.sorted()
        #expect(!inputs.isEmpty, "\(folder.path) is missing or empty: run Scripts/make_hostile_seeds.py")
        for input in inputs {
            let bytes = try [UInt8](Data(contentsOf: folder.appendingPathComponent(input)))
            let scratch = TestPaths.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: scratch) }
            try FuzzReplay(label: "\(target.rawValue)/\(input)", scratch: scratch).run(target, bytes)
        }
    }

    /// Every target Scripts/fuzz.sh runs has a replay here (and so a corpus folder the test above
    /// requires): a new fuzz target fails this until it gets both.
    @Test func everyFuzzTargetIsReplayed() throws {
        let script = try String(contentsOf: TestPaths.repoRoot.appendingPathComponent("Scripts/fuzz.sh"), encoding: .utf8)
        let line = try #require(script.split(separator: "\n").first { $0.hasPrefix("targets=(") })
        let names = line.dropFirst("targets=(".count).prefix { $0 != ")" }.split(separator: " ").map(String.init)
        #expect(!names.isEmpty)
        #expect(Set(names) == Set(FuzzTarget.allCases.map(\.rawValue)), "fuzz.sh targets \(names)")
    }
}

/// One input of one target, replayed in its own scratch directory.
struct FuzzReplay {
    let label: String
    let scratch: URL

    static let tinyModel = TestPaths.goldens.appendingPathComponent("models/tiny-bert").path
    /// The vocabulary the config target puts beside a tokenizer config (as FuzzConfig.swift does).
    static let minimalVocabulary = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n##s\n"

    func run(_ target: FuzzTarget, _ bytes: [UInt8]) throws {
        switch target {
        case .safetensors: try safetensors(bytes)
        case .zip: try zip(bytes)
        case .pickle: try pickle(bytes)
        case .tokenizer: try tokenizer(bytes)
        case .golden: try golden(bytes)
        case .config: try config(bytes)
        case .onnx: try onnx(bytes)
        case .gguf: try gguf(bytes)
        }
    }

    /// In memory (the parser either accepts or names the rule), then as a model file.
    func gguf(_ bytes: [UInt8]) throws {
        do {
            _ = try bytes.withUnsafeBytes { try GGUFFile.parse($0) }
        } catch {
            #expect(error is GGUFProblem, "\(label): refused without a GGUFProblem: \(error)")
        }
        let path = try write(bytes, to: "model.gguf")
        try expectNoCrash(["params", path], naming: path)
        try expectNoCrash(["tokenize", path, "Hello, naïve world"], naming: path)
    }

    func write(_ bytes: [UInt8], to name: String) throws -> String {
        let path = scratch.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func copy(from directory: String, _ names: [String]) throws {
        for name in names {
            try FileManager.default.copyItem(atPath: directory + "/" + name, toPath: scratch.appendingPathComponent(name).path)
        }
    }

    /// The contract for any input: an exit code, not a signal; a refusal is the one-line error.
    func expectNoCrash(_ arguments: [String], naming file: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try CLI.run(arguments)
        #expect(!result.signaled && [0, 1, 2].contains(result.status),
                "\(label): bertcheck \(arguments.first ?? "") \(result.signaled ? "killed by signal" : "exited") \(result.status): \(result.stderr)",
                sourceLocation: sourceLocation)
        if result.status == 2 && !result.signaled { expectInputError(result, naming: file, sourceLocation: sourceLocation) }
    }

    /// In memory (the parser either accepts or says which rule broke), then as a model file.
    func safetensors(_ bytes: [UInt8]) throws {
        do {
            _ = try bytes.withUnsafeBytes { try SafetensorsFile.parseHeader($0) }
        } catch {
            #expect(error is SafetensorsProblem, "\(label): refused without a SafetensorsProblem: \(error)")
        }
        let file = try write(bytes, to: "model.safetensors")
        try expectNoCrash(["params", scratch.path], naming: file)
    }

    /// The same bytes as a torch.save checkpoint and as a numpy archive.
    func zip(_ bytes: [UInt8]) throws {
        let bin = try write(bytes, to: "pytorch_model.bin")
        try expectNoCrash(["params", scratch.path], naming: bin)
        let npz = try write(bytes, to: "weights.npz")
        try expectNoCrash(["params", npz], naming: npz)
    }

    /// The stream through the pickle machine, then as the data.pkl of a checkpoint.
    func pickle(_ bytes: [UInt8]) throws {
        do {
            _ = try bytes.withUnsafeBytes { try Pickle.load($0) }
        } catch {
            #expect(error is PickleProblem, "\(label): refused without a PickleProblem: \(error)")
        }
        let bin = try write(torchZip(pickle: bytes), to: "pytorch_model.bin")
        try expectNoCrash(["params", scratch.path], naming: bin)
    }

    /// Byte 0 picks the mode, byte 1 the length, as in FuzzTokenizer.swift.
    func tokenizer(_ bytes: [UInt8]) throws {
        guard bytes.count >= 2 else { return }
        let mode = bytes[0], rest = Array(bytes[2...])
        switch mode % 8 {
        case 6:
            let texts = try write(rest, to: "texts.txt")
            try expectNoCrash(["tokenize", TestPaths.miniLM, "--file", texts], naming: texts)
            if let lines = try? TextLines.read(texts) {
                for line in lines { expectWellFormed(try BertTokenizer.load(TestPaths.miniLM), line, pair: nil, maxLength: nil) }
            }
        case 7:
            let vocab = try write(rest, to: "vocab.txt")
            try expectNoCrash(["tokenize", vocab, "Hello, wörld! unaffable 日本 [CLS] [MASK]", "--pair", "x"], naming: vocab)
            if let loaded = try? BertTokenizer.load(vocab) {
                expectWellFormed(loaded, "Hello, wörld! unaffable 日本 [CLS] [MASK]", pair: "x", maxLength: nil)
            }
        default:
            var cased = BertTokenizer.Options()
            cased.lowercase = false
            let tokenizer = mode & 1 == 0
                ? try BertTokenizer.load(TestPaths.miniLM)
                : try BertTokenizer(vocabularyPath: TestPaths.goldens.appendingPathComponent("tokenizer/cased-vocab.txt").path, options: cased)
            let split = rest.firstIndex(of: 0xFF)
            let text = String(decoding: split.map { rest[..<$0] } ?? rest[...], as: UTF8.self)
            let pair = mode & 2 != 0 ? split.map { String(decoding: rest[($0 + 1)...], as: UTF8.self) } : nil
            let maxLength = mode & 4 != 0 ? 4 + Int(bytes[1] % 64) : nil
            expectWellFormed(tokenizer, text, pair: pair, maxLength: maxLength)
        }
    }

    /// [CLS] … [SEP], parallel arrays, ids inside the vocabulary that name their tokens, at most
    /// `maxLength` ids, type ids 0 then 1.
    func expectWellFormed(_ tokenizer: BertTokenizer, _ text: String, pair: String?, maxLength: Int?) {
        let encoding = tokenizer.encode(text, pair: pair, maxLength: maxLength)
        let ids = encoding.inputIds
        #expect(ids.count == encoding.tokens.count && ids.count == encoding.tokenTypeIds.count, "\(label)")
        #expect(ids.count >= 2 && ids.first == tokenizer.clsId && ids.last == tokenizer.sepId, "\(label)")
        if let maxLength { #expect(ids.count <= maxLength, "\(label)") }
        #expect(Swift.zip(ids, encoding.tokens).allSatisfy { tokenizer.token(for: $0) == $1 }, "\(label): ids and tokens disagree")
        #expect(encoding.tokenTypeIds == encoding.tokenTypeIds.sorted() && Set(encoding.tokenTypeIds).isSubset(of: pair == nil ? [0] : [0, 1]),
                "\(label): token type ids \(encoding.tokenTypeIds)")
    }

    /// As a golden verified against the tiny model, and as a texts list.
    func golden(_ bytes: [UInt8]) throws {
        let golden = try write(bytes, to: "golden.safetensors")
        try expectNoCrash(["verify", "--golden", golden, "--model", Self.tinyModel], naming: golden)
        _ = TextItem.parseList(bytes)
    }

    /// Byte 0 picks the file, as in FuzzConfig.swift; the rest of the model or tokenizer is real.
    func config(_ bytes: [UInt8]) throws {
        guard let selector = bytes.first else { return }
        let rest = Array(bytes.dropFirst())
        switch selector % 4 {
        case 0:
            try copy(from: Self.tinyModel, ["model.safetensors"])
            _ = try write(rest, to: "config.json")
            try expectNoCrash(["params", scratch.path], naming: scratch.path)
        case 1, 2:
            _ = try write(Array(Self.minimalVocabulary.utf8), to: "vocab.txt")
            _ = try write(rest, to: selector % 3 == 1 ? "tokenizer_config.json" : "config.json")
            try expectNoCrash(["tokenize", scratch.path, "hellos hello"], naming: scratch.path)
        default:
            let sharded = TinyCheckpoints.path("tiny-bert-sharded")
            try copy(from: sharded, try FileManager.default.contentsOfDirectory(atPath: sharded).filter { $0.hasSuffix(".safetensors") })
            _ = try write(rest, to: "model.safetensors.index.json")
            try expectNoCrash(["params", scratch.path], naming: scratch.path)
        }
    }

    /// The wire parser in memory, then the file beside a `weights.bin` of its first 64 bytes (an
    /// external `location` may name it), as in FuzzONNX.swift.
    func onnx(_ bytes: [UInt8]) throws {
        do {
            _ = try bytes.withUnsafeBytes { try ONNXParser.parseModel($0) }
        } catch {
            #expect(error is ONNXProblem, "\(label): refused without an ONNXProblem: \(error)")
        }
        _ = try write(Array(bytes.prefix(64)), to: "weights.bin")
        let model = try write(bytes, to: "model.onnx")
        try expectNoCrash(["params", model], naming: scratch.path)
    }
}
