#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Every rule a safetensors file can break, one case each (as safetensors' `tensor.rs` does).
/// Thrown wrapped in `FileError(path, problem)`.
public enum SafetensorsProblem: Error, CustomStringConvertible, Equatable {
    /// Fewer than the 8 bytes of the little-endian header length.
    case tooShortForHeaderLength(fileSize: Int)
    /// The header is unreadable and the first bytes are another format's signature.
    case otherFormat(looksLike: String)
    /// The header length exceeds the format's limit of 100,000,000 bytes.
    case headerTooLarge(length: UInt64)
    /// The header length points past the end of the file.
    case headerOutsideFile(length: UInt64, fileSize: Int)
    /// The header bytes are not valid UTF-8.
    case headerNotUTF8
    /// The header is not valid JSON (syntax, duplicate key, nesting).
    case headerNotJSON(JSONProblem)
    /// The header is JSON but not an object.
    case headerNotObject(kind: String)
    /// `__metadata__` is not an object whose values are all strings.
    case metadataNotStringMap(key: String?)
    /// A tensor entry is not an object, or lacks `dtype`, `shape` or `data_offsets`.
    case malformedTensorEntry(tensor: String, reason: String)
    /// The dtype is not one bertcheck knows.
    case unknownDType(tensor: String, dtype: String)
    /// A shape dimension is not a non-negative integer.
    case shapeNotIntegers(tensor: String)
    /// `data_offsets` is not two non-negative integers.
    case offsetsNotIntegers(tensor: String)
    /// `data_offsets` begin is after end.
    case beginAfterEnd(tensor: String, begin: Int, end: Int)
    /// The element count or the byte length of the shape does not fit in 64 bits.
    case sizeOverflow(tensor: String)
    /// end - begin differs from element count × dtype size.
    case byteLengthMismatch(tensor: String, expected: Int, actual: Int)
    /// A tensor's bytes overlap the previous tensor's (offsets sorted).
    case overlappingTensors(tensor: String, previous: String)
    /// Bytes between two tensors (or before the first) that belong to no tensor.
    case holeBeforeTensor(tensor: String, gapStart: Int, gapEnd: Int)
    /// A tensor's bytes run past the end of the file.
    case tensorPastEndOfFile(tensor: String, end: Int, bufferSize: Int)
    /// The file continues after the last tensor's bytes.
    case bytesAfterLastTensor(end: Int, bufferSize: Int)

    public var description: String {
        switch self {
        case let .otherFormat(kind):
            return "not a safetensors file: this is \(kind)"
        case let .tooShortForHeaderLength(size):
            return "not a safetensors file: \(size) bytes, shorter than the 8-byte header length"
        case let .headerTooLarge(length):
            return "safetensors header length \(length) exceeds the limit of 100,000,000 bytes"
        case let .headerOutsideFile(length, size):
            return "safetensors header length \(length) runs past the end of the file (\(size) bytes)"
        case .headerNotUTF8:
            return "safetensors header is not valid UTF-8"
        case let .headerNotJSON(problem):
            return "safetensors header is not valid JSON: \(problem)"
        case let .headerNotObject(kind):
            return "safetensors header is a JSON \(kind), not an object"
        case let .metadataNotStringMap(key):
            if let key { return "safetensors __metadata__ value for \"\(key)\" is not a string" }
            return "safetensors __metadata__ is not an object of strings"
        case let .malformedTensorEntry(tensor, reason):
            return "tensor \"\(tensor)\": \(reason)"
        case let .unknownDType(tensor, dtype):
            return "tensor \"\(tensor)\": unknown dtype \"\(dtype)\" (known: \(DType.plainTypes.map(\.rawValue).joined(separator: ", ")))"
        case let .shapeNotIntegers(tensor):
            return "tensor \"\(tensor)\": shape must be an array of non-negative integers"
        case let .offsetsNotIntegers(tensor):
            return "tensor \"\(tensor)\": data_offsets must be two non-negative integers"
        case let .beginAfterEnd(tensor, begin, end):
            return "tensor \"\(tensor)\": data_offsets begin \(begin) is after end \(end)"
        case let .sizeOverflow(tensor):
            return "tensor \"\(tensor)\": shape's size overflows 64-bit arithmetic"
        case let .byteLengthMismatch(tensor, expected, actual):
            return "tensor \"\(tensor)\": data_offsets span \(actual) bytes but shape and dtype need \(expected)"
        case let .overlappingTensors(tensor, previous):
            return "tensor \"\(tensor)\": data overlaps tensor \"\(previous)\""
        case let .holeBeforeTensor(tensor, start, end):
            return "tensor \"\(tensor)\": bytes \(start)..<\(end) of the data buffer belong to no tensor"
        case let .tensorPastEndOfFile(tensor, end, size):
            return "tensor \"\(tensor)\": data ends at byte \(end) of the data buffer, past the end of the file (buffer is \(size) bytes)"
        case let .bytesAfterLastTensor(end, size):
            return "data buffer is \(size) bytes but the tensors end at byte \(end): the file does not end where the tensors end"
        }
    }
}

