import Foundation
import Testing
@testable import BertCheck

// Issue 18, defects 7, 8, 14, 15, 16: non-finite values always fail, one truncation rule, stdout
// write errors, clearer messages, negative flag values.

/// A copy of the tiny model whose first query matrix holds a NaN: every output is then NaN.
func nanModelCopy(_ root: URL) throws -> String {
    let model = try tinyModelCopy(root, name: "nan-model")
    let weights = model + "/model.safetensors"
    var tensors = try SafetensorsFile.read(weights).tensors
    guard let index = tensors.firstIndex(where: { $0.name.hasSuffix("layer.0.attention.self.query.weight") }) else {
        Issue.record("no query weight in the tiny model")
        return model
    }
    var values = tensors[index].floats()
    values[0] = .nan
    tensors[index] = Tensor.makeTensor(name: tensors[index].name, floats: values, shape: tensors[index].shape)
    let copies = tensors.map { Tensor.makeTensor(name: $0.name, floats: $0.floats(), shape: $0.shape) }
    try FileManager.default.removeItem(atPath: weights)
    try SafetensorsWriter.write(copies, metadata: [:], to: weights)
    return model
}

func writeTexts(_ root: URL, _ json: String = #"["a tiny text", ["a pair", "of texts"]]"#) throws -> String {
    let path = root.appendingPathComponent("texts.json").path
    try Data(json.utf8).write(to: URL(fileURLWithPath: path))
    return path
}

@Suite struct NonFiniteVerdictTests {
    @Test func recordRefusesToWriteNonFiniteOutputs() throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let model = try nanModelCopy(root)
        let out = root.appendingPathComponent("golden.safetensors").path
        let result = try CLI.run(["record", model, "--texts-file", writeTexts(root), "--out", out])
        expectInputError(result, naming: model, containing: "non-finite value")
        #expect(result.stderr.contains("hidden_states") || result.stderr.contains("last_hidden_state"))
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func runReportsNonFiniteOutputsAsAFailureAndWritesNoGolden() throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let model = try nanModelCopy(root)
        let out = root.appendingPathComponent("golden.safetensors").path
        let result = try CLI.run(["run", model, "a tiny text", "--out", out])
        #expect(result.status == 1, "exit \(result.status): \(result.stderr)")
        #expect(result.stderr.contains("non-finite value") && result.stderr.contains(model))
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func similarityOfNonFiniteVectorsIsAFailure() throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let result = try CLI.run(["similarity", try nanModelCopy(root), "a tiny text", "another text"])
        #expect(result.status == 1, "exit \(result.status): \(result.stderr)")
        #expect(result.stderr.contains("non-finite value"))
    }

    /// A NaN golden (written by another tool) against a NaN model: NaN == NaN is no match.
    @Test func verifyFailsANaNGoldenAgainstANaNModel() throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let good = try tinyModelCopy(root)
        var golden = try recordGolden(modelPath: good, texts: [TextItem("a tiny text")], hiddenStates: false)
        for (name, array) in golden.outputs.tensors {
            golden.outputs[name] = FloatArray(shape: array.shape, values: [Float](repeating: .nan, count: array.values.count))
        }
        let path = root.appendingPathComponent("nan.safetensors").path
        try golden.write(to: path)
        let result = try CLI.run(["verify", "--golden", path, "--model", try nanModelCopy(root)])
        #expect(result.status == 1, "exit \(result.status): \(result.stderr)")
        #expect(result.stdout.contains("non-finite values (NaN/Inf) in the golden"))
    }

    @Test func allNaNAgainstAllNaNFails() {
        let nan = FloatArray(shape: [1, 2, 4], values: [Float](repeating: .nan, count: 8))
        let r = compareTensor(name: "last_hidden_state", expected: nan, actual: nan, layout: TokenLayout(batch: 1, seq: 2, mask: nil),
                              perToken: true, tolerance: Tolerance(atol: 1, rtol: 1), minCosine: nil)
        #expect(r.status == .fail && r.nonFiniteGolden == 8 && r.mismatched == 8)
        let inf = FloatArray(shape: [1, 1, 2], values: [.infinity, -.infinity])
        let same = compareTensor(name: "pooler_output", expected: inf, actual: inf, layout: TokenLayout(batch: 1, seq: 1, mask: nil),
                                 perToken: false, tolerance: Tolerance(atol: 1, rtol: 1), minCosine: nil)
        #expect(same.status == .fail && same.nonFiniteGolden == 2)
    }
}

