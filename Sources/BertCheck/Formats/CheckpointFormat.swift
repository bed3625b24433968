#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The name of an on-disk checkpoint form (`safetensors`, `gguf`, …). Each format declares its
/// own in its file; `params --json` prints it.
public struct CheckpointFormat: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
}

/// Where a checkpoint's tokenizer lives.
public enum TokenizerSource: Sendable, Equatable {
    /// A directory with `vocab.txt` or `tokenizer.json` (and optionally tokenizer_config.json).
    case directory(String)
    /// A vocabulary carried in the weights file itself (GGUF's `tokenizer.ggml.*`).
    case embedded(EmbeddedVocabulary)
}

/// A WordPiece vocabulary and its options as a weights file carries them.
public struct EmbeddedVocabulary: Sendable, Equatable {
    /// The file it came from, for messages.
    public var source: String
    /// Token text by id, in WordPiece form ("##" continuations).
    public var tokens: [String]
    public var lowercase: Bool
    /// Nil: as `lowercase` (BertTokenizer's default).
    public var stripAccents: Bool?
    public var clsId: Int, sepId: Int, unkId: Int, padId: Int
    public var maskId: Int?
    public var modelMaxLength: Int?

    public init(source: String, tokens: [String], lowercase: Bool, stripAccents: Bool? = nil, clsId: Int, sepId: Int, unkId: Int, padId: Int,
                maskId: Int?, modelMaxLength: Int?) {
        self.source = source
        self.tokens = tokens
        self.lowercase = lowercase
        self.stripAccents = stripAccents
        self.clsId = clsId
        self.sepId = sepId
        self.unkId = unkId
        self.padId = padId
        self.maskId = maskId
        self.modelMaxLength = modelMaxLength
    }
}

/// Parameters a format's converter leaves out by design (llama.cpp's drops the pooler): generic
/// code lists them as not carried, never as missing, and words its notes with `carrier` and
/// `reason` instead of knowing the format.
public struct NotCarriedByDesign: Sendable, Equatable {
    /// Who lacks them, for messages ("GGUF").
    public var carrier: String
    /// Why, for messages ("llama.cpp's converter drops pooler.dense").
    public var reason: String
    /// Canonical name prefixes of what is left out ("pooler.").
    public var prefixes: [String]

    public init(carrier: String, reason: String, prefixes: [String]) {
        self.carrier = carrier
        self.reason = reason
        self.prefixes = prefixes
    }

    /// Whether the canonical parameter `name` is left out by design.
    public func covers(_ name: String) -> Bool { prefixes.contains { name.hasPrefix($0) } }

    /// Whether the pooler is among what is left out.
    public var dropsPooler: Bool { covers(ParameterName(.poolerDense, leaf: "weight").description) }
}

/// What a format reader makes of a weights file: named tensors, and the config and tokenizer
/// when the format itself carries them (GGUF metadata does; safetensors does not).
public struct CheckpointContents: @unchecked Sendable {
    public var tensors: [Tensor]
    /// The files read (one, or every shard).
    public var files: [String]
    public var config: BertConfig?
    public var tokenizer: TokenizerSource?
    /// Format facts worth showing (`version`, `architecture`, …), in display order.
    public var details: [(key: String, value: String)]
    /// Tensors the reader decoded from a quantized form (by tensor name).
    public var dequantized: [String: DequantizedWeight]
    /// What the format leaves out by design (nil: nothing).
    public var notCarried: NotCarriedByDesign?

    public init(tensors: [Tensor], files: [String], config: BertConfig? = nil, tokenizer: TokenizerSource? = nil,
                details: [(key: String, value: String)] = [], dequantized: [String: DequantizedWeight] = [:],
                notCarried: NotCarriedByDesign? = nil) {
        self.notCarried = notCarried
        self.tensors = tensors
        self.files = files
        self.config = config
        self.tokenizer = tokenizer
        self.details = details
        self.dequantized = dequantized
    }
}

/// A weight stored quantized (ONNX int8) that the reader decoded to F32: what it was stored as,
/// and how coarse that was. Each decoded value is within half its channel's step of the original.
public struct DequantizedWeight: Sendable, Equatable {
    public var storedDType: DType
    /// The largest quantization step (scale) among the tensor's channels.
    public var largestStep: Double

    public init(storedDType: DType, largestStep: Double) {
        self.storedDType = storedDType
        self.largestStep = largestStep
    }
}

/// How strongly a file looks like a format.
public enum FormatMatch: Comparable, Sendable {
    /// The name says so (extension or a fixed file name), the bytes do not contradict it.
    case byName
    /// The first bytes are the format's signature.
    case byMagic
}

