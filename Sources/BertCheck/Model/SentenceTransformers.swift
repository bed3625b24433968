import Foundation

/// A sentence-transformers folder's pipeline after the encoder (modules.json): Pooling
/// (1_Pooling/config.json), Dense modules, Normalize; and its max_seq_length / do_lower_case
/// (sentence_bert_config.json). The output is `sentence_embedding` [B, H′], as
/// `SentenceTransformer.encode` returns it. A module bertcheck cannot compute is an error naming it.

/// One rule of a sentence-transformers folder, thrown in a `FileError` naming the file.
public enum SentenceTransformerProblem: Error, CustomStringConvertible, Equatable {
    case notAList(String)
    case unsupportedModule(name: String, type: String)
    case badPooling(String)
    case unsupportedActivation(module: String, activation: String)
    case badDense(String)
    case widthMismatch(module: String, expected: Int, found: Int)

    public var description: String {
        switch self {
        case .notAList(let why): return "modules.json must be a JSON array of {\"path\", \"type\"} objects: \(why)"
        case .unsupportedModule(let name, let type):
            return "module \(name) of type \(type) is not one bertcheck computes (Transformer, Pooling, Dense, Normalize)"
        case .badPooling(let why): return "pooling config: \(why)"
        case .unsupportedActivation(let module, let activation):
            return "\(module): activation_function \(activation) is not supported (Tanh, Identity)"
        case .badDense(let why): return "Dense module: \(why)"
        case .widthMismatch(let module, let expected, let found):
            return "\(module) takes \(found) features but the module before it gives \(expected)"
        }
    }
}

/// sentence-transformers' pooling modes, in the order its Pooling module concatenates them.
public enum SentencePoolingMode: String, CaseIterable, Sendable {
    case cls, max, mean
    case meanSqrtLenTokens = "mean_sqrt_len_tokens"
    case weightedMean = "weightedmean"
    case lastToken = "lasttoken"

    /// The boolean key of the older config layout (`pooling_mode_mean_tokens`, …).
    var legacyKey: String {
        switch self {
        case .cls: return "pooling_mode_cls_token"
        case .max: return "pooling_mode_max_tokens"
        case .mean: return "pooling_mode_mean_tokens"
        case .meanSqrtLenTokens: return "pooling_mode_mean_sqrt_len_tokens"
        case .weightedMean: return "pooling_mode_weightedmean_tokens"
        case .lastToken: return "pooling_mode_lasttoken"
        }
    }
}

/// A step after pooling.
enum SentenceStep {
    case dense(weight: [Float], bias: [Float]?, inFeatures: Int, outFeatures: Int, tanh: Bool)
    case normalize
}

public struct SentenceTransformerPipeline: Sendable {
    public let modes: [SentencePoolingMode]
    /// sentence_bert_config.json `max_seq_length` (nil: the tokenizer's model_max_length rules).
    public let maxSeqLength: Int?
    public let doLowerCase: Bool
    let steps: [SentenceStep]
    /// The modes and steps after the encoder, as reports name them (`mean`, `max, Dense, Normalize`);
    /// without Normalize for a cosine, which it does not change.
    public func label(includingNormalize: Bool = true) -> String {
        ([modes.map(\.rawValue).joined(separator: "+")] + steps.compactMap { step in
            if case .dense = step { return "Dense" } else { return includingNormalize ? "Normalize" : nil }
        }).joined(separator: ", ")
    }

    /// Whether the last step is Normalize (similarity is then a dot product of unit vectors).
    public var normalizes: Bool { if case .normalize? = steps.last { return true } else { return false } }

