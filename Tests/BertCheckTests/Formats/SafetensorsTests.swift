import Foundation
import Testing
@testable import BertCheck



/// Reads `bytes` as a safetensors file, both fully and header-only, and returns the problem both
/// report (they must agree), or nil if the file is accepted.
func safetensorsProblem(_ bytes: [UInt8]) throws -> SafetensorsProblem? {
    let path = try temporaryFile(bytes)
    defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
    var viaRead: SafetensorsProblem?
    var viaHeader: SafetensorsProblem?
    do { _ = try SafetensorsFile.read(path) } catch let error as FileError {
        #expect(error.path == path)
        viaRead = error.problem as? SafetensorsProblem
        #expect(viaRead != nil, "unexpected problem type: \(error)")
    }
    do { _ = try SafetensorsFile.readHeader(path) } catch let error as FileError {
        viaHeader = error.problem as? SafetensorsProblem
    }
    #expect(viaRead == viaHeader, "read and readHeader disagree: \(String(describing: viaRead)) vs \(String(describing: viaHeader))")
    return viaRead
}

private let f32x2 = #"{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#

@Suite struct SafetensorsRuleTests {
    @Test func fileShorterThanHeaderLength() throws {
        #expect(try safetensorsProblem([1, 2, 3, 4, 5]) == .tooShortForHeaderLength(fileSize: 5))
        #expect(try safetensorsProblem([]) == .tooShortForHeaderLength(fileSize: 0))
    }

    @Test func headerLongerThanLimit() throws {
        let bytes = safetensorsBytes(header: "{}", declaredLength: 100_000_001)
        #expect(try safetensorsProblem(bytes) == .headerTooLarge(length: 100_000_001))
        let huge = safetensorsBytes(header: "{}", declaredLength: UInt64.max)
        #expect(try safetensorsProblem(huge) == .headerTooLarge(length: UInt64.max))
    }

    @Test func headerPastEndOfFile() throws {
        let bytes = safetensorsBytes(header: "{}", declaredLength: 1000)
        #expect(try safetensorsProblem(bytes) == .headerOutsideFile(length: 1000, fileSize: 10))
    }