/// A safetensors file (https://github.com/huggingface/safetensors): an 8-byte little-endian header
/// length N, N bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {..}}`,
/// then the data buffer the offsets index.
public struct SafetensorsFile {
    /// The format's limit on the header length.
    public static let maximumHeaderLength: UInt64 = 100_000_000

    /// One tensor's header entry, validated.
    public struct Entry: Equatable, Sendable {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        /// Offsets into the data buffer (after the header).
        public var begin: Int
        public var end: Int
    }

    /// A parsed, fully validated header: the entries sorted by data offset (file order).
    public struct Header: Sendable {
        public var entries: [Entry]
        public var metadata: [String: String]
        /// Where the data buffer starts in the file (8 + header length).
        public var dataStart: Int
    }

    /// Maps `path` read-only and returns its tensors in file order (sorted by data offset),
    /// pointing into the mapping (no copies), and the `__metadata__` strings.
    public static func read(_ path: String) throws -> (tensors: [Tensor], metadata: [String: String]) {
        let file = try MappedFile(path: path)
        let header: Header
        do {
            header = try parseHeader(file.bytes)
        } catch let problem as SafetensorsProblem {
            throw FileError(path, problem.naming(head: Array(file.bytes.prefix(16))))
        }
        let base = file.bytes
        let tensors = header.entries.map { entry in
            let range = (header.dataStart + entry.begin)..<(header.dataStart + entry.end)
            return Tensor(name: entry.name, dtype: entry.dtype, shape: entry.shape,
                          data: UnsafeRawBufferPointer(rebasing: base[range]), storage: file)
        }
        return (tensors, header.metadata)
    }

    /// Reads and validates only the header (8 bytes + N bytes with pread, no mapping): what
    /// `params` needs, whatever the size of the data buffer.
    public static func readHeader(_ path: String) throws -> Header {
        let (fd, fileSize) = try openRegularFile(path)
        defer { close(fd) }
        do {
            guard fileSize >= 8 else { throw SafetensorsProblem.tooShortForHeaderLength(fileSize: fileSize) }
            var prefix = [UInt8](repeating: 0, count: 8)
            try readFully(fd, into: &prefix, at: 0, path: path)
            let length = try headerLength(prefix, fileSize: fileSize)
            var bytes = [UInt8](repeating: 0, count: 8 + length)
            try readFully(fd, into: &bytes, at: 0, path: path)
            return try bytes.withUnsafeBytes { raw in
                try parseHeader(raw, fileSize: fileSize)
            }
        } catch let problem as SafetensorsProblem {
            var head = [UInt8](repeating: 0, count: min(16, fileSize))
            let count = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
            throw FileError(path, problem.naming(head: Array(head.prefix(max(count, 0)))))
        }
    }

    private static func readFully(_ fd: Int32, into buffer: inout [UInt8], at offset: Int, path: String) throws {
        var done = 0
        let total = buffer.count
        try buffer.withUnsafeMutableBytes { raw in
            while done < total {
                let n = pread(fd, raw.baseAddress! + done, total - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileError(path, Problem("cannot read: \(String(cString: strerror(errno)))"))
                }
                if n == 0 { throw FileError(path, Problem("file shrank while being read")) }
                done += n
            }
        }
    }

    /// The header length from the first 8 bytes, checked against the limit and the file size.
    static func headerLength<Bytes: Collection>(_ prefix: Bytes, fileSize: Int) throws -> Int where Bytes.Element == UInt8 {
        guard fileSize >= 8, prefix.count >= 8 else { throw SafetensorsProblem.tooShortForHeaderLength(fileSize: fileSize) }
        var length: UInt64 = 0
        for (i, byte) in prefix.prefix(8).enumerated() { length |= UInt64(byte) << (8 * UInt64(i)) }
        guard length <= maximumHeaderLength else { throw SafetensorsProblem.headerTooLarge(length: length) }
        guard length <= UInt64(fileSize - 8) else { throw SafetensorsProblem.headerOutsideFile(length: length, fileSize: fileSize) }
        return Int(length)
    }

