#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Every rule an ONNX model file can break, one case each. Thrown wrapped in
/// `FileError(modelPath, problem)`.
public enum ONNXProblem: Error, Equatable, Sendable, CustomStringConvertible {
    case empty
    /// A wire-format rule broken inside the named message.
    case wire(WireProblem, in: String)
    /// A known field encoded with a wire type its declaration does not allow.
    case wrongWireType(field: String, expected: WireType, actual: WireType)
    case notUTF8(field: String, offset: Int)
    /// A packed fixed-width field whose length is not a whole number of values.
    case packedLengthNotMultiple(field: String, length: Int, width: Int)
    case noGraph
    case unnamedInitializer(index: Int)
    case duplicateInitializer(name: String)
    case unknownDataType(tensor: String, code: Int64)
    /// A data type ONNX defines but no weight uses (strings, complex, unsigned wide, 8-bit floats, 4-bit).
    case unsupportedDataType(tensor: String, code: Int64)
    case negativeDimension(tensor: String, dims: [Int64])
    case sizeOverflow(tensor: String)
    case segmentedTensor(tensor: String)
    /// None of `raw_data`, the typed fields or external data holds the elements.
    case noData(tensor: String)
    /// More than one of `raw_data`, the typed fields or external data.
    case severalDataFields(tensor: String)
    /// A typed field (`float_data`, `int32_data`, …) the data type may not use.
    case dataFieldForType(tensor: String, field: String, code: Int64)
    case rawDataSizeMismatch(tensor: String, expected: Int, actual: Int)
    case elementCountMismatch(tensor: String, field: String, expected: Int, actual: Int)
    /// An `int32_data` value outside the range of the tensor's narrower type.
    case valueOutOfRange(tensor: String, value: Int64)
    case unknownDataLocation(tensor: String, value: Int64)
    case externalDataWithoutLocation(tensor: String)
    case externalDataBadNumber(tensor: String, key: String, value: String)
    /// `location` is absolute, has `..`, or resolves (through symlinks) outside the model's directory.
    case externalDataOutsideDirectory(tensor: String, location: String)
    case externalDataMissing(tensor: String, location: String)
    case externalDataPastEnd(tensor: String, location: String, offset: Int, length: Int, fileSize: Int)
    case externalDataLengthMismatch(tensor: String, expected: Int, actual: Int)
    /// Quantization parameters whose shape fits neither per-tensor nor per-channel use.
    case quantizationShapeMismatch(tensor: String, reason: String)

    public var description: String {
        switch self {
        case .empty: return "empty file, not an ONNX model"
        case let .wire(problem, message): return "not a valid ONNX protobuf: in \(message), \(problem)"
        case let .wrongWireType(field, expected, actual): return "not a valid ONNX protobuf: \(field) is \(actual), expected \(expected)"
        case let .notUTF8(field, offset): return "\(field) at byte \(offset) is not valid UTF-8"
        case let .packedLengthNotMultiple(field, length, width): return "\(field) spans \(length) bytes, not a whole number of \(width)-byte values"
        case .noGraph: return "the ONNX model has no graph"
        case let .unnamedInitializer(index): return "initializer \(index) has no name"
        case let .duplicateInitializer(name): return "two initializers are named \"\(name)\""
        case let .unknownDataType(tensor, code): return "initializer \"\(tensor)\": unknown data_type \(code)"
        case let .unsupportedDataType(tensor, code): return "initializer \"\(tensor)\": data_type \(code) (\(ONNXDataType.name(code))) is not a weight type bertcheck reads"
        case let .negativeDimension(tensor, dims): return "initializer \"\(tensor)\": negative dimension in dims \(dims)"
        case let .sizeOverflow(tensor): return "initializer \"\(tensor)\": dims' size overflows 64-bit arithmetic"
        case let .segmentedTensor(tensor): return "initializer \"\(tensor)\": segmented tensors are not supported"
        case let .noData(tensor): return "initializer \"\(tensor)\" has elements but no data"
        case let .severalDataFields(tensor): return "initializer \"\(tensor)\" stores its data in more than one field"
        case let .dataFieldForType(tensor, field, code): return "initializer \"\(tensor)\": \(field) may not hold data_type \(code) (\(ONNXDataType.name(code)))"
        case let .rawDataSizeMismatch(tensor, expected, actual): return "initializer \"\(tensor)\": raw_data is \(actual) bytes but dims and data_type need \(expected)"
        case let .elementCountMismatch(tensor, field, expected, actual): return "initializer \"\(tensor)\": \(field) has \(actual) values but dims need \(expected)"
        case let .valueOutOfRange(tensor, value): return "initializer \"\(tensor)\": int32_data value \(value) is out of range for its data_type"
        case let .unknownDataLocation(tensor, value): return "initializer \"\(tensor)\": unknown data_location \(value)"
        case let .externalDataWithoutLocation(tensor): return "initializer \"\(tensor)\": external data without a \"location\""
        case let .externalDataBadNumber(tensor, key, value): return "initializer \"\(tensor)\": external data \"\(key)\" is \"\(value)\", not a non-negative integer"
        case let .externalDataOutsideDirectory(tensor, location):
            return "initializer \"\(tensor)\": external data \"\(location)\" is outside the model directory (no absolute paths, '..' or symlinks out)"
        case let .externalDataMissing(tensor, location): return "initializer \"\(tensor)\": external data file \"\(location)\" does not exist"
        case let .externalDataPastEnd(tensor, location, offset, length, size):
            return "initializer \"\(tensor)\": external data \(offset)+\(length) runs past the end of \"\(location)\" (\(size) bytes)"
        case let .externalDataLengthMismatch(tensor, expected, actual): return "initializer \"\(tensor)\": external data length \(actual) but dims and data_type need \(expected)"
        case let .quantizationShapeMismatch(tensor, reason): return "quantized initializer \"\(tensor)\": \(reason)"
        }
    }
}

