#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How much memory this process may still allocate, so a request can be refused with its figure
/// before the allocation kills the process (issue 18: "Fatal error: out of memory", SIGILL).
public enum MemoryBudget {
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

    /// Bytes as people read them: "3.2 GB".
    public static func describe(_ bytes: Int) -> String {
        bytes >= 1 << 30 ? "\(Double(bytes * 10 / (1 << 30)) / 10) GiB" : "\(bytes >> 20) MiB"
    }
}
