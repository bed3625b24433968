import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import BertCheck

/// Golden files (format, validation), comparison and tolerance rules: library level (the report as
/// a table, JSON and JUnit: Rendering/VerifyReportTests.swift).
@Suite struct GoldenFormatTests {
    static var tinyGolden: String { TestPaths.goldens.appendingPathComponent("tiny-bert.golden.safetensors").path }
    static var miniLMGolden: String { TestPaths.goldens.appendingPathComponent("all-MiniLM-L6-v2.golden.safetensors").path }
    static var fixtures: URL { TestPaths.fixtures.appendingPathComponent("goldens") }

    @Test func readsTheTransformersRecordedTinyGolden() throws {
        let golden = try GoldenFile.read(Self.tinyGolden)
        #expect(golden.batch == 5 && golden.seq == 17 && golden.hidden == 32)
        #expect(golden.outputs.hiddenStates.count == 4)
        #expect(golden.outputs.poolerOutput?.shape == [5, 32])
        #expect(golden.metadata.texts?.count == 5)
        #expect(golden.metadata.texts?[1] == TextItem("A cat sat on the mat.", pair: "The dog ran to the tree!"))
        #expect(golden.metadata.producer?.contains("transformers 5.24.0") == true)
        #expect(golden.inputIds[0] == 2) // [CLS] of the tiny vocabulary
        #expect(golden.attentionMask.allSatisfy { $0 == 0 || $0 == 1 })
    }

    @Test func readsTheMiniLMGolden() throws {
        let golden = try GoldenFile.read(Self.miniLMGolden)
        #expect(golden.hidden == 384)
        #expect(golden.outputs.hiddenStates.count == 7)
        #expect(golden.inputIds[0] == 101)
        #expect(golden.metadata.model == "sentence-transformers/all-MiniLM-L6-v2")
    }

    @Test func readsNpzGoldensLikeSafetensorsOnes() throws {
        let fromSafetensors = try GoldenFile.read(Self.tinyGolden)
        let fromNpz = try GoldenFile.read(Self.fixtures.appendingPathComponent("tiny-bert.golden.npz").path)
        #expect(fromNpz.inputIds == fromSafetensors.inputIds)
        #expect(fromNpz.tokenTypeIds == fromSafetensors.tokenTypeIds)
        #expect(fromNpz.outputs.lastHiddenState == fromSafetensors.outputs.lastHiddenState)
        #expect(fromNpz.outputs.hiddenStates == fromSafetensors.outputs.hiddenStates)
        #expect(fromNpz.metadata.texts == nil)
    }

