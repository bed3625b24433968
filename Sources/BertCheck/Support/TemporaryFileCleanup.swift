#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Removes the temporary files of writes in progress when SIGINT, SIGTERM or SIGHUP ends the
/// process (issue 18: an interrupted `record` left a 200 MB `.tmp` beside its output).
///
/// The handler may only use async-signal-safe calls, so the paths live in fixed slots of C bytes
/// allocated before any handler is installed; it calls `unlink` on each, restores the default
/// action and raises the signal again, so the process still dies by it as the sender meant.
public enum TemporaryFileCleanup {
    static let slotCount = 16
    static let slotSize = Int(PATH_MAX) + 1

    /// Creates `prefix` + 6 random characters, exclusively, with the path registered for cleanup
    /// before the file exists: a signal handled on any thread at any moment finds either no
    /// file or a registered one. Returns the descriptor (-1 with errno set) and the path.
    public static func makeTemporaryFile(prefix: String) -> (fd: Int32, path: String, slot: Int?) {
        let letters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<100 {
            let path = prefix + String((0..<6).map { _ in letters[Int(generator.next() % UInt64(letters.count))] })
            let slot = register(path)
            let fd = withPathBytes(path) { open($0, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
            if fd >= 0 { return (fd, path, slot) }
            let reason = errno
            remove(slot: slot)
            guard reason == EEXIST else { errno = reason; return (-1, path, nil) }
        }
        errno = EEXIST
        return (-1, prefix, nil)
    }

    /// Registers `path`; the returned slot is passed to `remove(slot:)` once the file is renamed
    /// or unlinked. nil when every slot is taken or the path is too long (then no cleanup).
    public static func register(_ path: String) -> Int? {
        // Globals are created on first use: touch the handler's before it can run.
        let slots = cleanupSlots
        guard cleanupSlotCount * cleanupSlotSize > 0 else { return nil }
        installHandlersOnce()
        let bytes = PathBytes.encode(path).dropLast().map { UInt8(bitPattern: $0) }
        guard !bytes.isEmpty, bytes.count < slotSize, !bytes.contains(0) else { return nil }
        for slot in 0..<slotCount {
            let base = slots + slot * slotSize
            guard base[0] == 0 else { continue }
            // Byte 0 last: a signal in between sees an empty slot, never half a path.
            for (i, byte) in bytes.enumerated().dropFirst() { base[i] = CChar(bitPattern: byte) }
            base[bytes.count] = 0
            base[0] = CChar(bitPattern: bytes[0])
            return slot
        }
        return nil
    }

    public static func remove(slot: Int?) {
        guard let slot else { return }
        cleanupSlots[slot * slotSize] = 0
    }

    private static func installHandlersOnce() {
        guard !cleanupHandlersInstalled else { return }
        cleanupHandlersInstalled = true
        for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
            var previous = sigaction()
            sigaction(signalNumber, nil, &previous)
            // A signal the caller chose to ignore (nohup) stays ignored.
            if unsafeBitCast(previous.__sigaction_handler.sa_handler, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self) { continue }
            var action = sigaction()
            action.__sigaction_handler.sa_handler = removeTemporaryFilesAndDie
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(signalNumber, &action, nil)
        }
    }
}

/// Slot storage, created when first registered (before any handler can run) and never freed.
nonisolated(unsafe) let cleanupSlots: UnsafeMutablePointer<CChar> = {
    let count = TemporaryFileCleanup.slotCount * TemporaryFileCleanup.slotSize
    let slots = UnsafeMutablePointer<CChar>.allocate(capacity: count)
    slots.initialize(repeating: 0, count: count)
    return slots
}()
nonisolated(unsafe) var cleanupHandlersInstalled = false
nonisolated(unsafe) let cleanupSlotCount = TemporaryFileCleanup.slotCount
nonisolated(unsafe) let cleanupSlotSize = TemporaryFileCleanup.slotSize

/// Async-signal-safe: `unlink` on every registered path (also called by the SIGBUS handler).
func removeRegisteredTemporaryFiles() {
    for slot in 0..<cleanupSlotCount {
        let base = cleanupSlots + slot * cleanupSlotSize
        if base[0] != 0 { unlink(base) }
    }
}

private func removeTemporaryFilesAndDie(_ signalNumber: Int32) {
    removeRegisteredTemporaryFiles()
    signal(signalNumber, SIG_DFL)
    raise(signalNumber)
}
