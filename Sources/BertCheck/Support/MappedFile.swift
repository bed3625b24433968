#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file mapped read-only into memory. Tensor data is read straight from the mapping, never
/// copied; the mapping lives as long as any `Tensor` that points into it (tensors hold the
/// `ByteStorage` that owns it).
public final class MappedFile: ByteStorage, @unchecked Sendable {
    public let path: String
    private let base: UnsafeMutableRawPointer?
    public let count: Int
    /// The SIGBUS guard's slot for this mapping (a truncated file faults on access).
    private var faultSlot: Int?

    public init(path: String) throws {
        self.path = path
        let (fd, size) = try openRegularFile(path)
        defer { close(fd) }
        count = size
        if size == 0 {
            base = nil
        } else {
            let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
            guard let p, p != MAP_FAILED else { throw FileError(path, Problem("cannot map: \(String(cString: strerror(errno)))")) }
            base = p
            faultSlot = MappingFaultGuard.register(base: p, count: size, path: path)
        }
    }

    deinit {
        MappingFaultGuard.remove(slot: faultSlot)
        if let base { munmap(base, count) }
    }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Tell the kernel the pages of `range` may be dropped from this process (they stay in the
    /// page cache). Used after a layer's weights are consumed, so peak RSS stays near one layer.
    public func release(_ range: Range<Int>) {
        #if os(Linux)
        guard let base, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (range.lowerBound + page - 1) / page * page
        let end = range.upperBound / page * page
        if end > start { madvise(base + start, end - start, MADV_DONTNEED) }
        #endif
    }
}

/// Opens `path` read-only and returns the descriptor (the caller closes it) and the file size;
/// refuses directories, devices and FIFOs with a `FileError`. The open is non-blocking, because a
/// plain `open` of a FIFO waits forever for a writer; the flag is cleared once the file is known
/// to be regular (it has no effect on regular files anyway).
public func openRegularFile(_ path: String) throws -> (fd: Int32, size: Int) {
    let fd = withPathBytes(path) { open($0, O_RDONLY | O_CLOEXEC | O_NONBLOCK) }
    guard fd >= 0 else { throw FileError(path, Problem("cannot open: \(String(cString: strerror(errno)))")) }
    var info = stat()
    guard fstat(fd, &info) == 0 else {
        let reason = String(cString: strerror(errno))
        close(fd)
        throw FileError(path, Problem("cannot stat: \(reason)"))
    }
    guard (info.st_mode & S_IFMT) == S_IFREG else {
        close(fd)
        throw FileError(path, Problem("not a regular file (\(fileKind(info.st_mode)))"))
    }
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
    return (fd, Int(info.st_size))
}

/// Largest sizes of the files bertcheck reads whole into structures (JSON values, a vocabulary,
/// lists of texts), which take several times their size in memory. Far above real files (a
/// config.json or shard index is a few KB, the largest tokenizer.json files ~20 MB), far below
/// what would exhaust memory (issue 18: a 200 MB config.json trapped under a memory limit).
public enum WholeFileLimit {
    /// config.json, tokenizer_config.json, model.safetensors.index.json.
    public static let json = 16 << 20
    /// vocab.txt, tokenizer.json.
    public static let vocabulary = 64 << 20
    /// `--texts-file` (one padded batch).
    public static let textsList = 64 << 20
    /// `tokenize --file` (one text per line, streamed out).
    public static let textLines = 256 << 20
}

/// Maps `path` for reading whole, refusing a file larger than `limit` bytes (`kind` names the
/// file's role in the message).
public func mapWholeFile(_ path: String, limit: Int, kind: String) throws -> MappedFile {
    let file = try MappedFile(path: path)
    guard file.count <= limit else {
        throw FileError(path, Problem("is \(file.count) bytes, more than the \(limit) bytes \(kind) may have"))
    }
    return file
}

/// What a non-regular file is, for messages.
func fileKind(_ mode: mode_t) -> String {
    switch mode & S_IFMT {
    case S_IFDIR: return "a directory"
    case S_IFIFO: return "a FIFO"
    case S_IFCHR: return "a character device"
    case S_IFBLK: return "a block device"
    case S_IFSOCK: return "a socket"
    default: return "not a plain file"
    }
}

/// Something that owns bytes a tensor points into: a mapped file or an owned buffer.
public class ByteStorage: @unchecked Sendable {
    public init() {}
}

/// Bytes owned by the process (inflated zip entries, converted or gathered tensors).
public final class OwnedBytes: ByteStorage, @unchecked Sendable {
    public let pointer: UnsafeMutableRawPointer
    public let count: Int
    private let fromPosixMemalign: Bool

    public init(count: Int, alignment: Int = 64) {
        self.count = count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: alignment)
        fromPosixMemalign = false
    }

    /// For sizes a file declares: nil when the system cannot provide the memory, where
    /// `init(count:)` would trap.
    public init?(checkedCount count: Int, alignment: Int = 64) {
        var allocated: UnsafeMutableRawPointer?
        guard count >= 0, posix_memalign(&allocated, alignment, max(count, 1)) == 0, let allocated else { return nil }
        self.count = count
        pointer = allocated
        fromPosixMemalign = true
    }

    deinit {
        if fromPosixMemalign { free(pointer) } else { pointer.deallocate() }
    }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: pointer, count: count) }
    public var mutableBytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: pointer, count: count) }
}