/// `TensorProto.DataType` codes.
public enum ONNXDataType {
    static let names = ["UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64", "STRING", "BOOL", "FLOAT16",
                        "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16", "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ",
                        "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "UINT4", "INT4", "FLOAT4E2M1"]

    public static func name(_ code: Int64) -> String { code >= 0 && code < names.count ? names[Int(code)] : "?" }

    /// The bertcheck dtype of a code, nil for a defined but unread type; throws for an unknown code.
    static func dtype(_ code: Int64, tensor: String) throws -> DType {
        switch code {
        case 1: return .F32
        case 2: return .U8
        case 3: return .I8
        case 5: return .I16
        case 6: return .I32
        case 7: return .I64
        case 9: return .BOOL
        case 10: return .F16
        case 11: return .F64
        case 16: return .BF16
        case 0, 4, 8, 12, 13, 14, 15, 17..<Int64(names.count): throw ONNXProblem.unsupportedDataType(tensor: tensor, code: code)
        default: throw ONNXProblem.unknownDataType(tensor: tensor, code: code)
        }
    }
}

/// An ONNX model's initializers as tensors under their ONNX names: `raw_data` and external data
/// point into mappings (no copies), the typed fields are decoded into owned buffers.
public struct ONNXFile {
    public var model: ONNXModel
    public var graph: ONNXGraph
    public var initializers: [Tensor]
    /// The external data files mapped.
    public var externalFiles: [String]

    public static func read(_ path: String) throws -> ONNXFile {
        let file = try MappedFile(path: path)
        do {
            let model = try ONNXParser.parseModel(file.bytes)
            guard let graph = model.graph else { throw ONNXProblem.noGraph }
            var loader = InitializerLoader(file: file, directory: parentDirectory(of: path))
            var seen = Set<String>()
            var tensors: [Tensor] = []
            for (index, proto) in graph.initializers.enumerated() {
                guard !proto.name.isEmpty else { throw ONNXProblem.unnamedInitializer(index: index) }
                guard seen.insert(proto.name).inserted else { throw ONNXProblem.duplicateInitializer(name: proto.name) }
                tensors.append(try loader.tensor(proto))
            }
            return ONNXFile(model: model, graph: graph, initializers: tensors, externalFiles: loader.externalPaths)
        } catch let problem as ONNXProblem {
            throw FileError(path, problem)
        }
    }
}

/// Turns `TensorProto`s into `Tensor`s, mapping each external data file once.
struct InitializerLoader {
    let file: MappedFile
    let directory: String
    var external: [String: MappedFile] = [:]
    var externalPaths: [String] = []

    init(file: MappedFile, directory: String) {
        self.file = file
        self.directory = directory
    }