    /// Validates every rule of the format over the bytes of a whole file, or over the first
    /// 8 + N bytes of a file of `fileSize` bytes. Throws `SafetensorsProblem`.
    public static func parseHeader(_ bytes: UnsafeRawBufferPointer, fileSize: Int? = nil) throws -> Header {
        let fileSize = fileSize ?? bytes.count
        let length = try headerLength(bytes, fileSize: fileSize)
        guard bytes.count >= 8 + length else {
            throw SafetensorsProblem.headerOutsideFile(length: UInt64(length), fileSize: bytes.count)
        }
        let json = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + length)])
        let root: JSONValue
        do {
            root = try StrictJSON.parse(json)
        } catch .invalidUTF8 {
            throw SafetensorsProblem.headerNotUTF8
        } catch {
            throw SafetensorsProblem.headerNotJSON(error)
        }
        guard let members = root.members else { throw SafetensorsProblem.headerNotObject(kind: root.kind) }

        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        entries.reserveCapacity(members.count)
        for (name, value) in members {
            if name == "__metadata__" {
                metadata = try parseMetadata(value)
            } else {
                entries.append(try parseEntry(name: name, value))
            }
        }

        // Sorted by offsets, the tensors must tile the data buffer exactly.
        let bufferSize = fileSize - 8 - length
        let order = entries.indices.sorted { a, b in
            (entries[a].begin, entries[a].end, a) < (entries[b].begin, entries[b].end, b)
        }
        entries = order.map { entries[$0] }
        var covered = 0
        var previous: String?
        for entry in entries {
            if entry.begin < covered, let previous {
                throw SafetensorsProblem.overlappingTensors(tensor: entry.name, previous: previous)
            }
            if entry.begin > covered {
                throw SafetensorsProblem.holeBeforeTensor(tensor: entry.name, gapStart: covered, gapEnd: min(entry.begin, bufferSize))
            }
            if entry.end > bufferSize {
                throw SafetensorsProblem.tensorPastEndOfFile(tensor: entry.name, end: entry.end, bufferSize: bufferSize)
            }
            covered = entry.end
            previous = entry.name
        }
        guard covered == bufferSize else { throw SafetensorsProblem.bytesAfterLastTensor(end: covered, bufferSize: bufferSize) }
        return Header(entries: entries, metadata: metadata, dataStart: 8 + length)
    }

    private static func parseMetadata(_ value: JSONValue) throws -> [String: String] {
        if value == .null { return [:] }
        guard let members = value.members else { throw SafetensorsProblem.metadataNotStringMap(key: nil) }
        var metadata: [String: String] = [:]
        for (key, item) in members {
            guard let text = item.string else { throw SafetensorsProblem.metadataNotStringMap(key: key) }
            metadata[key] = text
        }
        return metadata
    }

    private static func parseEntry(name: String, _ value: JSONValue) throws -> Entry {
        guard value.members != nil else {
            throw SafetensorsProblem.malformedTensorEntry(tensor: name, reason: "entry is a JSON \(value.kind), not an object")
        }
        guard let dtypeValue = value["dtype"] else { throw SafetensorsProblem.malformedTensorEntry(tensor: name, reason: "no \"dtype\"") }
        guard let shapeValue = value["shape"] else { throw SafetensorsProblem.malformedTensorEntry(tensor: name, reason: "no \"shape\"") }
        guard let offsetsValue = value["data_offsets"] else { throw SafetensorsProblem.malformedTensorEntry(tensor: name, reason: "no \"data_offsets\"") }
        guard let dtypeName = dtypeValue.string else {
            throw SafetensorsProblem.malformedTensorEntry(tensor: name, reason: "dtype is a JSON \(dtypeValue.kind), not a string")
        }
        guard let dtype = DType(rawValue: dtypeName), !dtype.isQuantized else { throw SafetensorsProblem.unknownDType(tensor: name, dtype: dtypeName) }
        guard let dims = shapeValue.elements else { throw SafetensorsProblem.shapeNotIntegers(tensor: name) }
        var shape: [Int] = []
        shape.reserveCapacity(dims.count)
        for dim in dims {
            guard let d = dim.integer, d >= 0 else { throw SafetensorsProblem.shapeNotIntegers(tensor: name) }
            shape.append(d)
        }
        guard let offsets = offsetsValue.elements, offsets.count == 2,
              let begin = offsets[0].integer, let end = offsets[1].integer, begin >= 0, end >= 0 else {
            throw SafetensorsProblem.offsetsNotIntegers(tensor: name)
        }
        guard begin <= end else { throw SafetensorsProblem.beginAfterEnd(tensor: name, begin: begin, end: end) }
        guard let expected = byteLength(shape: shape, dtype: dtype) else { throw SafetensorsProblem.sizeOverflow(tensor: name) }
        guard end - begin == expected else {
            throw SafetensorsProblem.byteLengthMismatch(tensor: name, expected: expected, actual: end - begin)
        }
        return Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
    }

    /// Element count × dtype size, or nil when it overflows.
    public static func byteLength(shape: [Int], dtype: DType) -> Int? {
        var count = 1
        for d in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            count = product
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.size)
        return overflow ? nil : bytes
    }
}