@Suite struct TruncationRuleTests {
    /// `run --out` and `verify` truncate alike: model_max_length 8 below 48 positions.
    @Test func aGoldenFromRunVerifiesOnTheSameModel() throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let model = try tinyModelCopy(root)
        let config = model + "/tokenizer_config.json"
        let text = try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(of: "\"model_max_length\": 48", with: "\"model_max_length\": 8")
        try Data(text.utf8).write(to: URL(fileURLWithPath: config))
        let out = root.appendingPathComponent("run.safetensors").path
        let long = Array(repeating: "a tiny text", count: 20).joined(separator: " ")
        let run = try CLI.run(["run", model, long, "--out", out])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try GoldenFile.read(out).seq == 8)
        let verify = try CLI.run(["verify", "--golden", out, "--model", model])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }
}

@Suite struct OutputWriteTests {
    @Test func aFullStdoutIsExitTwoWithAMessage() throws {
        let process = Process()
        process.executableURL = CLI.executable
        process.arguments = ["params", TestPaths.goldens.appendingPathComponent("models/tiny-bert").path]
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/full")
        let err = Pipe()
        process.standardError = err
        try process.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 2, "\(process.terminationStatus) \(stderr)")
        #expect(stderr.contains("stdout: cannot write the output: No space left on device"), "\(stderr)")
    }

    @Test func aClosedPipeIsExitTwoWithAMessage() throws {
        let process = Process()
        process.executableURL = CLI.executable
        process.arguments = ["params", TestPaths.goldens.appendingPathComponent("models/tiny-bert").path]
        let out = Pipe(), err = Pipe()
        try out.fileHandleForReading.close()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        try out.fileHandleForWriting.close()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 2, "\(process.terminationStatus) \(stderr)")
        #expect(stderr.contains("stdout: cannot write the output: Broken pipe"), "\(stderr)")
    }
}

@Suite struct ClearMessageTests {
    @Test func aVocabularyLongerThanVocabSizeNamesBothFiles() throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let model = try tinyModelCopy(root)
        let vocab = model + "/vocab.txt"
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: vocab))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("zebra\nquokka\n".utf8))
        try handle.close()
        for arguments in [["run", model, "zebra quokka"], ["similarity", model, "zebra", "quokka"]] {
            let result = try CLI.run(arguments)
            expectInputError(result, naming: vocab, containing: "has 78 tokens but \(model)/config.json says vocab_size 76")
        }
    }

    @Test func modelMaxLengthOneIsRefused() throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let model = try tinyModelCopy(root)
        let config = model + "/tokenizer_config.json"
        let text = try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(of: "\"model_max_length\": 48", with: "\"model_max_length\": 1")
        try Data(text.utf8).write(to: URL(fileURLWithPath: config))
        expectInputError(try CLI.run(["tokenize", model, "hello"]), naming: config, containing: "must be at least 2")
    }

    @Test(arguments: ["dangling", "looping"]) func aBrokenConfigSymlinkIsRefused(_ kind: String) throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let model = try tinyModelCopy(root)
        let config = model + "/config.json"
        try FileManager.default.removeItem(atPath: config)
        try FileManager.default.createSymbolicLink(atPath: config, withDestinationPath: kind == "dangling" ? model + "/gone.json" : config)
        let rule = kind == "dangling" ? "No such file or directory" : "Too many levels of symbolic links"
        expectInputError(try CLI.run(["params", model]), naming: config, containing: rule)
    }

    @Test func aVocabSizeBeyond64BitsIsCalledTooLarge() throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let model = try tinyModelCopy(root)
        let config = model + "/config.json"
        let text = try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(of: "\"vocab_size\": 76", with: "\"vocab_size\": 9223372036854775808")
        try Data(text.utf8).write(to: URL(fileURLWithPath: config))
        expectInputError(try CLI.run(["params", model]), naming: config, containing: "9223372036854775808 is an integer too large for 64 bits")
    }
}

