import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

/// `--quiet` of the commands that only show progress (record, run, tokenize, bench).
struct ProgressOptions: ParsableArguments {
    @Flag(help: "Show no progress on stderr (progress is shown only when stderr is a terminal and the work takes over half a second).")
    var quiet = false

    /// The progress line for this run, or nil when none may be drawn.
    func progress() -> TerminalProgress? { TerminalProgress.onStderr(quiet: quiet) }
}

enum ColorChoice: String, CaseIterable, ExpressibleByArgument {
    case auto, always, never
}

/// `--quiet` and `--color` of the commands that end in a verdict (verify, diff).
struct VerdictOptions: ParsableArguments {
    @Flag(help: "Print only the verdict line (PASS: … or FAIL: …) and no progress; the exit code is unchanged.")
    var quiet = false

    @Option(help: "Colour PASS, FAIL and failing rows: auto (when stdout is a terminal and NO_COLOR is unset or empty), always, never.")
    var color: ColorChoice = .auto

    func progress() -> TerminalProgress? { TerminalProgress.onStderr(quiet: quiet) }

    var style: TerminalStyle { TerminalStyle(color) }

    /// `--quiet` keeps one line of text: it says nothing of the JSON report.
    func checkNotJSON(_ json: Bool) throws {
        if quiet && json { throw UsageError("--quiet prints only the verdict line and --json the whole report: give one of them") }
    }

    /// What goes to stdout for a text report: the whole table, or with --quiet its verdict line;
    /// coloured when the style says so.
    func text(table: String, verdict: String) -> String {
        style.apply(quiet ? verdict + "\n" : table)
    }
}
