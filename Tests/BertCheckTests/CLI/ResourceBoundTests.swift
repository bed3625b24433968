import Foundation
import Testing
@testable import BertCheck

// Issue 18, defect 2: every file read whole has a size bound, checked before anything is parsed.
// The oversized files are sparse (a size, no data), so the tests cost no disk.

/// Grows `path` (created empty when missing) to `size` bytes without writing them.
func makeSparse(_ path: String, size: Int, prefix: String = "") throws {
    FileManager.default.createFile(atPath: path, contents: Data(prefix.utf8))
    #expect(truncate(path, off_t(size)) == 0)
}

struct OversizedCase: Sendable, CustomTestStringConvertible {
    let name: String
    let size: Int
    let kind: String
    /// Makes the oversized file in a copy of the tiny model; returns (arguments, its path).
    let make: @Sendable (URL, String) throws -> ([String], String)
    var testDescription: String { name }

    static let all: [OversizedCase] = [
        OversizedCase(name: "config.json", size: WholeFileLimit.json + 1, kind: "a config.json") { _, model in
            (["params", model], model + "/config.json")
        },
        OversizedCase(name: "tokenizer_config.json", size: WholeFileLimit.json + 1, kind: "a JSON config") { _, model in
            (["tokenize", model, "hello"], model + "/tokenizer_config.json")
        },
        OversizedCase(name: "vocab.txt", size: WholeFileLimit.vocabulary + 1, kind: "a vocabulary") { _, model in
            (["tokenize", model, "hello"], model + "/vocab.txt")
        },
        OversizedCase(name: "shard index", size: WholeFileLimit.json + 1, kind: "a shard index") { root, _ in
            let sharded = root.appendingPathComponent("sharded").path
            try FileManager.default.copyItem(atPath: TinyCheckpoints.path("tiny-bert-sharded"), toPath: sharded)
            return (["params", sharded], sharded + "/model.safetensors.index.json")
        },
        OversizedCase(name: "--texts-file", size: WholeFileLimit.textsList + 1, kind: "a texts file") { root, model in
            let texts = root.appendingPathComponent("texts.json").path
            return (["run", model, "--texts-file", texts], texts)
        },
        OversizedCase(name: "tokenize --file", size: WholeFileLimit.textLines + 1, kind: "a file of texts") { root, model in
            let lines = root.appendingPathComponent("lines.txt").path
            return (["tokenize", model, "--file", lines], lines)
        },
    ]
}

@Suite struct ResourceBoundTests {
    @Test(arguments: OversizedCase.all) func anOversizedWholeFileIsRefusedBeforeParsing(_ oversized: OversizedCase) throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let model = try tinyModelCopy(root)
        let (arguments, path) = try oversized.make(root, model)
        // Valid-looking start, then the sparse (NUL) rest: without the bound it would be parsed.
        try makeSparse(path, size: oversized.size, prefix: path.hasSuffix(".txt") ? "[PAD]\n" : "{")
        let (result, timedOut) = try runBounded(arguments, seconds: 60)
        #expect(!timedOut)
        expectInputError(result, naming: path, containing: "is \(oversized.size) bytes, more than the \(oversized.size - 1) bytes \(oversized.kind) may have")
    }
}

// Issue 18, defect 6: stride-0 views were capped per tensor, not in total.
@Suite struct BroadcastViewTotalTests {
    @Test func manyBroadcastViewsAreBoundedInTotal() throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let half = PyTorchBinReader.maximumBroadcastElements / 2
        // Five views of half the limit each over one stored float: each allowed, together not.
        let views = (0..<5).map { (name: "w\($0)", storage: "FloatStorage", key: "0", count: 1, offset: 0, shape: [half], strides: [0]) }
        let bin = root.appendingPathComponent("pytorch_model.bin").path
        try Data(torchZip(pickle: PickleBuilder.stateDict(views), storages: [(key: "0", bytes: [0, 0, 128, 63])])).write(to: URL(fileURLWithPath: bin))
        let result = try CLI.run(["params", bin])
        expectInputError(result, naming: bin, containing: "tensor 'w2' brings the elements of views repeating their storage to \(3 * half)")
    }
}

// Issue 18, defect 6: `verify --outputs x.npz` inflated members it then ignored.
@Suite struct IgnoredNpzMemberTests {
    /// An outputs .npz with an extra member the verdict ignores: it is never read, so even a
    /// member that is not an array at all costs nothing and changes nothing.
    @Test func ignoredMembersAreNotRead() throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let fixtures = TestPaths.fixtures.appendingPathComponent("goldens")
        let source = fixtures.appendingPathComponent("tiny-bert.outputs.npz").path
        let file = try MappedFile(path: source)
        let archive = try ZipArchive(bytes: file.bytes, storage: file, path: source)
        var zip = ZipBuilder()
        for entry in archive.entries {
            let contents = try archive.contents(of: entry)
            withExtendedLifetime(contents.storage) { zip.add(entry.name, Array(contents.bytes)) }
        }
        zip.add("logits_of_another_head.npy", Array("not an npy array".utf8))
        let outputs = root.appendingPathComponent("outputs.npz").path
        try Data(zip.build()).write(to: URL(fileURLWithPath: outputs))
        let golden = TestPaths.goldens.appendingPathComponent("tiny-bert.golden.safetensors").path
        let result = try CLI.run(["verify", "--golden", golden, "--outputs", outputs])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    }
}

/// Issue 18 #2: the small entries of a `.bin` are bounded by what they declare, before anything
/// is inflated (the body need not be valid deflate: it is never read).
@Suite struct DeclaredEntrySizeTests {
    @Test(arguments: [("archive/byteorder", UInt32(3 << 30), "limit 16"), ("archive/data.pkl", UInt32(300 << 20), "limit 268435456")])
    func aSmallEntryDeclaringGigabytesIsRefusedUninflated(_ name: String, _ declared: UInt32, _ limit: String) throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        var zip = ZipBuilder()
        var pickle = PickleBuilder()
        pickle.op(0x7D); pickle.stop()  // {}
        zip.add("archive/data.pkl", pickle.bytes)
        zip.add("archive/byteorder", Array("little".utf8))
        let index = zip.entries.firstIndex { $0.name == name }!
        zip.entries[index].data = [UInt8](repeating: 0, count: 3_000_000)
        zip.entries[index].method = 8
        zip.entries[index].uncompressedSize = declared
        let path = root.appendingPathComponent("pytorch_model.bin").path
        try Data(zip.build()).write(to: URL(fileURLWithPath: path))
        let result = try underFourGiB(["params", path])
        expectInputError(result, naming: path, containing: "zip entry '\(name)' declares \(declared) uncompressed bytes, more than its data can hold (\(limit))")
    }
}
