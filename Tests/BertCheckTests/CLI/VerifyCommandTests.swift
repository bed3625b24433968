import Foundation
import Testing
@testable import BertCheck

/// `verify`, `record` and `diff` as a user runs them: exit codes, reports, and the one-line errors.
@Suite struct VerifyCommandTests {
    static var tinyModel: String { TestPaths.goldens.appendingPathComponent("models/tiny-bert").path }
    static var tinyGolden: String { GoldenFormatTests.tinyGolden }
    static var fixtures: URL { GoldenFormatTests.fixtures }

    /// A copy of the tiny model in `dir` whose tensors went through `edit` (config and vocabulary copied).
    static func modelCopy(in dir: URL, name: String = "model", edit: (inout [Tensor]) -> Void) throws -> String {
        let target = dir.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        var (tensors, metadata) = try SafetensorsFile.read(tinyModel + "/model.safetensors")
        edit(&tensors)
        try SafetensorsWriter.write(tensors, metadata: metadata, to: target.appendingPathComponent("model.safetensors").path)
        for file in ["config.json", "vocab.txt", "tokenizer_config.json"] {
            try FileManager.default.copyItem(atPath: tinyModel + "/" + file, toPath: target.appendingPathComponent(file).path)
        }
        return target.path
    }

    /// `tensor` with `transform` applied to its values (as F32).
    static func changed(_ tensor: Tensor, _ transform: (inout [Float]) -> Void) -> Tensor {
        var values = tensor.floats()
        transform(&values)
        return Tensor.makeTensor(name: tensor.name, floats: values, shape: tensor.shape)
    }

    static func json(_ result: CLIResult) throws -> JSONValue {
        try StrictJSON.parse(Array(result.stdout.utf8))
    }

    static func check(_ report: JSONValue, _ name: String) -> JSONValue? {
        report["checks"]?.elements?.first { $0["name"]?.string == name }
    }

    @Test func transformersGoldenPassesAgainstItsModel() throws {
        let result = try CLI.run(["verify", "--golden", Self.tinyGolden, "--model", Self.tinyModel, "--json"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let report = try Self.json(result)
        #expect(report["status"]?.string == "pass")
        #expect(report["first_divergence"] == .null)
        let names = report["checks"]?.elements?.compactMap { $0["name"]?.string } ?? []
        #expect(names == ["input_ids", "hidden_states.0", "hidden_states.1", "hidden_states.2", "hidden_states.3",
                          "last_hidden_state", "pooler_output", "pooler_invariant"])
        let last = Self.check(report, "last_hidden_state")
        #expect((last?["max_abs_err"]?.double ?? 1) <= 1e-5)
        #expect(last?["atol"]?.double == 1e-4)
        // Real tokens only: 5 rows, their mask sums to the compared token count.
        let golden = try GoldenFile.read(Self.tinyGolden)
        #expect(last?["compared"]?.integer == Int(golden.attentionMask.reduce(0, +)) * golden.hidden)

        let table = try CLI.run(["verify", "--golden", Self.tinyGolden, "--model", Self.tinyModel])
        #expect(table.status == 0)
        #expect(table.stdout.contains("PASS: all 8 checks passed"))
        #expect(table.stdout.contains("Error through the stack"))
    }

