/// Errors that reach the user. Every input problem is a `FileError`: the file it came from and
/// the rule the file broke, printed as one line (`PATH: PROBLEM`) by the CLI with exit code 2.
///
/// Readers define their own typed problem enums (one case per broken rule, like safetensors'
/// `tensor.rs`) and wrap them in a `FileError` with the path.
public struct FileError: Error, CustomStringConvertible {
    public let path: String
    public let problem: any Error & CustomStringConvertible

    public init(_ path: String, _ problem: any Error & CustomStringConvertible) {
        self.path = path
        self.problem = problem
    }

    /// An empty path (`bertcheck params ""`) is shown as `''`, so the line still names it.
    public var description: String { "\(path.isEmpty ? "''" : path): \(problem)" }
}

/// A problem stated in words, for rules too small to deserve their own enum.
public struct Problem: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Error {
    /// One line for stderr, never a stack dump.
    public var oneLine: String {
        // String(describing:) uses `description` where there is one.
        let text = String(describing: self)
        return text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).joined(separator: " ")
    }
}
