import Foundation
import Testing
@testable import BertCheck

// Issue 18, defect 4: a FIFO (or any non-regular file) at an input path is refused at once with
// the contract's exit 2, never waited on. Each run is bounded, so a hang fails the test instead
// of stalling the suite.

/// Runs `bertcheck`, killing it after `seconds`; `timedOut` says it had to be killed.
func runBounded(_ arguments: [String], seconds: Double = 30, executable: URL = CLI.executable,
                in directory: URL? = nil) throws -> (result: CLIResult, timedOut: Bool) {
    let process = Process()
    process.executableURL = executable
    if let directory { process.currentDirectoryURL = directory }
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let killed = LockedFlag()
    DispatchQueue.global().asyncAfter(deadline: .now() + seconds) {
        if process.isRunning { killed.set(); kill(process.processIdentifier, SIGKILL) }
    }
    var outData = Data()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    let result = CLIResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                           stderr: String(decoding: errData, as: UTF8.self),
                           signaled: process.terminationReason == .uncaughtSignal)
    return (result, killed.value)
}

final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    func set() { lock.lock(); flag = true; lock.unlock() }
    var value: Bool { lock.lock(); defer { lock.unlock() }; return flag }
}

/// A copy of the committed tiny model (weights, config, vocabulary) in a fresh directory.
func tinyModelCopy(_ root: URL, name: String = "model") throws -> String {
    let source = TestPaths.goldens.appendingPathComponent("models/tiny-bert").path
    let model = root.appendingPathComponent(name).path
    try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
    for item in try FileManager.default.contentsOfDirectory(atPath: source) {
        try FileManager.default.copyItem(atPath: source + "/" + item, toPath: model + "/" + item)
    }
    return model
}

/// Replaces `path` by a FIFO that nobody writes to.
func makeFIFO(_ path: String) throws {
    try? FileManager.default.removeItem(atPath: path)
    #expect(mkfifo(path, 0o600) == 0)
}

struct FIFOCase: Sendable, CustomTestStringConvertible {
    let name: String
    /// Builds the inputs in `root` and returns (arguments, the FIFO's path).
    let make: @Sendable (URL) throws -> ([String], String)
    var testDescription: String { name }

    static let all: [FIFOCase] = [
        FIFOCase(name: "model path") { root in
            let fifo = root.appendingPathComponent("model.safetensors").path
            try makeFIFO(fifo)
            return (["params", fifo], fifo)
        },
        FIFOCase(name: "model.safetensors in the directory") { root in
            let model = try tinyModelCopy(root)
            try makeFIFO(model + "/model.safetensors")
            return (["params", model], model + "/model.safetensors")
        },
        FIFOCase(name: "config.json") { root in
            let model = try tinyModelCopy(root)
            try makeFIFO(model + "/config.json")
            return (["params", model], model + "/config.json")
        },
        FIFOCase(name: "vocab.txt") { root in
            let model = try tinyModelCopy(root)
            try makeFIFO(model + "/vocab.txt")
            return (["tokenize", model, "hello"], model + "/vocab.txt")
        },
        FIFOCase(name: "a shard") { root in
            let model = root.appendingPathComponent("sharded").path
            try FileManager.default.copyItem(atPath: TinyCheckpoints.path("tiny-bert-sharded"), toPath: model)
            try makeFIFO(model + "/model-00003-of-00007.safetensors")
            return (["params", model], model + "/model-00003-of-00007.safetensors")
        },
        FIFOCase(name: "--golden") { root in
            let model = try tinyModelCopy(root)
            let fifo = root.appendingPathComponent("golden.safetensors").path
            try makeFIFO(fifo)
            return (["verify", "--golden", fifo, "--model", model], fifo)
        },
        FIFOCase(name: "--texts-file") { root in
            let model = try tinyModelCopy(root)
            let fifo = root.appendingPathComponent("texts.json").path
            try makeFIFO(fifo)
            return (["run", model, "--texts-file", fifo], fifo)
        },
        FIFOCase(name: "tokenize --file") { root in
            let model = try tinyModelCopy(root)
            let fifo = root.appendingPathComponent("lines.txt").path
            try makeFIFO(fifo)
            return (["tokenize", model, "--file", fifo], fifo)
        },
    ]
}

@Suite struct SpecialFileTests {
    @Test(arguments: FIFOCase.all) func fifoIsRefusedAtOnce(_ fifoCase: FIFOCase) throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let (arguments, fifo) = try fifoCase.make(root)
        let (result, timedOut) = try runBounded(arguments, seconds: 20)
        #expect(!timedOut, "bertcheck blocked on the FIFO \(fifo)")
        expectInputError(result, naming: fifo, containing: "not a regular file (a FIFO)")
    }
}
