import Foundation

/// One broken rule of a golden file (or of an outputs file compared against one). Thrown inside a
/// `FileError` naming the file.
public enum GoldenProblem: Error, CustomStringConvertible, Equatable {
    case missingTensor(String)
    case duplicateTensor(String)
    case unexpectedTensor(String)
    case idsNotInteger(name: String, dtype: DType)
    case outputNotFloat(name: String, dtype: DType)
    case wrongRank(name: String, shape: [Int], expected: String)
    case emptyBatch(shape: [Int])
    case shapeMismatch(name: String, shape: [Int], expected: [Int])
    case maskNotBinary(row: Int, position: Int, value: Int64)
    case negativeValue(name: String, row: Int, position: Int, value: Int64)
    case missingFormat
    case wrongFormat(String)
    case badMetadata(key: String, reason: String)
    case textsCount(texts: Int, rows: Int)
    case badHiddenStateName(String)
    case hiddenStatesNotContiguous(missing: Int, highest: Int)
    case differentInputs(name: String, row: Int, position: Int, golden: Int64, outputs: Int64)
    // Rules of an outputs file (`verify --outputs`): `held` lists the file's tensor names.
    case missingOutput(name: String, held: [String], mappedTo: String? = nil)
    case missingMappedTensor(golden: String, theirs: String, held: [String])
    case sameOutputTwice(name: String, first: String, second: String)
    // Rules that tie a golden to the model it is run through.
    case hiddenSizeMismatch(golden: Int, model: Int, modelPath: String)
    case layerCountMismatch(hiddenStates: Int, layers: Int, modelPath: String)
    case sequenceTooLong(seq: Int, maxPositions: Int, modelPath: String)
    case idOutOfRange(row: Int, position: Int, id: Int64, vocabSize: Int, modelPath: String)
    case tokenTypeOutOfRange(row: Int, position: Int, type: Int64, typeVocabSize: Int, modelPath: String)

