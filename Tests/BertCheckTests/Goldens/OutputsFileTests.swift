import Foundation
import Testing
@testable import BertCheck

/// `verify --outputs` on files as other runtimes write them (issue 15, items 2 and 3): --map,
/// hidden_states_N, a stacked hidden_states, unrecognised tensors, the runtime's input_ids, a
/// vocabulary or model beside the outputs, per-row results. The .npz files are made by
/// Scripts/make_outputs_fixtures.py from the committed tiny golden.
@Suite struct OutputsFileTests {
    static var tinyGolden: String { GoldenFormatTests.tinyGolden }
    static var tinyModel: String { VerifyCommandTests.tinyModel }
    static func fixture(_ name: String) -> String { GoldenFormatTests.fixtures.appendingPathComponent(name).path }

    static func verify(_ outputs: String, _ extra: [String] = []) throws -> (CLIResult, JSONValue?) {
        let result = try CLI.run(["verify", "--golden", tinyGolden, "--outputs", outputs, "--json"] + extra)
        return (result, try? StrictJSON.parse(Array(result.stdout.utf8)))
    }

    static func names(_ report: JSONValue?) -> [String] { report?["checks"]?.elements?.compactMap { $0["name"]?.string } ?? [] }

    static func write(_ outputs: ModelOutputs, to path: String) throws {
        try SafetensorsWriter.write(outputs.namesInStackOrder.compactMap { name in
            outputs[name].map { Tensor.makeTensor(name: name, floats: $0.values, shape: $0.shape) }
        }, metadata: [:], to: path)
    }

    @Test func exporterNamesAreReadWithMap() throws {
        let file = Self.fixture("tiny-bert.outputs-exporter-names.npz")
        let (result, report) = try Self.verify(file, ["--map", "last_hidden_state=output_0", "--map", "pooler_output=output_1"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        // hidden_states_N read as hidden_states.N; the ids the runtime ran are checked.
        #expect(Self.names(report) == ["input_ids", "hidden_states.0", "hidden_states.1", "hidden_states.2", "hidden_states.3",
                                       "last_hidden_state", "pooler_output"])
        let notes = report?["notes"]?.elements?.compactMap(\.string) ?? []
        #expect(notes.contains { $0.contains("not compared") && $0.contains("'attentions.0'") }, "\(notes)")
        #expect(notes.contains { $0.contains("output_0 as last_hidden_state") && $0.contains("hidden_states_3 as hidden_states.3") }, "\(notes)")

        // Without --map the required output is missing: one line naming the file and what it holds.
        let missing = try CLI.run(["verify", "--golden", Self.tinyGolden, "--outputs", file])
        expectInputError(missing, naming: file, containing: "no tensor 'last_hidden_state'")
        #expect(missing.stderr.contains("'output_0'") && missing.stderr.contains("'hidden_states_2'") && missing.stderr.contains("--map last_hidden_state="))
        // A --map naming a tensor the file lacks lists what it holds too.
        let typo = try CLI.run(["verify", "--golden", Self.tinyGolden, "--outputs", file, "--map", "last_hidden_state=output_9"])
        expectInputError(typo, naming: file, containing: "no tensor 'output_9' for --map last_hidden_state=output_9")
        #expect(typo.stderr.contains("'output_1'"))
        // Their last_hidden_state given to another golden name: the message says where it went.
        let runtime = TestPaths.goldens.appendingPathComponent("runtimes/tiny-bert.onnxruntime-fp32.safetensors").path
        let taken = try CLI.run(["verify", "--golden", Self.tinyGolden, "--outputs", runtime, "--map", "pooler_output=last_hidden_state"])
        expectInputError(taken, naming: runtime, containing: "the file's 'last_hidden_state' is read as pooler_output by --map pooler_output=last_hidden_state")
    }

