#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Every rule a sharded checkpoint (`model.safetensors.index.json` plus its shards) can break.
/// Thrown wrapped in `FileError(indexPath, problem)`; a broken shard reports its own path and
/// `SafetensorsProblem`.
public enum ShardedIndexProblem: Error, CustomStringConvertible, Equatable {
    case notJSON(JSONProblem)
    case notObject(kind: String)
    case noWeightMap
    case weightMapNotObject(kind: String)
    case shardNameNotString(tensor: String)
    case emptyWeightMap
    /// The shard name is absolute, contains `..`, or resolves (through symlinks) outside the
    /// model directory.
    case shardOutsideModelDirectory(tensor: String, shard: String)
    case missingShard(shard: String)
    /// A shard's header holds a tensor the weight map assigns to another shard (or that another
    /// shard also holds).
    case tensorInTwoShards(tensor: String, shards: [String])
    /// The weight map assigns a tensor to a shard whose header does not have it.
    case tensorMissingFromShard(tensor: String, shard: String)
    /// The weight map assigns a tensor to one shard, but another shard holds it (and the mapped
    /// one does not).
    case tensorInOtherShard(tensor: String, mapped: String, holder: String)
    /// A shard holds a tensor the weight map does not list.
    case tensorNotInWeightMap(tensor: String, shard: String)

    public var description: String {
        switch self {
        case let .notJSON(problem): return "index is not valid JSON: \(problem)"
        case let .notObject(kind): return "index is a JSON \(kind), not an object"
        case .noWeightMap: return "index has no \"weight_map\""
        case let .weightMapNotObject(kind): return "\"weight_map\" is a JSON \(kind), not an object"
        case let .shardNameNotString(tensor): return "\"weight_map\" entry for \"\(tensor)\" is not a file name"
        case .emptyWeightMap: return "\"weight_map\" lists no tensors"
        case let .shardOutsideModelDirectory(tensor, shard):
            return "shard \"\(shard)\" of tensor \"\(tensor)\" is outside the model directory (no absolute paths, '..' or symlinks out)"
        case let .missingShard(shard): return "shard \"\(shard)\" does not exist"
        case let .tensorInTwoShards(tensor, shards):
            return "tensor \"\(tensor)\" is in more than one shard: \(shards.map { "\"\($0)\"" }.joined(separator: ", "))"
        case let .tensorInOtherShard(tensor, mapped, holder):
            return "\"weight_map\" puts tensor \"\(tensor)\" in shard \"\(mapped)\", but shard \"\(holder)\" holds it"
        case let .tensorMissingFromShard(tensor, shard):
            return "\"weight_map\" puts tensor \"\(tensor)\" in shard \"\(shard)\", whose header does not have it"
        case let .tensorNotInWeightMap(tensor, shard):
            return "shard \"\(shard)\" holds tensor \"\(tensor)\", which \"weight_map\" does not list"
        }
    }
}

/// A sharded safetensors checkpoint as transformers saves it: `model.safetensors.index.json`
/// with `{"metadata": {...}, "weight_map": {tensor name: shard file name}}` beside the shards.
public enum ShardedSafetensors {
    public struct Index: Sendable {
        /// Tensor name → shard file name, in the index's order.
        public var weightMap: [(tensor: String, shard: String)]
        /// Shard file names in order of first appearance.
        public var shards: [String]
    }

    /// Parses and checks the index (every shard named is a plain file name inside `directory`
    /// that exists), without opening the shards.
    public static func readIndex(_ indexPath: String) throws -> Index {
        let file = try mapWholeFile(indexPath, limit: WholeFileLimit.json, kind: "a shard index")
        let directory = parentDirectory(of: indexPath)
        do {
            let root: JSONValue
            do { root = try StrictJSON.parse(file.bytes) } catch { throw ShardedIndexProblem.notJSON(error) }
            guard let top = root.members else { throw ShardedIndexProblem.notObject(kind: root.kind) }
            guard let map = top.first(where: { $0.key == "weight_map" })?.value else { throw ShardedIndexProblem.noWeightMap }
            guard let entries = map.members else { throw ShardedIndexProblem.weightMapNotObject(kind: map.kind) }
            guard !entries.isEmpty else { throw ShardedIndexProblem.emptyWeightMap }
            var weightMap: [(tensor: String, shard: String)] = []
            var shards: [String] = []
            var checked: [String: Bool] = [:]
            for (tensor, value) in entries {
                guard let shard = value.string else { throw ShardedIndexProblem.shardNameNotString(tensor: tensor) }
                if checked[shard] == nil {
                    guard isInside(directory: directory, name: shard) else {
                        throw ShardedIndexProblem.shardOutsideModelDirectory(tensor: tensor, shard: shard)
                    }
                    guard pathExists(directory + "/" + shard) else { throw ShardedIndexProblem.missingShard(shard: shard) }
                    checked[shard] = true
                    shards.append(shard)
                }
                weightMap.append((tensor, shard))
            }
            return Index(weightMap: weightMap, shards: shards)
        } catch let problem as ShardedIndexProblem {
            throw FileError(indexPath, problem)
        }
    }

