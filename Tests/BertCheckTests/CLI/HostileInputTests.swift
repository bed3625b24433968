import Foundation
import Testing
@testable import BertCheck

// The corpus of broken and hostile inputs (issue 6). Every case runs the real `bertcheck` binary
// and holds it to the contract for bad input: exit 2, exactly one line on stderr naming the file
// and the broken rule, nothing on stdout, nothing written. The per-rule reader tests
// (SafetensorsTests, ZipArchiveTests, PickleTests, CheckpointLoaderTests, ...) check the typed
// problems in the library; these check what a user sees, end to end.

/// Where a case builds its input: `model` is an empty directory inside `root`; anything a
/// command could write goes into `root` too, so "nothing written" is checked over all of it.
struct HostileWorkspace {
    let root: URL
    let model: URL
    var modelPath: String { model.path }
    func file(_ name: String) -> String { model.appendingPathComponent(name).path }
    /// An output path for commands that write (`run --out`, `record --out`).
    var out: String { root.appendingPathComponent("out.safetensors").path }

    func write(_ bytes: [UInt8], to name: String) throws -> String {
        let path = file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func write(_ text: String, to name: String) throws -> String { try write(Array(text.utf8), to: name) }

    /// Copies the files of a committed checkpoint into `model`.
    func copyCheckpoint(_ name: String) throws {
        let source = TinyCheckpoints.path(name)
        for item in try FileManager.default.contentsOfDirectory(atPath: source) {
            try FileManager.default.copyItem(atPath: source + "/" + item, toPath: file(item))
        }
    }
}

/// One hostile input and what the user must be told about it.
struct HostileCase: Sendable, CustomTestStringConvertible {
    let name: String
    /// The fuzz target whose seed corpus this input joins (Scripts/fuzz.sh exports the corpus).
    let fuzzTarget: String
    /// Text the single stderr line must contain: the broken rule in the reader's words.
    let rule: String
    /// Builds the input; returns the path of the file the error must name.
    let make: @Sendable (HostileWorkspace) throws -> String
    /// The command line; `params MODEL` unless given.
    var arguments: @Sendable (HostileWorkspace) -> [String] = { ["params", $0.modelPath] }

    var testDescription: String { name }
}

/// Runs one case in a fresh workspace and checks the contract.
func expectRefused(_ hostile: HostileCase, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let root = TestPaths.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: root) }
    let workspace = HostileWorkspace(root: root, model: root.appendingPathComponent("model"))
    try FileManager.default.createDirectory(at: workspace.model, withIntermediateDirectories: true)
    let named = try hostile.make(workspace)
    exportSeed(named, hostile)
    let before = try snapshot(root)
    let result = try CLI.run(hostile.arguments(workspace))
    expectInputError(result, naming: named, containing: hostile.rule, sourceLocation: sourceLocation)
    #expect(try snapshot(root) == before, "bad input must not write anything", sourceLocation: sourceLocation)
}

/// Every file under `root` with its size and modification time.
func snapshot(_ root: URL) throws -> [String: String] {
    var files: [String: String] = [:]
    guard let walker = FileManager.default.enumerator(atPath: root.path) else { return files }
    while let relative = walker.nextObject() as? String {
        let attributes = try FileManager.default.attributesOfItem(atPath: root.path + "/" + relative)
        files[relative] = "\(attributes[.size] ?? "-") \(attributes[.modificationDate] ?? "-")"
    }
    return files
}

/// With BERTCHECK_HOSTILE_EXPORT=DIR (set by Scripts/fuzz.sh), each case's input file is copied
/// to DIR/<fuzz target>/ to seed the fuzzers from the test corpus, framed as its target reads
/// input (the leading selector bytes of FuzzConfig.swift and FuzzTokenizer.swift).
func exportSeed(_ path: String, _ hostile: HostileCase) {
    guard let export = ProcessInfo.processInfo.environment["BERTCHECK_HOSTILE_EXPORT"],
          let contents = FileManager.default.contents(atPath: path) else { return }
    let dir = export + "/" + hostile.fuzzTarget
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let safeName = String(hostile.name.map { $0.isLetter || $0.isNumber ? $0 : "-" })
    let selector: [UInt8]
    switch (hostile.fuzzTarget, (path as NSString).lastPathComponent) {
    case ("config", "config.json"): selector = [0]
    case ("config", "tokenizer_config.json"): selector = [1]
    case ("config", _): selector = [3]  // model.safetensors.index.json
    case ("tokenizer", "vocab.txt"): selector = [7, 0]
    case ("tokenizer", _): selector = [6, 0]  // a texts file
    default: selector = []
    }
    FileManager.default.createFile(atPath: dir + "/" + safeName, contents: Data(selector) + contents)
}