    mutating func tensor(_ proto: ONNXTensorProto) throws -> Tensor {
        let name = proto.name
        let dtype = try ONNXDataType.dtype(proto.dataType, tensor: name)
        guard !proto.dims.contains(where: { $0 < 0 }) else { throw ONNXProblem.negativeDimension(tensor: name, dims: proto.dims) }
        guard !proto.hasSegment else { throw ONNXProblem.segmentedTensor(tensor: name) }
        var count = 1
        for dim in proto.dims {
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(dim))
            guard !overflow else { throw ONNXProblem.sizeOverflow(tensor: name) }
            count = product
        }
        guard let byteCount = dtype.byteCount(elements: count) else { throw ONNXProblem.sizeOverflow(tensor: name) }
        let shape = proto.dims.map { Int($0) }

        switch proto.dataLocation {
        case 0: break
        case 1: return try externalTensor(proto, dtype: dtype, shape: shape, byteCount: byteCount)
        default: throw ONNXProblem.unknownDataLocation(tensor: name, value: proto.dataLocation)
        }
        let present = [proto.rawData != nil, proto.hasFloatData, proto.hasInt32Data, proto.hasInt64Data, proto.hasDoubleData,
                       proto.hasOtherData, !proto.externalData.isEmpty].filter { $0 }.count
        guard present <= 1 else { throw ONNXProblem.severalDataFields(tensor: name) }
        if let raw = proto.rawData {
            guard raw.count == byteCount else { throw ONNXProblem.rawDataSizeMismatch(tensor: name, expected: byteCount, actual: raw.count) }
            return Tensor(name: name, dtype: dtype, shape: shape, data: UnsafeRawBufferPointer(rebasing: file.bytes[raw]), storage: file)
        }
        if present == 0 {
            guard count == 0 else { throw ONNXProblem.noData(tensor: name) }
            return Tensor(name: name, dtype: dtype, shape: shape, data: UnsafeRawBufferPointer(start: nil, count: 0), storage: file)
        }
        return try typedFieldTensor(proto, dtype: dtype, shape: shape, count: count, byteCount: byteCount)
    }

    /// `float_data`, `int32_data`, `int64_data` or `double_data` decoded into an owned buffer.
    func typedFieldTensor(_ proto: ONNXTensorProto, dtype: DType, shape: [Int], count: Int, byteCount: Int) throws -> Tensor {
        let name = proto.name, code = proto.dataType
        let (field, values): (String, Int) = proto.hasFloatData ? ("float_data", proto.floatData.count)
            : proto.hasInt32Data ? ("int32_data", proto.int32Data.count)
            : proto.hasInt64Data ? ("int64_data", proto.int64Data.count)
            : proto.hasDoubleData ? ("double_data", proto.doubleData.count) : ("string_data", 0)
        let allowed: Set<DType> = switch field {
        case "float_data": [.F32]
        case "int32_data": [.I32, .I16, .I8, .U8, .BOOL, .F16, .BF16]
        case "int64_data": [.I64]
        case "double_data": [.F64]
        default: []
        }
        guard allowed.contains(dtype) else { throw ONNXProblem.dataFieldForType(tensor: name, field: field, code: code) }
        guard values == count else { throw ONNXProblem.elementCountMismatch(tensor: name, field: field, expected: count, actual: values) }
        guard let owned = OwnedBytes(checkedCount: byteCount) else { throw ONNXProblem.sizeOverflow(tensor: name) }
        let out = owned.mutableBytes
        switch dtype {
        case .F32: for (i, v) in proto.floatData.enumerated() { out.storeBytes(of: v, toByteOffset: i * 4, as: Float.self) }
        case .F64: for (i, v) in proto.doubleData.enumerated() { out.storeBytes(of: v, toByteOffset: i * 8, as: Double.self) }
        case .I64: for (i, v) in proto.int64Data.enumerated() { out.storeBytes(of: v, toByteOffset: i * 8, as: Int64.self) }
        default:
            // int32_data: each value is the element (16-bit floats as their bit pattern).
            let range: ClosedRange<Int64> = switch dtype {
            case .I32: Int64(Int32.min)...Int64(Int32.max)
            case .I16: Int64(Int16.min)...Int64(Int16.max)
            case .I8: Int64(Int8.min)...Int64(Int8.max)
            case .U8, .BOOL: 0...255
            default: 0...Int64(UInt16.max)
            }
            for (i, v) in proto.int32Data.enumerated() {
                // A negative int32 arrives sign-extended to 64 bits; anything else outside is corrupt.
                guard range.contains(v) else { throw ONNXProblem.valueOutOfRange(tensor: name, value: v) }
                switch dtype.size {
                case 4: out.storeBytes(of: Int32(v), toByteOffset: i * 4, as: Int32.self)
                case 2: out.storeBytes(of: UInt16(truncatingIfNeeded: v), toByteOffset: i * 2, as: UInt16.self)
                default: out.storeBytes(of: UInt8(truncatingIfNeeded: v), toByteOffset: i, as: UInt8.self)
                }
            }
        }
        return Tensor(name: name, dtype: dtype, shape: shape, data: UnsafeRawBufferPointer(owned.bytes), storage: owned)
    }

