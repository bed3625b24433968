#if canImport(Glibc)
import Glibc
#endif

/// Colour for the verdicts of the text reports, applied by the CLI to what the renderers wrote
/// (the renderers stay free of terminal codes). Lines starting with PASS are green, with FAIL red
/// and bold; a table row whose status is FAIL is red.
struct TerminalStyle {
    let colored: Bool

    init(colored: Bool) { self.colored = colored }

    /// `auto` colours when stdout is a terminal and NO_COLOR is unset or empty (no-color.org);
    /// `always` wins over NO_COLOR, as a command-line flag should.
    init(_ choice: ColorChoice) {
        switch choice {
        case .always: colored = true
        case .never: colored = false
        case .auto:
            let noColor = getenv("NO_COLOR").map { $0.pointee != 0 } ?? false
            colored = isatty(STDOUT_FILENO) == 1 && !noColor
        }
    }

    private static let green = "\u{1B}[1;32m", red = "\u{1B}[1;31m", plainRed = "\u{1B}[31m", reset = "\u{1B}[0m"

    /// `text` with its verdict lines and failing rows coloured; unchanged when not colouring.
    func apply(_ text: String) -> String {
        guard colored else { return text }
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard let color = Self.color(of: line) else { return String(line) }
            return color + line + Self.reset
        }.joined(separator: "\n")
    }

    private static func color(of line: Substring) -> String? {
        if line.hasPrefix("PASS") { return green }
        if line.hasPrefix("FAIL") || line == "Failures:" { return red }
        if line.split(separator: " ").contains("FAIL") { return plainRed }
        return nil
    }
}