    @Test func acceptsTensorsInAnyOrderAndWritesWhatItReads() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let golden = try GoldenFile.read(Self.tinyGolden)
        let path = dir.appendingPathComponent("reversed.safetensors").path
        try SafetensorsWriter.write(golden.tensorsForWriting().reversed(), metadata: golden.metadataForWriting.merging(["tool": "other"]) { a, _ in a }, to: path)
        let again = try GoldenFile.read(path)
        #expect(again.inputIds == golden.inputIds)
        #expect(again.outputs.hiddenStates == golden.outputs.hiddenStates)
        #expect(again.outputs.poolerOutput == golden.outputs.poolerOutput)
        #expect(again.metadata == golden.metadata)
    }

    /// Writes the tiny golden with `edit` applied to its tensors and metadata, reads it back, and
    /// returns the problem it was refused for.
    static func problem(_ edit: (inout [String: Tensor], inout [String: String]) -> Void) throws -> GoldenProblem? {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let golden = try GoldenFile.read(tinyGolden)
        var tensors = Dictionary(uniqueKeysWithValues: golden.tensorsForWriting().map { ($0.name, $0) })
        var metadata = golden.metadataForWriting
        edit(&tensors, &metadata)
        let path = dir.appendingPathComponent("broken.safetensors").path
        try SafetensorsWriter.write(Array(tensors.values), metadata: metadata, to: path)
        do {
            _ = try GoldenFile.read(path)
            return nil
        } catch let error as FileError {
            #expect(error.path == path)
            return error.problem as? GoldenProblem
        }
    }

    @Test func refusesEveryBrokenRule() throws {
        let b = 5, s = 17, h = 32
        let zeros = [Int64](repeating: 0, count: b * s)
        #expect(try Self.problem { t, _ in t["attention_mask"] = nil } == .missingTensor("attention_mask"))
        #expect(try Self.problem { t, _ in t["last_hidden_state"] = nil } == .missingTensor("last_hidden_state"))
        #expect(try Self.problem { t, _ in
            t["input_ids"] = Tensor.makeTensor(name: "input_ids", floats: [Float](repeating: 1, count: b * s), shape: [b, s])
        } == .idsNotInteger(name: "input_ids", dtype: .F32))
        #expect(try Self.problem { t, _ in
            t["last_hidden_state"] = Tensor.makeTensor(name: "last_hidden_state", int64s: [Int64](repeating: 0, count: b * s * h), shape: [b, s, h])
        } == .outputNotFloat(name: "last_hidden_state", dtype: .I64))
        #expect(try Self.problem { t, _ in
            t["token_type_ids"] = Tensor.makeTensor(name: "token_type_ids", int64s: [Int64](repeating: 0, count: b * (s - 1)), shape: [b, s - 1])
        } == .shapeMismatch(name: "token_type_ids", shape: [b, s - 1], expected: [b, s]))
        #expect(try Self.problem { t, _ in
            t["input_ids"] = Tensor.makeTensor(name: "input_ids", int64s: zeros, shape: [b * s])
        } == .wrongRank(name: "input_ids", shape: [b * s], expected: "[batch, seq]"))
        #expect(try Self.problem { t, _ in
            t["pooler_output"] = Tensor.makeTensor(name: "pooler_output", floats: [Float](repeating: 0, count: b * 16), shape: [b, 16])
        } == .shapeMismatch(name: "pooler_output", shape: [b, 16], expected: [b, h]))
        #expect(try Self.problem { t, _ in
            var mask = [Int64](repeating: 1, count: b * s); mask[3] = 2
            t["attention_mask"] = Tensor.makeTensor(name: "attention_mask", int64s: mask, shape: [b, s])
        } == .maskNotBinary(row: 0, position: 3, value: 2))
        #expect(try Self.problem { t, _ in
            var ids = zeros; ids[s + 1] = -4
            t["input_ids"] = Tensor.makeTensor(name: "input_ids", int64s: ids, shape: [b, s])
        } == .negativeValue(name: "input_ids", row: 1, position: 1, value: -4))
        #expect(try Self.problem { t, _ in t["hidden_states.2"] = nil } == .hiddenStatesNotContiguous(missing: 2, highest: 3))
        #expect(try Self.problem { t, _ in t["hidden_states.0"] = nil } == .hiddenStatesNotContiguous(missing: 0, highest: 3))
        #expect(try Self.problem { t, _ in
            t["hidden_states.01"] = Tensor.makeTensor(name: "hidden_states.01", floats: [0], shape: [1])
        } == .badHiddenStateName("hidden_states.01"))
        #expect(try Self.problem { t, _ in
            t["attentions"] = Tensor.makeTensor(name: "attentions", floats: [0], shape: [1])
        } == .unexpectedTensor("attentions"))
        // Head outputs are goldens' tensors now; one whose shape does not fit the batch is refused.
        #expect(try Self.problem { t, _ in
            t["logits"] = Tensor.makeTensor(name: "logits", floats: [0], shape: [1])
        } == .shapeMismatch(name: "logits", shape: [1], expected: [b, h]))
        #expect(try Self.problem { _, m in m["format"] = nil } == .missingFormat)
        #expect(try Self.problem { _, m in m["format"] = "bertcheck-golden/2" } == .wrongFormat("bertcheck-golden/2"))
        #expect(try Self.problem { _, m in m["texts"] = "[\"one\", \"two\"]" } == .textsCount(texts: 2, rows: b))
        if case .badMetadata(key: "texts", _)? = try Self.problem({ _, m in m["texts"] = "[1, 2]" }) {} else { Issue.record("texts [1, 2] accepted") }
        if case .badMetadata(key: "texts", _)? = try Self.problem({ _, m in m["texts"] = "not json" }) {} else { Issue.record("bad texts JSON accepted") }
        if case .badMetadata(key: "atol", _)? = try Self.problem({ _, m in m["atol"] = "-1" }) {} else { Issue.record("atol -1 accepted") }
        if case .badMetadata(key: "rtol", _)? = try Self.problem({ _, m in m["rtol"] = "nan" }) {} else { Issue.record("rtol nan accepted") }
        // Control: the unedited golden is accepted.
        #expect(try Self.problem { _, _ in } == nil)
    }

    @Test func goldenToleranceMetadataIsRead() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let golden = try GoldenFile.read(Self.tinyGolden)
        let path = dir.appendingPathComponent("g.safetensors").path
        try SafetensorsWriter.write(golden.tensorsForWriting(), metadata: golden.metadataForWriting.merging(["atol": "0.003", "rtol": "2e-3"]) { _, b in b }, to: path)
        let read = try GoldenFile.read(path)
        #expect(read.metadata.atol == 0.003 && read.metadata.rtol == 0.002)
    }

    @Test func textsRoundTripThroughJSON() {
        let items = [TextItem("plain \"quoted\" \\ text\n"), TextItem("a", pair: "b ünïcode 🙂")]
        guard case .success(let parsed) = TextItem.parseList(Array(TextItem.encodeList(items).utf8)) else {
            Issue.record("encoded texts do not parse"); return
        }
        #expect(parsed == items)
        if case .success = TextItem.parseList(Array("[[\"a\"]]".utf8)) { Issue.record("a one-element array is not a pair") }
        if case .success = TextItem.parseList(Array("{\"a\": 1}".utf8)) { Issue.record("an object is not a texts list") }
    }
}

