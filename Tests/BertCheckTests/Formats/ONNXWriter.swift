import Foundation
@testable import BertCheck

/// Protobuf bytes for tests: just enough to build ONNX models field by field, hostile ones included.
enum Proto {
    static func varint(_ value: UInt64) -> [UInt8] {
        var v = value, out: [UInt8] = []
        repeat {
            var byte = UInt8(v & 0x7F)
            v >>= 7
            if v != 0 { byte |= 0x80 }
            out.append(byte)
        } while v != 0
        return out
    }

    static func tag(_ field: Int, _ wireType: Int) -> [UInt8] { varint(UInt64(field << 3 | wireType)) }
    static func int(_ field: Int, _ value: Int64) -> [UInt8] { tag(field, 0) + varint(UInt64(bitPattern: value)) }
    static func bytes(_ field: Int, _ payload: [UInt8]) -> [UInt8] { tag(field, 2) + varint(UInt64(payload.count)) + payload }
    static func string(_ field: Int, _ text: String) -> [UInt8] { bytes(field, Array(text.utf8)) }
    static func packed(_ field: Int, _ values: [Int64]) -> [UInt8] {
        bytes(field, values.flatMap { varint(UInt64(bitPattern: $0)) })
    }

    static func floats(_ values: [Float]) -> [UInt8] {
        values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
    }

    // ONNX messages (field numbers from onnx.proto).

    static func tensor(_ name: String, dims: [Int64], type: Int64 = 1, raw: [UInt8]? = nil, extra: [UInt8] = []) -> [UInt8] {
        var out = string(8, name) + int(2, type)
        if !dims.isEmpty { out += packed(1, dims) }
        if let raw { out += bytes(9, raw) }
        return out + extra
    }

    static func external(_ entries: [(String, String)]) -> [UInt8] {
        entries.flatMap { bytes(13, string(1, $0.0) + string(2, $0.1)) } + int(14, 1)
    }

    static func node(_ op: String, name: String = "", inputs: [String], outputs: [String], extra: [UInt8] = []) -> [UInt8] {
        inputs.flatMap { string(1, $0) } + outputs.flatMap { string(2, $0) } + string(3, name) + string(4, op) + extra
    }

    static func model(initializers: [[UInt8]], nodes: [[UInt8]] = [], producer: String = "test") -> [UInt8] {
        let graph = nodes.flatMap { bytes(1, $0) } + string(2, "g") + initializers.flatMap { bytes(5, $0) }
        return int(1, 8) + string(2, producer) + bytes(7, graph)
    }
}

/// Writes bytes into a fresh directory and returns the file's path.
func writeONNX(_ bytes: [UInt8], named name: String = "model.onnx", in directory: URL? = nil) throws -> String {
    let dir = directory ?? TestPaths.temporaryDirectory()
    let path = dir.appendingPathComponent(name).path
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
}
