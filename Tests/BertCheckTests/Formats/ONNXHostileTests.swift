import Foundation
import Testing
@testable import BertCheck

/// Broken ONNX files, one per rule: each is refused with its own `ONNXProblem`, naming the file.
@Suite struct ONNXHostileTests {
    func problem(_ bytes: [UInt8], in directory: URL? = nil) throws -> ONNXProblem? {
        let path = try writeONNX(bytes, in: directory)
        let found = fileProblem(ONNXProblem.self) { _ = try ONNXFormat.read(path) }
        #expect(found?.path == path)
        return found?.problem
    }

    /// A model with one initializer `w` and nothing else.
    func single(_ tensor: [UInt8]) -> [UInt8] { Proto.model(initializers: [tensor]) }
    let sixFloats = Proto.floats([1, 2, 3, 4, 5, 6])

    @Test func wireFormatRules() throws {
        #expect(try problem([]) == .empty)
        #expect(try problem([0x08, 0x80]) == .wire(.truncatedVarint(offset: 1), in: "ModelProto"))
        #expect(try problem([0x08] + [UInt8](repeating: 0xFF, count: 10) + [0x01]) == .wire(.varintTooLong(offset: 1), in: "ModelProto"))
        #expect(try problem([0x3A, 0x64, 1, 2, 3]) == .wire(.lengthPastEnd(offset: 1, length: 100, remaining: 3), in: "ModelProto"))
        #expect(try problem([0x0B, 0x00]) == .wire(.unsupportedWireType(offset: 0, type: 3), in: "ModelProto"))
        #expect(try problem([0x0F, 0x00]) == .wire(.unsupportedWireType(offset: 0, type: 7), in: "ModelProto"))
        #expect(try problem([0x08, 0x07, 0x00]) == .wire(.invalidFieldNumber(offset: 2, number: 0), in: "ModelProto"))
        // fixed64 with only 3 bytes left.
        #expect(try problem([0x09, 1, 2, 3]) == .wire(.truncatedFixed(offset: 1, width: 8), in: "ModelProto"))
    }

    @Test func knownFieldsHaveTheirTypes() throws {
        // graph (7) as a varint.
        #expect(try problem([0x38, 0x01]) == .wrongWireType(field: "ModelProto.graph", expected: .lengthDelimited, actual: .varint))
        // data_type (2) as a string.
        let tensor = Proto.string(8, "w") + Proto.string(2, "x")
        #expect(try problem(single(tensor)) == .wrongWireType(field: "ModelProto.graph.initializer[0].data_type", expected: .varint, actual: .lengthDelimited))
        // A length inside a nested message runs past that message (not the file): prefix 8 bytes,
        // graph payload at 10, its name at 10...12, the initializer's tag at 13, payload at 15.
        #expect(try problem(single([0x42, 0x05, 0x61])) == .wire(.lengthPastEnd(offset: 16, length: 5, remaining: 1), in: "ModelProto.graph.initializer[0]"))
        #expect(try problem(single(Proto.bytes(8, [0xFF, 0xFE]))) == .notUTF8(field: "ModelProto.graph.initializer[0].name", offset: 17))
        // Packed float_data of 5 bytes.
        let packed = Proto.tensor("w", dims: [1]) + Proto.bytes(4, [0, 0, 0x80, 0x3F, 0])
        #expect(try problem(single(packed)) == .packedLengthNotMultiple(field: "ModelProto.graph.initializer[0].float_data", length: 5, width: 4))
    }

    @Test func graphRules() throws {
        #expect(try problem([0x08, 0x07]) == .noGraph)
        #expect(try problem(single(Proto.tensor("", dims: [1], raw: Proto.floats([1])))) == .unnamedInitializer(index: 0))
        let w = Proto.tensor("w", dims: [1], raw: Proto.floats([1]))
        #expect(try problem(Proto.model(initializers: [w, w])) == .duplicateInitializer(name: "w"))
    }