// MARK: - safetensors

/// A header entry: `"NAME":{"dtype":DTYPE,"shape":SHAPE,"data_offsets":OFFSETS}` (raw JSON pieces).
func entryJSON(_ name: String = "w", dtype: String = "\"F32\"", shape: String = "[2]", offsets: String = "[0,8]") -> String {
    #""\#(name)":{"dtype":\#(dtype),"shape":\#(shape),"data_offsets":\#(offsets)}"#
}

enum HostileSafetensors {
    static func file(_ name: String, _ rule: String, _ bytes: @escaping @Sendable () -> [UInt8]) -> HostileCase {
        HostileCase(name: "safetensors: " + name, fuzzTarget: "safetensors", rule: rule) { ws in
            try ws.write(bytes(), to: "model.safetensors")
        }
    }

    static func header(_ name: String, _ rule: String, _ json: String, data: Int = 8) -> HostileCase {
        file(name, rule) { safetensorsBytes(header: json, data: [UInt8](repeating: 0, count: data)) }
    }

    static let cases: [HostileCase] = [
        file("empty file", "shorter than the 8-byte header length") { [] },
        file("7 bytes", "shorter than the 8-byte header length") { [1, 0, 0, 0, 0, 0, 0] },
        file("header length 2^64-1", "exceeds the limit of 100,000,000 bytes") {
            safetensorsBytes(header: "{}", declaredLength: UInt64.max)
        },
        file("header length just over the limit", "exceeds the limit of 100,000,000 bytes") {
            safetensorsBytes(header: "{}", declaredLength: 100_000_001)
        },
        file("header length lies past the end", "runs past the end of the file") {
            safetensorsBytes(header: "{}", declaredLength: 4096)
        },
        file("header length with the high bit set", "exceeds the limit") {
            safetensorsBytes(header: "{}", declaredLength: 1 << 63)
        },
        file("invalid UTF-8 in a tensor name", "not valid UTF-8") {
            safetensorsBytes(header: "", headerBytes: Array("{\"w".utf8) + [0xC3, 0x28] + Array("\":{}}".utf8))
        },
        file("NUL padding after the JSON", "not valid JSON") {
            safetensorsBytes(header: "", headerBytes: Array("{}".utf8) + [0, 0, 0, 0, 0, 0])
        },
        header("not JSON", "not valid JSON", "PK\u{03}\u{04} definitely not json"),
        header("JSON cut short", "not valid JSON", #"{"w":{"dtype":"F32","#),
        header("nested 10,000 deep", "nested deeper than", String(repeating: "[", count: 10_000)),
        header("duplicate tensor name", "duplicate key", "{" + entryJSON() + "," + entryJSON() + "}"),
        header("header is an array", "not an object", "[1,2,3]"),
        header("__metadata__ holds a number", "__metadata__ value for \"n\" is not a string",
               #"{"__metadata__":{"n":1},"# + entryJSON() + "}"),
        header("entry without dtype", "no \"dtype\"", #"{"w":{"shape":[2],"data_offsets":[0,8]}}"#),
        header("unknown dtype", "unknown dtype \"Q4_K\"", "{" + entryJSON(dtype: "\"Q4_K\"") + "}"),
        header("negative dimension", "shape must be an array of non-negative integers", "{" + entryJSON(shape: "[-2]") + "}"),
        header("fractional dimension", "shape must be an array of non-negative integers", "{" + entryJSON(shape: "[2.0]") + "}"),
        header("three data offsets", "data_offsets must be two non-negative integers", "{" + entryJSON(offsets: "[0,4,8]") + "}"),
        header("offset beyond Int64", "data_offsets must be two non-negative integers",
               "{" + entryJSON(offsets: "[0,99999999999999999999999]") + "}"),
        header("begin after end", "data_offsets begin 8 is after end 0", "{" + entryJSON(offsets: "[8,0]") + "}"),
        header("element count overflows 64 bits", "overflows 64-bit arithmetic",
               "{" + entryJSON(shape: "[4294967296,4294967296,16]", offsets: "[0,8]") + "}"),
        header("byte length overflows with the dtype size", "overflows 64-bit arithmetic",
               "{" + entryJSON(dtype: "\"F64\"", shape: "[2305843009213693952]", offsets: "[0,8]") + "}"),
        header("byte length does not match the shape", "span 8 bytes but shape and dtype need 12",
               "{" + entryJSON(shape: "[3]") + "}"),
        header("overlapping tensors", "overlaps tensor",
               "{" + entryJSON("a") + "," + entryJSON("b", offsets: "[4,12]") + "}", data: 12),
        header("hole before a tensor", "belong to no tensor", "{" + entryJSON(offsets: "[4,12]") + "}", data: 12),
        header("offsets past the end of the file", "past the end of the file",
               "{" + entryJSON(shape: "[1048576]", offsets: "[0,4194304]") + "}"),
        header("huge offsets past the end of the file", "past the end of the file",
               "{" + entryJSON(dtype: "\"U8\"", shape: "[4611686018427387904]", offsets: "[0,4611686018427387904]") + "}"),
        header("bytes after the last tensor", "does not end where the tensors end", "{" + entryJSON() + "}", data: 16),
    ]
}

// MARK: - sharded safetensors

enum HostileSharded {
    static let index = "model.safetensors.index.json"

    /// The committed sharded checkpoint with its weight map edited.
    static func edited(_ name: String, _ rule: String, _ edit: @escaping @Sendable (inout [String: String], HostileWorkspace) throws -> Void) -> HostileCase {
        HostileCase(name: "sharded: " + name, fuzzTarget: "config", rule: rule) { ws in
            try ws.copyCheckpoint("tiny-bert-sharded")
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: ws.file(index)))) as? [String: Any]
            var map = object?["weight_map"] as? [String: String] ?? [:]
            try edit(&map, ws)
            let data = try JSONSerialization.data(withJSONObject: ["metadata": [String: String](), "weight_map": map] as [String: Any], options: [.sortedKeys])
            return try ws.write([UInt8](data), to: index)
        }
    }