    @Test func miniLMGoldenPasses() throws {
        let golden = TestPaths.goldens.appendingPathComponent("all-MiniLM-L6-v2.golden.safetensors").path
        let result = try CLI.run(["verify", "--golden", golden, "--model", TestPaths.miniLM, "--json"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let report = try Self.json(result)
        #expect(Self.check(report, "input_ids")?["status"]?.string == "pass")
        #expect((Self.check(report, "last_hidden_state")?["max_abs_err"]?.double ?? 1) <= 1e-5)
        #expect(Self.check(report, "pooler_invariant")?["status"]?.string == "pass")
    }

    @Test func onePerturbedLayerIsTheFirstDivergence() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Self.modelCopy(in: dir) { tensors in
            for i in tensors.indices where tensors[i].name == "encoder.layer.1.intermediate.dense.weight" {
                tensors[i] = Self.changed(tensors[i]) { values in for j in stride(from: 0, to: values.count, by: 7) { values[j] += 0.05 } }
            }
        }
        let junit = dir.appendingPathComponent("report.xml").path
        let result = try CLI.run(["verify", "--golden", Self.tinyGolden, "--model", model, "--json", "--junit", junit])
        #expect(result.status == 1, "\(result.stderr)")
        let report = try Self.json(result)
        #expect(report["status"]?.string == "fail")
        #expect(report["first_divergence"]?.string == "hidden_states.2") // output of encoder layer 1
        for name in ["hidden_states.0", "hidden_states.1", "input_ids"] {
            #expect(Self.check(report, name)?["status"]?.string == "pass", "\(name)")
        }
        for name in ["hidden_states.2", "hidden_states.3", "last_hidden_state", "pooler_output"] {
            #expect(Self.check(report, name)?["status"]?.string == "fail", "\(name)")
        }
        let worst = Self.check(report, "hidden_states.2")?["worst"]
        #expect(worst?["row"]?.integer != nil && worst?["position"]?.integer != nil && worst?["token"]?.string != nil)
        // Every failure is reported, and the JUnit file says the same.
        let summary = try JUnitSummary.parse(String(decoding: try Data(contentsOf: URL(fileURLWithPath: junit)), as: UTF8.self))
        #expect(summary.testcases.count == 8)
        #expect(summary.failures == ["hidden_states.2", "hidden_states.3", "last_hidden_state", "pooler_output"])
        #expect(summary.failureText.contains("max_abs_err="))

        let table = try CLI.run(["verify", "--golden", Self.tinyGolden, "--model", model])
        #expect(table.status == 1)
        #expect(table.stdout.contains("First divergence: hidden_states.2 (output of encoder layer 1), at row"))
    }

    @Test func wrongPoolerWeightsFailThePoolerInvariant() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Self.modelCopy(in: dir) { tensors in
            for i in tensors.indices where tensors[i].name == "pooler.dense.weight" {
                tensors[i] = Self.changed(tensors[i]) { values in values = values.map { -$0 } }
            }
        }
        let result = try CLI.run(["verify", "--golden", Self.tinyGolden, "--model", model, "--json"])
        #expect(result.status == 1)
        let report = try Self.json(result)
        let invariant = Self.check(report, "pooler_invariant")
        #expect(invariant?["status"]?.string == "fail")
        #expect(invariant?["worst"]?["subject"]?.string == "golden")
        #expect(invariant?["message"]?.string?.contains("not recorded with this model") == true)
        #expect(Self.check(report, "last_hidden_state")?["status"]?.string == "pass")
        #expect(report["first_divergence"]?.string == "pooler_output")
    }

