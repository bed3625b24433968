import Foundation
import Testing
@testable import BertCheck

/// The format table: detection by signature before name, and a clear word when a file is handed
/// to a reader of another format.
@Suite struct FormatRegistryTests {
    func write(_ bytes: [UInt8], named name: String) throws -> String {
        let path = TestPaths.temporaryDirectory().appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// 24 bytes a GGUF v3 file starts with: magic, version, tensor count, metadata count.
    let ggufHead: [UInt8] = Array("GGUF".utf8) + [3, 0, 0, 0] + [1] + [UInt8](repeating: 0, count: 7) + [2] + [UInt8](repeating: 0, count: 7)

    @Test func theSignatureWinsOverTheName() throws {
        // safetensors bytes under a torch.save name are read as safetensors.
        let safetensors = try Data(contentsOf: URL(fileURLWithPath: TinyCheckpoints.path("tiny-bert") + "/model.safetensors"))
        let renamed = try write(Array(safetensors), named: "pytorch_model.bin")
        #expect(try CheckpointFormats.reader(for: renamed).format == .safetensors)
        // A zip under a .safetensors name is read as a PyTorch checkpoint.
        let zip = try Data(contentsOf: URL(fileURLWithPath: TinyCheckpoints.path("tiny-bert-bin") + "/pytorch_model.bin"))
        #expect(try CheckpointFormats.reader(for: write(Array(zip), named: "model.safetensors")).format == .pytorchZip)
        // An .npz is a zip too, but its name decides.
        #expect(try CheckpointFormats.reader(for: write(Array(zip), named: "weights.npz")).format == .npz)
    }

    @Test func everyRegisteredFormatHasADistinctName() {
        let names = CheckpointFormats.registered.map { reader in reader.format.rawValue }
        #expect(Set(names).count == names.count)
        #expect(CheckpointFormats.registered.allSatisfy { reader in !reader.displayName.isEmpty })
    }

    @Test func aFileOfAnotherFormatIsNamedAsSuch() throws {
        // Under the name a user would give it: refused up front, naming what it is.
        let gguf = try write(ggufHead + [UInt8](repeating: 0, count: 64), named: "model.gguf")
        if !CheckpointFormats.registered.contains(where: { $0.match(path: gguf, head: ggufHead) != nil }) {
            let problem = fileProblem(FormatProblem.self) { _ = try loadCheckpoint(gguf) }
            #expect(problem?.problem == .unsupported(looksLike: "a GGUF file (llama.cpp)"))
            #expect(problem?.path == gguf)
        }
        // Handed to the safetensors reader (a golden, a model.safetensors): not a header length.
        let misnamed = try write(ggufHead + [UInt8](repeating: 0, count: 64), named: "model.safetensors")
        let problem = fileProblem(SafetensorsProblem.self) { _ = try SafetensorsFile.read(misnamed) }
        #expect(problem?.problem == .otherFormat(looksLike: "a GGUF file (llama.cpp)"))
        let headerOnly = fileProblem(SafetensorsProblem.self) { _ = try SafetensorsFile.readHeader(misnamed) }
        #expect(headerOnly?.problem == .otherFormat(looksLike: "a GGUF file (llama.cpp)"))

        // ONNX is read now: these bytes (ir_version 7, producer "pytorch", then zeros) go to the
        // ONNX reader, which names the broken rule (field number 0 after the producer name).
        let onnx = try write([0x08, 0x07, 0x12, 0x07] + Array("pytorch".utf8) + [UInt8](repeating: 0, count: 40), named: "model.onnx")
        #expect(try CheckpointFormats.reader(for: onnx).format == .onnx)
        let onnxProblem = fileProblem(ONNXProblem.self) { _ = try loadCheckpoint(onnx) }
        #expect(onnxProblem?.problem == .wire(.invalidFieldNumber(offset: 11, number: 0), in: "ModelProto"))
        #expect(onnxProblem?.path == onnx)
    }

    @Test func theCLINamesTheFormatInOneLine() throws {
        let path = try write(ggufHead + [UInt8](repeating: 0, count: 64), named: "model.safetensors")
        let result = try CLI.run(["params", path])
        expectInputError(result, naming: path, containing: "GGUF")
    }

    @Test func configBesideTheWeightsMustAgreeWithTheFormatsOwn() {
        var a = BertConfig(), b = BertConfig()
        #expect(a.firstStructuralDifference(from: b) == nil)
        b.hiddenSize = 384
        #expect(a.firstStructuralDifference(from: b)! == ("hidden_size", "768", "384"))
        a.hiddenSize = 384
        a.architectures = ["BertModel"]
        #expect(a.firstStructuralDifference(from: b) == nil)
    }
}