    /// Reads every shard (each validated as a safetensors file, mapped, zero-copy) and checks the
    /// weight map and the shards' headers agree both ways. Tensors come shard by shard, in each
    /// shard's file order.
    public static func read(_ indexPath: String) throws -> (tensors: [Tensor], files: [String]) {
        let index = try readIndex(indexPath)
        let directory = parentDirectory(of: indexPath)
        var shardOf: [String: String] = [:]
        for (tensor, shard) in index.weightMap { shardOf[tensor] = shard }

        var tensors: [Tensor] = []
        var files: [String] = []
        var foundIn: [String: String] = [:]
        for shard in index.shards {
            let path = directory + "/" + shard
            let (shardTensors, _) = try SafetensorsFile.read(path)
            for tensor in shardTensors {
                if let earlier = foundIn[tensor.name] {
                    throw FileError(indexPath, ShardedIndexProblem.tensorInTwoShards(tensor: tensor.name, shards: [earlier, shard]))
                }
                guard let mapped = shardOf[tensor.name] else {
                    throw FileError(indexPath, ShardedIndexProblem.tensorNotInWeightMap(tensor: tensor.name, shard: shard))
                }
                guard mapped == shard else {
                    // Either the mapped shard holds it too (two copies), or the map is wrong.
                    let mappedHasIt = try SafetensorsFile.readHeader(directory + "/" + mapped).entries.contains { $0.name == tensor.name }
                    throw FileError(indexPath, mappedHasIt
                        ? ShardedIndexProblem.tensorInTwoShards(tensor: tensor.name, shards: [mapped, shard])
                        : ShardedIndexProblem.tensorInOtherShard(tensor: tensor.name, mapped: mapped, holder: shard))
                }
                foundIn[tensor.name] = shard
            }
            tensors += shardTensors
            files.append(path)
        }
        for (tensor, shard) in index.weightMap where foundIn[tensor] == nil {
            throw FileError(indexPath, ShardedIndexProblem.tensorMissingFromShard(tensor: tensor, shard: shard))
        }
        return (tensors, files)
    }

    /// Whether `name` names a file inside `directory`: relative, without `..` components, and,
    /// once symlinks are resolved, still below the directory's real path. A name that does not
    /// exist yet passes here (it is reported as missing instead).
    static func isInside(directory: String, name: String) -> Bool {
        guard !name.isEmpty, !name.hasPrefix("/"), !name.contains("\0") else { return false }
        let components = name.split(separator: "/", omittingEmptySubsequences: true)
        guard !components.contains("..") else { return false }
        guard let root = realPath(directory) else { return false }
        guard let target = realPath(directory + "/" + name) else { return true }
        return target.hasPrefix(root.hasSuffix("/") ? root : root + "/")
    }

    static func realPath(_ path: String) -> String? { resolvedPath(path) }
}

/// `model.safetensors.index.json` and the shards it names.
public enum ShardedSafetensorsFormat: CheckpointFormatReader {
    public static let format = CheckpointFormat("sharded-safetensors")
    public static let displayName = "a sharded safetensors index"
    public static let directoryFileNames = ["model.safetensors.index.json"]

    public static func match(path: String, head: [UInt8]) -> FormatMatch? {
        path.hasSuffix(".json") ? .byName : nil
    }

    public static func read(_ path: String) throws -> CheckpointContents {
        let (tensors, files) = try ShardedSafetensors.read(path)
        return CheckpointContents(tensors: tensors, files: files)
    }
}

extension CheckpointFormat {
    public static let shardedSafetensors = ShardedSafetensorsFormat.format
}