    public var description: String {
        switch self {
        case .missingTensor(let name):
            return "missing tensor '\(name)' (a \(GoldenFile.format) golden holds \((GoldenFile.inputNames + OutputRegistry.all.filter(\.required).map(\.name)).joined(separator: ", ")))"
        case .duplicateTensor(let name):
            return "tensor '\(name)' appears twice"
        case .unexpectedTensor(let name):
            return "unexpected tensor '\(name)' (allowed: \((GoldenFile.inputNames + OutputRegistry.all.map { $0.indexed ? $0.name + ".N" : $0.name }).joined(separator: ", ")))"
        case .idsNotInteger(let name, let dtype):
            return "'\(name)' has dtype \(dtype.rawValue): ids, masks and token types must be integers (I64)"
        case .outputNotFloat(let name, let dtype):
            return "'\(name)' has dtype \(dtype.rawValue): outputs must be floating point (F32)"
        case .wrongRank(let name, let shape, let expected):
            return "'\(name)' has shape \(Tensor.describe(shape: shape)), expected \(expected)"
        case .emptyBatch(let shape):
            return "'input_ids' has shape \(Tensor.describe(shape: shape)): a golden needs at least one row and one token"
        case .shapeMismatch(let name, let shape, let expected):
            return "'\(name)' has shape \(Tensor.describe(shape: shape)), inconsistent with input_ids: expected \(Tensor.describe(shape: expected))"
        case .maskNotBinary(let row, let position, let value):
            return "attention_mask[\(row), \(position)] = \(value): the mask must be 0 (padding) or 1 (real token)"
        case .negativeValue(let name, let row, let position, let value):
            return "\(name)[\(row), \(position)] = \(value) is negative"
        case .missingFormat:
            return "__metadata__ has no 'format' (expected format = \(GoldenFile.format))"
        case .wrongFormat(let format):
            return "__metadata__ format is '\(format)', expected '\(GoldenFile.format)'"
        case .badMetadata(let key, let reason):
            return "__metadata__ '\(key)': \(reason)"
        case .textsCount(let texts, let rows):
            return "__metadata__ 'texts' has \(texts) items but input_ids has \(rows) rows"
        case .badHiddenStateName(let name):
            let family = OutputRegistry.indexedFamily(of: name)?.name ?? "hidden_states"
            return "tensor '\(name)' is not named \(family).N (N a layer number without leading zeros)"
        case .hiddenStatesNotContiguous(let missing, let highest):
            let family = OutputRegistry.hiddenStates.name
            return "\(family).\(missing) is missing but \(family).\(highest) is present (hidden states must be numbered 0…L without gaps)"
        case .differentInputs(let name, let row, let position, let golden, let outputs):
            return "\(name)[\(row), \(position)] is \(outputs) in the outputs but \(golden) in the golden: the outputs were computed from other inputs"
        case .missingOutput(let name, let held, let mappedTo):
            if let mappedTo {
                return "no tensor for \(name): the file's '\(name)' is read as \(mappedTo) by --map \(mappedTo)=\(name); name theirs with --map \(name)=THEIR_NAME"
            }
            return "no tensor '\(name)' (the file holds \(heldList(held)); name theirs with --map \(name)=THEIR_NAME)"
        case .missingMappedTensor(let golden, let theirs, let held):
            return "no tensor '\(theirs)' for --map \(golden)=\(theirs) (the file holds \(heldList(held)))"
        case .sameOutputTwice(let name, let first, let second):
            return "tensors '\(first)' and '\(second)' are both read as \(name): keep one, or name the other with --map"
        case .hiddenSizeMismatch(let golden, let model, let modelPath):
            return "hidden size \(golden) does not fit the model \(modelPath) (hidden_size \(model))"
        case .layerCountMismatch(let hiddenStates, let layers, let modelPath):
            return "\(hiddenStates) hidden states do not fit the model \(modelPath) (\(layers) layers give \(layers + 1))"
        case .sequenceTooLong(let seq, let maxPositions, let modelPath):
            return "sequences of \(seq) tokens are longer than the position table of \(modelPath) (max_position_embeddings \(maxPositions))"
        case .idOutOfRange(let row, let position, let id, let vocabSize, let modelPath):
            return "input_ids[\(row), \(position)] = \(id) is outside the vocabulary of \(modelPath) (vocab_size \(vocabSize))"
        case .tokenTypeOutOfRange(let row, let position, let type, let typeVocabSize, let modelPath):
            return "token_type_ids[\(row), \(position)] = \(type) is outside the token types of \(modelPath) (type_vocab_size \(typeVocabSize))"
        }
    }
}

/// A file's tensor names for a one-line message: the first 24, then how many more.
func heldList(_ names: [String]) -> String {
    guard !names.isEmpty else { return "no tensors" }
    let shown = names.prefix(24).map { "'\($0)'" }.joined(separator: ", ")
    return shown + (names.count > 24 ? " and \(names.count - 24) more" : "")
}

/// A float tensor read for comparison: its shape and its values as Float, row-major.
public struct FloatArray: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Float]
    /// The exact values when the file stored F64: comparisons use these, because narrowing to
    /// Float turns 1e39 and 1e300 into +inf (and two infinities would then "match").
    public var doubles: [Double]?

    public init(shape: [Int], values: [Float], doubles: [Double]? = nil) {
        self.shape = shape
        self.values = values
        self.doubles = doubles
    }

    /// Element `i` at full precision.
    @inline(__always)
    public func exact(_ i: Int) -> Double { doubles.map { $0[i] } ?? Double(values[i]) }
}

/// One item of a golden's `texts`: a text, or a text and its pair.
public struct TextItem: Equatable, Sendable {
    public var text: String
    public var pair: String?

    public init(_ text: String, pair: String? = nil) {
        self.text = text
        self.pair = pair
    }

