/// The on-disk forms a checkpoint can take.
public enum CheckpointFormat: String, Sendable {
    case safetensors
    case shardedSafetensors = "sharded-safetensors"
    case pytorchZip = "pytorch-zip"
    /// numpy `np.savez` / `np.savez_compressed`, when named explicitly.
    case npz
}

/// Tensors read from a checkpoint, in file order, with the names the file gives them, plus the
/// model's `config.json` when one sits beside the weights.
public struct Checkpoint: @unchecked Sendable {
    /// The path the user named (directory or file).
    public let path: String
    public let format: CheckpointFormat
    /// The weight files read (one, or every shard).
    public let files: [String]
    public let tensors: [Tensor]
    public let config: BertConfig?
    public let configPath: String?

    public init(path: String, format: CheckpointFormat, files: [String], tensors: [Tensor], config: BertConfig?, configPath: String?) {
        self.path = path
        self.format = format
        self.files = files
        self.tensors = tensors
        self.config = config
        self.configPath = configPath
    }
}