    /// `data_location = EXTERNAL`: `location` relative to the model's directory, optional
    /// `offset` and `length`, read from a mapping of that file.
    mutating func externalTensor(_ proto: ONNXTensorProto, dtype: DType, shape: [Int], byteCount: Int) throws -> Tensor {
        let name = proto.name
        func number(_ key: String) throws -> Int? {
            guard let text = proto.externalData.last(where: { $0.key == key })?.value else { return nil }
            guard let value = Int(text), value >= 0 else { throw ONNXProblem.externalDataBadNumber(tensor: name, key: key, value: text) }
            return value
        }
        guard let location = proto.externalData.last(where: { $0.key == "location" })?.value else {
            throw ONNXProblem.externalDataWithoutLocation(tensor: name)
        }
        let offset = try number("offset") ?? 0
        let length = try number("length")
        let mapped: MappedFile
        if let known = external[location] {
            // Checked and mapped for an earlier initializer (exporters put them all in one file).
            mapped = known
        } else {
            guard ShardedSafetensors.isInside(directory: directory, name: location) else {
                throw ONNXProblem.externalDataOutsideDirectory(tensor: name, location: location)
            }
            let path = joinPath(directory, location)
            guard pathExists(path) else { throw ONNXProblem.externalDataMissing(tensor: name, location: location) }
            mapped = try MappedFile(path: path)
            external[location] = mapped
            externalPaths.append(path)
        }
        let span = length ?? byteCount
        guard offset <= mapped.count, span <= mapped.count - offset else {
            throw ONNXProblem.externalDataPastEnd(tensor: name, location: location, offset: offset, length: span, fileSize: mapped.count)
        }
        guard span == byteCount else { throw ONNXProblem.externalDataLengthMismatch(tensor: name, expected: byteCount, actual: span) }
        return Tensor(name: name, dtype: dtype, shape: shape,
                      data: UnsafeRawBufferPointer(rebasing: mapped.bytes[offset..<(offset + span)]), storage: mapped)
    }
}

/// `model.onnx`: initializers mapped back to transformers' `BertModel` names through the graph.
public enum ONNXFormat: CheckpointFormatReader {
    public static let format = CheckpointFormat("onnx")
    public static let displayName = "an ONNX model"
    public static let directoryFileNames = ["model.onnx"]

    /// By name (`.onnx`), when the first bytes can start a `ModelProto`: a field 1–15 tag of a
    /// valid wire type (exporters write `ir_version` first, but protobuf does not require it).
    public static func match(path: String, head: [UInt8]) -> FormatMatch? {
        guard path.hasSuffix(".onnx") else { return nil }
        guard let first = head.first else { return .byName }
        let field = Int(first >> 3), wireType = Int(first & 7)
        return field >= 1 && field <= 15 && [0, 1, 2, 5].contains(wireType) ? .byName : nil
    }

    public static func read(_ path: String) throws -> CheckpointContents {
        let onnx = try ONNXFile.read(path)
        let recovered: ONNXRecovery
        do {
            recovered = try ONNXRecovery(onnx)
        } catch let problem as ONNXProblem {
            throw FileError(path, problem)
        }
        return CheckpointContents(tensors: recovered.tensors, files: [path] + onnx.externalFiles, details: recovered.details,
                                  dequantized: recovered.dequantized)
    }
}

extension CheckpointFormat {
    public static let onnx = ONNXFormat.format
}
