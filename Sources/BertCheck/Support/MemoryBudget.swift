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

    /// Bytes as people read them: "3.2 GiB", "12 MiB", "300 KiB", "20 bytes" (never "0 MiB").
    public static func describe(_ bytes: Int) -> String {
        if bytes >= 1 << 30 { return "\(Double(bytes / (1 << 30 / 10)) / 10) GiB" }
        if bytes >= 1 << 20 { return "\(bytes >> 20) MiB" }
        if bytes >= 1 << 10 { return "\(bytes >> 10) KiB" }
        return "\(bytes) bytes"
    }

    /// Memory to tokenize `texts` and hold their encodings and report rows, before the forward
    /// pass (whose own estimate covers the tensors): about 1 KiB per text (its encoding's arrays,
    /// its report line) and 64 bytes per token (id, mask, type, the token string), a text having
    /// at most one token per UTF-8 byte and, once truncated, at most `tokenCap` (2 million empty
    /// texts, 8 MB of JSON, took 2.6 GB, seen 2026-11-29).
    public static func estimatedTokenizationBytes(_ texts: [TextItem], tokenCap: Int = 512) -> Int {
        texts.reduce(0) { total, item in
            let bytes = item.text.utf8.count + (item.pair?.utf8.count ?? 0) + 3
            return total &+ 1024 &+ 64 &* min(bytes, tokenCap)
        }
    }
}
