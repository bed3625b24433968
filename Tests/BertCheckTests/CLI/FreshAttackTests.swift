import Foundation
import Testing
@testable import BertCheck

// Issue 18, the fresh attack after the fixes (resources, special files, non-finite values,
// messages; the GGUF and ONNX readers with new malformed files). Each case ends in the contract.

private let tinyBert = TestPaths.goldens.appendingPathComponent("models/tiny-bert").path

@Suite struct FreshAttackTests {
    /// Half a million empty texts (3 MB of JSON) cost about 1 KiB each to tokenize and report:
    /// refused against the budget before tokenizing, naming the texts file (2 million took
    /// 2.6 GB and 166 s before).
    @Test func manyEmptyTextsAreRefusedBeforeTokenizing() throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let texts = root.appendingPathComponent("texts.json").path
        try Data(("[" + Array(repeating: "\"\"", count: 500_000).joined(separator: ",") + "]").utf8).write(to: URL(fileURLWithPath: texts))
        for command in [["run", tinyBert, "--texts-file", texts], ["record", tinyBert, "--texts-file", texts, "--out", root.appendingPathComponent("g.safetensors").path]] {
            let started = Date()
            let result = try CLI.run(command + ["--max-memory", "256M"])
            expectInputError(result, naming: texts, containing: "500000 texts need about 579 MiB of memory to tokenize, more than the")
            #expect(result.stderr.contains("(--max-memory 256 MiB); use fewer texts"), "\(result.stderr)")
            #expect(Date().timeIntervalSince(started) < 30)
        }
        #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("g.safetensors").path))
    }

    /// A budget under a megabyte is named in bytes, not as "0 MiB".
    @Test func aTinyBudgetIsNamedInBytes() throws {
        let result = try CLI.run(["run", tinyBert, "hello", "--max-memory", "1"])
        #expect(result.status == 2 && result.stderr.contains("(--max-memory 1 bytes)") && !result.stderr.contains("0 MiB"), "\(result.stderr)")
    }

    /// A path with a line break and a terminal escape: the message stays one line and shows
    /// the escape as \x1b instead of sending it to the terminal.
    @Test func controlCharactersInAPathAreShownEscaped() throws {
        let result = try CLI.run(["params", "a\nb\u{1B}[2Jc"])
        #expect(result.status == 2 && result.stdout.isEmpty)
        #expect(result.stderr == "bertcheck: error: a b\\x1b[2Jc: cannot open: No such file or directory\n", "\(result.stderr)")
    }

    /// ONNX external data that is a FIFO (would block in open) or a directory.
    @Test(arguments: ["fifo", "directory"]) func onnxExternalDataThatIsNotAFileIsRefused(_ kind: String) throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let source = TestPaths.goldens.appendingPathComponent("onnx/tiny-bert-external.onnx")
        let model = root.appendingPathComponent("tiny-bert-external.onnx")
        try FileManager.default.copyItem(at: source, to: model)
        let data = root.appendingPathComponent("tiny-bert-external.onnx.data").path
        if kind == "fifo" { #expect(mkfifo(data, 0o644) == 0) } else { try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: false) }
        let (result, timedOut) = try runBounded(["params", model.path], seconds: 30)
        #expect(!timedOut)
        expectInputError(result, naming: data, containing: kind == "fifo" ? "not a regular file (a FIFO)" : "not a regular file (a directory)")
    }

    /// llama.cpp's GGUF with a NaN or infinite epsilon (a float32 field can hold them, JSON cannot).
    @Test(arguments: [Float.nan, .infinity, -.infinity]) func aGGUFWithANonFiniteEpsilonIsRefused(_ epsilon: Float) throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        var bytes = try [UInt8](Data(contentsOf: TestPaths.goldens.appendingPathComponent("gguf/tiny-cls-F32.gguf")))
        let key = Array("bert.attention.layer_norm_epsilon".utf8)
        let at = try #require((0..<(bytes.count - key.count)).first { Array(bytes[$0..<($0 + key.count)]) == key }) + key.count
        #expect(Array(bytes[at..<(at + 4)]) == [6, 0, 0, 0])  // float32
        withUnsafeBytes(of: epsilon.bitPattern.littleEndian) { bytes.replaceSubrange((at + 4)..<(at + 8), with: $0) }
        let path = root.appendingPathComponent("eps.gguf").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        for command in [["params", path], ["run", path, "hello"]] {
            expectInputError(try CLI.run(command), naming: path, containing: "\"bert.attention.layer_norm_epsilon\": \(epsilon) is not a positive number")
        }
    }

    /// A GGUF whose embedding LayerNorm weight holds one NaN: `run` prints its report and fails.
    @Test func aGGUFWithANaNWeightFailsRun() throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        var bytes = try [UInt8](Data(contentsOf: TestPaths.goldens.appendingPathComponent("gguf/tiny-cls-F32.gguf")))
        let parsed = try bytes.withUnsafeBytes { try GGUFFile.parse($0) }
        let tensor = try #require(parsed.tensors.first { $0.name == "token_embd_norm.weight" })
        let at = parsed.dataStart + tensor.offset
        withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { bytes.replaceSubrange(at..<(at + 4), with: $0) }
        let path = root.appendingPathComponent("nan.gguf").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let result = try CLI.run(["run", path, "hello"])
        #expect(result.status == 1 && !result.stdout.isEmpty, "\(result.status) \(result.stderr)")
        #expect(result.stderr.contains("non-finite values (NaN/Inf) in last_hidden_state"), "\(result.stderr)")
    }
}
