#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes to stdout and says when the bytes did not arrive (a full disk, /dev/full, a reader
/// that closed the pipe). A report that is lost must not end in exit 0 (issue 18): the caller
/// gets a `FileError` naming `stdout`, which the CLI turns into exit 2.
public enum StandardOutput {
    public static func write(_ text: String) throws {
        var bytes = Array(text.utf8)
        try write(&bytes)
    }

    /// Writes and empties `bytes` (keeping its capacity, for callers that stream lines).
    public static func write(_ bytes: inout [UInt8]) throws {
        let written = bytes.withUnsafeBytes { raw in raw.isEmpty ? 0 : fwrite(raw.baseAddress, 1, raw.count, stdout) }
        let complete = written == bytes.count
        bytes.removeAll(keepingCapacity: true)
        guard complete, fflush(stdout) == 0 else { throw failure() }
    }

    private static func failure() -> FileError {
        let reason = errno == 0 ? "short write" : String(cString: strerror(errno))
        clearerr(stdout)
        return FileError("stdout", Problem("cannot write the output: \(reason)"))
    }
}