    @Test func headerNotUTF8() throws {
        let header = Array(#"{"a\#u{7F}":"#.utf8).dropLast(2) + [0xFF, 0xFE] + Array(#"":{}}"#.utf8)
        #expect(try safetensorsProblem(safetensorsBytes(header: "", headerBytes: Array(header))) == .headerNotUTF8)
        // A lone continuation byte and an overlong encoding of "/".
        #expect(try safetensorsProblem(safetensorsBytes(header: "", headerBytes: Array("{\"".utf8) + [0x80] + Array("\":1}".utf8))) == .headerNotUTF8)
        #expect(try safetensorsProblem(safetensorsBytes(header: "", headerBytes: Array("{\"".utf8) + [0xC0, 0xAF] + Array("\":1}".utf8))) == .headerNotUTF8)
    }

    @Test func headerNotJSON() throws {
        for text in [#"{"w":"#, "{'w': 1}", #"{"w":{"dtype":"F32",}}"#, "{} x", "", #"{"a":01}"#, #"{"a":"\x"}"#] {
            let problem = try safetensorsProblem(safetensorsBytes(header: text))
            guard case .headerNotJSON? = problem else {
                Issue.record("\(text): expected headerNotJSON, got \(String(describing: problem))")
                continue
            }
        }
        // NUL padding (the Rust writer pads with spaces; NUL is not JSON whitespace).
        let nulPadded = safetensorsBytes(header: "", headerBytes: Array("{}".utf8) + [0, 0, 0, 0, 0, 0])
        guard case .headerNotJSON? = try safetensorsProblem(nulPadded) else { Issue.record("NUL padding accepted"); return }
    }

    @Test func duplicateTensorNameIsRejected() throws {
        let header = "{\"w\":\(f32x2),\"w\":\(f32x2)}"
        let problem = try safetensorsProblem(safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 8)))
        #expect(problem == .headerNotJSON(.duplicateKey("w", offset: #"{"w":"#.utf8.count + f32x2.utf8.count + 1)))
    }

    @Test func headerNotAnObject() throws {
        #expect(try safetensorsProblem(safetensorsBytes(header: "[1, 2]")) == .headerNotObject(kind: "array"))
        #expect(try safetensorsProblem(safetensorsBytes(header: "\"x\"")) == .headerNotObject(kind: "string"))
    }

    @Test func metadataMustMapStringsToStrings() throws {
        #expect(try safetensorsProblem(safetensorsBytes(header: #"{"__metadata__":{"format":"pt","n":1}}"#)) == .metadataNotStringMap(key: "n"))
        #expect(try safetensorsProblem(safetensorsBytes(header: #"{"__metadata__":"pt"}"#)) == .metadataNotStringMap(key: nil))
        #expect(try safetensorsProblem(safetensorsBytes(header: #"{"__metadata__":{"format":"pt"}}"#)) == nil)
    }

    @Test func tensorEntryMustHaveDTypeShapeAndOffsets() throws {
        let cases: [(String, String)] = [
            (#"{"w":5}"#, "not an object"),
            (#"{"w":{"shape":[2],"data_offsets":[0,8]}}"#, "no \"dtype\""),
            (#"{"w":{"dtype":"F32","data_offsets":[0,8]}}"#, "no \"shape\""),
            (#"{"w":{"dtype":"F32","shape":[2]}}"#, "no \"data_offsets\""),
            (#"{"w":{"dtype":32,"shape":[2],"data_offsets":[0,8]}}"#, "not a string"),
        ]
        for (header, reason) in cases {
            let problem = try safetensorsProblem(safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 8)))
            guard case let .malformedTensorEntry(tensor, text)? = problem, tensor == "w", text.contains(reason) else {
                Issue.record("\(header): expected malformed entry (\(reason)), got \(String(describing: problem))")
                continue
            }
        }
    }

    @Test func unknownDType() throws {
        let header = #"{"w":{"dtype":"Q4_K","shape":[2],"data_offsets":[0,8]}}"#
        #expect(try safetensorsProblem(safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 8))) == .unknownDType(tensor: "w", dtype: "Q4_K"))
    }

    @Test func shapeMustBeNonNegativeIntegers() throws {
        for shape in ["[2.0]", "[-2]", "[\"2\"]", "2", "[1e1]", "[18446744073709551616]", "[null]"] {
            let header = #"{"w":{"dtype":"F32","shape":\#(shape),"data_offsets":[0,8]}}"#
            #expect(try safetensorsProblem(safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 8))) == .shapeNotIntegers(tensor: "w"), "shape \(shape)")
        }
    }

    @Test func offsetsMustBeTwoNonNegativeIntegers() throws {
        for offsets in ["[0]", "[0,8,8]", "[0,8.0]", "[-8,0]", "\"0,8\"", "[0,\"8\"]"] {
            let header = #"{"w":{"dtype":"F32","shape":[2],"data_offsets":\#(offsets)}}"#
            #expect(try safetensorsProblem(safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 8))) == .offsetsNotIntegers(tensor: "w"), "offsets \(offsets)")
        }
    }

    @Test func beginAfterEnd() throws {
        let header = #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#
        #expect(try safetensorsProblem(safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 8))) == .beginAfterEnd(tensor: "w", begin: 8, end: 0))
    }

    @Test func elementCountOverflowIsCaught() throws {
        // 2^32 · 2^32 elements overflows Int64; so does 2^62 elements × 4 bytes.
        for shape in ["[4294967296,4294967296]", "[4611686018427387904]", "[3037000500,3037000500,1]"] {
            let header = #"{"w":{"dtype":"F32","shape":\#(shape),"data_offsets":[0,8]}}"#
            #expect(try safetensorsProblem(safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 8))) == .sizeOverflow(tensor: "w"), "shape \(shape)")
        }
        // A zero dimension makes the product 0 whatever the others are.
        let empty = #"{"w":{"dtype":"F32","shape":[0,9223372036854775807],"data_offsets":[0,0]}}"#
        #expect(try safetensorsProblem(safetensorsBytes(header: empty)) == nil)
    }

    @Test func byteLengthMustMatchShapeAndDType() throws {
        let header = #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#
        #expect(try safetensorsProblem(safetensorsBytes(header: header, data: [0, 0, 0, 0])) == .byteLengthMismatch(tensor: "w", expected: 8, actual: 4))
    }

    @Test func overlappingTensors() throws {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        #expect(try safetensorsProblem(safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 12))) == .overlappingTensors(tensor: "b", previous: "a"))
        // Two names for the same bytes (safetensors forbids shared storage).
        let aliased = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        #expect(try safetensorsProblem(safetensorsBytes(header: aliased, data: [UInt8](repeating: 0, count: 8))) == .overlappingTensors(tensor: "b", previous: "a"))
    }

    @Test func holeBetweenOrBeforeTensors() throws {
        let between = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        #expect(try safetensorsProblem(safetensorsBytes(header: between, data: [UInt8](repeating: 0, count: 12))) == .holeBeforeTensor(tensor: "b", gapStart: 4, gapEnd: 8))
        let before = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        #expect(try safetensorsProblem(safetensorsBytes(header: before, data: [UInt8](repeating: 0, count: 8))) == .holeBeforeTensor(tensor: "a", gapStart: 0, gapEnd: 4))
    }

    @Test func tensorPastEndOfFile() throws {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        #expect(try safetensorsProblem(safetensorsBytes(header: header, data: [0, 0, 0, 0])) == .tensorPastEndOfFile(tensor: "a", end: 8, bufferSize: 4))
    }

    @Test func bufferMustEndAtEndOfFile() throws {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        #expect(try safetensorsProblem(safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 8))) == .bytesAfterLastTensor(end: 4, bufferSize: 8))
        #expect(try safetensorsProblem(safetensorsBytes(header: "{}", data: [1])) == .bytesAfterLastTensor(end: 0, bufferSize: 1))
    }

    @Test func validFileWithTrailingSpacesAndTensorsOutOfOrderIsAccepted() throws {
        // Header entries in any order; the data tiles the buffer once sorted.
        let header = #"{"b":{"dtype":"I8","shape":[2],"data_offsets":[4,6]},"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"e":{"dtype":"F32","shape":[0,3],"data_offsets":[6,6]}}   "#
        let data: [UInt8] = [0, 0, 0x80, 0x3F, 0xFF, 7]
        let path = try temporaryFile(safetensorsBytes(header: header, data: data))
        let (tensors, metadata) = try SafetensorsFile.read(path)
        #expect(metadata.isEmpty)
        #expect(tensors.map(\.name) == ["a", "b", "e"])
        #expect(tensors[0].floats() == [1.0])
        #expect(tensors[0].shapeDescription == "()")
        #expect(tensors[1].int64s() == [-1, 7])
        #expect(tensors[2].elementCount == 0)
    }

    @Test func missingFileIsAFileError() throws {
        #expect(throws: FileError.self) { try SafetensorsFile.read("/nonexistent/model.safetensors") }
        #expect(throws: FileError.self) { try SafetensorsFile.readHeader("/nonexistent/model.safetensors") }
    }
}

@Suite struct SafetensorsWriterTests {
    @Test func roundTripKeepsOrderBytesAndMetadata() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("out.safetensors").path
        let half: [UInt16] = [0x3C00, 0xC000]
        let tensors = [
            Tensor.makeTensor(name: "z.weight", floats: [1, -2.5, 3, .infinity, 0, 6], shape: [2, 3]),
            Tensor.makeTensor(name: "ids", int64s: [101, 2023, 102], shape: [1, 3]),
            half.withUnsafeBytes { Tensor.makeTensor(name: "h", dtype: .F16, shape: [2], bytes: $0) },
            Tensor.makeTensor(name: "scalar \"quoted\"\n", floats: [42], shape: []),
        ]
        let metadata = ["format": "pt", "texts": "[\"a \\\"b\\\"\", \"é\"]"]
        try SafetensorsWriter.write(tensors, metadata: metadata, to: path)

        let raw = try Data(contentsOf: URL(fileURLWithPath: path))
        let length = raw.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect(length % 8 == 0, "header padded to 8 bytes")
        #expect(raw[8 + length - 1] == UInt8(ascii: " ") || raw[8 + length - 1] == UInt8(ascii: "}"))

        let (back, backMetadata) = try SafetensorsFile.read(path)
        #expect(backMetadata == metadata)
        #expect(back.map(\.name) == tensors.map(\.name))
        for (a, b) in zip(back, tensors) {
            #expect(a.dtype == b.dtype)
            #expect(a.shape == b.shape)
            #expect(Array(a.data) == Array(b.data))
        }
        #expect(back[0].floats() == [1, -2.5, 3, .infinity, 0, 6])
        #expect(back[1].int64s() == [101, 2023, 102])
        #expect(back[2].floats() == [1, -2])
        // Nothing but the file is left in the directory (the temporary file was renamed).
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["out.safetensors"])
    }

    @Test func f16AndBF16ConvertToFloat() throws {
        let f16: [UInt16] = [0x3C00, 0xC000, 0x7BFF, 0x0001, 0x7C00, 0xFC00, 0x3555]
        let bf16: [UInt16] = [0x3F80, 0xC040, 0x7F80, 0x4049, 0x0001, 0xBF00]
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("half.safetensors").path
        try SafetensorsWriter.write([
            f16.withUnsafeBytes { Tensor.makeTensor(name: "f16", dtype: .F16, shape: [7], bytes: $0) },
            bf16.withUnsafeBytes { Tensor.makeTensor(name: "bf16", dtype: .BF16, shape: [2, 3], bytes: $0) },
        ], metadata: [:], to: path)
        let (tensors, _) = try SafetensorsFile.read(path)
        #expect(tensors[0].floats() == [1, -2, 65504, Float(bitPattern: 0x3380_0000), .infinity, -.infinity, 0.333251953125])
        #expect(tensors[1].floats() == [1, -3, .infinity, 3.140625, Float(bitPattern: 0x0001_0000), -0.5])
        tensors[1].withFloats { #expect(Array($0) == [1, -3, .infinity, 3.140625, Float(bitPattern: 0x0001_0000), -0.5]) }
    }

    @Test func writerRefusesInconsistentTensorsAndLeavesNothing() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("bad.safetensors").path
        #expect(throws: FileError.self) {
            try SafetensorsWriter.write([Tensor.makeTensor(name: "w", floats: [1, 2, 3], shape: [2, 2])], metadata: [:], to: path)
        }
        #expect(throws: FileError.self) {
            try SafetensorsWriter.write([Tensor.makeTensor(name: "w", floats: [1], shape: [1]),
                                         Tensor.makeTensor(name: "w", floats: [1], shape: [1])], metadata: [:], to: path)
        }
        #expect(throws: FileError.self) {
            try SafetensorsWriter.write([Tensor.makeTensor(name: "w", floats: [1], shape: [1])], metadata: [:], to: dir.path + "/missing/x.safetensors")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test func overwriteReplacesAtomically() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("x.safetensors").path
        try SafetensorsWriter.write([Tensor.makeTensor(name: "a", floats: [1, 2], shape: [2])], metadata: [:], to: path)
        try SafetensorsWriter.write([Tensor.makeTensor(name: "b", floats: [3], shape: [1])], metadata: ["k": "v"], to: path)
        let (tensors, metadata) = try SafetensorsFile.read(path)
        #expect(tensors.map(\.name) == ["b"])
        #expect(metadata == ["k": "v"])
    }

    @Test func readsTheRealMiniLMZeroCopy() throws {
        let path = TestPaths.miniLM + "/model.safetensors"
        let (tensors, _) = try SafetensorsFile.read(path)
        #expect(tensors.count >= 101)
        let header = try SafetensorsFile.readHeader(path)
        #expect(header.entries.map(\.name) == tensors.map(\.name))
        guard let word = tensors.first(where: { $0.name.hasSuffix("word_embeddings.weight") }) else {
            Issue.record("no word embeddings"); return
        }
        #expect(word.shape == [30522, 384])
        // Zero-copy: the tensor points into the mapping.
        #expect(word.storage is MappedFile)
    }
}


@Suite struct SafetensorsHeaderOnlyTests {
    @Test func headerBytesShorterThanClaimedAreRefusedNotTrapped() throws {
        let bytes = safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])
        // Only the first 20 bytes given, while the file is said to be long enough.
        let problem = Array(bytes.prefix(20)).withUnsafeBytes { raw -> SafetensorsProblem? in
            do { _ = try SafetensorsFile.parseHeader(raw, fileSize: 1000); return nil } catch { return error as? SafetensorsProblem }
        }
        guard case .headerOutsideFile? = problem else { Issue.record("got \(String(describing: problem))"); return }
    }
}
