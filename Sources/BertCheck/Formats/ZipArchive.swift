import CZlib

/// Every rule a zip container can break, one case each (PyTorch .bin and numpy .npz files are zips).
public enum ZipProblem: Error, CustomStringConvertible, Equatable, Sendable {
    case notAZip
    case truncated(record: String)
    case zip64RecordInvalid
    case multiDisk
    case centralDirectoryOutsideFile(offset: UInt64, size: UInt64, fileSize: Int)
    case badCentralDirectoryEntry(index: Int)
    case entryCountMismatch(declared: UInt64, found: Int)
    case duplicateEntry(name: String)
    case badLocalHeader(name: String)
    case localNameMismatch(name: String, local: String)
    case entryDataOutsideFile(name: String)
    case encrypted(name: String)
    case unsupportedCompression(name: String, method: UInt16)
    case storedSizesDiffer(name: String, compressed: UInt64, uncompressed: UInt64)
    case declaredSizeTooLarge(name: String, size: UInt64, limit: UInt64)
    case inflatedSizeBeyondMemory(name: String, size: UInt64, available: Int, source: String)
    case sizeMismatch(name: String, declared: UInt64, actual: UInt64)
    case corruptDeflate(name: String, reason: String)
    case crcMismatch(name: String, declared: UInt32, actual: UInt32)
    case missingEntry(name: String)
    case outOfMemory(name: String, size: UInt64)

    public var description: String {
        switch self {
        case .notAZip:
            return "not a zip file (no end-of-central-directory record)"
        case .truncated(let record):
            return "zip truncated: \(record) extends past the end of the file"
        case .zip64RecordInvalid:
            return "zip64 end-of-central-directory locator does not point at a zip64 record inside the file"
        case .multiDisk:
            return "multi-disk (split) zip archives are not supported"
        case .centralDirectoryOutsideFile(let offset, let size, let fileSize):
            return "zip central directory (offset \(offset), \(size) bytes) lies outside the file (\(fileSize) bytes)"
        case .badCentralDirectoryEntry(let index):
            return "zip central directory entry \(index) is malformed (bad signature or runs past the directory)"
        case .entryCountMismatch(let declared, let found):
            return "zip declares \(declared) entries but its central directory holds \(found)"
        case .duplicateEntry(let name):
            return "zip holds the entry '\(name)' twice"
        case .badLocalHeader(let name):
            return "zip entry '\(name)': local header missing or malformed"
        case .localNameMismatch(let name, let local):
            return "zip entry '\(name)': local header names it '\(local)'"
        case .entryDataOutsideFile(let name):
            return "zip entry '\(name)': data lies outside the file"
        case .encrypted(let name):
            return "zip entry '\(name)' is encrypted"
        case .unsupportedCompression(let name, let method):
            return "zip entry '\(name)': unsupported compression method \(method) (only stored and deflated)"
        case .storedSizesDiffer(let name, let compressed, let uncompressed):
            return "zip entry '\(name)' is stored but declares \(compressed) stored and \(uncompressed) uncompressed bytes"
        case .declaredSizeTooLarge(let name, let size, let limit):
            return "zip entry '\(name)' declares \(size) uncompressed bytes, more than its data can hold (limit \(limit))"
        case let .inflatedSizeBeyondMemory(name, size, available, source):
            return "zip entry '\(name)' inflates to \(size) bytes, more than the \(MemoryBudget.describe(available)) of memory available (\(source))"
        case .sizeMismatch(let name, let declared, let actual):
            return "zip entry '\(name)' declares \(declared) uncompressed bytes but inflates to \(actual)"
        case .corruptDeflate(let name, let reason):
            return "zip entry '\(name)': corrupt deflate data (\(reason))"
        case .crcMismatch(let name, let declared, let actual):
            return "zip entry '\(name)': CRC-32 mismatch (declared \(hex(declared)), data \(hex(actual)))"
        case .missingEntry(let name):
            return "zip has no entry '\(name)'"
        case .outOfMemory(let name, let size):
            return "zip entry '\(name)' declares \(size) uncompressed bytes, more memory than this system can provide"
        }
    }

