#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An output path that names one of the command's inputs.
public enum OutputProblem: Error, CustomStringConvertible, Equatable {
    case overwritesInput(output: String, input: String)

    public var description: String {
        switch self {
        case let .overwritesInput(output, input): return "\(output) is an input (\(input)): writing it would replace it"
        }
    }
}

/// Output files are written by rename, so an output path that names a golden or a weight file
/// would silently replace an input the user still needs. Throws `OutputProblem` when the output
/// is one of the inputs (the same file, by device and inode) or a file of the model directory.
public func refuseOverwritingInputs(output: String, inputs: [String], modelPath: String? = nil) throws {
    var out = stat()
    guard stat(output, &out) == 0, (out.st_mode & S_IFMT) == S_IFREG else { return }
    var candidates = inputs
    if let modelPath {
        var model = stat()
        if stat(modelPath, &model) == 0 {
            let directory = (model.st_mode & S_IFMT) == S_IFDIR ? modelPath : parentDirectory(of: modelPath)
            candidates.append(contentsOf: filesIn(directory))
        }
    }
    for input in candidates {
        var other = stat()
        if stat(input, &other) == 0, other.st_dev == out.st_dev, other.st_ino == out.st_ino {
            throw OutputProblem.overwritesInput(output: output, input: input)
        }
    }
}

private func filesIn(_ directory: String) -> [String] {
    guard let dir = opendir(directory) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        if name != "." && name != ".." { names.append(directory + "/" + name) }
    }
    return names
}
