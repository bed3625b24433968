import Foundation
import Testing
@testable import BertCheck

// Issue 18, defect 3: a weights file truncated while bertcheck runs (a re-download, say) used to
// kill it with SIGBUS; now the fault is reported as the contract's one line naming the file, exit 2.

@Suite struct TruncatedMappingTests {
    @Test func truncatingTheWeightsDuringARunIsExitTwoNamingTheFile() throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let model = root.appendingPathComponent("model").path
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        for name in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(atPath: TestPaths.miniLM + "/" + name, toPath: model + "/" + name)
        }
        let weights = model + "/model.safetensors"
        let process = Process()
        process.executableURL = CLI.executable
        process.arguments = ["bench", model, "--batch", "2", "--seq", "64", "--iterations", "100000"]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        Thread.sleep(forTimeInterval: 3)  // loaded and in its timed passes
        #expect(process.isRunning, "bench ended before the file was cut")
        #expect(truncate(weights, 1 << 20) == 0)
        DispatchQueue.global().asyncAfter(deadline: .now() + 60) { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 2,
                "\(process.terminationReason == .exit ? "exit" : "signal") \(process.terminationStatus): \(stderr)")
        #expect(stderr == "bertcheck: error: \(weights): the file changed size while it was being read (it was truncated or replaced during the run)\n",
                "\(stderr)")
    }
}
