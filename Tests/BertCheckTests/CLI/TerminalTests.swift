import Foundation
import Testing
@testable import BertCheck

/// What a person at a terminal sees (progress on stderr, coloured verdicts) and what a pipe or a
/// CI log gets (exactly the plain output): the CLI run under pseudo-terminals opened by the test.
@Suite struct TerminalTests {
    static var tinyModel: String { VerifyCommandTests.tinyModel }
    static var tinyGolden: String { VerifyCommandTests.tinyGolden }
    static let escape = UInt8(0x1B)
    /// Progress from the first step: the fixtures' work is far shorter than the default delay.
    static let progressAtOnce: [String: String?] = ["BERTCHECK_PROGRESS_DELAY": "0", "NO_COLOR": nil]

    /// Every command with progress, on the committed tiny model, and the word its progress counts in.
    static func longCommands(in dir: URL) throws -> [(arguments: [String], unit: String)] {
        let texts = dir.appendingPathComponent("texts.json")
        try Data(#"["the quick brown fox", ["a question?", "an answer."], "jumps over the lazy dog"]"#.utf8).write(to: texts)
        let lines = dir.appendingPathComponent("lines.txt")
        try Data(String(repeating: "hello world, the lazy dog\n", count: 50).utf8).write(to: lines)
        return [
            (["record", tinyModel, "--texts-file", texts.path, "--out", dir.appendingPathComponent("golden.safetensors").path], "steps"),
            (["run", tinyModel, "--texts-file", texts.path], "steps"),
            (["verify", "--golden", tinyGolden, "--model", tinyModel], "tensors"),
            (["diff", tinyModel, tinyModel], "tensors"),
            (["tokenize", tinyModel, "--file", lines.path], "lines"),
            (["bench", tinyModel, "--batch", "2", "--seq", "8", "--iterations", "3"], "passes"),
        ]
    }

    @Test func progressIsDrawnOnStderrAndErasedAndStdoutIsThePipedOutput() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (arguments, unit) in try Self.longCommands(in: dir) {
            let piped = try CLI.run(arguments)
            let shown = try PseudoTerminal.run(arguments, environment: Self.progressAtOnce)
            let command = arguments[0]
            #expect(piped.status == 0 && shown.status == 0, "\(command): \(piped.stderr) \(shown.stderrText)")
            // A pipe gets no progress; the terminal gets a line redrawn with "\r" that counts the work.
            #expect(piped.stderr.isEmpty, "\(command): \(piped.stderr)")
            #expect(shown.stderr.contains(UInt8(ascii: "\r")), "\(command): \(shown.stderrText)")
            #expect(shown.stderrText.contains(" \(unit)"), "\(command): \(shown.stderrText)")
            #expect(!shown.stderr.contains(UInt8(ascii: "\n")), "\(command): progress is one line: \(shown.stderrText)")
            #expect(!shown.stderr.contains(Self.escape), "\(command): \(shown.stderrText)")
            // Erased at the end: the terminal's line holds nothing but spaces.
            #expect(PseudoTerminal.visibleLastLine(shown.stderr).allSatisfy { $0 == " " }, "\(command): \(shown.stderrText)")
            // Never on stdout: byte for byte what the pipe got (bench's timings aside).
            if command == "bench" {
                #expect(Self.digitsMasked(shown.stdoutText) == Self.digitsMasked(piped.stdout), "\(shown.stdoutText)")
            } else {
                #expect(shown.stdout == Array(piped.stdout.utf8), "\(command)")
            }
            #expect(!shown.stdout.contains(UInt8(ascii: "\r")), "\(command)")
        }
    }

    /// `text` with every number (digits, with their dots and commas) replaced by "N".
    static func digitsMasked(_ text: String) -> String {
        text.replacingOccurrences(of: "[0-9][0-9.,]*", with: "N", options: .regularExpression)
    }

