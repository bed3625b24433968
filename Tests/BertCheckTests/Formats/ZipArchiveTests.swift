import Foundation
import Testing
@testable import BertCheck

@Suite struct ZipArchiveTests {
    func archive(_ bytes: [UInt8]) throws -> ZipArchive { try ZipArchive(path: try temporaryFile(bytes)) }

    func zipProblem(_ bytes: [UInt8]) throws -> ZipProblem? {
        let path = try temporaryFile(bytes)
        return problem(ZipProblem.self) { try ZipArchive(path: path) }
    }

    func contentsProblem(_ bytes: [UInt8], entry: String = "a") throws -> ZipProblem? {
        let archive = try archive(bytes)
        return problem(ZipProblem.self) { try archive.contents(named: entry) }
    }

    /// Offset of the last occurrence of a little-endian signature.
    func last(_ signature: UInt32, in bytes: [UInt8]) -> Int {
        let pattern = le(signature)
        return stride(from: bytes.count - 4, through: 0, by: -1).first { Array(bytes[$0..<$0 + 4]) == pattern } ?? -1
    }

    func first(_ signature: UInt32, in bytes: [UInt8]) -> Int {
        let pattern = le(signature)
        return (0...(bytes.count - 4)).first { Array(bytes[$0..<$0 + 4]) == pattern } ?? -1
    }

    func patch<T: FixedWidthInteger>(_ bytes: inout [UInt8], at offset: Int, _ value: T) {
        bytes.replaceSubrange(offset..<offset + MemoryLayout<T>.size, with: le(value))
    }

    var simple: ZipBuilder {
        var builder = ZipBuilder()
        builder.add("a", Array("hello, zip".utf8))
        builder.add("dir/b", [1, 2, 3])
        return builder
    }

    @Test func readsStoredEntriesZeroCopy() throws {
        let zip = try archive(simple.build())
        #expect(zip.entries.map(\.name) == ["a", "dir/b"])
        let contents = try zip.contents(named: "a")
        #expect(Array(contents.bytes) == Array("hello, zip".utf8))
        #expect(contents.storage === zip.storage, "stored entries are slices of the mapping")
        let mapping = zip.bytes
        #expect(contents.bytes.baseAddress! >= mapping.baseAddress! && contents.bytes.baseAddress! < mapping.baseAddress! + mapping.count)
        #expect(Array(try zip.contents(named: "dir/b").bytes) == [1, 2, 3])
        try zip.verifyChecksum(zip.entry(named: "a")!, of: contents)
    }

    @Test func readsClassicEndRecordWithoutZip64() throws {
        var builder = simple
        builder.zip64Records = false
        #expect(try archive(builder.build()).entries.count == 2)
    }

    @Test func readsZip64ExtraFields() throws {
        var builder = ZipBuilder()
        builder.entries.append(.init(name: "a", data: Array("large file fields".utf8), zip64Extra: true))
        let zip = try archive(builder.build())
        #expect(zip.entries[0].uncompressedSize == 17)
        #expect(Array(try zip.contents(named: "a").bytes) == Array("large file fields".utf8))
    }

    @Test func readsTorchZip64Archive() throws {
        let zip = try ZipArchive(path: PyTorchFixtures.path("tiny-bert/pytorch_model.bin"))
        #expect(zip.entries.contains { $0.name == "archive/data.pkl" })
        for entry in zip.entries {
            let contents = try zip.contents(of: entry)
            try zip.verifyChecksum(entry, of: contents)
        }
    }

    @Test func inflatesDeflatedEntriesAndChecksTheirCRC() throws {
        let zip = try ZipArchive(path: PyTorchFixtures.path("deflated/pytorch_model.bin"))
        let stored = try ZipArchive(path: PyTorchFixtures.path("tiny-bert/pytorch_model.bin"))
        let entry = try #require(zip.entry(named: "archive/data/0"))
        #expect(entry.method == 8)
        let inflated = try zip.contents(of: entry)
        #expect(inflated.storage is OwnedBytes)
        #expect(Array(inflated.bytes) == Array(try stored.contents(named: "archive/data/0").bytes))
    }

    @Test func refusesNotAZip() throws {
        #expect(try zipProblem(Array("just some text, certainly not a zip archive".utf8)) == .notAZip)
        #expect(try zipProblem([]) == .notAZip)
        #expect(try zipProblem([0x50, 0x4B]) == .notAZip)
    }

    @Test func refusesTruncatedZip() throws {
        let bytes = try PyTorchFixtures.bytes("tiny-bert/pytorch_model.bin")
        #expect(try zipProblem(Array(bytes[..<(bytes.count / 2)])) == .truncated(record: "the end-of-central-directory record"))
        #expect(try zipProblem(Array(bytes[..<10])) == .truncated(record: "the archive"))
    }

