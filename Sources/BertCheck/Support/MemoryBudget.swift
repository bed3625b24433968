#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How much memory this process may still allocate, so a request can be refused with its figure
/// before the allocation kills the process (issue 18: "Fatal error: out of memory", SIGILL).
public enum MemoryBudget {
    /// A budget the user set (`--max-memory`), in bytes: used when smaller than what the system
    /// reports. Set once by the CLI before any work starts.
    nonisolated(unsafe) public static var userLimit: Int?

    /// The smaller of the kernel's estimate of available memory (`MemAvailable` in
    /// /proc/meminfo) and the room left under the address-space limit (`ulimit -v`,
    /// `prlimit --as`), with what limited it; nil when neither is known.
    public static func available() -> (bytes: Int, source: String)? {
        var best: (bytes: Int, source: String)?
        if let kilobytes = procField("/proc/meminfo", "MemAvailable:") {
            best = (kilobytes * 1024, "MemAvailable")
        }
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max, let used = procField("/proc/self/status", "VmSize:") {
            let room = max(0, Int(clamping: limit.rlim_cur) - used * 1024)
            if room < best?.bytes ?? .max { best = (room, "the address-space limit") }
        }
        if let userLimit, userLimit < best?.bytes ?? .max {
            // What the process already holds (the mapped weights are file-backed and counted by
            // the kernel, not here) is spent from the user's budget too.
            let resident = (procField("/proc/self/status", "RssAnon:") ?? 0) * 1024
            best = (max(0, userLimit - resident), "--max-memory \(describe(userLimit))")
        }
        return best
    }

    /// A number of kB from a `/proc` file's line starting with `key`.
    static func procField(_ path: String, _ key: String) -> Int? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(cString: line)
            guard text.hasPrefix(key) else { continue }
            return Int(text.dropFirst(key.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
        }
        return nil
    }

    /// `--max-memory` values: a number of bytes with an optional K, M, G or T suffix (powers of
    /// 1024, as `ulimit` and `prlimit` count; a trailing "B" or "iB" is allowed). nil when the
    /// text is not such a size or is 0.
    public static func parseSize(_ text: String) -> Int? {
        var digits = Substring(text.uppercased())
        for suffix in ["IB", "B"] where digits.hasSuffix(suffix) && digits.count > suffix.count { digits = digits.dropLast(suffix.count); break }
        let shifts: [Character: Int] = ["K": 10, "M": 20, "G": 30, "T": 40]
        var shift = 0
        if let last = digits.last, let s = shifts[last] { shift = s; digits = digits.dropLast() }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let value = Double(digits), value.isFinite, value > 0 else { return nil }
        let bytes = value * Double(1 << shift)
        guard bytes >= 1, bytes < Double(Int.max / 2) else { return nil }
        return Int(bytes)
    }

    /// Bytes as people read them: "3.2 GB".
    public static func describe(_ bytes: Int) -> String {
        bytes >= 1 << 30 ? "\(Double(bytes * 10 / (1 << 30)) / 10) GiB" : "\(bytes >> 20) MiB"
    }
}