    @Test func tensorRules() throws {
        #expect(try problem(single(Proto.tensor("w", dims: [2, 3], raw: Array(sixFloats.prefix(20))))) == .rawDataSizeMismatch(tensor: "w", expected: 24, actual: 20))
        #expect(try problem(single(Proto.tensor("w", dims: [2, -3], raw: sixFloats))) == .negativeDimension(tensor: "w", dims: [2, -3]))
        #expect(try problem(single(Proto.tensor("w", dims: [1 << 62, 4], raw: sixFloats))) == .sizeOverflow(tensor: "w"))
        // Elements fit, bytes do not: 2^61 floats.
        #expect(try problem(single(Proto.tensor("w", dims: [1 << 61], raw: sixFloats))) == .sizeOverflow(tensor: "w"))
        #expect(try problem(single(Proto.tensor("w", dims: [6], type: 99, raw: sixFloats))) == .unknownDataType(tensor: "w", code: 99))
        #expect(try problem(single(Proto.tensor("w", dims: [1], type: 8, raw: [0x61]))) == .unsupportedDataType(tensor: "w", code: 8))
        #expect(try problem(single(Proto.tensor("w", dims: [1], type: -1, raw: [0x61]))) == .unknownDataType(tensor: "w", code: -1))
        #expect(try problem(single(Proto.tensor("w", dims: [2]))) == .noData(tensor: "w"))
        let twice = Proto.tensor("w", dims: [1], raw: Proto.floats([1]), extra: Proto.bytes(4, Proto.floats([1])))
        #expect(try problem(single(twice)) == .severalDataFields(tensor: "w"))
        let short = Proto.tensor("w", dims: [3], extra: Proto.bytes(4, Proto.floats([1, 2])))
        #expect(try problem(single(short)) == .elementCountMismatch(tensor: "w", field: "float_data", expected: 3, actual: 2))
        let wide = Proto.tensor("w", dims: [2], type: 3, extra: Proto.packed(5, [1, 300]))
        #expect(try problem(single(wide)) == .valueOutOfRange(tensor: "w", value: 300))
        let wrongField = Proto.tensor("w", dims: [1], type: 1, extra: Proto.packed(7, [1]))
        #expect(try problem(single(wrongField)) == .dataFieldForType(tensor: "w", field: "int64_data", code: 1))
        let segmented = Proto.tensor("w", dims: [1], raw: Proto.floats([1]), extra: Proto.bytes(3, Proto.int(1, 0)))
        #expect(try problem(single(segmented)) == .segmentedTensor(tensor: "w"))
        let location = Proto.tensor("w", dims: [1], raw: Proto.floats([1]), extra: Proto.int(14, 7))
        #expect(try problem(single(location)) == .unknownDataLocation(tensor: "w", value: 7))
    }