    /// The pipeline of the folder `directory`, nil when it has no modules.json.
    public static func load(directory: String, hidden: Int) throws -> SentenceTransformerPipeline? {
        let modulesPath = directory + "/modules.json"
        guard pathExists(modulesPath) else { return nil }
        let list = try readJSON(modulesPath)
        guard let items = list.elements else { throw FileError(modulesPath, SentenceTransformerProblem.notAList("a JSON \(list.kind)")) }
        var modes: [SentencePoolingMode] = []
        var steps: [SentenceStep] = []
        var width = hidden
        for (index, item) in items.enumerated() {
            guard let type = item["type"]?.string else { throw FileError(modulesPath, SentenceTransformerProblem.notAList("item \(index) has no type")) }
            let path = item["path"]?.string ?? ""
            let name = item["name"]?.string ?? "\(index)"
            let folder = path.isEmpty ? directory : directory + "/" + path
            switch type.split(separator: ".").last.map(String.init) ?? type {
            case "Transformer":
                continue
            case "Pooling":
                let configPath = folder + "/config.json"
                modes = try poolingModes(readJSON(configPath), file: configPath)
                width *= modes.count
            case "Dense":
                let step = try dense(folder, module: "\(name) (\(path))", inWidth: width)
                if case .dense(_, _, _, let out, _) = step { width = out }
                steps.append(step)
            case "Normalize":
                steps.append(.normalize)
            default:
                throw FileError(modulesPath, SentenceTransformerProblem.unsupportedModule(name: "\(name) (\(path.isEmpty ? "." : path))", type: type))
            }
        }
        guard !modes.isEmpty else {
            throw FileError(modulesPath, SentenceTransformerProblem.badPooling("no Pooling module: bertcheck cannot tell how to pool"))
        }
        var maxSeqLength: Int?, doLowerCase = false
        let configPath = directory + "/sentence_bert_config.json"
        if pathExists(configPath) {
            let config = try readJSON(configPath)
            maxSeqLength = config["max_seq_length"]?.integer
            doLowerCase = config["do_lower_case"] == .bool(true)
        }
        return SentenceTransformerPipeline(modes: modes, maxSeqLength: maxSeqLength, doLowerCase: doLowerCase, steps: steps)
    }

    static func readJSON(_ path: String) throws -> JSONValue {
        let file = try MappedFile(path: path)
        do { return try StrictJSON.parse(file.bytes) } catch { throw FileError(path, Problem("not valid JSON: \(error)")) }
    }