/// Writes safetensors files the way the reference Rust writer lays them out: header JSON padded
/// with spaces to a multiple of 8 bytes (so the data buffer starts 8-byte aligned), then the
/// tensors' bytes back to back in the order given.
public enum SafetensorsWriter {
    /// The header bytes (without the 8-byte length) for `tensors` in the given order.
    public static func header(for tensors: [Tensor], metadata: [String: String]) -> [UInt8] {
        var members: [(key: String, value: JSONValue)] = []
        if !metadata.isEmpty {
            members.append(("__metadata__", .object(metadata.sorted(by: { $0.key < $1.key }).map { ($0.key, .string($0.value)) })))
        }
        var offset = 0
        for tensor in tensors {
            let end = offset + tensor.byteCount
            members.append((tensor.name, .object([
                ("dtype", .string(tensor.dtype.rawValue)), ("shape", .array(tensor.shape.map { .int($0) })),
                ("data_offsets", .array([.int(offset), .int(end)])),
            ])))
            offset = end
        }
        var bytes: [UInt8] = []
        JSONValue.object(members).write(to: &bytes, layout: .compact)
        bytes += [UInt8](repeating: UInt8(ascii: " "), count: (8 - bytes.count % 8) % 8)
        return bytes
    }

    /// Writes `tensors` (in this order) and `metadata` to `path` atomically: a temporary file in
    /// the same directory, renamed over `path` once complete. Nothing is left behind on failure.
    public static func write(_ tensors: [Tensor], metadata: [String: String], to path: String) throws {
        // Names compare as bytes, as safetensors does ("é" and "e\u{301}" are two names).
        var names = Set<[UInt8]>()
        for tensor in tensors {
            guard tensor.name != "__metadata__" else { throw FileError(path, Problem("a tensor cannot be named __metadata__")) }
            guard names.insert(Array(tensor.name.utf8)).inserted else { throw FileError(path, Problem("tensor \"\(tensor.name)\" given twice")) }
            guard tensor.shape.allSatisfy({ $0 >= 0 }),
                  let expected = SafetensorsFile.byteLength(shape: tensor.shape, dtype: tensor.dtype),
                  expected == tensor.byteCount else {
                throw FileError(path, Problem("tensor \"\(tensor.name)\" has \(tensor.byteCount) bytes, which does not match shape \(tensor.shapeDescription) of \(tensor.dtype.rawValue)"))
            }
        }
        let header = header(for: tensors, metadata: metadata)
        let length = UInt64(header.count)
        let prefix = (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * UInt64($0))) }

        try AtomicFile.write(to: path) { sink in
            try sink.write(prefix)
            try sink.write(header)
            for tensor in tensors { try sink.write(tensor.data) }
        }
    }
}

#if canImport(Glibc)
private let systemWrite = Glibc.write
#else
private let systemWrite = Darwin.write
#endif

/// Writes a file through a temporary file in the same directory and renames it into place, so
/// readers never see a half-written file and a failure leaves nothing behind.
public enum AtomicFile {
    public final class Sink {
        let fd: Int32
        let path: String
        init(fd: Int32, path: String) { self.fd = fd; self.path = path }

        public func write(_ bytes: UnsafeRawBufferPointer) throws {
            var done = 0
            while done < bytes.count {
                let n = systemWrite(fd, bytes.baseAddress! + done, bytes.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileError(path, Problem("cannot write: \(String(cString: strerror(errno)))"))
                }
                done += n
            }
        }