    /// The dtype each output was stored as is kept (F16 arrays select the fp16 profile), for
    /// stacked and renamed tensors too.
    @Test func storedDTypesFollowTheGoldenNames() throws {
        let golden = try GoldenFile.read(Self.tinyGolden)
        let stacked = try readOutputsFile(Self.fixture("tiny-bert.outputs-stacked.npz"), for: golden)
        #expect(stacked.outputs.storedDTypes["hidden_states.3"] == .F32 && stacked.outputs.storedDTypes.count == 6)
        let f64 = try readOutputsFile(Self.fixture("tiny-bert.outputs-f64.npz"), for: golden)
        #expect(f64.outputs.storedDTypes == ["last_hidden_state": .F64, "pooler_output": .F64])
        let renamed = try readOutputsFile(Self.fixture("tiny-bert.outputs-exporter-names.npz"), for: golden,
                                          names: ["last_hidden_state": "output_0"])
        #expect(renamed.outputs.storedDTypes["last_hidden_state"] == .F32 && renamed.outputs.storedDTypes["output_0"] == nil)
    }

    @Test func mapValuesAreCheckedBeforeReading() throws {
        for (value, words) in [("last_hidden_state", "GOLDEN_NAME=THEIR_NAME"), ("=output_0", "GOLDEN_NAME=THEIR_NAME"),
                               ("last_hiden_state=output_0", "not a golden tensor name")] {
            let result = try CLI.run(["verify", "--golden", Self.tinyGolden, "--outputs", Self.tinyGolden, "--map", value])
            #expect(result.status == 2 && result.stdout.isEmpty)
            #expect(result.stderr.split(separator: "\n").count == 1 && result.stderr.contains("--map") && result.stderr.contains(words), "\(result.stderr)")
        }
        let twice = try CLI.run(["verify", "--golden", Self.tinyGolden, "--outputs", Self.tinyGolden,
                                 "--map", "pooler_output=a", "--map", "pooler_output=b"])
        #expect(twice.status == 2 && twice.stderr.contains("already maps"), "\(twice.stderr)")
        let withModel = try CLI.run(["verify", "--golden", Self.tinyGolden, "--model", Self.tinyModel, "--map", "pooler_output=a"])
        #expect(withModel.status == 2 && withModel.stderr.contains("--map goes with --outputs"))
        let vocabAlone = try CLI.run(["verify", "--golden", Self.tinyGolden, "--model", Self.tinyModel, "--vocab", Self.tinyModel])
        #expect(vocabAlone.status == 2 && vocabAlone.stderr.contains("--vocab goes with --outputs"), "\(vocabAlone.stderr)")
        let both = try CLI.run(["verify", "--golden", Self.tinyGolden, "--outputs", Self.tinyGolden, "--model", Self.tinyModel, "--vocab", Self.tinyModel])
        #expect(both.status == 2 && both.stderr.contains("not both"), "\(both.stderr)")
    }

    @Test func stackedHiddenStatesAreSplit() throws {
        let (result, report) = try Self.verify(Self.fixture("tiny-bert.outputs-stacked.npz"))
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(Self.names(report) == ["hidden_states.0", "hidden_states.1", "hidden_states.2", "hidden_states.3",
                                       "last_hidden_state", "pooler_output"])
        #expect(VerifyCommandTests.check(report ?? .null, "hidden_states.2")?["max_abs_err"]?.double == 0)

        // A stack that does not fit the golden, and a hidden state given twice, are refused.
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let golden = try GoldenFile.read(Self.tinyGolden)
        let state = golden.outputs.hiddenStates[1]?.values ?? []
        let wrong = dir.appendingPathComponent("wrong.safetensors").path
        try SafetensorsWriter.write([
            Tensor.makeTensor(name: "last_hidden_state", floats: golden.outputs.lastHiddenState.values, shape: [golden.batch, golden.seq, golden.hidden]),
            Tensor.makeTensor(name: "hidden_states", floats: state, shape: [golden.seq, golden.batch, golden.hidden, 1]),
        ], metadata: [:], to: wrong)
        expectInputError(try CLI.run(["verify", "--golden", Self.tinyGolden, "--outputs", wrong]), naming: wrong,
                         containing: "expected [layers+1, 5, 17, 32]")
        let twice = dir.appendingPathComponent("twice.safetensors").path
        try SafetensorsWriter.write([
            Tensor.makeTensor(name: "last_hidden_state", floats: golden.outputs.lastHiddenState.values, shape: [golden.batch, golden.seq, golden.hidden]),
            Tensor.makeTensor(name: "hidden_states.1", floats: state, shape: [golden.batch, golden.seq, golden.hidden]),
            Tensor.makeTensor(name: "hidden_states_1", floats: state, shape: [golden.batch, golden.seq, golden.hidden]),
        ], metadata: [:], to: twice)
        expectInputError(try CLI.run(["verify", "--golden", Self.tinyGolden, "--outputs", twice]), naming: twice,
                         containing: "'hidden_states.1' and 'hidden_states_1' are both read as hidden_states.1")
    }