    @Test func externalDataStaysInTheModelDirectory() throws {
        let outer = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: outer) }
        let dir = outer.appendingPathComponent("model")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data(Proto.floats([1, 2, 3, 4])).write(to: outer.appendingPathComponent("outside.bin"))
        try Data(Proto.floats([1, 2, 3, 4])).write(to: dir.appendingPathComponent("weights.bin"))
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("link.bin").path,
                                                   withDestinationPath: outer.appendingPathComponent("outside.bin").path)
        func external(_ entries: [(String, String)], dims: [Int64] = [2]) -> [UInt8] {
            single(Proto.tensor("w", dims: dims, extra: Proto.external(entries)))
        }
        for escaping in ["../outside.bin", outer.appendingPathComponent("outside.bin").path, "link.bin", "sub/../../outside.bin"] {
            #expect(try problem(external([("location", escaping)]), in: dir) == .externalDataOutsideDirectory(tensor: "w", location: escaping))
        }
        #expect(try problem(external([("location", "absent.bin")]), in: dir) == .externalDataMissing(tensor: "w", location: "absent.bin"))
        #expect(try problem(external([("offset", "0")]), in: dir) == .externalDataWithoutLocation(tensor: "w"))
        #expect(try problem(external([("location", "weights.bin"), ("offset", "-4")]), in: dir) == .externalDataBadNumber(tensor: "w", key: "offset", value: "-4"))
        #expect(try problem(external([("location", "weights.bin"), ("length", "eight")]), in: dir) == .externalDataBadNumber(tensor: "w", key: "length", value: "eight"))
        #expect(try problem(external([("location", "weights.bin"), ("offset", "12")]), in: dir)
                == .externalDataPastEnd(tensor: "w", location: "weights.bin", offset: 12, length: 8, fileSize: 16))
        #expect(try problem(external([("location", "weights.bin"), ("offset", String(Int.max))]), in: dir)
                == .externalDataPastEnd(tensor: "w", location: "weights.bin", offset: Int.max, length: 8, fileSize: 16))
        #expect(try problem(external([("location", "weights.bin"), ("length", "12")]), in: dir) == .externalDataLengthMismatch(tensor: "w", expected: 8, actual: 12))
        // Inside, with an offset: read from the mapping.
        let path = try writeONNX(external([("location", "weights.bin"), ("offset", "8"), ("length", "8")]), in: dir)
        let onnx = try ONNXFile.read(path)
        #expect(onnx.initializers.first?.floats() == [3, 4])
        #expect(onnx.externalFiles == [dir.appendingPathComponent("weights.bin").path])
    }

    @Test func quantizationParametersMustFitTheWeight() throws {
        let q = Proto.tensor("w_quantized", dims: [2, 3], type: 3, raw: [1, 2, 3, 4, 5, 6])
        let scale = Proto.tensor("w_scale", dims: [4], raw: Proto.floats([1, 1, 1, 1]))
        #expect(try problem(Proto.model(initializers: [q, scale])) == .quantizationShapeMismatch(tensor: "w_quantized", reason: "4 scales fit no axis of shape [2, 3]"))
        let zeroPoint = Proto.tensor("w_zero_point", dims: [2], type: 3, raw: [0, 0])
        let perRow = Proto.tensor("w_scale", dims: [3], raw: Proto.floats([1, 1, 1]))
        #expect(try problem(Proto.model(initializers: [q, perRow, zeroPoint])) == .quantizationShapeMismatch(tensor: "w_quantized", reason: "3 scales but 2 zero points"))
    }

    @Test func cyclesAndFanOutInTheGraphEnd() throws {
        // Identity nodes feeding themselves and each other, and 2,000 Cast nodes all reading and
        // writing the same value: the walk visits each value once.
        let w = Proto.tensor("w", dims: [2], raw: Proto.floats([1, 2]))
        var nodes = [Proto.node("Identity", inputs: ["w"], outputs: ["encoder.layer.0.output.dense.bias"]),
                     Proto.node("Identity", inputs: ["encoder.layer.0.output.dense.bias"], outputs: ["encoder.layer.0.output.dense.bias"]),
                     Proto.node("Identity", inputs: ["encoder.layer.0.output.dense.bias"], outputs: ["w"])]
        nodes += (0..<2000).map { _ in Proto.node("Cast", inputs: ["w"], outputs: ["w"]) }
        let path = try writeONNX(Proto.model(initializers: [w], nodes: nodes))
        let contents = try ONNXFormat.read(path)
        #expect(contents.tensors.map(\.name) == ["encoder.layer.0.output.dense.bias"])
    }

    @Test func theCLIRefusesInOneLine() throws {
        let truncated = try writeONNX([0x08, 0x80])
        expectInputError(try CLI.run(["params", truncated]), naming: truncated, containing: "varint")
        let mismatch = try writeONNX(single(Proto.tensor("w", dims: [2, 3], raw: Array(sixFloats.prefix(20)))))
        expectInputError(try CLI.run(["params", mismatch, "--json"]), naming: mismatch, containing: "raw_data is 20 bytes")
        let dir = TestPaths.temporaryDirectory()
        let escaping = try writeONNX(single(Proto.tensor("w", dims: [2], extra: Proto.external([("location", "../x.bin")]))), in: dir)
        expectInputError(try CLI.run(["diff", TinyCheckpoints.path("tiny-bert"), escaping]), naming: escaping, containing: "outside the model directory")
    }
}
