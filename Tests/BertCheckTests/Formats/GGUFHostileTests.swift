import Foundation
import Testing
@testable import BertCheck

/// Writes GGUF bytes field by field, so a test can break exactly one rule.
struct GGUFBuilder {
    struct TensorEntry {
        var name: String
        var dims: [Int64]
        var type: UInt32
        var offset: UInt64
    }

    var magic = Array("GGUF".utf8)
    var version: UInt32 = 3
    var tensorCount: UInt64?
    var keyCount: UInt64?
    /// Each pair's key and its type-and-value bytes.
    var pairs: [(key: [UInt8], value: [UInt8])] = []
    var tensors: [TensorEntry] = []
    var data: [UInt8] = []
    var alignment = 32

    static func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
    static func u64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
    static func string(_ s: String) -> [UInt8] { string(Array(s.utf8)) }
    static func string(_ bytes: [UInt8]) -> [UInt8] { u64(UInt64(bytes.count)) + bytes }
    static func uint32Value(_ v: UInt32) -> [UInt8] { u32(4) + u32(v) }
    static func stringValue(_ s: String) -> [UInt8] { u32(8) + string(s) }
    static func float32Value(_ f: Float) -> [UInt8] { u32(6) + u32(f.bitPattern) }

    mutating func add(_ key: String, _ value: [UInt8]) { pairs.append((Array(key.utf8), value)) }

    /// A tensor of `type` with `dims`, its bytes appended to the data section (aligned).
    mutating func addTensor(_ name: String, dims: [Int64], type: UInt32 = 0, bytes: Int? = nil) {
        while data.count % alignment != 0 { data.append(0) }
        let count = bytes ?? Int(dims.reduce(1, *)) * 4
        tensors.append(TensorEntry(name: name, dims: dims, type: type, offset: UInt64(data.count)))
        data += (0..<count).map { UInt8(truncatingIfNeeded: $0) }
    }

    var bytes: [UInt8] {
        var out = magic + Self.u32(version) + Self.u64(tensorCount ?? UInt64(tensors.count)) + Self.u64(keyCount ?? UInt64(pairs.count))
        for pair in pairs { out += Self.string(pair.key) + pair.value }
        for t in tensors {
            out += Self.string(t.name) + Self.u32(UInt32(t.dims.count))
            for d in t.dims { out += Self.u64(UInt64(bitPattern: d)) }
            out += Self.u32(t.type) + Self.u64(t.offset)
        }
        while out.count % alignment != 0 { out.append(0) }
        return out + data
    }

    /// A BERT GGUF the checkpoint reader takes: hidden 32, no layers, 4 tokens.
    static func bert() -> GGUFBuilder {
        var b = GGUFBuilder()
        b.add("general.architecture", stringValue("bert"))
        b.add("bert.block_count", uint32Value(0))
        b.add("bert.context_length", uint32Value(8))
        b.add("bert.embedding_length", uint32Value(32))
        b.add("bert.feed_forward_length", uint32Value(64))
        b.add("bert.attention.head_count", uint32Value(2))
        b.add("bert.attention.layer_norm_epsilon", float32Value(1e-12))
        b.add("tokenizer.ggml.model", stringValue("bert"))
        b.add("tokenizer.ggml.tokens", u32(9) + u32(8) + u64(5) + string("[PAD]") + string("[UNK]") + string("[CLS]") + string("[SEP]") + string("\u{2581}a"))
        b.addTensor("token_embd.weight", dims: [32, 5])
        b.addTensor("position_embd.weight", dims: [32, 8])
        b.addTensor("token_types.weight", dims: [32, 2])
        b.addTensor("token_embd_norm.weight", dims: [32])
        b.addTensor("token_embd_norm.bias", dims: [32])
        return b
    }
}

/// Broken GGUF files, one rule each: every one is a typed problem naming the file, never a trap.
@Suite struct GGUFHostileTests {
    func problem(_ bytes: [UInt8]) -> GGUFProblem? {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("broken.gguf").path
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        let found = fileProblem(GGUFProblem.self) { _ = try GGUFFormat.read(path) }
        #expect(found?.path == path)
        return found?.problem
    }

    func problem(_ edit: (inout GGUFBuilder) -> Void) -> GGUFProblem? {
        var builder = GGUFBuilder.bert()
        edit(&builder)
        return problem(builder.bytes)
    }

