/// The few ONNX messages bertcheck reads (field numbers from onnx/onnx.proto), parsed from the
/// mapped file with `WireReader`. Unknown fields are skipped, as protobuf readers do; a known
/// field with the wrong wire type, a string that is not UTF-8 or any broken wire rule is an
/// `ONNXProblem`.

/// A `TensorProto`: where its elements are is recorded, nothing is copied.
public struct ONNXTensorProto: Sendable {
    public var name = ""
    public var dims: [Int64] = []
    public var dataType: Int64 = 0
    /// `raw_data`, as a span of the file.
    public var rawData: Range<Int>?
    /// The typed fields' values, decoded (packed or not); `has…` says whether the field appeared.
    public var floatData: [Float] = []
    public var hasFloatData = false
    public var int32Data: [Int64] = []
    public var hasInt32Data = false
    public var int64Data: [Int64] = []
    public var hasInt64Data = false
    public var doubleData: [Double] = []
    public var hasDoubleData = false
    public var hasOtherData = false
    public var externalData: [(key: String, value: String)] = []
    public var dataLocation: Int64 = 0
    public var hasSegment = false
}

public struct ONNXAttribute: Sendable {
    public var name = ""
    public var int: Int64?
    public var ints: [Int64] = []
    public var string: String?
}

public struct ONNXNode: Sendable {
    public var name = ""
    public var opType = ""
    public var domain = ""
    public var inputs: [String] = []
    public var outputs: [String] = []
    public var attributes: [ONNXAttribute] = []
    public var metadata: [(key: String, value: String)] = []

    public func attribute(_ name: String) -> ONNXAttribute? { attributes.first { $0.name == name } }
    public func metadata(_ key: String) -> String? { metadata.first { $0.key == key }?.value }
    /// How messages name the node: `MatMul /encoder/layer.0/attention/self/query/MatMul`.
    public var label: String { name.isEmpty ? opType : "\(opType) \(name)" }
}

public struct ONNXGraph: Sendable {
    public var name = ""
    public var nodes: [ONNXNode] = []
    public var initializers: [ONNXTensorProto] = []
    public var sparseInitializers = 0
    public var metadata: [(key: String, value: String)] = []
}

public struct ONNXModel: Sendable {
    public var irVersion: Int64 = 0
    public var producerName = ""
    public var producerVersion = ""
    public var opsets: [(domain: String, version: Int64)] = []
    public var graph: ONNXGraph?
    public var metadata: [(key: String, value: String)] = []
}

/// Parses `ModelProto` from `bytes` (the whole file).
public enum ONNXParser {
    public static func parseModel(_ bytes: UnsafeRawBufferPointer) throws -> ONNXModel {
        guard !bytes.isEmpty else { throw ONNXProblem.empty }
        var model = ONNXModel()
        let context = Context(bytes: bytes, message: "ModelProto")
        var reader = WireReader(bytes, range: 0..<bytes.count)
        while let field = try context.next(&reader) {
            switch field.number {
            case 1: model.irVersion = try context.int(field, "ir_version")
            case 2: model.producerName = try context.string(field, "producer_name")
            case 3: model.producerVersion = try context.string(field, "producer_version")
            case 7:
                let span = try context.span(field, "graph")
                model.graph = try parseGraph(context.child("graph"), span)
            case 8:
                let span = try context.span(field, "opset_import")
                let sub = context.child("opset_import")
                var reader = WireReader(bytes, range: span)
                var opset: (domain: String, version: Int64) = ("", 0)
                while let f = try sub.next(&reader) {
                    if f.number == 1 { opset.domain = try sub.string(f, "domain") }
                    if f.number == 2 { opset.version = try sub.int(f, "version") }
                }
                model.opsets.append(opset)
            case 14: model.metadata.append(try parseEntry(context.child("metadata_props"), try context.span(field, "metadata_props")))
            default: break
            }
        }
        return model
    }

    static func parseGraph(_ context: Context, _ span: Range<Int>) throws -> ONNXGraph {
        var graph = ONNXGraph()
        var reader = WireReader(context.bytes, range: span)
        while let field = try context.next(&reader) {
            switch field.number {
            case 1: graph.nodes.append(try parseNode(context.child("node[\(graph.nodes.count)]"), try context.span(field, "node")))
            case 2: graph.name = try context.string(field, "name")
            case 5:
                let span = try context.span(field, "initializer")
                graph.initializers.append(try parseTensor(context.child("initializer[\(graph.initializers.count)]"), span))
            case 15:
                _ = try context.span(field, "sparse_initializer")
                graph.sparseInitializers += 1
            case 16: graph.metadata.append(try parseEntry(context.child("metadata_props"), try context.span(field, "metadata_props")))
            default: break
            }
        }
        return graph
    }

    static func parseNode(_ context: Context, _ span: Range<Int>) throws -> ONNXNode {
        var node = ONNXNode()
        var reader = WireReader(context.bytes, range: span)
        while let field = try context.next(&reader) {
            switch field.number {
            case 1: node.inputs.append(try context.string(field, "input"))
            case 2: node.outputs.append(try context.string(field, "output"))
            case 3: node.name = try context.string(field, "name")
            case 4: node.opType = try context.string(field, "op_type")
            case 5: node.attributes.append(try parseAttribute(context.child("attribute"), try context.span(field, "attribute")))
            case 7: node.domain = try context.string(field, "domain")
            case 9: node.metadata.append(try parseEntry(context.child("metadata_props"), try context.span(field, "metadata_props")))
            default: break
            }
        }
        return node
    }

