/// What can be wrong with a checkpoint's weights for a `BertModel` of its config (one case per
/// rule). Thrown wrapped in a `FileError` naming the weight file (or config.json).
public enum WeightProblem: Error, CustomStringConvertible, Equatable {
    case noConfig
    case invalidConfig(String)
    case unsupportedActivation(String)
    case unsupportedPositionEmbedding(String)
    case missing(String)
    case duplicate(String)
    case wrongShape(name: String, expected: [Int], actual: [Int])
    case notFloatingPoint(name: String, dtype: DType)
    case incompletePooler(present: String, missing: String)

    public var description: String {
        switch self {
        case .noConfig:
            return "no config.json beside the weights: a BertModel needs its config"
        case .invalidConfig(let rule):
            return "invalid config: \(rule)"
        case .unsupportedActivation(let name):
            return "hidden_act \"\(name)\" is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)"
        case .unsupportedPositionEmbedding(let name):
            return "position_embedding_type \"\(name)\" is not supported (absolute)"
        case .missing(let name):
            return "missing tensor \(name)"
        case .duplicate(let name):
            return "tensor \(name) is stored twice (under two names that map to it)"
        case .wrongShape(let name, let expected, let actual):
            var text = "tensor \(name) has shape \(Tensor.describe(shape: actual)), the config needs \(Tensor.describe(shape: expected))"
            if actual.count == 2, expected.count == 2, actual == [expected[1], expected[0]], expected[0] != expected[1] {
                text += " (it is transposed)"
            }
            return text
        case .notFloatingPoint(let name, let dtype):
            return "tensor \(name) has dtype \(dtype.rawValue), a weight must be F32, F16, BF16 or F64"
        case .incompletePooler(let present, let missing):
            return "pooler is incomplete: \(present) is present but \(missing) is missing"
        }
    }
}

/// A parameter as flat Float. F32 tensors are used straight from the checkpoint's mapping (the
/// `Tensor` keeps it alive); other dtypes are converted once, at load.
struct FloatWeight: @unchecked Sendable {
    let pointer: UnsafePointer<Float>
    let shape: [Int]
    /// Keeps `pointer` valid: the tensor's storage, or the converted copy.
    let owner: ByteStorage
    /// Where the weight lies in a mapped file, so its pages can be dropped after use.
    let mapped: (file: MappedFile, range: Range<Int>)?

    var count: Int { shape.reduce(1, *) }

    init(tensor: Tensor) {
        shape = tensor.shape
        if tensor.dtype == .F32, let base = tensor.data.baseAddress,
           Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 {
            pointer = base.assumingMemoryBound(to: Float.self)
            owner = tensor.storage
            if let file = tensor.storage as? MappedFile, let fileBase = file.bytes.baseAddress {
                let start = base - fileBase
                mapped = (file, start..<(start + tensor.byteCount))
            } else {
                mapped = nil
            }
        } else {
            let n = tensor.elementCount
            let copy = OwnedBytes(count: n * MemoryLayout<Float>.stride)
            let out = copy.pointer.bindMemory(to: Float.self, capacity: n)
            tensor.dtype.decode(tensor.data, into: UnsafeMutableBufferPointer(start: out, count: n))
            pointer = UnsafePointer(out)
            owner = copy
            mapped = nil
        }
    }

    /// Bytes of the mapped file this weight uses in place (0 for converted copies).
    var mappedBytes: Int { mapped?.range.count ?? 0 }

    /// Drops this weight's pages from the process (they stay in the page cache and fault back
    /// in on the next use). No-op for converted copies.
    func releasePages() {
        if let mapped { mapped.file.release(mapped.range) }
    }
}

/// The checkpoint's `BertModel` parameters by canonical name, handed out once each with their
/// shape checked against what the parameter-spec table derives from the config.
struct WeightTable {
    let config: BertConfig
    private var tensors: [String: Tensor] = [:]
    private var fileOfTensor: [String: String] = [:]
    /// Task-head parameters (HeadSpec.swift) by canonical name.
    private var headTensors: [String: Tensor] = [:]
    let defaultFile: String

    init(checkpoint: Checkpoint, config: BertConfig) throws {
        self.config = config
        defaultFile = checkpoint.files.first ?? checkpoint.path
        for tensor in checkpoint.tensors {
            let file = (tensor.storage as? MappedFile)?.path ?? defaultFile
            if let head = HeadParameterName(storedName: tensor.name) {
                if headTensors[head.description] != nil { throw FileError(file, WeightProblem.duplicate(head.description)) }
                headTensors[head.description] = tensor
                fileOfTensor[head.description] = file
                continue
            }
            guard case .parameter(let name) = parameterRole(ofStoredName: tensor.name) else { continue }
            if tensors[name] != nil { throw FileError(file, WeightProblem.duplicate(name)) }
            tensors[name] = tensor
            fileOfTensor[name] = file
        }
    }

    func contains(_ name: ParameterName) -> Bool { tensors[name.description] != nil }

    func file(of name: String) -> String { fileOfTensor[name] ?? defaultFile }

    /// `module`'s `leaf` parameter (of encoder layer `layer` for a per-layer module), as Float.
    func weight(_ module: BertModule, layer: Int? = nil, leaf: String) throws -> FloatWeight {
        let name = ParameterName(module, layer: layer, leaf: leaf).description
        return try checked(name, tensors[name], shape: module.shape(of: leaf, config: config))
    }

    /// The tensor stored as `name` as Float, once it is there, real-valued and of `shape`.
    private func checked(_ name: String, _ tensor: Tensor?, shape: [Int]) throws -> FloatWeight {
        guard let tensor else { throw FileError(defaultFile, WeightProblem.missing(name)) }
        guard tensor.dtype.isRealValued else {
            throw FileError(file(of: name), WeightProblem.notFloatingPoint(name: name, dtype: tensor.dtype))
        }
        guard tensor.shape == shape else {
            throw FileError(file(of: name), WeightProblem.wrongShape(name: name, expected: shape, actual: tensor.shape))
        }
        return FloatWeight(tensor: tensor)
    }

    func contains(_ name: HeadParameterName) -> Bool { headTensors[name.description] != nil }

    /// The head modules with at least one stored parameter.
    var storedHeadModules: Set<HeadModule> {
        Set(headTensors.keys.compactMap { HeadParameterName(storedName: $0)?.module })
    }

    /// A task head's parameter, its shape checked against `shape`.
    func weight(_ name: HeadParameterName, shape: [Int]) throws -> FloatWeight {
        try checked(name.description, headTensors[name.description], shape: shape)
    }

    /// The stored shape of a head parameter (nil when absent).
    func storedShape(_ name: HeadParameterName) -> [Int]? { headTensors[name.description]?.shape }

    /// The dtype holding most parameter elements.
    var dominantDType: DType { BertCheck.dominantDType(Array(tensors.values)) ?? .F32 }
}

/// The real-valued dtype holding most of the tensors' elements (ties: the name first in
/// alphabetical order); nil when none is real-valued.
public func dominantDType(_ tensors: [Tensor]) -> DType? {
    var elements: [DType: Int] = [:]
    for tensor in tensors where tensor.dtype.isRealValued { elements[tensor.dtype, default: 0] += tensor.elementCount }
    return elements.max { a, b in a.value < b.value || (a.value == b.value && a.key.rawValue > b.key.rawValue) }?.key
}
