import Foundation
import Testing
@testable import BertCheck

// Issue 18, defect 12: SIGINT or SIGTERM while `record` writes its golden removes the temporary
// file. inotify reports the temporary file's creation, and the signal is sent at once, while
// tens of megabytes are still being written and synced.

@Suite struct SignalCleanupTests {
    /// The third case writes to a name that is not UTF-8 (`g\xe9.safetensors`, through bash):
    /// the handler unlinks the temporary file's exact bytes.
    @Test(arguments: [(SIGTERM, false), (SIGINT, false), (SIGTERM, true)])
    func aSignalDuringRecordLeavesNoTemporaryFile(_ signalNumber: Int32, _ nonUTF8Name: Bool) throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let outDir = root.appendingPathComponent("out").path
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        let long = Array(repeating: "the quick brown fox jumps over the lazy dog", count: 40).joined(separator: " ")
        let texts = "[" + Array(repeating: "\"\(long)\"", count: 24).joined(separator: ",") + "]"
        let textsPath = root.appendingPathComponent("texts.json").path
        try Data(texts.utf8).write(to: URL(fileURLWithPath: textsPath))
        let out = outDir + "/golden.safetensors"

        let watch = inotify_init1(Int32(IN_CLOEXEC))
        #expect(watch >= 0)
        defer { close(watch) }
        #expect(inotify_add_watch(watch, outDir, UInt32(IN_CREATE)) >= 0)

        let process = Process()
        // The test runner's children inherit SIGINT/SIGTERM ignored (and bertcheck, like nohup's
        // children, leaves an ignored signal ignored): env restores the defaults a shell gives.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = nonUTF8Name
            ? ["--default-signal=INT,TERM", "/bin/bash", "-c", "exec \"$0\" record \"$1\" --texts-file \"$2\" --out \"$3\"/$'g\\xe9.safetensors' --hidden-states",
               CLI.executable.path, TestPaths.miniLM, textsPath, outDir]
            : ["--default-signal=INT,TERM", CLI.executable.path, "record", TestPaths.miniLM, "--texts-file", textsPath, "--out", out, "--hidden-states"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { read(watch, $0.baseAddress, $0.count) }
        kill(process.processIdentifier, signalNumber)
        process.waitUntilExit()

        let created = count > 16 ? String(decoding: buffer[16..<count].prefix(while: { $0 != 0 }), as: UTF8.self) : ""
        #expect(created.contains(".tmp-"), "the first file created should be the temporary one: \(created)")
        #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == signalNumber,
                "record should die by the signal (it finished first?): status \(process.terminationStatus)")
        let left = try FileManager.default.contentsOfDirectory(atPath: outDir)
        #expect(left.isEmpty, "left behind: \(left)")
    }
}