    static let cases: [HostileCase] = [
        edited("missing shard", "shard \"model-00009-of-00007.safetensors\" does not exist") { map, _ in
            map["pooler.dense.bias"] = "model-00009-of-00007.safetensors"
        },
        edited("shard path with ..", "outside the model directory") { map, _ in
            map["pooler.dense.bias"] = "../model/model-00007-of-00007.safetensors"
        },
        edited("absolute shard path", "outside the model directory") { map, _ in
            map["pooler.dense.bias"] = "/etc/passwd"
        },
        edited("shard symlink out of the model directory", "outside the model directory") { map, ws in
            let outside = ws.root.appendingPathComponent("outside.safetensors").path
            try FileManager.default.copyItem(atPath: ws.file("model-00007-of-00007.safetensors"), toPath: outside)
            try FileManager.default.createSymbolicLink(atPath: ws.file("link.safetensors"), withDestinationPath: outside)
            map["pooler.dense.bias"] = "link.safetensors"
        },
        edited("tensor in two shards", "is in more than one shard") { map, ws in
            // Shard 1 gets a second copy of shard 7's tensors.
            let one = ws.file("model-00001-of-00007.safetensors")
            let seven = try SafetensorsFile.read(ws.file("model-00007-of-00007.safetensors")).tensors
            try SafetensorsWriter.write(try SafetensorsFile.read(one).tensors + seven, metadata: [:], to: one)
        },
        edited("weight map puts a tensor in the wrong shard", "but shard \"model-00006-of-00007.safetensors\" holds it") { map, _ in
            map["encoder.layer.2.output.dense.bias"] = "model-00007-of-00007.safetensors"
        },
        edited("weight map names a tensor no shard has", "whose header does not have it") { map, _ in
            map["encoder.layer.9.output.dense.bias"] = "model-00007-of-00007.safetensors"
        },
        HostileCase(name: "sharded: index not JSON", fuzzTarget: "config", rule: "index is not valid JSON") { ws in
            try ws.copyCheckpoint("tiny-bert-sharded")
            return try ws.write("{\"weight_map\": {", to: index)
        },
    ]
}

// MARK: - zip containers (pytorch_model.bin)


/// A one-tensor state dict `{"w": FloatStorage "0" of `count` floats, shape [count]}`.
func oneTensorPickle(count: Int = 4) -> [UInt8] {
    PickleBuilder.stateDict([(name: "w", storage: "FloatStorage", key: "0", count: count, offset: 0, shape: [count], strides: [1])])
}

