import Foundation

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
/// `Tensor` keeps it alive). Vectors of other dtypes (biases, LayerNorm) are converted once, at
/// load; matrices of other dtypes (F16, BF16, GGML quants) are decoded when `pointer` is read,
/// into the `WeightScratch` slot of their role, which the same role of the next layer reuses:
/// a quantized model holds one layer's matrices in F32, not a whole F32 copy.
struct FloatWeight: @unchecked Sendable {
    let shape: [Int]
    /// Where the stored bytes lie in a mapped file, so their pages can be dropped after use.
    let mapped: (file: MappedFile, range: Range<Int>)?
    /// The scratch of the weights of one model (shared by all of them; tells what they hold).
    let scratch: WeightScratch
    private let storage: Storage

    private enum Storage {
        /// Floats in place: the mapped F32 tensor, or the copy converted at load (`owner` keeps
        /// either alive).
        case floats(UnsafePointer<Float>, owner: ByteStorage)
        /// Decoded on use into the scratch slot `slot`.
        case decodedOnUse(Tensor, slot: String)
    }

    var count: Int { shape.reduce(1, *) }

    /// `tensor` as Float; `slot` names the role a decoded matrix shares with other layers'
    /// (one buffer per slot).
    init(tensor: Tensor, scratch: WeightScratch, slot: String) {
        shape = tensor.shape
        self.scratch = scratch
        if let file = tensor.storage as? MappedFile, let base = tensor.data.baseAddress, let fileBase = file.bytes.baseAddress {
            let start = base - fileBase
            mapped = (file, start..<(start + tensor.byteCount))
        } else {
            mapped = nil
        }
        if tensor.dtype == .F32, let base = tensor.data.baseAddress,
           Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 {
            storage = .floats(base.assumingMemoryBound(to: Float.self), owner: tensor.storage)
        } else if tensor.shape.count >= 2 {
            storage = .decodedOnUse(tensor, slot: slot)
        } else {
            let copy = scratch.converted(tensor)
            storage = .floats(UnsafePointer(copy.pointer.assumingMemoryBound(to: Float.self)), owner: copy)
        }
    }

    /// The weight as Float. For a matrix decoded on use, valid until the next weight of the same
    /// slot is read (the same matrix of another layer): read it just before the product uses it.
    var pointer: UnsafePointer<Float> {
        switch storage {
        case .floats(let pointer, _): return pointer
        case .decodedOnUse(let tensor, let slot): return scratch.decoded(tensor, slot: slot)
        }
    }

    /// Writes row `row` of this [rows, columns] matrix into `out` (`columns` floats), decoding
    /// that row alone when it is not F32 (a GGML block never spans two rows), so gathering rows
    /// (the word embeddings) needs no F32 copy of the matrix.
    func copyRow(_ row: Int, into out: UnsafeMutablePointer<Float>) {
        let columns = shape.count >= 2 ? shape[shape.count - 1] : count
        switch storage {
        case .floats(let pointer, _):
            out.update(from: pointer + row * columns, count: columns)
        case .decodedOnUse(let tensor, _):
            guard let rowBytes = tensor.dtype.byteCount(elements: columns) else {
                // Rows that split a block (no reader hands these out): decode the whole matrix.
                out.update(from: pointer + row * columns, count: columns)
                return
            }
            let start = row * rowBytes
            tensor.dtype.decode(UnsafeRawBufferPointer(rebasing: tensor.data[start..<(start + rowBytes)]),
                                into: UnsafeMutableBufferPointer(start: out, count: columns))
        }
    }

    /// Bytes of the mapped file this weight reads (its stored bytes, whatever their dtype).
    var mappedBytes: Int { mapped?.range.count ?? 0 }

    /// Drops this weight's stored pages from the process (they stay in the page cache and fault
    /// back in on the next use). No-op for weights not read from a mapped file.
    func releasePages() {
        if let mapped { mapped.file.release(mapped.range) }
    }
}