@Suite struct CompareTests {
    static func array(_ shape: [Int], _ f: (Int) -> Float) -> FloatArray {
        FloatArray(shape: shape, values: (0..<shape.reduce(1, *)).map(f))
    }

    static let layout = TokenLayout(batch: 2, seq: 3, mask: [1, 1, 1, 1, 1, 0], tokenText: { row, position in "tok\(row)\(position)" })
    static let fp32 = Tolerance(atol: 1e-4, rtol: 1e-4)

    @Test func identicalTensorsPass() {
        let g = Self.array([2, 3, 4]) { Float($0) * 0.25 - 1 }
        let r = compareTensor(name: "last_hidden_state", expected: g, actual: g, layout: Self.layout, perToken: true, tolerance: Self.fp32, minCosine: 0.999)
        #expect(r.status == .pass)
        #expect(r.maxAbsErr == 0 && r.meanAbsErr == 0 && r.mismatched == 0)
        #expect(r.compared == 5 * 4) // the padded token is skipped
        #expect(abs((r.minCosine ?? 0) - 1) < 1e-12)
    }

    @Test func reportsEveryFigureAndTheWorstElement() {
        let g = Self.array([2, 3, 4]) { Float($0) * 0.25 - 1 }
        var a = g
        a.values[1 * 12 + 1 * 4 + 2] += 0.5   // row 1, position 1, hidden 2
        a.values[0 * 12 + 2 * 4 + 1] += 0.01  // row 0, position 2, hidden 1
        let r = compareTensor(name: "hidden_states.2", expected: g, actual: a, layout: Self.layout, perToken: true, tolerance: Self.fp32, minCosine: nil)
        #expect(r.status == .fail)
        #expect(r.mismatched == 2 && r.compared == 20)
        #expect(abs((r.maxAbsErr ?? 0) - 0.5) < 1e-6)
        #expect(abs((r.meanAbsErr ?? 0) - 0.51 / 20) < 1e-6)
        let expected = Double(g.values[1 * 12 + 1 * 4 + 2])
        #expect(abs((r.maxRelErr ?? 0) - 0.5 / abs(expected)) < 1e-5)
        #expect(r.worst?.row == 1 && r.worst?.position == 1 && r.worst?.hiddenIndex == 2 && r.worst?.token == "tok11")
        #expect(r.worst?.expected == expected)
        #expect((r.minCosine ?? 1) < 1)
        #expect(abs(r.mismatchedPercent - 10) < 1e-9)
    }

    @Test func paddingIsSkippedUnlessIncluded() {
        let g = Self.array([2, 3, 4]) { Float($0) }
        var a = g
        a.values[1 * 12 + 2 * 4] = 1000 // the padded position (row 1, position 2)
        let skipped = compareTensor(name: "last_hidden_state", expected: g, actual: a, layout: Self.layout, perToken: true, tolerance: Self.fp32, minCosine: nil)
        #expect(skipped.status == .pass)
        var all = Self.layout
        all.mask = nil
        let included = compareTensor(name: "last_hidden_state", expected: g, actual: a, layout: all, perToken: true, tolerance: Self.fp32, minCosine: nil)
        #expect(included.status == .fail && included.compared == 24 && included.worst?.position == 2)
    }

    @Test func nonFiniteCandidateValuesAlwaysFail() {
        let g = Self.array([2, 3, 4]) { Float($0) }
        var a = g
        a.values[5] = .nan
        a.values[7] = .infinity
        let r = compareTensor(name: "last_hidden_state", expected: g, actual: a, layout: Self.layout, perToken: true,
                              tolerance: Tolerance(atol: 1e9, rtol: 1e9), minCosine: nil)
        #expect(r.status == .fail && r.nonFinite == 2 && r.mismatched == 2)
        #expect(r.worst?.hiddenIndex == 1 && r.worst?.actual.isNaN == true)
        #expect(r.maxAbsErr == 0) // over the finite pairs
    }