/// Sets the central directory offset a ZIP64 archive declares (both the ZIP64 record and the
/// classic record, so either reading sees it).
func withCentralDirectoryOffset(_ offset: UInt64, in zip: [UInt8]) -> [UInt8] {
    var bytes = zip
    let eocd = bytes.count - 22
    bytes.replaceSubrange(eocd + 16..<eocd + 20, with: le(UInt32(truncatingIfNeeded: offset)))
    let locator = eocd - 20
    if Array(bytes[locator..<locator + 4]) == le(UInt32(0x0706_4B50)) {
        let record = Int(bytes[locator + 8..<locator + 16].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        bytes.replaceSubrange(record + 48..<record + 56, with: le(offset))
    }
    return bytes
}

enum HostileZip {
    static func bin(_ name: String, _ rule: String, _ bytes: @escaping @Sendable () throws -> [UInt8]) -> HostileCase {
        HostileCase(name: "zip: " + name, fuzzTarget: "zip", rule: rule) { ws in
            try ws.write(try bytes(), to: "pytorch_model.bin")
        }
    }

    static var realBin: [UInt8] { get throws { try [UInt8](Data(contentsOf: URL(fileURLWithPath: TinyCheckpoints.path("tiny-bert-bin/pytorch_model.bin")))) } }

    static let cases: [HostileCase] = [
        bin("empty file", "not a zip file") { [] },
        bin("not a zip", "not a zip file") { Array("version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1\n".utf8) },
        bin("truncated to half", "zip truncated") { let real = try realBin; return Array(real.prefix(real.count / 2)) },
        bin("truncated by one byte", "zip truncated") { let real = try realBin; return Array(real.dropLast()) },
        bin("central directory outside the file", "lies outside the file") {
            withCentralDirectoryOffset(1 << 40, in: try realBin)
        },
        bin("no data.pkl", "no '<folder>/data.pkl' entry") {
            var zip = ZipBuilder()
            zip.add("archive/data/0", [UInt8](repeating: 0, count: 16))
            zip.add("archive/version", Array("3\n".utf8))
            return zip.build()
        },
        bin("missing storage entry", "is referenced but the zip has no entry 'archive/data/0'") {
            torchZip(pickle: oneTensorPickle())
        },
        bin("short storage entry", "storage '0' needs 16 bytes but its entry holds 4") {
            torchZip(pickle: oneTensorPickle(), storages: [("0", [0, 0, 0, 0])])
        },
        bin("storage claims 8 GB", "storage '0' needs 8589934588 bytes but its entry holds 4") {
            torchZip(pickle: oneTensorPickle(count: Int(Int32.max)), storages: [("0", [0, 0, 0, 0])])
        },
    ]
}

// MARK: - pickles (data.pkl inside a torch zip)

enum HostilePickle {
    static func pickle(_ name: String, _ rule: String, _ bytes: @escaping @Sendable (HostileWorkspace) -> [UInt8]) -> HostileCase {
        HostileCase(name: "pickle: " + name, fuzzTarget: "zip", rule: rule) { ws in
            try ws.write(torchZip(pickle: bytes(ws), storages: [("0", [UInt8](repeating: 0, count: 16))]), to: "pytorch_model.bin")
        }
    }

    /// `module.name(argument)` as a protocol-2 pickle: what a malicious checkpoint does.
    static func call(_ module: String, _ name: String, _ argument: String) -> [UInt8] {
        var p = PickleBuilder()
        p.global(module, name)
        p.mark(); p.string(argument); p.tuple()
        p.op(0x52) // REDUCE
        p.stop()
        return p.bytes
    }

    static let cases: [HostileCase] = [
        pickle("truncated before STOP", "pickle truncated") { _ in Array(oneTensorPickle().dropLast()) },
        pickle("truncated inside an argument", "pickle") { _ in Array(oneTensorPickle().prefix(40)) },
        pickle("unknown opcode", "pickle opcode 0xff at byte 2 is unknown or not allowed") { _ in [0x80, 0x02, 0xFF, 0x2E] },
        pickle("posix.system GLOBAL", "'posix.system', which is not allowed") { ws in
            call("posix", "system", "touch " + ws.root.appendingPathComponent("pwned").path)
        },
        pickle("builtins.eval GLOBAL", "'builtins.eval', which is not allowed") { ws in
            call("builtins", "eval", "open('" + ws.root.appendingPathComponent("pwned").path + "','w')")
        },
        pickle("os.system through STACK_GLOBAL", "'os.system', which is not allowed") { _ in
            var p = PickleBuilder()
            p.bytes = [0x80, 0x04]
            p.string("os"); p.string("system")
            p.op(0x93) // STACK_GLOBAL
            p.mark(); p.string("id"); p.tuple(); p.op(0x52); p.stop()
            return p.bytes
        },
        pickle("memo reference never stored", "pickle memo reference 7 at byte 2 was never stored") { _ in [0x80, 0x02, 0x68, 7, 0x2E] },
        pickle("memo reference 2^32-1", "was never stored") { _ in [0x80, 0x02, 0x6A, 0xFF, 0xFF, 0xFF, 0xFF, 0x2E] },
        pickle("lists nested 10,000 deep", "nests containers deeper than") { _ in
            [0x80, 0x02] + [UInt8](repeating: 0x5D, count: 10_000) + [UInt8](repeating: 0x61, count: 9_999) + [0x2E]
        },
        pickle("tuples nested 10,000 deep", "nests containers deeper than") { _ in
            [0x80, 0x02, 0x29] + [UInt8](repeating: 0x85, count: 10_000) + [0x2E] // EMPTY_TUPLE, TUPLE1...
        },
        pickle("string length 2^32-1", "declares 4294967295 bytes") { _ in [0x80, 0x02, 0x58, 0xFF, 0xFF, 0xFF, 0xFF, 0x61, 0x2E] },
        pickle("not a state dict", "not a state dict") { _ in [0x80, 0x02, 0x4B, 0x07, 0x2E] },
    ]
}

// MARK: - config.json

enum HostileConfig {
    static func config(_ name: String, _ rule: String, _ text: String) -> HostileCase {
        HostileCase(name: "config: " + name, fuzzTarget: "config", rule: rule) { ws in
            try ws.copyCheckpoint("tiny-bert")
            return try ws.write(text, to: "config.json")
        }
    }

    static let cases: [HostileCase] = [
        config("empty file", "config is not valid JSON", ""),
        config("not JSON", "config is not valid JSON", "hidden_size = 32\n"),
        config("a JSON array", "config is a JSON array, not an object", "[]"),
        config("heads do not divide hidden", "\"num_attention_heads\" (5) does not divide \"hidden_size\" (32)",
               #"{"hidden_size": 32, "num_attention_heads": 5}"#),
        config("negative hidden size", "\"hidden_size\" must be positive", #"{"hidden_size": -32}"#),
        config("zero heads", "\"num_attention_heads\" must be positive", #"{"num_attention_heads": 0}"#),
        config("absurd layer count", "\"num_hidden_layers\" = 1000000000 is absurdly large", #"{"num_hidden_layers": 1000000000}"#),
        config("vocab size beyond Int64", "\"vocab_size\" must be an integer", #"{"vocab_size": 1e400}"#),
        config("vocab size as a string", "\"vocab_size\" must be an integer", #"{"vocab_size": "99"}"#),
        config("negative layer_norm_eps", "\"layer_norm_eps\" must be positive", #"{"layer_norm_eps": -1e-12}"#),
    ]
}

@Suite struct HostileInputTests {
    @Test(arguments: HostileSafetensors.cases) func safetensors(_ hostile: HostileCase) throws { try expectRefused(hostile) }
    @Test(arguments: HostileSharded.cases) func shardedIndex(_ hostile: HostileCase) throws { try expectRefused(hostile) }
    @Test(arguments: HostileZip.cases) func zipContainer(_ hostile: HostileCase) throws { try expectRefused(hostile) }
    @Test(arguments: HostileConfig.cases) func config(_ hostile: HostileCase) throws { try expectRefused(hostile) }
    @Test(arguments: HostileGolden.cases) func golden(_ hostile: HostileCase) throws { try expectRefused(hostile) }
    @Test(arguments: HostileRecord.cases) func record(_ hostile: HostileCase) throws { try expectRefused(hostile) }
    @Test(arguments: HostileRecord.runCases) func runOut(_ hostile: HostileCase) throws { try expectRefused(hostile) }

    @Test(arguments: HostilePickle.cases) func pickle(_ hostile: HostileCase) throws {
        try expectRefused(hostile)
    }

    /// The malicious pickles above ask to create `pwned`; refusing must also mean not running them.
    @Test func refusedGlobalsExecuteNothing() throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let ws = HostileWorkspace(root: root, model: root.appendingPathComponent("model"))
        try FileManager.default.createDirectory(at: ws.model, withIntermediateDirectories: true)
        let pwned = root.appendingPathComponent("pwned").path
        for pickle in [HostilePickle.call("posix", "system", "touch " + pwned),
                       HostilePickle.call("builtins", "exec", "open('\(pwned)','w')"),
                       HostilePickle.call("subprocess", "check_call", "touch " + pwned)] {
            let bin = try ws.write(torchZip(pickle: pickle), to: "pytorch_model.bin")
            expectInputError(try CLI.run(["params", ws.modelPath]), naming: bin, containing: "which is not allowed")
            #expect(!FileManager.default.fileExists(atPath: pwned))
        }
    }
}
