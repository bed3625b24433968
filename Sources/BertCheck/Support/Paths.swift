#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The directory holding `path`: "." for a bare file name, "/" for a file in the root.
public func parentDirectory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

/// `directory/name`, without doubling a trailing slash.
public func joinPath(_ directory: String, _ name: String) -> String {
    directory.hasSuffix("/") ? directory + name : directory + "/" + name
}

/// Whether `path` names a directory entry, even a dangling or looping symlink. Optional model
/// files (config.json, vocab.txt, ...) are looked up with this rather than `access`, which
/// follows the link and would skip a broken one silently: a broken link is read, and refused.
public func entryExists(_ path: String) -> Bool {
    var info = stat()
    return withPathBytes(path) { lstat($0, &info) } == 0
}

/// Calls `body` with `path` as the bytes it stands for (see `PathBytes`): the one conversion of
/// a path for the system (open, stat, rename, unlink, opendir, realpath, access).
public func withPathBytes<R>(_ path: String, _ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
    try PathBytes.encode(path).withUnsafeBufferPointer { try body($0.baseAddress!) }
}

/// `stat` of `path` (following links), nil when it fails (errno set).
public func fileStatus(_ path: String) -> stat? {
    var info = stat()
    return withPathBytes(path) { stat($0, &info) } == 0 ? info : nil
}

/// Whether `path` exists (following links).
public func pathExists(_ path: String) -> Bool { fileStatus(path) != nil }

/// Whether `path` is a directory (following links).
public func isDirectory(_ path: String) -> Bool {
    fileStatus(path).map { ($0.st_mode & S_IFMT) == S_IFDIR } ?? false
}

/// The names in `directory` (without "." and ".."), decoded as paths; nil when it cannot be opened.
public func directoryEntries(_ directory: String) -> [String]? {
    guard let dir = withPathBytes(directory, { opendir($0) }) else { return nil }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in PathBytes.decode(raw.prefix(while: { $0 != 0 })) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

/// The canonical absolute path (`realpath`), nil when it cannot be resolved.
public func resolvedPath(_ path: String) -> String? {
    guard let resolved = withPathBytes(path, { realpath($0, nil) }) else { return nil }
    defer { free(resolved) }
    return PathBytes.decode(UnsafeRawBufferPointer(start: resolved, count: strlen(resolved)))
}

/// File names are bytes, not text (issue 18 #11: `--out $'g\xe9.safetensors'` must write exactly
/// that name). bertcheck carries a path as a `String` in which each byte that is not part of valid
/// UTF-8 stands as the private-use code point U+F700 + byte (U+F780 … U+F7FF), as Python's
/// `surrogateescape` does with U+DC80 … U+DCFF (Swift strings cannot hold surrogates). A real
/// name that contains U+F780 … U+F7FF has each byte of that character escaped the same way, so
/// decoding any bytes and encoding the result gives the same bytes back. Every call that hands a
/// path to the system goes through `withPathBytes`; messages show escaped bytes as `\xNN`.
public enum PathBytes {
    static let escapeBase: UInt32 = 0xF700
    static let escaped: ClosedRange<UInt32> = 0xF780...0xF7FF

    /// The path for `bytes` (no NUL): UTF-8 decoded, each other byte escaped (one at a time, as
    /// `surrogateescape` does).
    public static func decode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let b = Array(bytes)
        var scalars = String.UnicodeScalarView()
        var i = 0
        while i < b.count {
            if let (scalar, length) = scalar(in: b, at: i), !escaped.contains(scalar.value) {
                scalars.append(scalar)
                i += length
            } else {
                // An invalid byte, or the first byte of a real U+F780 … U+F7FF (its other bytes
                // are continuation bytes, escaped on the next steps).
                scalars.append(Unicode.Scalar(escapeBase + UInt32(b[i]))!)
                i += 1
            }
        }
        return String(scalars)
    }

    /// The scalar whose well-formed UTF-8 (no overlong form, no surrogate, at most U+10FFFF)
    /// starts at `i`, and its length.
    static func scalar(in b: [UInt8], at i: Int) -> (Unicode.Scalar, Int)? {
        let lead = b[i]
        let length: Int, minimum: UInt32
        var value: UInt32
        switch lead {
        case 0x00...0x7F: return (Unicode.Scalar(lead), 1)
        case 0xC2...0xDF: length = 2; minimum = 0x80; value = UInt32(lead & 0x1F)
        case 0xE0...0xEF: length = 3; minimum = 0x800; value = UInt32(lead & 0x0F)
        case 0xF0...0xF4: length = 4; minimum = 0x10000; value = UInt32(lead & 0x07)
        default: return nil
        }
        guard i + length <= b.count else { return nil }
        for k in 1..<length {
            guard b[i + k] & 0xC0 == 0x80 else { return nil }
            value = value << 6 | UInt32(b[i + k] & 0x3F)
        }
        guard value >= minimum, let scalar = Unicode.Scalar(value) else { return nil }
        return (scalar, length)
    }

    /// The path's bytes, NUL-terminated, for the system calls.
    public static func encode(_ path: String) -> [CChar] {
        var bytes: [CChar] = []
        bytes.reserveCapacity(path.utf8.count + 1)
        for scalar in path.unicodeScalars {
            if escaped.contains(scalar.value) {
                bytes.append(CChar(bitPattern: UInt8(scalar.value - escapeBase)))
            } else {
                for unit in UTF8.encode(scalar)! { bytes.append(CChar(bitPattern: unit)) }
            }
        }
        bytes.append(0)
        return bytes
    }

    /// An argument meant as text, not a path: its bytes decoded with repair (each invalid byte
    /// becomes U+FFFD), exactly as Swift's `CommandLine.arguments` would have given it.
    public static func text(_ argument: String) -> String {
        String(decoding: encode(argument).dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The text with every escaped byte, and every control character, written `\xNN`, for
    /// messages: a path cannot break a message's line or send terminal escapes (ESC [ 2 J).
    public static func display(_ text: String) -> String {
        func shownEscaped(_ value: UInt32) -> Bool { escaped.contains(value) || value < 0x20 || value == 0x7F }
        guard text.unicodeScalars.contains(where: { shownEscaped($0.value) }) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            if escaped.contains(scalar.value) {
                out += "\\x" + String(scalar.value - escapeBase, radix: 16)
            } else if shownEscaped(scalar.value) {
                out += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