@Suite struct NegativeFlagTests {
    static let model = TestPaths.goldens.appendingPathComponent("models/tiny-bert").path

    @Test(arguments: [
        (["diff", model, model, "--atol", "-1"], "--atol -1.0: must be a number at least 0, or inf for no elementwise bound"),
        (["diff", model, model, "--rtol", "-0.5"], "--rtol -0.5: must be a number at least 0, or inf for no elementwise bound"),
        (["diff", model, model, "--min-cosine", "-2"], "--min-cosine -2.0: must be a number from -1 to 1"),
        (["run", model, "hi", "--threads", "-2"], "--threads -2: must be from 1 to 1024"),
        (["bench", model, "--batch", "-1"], "batch"),
    ])
    func aNegativeValueGetsTheRealRule(_ arguments: [String], _ rule: String) throws {
        let result = try CLI.run(arguments)
        #expect(result.status == 2 && !result.signaled, "\(result.status) \(result.stderr)")
        #expect(!result.stderr.contains("Missing value"), "\(result.stderr)")
        #expect(result.stderr.contains(rule), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
    }
}

@Suite struct DiffDuplicateTests {
    /// A garbage `bert.pooler.dense.weight` beside the real `pooler.dense.weight`: `params` fails
    /// it, and so must `diff`, whichever copy it would otherwise have compared.
    @Test func aParameterStoredTwiceFailsDiffAsItFailsParams() throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let good = TestPaths.goldens.appendingPathComponent("models/tiny-bert").path
        let model = try tinyModelCopy(root)
        let weights = model + "/model.safetensors"
        var tensors = try SafetensorsFile.read(weights).tensors.map { Tensor.makeTensor(name: $0.name, floats: $0.floats(), shape: $0.shape) }
        tensors.append(Tensor.makeTensor(name: "bert.pooler.dense.weight", floats: [Float](repeating: 7, count: 32 * 32), shape: [32, 32]))
        try FileManager.default.removeItem(atPath: weights)
        try SafetensorsWriter.write(tensors, metadata: [:], to: weights)
        #expect(try CLI.run(["params", model]).status == 1)
        for (a, b) in [(good, model), (model, good)] {
            let result = try CLI.run(["diff", a, b])
            #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
            #expect(result.stdout.contains("Stored twice in \(model): pooler.dense.weight as pooler.dense.weight and bert.pooler.dense.weight"), "\(result.stdout)")
            #expect(result.stdout.contains("1 stored twice"))
        }
    }
}

@Suite struct ShadowingOutputTests {
    /// `record DIR --out DIR/model.safetensors` beside a pytorch_model.bin would make the golden
    /// the model's weights on the next run (safetensors is searched first).
    @Test(arguments: ["model.safetensors", "tokenizer.json", "vocab.txt", "model.safetensors.index.json"])
    func anOutputThatWouldBecomeAModelInputIsRefused(_ name: String) throws {
        let root = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let model = root.appendingPathComponent("bin").path
        try FileManager.default.copyItem(atPath: TinyCheckpoints.path("tiny-bert-bin"), toPath: model)
        try? FileManager.default.copyItem(atPath: TestPaths.goldens.appendingPathComponent("models/tiny-bert/vocab.txt").path, toPath: model + "/vocab.txt")
        if name == "vocab.txt" { try FileManager.default.removeItem(atPath: model + "/vocab.txt") }
        let before = try FileManager.default.contentsOfDirectory(atPath: model).sorted()
        let out = model + "/" + name
        let result = try CLI.run(["record", model, "--texts-file", writeTexts(root), "--out", out])
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains("would become an input of the model"), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: model).sorted() == before)
        let run = try CLI.run(["run", model, "a tiny text", "--out", out])
        #expect(run.status == 2 && run.stderr.contains("would become an input of the model"), "\(run.stderr)")
    }
}