    static func parseAttribute(_ context: Context, _ span: Range<Int>) throws -> ONNXAttribute {
        var attribute = ONNXAttribute()
        var reader = WireReader(context.bytes, range: span)
        while let field = try context.next(&reader) {
            switch field.number {
            case 1: attribute.name = try context.string(field, "name")
            case 3: attribute.int = try context.int(field, "i")
            case 4: attribute.string = try context.string(field, "s")
            case 8: attribute.ints += try context.ints(field, "ints")
            default: break
            }
        }
        return attribute
    }

    static func parseEntry(_ context: Context, _ span: Range<Int>) throws -> (key: String, value: String) {
        var entry = (key: "", value: "")
        var reader = WireReader(context.bytes, range: span)
        while let field = try context.next(&reader) {
            if field.number == 1 { entry.key = try context.string(field, "key") }
            if field.number == 2 { entry.value = try context.string(field, "value") }
        }
        return entry
    }

    static func parseTensor(_ context: Context, _ span: Range<Int>) throws -> ONNXTensorProto {
        var tensor = ONNXTensorProto()
        var reader = WireReader(context.bytes, range: span)
        while let field = try context.next(&reader) {
            switch field.number {
            case 1: tensor.dims += try context.ints(field, "dims")
            case 2: tensor.dataType = try context.int(field, "data_type")
            case 3: tensor.hasSegment = true
            case 4:
                tensor.hasFloatData = true
                tensor.floatData += try context.floats(field, "float_data")
            case 5:
                tensor.hasInt32Data = true
                tensor.int32Data += try context.ints(field, "int32_data")
            case 6, 11: tensor.hasOtherData = true
            case 7:
                tensor.hasInt64Data = true
                tensor.int64Data += try context.ints(field, "int64_data")
            case 8: tensor.name = try context.string(field, "name")
            case 9: tensor.rawData = try context.span(field, "raw_data")
            case 10:
                tensor.hasDoubleData = true
                tensor.doubleData += try context.doubles(field, "double_data")
            case 13: tensor.externalData.append(try parseEntry(context.child("external_data"), try context.span(field, "external_data")))
            case 14: tensor.dataLocation = try context.int(field, "data_location")
            default: break
            }
        }
        return tensor
    }

    /// Where in the model a field is (for messages), and typed reads of known fields.
    struct Context {
        let bytes: UnsafeRawBufferPointer
        let message: String

        func child(_ name: String) -> Context { Context(bytes: bytes, message: message + "." + name) }

        func next(_ reader: inout WireReader) throws -> WireField? {
            do { return try reader.next() } catch let problem as WireProblem { throw ONNXProblem.wire(problem, in: message) }
        }

        func expect(_ field: WireField, _ name: String, _ types: [WireType]) throws {
            guard types.contains(field.wireType) else {
                throw ONNXProblem.wrongWireType(field: message + "." + name, expected: types[0], actual: field.wireType)
            }
        }

        func span(_ field: WireField, _ name: String) throws -> Range<Int> {
            try expect(field, name, [.lengthDelimited])
            return field.span
        }

        func int(_ field: WireField, _ name: String) throws -> Int64 {
            try expect(field, name, [.varint])
            return field.scalar.asInt64
        }

        func string(_ field: WireField, _ name: String) throws -> String {
            let span = try span(field, name)
            guard let text = String(validating: UnsafeRawBufferPointer(rebasing: bytes[span]), as: UTF8.self) else {
                throw ONNXProblem.notUTF8(field: message + "." + name, offset: span.lowerBound)
            }
            return text
        }

        func ints(_ field: WireField, _ name: String) throws -> [Int64] {
            try expect(field, name, [.varint, .lengthDelimited])
            do {
                return try WireReader.varints(field, in: bytes).map(\.asInt64)
            } catch let problem as WireProblem {
                throw ONNXProblem.wire(problem, in: message + "." + name)
            }
        }

        func floats(_ field: WireField, _ name: String) throws -> [Float] {
            try fixedValues(field, name, width: 4).map { Float(bitPattern: UInt32(truncatingIfNeeded: $0)) }
        }

        func doubles(_ field: WireField, _ name: String) throws -> [Double] {
            try fixedValues(field, name, width: 8).map { Double(bitPattern: $0) }
        }

        /// A repeated fixed-width field: one value, or a packed span of whole values.
        func fixedValues(_ field: WireField, _ name: String, width: Int) throws -> [UInt64] {
            try expect(field, name, [width == 4 ? .fixed32 : .fixed64, .lengthDelimited])
            guard field.wireType == .lengthDelimited else { return [field.scalar] }
            guard field.span.count % width == 0 else {
                throw ONNXProblem.packedLengthNotMultiple(field: message + "." + name, length: field.span.count, width: width)
            }
            return stride(from: field.span.lowerBound, to: field.span.upperBound, by: width).map { start in
                var value: UInt64 = 0
                for i in 0..<width { value |= UInt64(bytes[start + i]) << (8 * UInt64(i)) }
                return value
            }
        }
    }
}