    /// Parses the JSON array form shared by golden metadata and `--texts-file`: each item a text or
    /// a `[text, pair]` array.
    public static func parseList(_ bytes: [UInt8]) -> Result<[TextItem], Problem> {
        let json: JSONValue
        do {
            json = try StrictJSON.parse(bytes)
        } catch {
            return .failure(Problem("\(error)"))
        }
        guard let array = json.elements else { return .failure(Problem("a JSON \(json.kind), not an array")) }
        var items: [TextItem] = []
        for (index, element) in array.enumerated() {
            if let text = element.string {
                items.append(TextItem(text))
            } else if let pair = element.elements, pair.count == 2, let a = pair[0].string, let b = pair[1].string {
                items.append(TextItem(a, pair: b))
            } else {
                return .failure(Problem("item \(index) is neither a text nor a [text, pair] array"))
            }
        }
        return .success(items)
    }

    /// The JSON array form, as a string (for metadata).
    public static func encodeList(_ items: [TextItem]) -> String {
        JSONValue.array(items.map { item in
            item.pair.map { .array([.string(item.text), .string($0)]) } ?? .string(item.text)
        }).serialized(.oneLine)
    }
}

/// Reads a `--texts-file`: a JSON array of texts or `[text, pair]` arrays.
public func readTextsFile(_ path: String) throws -> [TextItem] {
    // MappedFile says why a path cannot be read (missing, a directory, a device, permissions).
    let file = try mapWholeFile(path, limit: WholeFileLimit.textsList, kind: "a texts file")
    switch TextItem.parseList([UInt8](file.bytes)) {
    case .success(let items):
        if items.isEmpty { throw FileError(path, Problem("the texts file is an empty array")) }
        let needed = MemoryBudget.estimatedTokenizationBytes(items)
        if let (available, source) = MemoryBudget.available(), needed > available {
            throw FileError(path, Problem("\(items.count) texts need about \(MemoryBudget.describe(needed)) of memory to tokenize, more than the \(MemoryBudget.describe(available)) available (\(source)); use fewer texts"))
        }
        return items
    case .failure(let problem):
        throw FileError(path, Problem("a texts file must be a JSON array of texts or [text, pair] arrays: \(problem)"))
    }
}

/// `__metadata__` of a golden.
public struct GoldenMetadata: Sendable, Equatable {
    public var texts: [TextItem]?
    public var model: String?
    public var producer: String?
    /// Tolerance overrides recorded with the golden (they replace the profile's defaults).
    public var atol: Double?
    public var rtol: Double?
    /// The transformers class the golden was recorded with (`BertForMaskedLM`, …): tells a masked
    /// LM's `logits` from a token classifier's.
    public var architecture: String?
    /// The [MASK] id, for the top-k check at masked positions.
    public var maskTokenId: Int64?

    public init(texts: [TextItem]? = nil, model: String? = nil, producer: String? = nil, atol: Double? = nil, rtol: Double? = nil,
                architecture: String? = nil, maskTokenId: Int64? = nil) {
        self.texts = texts
        self.model = model
        self.producer = producer
        self.atol = atol
        self.rtol = rtol
        self.architecture = architecture
        self.maskTokenId = maskTokenId
    }
}

/// A golden: recorded inputs and the reference outputs for them. See Docs/golden-format.md.
public struct GoldenFile: Sendable {
    public static let format = "bertcheck-golden/1"
    static let inputNames = ["input_ids", "attention_mask", "token_type_ids"]

    public var path: String
    public var batch: Int
    public var seq: Int
    public var hidden: Int
    public var inputIds: [Int64]
    public var attentionMask: [Int64]
    public var tokenTypeIds: [Int64]
    public var outputs: ModelOutputs
    public var metadata: GoldenMetadata

    public init(path: String, batch: Int, seq: Int, hidden: Int, inputIds: [Int64], attentionMask: [Int64],
                tokenTypeIds: [Int64], outputs: ModelOutputs, metadata: GoldenMetadata) {
        self.path = path
        self.batch = batch
        self.seq = seq
        self.hidden = hidden
        self.inputIds = inputIds
        self.attentionMask = attentionMask
        self.tokenTypeIds = tokenTypeIds
        self.outputs = outputs
        self.metadata = metadata
    }

