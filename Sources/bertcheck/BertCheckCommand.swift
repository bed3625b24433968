import ArgumentParser
import BertCheck
#if canImport(Glibc)
import Glibc
#endif

@main
struct BertCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bertcheck",
        abstract: "Inspect and verify BERT checkpoints.",
        discussion: """
        Exit codes (every subcommand): 0 success, 1 the check found a problem, 2 unusable input or usage.
        """,
        subcommands: [
            ParamsCommand.self,
            TokenizeCommand.self,
            RunCommand.self,
            BenchCommand.self,
            SimilarityCommand.self,
            VerifyCommand.self,
            RecordCommand.self,
            DiffCommand.self,
        ]
    )

    /// ArgumentParser exits 64 on usage errors and prints stack-free messages; bertcheck promises
    /// 0/1/2, and one line on stderr for every input problem.
    static func main() {
        // A reader that closed the pipe must show up as a failed write (exit 2 with a message),
        // not as a silent death by SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        do {
            var command = try parseAsRoot(rawArguments())
            try command.run()
        } catch let failure as CheckFailure {
            writeStderr("bertcheck: \(failure.line)\n")
            Foundation_exit(1)
        } catch let code as ExitCode {
            Foundation_exit(code.rawValue)
        } catch let error as FileError {
            fail(error.oneLine)
        } catch let error as UsageError {
            fail(error.oneLine)
        } catch {
            switch exitCode(for: error) {
            case .success:
                exit(withError: error) // --help, --version
            case .validationFailure:
                // A usage error found by ArgumentParser: its message on one line (the usage is
                // one `--help` away), exit 2.
                let lines = message(for: error).split(whereSeparator: \.isNewline)
                    .map { String($0.drop(while: \.isWhitespace)) }.filter { !$0.isEmpty }
                fail(lines.joined(separator: "; ") + " (see --help)")
            default:
                fail(error.oneLine)
            }
        }
    }
}

/// Largest `--threads` accepted: far above any core count, and small enough for the Int32 that
/// OpenBLAS takes (a bigger value trapped converting to Int32).
let maximumThreads = 1024

/// `--threads N`: 1 ... maximumThreads, else a usage error.
func checkThreads(_ threads: Int?) throws {
    if let threads, !(1...maximumThreads).contains(threads) {
        throw UsageError("--threads \(threads): must be from 1 to \(maximumThreads)")
    }
}

/// The arguments as paths (`PathBytes`): Swift's `CommandLine.arguments` repairs invalid UTF-8
/// to U+FFFD, so `--out $'g\xe9.x'` would write `g\xef\xbf\xbd.x`; here each such byte is kept,
/// escaped, and every file call turns it back into the same byte.
func rawArguments() -> [String] {
    // argc is 0 when exec'd with an empty argv (Linux now passes one empty string, others may not).
    (1..<max(1, Int(CommandLine.argc))).map { index in
        guard let raw = CommandLine.unsafeArgv[index] else { return "" }
        return PathBytes.decode(UnsafeRawBufferPointer(start: raw, count: strlen(raw)))
    }
}

/// Prints one line on stderr and exits 2 (unusable input or usage).
func fail(_ line: String) -> Never {
    writeStderr("bertcheck: error: \(line)\n")
    Foundation_exit(2)
}

/// Prints `text` (and `terminator`) on stdout; a failed write is a `FileError` naming stdout (exit 2).
func writeStdout(_ text: String, terminator: String = "\n") throws {
    try StandardOutput.write(text + terminator)
}

/// A check that failed after its report was printed: one line on stderr, exit 1.
struct CheckFailure: Error {
    let line: String
}

func failCheck(_ line: String) throws -> Never {
    throw CheckFailure(line: line)
}

/// Messages show a path's non-UTF-8 bytes as `\xNN`.
func writeStderr(_ text: String) {
    let body = text.hasSuffix("\n") ? String(text.dropLast()) : text
    fputs(PathBytes.display(body) + (text.hasSuffix("\n") ? "\n" : ""), stderr)
}

func Foundation_exit(_ code: Int32) -> Never {
    fflush(stdout)
    exit(code)
}