    @Test func refusesCentralDirectoryOutsideTheFile() throws {
        var bytes = simple.build()
        let record = last(0x0606_4B50, in: bytes)
        patch(&bytes, at: record + 48, UInt64(1) << 40)
        guard case .centralDirectoryOutsideFile? = try zipProblem(bytes) else { Issue.record("zip64 offset past end accepted"); return }

        var classic = simple
        classic.zip64Records = false
        var plain = classic.build()
        patch(&plain, at: last(0x0605_4B50, in: plain) + 12, UInt32(1_000_000))
        guard case .centralDirectoryOutsideFile? = try zipProblem(plain) else { Issue.record("size past end accepted"); return }

        // Torch's own file, with the directory offset pointed past the end.
        var torch = try PyTorchFixtures.bytes("tiny-bert/pytorch_model.bin")
        patch(&torch, at: last(0x0606_4B50, in: torch) + 48, UInt64(torch.count))
        guard case .centralDirectoryOutsideFile? = try zipProblem(torch) else { Issue.record("torch zip accepted"); return }
    }

    @Test func refusesZip64LocatorPointingNowhere() throws {
        var bytes = simple.build()
        patch(&bytes, at: last(0x0706_4B50, in: bytes) + 8, UInt64.max)
        #expect(try zipProblem(bytes) == .zip64RecordInvalid)

        var classic = simple
        classic.zip64Records = false
        var plain = classic.build()
        patch(&plain, at: last(0x0605_4B50, in: plain) + 16, UInt32.max)
        #expect(try zipProblem(plain) == .zip64RecordInvalid, "a saturated offset needs a zip64 record")
    }

    @Test func refusesMultiDiskArchives() throws {
        var bytes = simple.build()
        patch(&bytes, at: last(0x0706_4B50, in: bytes) + 16, UInt32(3))
        #expect(try zipProblem(bytes) == .multiDisk)
    }

    @Test func refusesMalformedCentralEntries() throws {
        var bytes = simple.build()
        bytes[first(0x0201_4B50, in: bytes)] = 0x51
        #expect(try zipProblem(bytes) == .badCentralDirectoryEntry(index: 0))

        var long = simple.build()
        patch(&long, at: first(0x0201_4B50, in: long) + 28, UInt16(60_000))
        #expect(try zipProblem(long) == .badCentralDirectoryEntry(index: 0), "name length past the directory")
    }

    @Test func refusesEntryCountMismatch() throws {
        var builder = simple
        builder.declaredCount = 5
        #expect(try zipProblem(builder.build()) == .entryCountMismatch(declared: 5, found: 2))
    }

    @Test func refusesDuplicateEntries() throws {
        var builder = simple
        builder.add("a", [9])
        #expect(try zipProblem(builder.build()) == .duplicateEntry(name: "a"))
    }

    /// NFC "é" and NFD "e\u{301}" are two names (Swift's String would call them one): each is
    /// found as itself and hands out its own bytes.
    @Test func namesThatAreCanonicallyEquivalentAreTwoEntries() throws {
        var builder = ZipBuilder()
        builder.add("\u{e9}", [1])
        builder.add("e\u{301}", [2])
        let zip = try archive(builder.build())
        #expect(zip.entries.count == 2)
        let first = try #require(zip.entry(named: "\u{e9}")), second = try #require(zip.entry(named: "e\u{301}"))
        #expect(try zip.contents(of: first).withBytes { Array($0) } == [1])
        #expect(try zip.contents(of: second).withBytes { Array($0) } == [2])
    }

    @Test func refusesBadLocalHeaders() throws {
        var bytes = simple.build()
        bytes[0] = 0
        #expect(try contentsProblem(bytes) == .badLocalHeader(name: "a"))

        var builder = simple
        builder.entries[0].localName = "b"
        #expect(try contentsProblem(builder.build()) == .localNameMismatch(name: "a", local: "b"))

        var offset = simple.build()
        patch(&offset, at: first(0x0201_4B50, in: offset) + 42, UInt32(0xFFFF_FFF0))
        #expect(try contentsProblem(offset) == .badLocalHeader(name: "a"))
    }

    @Test func refusesEntryDataOutsideTheFile() throws {
        var builder = simple
        builder.entries[0].compressedSize = 4_000_000
        builder.entries[0].uncompressedSize = 4_000_000
        #expect(try contentsProblem(builder.build()) == .entryDataOutsideFile(name: "a"))
    }

    @Test func refusesEncryptedEntries() throws {
        var builder = simple
        builder.entries[0].flags = 1
        #expect(try contentsProblem(builder.build()) == .encrypted(name: "a"))
    }

    @Test func refusesUnsupportedCompression() throws {
        var builder = simple
        builder.entries[0].method = 12
        #expect(try contentsProblem(builder.build()) == .unsupportedCompression(name: "a", method: 12))
    }

    @Test func refusesStoredEntryWithDifferingSizes() throws {
        var builder = simple
        builder.entries[0].uncompressedSize = 3
        #expect(try contentsProblem(builder.build()) == .storedSizesDiffer(name: "a", compressed: 10, uncompressed: 3))
    }