    /// `pooling_mode` (a name or a list, newer layout) or the `pooling_mode_*` booleans (older).
    static func poolingModes(_ config: JSONValue, file: String) throws -> [SentencePoolingMode] {
        func mode(_ text: String) throws -> SentencePoolingMode {
            guard let mode = SentencePoolingMode(rawValue: text) else {
                throw FileError(file, SentenceTransformerProblem.badPooling("mode \"\(text)\" is not one of \(SentencePoolingMode.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
            return mode
        }
        if let single = config["pooling_mode"]?.string { return [try mode(single)] }
        if let list = config["pooling_mode"]?.elements { return try list.map { try mode($0.string ?? "?") } }
        let modes = SentencePoolingMode.allCases.filter { config[$0.legacyKey] == .bool(true) }
        guard !modes.isEmpty else { throw FileError(file, SentenceTransformerProblem.badPooling("no pooling mode is set")) }
        return modes
    }

    static func dense(_ folder: String, module: String, inWidth: Int) throws -> SentenceStep {
        let configPath = folder + "/config.json"
        let config = try readJSON(configPath)
        guard let inFeatures = config["in_features"]?.integer, let outFeatures = config["out_features"]?.integer,
              inFeatures > 0, outFeatures > 0 else {
            throw FileError(configPath, SentenceTransformerProblem.badDense("in_features and out_features must be positive integers"))
        }
        guard inFeatures == inWidth else {
            throw FileError(configPath, SentenceTransformerProblem.widthMismatch(module: module, expected: inWidth, found: inFeatures))
        }
        let activation = config["activation_function"]?.string ?? "torch.nn.modules.activation.Tanh"
        let activationName = activation.split(separator: ".").last.map(String.init) ?? activation
        guard activationName == "Tanh" || activationName == "Identity" else {
            throw FileError(configPath, SentenceTransformerProblem.unsupportedActivation(module: module, activation: activation))
        }
        let checkpoint = try loadCheckpoint(folder)
        func tensor(_ leaf: String) -> Tensor? { checkpoint.tensors.first { $0.name == "linear." + leaf } }
        guard let weight = tensor("weight"), weight.shape == [outFeatures, inFeatures], weight.dtype.isRealValued else {
            throw FileError(checkpoint.files.first ?? folder, SentenceTransformerProblem.badDense("linear.weight must be [\(outFeatures), \(inFeatures)] floats"))
        }
        let bias = tensor("bias")
        if config["bias"] != .bool(false), bias?.shape != [outFeatures] {
            throw FileError(checkpoint.files.first ?? folder, SentenceTransformerProblem.badDense("linear.bias must be [\(outFeatures)]"))
        }
        return .dense(weight: weight.floats(), bias: bias?.floats(), inFeatures: inFeatures, outFeatures: outFeatures,
                      tanh: activationName == "Tanh")
    }

    /// `sentence_embedding` [batch, H′] from last_hidden_state [batch, seq, hidden] and the mask.
    public func embed(lastHiddenState: [Float], attentionMask: [Int], batch: Int, seq: Int, hidden: Int) -> FloatArray {
        var rows: [[Float]] = []
        for row in 0..<batch {
            let real = (0..<seq).filter { attentionMask[row * seq + $0] == 1 }
            func token(_ p: Int) -> ArraySlice<Float> { lastHiddenState[((row * seq + p) * hidden)..<((row * seq + p + 1) * hidden)] }
            var vector: [Float] = []
            for mode in modes { vector += pool(mode, real: real, token: token, hidden: hidden) }
            for step in steps { vector = apply(step, vector) }
            rows.append(vector)
        }
        let width = rows.first?.count ?? 0
        return FloatArray(shape: [batch, width], values: rows.flatMap { $0 })
    }

    func pool(_ mode: SentencePoolingMode, real: [Int], token: (Int) -> ArraySlice<Float>, hidden: Int) -> [Float] {
        func weightedSum(_ weight: (Int) -> Float) -> [Float] {
            var sum = [Float](repeating: 0, count: hidden)
            for p in real {
                let t = token(p), w = weight(p)
                for c in 0..<hidden { sum[c] += t[t.startIndex + c] * w }
            }
            return sum
        }
        switch mode {
        case .cls:
            return Array(token(real.first ?? 0))
        case .lastToken:
            return real.last.map { Array(token($0)) } ?? [Float](repeating: 0, count: hidden)
        case .max:
            var best = [Float](repeating: -.infinity, count: hidden)
            for p in real { let t = token(p); for c in 0..<hidden { best[c] = Swift.max(best[c], t[t.startIndex + c]) } }
            return best
        case .mean, .meanSqrtLenTokens:
            let count = Swift.max(Float(real.count), 1e-9)
            let denominator = mode == .mean ? count : count.squareRoot()
            return weightedSum { _ in 1 }.map { $0 / denominator }
        case .weightedMean:
            // Weights 1, 2, … by position (right padding: the first real token is position 0).
            let total = Swift.max(real.reduce(Float(0)) { $0 + Float($1 + 1) }, 1e-9)
            return weightedSum { Float($0 + 1) }.map { $0 / total }
        }
    }

    func apply(_ step: SentenceStep, _ x: [Float]) -> [Float] {
        switch step {
        case .normalize:
            let norm = Swift.max(x.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot(), 1e-12)
            return x.map { $0 / norm }
        case let .dense(weight, bias, inFeatures, outFeatures, tanh):
            return (0..<outFeatures).map { o in
                var sum: Float = 0
                for i in 0..<inFeatures { sum += weight[o * inFeatures + i] * x[i] }
                sum += bias?[o] ?? 0
                return tanh ? Foundation.tanh(sum) : sum
            }
        }
    }
}
