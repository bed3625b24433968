import Foundation
import Testing
@testable import BertCheck

/// Writes small zip archives the way torch.save and numpy do (stored entries, optional ZIP64
/// records), so tests can build broken containers byte by byte.
struct ZipBuilder {
    struct Entry {
        var name: String
        var data: [UInt8]
        var method: UInt16 = 0
        var flags: UInt16 = 0
        var crc: UInt32? = nil
        var compressedSize: UInt32? = nil
        var uncompressedSize: UInt32? = nil
        /// Write saturated 32-bit fields and the real values in a ZIP64 extra field.
        var zip64Extra = false
        var localName: String? = nil
    }

    var entries: [Entry] = []
    var zip64Records = true
    var declaredCount: UInt64? = nil

    mutating func add(_ name: String, _ data: [UInt8]) { entries.append(Entry(name: name, data: data)) }

    func build() -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        for entry in entries {
            let offset = UInt32(out.count)
            let crc = entry.crc ?? entry.data.withUnsafeBytes { ZipArchive.crc32($0) }
            let local = Array((entry.localName ?? entry.name).utf8)
            out += le(UInt32(0x0403_4B50)) + le(UInt16(20)) + le(entry.flags) + le(entry.method) + le(UInt16(0)) + le(UInt16(0))
            out += le(crc) + le(UInt32(entry.data.count)) + le(UInt32(entry.data.count))
            out += le(UInt16(local.count)) + le(UInt16(0)) + local + entry.data
            let name = Array(entry.name.utf8)
            var extra: [UInt8] = []
            var compressed = entry.compressedSize ?? UInt32(entry.data.count)
            var uncompressed = entry.uncompressedSize ?? UInt32(entry.data.count)
            var headerOffset = offset
            if entry.zip64Extra {
                extra = le(UInt16(1)) + le(UInt16(24)) + le(UInt64(uncompressed)) + le(UInt64(compressed)) + le(UInt64(headerOffset))
                compressed = 0xFFFF_FFFF; uncompressed = 0xFFFF_FFFF; headerOffset = 0xFFFF_FFFF
            }
            central += le(UInt32(0x0201_4B50)) + le(UInt16(45)) + le(UInt16(45)) + le(entry.flags) + le(entry.method)
            central += le(UInt16(0)) + le(UInt16(0)) + le(crc) + le(compressed) + le(uncompressed)
            central += le(UInt16(name.count)) + le(UInt16(extra.count)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt16(0))
            central += le(UInt32(0)) + le(headerOffset) + name + extra
        }
        let centralOffset = out.count
        out += central
        let count = declaredCount ?? UInt64(entries.count)
        if zip64Records {
            let record = out.count
            out += le(UInt32(0x0606_4B50)) + le(UInt64(44)) + le(UInt16(45)) + le(UInt16(45)) + le(UInt32(0)) + le(UInt32(0))
            out += le(count) + le(count) + le(UInt64(central.count)) + le(UInt64(centralOffset))
            out += le(UInt32(0x0706_4B50)) + le(UInt32(0)) + le(UInt64(record)) + le(UInt32(1))
        }
        out += le(UInt32(0x0605_4B50)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt16(truncatingIfNeeded: count)) + le(UInt16(truncatingIfNeeded: count))
        out += le(UInt32(central.count)) + le(UInt32(centralOffset)) + le(UInt16(0))
        return out
    }
}

func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian) { Array($0) }
}

/// Writes pickles the way torch.save's protocol 2 does, for hand-made (and hostile) data.pkl.
struct PickleBuilder {
    var bytes: [UInt8] = [0x80, 0x02]

    mutating func op(_ code: UInt8, _ rest: [UInt8] = []) { bytes += [code] + rest }
    mutating func global(_ module: String, _ name: String) { bytes += [0x63] + Array("\(module)\n\(name)\n".utf8) }
    mutating func string(_ text: String) { let utf8 = Array(text.utf8); bytes += [0x58] + le(UInt32(utf8.count)) + utf8 }
    mutating func int(_ value: Int) { bytes += [0x4A] + le(Int32(value)) }
    mutating func mark() { op(0x28) }
    mutating func tuple() { op(0x74) }
    mutating func stop() { op(0x2E) }