    @Test func otherTokenIdsFailNamingRowTextAndTokens() throws {
        let file = Self.fixture("tiny-bert.outputs-retokenized.npz")
        let golden = try GoldenFile.read(Self.tinyGolden)
        // Ids only: the lists are ids.
        let (plain, plainReport) = try Self.verify(file)
        #expect(plain.status == 1)
        let ids = VerifyCommandTests.check(plainReport ?? .null, "input_ids")
        #expect(ids?["rows"]?.elements?.map { $0["status"]?.string } == ["pass", "pass", "fail", "pass", "pass"])
        let text = golden.metadata.texts?[2].text ?? "?"
        #expect(ids?["message"]?.string?.contains("row 2 (text \(StrictJSON.quote(text)))") == true, "\(ids?["message"]?.string ?? "")")
        #expect(ids?["message"]?.string?.contains("the runtime ran [\(golden.inputIds[2 * golden.seq]), \(golden.inputIds[2 * golden.seq + 1]), 1,") == true)
        // With a vocabulary (or the model), token texts.
        for extra in [["--vocab", Self.tinyModel], ["--model", Self.tinyModel]] {
            let (result, report) = try Self.verify(file, extra)
            #expect(result.status == 1, "\(extra) \(result.stderr)")
            let message = VerifyCommandTests.check(report ?? .null, "input_ids")?["message"]?.string ?? ""
            #expect(message.contains("the runtime ran ['[CLS]', ") && message.contains("'[UNK]'"), "\(extra): \(message)")
            // The outputs themselves are the golden's: only the ids fail.
            #expect(report?["checks"]?.elements?.filter { $0["status"]?.string == "fail" }.count == 1)
        }
    }