    @Test func theValidBuilderFileReads() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("ok.gguf").path
        FileManager.default.createFile(atPath: path, contents: Data(GGUFBuilder.bert().bytes))
        let checkpoint = try loadCheckpoint(path)
        #expect(checkpoint.tensors.count == 5)
        #expect(checkpoint.config?.layerNormEps == 1e-12)
        #expect(ParameterInventory(checkpoint: checkpoint).schema?.ok == true)
        let version2 = { (b: inout GGUFBuilder) in b.version = 2 }
        var builder = GGUFBuilder.bert()
        version2(&builder)
        FileManager.default.createFile(atPath: path, contents: Data(builder.bytes))
        #expect(try loadCheckpoint(path).tensors.count == 5)
    }

    /// tokenizer.ggml.normalizer.* set lower-casing and accent stripping; the token types tell
    /// control tokens from continuations.
    @Test func normalizerFlagsAndTokenTypes() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("cased.gguf").path
        var builder = GGUFBuilder.bert()
        builder.add("tokenizer.ggml.normalizer.lowercase", GGUFBuilder.u32(7) + [0])
        builder.add("tokenizer.ggml.token_type", GGUFBuilder.u32(9) + GGUFBuilder.u32(5) + GGUFBuilder.u64(5)
            + [3, 3, 3, 1, 1].flatMap { GGUFBuilder.u32($0) })
        builder.add("tokenizer.ggml.seperator_token_id", GGUFBuilder.uint32Value(3))
        FileManager.default.createFile(atPath: path, contents: Data(builder.bytes))
        guard case .embedded(let vocabulary)? = try loadCheckpoint(path).tokenizer else { Issue.record("no tokenizer"); return }
        let tokenizer = try BertTokenizer(embedded: vocabulary)
        #expect(!tokenizer.lowercase && !tokenizer.stripAccents)
        // [SEP] typed normal here: a continuation piece "##[SEP]".
        #expect((0..<5).map { tokenizer.token(for: $0) } == ["[PAD]", "[UNK]", "[CLS]", "##[SEP]", "a"])
        #expect(problem { $0.add("tokenizer.ggml.token_type", GGUFBuilder.u32(9) + GGUFBuilder.u32(5) + GGUFBuilder.u64(1) + GGUFBuilder.u32(3)) }
            == .wrongMetadataType(key: "tokenizer.ggml.token_type", expected: "an array of 5 integers", found: "array of int32"))
    }

    @Test func header() {
        #expect(problem { $0.magic = Array("GGUX".utf8) } == .badMagic)
        #expect(problem { $0.version = 1 } == .unsupportedVersion(1))
        #expect(problem { $0.version = 4 } == .unsupportedVersion(4))
        #expect(problem { $0.version = 0x0300_0000 } == .unsupportedVersion(0x0300_0000))
        #expect(problem(Array("GGUF".utf8) + [3, 0, 0, 0, 1, 0]) == .truncated(offset: 10, reading: "the tensor count"))
        #expect(problem { $0.tensorCount = 1 << 40 } == .tooManyTensors(count: 1 << 40, fileSize: GGUFBuilder.bert().bytes.count))
        #expect(problem { $0.keyCount = UInt64.max } == .tooManyKeys(count: UInt64.max, fileSize: GGUFBuilder.bert().bytes.count))
    }

    @Test func strings() {
        // A key whose length runs past the end of the file.
        #expect(problem { $0.pairs[0].key = [] } == .emptyKey(index: 0))
        let huge = GGUFBuilder.u64(UInt64.max)
        var bytes = Array("GGUF".utf8) + GGUFBuilder.u32(3) + GGUFBuilder.u64(0) + GGUFBuilder.u64(1) + huge
        bytes += [UInt8](repeating: 0, count: 16)
        #expect(problem(bytes) == .stringPastEndOfFile(offset: 24, length: UInt64.max, reading: "metadata key 0"))
        #expect(problem { $0.pairs[0].key = [0x67, 0xFF, 0x61] } == .stringNotUTF8(offset: 24, reading: "metadata key 0"))
        #expect(problem { $0.pairs[0].value = GGUFBuilder.u32(8) + GGUFBuilder.string([0xC3, 0x28]) }
            == .stringNotUTF8(offset: 24 + 8 + 20 + 4, reading: "the value of \"general.architecture\""))
    }

    @Test func metadataPairs() {
        #expect(problem { $0.add("bert.block_count", GGUFBuilder.uint32Value(1)) } == .duplicateKey("bert.block_count"))
        #expect(problem { $0.pairs[1].value = GGUFBuilder.u32(13) + GGUFBuilder.u32(0) } == .unknownValueType(key: "bert.block_count", type: 13))
        #expect(problem { $0.pairs[1].value = GGUFBuilder.u32(9) + GGUFBuilder.u32(9) + GGUFBuilder.u64(0) } == .nestedArray(key: "bert.block_count"))
        #expect(problem { $0.pairs[1].value = GGUFBuilder.u32(9) + GGUFBuilder.u32(10) + GGUFBuilder.u64(1 << 60) }
            == .arrayTooLong(key: "bert.block_count", count: 1 << 60))
        // An array of strings whose count is right for 8-byte elements but whose strings are not there.
        #expect(problem { $0.pairs[1].value = GGUFBuilder.u32(9) + GGUFBuilder.u32(0) + GGUFBuilder.u64(UInt64.max / 2) }
            == .arrayTooLong(key: "bert.block_count", count: UInt64.max / 2))
    }

    @Test func alignment() {
        #expect(problem { $0.add("general.alignment", GGUFBuilder.u32(10) + GGUFBuilder.u64(32)) } == .alignmentNotUInt32(type: "uint64"))
        #expect(problem { $0.add("general.alignment", GGUFBuilder.uint32Value(48)) } == .alignmentNotPowerOfTwo(48))
        #expect(problem { $0.add("general.alignment", GGUFBuilder.uint32Value(0)) } == .alignmentNotPowerOfTwo(0))
        // Alignment 256 declared, tensors laid out on 32: position_embd at 640 is misaligned.
        #expect(problem { $0.add("general.alignment", GGUFBuilder.uint32Value(256)); $0.alignment = 256 }
            == .misalignedTensor(tensor: "position_embd.weight", offset: 640, alignment: 256))
    }

    @Test func tensorDescriptions() {
        let long = String(repeating: "x", count: 64)
        #expect(problem { $0.tensors[0].name = long } == .tensorNameTooLong(name: long, length: 64))
        #expect(problem { $0.tensors[1].name = "token_embd.weight" } == .duplicateTensor("token_embd.weight"))
        #expect(problem { $0.tensors[0].dims = [1, 1, 1, 1, 1] } == .tooManyDimensions(tensor: "token_embd.weight", count: 5))
        #expect(problem { $0.tensors[0].dims = [32, -5] } == .negativeDimension(tensor: "token_embd.weight", index: 1, value: -5))
        #expect(problem { $0.tensors[0].dims = [1 << 32, 1 << 32] } == .sizeOverflow(tensor: "token_embd.weight"))
        #expect(problem { $0.tensors[0].dims = [1 << 40, 1 << 22] } == .sizeOverflow(tensor: "token_embd.weight"))
        #expect(problem { $0.tensors[0].type = 99 } == .unknownTensorType(tensor: "token_embd.weight", type: 99))
        #expect(problem { $0.tensors[0].type = 16 } == .unsupportedTensorType(tensor: "token_embd.weight", type: "IQ2_XXS"))
        #expect(problem { $0.tensors[0].type = 9 } == .unsupportedTensorType(tensor: "token_embd.weight", type: "Q8_1"))
        #expect(problem { $0.tensors[0].type = 8; $0.tensors[0].dims = [33, 5] }
            == .rowNotWholeBlocks(tensor: "token_embd.weight", rowLength: 33, type: "Q8_0", blockElements: 32))
    }

    @Test func tensorData() {
        #expect(problem { $0.tensors[2].offset += 4 } == .misalignedTensor(tensor: "token_types.weight", offset: 1668, alignment: 32))
        let size = GGUFBuilder.bert().bytes.count
        #expect(problem { $0.tensors[4].offset += 32 }
            == .tensorPastEndOfFile(tensor: "token_embd_norm.bias", end: UInt64(size + 32), fileSize: size))
        #expect(problem { $0.tensors[4].offset = UInt64.max & ~31 }
            == .tensorPastEndOfFile(tensor: "token_embd_norm.bias", end: UInt64.max & ~31, fileSize: size))
        #expect(problem { $0.tensors[1].offset = 0 } == .overlappingTensors(tensor: "position_embd.weight", previous: "token_embd.weight"))
        // Inside a longer tensor, past a shorter one that sits within it too.
        #expect(problem { $0.tensors[3].offset = 64; $0.tensors[4].offset = 512 }
            == .overlappingTensors(tensor: "token_embd_norm.weight", previous: "token_embd.weight"))
        // Cut inside the data section, inside the tensor descriptions, inside the metadata.
        let whole = GGUFBuilder.bert().bytes
        #expect(problem(Array(whole.dropLast(64))) == .tensorPastEndOfFile(tensor: "token_embd_norm.bias", end: UInt64(size), fileSize: size - 64))
        var descriptions = GGUFBuilder.bert()
        (descriptions.alignment, descriptions.data) = (1, [])
        let headerEnd = descriptions.bytes.count
        #expect(problem(Array(whole.prefix(headerEnd - 5)))
            == .truncated(offset: headerEnd - 5, reading: "the data offset of tensor \"token_embd_norm.bias\""))
        #expect(problem(Array(whole.prefix(headerEnd - 30)))
            == .stringPastEndOfFile(offset: headerEnd - 52, length: 20, reading: "a tensor name"))
        // (Counts small enough to pass the count checks, so the cut itself is what is found.)
        var metadataOnly = GGUFBuilder.bert()
        (metadataOnly.tensors, metadataOnly.data, metadataOnly.keyCount) = ([], [], 1)
        #expect(problem(Array(metadataOnly.bytes.prefix(60))) == .truncated(offset: 60, reading: "the value of \"general.architecture\""))
    }

    @Test func bertMetadata() {
        #expect(problem { $0.pairs[0].value = GGUFBuilder.stringValue("llama") } == .notBert(architecture: "llama"))
        #expect(problem { $0.pairs[1].value = GGUFBuilder.stringValue("one") }
            == .wrongMetadataType(key: "bert.block_count", expected: "an integer", found: "string"))
        #expect(problem { $0.pairs.remove(at: 3) } == .missingMetadata("bert.embedding_length"))
        #expect(problem { $0.pairs[5].value = GGUFBuilder.uint32Value(0) }
            == .badMetadataValue(key: "bert.attention.head_count", reason: "0 is below 1"))
        #expect(problem { $0.pairs[6].value = GGUFBuilder.float32Value(-1) }
            == .badMetadataValue(key: "bert.attention.layer_norm_epsilon", reason: "-1.0 is not a positive number"))
        #expect(problem { $0.pairs[7].value = GGUFBuilder.stringValue("gpt2") } == .notWordPieceTokenizer(model: "gpt2"))
        // config.json's limits (a fuzz finding: 2^31 layers made the schema check run for minutes).
        #expect(problem { $0.pairs[1].value = GGUFBuilder.uint32Value(1 << 31) }
            == .badMetadataValue(key: "bert.block_count", reason: "num_hidden_layers 2147483648 is absurdly large (limit 1024)"))
        #expect(problem { $0.pairs[5].value = GGUFBuilder.uint32Value(3) }
            == .badMetadataValue(key: "bert.attention.head_count", reason: "3 heads do not divide bert.embedding_length 32"))
        #expect(problem { $0.add("tokenizer.ggml.padding_token_id", GGUFBuilder.uint32Value(9)) }
            == .badMetadataValue(key: "tokenizer.ggml.padding_token_id", reason: "9 is outside the vocabulary of 5"))
        #expect(problem { $0.add("tokenizer.ggml.unknown_token_id", GGUFBuilder.uint32Value(5)) }
            == .badMetadataValue(key: "tokenizer.ggml.unknown_token_id", reason: "token id 5 is outside the vocabulary of 5"))
        #expect(problem { $0.pairs[8].value = GGUFBuilder.stringValue("x") }
            == .wrongMetadataType(key: "tokenizer.ggml.tokens", expected: "an array of strings", found: "string"))
    }

    /// Through the CLI: exit 2, one line on stderr naming the file and the rule.
    @Test func theCLIReportsBrokenFilesInOneLine() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let real = try Data(contentsOf: URL(fileURLWithPath: GGUFTests.path("tiny-h256-Q8_0.gguf")))
        let truncated = dir.appendingPathComponent("truncated.gguf").path
        FileManager.default.createFile(atPath: truncated, contents: real.prefix(real.count / 2))
        for command in [["params", truncated], ["run", truncated, "text"], ["tokenize", truncated, "text"]] {
            expectInputError(try CLI.run(command), naming: truncated, containing: "past the end of the file")
        }

        var iq = GGUFBuilder.bert()
        iq.tensors[0].type = 19
        let iqPath = dir.appendingPathComponent("iq.gguf").path
        FileManager.default.createFile(atPath: iqPath, contents: Data(iq.bytes))
        expectInputError(try CLI.run(["params", iqPath]), naming: iqPath, containing: "IQ1_S")

        var v1 = GGUFBuilder.bert()
        v1.version = 1
        let v1Path = dir.appendingPathComponent("model.safetensors").path
        FileManager.default.createFile(atPath: v1Path, contents: Data(v1.bytes))
        expectInputError(try CLI.run(["params", v1Path]), naming: v1Path, containing: "GGUF version 1")

        let dirWithConfig = dir.appendingPathComponent("with-config")
        try FileManager.default.createDirectory(at: dirWithConfig, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: GGUFTests.path("tiny-h256-F32.gguf"), toPath: dirWithConfig.appendingPathComponent("m.gguf").path)
        try Data(#"{"hidden_size": 256, "num_hidden_layers": 2, "intermediate_size": 512, "num_attention_heads": 4, "vocab_size": 76, "max_position_embeddings": 64}"#.utf8)
            .write(to: dirWithConfig.appendingPathComponent("config.json"))
        expectInputError(try CLI.run(["params", dirWithConfig.path]), naming: "config.json", containing: "num_hidden_layers")
    }
}

