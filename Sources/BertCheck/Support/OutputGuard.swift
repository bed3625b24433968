#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An output path that names one of the command's inputs.
public enum OutputProblem: Error, CustomStringConvertible, Equatable {
    case overwritesInput(output: String, input: String)
    /// A new file in the model directory under a name the loader looks for (model.safetensors
    /// beside a pytorch_model.bin): the next run would read it instead of the real weights.
    case becomesModelInput(output: String, directory: String)

    public var description: String {
        switch self {
        case let .overwritesInput(output, input): return "\(output) is an input (\(input)): writing it would replace it"
        case let .becomesModelInput(output, directory):
            return "\(output) would become an input of the model in \(directory) (a name the loader reads there)"
        }
    }
}

/// File names a model directory is searched for: weights of every format, config and tokenizer.
func modelDirectoryInputNames() -> Set<String> {
    Set(CheckpointFormats.registered.flatMap { $0.directoryFileNames }
        + [CheckpointFileName.config, "vocab.txt", "tokenizer.json", "tokenizer_config.json"])
}

/// Whether `output` lies in `directory` (same device and inode of the parent) under one of the
/// names the loader reads, whether or not that file exists yet.
func wouldBecomeModelInput(output: String, directory: String) -> Bool {
    let name = output.split(separator: "/").last.map(String.init) ?? output
    guard modelDirectoryInputNames().contains(name) else { return false }
    guard let outputParent = fileStatus(parentDirectory(of: output)), let model = fileStatus(directory) else { return false }
    return outputParent.st_dev == model.st_dev && outputParent.st_ino == model.st_ino
}

/// Output files are written by rename, so an output path that names a golden or a weight file
/// would silently replace an input the user still needs. Throws `OutputProblem` when the output
/// is one of the inputs (the same file, by device and inode) or a file of the model directory.
public func refuseOverwritingInputs(output: String, inputs: [String], modelPath: String? = nil) throws {
    try refuseReplacingAnInput(output: output, inputs: inputs, modelPath: modelPath)
    guard let modelPath else { return }
    guard let model = fileStatus(modelPath) else { return }
    let directory = (model.st_mode & S_IFMT) == S_IFDIR ? modelPath : parentDirectory(of: modelPath)
    if wouldBecomeModelInput(output: output, directory: directory) {
        throw OutputProblem.becomesModelInput(output: output, directory: directory)
    }
}

private func refuseReplacingAnInput(output: String, inputs: [String], modelPath: String?) throws {
    guard let out = fileStatus(output), (out.st_mode & S_IFMT) == S_IFREG else { return }
    var candidates = inputs
    if let modelPath {
        if let model = fileStatus(modelPath) {
            let directory = (model.st_mode & S_IFMT) == S_IFDIR ? modelPath : parentDirectory(of: modelPath)
            candidates.append(contentsOf: filesIn(directory))
        }
    }
    for input in candidates {
        if let other = fileStatus(input), other.st_dev == out.st_dev, other.st_ino == out.st_ino {
            throw OutputProblem.overwritesInput(output: output, input: input)
        }
    }
}

private func filesIn(_ directory: String) -> [String] {
    (directoryEntries(directory) ?? []).map { joinPath(directory, $0) }
}
