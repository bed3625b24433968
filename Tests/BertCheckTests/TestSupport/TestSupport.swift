import Foundation
import Testing
@testable import BertCheck

/// Paths the tests share: the real all-MiniLM-L6-v2 (fetched by Scripts/fetch-model.sh, which the
/// test command runs), the committed goldens, and the test fixtures.
enum TestPaths {
    /// This file is Tests/BertCheckTests/TestSupport/TestSupport.swift: four levels below the root.
    static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let goldens = repoRoot.appendingPathComponent("goldens")
    static let fixtures = repoRoot.appendingPathComponent("Tests/BertCheckTests/Fixtures")

    /// The real model. A missing model is a failure, not a skip: run Scripts/fetch-model.sh.
    static var miniLM: String {
        let env = ProcessInfo.processInfo.environment
        let path = env["BERTCHECK_MINILM"]
            ?? ((env["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")) + "/bertcheck/all-MiniLM-L6-v2")
        if !FileManager.default.fileExists(atPath: path + "/model.safetensors") {
            Issue.record("all-MiniLM-L6-v2 not found at \(path): run Scripts/fetch-model.sh (Scripts/test.sh does)")
        }
        return path
    }

    /// A fresh temporary directory, removed by the caller when done.
    static func temporaryDirectory() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bertcheck-test-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// Runs the built `bertcheck` executable, as a user would.
struct CLIResult {
    var status: Int32
    var stdout: String
    var stderr: String
    /// Killed by a signal (a trap, an abort): `status` is then the signal's number, not an exit code.
    var signaled = false
}

enum CLI {
    static var executable: URL {
        // SwiftPM puts the test bundle and the executable in the same build directory.
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent("bertcheck")
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDir), !isDir.boolValue {
                return candidate
            }
            dir = dir.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: "bertcheck")
    }

    @discardableResult
    static func run(_ arguments: [String], stdin: String? = nil) throws -> CLIResult {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        if let stdin {
            let input = Pipe()
            process.standardInput = input
            try process.run()
            input.fileHandleForWriting.write(Data(stdin.utf8))
            try input.fileHandleForWriting.close()
        } else {
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }
        // Read both pipes before waiting, so a large output cannot block the child.
        var outData = Data(), errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        errData = err.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return CLIResult(status: process.terminationStatus,
                         stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self),
                         signaled: process.terminationReason == .uncaughtSignal)
    }
}

/// Asserts the contract for bad input: exit 2, exactly one line on stderr that names `file`, no
/// output on stdout.
func expectInputError(_ result: CLIResult, naming file: String, containing rule: String? = nil,
                      sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(result.status == 2, "exit \(result.status), stderr: \(result.stderr)", sourceLocation: sourceLocation)
    let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: true)
    #expect(lines.count == 1, "stderr should be one line: \(result.stderr)", sourceLocation: sourceLocation)
    #expect(result.stderr.contains(file), "stderr should name \(file): \(result.stderr)", sourceLocation: sourceLocation)
    if let rule {
        #expect(result.stderr.contains(rule), "stderr should say \(rule): \(result.stderr)", sourceLocation: sourceLocation)
    }
    #expect(result.stdout.isEmpty, "nothing on stdout for bad input: \(result.stdout)", sourceLocation: sourceLocation)
}