    private func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }
}

/// A read-only zip archive over a memory-mapped file: the central directory is parsed once;
/// stored entries are returned as slices of the mapping (no copy), deflated ones are inflated
/// with zlib into owned memory after their declared size has been bounded and with their CRC-32
/// checked. Every offset read from the file is bounds- and overflow-checked.
public final class ZipArchive: @unchecked Sendable {
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let method: UInt16
        public let flags: UInt16
        public let crc32: UInt32
        public let compressedSize: UInt64
        public let uncompressedSize: UInt64
        public let localHeaderOffset: UInt64

        public var isStored: Bool { method == 0 }
        public var isEncrypted: Bool { flags & 1 != 0 }
    }

    /// Bytes of one entry, kept alive by `storage` (the mapped file or an inflated buffer).
    public struct Contents: @unchecked Sendable {
        public let bytes: UnsafeRawBufferPointer
        public let storage: ByteStorage

        /// `body` over the bytes with their owner kept alive: an inflated entry's buffer may
        /// otherwise be released after the last use of `storage`, before `bytes` are read.
        public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
            try withExtendedLifetime(storage) { try body(bytes) }
        }
    }

    /// Deflate cannot expand more than about 1032:1; a larger declared ratio is a lie.
    public static let maximumCompressionRatio: UInt64 = 1032
    /// No single entry is inflated past this many bytes, whatever it declares.
    public static let maximumInflatedSize: UInt64 = 16 << 30

    public let path: String
    /// The whole archive, and what keeps it alive (normally the mapped file).
    public let bytes: UnsafeRawBufferPointer
    public let storage: ByteStorage
    /// Entries in central-directory order.
    public let entries: [Entry]
    private let indexByName: [[UInt8]: Int]

    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    public convenience init(file: MappedFile) throws {
        try self.init(bytes: file.bytes, storage: file, path: file.path)
    }

    /// An archive held in memory (`storage` owns `bytes`); `path` names it in errors. Fuzzers
    /// and tests use this directly.
    public init(bytes: UnsafeRawBufferPointer, storage: ByteStorage, path: String) throws {
        self.path = path
        self.bytes = bytes
        self.storage = storage
        let directory = try ZipArchive.locateCentralDirectory(bytes, path: path)
        var entries: [Entry] = []
        // Names are keyed by their bytes: String equality would call canonically equivalent
        // names (NFC and NFD "é") one name and hand out the wrong member.
        var indexByName: [[UInt8]: Int] = [:]
        var cursor = directory.offset
        let end = directory.offset + directory.size
        // Each central record takes at least 46 bytes, which bounds the count we trust.
        entries.reserveCapacity(Int(min(directory.count, UInt64(directory.size / 46))))
        while cursor < end {
            let index = entries.count
            guard end - cursor >= 46, bytes.le(UInt32.self, at: cursor) == 0x0201_4B50 else {
                throw FileError(path, ZipProblem.badCentralDirectoryEntry(index: index))
            }
            let entry = try ZipArchive.parseCentralEntry(bytes, at: cursor, end: end, index: index, path: path)
            guard indexByName.updateValue(index, forKey: Array(entry.entry.name.utf8)) == nil else {
                throw FileError(path, ZipProblem.duplicateEntry(name: entry.entry.name))
            }
            entries.append(entry.entry)
            cursor = entry.next
        }
        guard UInt64(entries.count) == directory.count else {
            throw FileError(path, ZipProblem.entryCountMismatch(declared: directory.count, found: entries.count))
        }
        self.entries = entries
        self.indexByName = indexByName
    }

    public func entry(named name: String) -> Entry? {
        indexByName[Array(name.utf8)].map { entries[$0] }
    }

    /// The entry's bytes: a slice of the mapping when stored, an inflated and CRC-checked copy
    /// when deflated. Stored entries are not checksummed (that would read every byte of a
    /// multi-gigabyte checkpoint); call `verifyChecksum` where that cost is acceptable.
    public func contents(of entry: Entry) throws -> Contents {
        let raw = try compressedRange(of: entry)
        if entry.isStored {
            return Contents(bytes: UnsafeRawBufferPointer(rebasing: bytes[raw]), storage: storage)
        }
        // Refused before the buffer exists: a small deflated member can declare gigabytes. Deflate
        // expands at most 1032:1 (a 258-byte match per 2 bits), so a declared size beyond that
        // ratio is a lie whatever memory there is (issue 18: 1.9 MB declaring 4×10⁸ int64 ids).
        let mostInflated = entry.compressedSize.multipliedReportingOverflow(by: ZipArchive.maximumDeflateRatio)
        if !mostInflated.overflow, entry.uncompressedSize > mostInflated.partialValue + 64 {
            throw FileError(path, ZipProblem.declaredSizeTooLarge(name: entry.name, size: entry.uncompressedSize,
                                                                  limit: mostInflated.partialValue + 64))
        }
        if let (available, source) = MemoryBudget.available(), entry.uncompressedSize > UInt64(available) {
            throw FileError(path, ZipProblem.inflatedSizeBeyondMemory(name: entry.name, size: entry.uncompressedSize,
                                                                     available: available, source: source))
        }
        return try inflate(entry, from: UnsafeRawBufferPointer(rebasing: bytes[raw]))
    }

    /// `contents(of:)` for an entry that must be small (a pickle, a byteorder marker): refused
    /// before inflating when it declares more than `limit` bytes.
    public func contents(of entry: Entry, atMost limit: UInt64) throws -> Contents {
        guard entry.uncompressedSize <= limit else {
            throw FileError(path, ZipProblem.declaredSizeTooLarge(name: entry.name, size: entry.uncompressedSize, limit: limit))
        }
        return try contents(of: entry)
    }

    public func contents(named name: String) throws -> Contents {
        guard let entry = entry(named: name) else { throw FileError(path, ZipProblem.missingEntry(name: name)) }
        return try contents(of: entry)
    }

    /// Checks the CRC-32 of a stored entry's bytes (deflated entries are always checked).
    public func verifyChecksum(_ entry: Entry, of contents: Contents) throws {
        let actual = ZipArchive.crc32(contents.bytes)
        guard actual == entry.crc32 else {
            throw FileError(path, ZipProblem.crcMismatch(name: entry.name, declared: entry.crc32, actual: actual))
        }
    }

    /// The file range holding the entry's (possibly compressed) data, after its local header.
    public func compressedRange(of entry: Entry) throws -> Range<Int> {
        guard !entry.isEncrypted else { throw FileError(path, ZipProblem.encrypted(name: entry.name)) }
        guard entry.method == 0 || entry.method == 8 else {
            throw FileError(path, ZipProblem.unsupportedCompression(name: entry.name, method: entry.method))
        }
        if entry.isStored, entry.compressedSize != entry.uncompressedSize {
            throw FileError(path, ZipProblem.storedSizesDiffer(name: entry.name, compressed: entry.compressedSize,
                                                               uncompressed: entry.uncompressedSize))
        }
        guard let header = Int(exactly: entry.localHeaderOffset), header <= bytes.count - 30,
              bytes.le(UInt32.self, at: header) == 0x0403_4B50,
              let nameLength = bytes.le(UInt16.self, at: header + 26),
              let extraLength = bytes.le(UInt16.self, at: header + 28) else {
            throw FileError(path, ZipProblem.badLocalHeader(name: entry.name))
        }
        let nameStart = header + 30
        guard nameStart + Int(nameLength) <= bytes.count else {
            throw FileError(path, ZipProblem.badLocalHeader(name: entry.name))
        }
        let localName = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[nameStart..<nameStart + Int(nameLength)]), as: UTF8.self)
        guard localName == entry.name else {
            throw FileError(path, ZipProblem.localNameMismatch(name: entry.name, local: localName))
        }
        let dataStart = nameStart + Int(nameLength) + Int(extraLength)
        guard let size = Int(exactly: entry.compressedSize), dataStart <= bytes.count, size <= bytes.count - dataStart else {
            throw FileError(path, ZipProblem.entryDataOutsideFile(name: entry.name))
        }
        return dataStart..<dataStart + size
    }

    /// The most deflate can expand its input (zlib's technical notes: 1032:1).
    static let maximumDeflateRatio: UInt64 = 1032

    public static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc: UInt = CZlib.crc32(0, nil, 0)
        var offset = 0
        while offset < bytes.count {
            let chunk = min(bytes.count - offset, Int(UInt32.max >> 1))
            crc = CZlib.crc32(crc, bytes.baseAddress.map { ($0 + offset).assumingMemoryBound(to: Bytef.self) }, uInt(chunk))
            offset += chunk
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    // MARK: - Parsing

    private struct CentralDirectory {
        var offset: Int
        var size: Int
        var count: UInt64
    }

    /// Finds the end-of-central-directory record (searching back over a comment of up to 64 KiB),
    /// and the ZIP64 record when a locator precedes it (torch.save always writes one).
    private static func locateCentralDirectory(_ bytes: UnsafeRawBufferPointer, path: String) throws -> CentralDirectory {
        let fileSize = bytes.count
        guard fileSize >= 22 else {
            if fileSize >= 4, bytes.le(UInt32.self, at: 0) == 0x0403_4B50 {
                throw FileError(path, ZipProblem.truncated(record: "the archive"))
            }
            throw FileError(path, ZipProblem.notAZip)
        }
        var eocd: Int?
        var candidate = fileSize - 22
        let lowest = max(0, fileSize - 22 - 65_535)
        while candidate >= lowest {
            if bytes.le(UInt32.self, at: candidate) == 0x0605_4B50,
               let commentLength = bytes.le(UInt16.self, at: candidate + 20),
               candidate + 22 + Int(commentLength) <= fileSize {
                eocd = candidate
                break
            }
            candidate -= 1
        }
        guard let eocd else {
            // A zip whose tail was cut off still starts with a local header.
            if fileSize >= 4, bytes.le(UInt32.self, at: 0) == 0x0403_4B50 {
                throw FileError(path, ZipProblem.truncated(record: "the end-of-central-directory record"))
            }
            throw FileError(path, ZipProblem.notAZip)
        }
        guard let diskNumber = bytes.le(UInt16.self, at: eocd + 4),
              let directoryDisk = bytes.le(UInt16.self, at: eocd + 6),
              let entriesOnDisk = bytes.le(UInt16.self, at: eocd + 8),
              let totalEntries = bytes.le(UInt16.self, at: eocd + 10),
              let directorySize32 = bytes.le(UInt32.self, at: eocd + 12),
              let directoryOffset32 = bytes.le(UInt32.self, at: eocd + 16) else {
            throw FileError(path, ZipProblem.truncated(record: "the end-of-central-directory record"))
        }
        var count = UInt64(totalEntries)
        var size = UInt64(directorySize32)
        var offset = UInt64(directoryOffset32)
        var directoryEnd = eocd
        var multiDisk = diskNumber != 0 || directoryDisk != 0 || entriesOnDisk != totalEntries

        let locator = eocd - 20
        if locator >= 0, bytes.le(UInt32.self, at: locator) == 0x0706_4B50 {
            guard let recordOffset64 = bytes.le(UInt64.self, at: locator + 8),
                  let totalDisks = bytes.le(UInt32.self, at: locator + 16),
                  let record = Int(exactly: recordOffset64), record <= locator - 56,
                  bytes.le(UInt32.self, at: record) == 0x0606_4B50,
                  let disk64 = bytes.le(UInt32.self, at: record + 16),
                  let directoryDisk64 = bytes.le(UInt32.self, at: record + 20),
                  let onDisk64 = bytes.le(UInt64.self, at: record + 24),
                  let total64 = bytes.le(UInt64.self, at: record + 32),
                  let size64 = bytes.le(UInt64.self, at: record + 40),
                  let offset64 = bytes.le(UInt64.self, at: record + 48) else {
                throw FileError(path, ZipProblem.zip64RecordInvalid)
            }
            multiDisk = totalDisks > 1 || disk64 != 0 || directoryDisk64 != 0 || onDisk64 != total64
            count = total64
            size = size64
            offset = offset64
            directoryEnd = record
        } else if totalEntries == 0xFFFF || directorySize32 == 0xFFFF_FFFF || directoryOffset32 == 0xFFFF_FFFF {
            throw FileError(path, ZipProblem.zip64RecordInvalid)
        }
        guard !multiDisk else { throw FileError(path, ZipProblem.multiDisk) }
        guard let start = Int(exactly: offset), let length = Int(exactly: size),
              start <= directoryEnd, length <= directoryEnd - start else {
            throw FileError(path, ZipProblem.centralDirectoryOutsideFile(offset: offset, size: size, fileSize: fileSize))
        }
        return CentralDirectory(offset: start, size: length, count: count)
    }

    private static func parseCentralEntry(_ bytes: UnsafeRawBufferPointer, at start: Int, end: Int, index: Int,
                                          path: String) throws -> (entry: Entry, next: Int) {
        func field<T: FixedWidthInteger>(_ type: T.Type, _ offset: Int) throws -> T {
            guard let value = bytes.le(type, at: start + offset) else {
                throw FileError(path, ZipProblem.badCentralDirectoryEntry(index: index))
            }
            return value
        }
        let flags = try field(UInt16.self, 8)
        let method = try field(UInt16.self, 10)
        let crc = try field(UInt32.self, 16)
        var compressed = UInt64(try field(UInt32.self, 20))
        var uncompressed = UInt64(try field(UInt32.self, 24))
        let nameLength = Int(try field(UInt16.self, 28))
        let extraLength = Int(try field(UInt16.self, 30))
        let commentLength = Int(try field(UInt16.self, 32))
        let startDisk = try field(UInt16.self, 34)
        var localOffset = UInt64(try field(UInt32.self, 42))
        let nameStart = start + 46
        let next = nameStart + nameLength + extraLength + commentLength
        guard next <= end else { throw FileError(path, ZipProblem.badCentralDirectoryEntry(index: index)) }
        let name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[nameStart..<nameStart + nameLength]), as: UTF8.self)

        // ZIP64 extended information: the 64-bit values of exactly the fields saturated above,
        // in this order.
        var extra = nameStart + nameLength
        let extraEnd = extra + extraLength
        while extraEnd - extra >= 4 {
            guard let id = bytes.le(UInt16.self, at: extra), let length = bytes.le(UInt16.self, at: extra + 2),
                  Int(length) <= extraEnd - extra - 4 else {
                throw FileError(path, ZipProblem.badCentralDirectoryEntry(index: index))
            }
            if id == 0x0001 {
                var field = extra + 4
                let fieldEnd = field + Int(length)
                func take() throws -> UInt64 {
                    guard fieldEnd - field >= 8, let value = bytes.le(UInt64.self, at: field) else {
                        throw FileError(path, ZipProblem.badCentralDirectoryEntry(index: index))
                    }
                    field += 8
                    return value
                }
                if uncompressed == 0xFFFF_FFFF { uncompressed = try take() }
                if compressed == 0xFFFF_FFFF { compressed = try take() }
                if localOffset == 0xFFFF_FFFF { localOffset = try take() }
            }
            extra += 4 + Int(length)
        }
        guard startDisk == 0 || startDisk == 0xFFFF else { throw FileError(path, ZipProblem.multiDisk) }
        let entry = Entry(name: name, method: method, flags: flags, crc32: crc, compressedSize: compressed,
                          uncompressedSize: uncompressed, localHeaderOffset: localOffset)
        return (entry, next)
    }

    // MARK: - Inflate

    private func inflate(_ entry: Entry, from input: UnsafeRawBufferPointer) throws -> Contents {
        // Bound the declared size by what the compressed bytes could possibly hold before
        // allocating it.
        let byRatio = UInt64(max(input.count, 1)).multipliedReportingOverflow(by: ZipArchive.maximumCompressionRatio)
        let limit = min(byRatio.overflow ? UInt64.max : byRatio.partialValue, ZipArchive.maximumInflatedSize)
        guard entry.uncompressedSize <= limit, let outputCount = Int(exactly: entry.uncompressedSize) else {
            throw FileError(path, ZipProblem.declaredSizeTooLarge(name: entry.name, size: entry.uncompressedSize, limit: limit))
        }
        guard let output = OwnedBytes(checkedCount: outputCount) else {
            throw FileError(path, ZipProblem.outOfMemory(name: entry.name, size: entry.uncompressedSize))
        }
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw FileError(path, ZipProblem.corruptDeflate(name: entry.name, reason: "zlib could not start"))
        }
        defer { inflateEnd(&stream) }
        var consumed = 0
        var produced = 0
        var status = Z_OK
        // One spare byte of output space detects data longer than declared.
        var spare: UInt8 = 0
        let chunkLimit = Int(UInt32.max)
        while status != Z_STREAM_END {
            if stream.avail_in == 0, consumed < input.count {
                let chunk = min(input.count - consumed, chunkLimit)
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress.map { ($0 + consumed).assumingMemoryBound(to: Bytef.self) })
                stream.avail_in = uInt(chunk)
                consumed += chunk
            }
            let outputFull = produced >= outputCount
            if stream.avail_out == 0 {
                if outputFull {
                    // Declared size reached; anything more is a lie about the size.
                    let result = withUnsafeMutablePointer(to: &spare) { sparePointer -> Int32 in
                        stream.next_out = sparePointer
                        stream.avail_out = 1
                        return CZlib.inflate(&stream, Z_NO_FLUSH)
                    }
                    if stream.avail_out == 0 {
                        throw FileError(path, ZipProblem.sizeMismatch(name: entry.name, declared: entry.uncompressedSize,
                                                                      actual: entry.uncompressedSize + 1))
                    }
                    status = result
                    stream.next_out = nil
                    stream.avail_out = 0
                    if status == Z_STREAM_END { break }
                    try checkInflate(status, entry: entry, inputLeft: consumed < input.count || stream.avail_in > 0)
                    continue
                }
                let chunk = min(outputCount - produced, chunkLimit)
                stream.next_out = (output.pointer + produced).assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(chunk)
                produced += chunk
            }
            status = CZlib.inflate(&stream, Z_NO_FLUSH)
            if status == Z_STREAM_END { break }
            try checkInflate(status, entry: entry, inputLeft: consumed < input.count || stream.avail_in > 0)
        }
        let total = UInt64(stream.total_out)
        guard total == entry.uncompressedSize else {
            throw FileError(path, ZipProblem.sizeMismatch(name: entry.name, declared: entry.uncompressedSize, actual: total))
        }
        let actual = ZipArchive.crc32(output.bytes)
        guard actual == entry.crc32 else {
            throw FileError(path, ZipProblem.crcMismatch(name: entry.name, declared: entry.crc32, actual: actual))
        }
        return Contents(bytes: output.bytes, storage: output)
    }

    private func checkInflate(_ status: Int32, entry: Entry, inputLeft: Bool) throws {
        switch status {
        case Z_OK:
            return
        case Z_BUF_ERROR where inputLeft:
            return
        case Z_BUF_ERROR:
            throw FileError(path, ZipProblem.corruptDeflate(name: entry.name, reason: "stream ends early"))
        default:
            throw FileError(path, ZipProblem.corruptDeflate(name: entry.name, reason: "zlib error \(status)"))
        }
    }
}

extension UnsafeRawBufferPointer {
    /// A little-endian integer at `offset`, or nil when it does not fit inside the buffer.
    @inline(__always)
    func le<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T? {
        guard offset >= 0, offset <= count - MemoryLayout<T>.size else { return nil }
        return T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