    /// The recorded inputs as a batch for the forward pass.
    public var inputBatch: Batch {
        Batch(batch: batch, seq: seq, inputIds: inputIds.map { Int($0) }, attentionMask: attentionMask.map { Int($0) },
              tokenTypeIds: tokenTypeIds.map { Int($0) })
    }

    /// Reads and validates a golden: safetensors (any tensor order) or numpy `.npz` with the same
    /// names. Every broken rule is a `FileError(path, GoldenProblem…)`.
    public static func read(_ path: String) throws -> GoldenFile {
        let (tensors, metadata, isNpz) = try readNamedTensors(path)
        do {
            return try validate(path: path, tensors: tensors, metadata: metadata, requireFormat: !isNpz)
        } catch let problem as GoldenProblem {
            throw FileError(path, problem)
        }
    }

    /// Reads a safetensors or `.npz` file (told apart by content, not name) as a name → tensor map.
    static func readNamedTensors(_ path: String, keeping: (String) -> Bool = { _ in true }) throws
        -> (tensors: [String: Tensor], metadata: [String: String], isNpz: Bool) {
        let isZip: Bool
        do {
            let head = try MappedFile(path: path)
            isZip = head.count >= 4 && head.bytes[0] == 0x50 && head.bytes[1] == 0x4B && head.bytes[2] == 0x03 && head.bytes[3] == 0x04
        }
        let list: [Tensor]
        let metadata: [String: String]
        if isZip {
            list = try NpzReader.read(path, keeping: keeping)
            metadata = [:]
        } else {
            (list, metadata) = try SafetensorsFile.read(path)
        }
        var byName: [String: Tensor] = [:]
        var seenNames = Set<[UInt8]>()  // bytes: String equality would merge canonically equivalent names
        for tensor in list {
            if !seenNames.insert(Array(tensor.name.utf8)).inserted { throw FileError(path, GoldenProblem.duplicateTensor(tensor.name)) }
            byName[tensor.name] = tensor
        }
        return (byName, metadata, isZip)
    }

    static func validate(path: String, tensors: [String: Tensor], metadata raw: [String: String], requireFormat: Bool) throws -> GoldenFile {
        // Names first: a file that is not a golden should say so before any shape complaint.
        for name in tensors.keys.sorted() where !inputNames.contains(name) && OutputRegistry.lookup(name) == nil {
            if OutputRegistry.indexedFamily(of: name) != nil { throw GoldenProblem.badHiddenStateName(name) }
            throw GoldenProblem.unexpectedTensor(name)
        }
        let ids = try integerInput("input_ids", tensors)
        guard ids.shape.count == 2 else { throw GoldenProblem.wrongRank(name: "input_ids", shape: ids.shape, expected: "[batch, seq]") }
        let batch = ids.shape[0], seq = ids.shape[1]
        guard batch > 0, seq > 0 else { throw GoldenProblem.emptyBatch(shape: ids.shape) }
        let mask = try integerInput("attention_mask", tensors, allowBool: true)
        let types = try integerInput("token_type_ids", tensors)
        for t in [mask, types] where t.shape != ids.shape {
            throw GoldenProblem.shapeMismatch(name: t.name, shape: t.shape, expected: ids.shape)
        }
        let idValues = ids.int64s(), maskValues = mask.int64s(), typeValues = types.int64s()
        for i in 0..<idValues.count {
            if idValues[i] < 0 { throw GoldenProblem.negativeValue(name: "input_ids", row: i / seq, position: i % seq, value: idValues[i]) }
            if typeValues[i] < 0 { throw GoldenProblem.negativeValue(name: "token_type_ids", row: i / seq, position: i % seq, value: typeValues[i]) }
            if maskValues[i] != 0 && maskValues[i] != 1 {
                throw GoldenProblem.maskNotBinary(row: i / seq, position: i % seq, value: maskValues[i])
            }
        }

        // The hidden size comes from last_hidden_state, which every golden holds.
        let anchor = OutputRegistry.lastHiddenState
        guard let last = tensors[anchor.name] else { throw GoldenProblem.missingTensor(anchor.name) }
        guard last.shape.count == 3 else {
            throw GoldenProblem.wrongRank(name: last.name, shape: last.shape, expected: anchor.rank.shapeDescription)
        }
        let hidden = last.shape[2]
        guard last.shape[0] == batch, last.shape[1] == seq, hidden > 0 else {
            throw GoldenProblem.shapeMismatch(name: last.name, shape: last.shape, expected: [batch, seq, max(hidden, 1)])
        }
        var outputs: [String: FloatArray] = [:]
        for spec in OutputRegistry.all {
            if spec.required, tensors[spec.name] == nil { throw GoldenProblem.missingTensor(spec.name) }
            for name in try presentNames(of: spec, in: tensors) {
                guard let t = tensors[name] else { continue }
                let array = try floatOutput(t)
                let expected = spec.rank.shape(batch: batch, seq: seq, hidden: hidden, actual: t.shape)
                guard t.shape == expected else { throw GoldenProblem.shapeMismatch(name: t.name, shape: t.shape, expected: expected) }
                outputs[name] = array
            }
        }

        let metadata = try parseMetadata(raw, rows: batch, requireFormat: requireFormat)
        return GoldenFile(path: path, batch: batch, seq: seq, hidden: hidden, inputIds: idValues, attentionMask: maskValues,
                          tokenTypeIds: typeValues,
                          outputs: ModelOutputs(tensors: outputs),
                          metadata: metadata)
    }

