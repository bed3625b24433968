import CKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns a SIGBUS on a mapped input into the contract's one line and exit 2 (issue 18: a weights
/// file truncated during a run, by a re-download say, killed the process with SIGBUS).
///
/// Each mapping's range and its ready-made message live in preallocated slots; the handler
/// (SA_SIGINFO) finds the mapping holding the faulting address, writes its message with
/// `write(2)`, removes temporary files and calls `_exit(2)`, all async-signal-safe. A fault
/// outside every mapping keeps its default action.
enum MappingFaultGuard {
    static let slotCount = 64
    static let messageSize = 4096

    /// Registers `[base, base + count)` of `path`; returns the slot for `remove`, nil when all
    /// slots are taken (the mapping is then unguarded).
    static func register(base: UnsafeRawPointer, count: Int, path: String) -> Int? {
        let message = Array("bertcheck: error: \(PathBytes.display(path)): the file changed size while it was being read (it was truncated or replaced during the run)\n".utf8)
        let slots = faultSlots
        _ = faultReports  // created here, never first in the handler
        installOnce()
        guard message.count <= messageSize else { return nil }
        for slot in 0..<slotCount where slots[slot].count == 0 {
            let text = faultMessages + slot * messageSize
            for (i, byte) in message.enumerated() { text[i] = byte }
            slots[slot] = FaultSlot(start: UInt(bitPattern: base), count: count, messageLength: message.count)
            return slot
        }
        return nil
    }

    static func remove(slot: Int?) {
        guard let slot else { return }
        faultSlots[slot].count = 0
    }

    private static func installOnce() {
        guard !faultHandlerInstalled else { return }
        faultHandlerInstalled = true
        var action = sigaction()
        action.__sigaction_handler.sa_sigaction = reportMappingFault
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_SIGINFO
        sigaction(SIGBUS, &action, nil)
    }
}

struct FaultSlot {
    var start: UInt = 0
    var count = 0
    var messageLength = 0
}

nonisolated(unsafe) let faultSlots: UnsafeMutablePointer<FaultSlot> = {
    let slots = UnsafeMutablePointer<FaultSlot>.allocate(capacity: MappingFaultGuard.slotCount)
    slots.initialize(repeating: FaultSlot(), count: MappingFaultGuard.slotCount)
    return slots
}()
nonisolated(unsafe) let faultMessages: UnsafeMutablePointer<UInt8> = {
    let text = UnsafeMutablePointer<UInt8>.allocate(capacity: MappingFaultGuard.slotCount * MappingFaultGuard.messageSize)
    text.initialize(repeating: 0, count: MappingFaultGuard.slotCount * MappingFaultGuard.messageSize)
    return text
}()
nonisolated(unsafe) let faultSlotCount = MappingFaultGuard.slotCount
nonisolated(unsafe) let faultMessageSize = MappingFaultGuard.messageSize
nonisolated(unsafe) var faultHandlerInstalled = false
/// How many threads reached the report: several workers reading the same truncated mapping fault
/// together, and only the first may write the line (the others wait for its `_exit`).
nonisolated(unsafe) let faultReports: UnsafeMutablePointer<Int> = {
    let counter = UnsafeMutablePointer<Int>.allocate(capacity: 1)
    counter.initialize(to: 0)
    return counter
}()

private func reportMappingFault(_ signalNumber: Int32, _ info: UnsafeMutablePointer<siginfo_t>?, _ context: UnsafeMutableRawPointer?) {
    let address = UInt(bitPattern: info?.pointee._sifields._sigfault.si_addr)
    for slot in 0..<faultSlotCount {
        let entry = faultSlots[slot]
        guard entry.count > 0, address >= entry.start, address - entry.start < UInt(entry.count) else { continue }
        if bc_fetch_add(faultReports, 1) != 0 {
            while true { pause() }
        }
        _ = write(2, faultMessages + slot * faultMessageSize, entry.messageLength)
        removeRegisteredTemporaryFiles()
        _exit(2)
    }
    signal(signalNumber, SIG_DFL)
    raise(signalNumber)
}