/// One checkpoint format. Adding a format is one file with a type conforming to this, plus its
/// line in `CheckpointFormats.registered`.
public protocol CheckpointFormatReader {
    static var format: CheckpointFormat { get }
    /// What people call it, for messages ("a GGUF file").
    static var displayName: String { get }
    /// File names to look for in a model directory, in order of preference.
    static var directoryFileNames: [String] { get }
    /// Whether `path`, whose first bytes are `head` (up to 16), is this format.
    static func match(path: String, head: [UInt8]) -> FormatMatch?
    /// The weights file of this format in `directory`, if any (by default the first of
    /// `directoryFileNames` that exists; a format whose files have no fixed name overrides it).
    static func weightsFile(in directory: String) -> String?
    /// Reads the weights file `path` (errors are `FileError`s naming the file and the rule).
    static func read(_ path: String) throws -> CheckpointContents
}

extension CheckpointFormatReader {
    public static var directoryFileNames: [String] { [] }

    public static func weightsFile(in directory: String) -> String? {
        directoryFileNames.lazy.map { joinPath(directory, $0) }.first { pathExists($0) }
    }
}

/// The formats bertcheck reads, in the order a model directory is searched (transformers'
/// `from_pretrained` order first).
public enum CheckpointFormats {
    public static let registered: [any CheckpointFormatReader.Type] = [
        SafetensorsFormat.self,
        ShardedSafetensorsFormat.self,
        PyTorchZipFormat.self,
        NpzFormat.self,
        ONNXFormat.self,
        GGUFFormat.self,
    ]

    /// The reader for a weights file: a signature match first, then a name match, then
    /// safetensors (whose reader says what is wrong, naming what the bytes look like).
    public static func reader(for path: String) throws -> any CheckpointFormatReader.Type {
        let head = try readHead(path)
        let matches = registered.compactMap { reader in reader.match(path: path, head: head).map { (reader, $0) } }
        if let magic = matches.first(where: { $0.1 == .byMagic }) { return magic.0 }
        if let named = matches.first { return named.0 }
        if let other = FileSignature.identify(head), !other.readable {
            throw FileError(path, FormatProblem.unsupported(looksLike: other.description))
        }
        return SafetensorsFormat.self
    }

    /// The first 16 bytes of a regular file (fewer for a shorter one).
    static func readHead(_ path: String) throws -> [UInt8] {
        let (fd, size) = try openRegularFile(path)
        defer { close(fd) }
        var head = [UInt8](repeating: 0, count: min(16, size))
        let count = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        return Array(head.prefix(max(count, 0)))
    }
}

/// A format-level problem, before any reader runs.
public enum FormatProblem: Error, CustomStringConvertible, Equatable {
    case unsupported(looksLike: String)
    case noWeights(tried: [String])
    case configDisagrees(key: String, config: String, weights: String)

    public var description: String {
        switch self {
        case .unsupported(let kind):
            return "this is \(kind), which bertcheck cannot read as a checkpoint"
        case .noWeights(let tried):
            return "no model weights: the directory has none of \(tried.joined(separator: ", "))"
        case .configDisagrees(let key, let config, let weights):
            return "\(key) is \(config) in config.json but \(weights) in the weights file's own metadata"
        }
    }
}

/// What the first bytes of a file say it is, for messages when a reader is handed the wrong
/// kind of file ("looks like a GGUF file").
public struct FileSignature: Sendable, CustomStringConvertible {
    public let description: String
    /// Whether a registered checkpoint reader takes it.
    public let readable: Bool

    public static func identify(_ head: [UInt8]) -> FileSignature? {
        func starts(_ bytes: [UInt8]) -> Bool { head.count >= bytes.count && Array(head.prefix(bytes.count)) == bytes }
        let known: [(bytes: [UInt8], description: String)] = [
            (Array("GGUF".utf8), "a GGUF file (llama.cpp)"),
            ([0x89] + Array("HDF".utf8), "an HDF5 file (Keras/TensorFlow weights)"),
            ([0x93] + Array("NUMPY".utf8), "a numpy .npy array"),
            ([0x50, 0x4B, 0x03, 0x04], "a zip archive"),
            ([0x1F, 0x8B], "a gzip stream"),
            (Array("{".utf8), "a JSON document"),
        ]
        for entry in known where starts(entry.bytes) {
            return FileSignature(description: entry.description, readable: registeredReadable(head))
        }
        if head.count >= 2, head[0] == 0x80, head[1] <= 0x05 {
            return FileSignature(description: "a bare pickle stream (legacy torch.save)", readable: false)
        }
        // ONNX ModelProto starts with field 1 (ir_version, varint) and is rarely anything else.
        if head.count >= 2, head[0] == 0x08, head[1] < 0x80, head[1] > 0 {
            return FileSignature(description: "an ONNX model (protobuf)", readable: registeredReadable(head))
        }
        return nil
    }