    /// The names of `spec`'s tensors present: the name itself, or `NAME.0…N` of an indexed
    /// output, which must have no gaps.
    static func presentNames(of spec: OutputSpec, in tensors: [String: Tensor]) throws -> [String] {
        guard spec.indexed else { return tensors[spec.name] == nil ? [] : [spec.name] }
        let indices = tensors.keys.compactMap { OutputRegistry.index(of: $0, in: spec) }.sorted()
        guard let highest = indices.last else { return [] }
        for n in 0...highest where tensors[spec.tensorName(n)] == nil {
            throw GoldenProblem.hiddenStatesNotContiguous(missing: n, highest: highest)
        }
        return (0...highest).map { spec.tensorName($0) }
    }

    static func integerInput(_ name: String, _ tensors: [String: Tensor], allowBool: Bool = false) throws -> Tensor {
        guard let t = tensors[name] else { throw GoldenProblem.missingTensor(name) }
        if t.dtype.isFloatingPoint || (t.dtype == .BOOL && !allowBool) {
            throw GoldenProblem.idsNotInteger(name: name, dtype: t.dtype)
        }
        return t
    }

    static func floatOutput(_ t: Tensor) throws -> FloatArray {
        guard t.dtype.isFloatingPoint else { throw GoldenProblem.outputNotFloat(name: t.name, dtype: t.dtype) }
        guard t.dtype == .F64 else { return FloatArray(shape: t.shape, values: t.floats()) }
        let doubles = (0..<t.elementCount).map { t.data.loadUnaligned(fromByteOffset: $0 * 8, as: Double.self) }
        return FloatArray(shape: t.shape, values: doubles.map(Float.init), doubles: doubles)
    }

    static func parseMetadata(_ raw: [String: String], rows: Int, requireFormat: Bool) throws -> GoldenMetadata {
        if let format = raw["format"] {
            guard format == GoldenFile.format else { throw GoldenProblem.wrongFormat(format) }
        } else if requireFormat {
            throw GoldenProblem.missingFormat
        }
        var metadata = GoldenMetadata(model: raw["model"], producer: raw["producer"])
        if let texts = raw["texts"] {
            switch TextItem.parseList(Array(texts.utf8)) {
            case .success(let items):
                guard items.count == rows else { throw GoldenProblem.textsCount(texts: items.count, rows: rows) }
                metadata.texts = items
            case .failure(let problem):
                throw GoldenProblem.badMetadata(key: "texts", reason: "\(problem) (expected a JSON array of texts or [text, pair] arrays)")
            }
        }
        metadata.architecture = raw["architecture"]
        if let text = raw["mask_token_id"] {
            guard let id = Int64(text), id >= 0 else {
                throw GoldenProblem.badMetadata(key: "mask_token_id", reason: "'\(text)' is not a token id")
            }
            metadata.maskTokenId = id
        }
        metadata.atol = try tolerance("atol", raw)
        metadata.rtol = try tolerance("rtol", raw)
        return metadata
    }