        public func write(_ bytes: [UInt8]) throws {
            try bytes.withUnsafeBytes { try write($0) }
        }

        public func write(_ text: String) throws {
            try write(Array(text.utf8))
        }
    }

    public static func write(to path: String, _ body: (Sink) throws -> Void) throws {
        if let existing = fileStatus(path), (existing.st_mode & S_IFMT) != S_IFREG {
            // /dev/null, /dev/stdout, a FIFO: a rename would replace the device node itself, so
            // write through it (a directory fails to open and is reported).
            let fd = withPathBytes(path) { open($0, O_WRONLY | O_CLOEXEC) }
            guard fd >= 0 else { throw FileError(path, Problem("cannot write: \(String(cString: strerror(errno)))")) }
            defer { close(fd) }
            try body(Sink(fd: fd, path: path))
            return
        }
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let (fd, temporary, cleanupSlot) = TemporaryFileCleanup.makeTemporaryFile(prefix: (directory.isEmpty ? "" : directory) + "/." + base + ".tmp-")
        guard fd >= 0 else { throw FileError(path, Problem("cannot create a temporary file in \(directory.isEmpty ? "/" : directory): \(String(cString: strerror(errno)))")) }
        var renamed = false
        defer {
            if !renamed { _ = withPathBytes(temporary) { unlink($0) } }
            TemporaryFileCleanup.remove(slot: cleanupSlot)
        }
        do {
            defer { close(fd) }
            try body(Sink(fd: fd, path: path))
            fchmod(fd, 0o644)
            guard fsync(fd) == 0 else { throw FileError(path, Problem("cannot write: \(String(cString: strerror(errno)))")) }
        }
        guard withPathBytes(temporary, { from in withPathBytes(path) { rename(from, $0) } }) == 0 else {
            throw FileError(path, Problem("cannot write: \(String(cString: strerror(errno)))"))
        }
        renamed = true
    }
}

extension Tensor {
    /// An F32 tensor owning a copy of `floats`. The writer checks that `shape` matches the count.
    public static func makeTensor(name: String, floats: [Float], shape: [Int]) -> Tensor {
        floats.withUnsafeBytes { makeTensor(name: name, dtype: .F32, shape: shape, bytes: $0) }
    }

    /// An I64 tensor owning a copy of `int64s`.
    public static func makeTensor(name: String, int64s: [Int64], shape: [Int]) -> Tensor {
        int64s.withUnsafeBytes { makeTensor(name: name, dtype: .I64, shape: shape, bytes: $0) }
    }

    /// A tensor of any dtype owning a copy of `bytes` (little-endian elements).
    public static func makeTensor(name: String, dtype: DType, shape: [Int], bytes: UnsafeRawBufferPointer) -> Tensor {
        let owned = OwnedBytes(count: bytes.count)
        if bytes.count > 0, let source = bytes.baseAddress {
            owned.pointer.copyMemory(from: source, byteCount: bytes.count)
        }
        return Tensor(name: name, dtype: dtype, shape: shape, data: owned.bytes, storage: owned)
    }
}

extension SafetensorsProblem {
    /// A header that fails before its JSON is reached, in a file whose first bytes are another
    /// format's signature, is that format handed to the wrong reader: say which.
    func naming(head: [UInt8]) -> SafetensorsProblem {
        switch self {
        case .tooShortForHeaderLength, .headerTooLarge, .headerOutsideFile, .headerNotUTF8, .headerNotJSON:
            if let signature = FileSignature.identify(head), !signature.description.hasPrefix("a JSON") {
                return .otherFormat(looksLike: signature.description)
            }
            return self
        default:
            return self
        }
    }
}

/// A single `model.safetensors` file: 8 bytes of header length, then a JSON object.
public enum SafetensorsFormat: CheckpointFormatReader {
    public static let format = CheckpointFormat("safetensors")
    public static let displayName = "a safetensors file"
    public static let directoryFileNames = ["model.safetensors"]

    public static func match(path: String, head: [UInt8]) -> FormatMatch? {
        // The header is JSON, so byte 8 opens it (a file of an empty header is still named).
        if head.count >= 9, head[8] == UInt8(ascii: "{") { return .byMagic }
        return path.hasSuffix(".safetensors") ? .byName : nil
    }

    public static func read(_ path: String) throws -> CheckpointContents {
        CheckpointContents(tensors: try SafetensorsFile.read(path).tensors, files: [path])
    }
}

extension CheckpointFormat {
    public static let safetensors = SafetensorsFormat.format
}