    @Test func refusesChecksumMismatchOnStoredEntryWhenAsked() throws {
        var builder = simple
        builder.entries[0].crc = 0x1234_5678
        let zip = try archive(builder.build())
        let entry = try #require(zip.entry(named: "a"))
        let contents = try zip.contents(of: entry)
        guard case .crcMismatch? = problem(ZipProblem.self, { try zip.verifyChecksum(entry, of: contents) }) else {
            Issue.record("bad CRC accepted"); return
        }
    }

    // Deflated entries: patch the central directory of the deflated fixture.
    func deflated(_ change: (inout [UInt8], Int) -> Void) throws -> ZipProblem? {
        var bytes = try PyTorchFixtures.bytes("deflated/pytorch_model.bin")
        let zip = try ZipArchive(path: PyTorchFixtures.path("deflated/pytorch_model.bin"))
        let entryIndex = try #require(zip.entries.firstIndex { $0.name == "archive/data/0" })
        var central = first(0x0201_4B50, in: bytes)
        for _ in 0..<entryIndex {
            let n = Int(bytes[central + 28]) | Int(bytes[central + 29]) << 8
            let m = Int(bytes[central + 30]) | Int(bytes[central + 31]) << 8
            let k = Int(bytes[central + 32]) | Int(bytes[central + 33]) << 8
            central += 46 + n + m + k
        }
        change(&bytes, central)
        let path = try temporaryFile(bytes)
        return problem(ZipProblem.self) { try ZipArchive(path: path).contents(named: "archive/data/0") }
    }

    @Test func refusesCRCMismatchOnDeflatedEntry() throws {
        let found = try deflated { bytes, central in bytes[central + 16] ^= 0xFF }
        guard case .crcMismatch(let name, _, _)? = found else { Issue.record("got \(String(describing: found))"); return }
        #expect(name == "archive/data/0")
    }

    @Test func refusesDeclaredSizeBeyondCompressionRatio() throws {
        let found = try deflated { bytes, central in
            bytes.replaceSubrange(central + 24..<central + 28, with: le(UInt32(0xFFFF_FFF0)))
        }
        guard case .declaredSizeTooLarge? = found else { Issue.record("got \(String(describing: found))"); return }
    }

    @Test func refusesSizeMismatchOnDeflatedEntry() throws {
        for delta in [-1, 1] {
            let found = try deflated { bytes, central in
                let size = UInt32(bytes[central + 24]) | UInt32(bytes[central + 25]) << 8 | UInt32(bytes[central + 26]) << 16
                bytes.replaceSubrange(central + 24..<central + 28, with: le(UInt32(Int(size) + delta)))
            }
            guard case .sizeMismatch? = found else { Issue.record("delta \(delta): got \(String(describing: found))"); continue }
        }
    }

    @Test func refusesCorruptDeflateData() throws {
        let found = try deflated { bytes, central in
            let offset = Int(bytes[central + 42]) | Int(bytes[central + 43]) << 8 | Int(bytes[central + 44]) << 16
            let nameLength = Int(bytes[offset + 26]) | Int(bytes[offset + 27]) << 8
            let extraLength = Int(bytes[offset + 28]) | Int(bytes[offset + 29]) << 8
            let data = offset + 30 + nameLength + extraLength
            // 0xFF: a final block of the reserved type 3.
            for index in data..<data + 8 { bytes[index] = 0xFF }
        }
        guard case .corruptDeflate(let name, _)? = found else { Issue.record("got \(String(describing: found))"); return }
        #expect(name == "archive/data/0")
    }

    @Test func refusesDeflateStreamThatEndsEarly() throws {
        let found = try deflated { bytes, central in
            // Claim fewer compressed bytes: the stream stops before its end.
            let size = Int(bytes[central + 20]) | Int(bytes[central + 21]) << 8 | Int(bytes[central + 22]) << 16
            bytes.replaceSubrange(central + 20..<central + 24, with: le(UInt32(size / 2)))
        }
        guard case .corruptDeflate? = found else { Issue.record("got \(String(describing: found))"); return }
    }

    @Test func checkedAllocationFailsInsteadOfTrapping() {
        #expect(OwnedBytes(checkedCount: Int.max) == nil)
        #expect(OwnedBytes(checkedCount: -1) == nil)
        let small = OwnedBytes(checkedCount: 100)
        #expect(small?.count == 100)
        #expect(Int(bitPattern: small?.pointer) % 64 == 0)
    }

    @Test func errorsNameTheFile() throws {
        let path = try temporaryFile(Array("nope".utf8), name: "weights.bin")
        do {
            _ = try ZipArchive(path: path)
            Issue.record("accepted")
        } catch {
            #expect(error.oneLine.contains(path))
            #expect(error.oneLine.contains("not a zip"))
        }
    }
}
