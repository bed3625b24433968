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
    return lstat(path, &info) == 0
}
