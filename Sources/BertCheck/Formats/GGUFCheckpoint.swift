#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A BERT GGUF written by llama.cpp's `convert_hf_to_gguf.py` read as a checkpoint: tensors
/// under their `BertModel` names in HF orientation, the config from `bert.*` metadata and the
/// WordPiece vocabulary from `tokenizer.ggml.*`.
public enum GGUFFormat: CheckpointFormatReader {
    public static let format = CheckpointFormat("gguf")
    public static let displayName = "a GGUF file"
    /// For messages only: `weightsFile(in:)` finds any `*.gguf`.
    public static let directoryFileNames = ["*.gguf"]
    /// llama.cpp's converter drops the pooler.
    public static let notCarried = NotCarriedByDesign(carrier: "GGUF", reason: "llama.cpp's converter drops pooler.dense",
                                                      prefixes: ["pooler."])

    public static func match(path: String, head: [UInt8]) -> FormatMatch? {
        if head.count >= 4, Array(head.prefix(4)) == Array("GGUF".utf8) { return .byMagic }
        return path.hasSuffix(".gguf") ? .byName : nil
    }

    /// The one `.gguf` file of a directory, or the first shard of a split one; nil when there
    /// is none or when several unrelated ones make the choice ambiguous.
    public static func weightsFile(in directory: String) -> String? {
        guard let entries = directoryEntries(directory) else { return nil }
        let names = entries.filter { $0.hasSuffix(".gguf") && !$0.hasPrefix(".") }.sorted()
        let firstShards = names.filter { GGUFSplit.shardNumber(of: $0) == 1 }
        let whole = names.filter { GGUFSplit.shardNumber(of: $0) == nil }
        if whole.count + firstShards.count == 1 { return joinPath(directory, (whole + firstShards)[0]) }
        return nil
    }

    public static func read(_ path: String) throws -> CheckpointContents {
        let shards = try GGUFSplit.shardPaths(forFirst: path)
        var tensors: [Tensor] = []
        var first: GGUFFile?
        for (index, shard) in shards.enumerated() {
            let file = try MappedFile(path: shard)
            let parsed: GGUFFile
            do {
                parsed = try GGUFFile.parse(file.bytes)
                if shards.count > 1 { try GGUFSplit.check(parsed.metadata, index: index, count: shards.count) }
            } catch let problem as GGUFProblem {
                throw FileError(shard, problem)
            }
            if first == nil { first = parsed }
            for info in parsed.tensors {
                let start = parsed.dataStart + info.offset
                let data = UnsafeRawBufferPointer(rebasing: file.bytes[start..<(start + info.byteCount)])
                let name = GGUFTensorNames.huggingFaceName(info.name) ?? info.name
                tensors.append(Tensor(name: name, dtype: info.dtype, shape: info.dims.reversed(), data: data,
                                      storage: file, storedName: name == info.name ? nil : info.name))
            }
        }
        guard let header = first else { throw FileError(path, GGUFProblem.badMagic) }
        var seen = Set<String>()
        for tensor in tensors where !seen.insert(tensor.storedName ?? tensor.name).inserted {
            throw FileError(path, GGUFProblem.duplicateTensor(tensor.storedName ?? tensor.name))
        }
        do {
            let architecture = try header.metadata.string("general.architecture") ?? ""
            guard architecture == "bert" else { throw GGUFProblem.notBert(architecture: architecture) }
            let config = try GGUFConfig.bertConfig(header.metadata, tensors: tensors)
            let tokenizer = try GGUFConfig.tokenizer(header.metadata, config: config, path: path)
            var details: [(key: String, value: String)] = [("version", "\(header.version)"), ("architecture", architecture)]
            if let name = try header.metadata.string("general.name") { details.append(("name", name)) }
            if let type = try header.metadata.integer("general.file_type") { details.append(("file_type", "\(type)")) }
            if shards.count > 1 { details.append(("shards", "\(shards.count)")) }
            return CheckpointContents(tensors: tensors, files: shards, config: config,
                                      tokenizer: tokenizer.map { .embedded($0) }, details: details, notCarried: notCarried)
        } catch let problem as GGUFProblem {
            throw FileError(path, problem)
        }
    }
}

extension CheckpointFormat {
    public static let gguf = GGUFFormat.format
}

/// llama.cpp's names for `BertModel` tensors (convert_hf_to_gguf.py, tensor_mapping.py).
public enum GGUFTensorNames {
    /// llama.cpp's name of each `BertModule` it carries (per-layer ones inside `blk.N.`); the
    /// pooler is not carried. Keyed by the parameter-spec table, so no HF name is spelled here.
    static let modules: [BertModule: String] = [
        .wordEmbeddings: "token_embd",
        .positionEmbeddings: "position_embd",
        .tokenTypeEmbeddings: "token_types",
        .embeddingsLayerNorm: "token_embd_norm",
        .query: "attn_q",
        .key: "attn_k",
        .value: "attn_v",
        .attentionOutputDense: "attn_output",
        .attentionOutputLayerNorm: "attn_output_norm",
        .intermediateDense: "ffn_up",
        .outputDense: "ffn_down",
        .outputLayerNorm: "layer_output_norm",
    ]
    private static let moduleOfName = Dictionary(uniqueKeysWithValues: modules.map { ($0.value, $0.key) })

    /// The `BertModel` name of a GGUF tensor name (`blk.3.ffn_up.weight` →
    /// `encoder.layer.3.intermediate.dense.weight`), nil for names outside `BertModel`
    /// (`cls.output.weight`, the classifier of a sequence-classification conversion).
    public static func huggingFaceName(_ name: String) -> String? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        // Any weight or bias under a carried module maps, so a stray one (token_embd.bias) is
        // reported by the schema check as unexpected rather than ignored.
        guard let leaf = parts.last, leaf == "weight" || leaf == "bias" else { return nil }
        let parsed: ParameterName
        if parts.count == 2, let module = moduleOfName[parts[0]], !module.isPerLayer {
            parsed = ParameterName(module, leaf: leaf)
        } else if parts.count == 4, parts[0] == "blk", let n = Int(parts[1]), n >= 0, String(n) == parts[1],
                  let module = moduleOfName[parts[2]], module.isPerLayer {
            parsed = ParameterName(module, layer: n, leaf: leaf)
        } else {
            return nil
        }
        return parsed.description
    }
}