    /// `OrderedDict([(name, _rebuild_tensor_v2(storage, offset, shape, strides, False, OrderedDict()))...])`.
    static func stateDict(_ tensors: [(name: String, storage: String, key: String, count: Int, offset: Int, shape: [Int], strides: [Int])]) -> [UInt8] {
        var p = PickleBuilder()
        p.global("collections", "OrderedDict"); p.op(0x29); p.op(0x52)
        p.mark()
        for tensor in tensors {
            p.string(tensor.name)
            p.global("torch._utils", "_rebuild_tensor_v2")
            p.mark()
            p.mark(); p.string("storage"); p.global("torch", tensor.storage); p.string(tensor.key); p.string("cpu"); p.int(tensor.count); p.tuple()
            p.op(0x51)
            p.int(tensor.offset)
            p.mark(); tensor.shape.forEach { p.int($0) }; p.tuple()
            p.mark(); tensor.strides.forEach { p.int($0) }; p.tuple()
            p.op(0x89)
            p.global("collections", "OrderedDict"); p.op(0x29); p.op(0x52)
            p.tuple()
            p.op(0x52)
        }
        p.op(0x75)
        p.stop()
        return p.bytes
    }
}

/// The tensors the reference saved beside a checkpoint (read with the safetensors reader).
func expectedTensors(_ path: String) throws -> [(name: String, dtype: String, shape: [Int], bytes: [UInt8])] {
    try SafetensorsFile.read(path).tensors.map { ($0.name, $0.dtype.rawValue, $0.shape, Array($0.data)) }
}

/// The typed problem inside the `FileError` that `body` throws.
func problem<P: Error>(_ type: P.Type, _ body: () throws -> Any) -> P? {
    do {
        _ = try body()
    } catch let error as FileError {
        if let problem = error.problem as? P { return problem }
        if let nested = error.problem as? PickleEntryProblem, let problem = nested.problem as? P { return problem }
        Issue.record("unexpected problem type: \(error)")
        return nil
    } catch {
        Issue.record("not a FileError: \(error)")
        return nil
    }
    Issue.record("no error thrown")
    return nil
}

/// Replaces every occurrence of `pattern` (same length) in `bytes`.
func replacing(_ pattern: String, with replacement: String, in bytes: [UInt8]) -> [UInt8] {
    let from = Array(pattern.utf8), to = Array(replacement.utf8)
    precondition(from.count == to.count)
    var out = bytes
    var index = 0
    while index + from.count <= out.count {
        if Array(out[index..<index + from.count]) == from {
            out.replaceSubrange(index..<index + from.count, with: to)
            index += from.count
        } else {
            index += 1
        }
    }
    return out
}

enum PyTorchFixtures {
    static let root = TestPaths.goldens.appendingPathComponent("checkpoints/pytorch")
    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
    static func bytes(_ relative: String) throws -> [UInt8] { try [UInt8](Data(contentsOf: URL(fileURLWithPath: path(relative)))) }
}

/// Deterministic pseudo-random numbers (SplitMix64) for reproducible mutation tests.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Runs `read` on `count` mutated copies of `original` (bytes overwritten, saturated, or cut,
/// half of them near the end where the zip directory lives). Every outcome must be a value or a
/// `FileError`: a trap would kill the test process, any other error type is recorded.
func expectMutationsRefusedCleanly(_ original: [UInt8], count: Int, seed: UInt64,
                                   sourceLocation: SourceLocation = #_sourceLocation,
                                   _ read: (UnsafeRawBufferPointer, ByteStorage) throws -> Void) {
    var random = SplitMix64(state: seed)
    var refused = 0
    for _ in 0..<count {
        var bytes = original
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            let nearEnd = Bool.random(using: &random)
            let low = nearEnd ? max(0, bytes.count - 600) : 0
            guard low < bytes.count else { break }
            let at = Int.random(in: low..<bytes.count, using: &random)
            switch Int.random(in: 0..<4, using: &random) {
            case 0: bytes[at] = UInt8.random(in: 0...255, using: &random)
            case 1: for i in at..<min(at + 4, bytes.count) { bytes[i] = 0xFF }
            case 2: for i in at..<min(at + 8, bytes.count) { bytes[i] = 0 }
            default: bytes.removeSubrange(at...)
            }
        }
        let owned = OwnedBytes(count: bytes.count)
        bytes.withUnsafeBytes { if !$0.isEmpty { owned.mutableBytes.copyMemory(from: $0) } }
        do {
            try read(owned.bytes, owned)
        } catch is FileError {
            refused += 1
        } catch {
            Issue.record("not a FileError: \(error)", sourceLocation: sourceLocation)
        }
    }
    #expect(refused > count / 5, "mutations should mostly be refused (\(refused) of \(count))", sourceLocation: sourceLocation)
}

/// A torch.save-shaped zip: `archive/data.pkl`, byteorder, version, and the given storages.
func torchZip(pickle: [UInt8], storages: [(key: String, bytes: [UInt8])] = []) -> [UInt8] {
    var zip = ZipBuilder()
    zip.add("archive/data.pkl", pickle)
    zip.add("archive/byteorder", Array("little".utf8))
    for storage in storages { zip.add("archive/data/" + storage.key, storage.bytes) }
    zip.add("archive/version", Array("3\n".utf8))
    return zip.build()
}