    /// A runtime that tokenized the texts itself pads to its own longest row (llama.cpp's dump):
    /// its outputs are realigned to the golden's length, and only the row tokenized differently
    /// fails, in input_ids.
    @Test func outputsAtTheRuntimesOwnLengthAreRealigned() throws {
        let golden = try GoldenFile.read(Self.tinyGolden)
        let (b, s, h) = (golden.batch, golden.seq, golden.hidden), longer = golden.seq + 3
        var ids = [Int64](repeating: 0, count: b * longer), mask = ids
        var states = [Float](repeating: 0, count: b * longer * h)
        let real = goldenRealIds(golden)
        for row in 0..<b {
            // Row 2 ran one more word piece ([UNK], id 1) before its [SEP].
            let tokens = row == 2 ? real[row].dropLast() + [1, real[row].last ?? 0] : real[row][...]
            for (p, id) in tokens.enumerated() { ids[row * longer + p] = id; mask[row * longer + p] = 1 }
            for p in 0..<s { for k in 0..<h { states[(row * longer + p) * h + k] = golden.outputs.lastHiddenState.values[(row * s + p) * h + k] } }
        }
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("own-length.safetensors").path
        try SafetensorsWriter.write([
            Tensor.makeTensor(name: "input_ids", int64s: ids, shape: [b, longer]),
            Tensor.makeTensor(name: "attention_mask", int64s: mask, shape: [b, longer]),
            Tensor.makeTensor(name: "last_hidden_state", floats: states, shape: [b, longer, h]),
        ], metadata: [:], to: file)
        let (result, report) = try Self.verify(file)
        #expect(result.status == 1, "\(result.stderr)")
        let input = VerifyCommandTests.check(report ?? .null, "input_ids")
        #expect(input?["rows"]?.elements?.map { $0["status"]?.string } == ["pass", "pass", "fail", "pass", "pass"])
        let last = VerifyCommandTests.check(report ?? .null, "last_hidden_state")
        #expect(last?["status"]?.string == "pass" && last?["actual_shape"]?.elements?.compactMap(\.integer) == [b, s, h])
        #expect(report?["notes"]?.elements?.contains { $0.string?.contains("last_hidden_state at the golden's \(s) positions (the runtime's input_ids have \(longer))") == true } == true,
                "\(report?["notes"] ?? .null)")
    }

    @Test func aModelBesideTheOutputsChecksTheRuntimesPooler() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let golden = try GoldenFile.read(Self.tinyGolden)
        // A runtime whose pooler output is not tanh(W·CLS + b) of its own last hidden state.
        var tensors = golden.tensorsForWriting().filter { !GoldenFile.inputNames.contains($0.name) }
        for i in tensors.indices where tensors[i].name == "pooler_output" {
            tensors[i] = VerifyCommandTests.changed(tensors[i]) { values in for j in values.indices { values[j] *= 0.5 } }
        }
        let file = dir.appendingPathComponent("pooler.safetensors").path
        try SafetensorsWriter.write(tensors, metadata: [:], to: file)
        let (withModel, report) = try Self.verify(file, ["--model", Self.tinyModel])
        #expect(withModel.status == 1)
        let invariant = VerifyCommandTests.check(report ?? .null, "pooler_invariant")
        #expect(invariant?["status"]?.string == "fail")
        #expect(invariant?["worst"]?["subject"]?.string == "candidate")
        #expect(invariant?["message"]?.string?.contains("the candidate's pooler_output is not tanh(W·CLS + b)") == true)
        // Without the model the invariant cannot be checked, and the report says how to.
        let (alone, aloneReport) = try Self.verify(file)
        #expect(alone.status == 1)
        #expect(!Self.names(aloneReport).contains("pooler_invariant"))
        #expect(aloneReport?["notes"]?.elements?.contains { $0.string?.contains("give --model MODEL beside --outputs") == true } == true)
        // Token texts appear in the table once a vocabulary is known.
        let table = try CLI.run(["verify", "--golden", Self.tinyGolden, "--outputs", Self.fixture("tiny-bert.outputs-nonfinite.npz"),
                                 "--vocab", Self.tinyModel])
        let token = try BertTokenizer.load(Self.tinyModel).token(for: Int(golden.inputIds[1 * golden.seq + 2])) ?? "?"
        #expect(table.stdout.contains("row 1, position 2 ('\(token)')"), "\(table.stdout)")
    }

    @Test func nonFiniteValuesInAnOutputsFileFail() throws {
        let file = Self.fixture("tiny-bert.outputs-nonfinite.npz")
        let (result, report) = try Self.verify(file, ["--atol", "1e9"])
        #expect(result.status == 1, "a NaN fails whatever the tolerance")
        let last = VerifyCommandTests.check(report ?? .null, "last_hidden_state")
        #expect(last?["status"]?.string == "fail" && last?["non_finite"]?.integer == 1)
        #expect(last?["rows"]?.elements?.map { $0["status"]?.string } == ["pass", "fail", "pass", "pass", "pass"])
        #expect(last?["worst"]?["row"]?.integer == 1 && last?["worst"]?["position"]?.integer == 2 && last?["worst"]?["hidden_index"]?.integer == 3)
        let pooler = VerifyCommandTests.check(report ?? .null, "pooler_output")
        #expect(pooler?["status"]?.string == "fail" && pooler?["non_finite"]?.integer == 1)
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let junit = dir.appendingPathComponent("junit.xml").path
        _ = try CLI.run(["verify", "--golden", Self.tinyGolden, "--outputs", file, "--junit", junit])
        let xml = try String(contentsOfFile: junit, encoding: .utf8)
        #expect(xml.contains("<failure type=\"non-finite\""))
    }

    /// llama.cpp's GGUF drops the pooler, and feature-extraction exports give only the last
    /// hidden state: no pooler_output is "not produced", not a failure.
    @Test func aFileWithoutPoolerOutputPassesWithItNotProduced() throws {
        let golden = try GoldenFile.read(Self.tinyGolden)
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("last-only.safetensors").path
        try Self.write(ModelOutputs(tensors: ["last_hidden_state": golden.outputs.lastHiddenState]), to: file)
        let (result, report) = try Self.verify(file)
        #expect(result.status == 0, "\(result.stdout)")
        #expect(VerifyCommandTests.check(report ?? .null, "pooler_output")?["status"]?.string == "not_produced")
        #expect(report?["notes"]?.elements?.contains { $0.string?.hasPrefix("hidden_states.0, hidden_states.1, hidden_states.2, hidden_states.3 are not in the outputs file") == true } == true)
    }

    /// llama.cpp's BERT graph adds type-0 embeddings to every token: the tiny model run the same
    /// way fails only on its text-pair rows, and the report says so.
    @Test func ignoredTokenTypesFailOnlyThePairRows() throws {
        let golden = try GoldenFile.read(Self.tinyGolden)
        let model = try BertModel(checkpoint: try loadCheckpoint(Self.tinyModel), threads: 1)
        var batch = golden.inputBatch
        batch.tokenTypeIds = batch.tokenTypeIds.map { _ in 0 }
        let output = try model.forward(batch, outputHiddenStates: true)
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("typeless.safetensors").path
        try Self.write(ModelOutputs(output), to: file)
        let (result, report) = try Self.verify(file)
        #expect(result.status == 1)
        let pairRows = (0..<golden.batch).filter { row in (0..<golden.seq).contains { golden.tokenTypeIds[row * golden.seq + $0] == 1 } }
        #expect(pairRows == [1], "the tiny golden's one text pair is row 1")
        let last = VerifyCommandTests.check(report ?? .null, "last_hidden_state")
        let rows = last?["rows"]?.elements ?? []
        #expect(rows.map { $0["status"]?.string } == ["pass", "fail", "pass", "pass", "pass"])
        #expect(rows[1]["text"]?.string == golden.metadata.texts?[1].text && rows[1]["pair"]?.string == golden.metadata.texts?[1].pair)
        for key in ["row", "status", "max_abs_err", "min_cosine"] { #expect(rows.first?[key] != nil, "rows[] lacks \(key)") }
        #expect(report?["notes"]?.elements?.contains { $0.string?.contains("only the text-pair rows fail (row 1") == true
            && $0.string?.contains("may ignore token types") == true } == true, "\(report?["notes"] ?? .null)")
        let table = try CLI.run(["verify", "--golden", Self.tinyGolden, "--outputs", file])
        #expect(table.stdout.contains("failing rows: 1 (\(StrictJSON.quote(golden.metadata.texts?[1].text ?? "")) | "), "\(table.stdout)")
    }

    /// Steady growth through an outputs file's hidden states is precision drift; a jump names its
    /// layer (the judgement of StackDivergence.swift, reached through --outputs).
    @Test func driftAndJumpThroughAnOutputsFile() throws {
        let golden = try GoldenFile.read(Self.tinyGolden)
        func outputs(errors: [Float]) -> ModelOutputs {
            var outputs = golden.outputs
            for (n, error) in errors.enumerated() {
                let name = OutputRegistry.hiddenStates.tensorName(n)
                guard var state = outputs[name] else { continue }
                for i in state.values.indices { state.values[i] += i % 2 == 0 ? error : -error }
                outputs[name] = state
                if n == errors.count - 1 { outputs.lastHiddenState = state }
            }
            return outputs
        }
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let driftFile = dir.appendingPathComponent("drift.safetensors").path, jumpFile = dir.appendingPathComponent("jump.safetensors").path
        try Self.write(outputs(errors: [3e-4, 4.5e-4, 6.75e-4, 1.01e-3]), to: driftFile)
        try Self.write(outputs(errors: [1e-8, 1.2e-8, 5e-3, 5.05e-3]), to: jumpFile)
        let (drift, driftReport) = try Self.verify(driftFile)
        #expect(drift.status == 1)
        #expect(driftReport?["precision_drift"] == .bool(true) && driftReport?["first_divergence"] == .null)
        #expect(try CLI.run(["verify", "--golden", Self.tinyGolden, "--outputs", driftFile]).stdout.contains("Precision drift, no single layer."))
        let (jump, jumpReport) = try Self.verify(jumpFile)
        #expect(jump.status == 1)
        #expect(jumpReport?["first_divergence"]?.string == "hidden_states.2" && jumpReport?["precision_drift"] == .bool(false))
    }
}