    private static func registeredReadable(_ head: [UInt8]) -> Bool {
        CheckpointFormats.registered.contains { $0.match(path: "", head: head) == .byMagic }
    }
}

/// Tensors read from a checkpoint, in file order, with the names the file gives them, plus the
/// config (the format's own, or `config.json` beside the weights) and where its tokenizer is.
public struct Checkpoint: @unchecked Sendable {
    /// The path the user named (directory or file).
    public let path: String
    public let format: CheckpointFormat
    /// The weight files read (one, or every shard).
    public let files: [String]
    public let tensors: [Tensor]
    public let config: BertConfig?
    /// Where the config came from: `config.json`, or the weights file when the format carries it.
    public let configPath: String?
    public let tokenizer: TokenizerSource?
    public let details: [(key: String, value: String)]
    /// Tensors decoded from a quantized form by the reader (by tensor name).
    public let dequantized: [String: DequantizedWeight]
    /// What the format leaves out by design (nil: nothing).
    public let notCarried: NotCarriedByDesign?

    public init(path: String, format: CheckpointFormat, files: [String], tensors: [Tensor], config: BertConfig?,
                configPath: String?, tokenizer: TokenizerSource? = nil, details: [(key: String, value: String)] = [],
                dequantized: [String: DequantizedWeight] = [:], notCarried: NotCarriedByDesign? = nil) {
        self.notCarried = notCarried
        self.dequantized = dequantized
        self.path = path
        self.format = format
        self.files = files
        self.tensors = tensors
        self.config = config
        self.configPath = configPath
        self.tokenizer = tokenizer
        self.details = details
    }
}

/// File names `from_pretrained` looks for in a model directory.
public enum CheckpointFileName {
    public static let config = "config.json"
}

/// Loads a checkpoint the way transformers' `from_pretrained` resolves a local path: a directory
/// is searched for each registered format's file names in order; a file is read by the format its
/// bytes (else its name) say. `config.json` beside the weights is read when present, and checked
/// against the format's own config when it carries one.
public func loadCheckpoint(_ userPath: String) throws -> Checkpoint {
    var path = userPath
    while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
    guard let info = fileStatus(path) else {
        throw FileError(path, Problem("cannot open: \(String(cString: strerror(errno)))"))
    }
    let isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
    let directory = isDirectory ? path : parentDirectory(of: path)
    let weights: String
    if isDirectory {
        guard let found = CheckpointFormats.registered.lazy.compactMap({ $0.weightsFile(in: path) }).first else {
            throw FileError(path, FormatProblem.noWeights(tried: CheckpointFormats.registered.flatMap { $0.directoryFileNames }))
        }
        weights = found
    } else {
        weights = path
    }

    let reader = try CheckpointFormats.reader(for: weights)
    let contents = try reader.read(weights)
    let configPath = directory + "/" + CheckpointFileName.config
    let besideConfig: BertConfig? = entryExists(configPath) ? try BertConfig.load(configPath) : nil
    if let own = contents.config, let besideConfig, let (key, a, b) = own.firstStructuralDifference(from: besideConfig) {
        throw FileError(configPath, FormatProblem.configDisagrees(key: key, config: b, weights: a))
    }
    let config = contents.config ?? besideConfig
    let configSource = contents.config != nil ? weights : (besideConfig == nil ? nil : configPath)
    let tokenizer = contents.tokenizer ?? .directory(directory)
    return Checkpoint(path: userPath, format: reader.format, files: contents.files, tensors: contents.tensors,
                      config: config, configPath: configSource, tokenizer: tokenizer, details: contents.details,
                      dequantized: contents.dequantized, notCarried: contents.notCarried)
}

extension BertConfig {
    /// The first key whose value differs in a way that changes the model (shapes, activation,
    /// epsilon), as (key, this value, other value).
    func firstStructuralDifference(from other: BertConfig) -> (String, String, String)? {
        let pairs: [(String, String, String)] = [
            ("vocab_size", "\(vocabSize)", "\(other.vocabSize)"),
            ("hidden_size", "\(hiddenSize)", "\(other.hiddenSize)"),
            ("num_hidden_layers", "\(numHiddenLayers)", "\(other.numHiddenLayers)"),
            ("num_attention_heads", "\(numAttentionHeads)", "\(other.numAttentionHeads)"),
            ("intermediate_size", "\(intermediateSize)", "\(other.intermediateSize)"),
            ("max_position_embeddings", "\(maxPositionEmbeddings)", "\(other.maxPositionEmbeddings)"),
            ("type_vocab_size", "\(typeVocabSize)", "\(other.typeVocabSize)"),
            ("layer_norm_eps", "\(layerNormEps)", "\(other.layerNormEps)"),
        ]
        return pairs.first { $0.1 != $0.2 }
    }
}
