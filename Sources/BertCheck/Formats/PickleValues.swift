/// What the restricted pickle machine (Pickle.swift) produces: the globals it accepts, the
/// storages and tensor views `torch.save` describes, and the values on its stack.

/// The globals a checkpoint may name. Anything else is refused.
public enum PickleGlobal: Equatable, Sendable {
    case orderedDict
    case rebuildTensorV2
    case rebuildTensorV3
    case rebuildParameter
    case rebuildParameterWithState
    /// `torch.FloatStorage` and friends (the storage class names torch.save still writes).
    case typedStorage(DType)
    /// `torch.UntypedStorage`: bytes.
    case untypedStorage
    /// `torch.float32` and friends.
    case dtype(DType)

    static let storageTypes: [String: DType] = [
        "FloatStorage": .F32, "HalfStorage": .F16, "BFloat16Storage": .BF16, "DoubleStorage": .F64,
        "LongStorage": .I64, "IntStorage": .I32, "ShortStorage": .I16, "CharStorage": .I8,
        "ByteStorage": .U8, "BoolStorage": .BOOL,
    ]
    static let dtypes: [String: DType] = [
        "float32": .F32, "float": .F32, "float16": .F16, "half": .F16, "bfloat16": .BF16,
        "float64": .F64, "double": .F64, "int64": .I64, "long": .I64, "int32": .I32, "int": .I32,
        "int16": .I16, "short": .I16, "int8": .I8, "uint8": .U8, "bool": .BOOL,
    ]

    init?(module: String, name: String) {
        switch (module, name) {
        case ("collections", "OrderedDict"): self = .orderedDict
        case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensorV2
        case ("torch._utils", "_rebuild_tensor_v3"): self = .rebuildTensorV3
        case ("torch._utils", "_rebuild_parameter"): self = .rebuildParameter
        case ("torch._utils", "_rebuild_parameter_with_state"): self = .rebuildParameterWithState
        case ("torch", "UntypedStorage"), ("torch.storage", "UntypedStorage"): self = .untypedStorage
        case ("torch", _):
            if let dtype = PickleGlobal.storageTypes[name] {
                self = .typedStorage(dtype)
            } else if let dtype = PickleGlobal.dtypes[name] {
                self = .dtype(dtype)
            } else {
                return nil
            }
        default: return nil
        }
    }

    var name: String {
        switch self {
        case .orderedDict: return "collections.OrderedDict"
        case .rebuildTensorV2: return "torch._utils._rebuild_tensor_v2"
        case .rebuildTensorV3: return "torch._utils._rebuild_tensor_v3"
        case .rebuildParameter: return "torch._utils._rebuild_parameter"
        case .rebuildParameterWithState: return "torch._utils._rebuild_parameter_with_state"
        case .typedStorage(let dtype): return "torch storage of \(dtype.rawValue)"
        case .untypedStorage: return "torch.UntypedStorage"
        case .dtype(let dtype): return "torch dtype \(dtype.rawValue)"
        }
    }
}

/// A storage named by a persistent id `('storage', StorageType, key, location, numel)`.
public struct PickleStorage: Equatable, Sendable {
    public let dtype: DType
    public let key: String
    public let location: String
    /// Elements of `dtype`.
    public let count: Int
}

/// A tensor as `_rebuild_tensor_v2` describes it: a view of a storage, offsets and strides in
/// elements.
public struct PickleTensor: Equatable, Sendable {
    public let storage: PickleStorage
    public let dtype: DType
    public let offset: Int
    public let shape: [Int]
    public let strides: [Int]
}

/// Mutable containers are reference types (pickle mutates them after memoizing), sealed once
/// they are placed inside another value so depth stays exact and cycles cannot form.
public final class PickleList {
    public internal(set) var items: [PickleValue] = []
    var depth = 1
    var sealed = false
}

public final class PickleDict {
    public internal(set) var entries: [(key: PickleValue, value: PickleValue)] = []
    var indexByKey: [PickleKey: Int] = [:]
    var depth = 1
    var sealed = false

    public func value(forKey key: String) -> PickleValue? {
        indexByKey[.string(key)].map { entries[$0].value }
    }
}

enum PickleKey: Hashable {
    case string(String), int(Int64), bool(Bool), none
}

public indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue], depth: Int)
    case list(PickleList)
    case dict(PickleDict)
    case global(PickleGlobal)
    case storage(PickleStorage)
    case tensor(PickleTensor)

    public var typeName: String {
        switch self {
        case .none: return "None"
        case .bool: return "a bool"
        case .int: return "an int"
        case .float: return "a float"
        case .string: return "a string"
        case .bytes: return "bytes"
        case .tuple: return "a tuple"
        case .list: return "a list"
        case .dict: return "a dict"
        case .global(let global): return global.name
        case .storage: return "a storage"
        case .tensor: return "a tensor"
        }
    }

    var depth: Int {
        switch self {
        case .tuple(_, let depth): return depth
        case .list(let list): return list.depth
        case .dict(let dict): return dict.depth
        default: return 0
        }
    }

    /// Marks containers as nested so later mutation is refused.
    func seal() {
        switch self {
        case .list(let list): list.sealed = true
        case .dict(let dict): dict.sealed = true
        default: break
        }
    }
}
