import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What `bertcheck` wrote when stderr (and stdout, when asked) was a terminal.
struct TerminalRunResult {
    var status: Int32
    var stdout: [UInt8]
    var stderr: [UInt8]
    var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}

/// Runs the CLI with stderr on a pseudo-terminal opened here (openpty):
/// nothing needs installing, unlike `script`. Each terminal is raw (no "\n" → "\r\n"), so the
/// bytes read are the bytes written.
enum PseudoTerminal {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// `environment` overrides the test's own; a nil value removes the variable (NO_COLOR,
    /// BERTCHECK_PROGRESS_DELAY inherited from the shell would change what is checked).
    static func run(_ arguments: [String], environment: [String: String?] = [:], stdoutOnTerminal: Bool = false) throws -> TerminalRunResult {
        let errTerminal = try open()
        let outTerminal = stdoutOnTerminal ? try open() : nil
        let process = Process()
        process.executableURL = CLI.executable
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (name, value) in environment { env[name] = value }
        process.environment = env
        process.standardInput = FileHandle.nullDevice
        process.standardError = FileHandle(fileDescriptor: errTerminal.replica, closeOnDealloc: false)
        let outPipe = Pipe()
        if let outTerminal {
            process.standardOutput = FileHandle(fileDescriptor: outTerminal.replica, closeOnDealloc: false)
        } else {
            process.standardOutput = outPipe
        }
        try process.run()
        // Only the child holds the terminals' replica ends now: reading the primary ends at EOF/EIO when it exits.
        close(errTerminal.replica)
        if let outTerminal { close(outTerminal.replica) }
        var out: [UInt8] = [], err: [UInt8] = []
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            if let outTerminal { out = readAll(outTerminal.primary) } else { out = Array(outPipe.fileHandleForReading.readDataToEndOfFile()) }
            group.leave()
        }
        err = readAll(errTerminal.primary)
        group.wait()
        process.waitUntilExit()
        close(errTerminal.primary)
        if let outTerminal { close(outTerminal.primary) }
        return TerminalRunResult(status: process.terminationStatus, stdout: out, stderr: err)
    }

    /// A raw pseudo-terminal 120 columns wide (openpty: posix_openpt, grantpt, unlockpt and
    /// the replica's open in one call, in glibc itself since 2.34).
    private static func open() throws -> (primary: Int32, replica: Int32) {
        var primary: Int32 = -1, replica: Int32 = -1
        var size = winsize(ws_row: 40, ws_col: 120, ws_xpixel: 0, ws_ypixel: 0)
        guard openpty(&primary, &replica, nil, nil, &size) == 0 else {
            throw Failure(description: "cannot open a pseudo-terminal: \(String(cString: strerror(errno)))")
        }
        var settings = termios()
        tcgetattr(replica, &settings)
        cfmakeraw(&settings)
        tcsetattr(replica, TCSANOW, &settings)
        return (primary, replica)
    }

    /// Everything until the last replica closes (Linux then answers EIO rather than 0).
    private static func readAll(_ descriptor: Int32) -> [UInt8] {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if n > 0 { bytes += buffer[0..<n]; continue }
            if n < 0 && errno == EINTR { continue }
            return bytes
        }
    }

    /// What a person sees on the last line of a terminal after `bytes`: "\r" returns to the
    /// start of the line and later characters overwrite earlier ones.
    static func visibleLastLine(_ bytes: [UInt8]) -> String {
        let lastLine = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).last ?? []
        var screen: [Character] = []
        var column = 0
        for character in String(decoding: lastLine, as: UTF8.self) {
            if character == "\r" { column = 0; continue }
            if column < screen.count { screen[column] = character } else { screen.append(character) }
            column += 1
        }
        return String(screen)
    }
}
