#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// File names `from_pretrained` looks for in a model directory, in its order of preference.
public enum CheckpointFileName {
    public static let safetensors = "model.safetensors"
    public static let shardedIndex = "model.safetensors.index.json"
    public static let pytorch = "pytorch_model.bin"
    public static let config = "config.json"
}

/// Loads a checkpoint the way transformers' `from_pretrained` resolves a local path: a directory
/// with `model.safetensors`, else `model.safetensors.index.json` (sharded), else
/// `pytorch_model.bin`; or the path of one such file. `config.json` beside the weights is read
/// and validated when present.
public func loadCheckpoint(_ userPath: String) throws -> Checkpoint {
    var path = userPath
    while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
    var info = stat()
    guard stat(path, &info) == 0 else {
        throw FileError(path, Problem("cannot open: \(String(cString: strerror(errno)))"))
    }
    let isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
    let directory = isDirectory ? path : parentDirectory(of: path)
    let weights: String
    if isDirectory {
        let candidates = [CheckpointFileName.safetensors, CheckpointFileName.shardedIndex, CheckpointFileName.pytorch]
        guard let found = candidates.first(where: { access(path + "/" + $0, F_OK) == 0 }) else {
            throw FileError(path, Problem("no model weights: the directory has none of \(candidates.joined(separator: ", "))"))
        }
        weights = path + "/" + found
    } else {
        weights = path
    }

    let format = try checkpointFormat(of: weights)
    let tensors: [Tensor]
    let files: [String]
    switch format {
    case .safetensors:
        tensors = try SafetensorsFile.read(weights).tensors
        files = [weights]
    case .shardedSafetensors:
        (tensors, files) = try ShardedSafetensors.read(weights)
    case .pytorchZip:
        tensors = try PyTorchBinReader.read(weights)
        files = [weights]
    case .npz:
        tensors = try NpzReader.read(weights)
        files = [weights]
    }

    let configPath = directory + "/" + CheckpointFileName.config
    let config: BertConfig? = access(configPath, F_OK) == 0 ? try BertConfig.load(configPath) : nil
    return Checkpoint(path: userPath, format: format, files: files, tensors: tensors,
                      config: config, configPath: config == nil ? nil : configPath)
}

/// The format of a weights file: an index by its `.json` name, a PyTorch zip by its `PK`
/// signature or a torch.save name (`.bin`, `.pt`, `.pth`), and safetensors otherwise (whose
/// reader then says what is wrong).
func checkpointFormat(of path: String) throws -> CheckpointFormat {
    if path.hasSuffix(".json") { return .shardedSafetensors }
    // numpy archives are named, never found in a model directory.
    if path.hasSuffix(".npz") { return .npz }
    let (fd, size) = try openRegularFile(path)
    defer { close(fd) }
    var magic = [UInt8](repeating: 0, count: 4)
    let count = size >= 4 ? magic.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 4, 0) } : 0
    if count == 4, magic[0] == 0x50, magic[1] == 0x4B {
        return .pytorchZip
    }
    if path.hasSuffix(".bin") || path.hasSuffix(".pt") || path.hasSuffix(".pth") {
        // A torch.save name: the PyTorch reader says what is wrong (not a zip, legacy pickle),
        // unless the bytes are plainly safetensors (a JSON header after the 8-byte length).
        var ninth: UInt8 = 0
        let looksSafetensors = size >= 9 && pread(fd, &ninth, 1, 8) == 1 && ninth == UInt8(ascii: "{")
        return looksSafetensors ? .safetensors : .pytorchZip
    }
    return .safetensors
}