    @Test func outputsFilesAreCompared() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let golden = try GoldenFile.read(Self.tinyGolden)
        // safetensors outputs, with the ids, as `run --out` writes them.
        let good = dir.appendingPathComponent("outputs.safetensors").path
        try SafetensorsWriter.write(golden.tensorsForWriting(), metadata: [:], to: good)
        let pass = try CLI.run(["verify", "--golden", Self.tinyGolden, "--outputs", good])
        #expect(pass.status == 0, "\(pass.stdout)\(pass.stderr)")
        #expect(pass.stdout.contains("PASS"))
        // npz outputs (savez_compressed: deflated), and float64 ones without hidden states.
        for npz in ["tiny-bert.outputs.npz", "tiny-bert.outputs-f64.npz"] {
            let result = try CLI.run(["verify", "--golden", Self.tinyGolden, "--outputs", Self.fixtures.appendingPathComponent(npz).path, "--json"])
            #expect(result.status == 0, "\(npz): \(result.stdout)\(result.stderr)")
        }
        // A perturbed last_hidden_state at one real token fails, naming it.
        var tensors = golden.tensorsForWriting()
        let row = 1, position = 3, index = 7
        for i in tensors.indices where tensors[i].name == "last_hidden_state" {
            tensors[i] = Self.changed(tensors[i]) { $0[(row * golden.seq + position) * golden.hidden + index] += 0.25 }
        }
        let bad = dir.appendingPathComponent("bad.safetensors").path
        try SafetensorsWriter.write(tensors, metadata: [:], to: bad)
        let fail = try CLI.run(["verify", "--golden", Self.tinyGolden, "--outputs", bad, "--json"])
        #expect(fail.status == 1)
        let report = try Self.json(fail)
        let worst = Self.check(report, "last_hidden_state")?["worst"]
        #expect(worst?["row"]?.integer == row && worst?["position"]?.integer == position && worst?["hidden_index"]?.integer == index)
        #expect(Self.check(report, "last_hidden_state")?["mismatched"]?.integer == 1)
        #expect(report["first_divergence"]?.string == "last_hidden_state")
        // A loose per-tensor tolerance lets it pass; explicit flags win.
        let loose = try CLI.run(["verify", "--golden", Self.tinyGolden, "--outputs", bad, "--tolerance", "last_hidden_state=0.3,0"])
        #expect(loose.status == 0, "\(loose.stdout)")
        // Outputs computed from other ids fail the input_ids check, naming the row and both lists.
        var otherIds = golden.tensorsForWriting()
        for i in otherIds.indices where otherIds[i].name == "input_ids" {
            var ids = golden.inputIds
            ids[2] += 1
            otherIds[i] = Tensor.makeTensor(name: "input_ids", int64s: ids, shape: [golden.batch, golden.seq])
        }
        let other = dir.appendingPathComponent("other.safetensors").path
        try SafetensorsWriter.write(otherIds, metadata: [:], to: other)
        let otherResult = try CLI.run(["verify", "--golden", Self.tinyGolden, "--outputs", other, "--json"])
        #expect(otherResult.status == 1, "\(otherResult.stderr)")
        let ids = Self.check(try Self.json(otherResult), "input_ids")
        #expect(ids?["status"]?.string == "fail")
        #expect(ids?["rows"]?.elements?.map { $0["status"]?.string } == ["fail", "pass", "pass", "pass", "pass"])
        let message = ids?["message"]?.string ?? ""
        #expect(message.contains("row 0 (text ") && message.contains("the runtime ran [\(golden.inputIds[0]), \(golden.inputIds[1]), \(golden.inputIds[2] + 1)"), "\(message)")
        // Other token types with the golden's ids are still outputs of other inputs (exit 2).
        var otherMask = golden.tensorsForWriting()
        for i in otherMask.indices where otherMask[i].name == "token_type_ids" {
            var types = golden.tokenTypeIds
            types[1] = 1 - types[1]
            otherMask[i] = Tensor.makeTensor(name: "token_type_ids", int64s: types, shape: [golden.batch, golden.seq])
        }
        let masked = dir.appendingPathComponent("mask.safetensors").path
        try SafetensorsWriter.write(otherMask, metadata: [:], to: masked)
        expectInputError(try CLI.run(["verify", "--golden", Self.tinyGolden, "--outputs", masked]), naming: masked, containing: "other inputs")
    }

    /// A JUnit target that is not a regular file (a FIFO here, like /dev/null or /dev/stdout in CI)
    /// is written through, never replaced by a rename; a directory is refused with one line.
    @Test func junitWritesThroughFifosAndRefusesDirectories() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("junit.fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        var received = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            received = FileHandle(forReadingAtPath: fifo)?.readDataToEndOfFile() ?? Data()
            group.leave()
        }
        let result = try CLI.run(["verify", "--golden", Self.tinyGolden, "--outputs", Self.tinyGolden, "--junit", fifo])
        group.wait()
        #expect(result.status == 0, "\(result.stderr)")
        let type = (try FileManager.default.attributesOfItem(atPath: fifo)[.type] as? FileAttributeType)
        #expect(type != nil && type != .typeRegular)
        // The golden's six outputs and the input_ids it carries (the runtime ran the golden's ids).
        #expect(try JUnitSummary.parse(String(decoding: received, as: UTF8.self)).testcases.count == 7)
        let refused = try CLI.run(["verify", "--golden", Self.tinyGolden, "--outputs", Self.tinyGolden, "--junit", dir.path])
        expectInputError(refused, naming: dir.path, containing: "cannot write")
    }

    @Test func npzGoldenVerifiesAgainstTheModel() throws {
        let result = try CLI.run(["verify", "--golden", Self.fixtures.appendingPathComponent("tiny-bert.golden.npz").path, "--model", Self.tinyModel])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    }

    /// Writes the tiny golden with `edit` applied and returns its path.
    static func brokenGolden(in dir: URL, _ name: String, _ edit: (inout [String: Tensor], inout [String: String]) -> Void) throws -> String {
        let golden = try GoldenFile.read(tinyGolden)
        var tensors = Dictionary(uniqueKeysWithValues: golden.tensorsForWriting().map { ($0.name, $0) })
        var metadata = golden.metadataForWriting
        edit(&tensors, &metadata)
        let path = dir.appendingPathComponent(name).path
        try SafetensorsWriter.write(Array(tensors.values), metadata: metadata, to: path)
        return path
    }

    @Test func brokenGoldensExit2WithOneLine() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let golden = try GoldenFile.read(Self.tinyGolden)
        let b = golden.batch, s = golden.seq
        func ids(_ change: (inout [Int64]) -> Void, from base: [Int64]) -> [Int64] { var v = base; change(&v); return v }
        let cases: [(String, (inout [String: Tensor], inout [String: String]) -> Void, String)] = [
            ("missing.safetensors", { t, _ in t["token_type_ids"] = nil }, "missing tensor 'token_type_ids'"),
            ("float-ids.safetensors", { t, _ in
                t["input_ids"] = Tensor.makeTensor(name: "input_ids", floats: golden.inputIds.map(Float.init), shape: [b, s])
            }, "must be integers"),
            ("vocab.safetensors", { t, _ in
                t["input_ids"] = Tensor.makeTensor(name: "input_ids", int64s: ids({ $0[s + 2] = 5000 }, from: golden.inputIds), shape: [b, s])
            }, "input_ids[1, 2] = 5000 is outside the vocabulary"),
            ("types.safetensors", { t, _ in
                t["token_type_ids"] = Tensor.makeTensor(name: "token_type_ids", int64s: ids({ $0[3] = 2 }, from: golden.tokenTypeIds), shape: [b, s])
            }, "token_type_ids[0, 3] = 2 is outside the token types"),
            ("wrong-format.safetensors", { _, m in m["format"] = "something-else" }, "expected 'bertcheck-golden/1'"),
            ("gap.safetensors", { t, _ in t["hidden_states.1"] = nil }, "hidden_states.1 is missing"),
        ]
        for (name, edit, rule) in cases {
            let path = try Self.brokenGolden(in: dir, name, edit)
            expectInputError(try CLI.run(["verify", "--golden", path, "--model", Self.tinyModel]), naming: path, containing: rule)
        }
        // Sequences longer than the position table (48): a golden of 60 tokens.
        let long = 60
        let tooLong = try Self.brokenGolden(in: dir, "long.safetensors") { t, m in
            t = [:]
            t["input_ids"] = Tensor.makeTensor(name: "input_ids", int64s: [Int64](repeating: 7, count: long), shape: [1, long])
            t["attention_mask"] = Tensor.makeTensor(name: "attention_mask", int64s: [Int64](repeating: 1, count: long), shape: [1, long])
            t["token_type_ids"] = Tensor.makeTensor(name: "token_type_ids", int64s: [Int64](repeating: 0, count: long), shape: [1, long])
            t["last_hidden_state"] = Tensor.makeTensor(name: "last_hidden_state", floats: [Float](repeating: 0, count: long * 32), shape: [1, long, 32])
            m["texts"] = nil
        }
        expectInputError(try CLI.run(["verify", "--golden", tooLong, "--model", Self.tinyModel]), naming: tooLong, containing: "longer than the position table")
        // Shapes that do not fit the model: the MiniLM golden (hidden 384) against the tiny model (32).
        let miniLMGolden = TestPaths.goldens.appendingPathComponent("all-MiniLM-L6-v2.golden.safetensors").path
        expectInputError(try CLI.run(["verify", "--golden", miniLMGolden, "--model", Self.tinyModel]), naming: miniLMGolden, containing: "hidden size 384")
        // Hidden states that do not fit the layer count.
        let extraLayer = try Self.brokenGolden(in: dir, "layers.safetensors") { t, _ in
            t["hidden_states.4"] = Tensor.makeTensor(name: "hidden_states.4", floats: golden.outputs.lastHiddenState.values, shape: [b, s, 32])
        }
        expectInputError(try CLI.run(["verify", "--golden", extraLayer, "--model", Self.tinyModel]), naming: extraLayer, containing: "5 hidden states")
        // Unreadable files and bad usage.
        let missing = dir.appendingPathComponent("nope.safetensors").path
        expectInputError(try CLI.run(["verify", "--golden", missing, "--model", Self.tinyModel]), naming: missing)
        let garbage = dir.appendingPathComponent("garbage.safetensors").path
        try Data("not a golden at all".utf8).write(to: URL(fileURLWithPath: garbage))
        expectInputError(try CLI.run(["verify", "--golden", garbage, "--outputs", Self.tinyGolden]), naming: garbage)
        let usage = try CLI.run(["verify", "--golden", Self.tinyGolden])
        #expect(usage.status == 2 && usage.stdout.isEmpty)
        let badTolerance = try CLI.run(["verify", "--golden", Self.tinyGolden, "--outputs", Self.tinyGolden, "--tolerance", "pooler=1,1"])
        #expect(badTolerance.status == 2 && badTolerance.stderr.contains("unknown tensor name"))
    }

    @Test func recordThenVerify() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("recorded.safetensors").path
        let texts = TestPaths.goldens.appendingPathComponent("texts/tiny.json").path
        let recorded = try CLI.run(["record", Self.tinyModel, "--texts-file", texts, "--out", out, "--hidden-states"])
        #expect(recorded.status == 0, "\(recorded.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["recorded.safetensors"]) // no temp file left
        let golden = try GoldenFile.read(out)
        let reference = try GoldenFile.read(Self.tinyGolden)
        #expect(golden.metadata.producer == "bertcheck")
        #expect(golden.metadata.texts == reference.metadata.texts)
        #expect(golden.inputIds == reference.inputIds) // the same tokenizer as transformers
        #expect(golden.outputs.hiddenStates.count == 4)
        let verify = try CLI.run(["verify", "--golden", out, "--model", Self.tinyModel])
        #expect(verify.status == 0, "\(verify.stdout)")
        // Bad texts file: exit 2, nothing written.
        let badTexts = dir.appendingPathComponent("texts.json").path
        try Data("{\"not\": \"a list\"}".utf8).write(to: URL(fileURLWithPath: badTexts))
        let other = dir.appendingPathComponent("other.safetensors").path
        expectInputError(try CLI.run(["record", Self.tinyModel, "--texts-file", badTexts, "--out", other]), naming: badTexts)
        #expect(!FileManager.default.fileExists(atPath: other))
        // A texts file that cannot be read says why (it used to say only "cannot read the texts file").
        let missingTexts = dir.appendingPathComponent("absent.json").path
        expectInputError(try CLI.run(["record", Self.tinyModel, "--texts-file", missingTexts, "--out", other]), naming: missingTexts,
                         containing: "No such file or directory")
        expectInputError(try CLI.run(["record", Self.tinyModel, "--texts-file", dir.path, "--out", other]), naming: dir.path,
                         containing: "not a regular file")
        #expect(!FileManager.default.fileExists(atPath: other))
    }

    @Test func diffCheckpoints() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let same = try CLI.run(["diff", Self.tinyModel, Self.tinyModel])
        #expect(same.status == 0, "\(same.stdout)")
        #expect(same.stdout.contains("PASS"))
        // An fp16 conversion passes under the fp16 profile, fails under fp32 tolerances.
        let half = try Self.modelCopy(in: dir, name: "fp16") { tensors in
            tensors = tensors.map { t in
                guard t.dtype == .F32 else { return t }
                let bits = t.floats().map { Float16($0).bitPattern }
                return bits.withUnsafeBytes { Tensor.makeTensor(name: t.name, dtype: .F16, shape: t.shape, bytes: $0) }
            }
        }
        let halfDiff = try CLI.run(["diff", Self.tinyModel, half, "--json"])
        #expect(halfDiff.status == 0, "\(halfDiff.stdout)")
        let halfReport = try StrictJSON.parse(Array(halfDiff.stdout.utf8))
        #expect(halfReport["profile"]?.string == "fp16")
        #expect(halfReport["tensors"]?.elements?.contains { $0["dtype_b"]?.string == "F16" && ($0["max_abs_err"]?.double ?? 0) > 0 } == true)
        #expect(try CLI.run(["diff", Self.tinyModel, half, "--profile", "fp32", "--atol", "1e-7", "--rtol", "0"]).status == 1)
        // A perturbed tensor and a missing one are named; exit 1.
        let broken = try Self.modelCopy(in: dir, name: "broken") { tensors in
            tensors.removeAll { $0.name == "pooler.dense.bias" }
            for i in tensors.indices where tensors[i].name == "encoder.layer.2.attention.self.key.weight" {
                tensors[i] = Self.changed(tensors[i]) { $0[5] += 1 }
            }
        }
        let brokenDiff = try CLI.run(["diff", Self.tinyModel, broken])
        #expect(brokenDiff.status == 1)
        #expect(brokenDiff.stdout.contains("Missing in B (1): pooler.dense.bias"))
        #expect(brokenDiff.stdout.contains("encoder.layer.2.attention.self.key.weight"))
        let missing = dir.appendingPathComponent("nowhere").path
        let unreadable = try CLI.run(["diff", Self.tinyModel, missing])
        #expect(unreadable.status == 2 && unreadable.stderr.contains(missing))
    }

    /// Flags with bad values: exit 2, one line on stderr, nothing on stdout.
    @Test func badFlagValuesAreOneLineUsageErrors() throws {
        func expectUsageError(_ arguments: [String], containing text: String) throws {
            let result = try CLI.run(arguments)
            #expect(result.status == 2, "\(arguments): \(result.status) \(result.stdout)")
            #expect(result.stdout.isEmpty, "\(arguments)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains(text), "\(arguments): \(result.stderr)")
        }
        // A cosine bound outside [-1, 1] would fail (or pass) every tensor.
        try expectUsageError(["verify", "--golden", Self.tinyGolden, "--outputs", Self.tinyGolden, "--min-cosine", "2"], containing: "--min-cosine")
        try expectUsageError(["diff", Self.tinyModel, Self.tinyModel, "--min-cosine", "-1.5"], containing: "--min-cosine")
        // A per-tensor tolerance for a name in neither checkpoint is a typo, not silently ignored.
        try expectUsageError(["diff", Self.tinyModel, Self.tinyModel, "--tolerance", "pooler.dense.wieght=1,1"], containing: "pooler.dense.wieght")
        // ArgumentParser's own usage errors (a missing value, a negative number read as a flag) are one line too.
        try expectUsageError(["verify", "--golden", Self.tinyGolden, "--outputs", Self.tinyGolden, "--atol", "-1"], containing: "--atol")
        try expectUsageError(["params", Self.tinyModel, "--head", "two"], containing: "--head")
        try expectUsageError(["diff", Self.tinyModel], containing: "<b>")
        // --threads beyond Int32 trapped converting for OpenBLAS; 0 is no thread at all.
        for threads in [String(Int.max), "0", "1025"] {
            try expectUsageError(["verify", "--golden", Self.tinyGolden, "--model", Self.tinyModel, "--threads", threads], containing: "--threads")
        }
        let texts = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: texts) }
        try FileManager.default.createDirectory(at: texts, withIntermediateDirectories: true)
        let textsFile = texts.appendingPathComponent("texts.json")
        try Data(#"["hello"]"#.utf8).write(to: textsFile)
        let out = texts.appendingPathComponent("g.safetensors").path
        try expectUsageError(["record", Self.tinyModel, "--texts-file", textsFile.path, "--out", out, "--threads", String(Int.max)], containing: "--threads")
        #expect(!FileManager.default.fileExists(atPath: out))
        for command in [["run", Self.tinyModel, "hello"], ["similarity", Self.tinyModel, "a", "b"], ["bench", Self.tinyModel]] {
            try expectUsageError(command + ["--threads", String(Int.max)], containing: "--threads")
        }
        // A cosine bound inside the range still gates: an identical file passes.
        #expect(try CLI.run(["verify", "--golden", Self.tinyGolden, "--outputs", Self.tinyGolden, "--min-cosine", "0.999"]).status == 0)
    }
}
