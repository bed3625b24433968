import Foundation
import Testing
@testable import BertCheck

// Issue 18, defect 1: a request larger than the memory the process may still allocate is refused
// with exit 2 and both figures, before it is allocated. Run under `prlimit --as=4G`, as the issue
// asks, so the bound is the address-space limit whatever the machine has.

func underFourGiB(_ arguments: [String]) throws -> CLIResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
    process.arguments = ["--as=4294967296", CLI.executable.path] + arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return CLIResult(status: process.terminationStatus, stdout: stdout, stderr: stderr,
                     signaled: process.terminationReason == .uncaughtSignal)
}

@Suite struct MemoryBudgetTests {
    @Test func aBenchBeyondMemoryIsRefusedWithItsFigure() throws {
        let result = try underFourGiB(["bench", TestPaths.miniLM, "--batch", "32768", "--seq", "512", "--iterations", "1"])
        #expect(!result.signaled && result.status == 2, "\(result.status) \(result.stderr.prefix(300))")
        #expect(result.stderr.contains("32768 × 512 tokens need about") && result.stderr.contains("available (the address-space limit)"),
                "\(result.stderr.prefix(300))")
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    @Test func aTextsFileBeyondMemoryIsRefusedWithItsFigure() throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        // 270 words: past MiniLM's 256 tokens, no more text to tokenize than needed.
        let long = Array(repeating: "the quick brown fox jumps over the lazy dog", count: 30).joined(separator: " ")
        let texts = root.appendingPathComponent("texts.json").path
        try Data(("[" + Array(repeating: "\"\(long)\"", count: 3000).joined(separator: ",") + "]").utf8).write(to: URL(fileURLWithPath: texts))
        let out = root.appendingPathComponent("g.safetensors").path
        let result = try underFourGiB(["record", TestPaths.miniLM, "--texts-file", texts, "--out", out, "--hidden-states"])
        #expect(!result.signaled && result.status == 2, "\(result.status) \(result.stderr.prefix(300))")
        // MiniLM's sentence_bert_config.json max_seq_length (256) bounds the texts before the position
        // table does. The workspace is sized per chunk of rows; the outputs with the hidden states
        // (8.8 GB) cannot be.
        #expect(result.stderr.contains("3000 × 256 tokens need about 8.7 GiB"), "\(result.stderr.prefix(300))")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func theBudgetIsKnownOnLinux() {
        let budget = MemoryBudget.available()
        #expect(budget != nil && budget!.bytes > 0)
    }
}

@Suite struct InflationBudgetTests {
    /// An .npz whose one member, input_ids.npy, holds `compressedBytes` of deflate data and
    /// declares `declaring` uncompressed bytes.
    static func deflatedIdsNpz(compressedBytes: Int, declaring: UInt32, in root: URL) throws -> String {
        var zip = ZipBuilder()
        var entry = ZipBuilder.Entry(name: "input_ids.npy", data: [UInt8](repeating: 0, count: compressedBytes))
        entry.method = 8
        entry.uncompressedSize = declaring
        zip.entries.append(entry)
        let golden = root.appendingPathComponent("golden.npz").path
        try Data(zip.build()).write(to: URL(fileURLWithPath: golden))
        return golden
    }

    /// A deflated .npz member declaring 4.29 GB (4.2 MB of compressed bytes, within deflate's ratio) is
    /// refused against the memory available before any buffer is allocated.
    @Test func aMemberDeclaringMoreThanAvailableMemoryIsRefused() throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let golden = try Self.deflatedIdsNpz(compressedBytes: 4_200_000, declaring: 4_290_000_000, in: root)
        let result = try underFourGiB(["verify", "--golden", golden, "--model", TestPaths.goldens.appendingPathComponent("models/tiny-bert").path])
        expectInputError(result, naming: golden, containing: "zip entry 'input_ids.npy' inflates to 4290000000 bytes, more than the")
        #expect(result.stderr.contains("of memory available (the address-space limit)"), "\(result.stderr)")
    }

    /// The case: 1.9 MB of deflated bytes declaring 4×10⁸ int64 ids (3.2 GB). Deflate
    /// cannot expand that far (1032:1), so the member is refused unread even where 3.2 GB of
    /// memory is available (no prlimit here), and at once.
    @Test func aMemberDeclaringMoreThanDeflateCanHoldIsRefusedUnread() throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let golden = try Self.deflatedIdsNpz(compressedBytes: 1_900_000, declaring: 3_200_000_128, in: root)
        let started = Date()
        let result = try CLI.run(["verify", "--golden", golden, "--model", TestPaths.goldens.appendingPathComponent("models/tiny-bert").path])
        expectInputError(result, naming: golden, containing: "zip entry 'input_ids.npy' declares 3200000128 uncompressed bytes, more than its data can hold (limit 1960800064)")
        #expect(Date().timeIntervalSince(started) < 20)
    }
}
