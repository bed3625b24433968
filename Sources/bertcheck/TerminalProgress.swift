import BertCheck
import BertCheckRendering
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Draws the library's progress on stderr as one line redrawn in place ("\r", then the line,
/// padded with spaces over the previous one) and erased by `finish`. An activity shows once it
/// has run `delay` (work under half a second shows nothing); the line is redrawn at most every
/// 0.1 s, by the working thread when a step arrives or by a timer while none does (so the rate
/// and ETA stay current during a long layer). The working thread pays a lock and a clock read
/// per step. Only plain characters and "\r": no escape sequences, so NO_COLOR has nothing to remove.
final class TerminalProgress: ProgressObserver {
    /// Seconds an activity runs before it is shown; BERTCHECK_PROGRESS_DELAY (seconds) changes it.
    static let defaultDelay = 0.5
    private static let redrawInterval: UInt64 = 100_000_000

    private let delay: UInt64
    private let width: Int
    private let lock = NSLock()
    private var timer: DispatchSourceTimer?
    private var step: ProgressStep?
    private var phaseStarted: UInt64 = 0
    private var lastDraw: UInt64?
    /// Characters of the line on screen (0: none).
    private var shown = 0
    /// Set by `clear` so that the timer does not draw over output until the next step.
    private var suspended = false

    /// A progress line for this process's stderr, or nil with --quiet or when stderr is not a
    /// terminal (a CI log, a file, a pipe).
    static func onStderr(quiet: Bool) -> TerminalProgress? {
        guard !quiet, isatty(STDERR_FILENO) == 1 else { return nil }
        let configured = ProcessInfo.processInfo.environment["BERTCHECK_PROGRESS_DELAY"].flatMap(Double.init)
        let delay = configured.flatMap { $0.isFinite && $0 >= 0 && $0 < 1e6 ? $0 : nil } ?? defaultDelay
        return TerminalProgress(delay: delay, width: terminalColumns(STDERR_FILENO))
    }

    init(delay: Double, width: Int) {
        self.delay = UInt64(delay * 1e9)
        self.width = width
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "bertcheck.progress"))
        timer.schedule(deadline: .now() + .milliseconds(100), repeating: .milliseconds(100))
        timer.setEventHandler { [weak self] in self?.tick() }
        timer.resume()
        self.timer = timer
    }

    deinit { timer?.cancel() }

    func update(_ step: ProgressStep) {
        let now = Self.now()
        lock.lock()
        defer { lock.unlock() }
        if step.completed == 0 || step.activity != self.step?.activity || step.unit != self.step?.unit { phaseStarted = now }
        self.step = step
        suspended = false
        drawIfDue(now, finalStep: step.completed >= step.total)
    }

    private func tick() {
        lock.lock()
        defer { lock.unlock() }
        if !suspended { drawIfDue(Self.now(), finalStep: false) }
    }

    /// Shown once the activity has run `delay` (or when a line is already up: the next activity
    /// replaces it), at most every redraw interval except for an activity's last step.
    private func drawIfDue(_ now: UInt64, finalStep: Bool) {
        guard let step, shown > 0 || now - phaseStarted >= delay else { return }
        if let lastDraw, now - lastDraw < Self.redrawInterval, !finalStep { return }
        lastDraw = now
        draw(Self.line(step, elapsed: Double(now - phaseStarted) / 1e9))
    }

    /// Erases the line, before other output reaches the terminal; the next step draws it again.
    func clear() {
        lock.lock()
        defer { lock.unlock() }
        suspended = true
        erase()
    }

    /// Stops the timer and erases the line: the end of the command, or of its progress.
    func finish() {
        timer?.cancel()
        timer = nil
        clear()
    }

    private func erase() {
        guard shown > 0 else { return }
        fputs("\r" + String(repeating: " ", count: shown) + "\r", stderr)
        shown = 0
    }

    private func draw(_ full: String) {
        // A line longer than the terminal would wrap, and "\r" would then redraw only its end.
        let line = String(full.prefix(max(width - 1, 1)))
        let count = line.count
        fputs("\r" + line + String(repeating: " ", count: max(shown - count, 0)), stderr)
        shown = max(count, shown)
    }

    /// "comparing tensors: 120/199 tensors (60%) · 85.3 tensors/s · ETA 1s"; under one per
    /// second the rate is given the other way up: "14.2 s/step".
    static func line(_ step: ProgressStep, elapsed: Double) -> String {
        var line = "\(step.activity): \(thousands(step.completed))/\(thousands(step.total)) \(step.unit)"
        if step.total > 0 { line += " (\(step.completed * 100 / step.total)%)" }
        guard step.completed > 0, elapsed > 0 else { return line }
        let rate = Double(step.completed) / elapsed
        line += rate >= 1 ? " · \(rateText(rate)) \(step.unit)/s" : " · \(rateText(1 / rate)) s/\(singular(step.unit))"
        if step.completed < step.total { line += " · ETA \(duration(Double(step.total - step.completed) / rate))" }
        return line
    }

    static func rateText(_ rate: Double) -> String {
        rate >= 100 ? thousands(Int(rate.rounded())) : String(format: rate >= 10 ? "%.1f" : "%.2f", rate)
    }

    /// "steps" → "step", "passes" → "pass".
    static func singular(_ unit: String) -> String {
        unit.hasSuffix("sses") ? String(unit.dropLast(2)) : unit.hasSuffix("s") ? String(unit.dropLast()) : unit
    }

    /// "6s", "1m05s", "2h03m".
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds < 1e7 else { return "?" }
        let s = Int(seconds.rounded(.up))
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m" + String(format: "%02ds", s % 60) }
        return "\(s / 3600)h" + String(format: "%02dm", s % 3600 / 60)
    }

    private static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    private static func terminalColumns(_ descriptor: Int32) -> Int {
        var size = winsize()
        guard ioctl(descriptor, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }
}