    /// The loosest `atol` / `rtol` a golden may ask for itself. The golden is someone else's file:
    /// an atol of 1e308 would pass anything. 1 is already far looser than the bf16 profile (0.1),
    /// and BERT activations are O(1-10), so a larger value can only switch the check off. Looser
    /// tolerances remain possible, but only as the user's own --atol / --rtol.
    public static let loosestMetadataTolerance = 1.0

    static func tolerance(_ key: String, _ raw: [String: String]) throws -> Double? {
        guard let text = raw[key] else { return nil }
        guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite, value >= 0 else {
            throw GoldenProblem.badMetadata(key: key, reason: "'\(text)' is not a finite non-negative number")
        }
        guard value <= loosestMetadataTolerance else {
            throw GoldenProblem.badMetadata(key: key, reason: "'\(text)' is looser than \(formatNumber(loosestMetadataTolerance)), the most a golden may ask for (give a looser one on the command line with --\(key))")
        }
        return value
    }

    /// Tensors and metadata of this golden in the `bertcheck-golden/1` layout.
    public func tensorsForWriting() -> [Tensor] {
        var list: [Tensor] = [
            Tensor.makeTensor(name: "input_ids", int64s: inputIds, shape: [batch, seq]),
            Tensor.makeTensor(name: "attention_mask", int64s: attentionMask, shape: [batch, seq]),
            Tensor.makeTensor(name: "token_type_ids", int64s: tokenTypeIds, shape: [batch, seq]),
        ]
        for spec in OutputRegistry.all {
            let values = spec.indexed ? outputs.indexed(spec) : [outputs[spec.name]]
            for (n, value) in values.enumerated() {
                guard let value else { continue }
                list.append(Tensor.makeTensor(name: spec.tensorName(n), floats: value.values, shape: value.shape))
            }
        }
        return list
    }

    public var metadataForWriting: [String: String] {
        var raw = ["format": GoldenFile.format]
        if let texts = metadata.texts { raw["texts"] = TextItem.encodeList(texts) }
        if let model = metadata.model { raw["model"] = model }
        if let producer = metadata.producer { raw["producer"] = producer }
        if let atol = metadata.atol { raw["atol"] = String(atol) }
        if let rtol = metadata.rtol { raw["rtol"] = String(rtol) }
        if let architecture = metadata.architecture { raw["architecture"] = architecture }
        if let mask = metadata.maskTokenId { raw["mask_token_id"] = String(mask) }
        return raw
    }

    /// Writes the golden atomically (temp file in the same directory, then rename).
    public func write(to path: String) throws {
        try SafetensorsWriter.write(tensorsForWriting(), metadata: metadataForWriting, to: path)
    }
}

/// Reads another runtime's outputs file (safetensors or npz, the golden's tensor names) leniently:
/// `readOutputsFile` (OutputsFile.swift) with no `--map`.
public func readCandidateOutputs(_ path: String, for golden: GoldenFile) throws -> ModelOutputs {
    try readOutputsFile(path, for: golden).outputs
}

/// `readCandidateOutputs`, with the names of the tensors it does not recognise (sorted).
public func readCandidateOutputsListingUnknown(_ path: String, for golden: GoldenFile) throws -> (outputs: ModelOutputs, unknown: [String]) {
    let file = try readOutputsFile(path, for: golden)
    return (file.outputs, file.unrecognised)
}
