/// How `bertcheck tokenize --file` reads a file of texts.

/// Rules a texts file (`tokenize --file`) must follow.
public enum TextLinesProblem: Error, CustomStringConvertible, Equatable {
    case invalidUTF8(line: Int)

    public var description: String {
        switch self {
        case let .invalidUTF8(line): return "line \(line) is not valid UTF-8"
        }
    }
}

public enum TextLines {
    /// One text per line, split on "\n" only ("\r" stays in the text, where it is whitespace); a
    /// final "\n" ends the last line rather than starting an empty one. The whole file is checked
    /// before anything is returned, so bad input never yields partial output.
    public static func read(_ path: String) throws -> [String] {
        let file = try mapWholeFile(path, limit: WholeFileLimit.textLines, kind: "a file of texts")
        let bytes = file.bytes
        var lines: [String] = []
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            guard let line = String(validating: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self) else {
                throw FileError(path, TextLinesProblem.invalidUTF8(line: lines.count + 1))
            }
            lines.append(line)
            start = end + 1
        }
        return lines
    }
}