    @Test func shapeAndMissingTensorsFail() {
        let g = Self.array([2, 3, 4]) { Float($0) }
        let wrong = compareTensor(name: "last_hidden_state", expected: g, actual: Self.array([2, 3, 5]) { Float($0) }, layout: Self.layout,
                                  perToken: true, tolerance: Self.fp32, minCosine: nil)
        #expect(wrong.status == .fail && wrong.message?.contains("(2, 3, 5)") == true)
        let missing = compareTensor(name: "pooler_output", expected: Self.array([2, 4]) { Float($0) }, actual: nil, layout: Self.layout,
                                    perToken: false, tolerance: Self.fp32, minCosine: nil)
        #expect(missing.status == .fail && missing.message == "the candidate has no pooler_output")
    }

    @Test func minCosineGates() {
        let g = Self.array([2, 4]) { Float($0 + 1) }
        var a = g
        a.values[0] = -a.values[0] * 0.9
        let r = compareTensor(name: "pooler_output", expected: g, actual: a, layout: Self.layout, perToken: false,
                              tolerance: Tolerance(atol: 10, rtol: 0), minCosine: 0.99)
        #expect(r.mismatched == 0 && r.status == .fail && r.message?.contains("cosine") == true)
        #expect(r.worst?.position == nil)
    }

    @Test func tolerancePrecedence() throws {
        let metadata = GoldenMetadata(atol: 5e-3, rtol: 6e-3)
        var settings = ToleranceSettings()
        #expect(settings.tolerance(for: "last_hidden_state", weightDType: .F32, golden: GoldenMetadata()) == Tolerance(atol: 1e-4, rtol: 1e-4))
        #expect(settings.tolerance(for: "x", weightDType: .F16, golden: GoldenMetadata()) == Tolerance(atol: 1e-2, rtol: 1e-2))
        #expect(settings.tolerance(for: "x", weightDType: .BF16, golden: GoldenMetadata()) == Tolerance(atol: 1e-1, rtol: 5e-2))
        #expect(settings.tolerance(for: "x", weightDType: .F32, golden: metadata) == Tolerance(atol: 5e-3, rtol: 6e-3))
        settings.profile = .fp16
        #expect(settings.tolerance(for: "x", weightDType: .F32, golden: metadata) == Tolerance(atol: 1e-2, rtol: 1e-2))
        settings.atol = 1e-6
        #expect(settings.tolerance(for: "x", weightDType: .F32, golden: metadata) == Tolerance(atol: 1e-6, rtol: 1e-2))
        let (name, tolerance) = try ToleranceSettings.parseOverride("pooler_output=1e-3,0")
        settings.perTensor[name] = tolerance
        #expect(settings.tolerance(for: "pooler_output", weightDType: .F32, golden: metadata) == Tolerance(atol: 1e-3, rtol: 0))
        for bad in ["pooler_output", "=1,1", "x=1", "x=1,2,3", "x=a,1", "x=-1,1", "x=nan,1", "x=-inf,1"] {
            #expect(throws: ComparisonRequestProblem.malformedToleranceOverride(bad)) { try ToleranceSettings.parseOverride(bad) }
        }
    }

    @Test func poolerInvariantChecksGoldenAndCandidate() {
        // A 1-hidden "pooler" that doubles: tanh(2x).
        let pool: ([Float], Int) -> [Float]? = { rows, _ in rows.map { tanh(2 * $0) } }
        let last = FloatArray(shape: [2, 2, 1], values: [0.1, 9, 0.3, 9])
        let good = ModelOutputs(lastHiddenState: last, poolerOutput: FloatArray(shape: [2, 1], values: [tanh(0.2), tanh(0.6)]), hiddenStates: [])
        let pass = poolerInvariant(golden: good, candidate: good, batch: 2, seq: 2, hidden: 1, pool: pool, tolerance: Self.fp32)
        #expect(pass?.status == .pass && pass?.compared == 4)
        var foreign = good
        foreign.poolerOutput?.values[1] = 0.9
        let fail = poolerInvariant(golden: foreign, candidate: good, batch: 2, seq: 2, hidden: 1, pool: pool, tolerance: Self.fp32)
        #expect(fail?.status == .fail)
        #expect(fail?.worst?.subject == "golden" && fail?.worst?.row == 1)
        #expect(fail?.message?.contains("not recorded with this model") == true)
    }
}