/// The F32 memory a model's non-F32 weights use: the vectors converted at load, and one buffer
/// per slot (a matrix role, e.g. every layer's query weight) holding the matrix decoded last.
/// Decoding takes a lock, so the pooler or a head read outside a pass stays safe; the layers'
/// slots are read only by the forward pass, which runs one at a time.
final class WeightScratch: @unchecked Sendable {
    private final class Slot {
        var buffer: OwnedBytes
        /// The data address of the tensor the buffer holds (nil: none yet).
        var holding: UnsafeRawPointer?
        init(count: Int) { buffer = OwnedBytes(count: count * MemoryLayout<Float>.stride) }
    }

    private let lock = NSLock()
    private var slots: [String: Slot] = [:]
    private var convertedBytes = 0

    /// `tensor` converted to a new F32 buffer, counted as held.
    func converted(_ tensor: Tensor) -> OwnedBytes {
        let n = tensor.elementCount
        let copy = OwnedBytes(count: n * MemoryLayout<Float>.stride)
        tensor.dtype.decode(tensor.data, into: UnsafeMutableBufferPointer(start: copy.pointer.bindMemory(to: Float.self, capacity: n), count: n))
        lock.withLock { convertedBytes += copy.count }
        return copy
    }

    /// `tensor` decoded into slot `slot`, unless that slot holds it already.
    func decoded(_ tensor: Tensor, slot key: String) -> UnsafePointer<Float> {
        lock.withLock {
            let n = tensor.elementCount
            let slot: Slot
            if let existing = slots[key], existing.buffer.count >= n * MemoryLayout<Float>.stride {
                slot = existing
            } else {
                slot = Slot(count: n)
                slots[key] = slot
            }
            let out = slot.buffer.pointer.bindMemory(to: Float.self, capacity: n)
            if slot.holding != tensor.data.baseAddress {
                tensor.dtype.decode(tensor.data, into: UnsafeMutableBufferPointer(start: out, count: n))
                slot.holding = tensor.data.baseAddress
            }
            return UnsafePointer(out)
        }
    }

    /// Bytes of F32 held for non-F32 weights: converted vectors and decoded-matrix slots.
    var heldBytes: Int {
        lock.withLock { convertedBytes + slots.values.reduce(0) { $0 + $1.buffer.count } }
    }
}

extension BertModel {
    /// Bytes of F32 the model holds for weights stored in other dtypes (0 for an F32
    /// checkpoint, whose weights are used in place): about one layer's matrices plus the vectors,
    /// never a whole F32 copy (`FloatWeight`).
    public var convertedWeightBytes: Int { embeddings.layerNorm.weight.scratch.heldBytes }
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
    /// Where the weights handed out decode when they are not F32.
    let scratch = WeightScratch()

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
        // Every layer's matrix of one role shares a scratch slot: one layer's worth is decoded at a time.
        return try checked(name, tensors[name], shape: module.shape(of: leaf, config: config), slot: module.rawValue + "." + leaf)
    }

    /// The tensor stored as `name` as Float, once it is there, real-valued and of `shape`.
    private func checked(_ name: String, _ tensor: Tensor?, shape: [Int], slot: String) throws -> FloatWeight {
        guard let tensor else { throw FileError(defaultFile, WeightProblem.missing(name)) }
        guard tensor.dtype.isRealValued else {
            throw FileError(file(of: name), WeightProblem.notFloatingPoint(name: name, dtype: tensor.dtype))
        }
        guard tensor.shape == shape else {
            throw FileError(file(of: name), WeightProblem.wrongShape(name: name, expected: shape, actual: tensor.shape))
        }
        return FloatWeight(tensor: tensor, scratch: scratch, slot: slot)
    }

    func contains(_ name: HeadParameterName) -> Bool { headTensors[name.description] != nil }

    /// The head modules with at least one stored parameter.
    var storedHeadModules: Set<HeadModule> {
        Set(headTensors.keys.compactMap { HeadParameterName(storedName: $0)?.module })
    }

    /// A task head's parameter, its shape checked against `shape`.
    func weight(_ name: HeadParameterName, shape: [Int]) throws -> FloatWeight {
        try checked(name.description, headTensors[name.description], shape: shape, slot: name.description)
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