/// `gguf-split` output: shards read as one checkpoint, whichever shard is named.
@Suite struct GGUFSplitTests {
    /// The builder's BERT file cut in two: the first shard keeps the metadata and 3 tensors.
    func writeShards(in dir: URL, secondNumber: UInt16 = 1) -> [String] {
        let whole = GGUFBuilder.bert()
        var first = whole, second = GGUFBuilder()
        first.tensors = []
        first.data = []
        for t in whole.tensors.prefix(3) { first.addTensor(t.name, dims: t.dims) }
        for t in whole.tensors.dropFirst(3) { second.addTensor(t.name, dims: t.dims) }
        func u16(_ v: UInt16) -> [UInt8] { GGUFBuilder.u32(2) + withUnsafeBytes(of: v.littleEndian, Array.init) }
        first.add("split.no", u16(0))
        first.add("split.count", u16(2))
        second.add("split.no", u16(secondNumber))
        second.add("split.count", u16(2))
        let paths = ["model-00001-of-00002.gguf", "model-00002-of-00002.gguf"].map { dir.appendingPathComponent($0).path }
        FileManager.default.createFile(atPath: paths[0], contents: Data(first.bytes))
        FileManager.default.createFile(atPath: paths[1], contents: Data(second.bytes))
        return paths
    }

    @Test func shardsReadAsOneCheckpoint() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let paths = writeShards(in: dir)
        for named in [paths[0], paths[1], dir.path] {
            let checkpoint = try loadCheckpoint(named)
            #expect(checkpoint.files == paths)
            #expect(checkpoint.tensors.map(\.name) == GGUFBuilder.bert().tensors.map { GGUFTensorNames.huggingFaceName($0.name) })
            #expect(ParameterInventory(checkpoint: checkpoint).schema?.ok == true)
            #expect(checkpoint.details.contains { $0.key == "shards" && $0.value == "2" })
        }
    }

    @Test func aShardThatSaysOtherwiseIsNamed() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let paths = writeShards(in: dir, secondNumber: 0)
        let found = fileProblem(GGUFProblem.self) { _ = try loadCheckpoint(paths[0]) }
        #expect(found?.path == paths[1])
        #expect(found?.problem == .badMetadataValue(key: "split.no", reason: "is 0 in shard 2 of 2"))
        try FileManager.default.removeItem(atPath: paths[1])
        let missing = try CLI.run(["params", paths[0]])
        expectInputError(missing, naming: paths[1], containing: "cannot open")
    }
}
