#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Output files are written by rename, so `--out model.safetensors` or `--junit GOLDEN` would
/// silently replace an input the user still needs. Refuse when the output is one of the inputs
/// (the same file, by device and inode) or a file of the model directory.
public func refuseOverwritingInputs(output: String, option: String, inputs: [String], modelPath: String? = nil) throws {
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
            throw UsageError("\(option) \(output): that is an input of this command (\(input)); choose another path")
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