    @Test func quietAndShortWorkDrawNothing() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (arguments, _) in try Self.longCommands(in: dir) {
            let quiet = try PseudoTerminal.run(arguments + ["--quiet"], environment: Self.progressAtOnce)
            #expect(quiet.stderr.isEmpty, "\(arguments[0]) --quiet: \(quiet.stderrText)")
            // Milliseconds of work on the tiny model: under the default half second, nothing.
            let short = try PseudoTerminal.run(arguments, environment: ["BERTCHECK_PROGRESS_DELAY": nil])
            #expect(short.stderr.isEmpty, "\(arguments[0]): \(short.stderrText)")
        }
    }

    @Test func verdictsAreColouredOnATerminalOnly() throws {
        let arguments = ["verify", "--golden", Self.tinyGolden, "--model", Self.tinyModel]
        let plain = try CLI.run(arguments)
        let terminal = try PseudoTerminal.run(arguments, environment: ["NO_COLOR": nil], stdoutOnTerminal: true)
        #expect(terminal.status == 0)
        #expect(terminal.stdoutText.contains("\u{1B}[1;32mPASS: all 8 checks passed\u{1B}[0m"), "\(terminal.stdoutText)")
        // Without the escape sequences, the same text as piped.
        #expect(terminal.stdoutText.replacingOccurrences(of: "\u{1B}[1;32m", with: "").replacingOccurrences(of: "\u{1B}[0m", with: "") == plain.stdout)

        // NO_COLOR (any non-empty value) and --color never remove every escape sequence, progress included.
        for (extra, environment) in [([], ["NO_COLOR": "1"]), (["--color", "never"], ["NO_COLOR": nil])] as [([String], [String: String?])] {
            let result = try PseudoTerminal.run(arguments + extra, environment: environment.merging(["BERTCHECK_PROGRESS_DELAY": "0"]) { a, _ in a },
                                                stdoutOnTerminal: true)
            #expect(result.status == 0)
            #expect(!result.stdout.contains(Self.escape) && !result.stderr.contains(Self.escape), "\(extra) \(environment)")
            #expect(result.stdoutText == plain.stdout)
            #expect(result.stderr.contains(UInt8(ascii: "\r")), "progress is still shown: \(result.stderrText)")
        }
        // An empty NO_COLOR is unset (no-color.org).
        let empty = try PseudoTerminal.run(arguments, environment: ["NO_COLOR": ""], stdoutOnTerminal: true)
        #expect(empty.stdout.contains(Self.escape))
        // --color always colours a pipe too.
        let always = try CLI.run(arguments + ["--color", "always"])
        #expect(always.stdout.contains("\u{1B}[1;32mPASS"))
    }

    @Test func failingChecksAreRed() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try VerifyCommandTests.modelCopy(in: dir) { tensors in
            for i in tensors.indices where tensors[i].name == "encoder.layer.1.intermediate.dense.weight" {
                tensors[i] = VerifyCommandTests.changed(tensors[i]) { values in for j in stride(from: 0, to: values.count, by: 7) { values[j] += 0.05 } }
            }
        }
        let arguments = ["verify", "--golden", Self.tinyGolden, "--model", model, "--color", "always"]
        let result = try CLI.run(arguments)
        #expect(result.status == 1)
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.last?.hasPrefix("\u{1B}[1;31mFAIL: ") == true, "\(result.stdout)")
        let failingRows = lines.filter { $0.split(separator: " ").contains("FAIL") }
        #expect(!failingRows.isEmpty)
        #expect(failingRows.allSatisfy { $0.hasPrefix("\u{1B}[31m") && $0.hasSuffix("\u{1B}[0m") }, "\(failingRows)")
        let diff = try CLI.run(["diff", Self.tinyModel, model, "--color", "always"])
        #expect(diff.status == 1)
        #expect(diff.stdout.contains("\u{1B}[1;31mFAIL: 0 missing, 0 extra, 1 differing"), "\(diff.stdout)")
    }

    @Test func quietVerifyAndDiffPrintOnlyTheVerdictWithTheSameExitCode() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let broken = try VerifyCommandTests.modelCopy(in: dir) { tensors in
            for i in tensors.indices where tensors[i].name == "pooler.dense.bias" {
                tensors[i] = VerifyCommandTests.changed(tensors[i]) { values in values = values.map { $0 + 1 } }
            }
        }
        let runs: [(arguments: [String], status: Int32)] = [
            (["verify", "--golden", Self.tinyGolden, "--model", Self.tinyModel], 0),
            (["verify", "--golden", Self.tinyGolden, "--model", broken], 1),
            (["diff", Self.tinyModel, Self.tinyModel], 0),
            (["diff", Self.tinyModel, broken], 1),
        ]
        for (arguments, status) in runs {
            let full = try CLI.run(arguments)
            let quiet = try CLI.run(arguments + ["--quiet"])
            #expect(full.status == status && quiet.status == status, "\(arguments): \(full.stderr)")
            let lastLine = full.stdout.split(separator: "\n").last.map(String.init) ?? ""
            #expect(quiet.stdout == lastLine + "\n", "\(arguments)")
            #expect(quiet.stdout.hasPrefix(status == 0 ? "PASS: " : "FAIL: "))
            #expect(quiet.stderr == full.stderr)
        }
        let both = try CLI.run(["verify", "--golden", Self.tinyGolden, "--model", Self.tinyModel, "--quiet", "--json"])
        #expect(both.status == 2 && both.stdout.isEmpty)
        #expect(both.stderr.split(separator: "\n").count == 1 && both.stderr.contains("--quiet"), "\(both.stderr)")
    }

    @Test(arguments: ["bash", "zsh", "fish"])
    func completionScriptIsGenerated(shell: String) throws {
        let result = try CLI.run(["--generate-completion-script", shell])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.count > 500, "\(result.stdout)")
        for subcommand in ["params", "tokenize", "run", "bench", "similarity", "verify", "record", "diff"] {
            #expect(result.stdout.contains(subcommand), "\(shell): no \(subcommand)")
        }
        #expect(result.stdout.contains("texts-file"))
    }
}
