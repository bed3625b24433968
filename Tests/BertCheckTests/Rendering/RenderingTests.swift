import Foundation
import Testing
@testable import BertCheck
@testable import BertCheckRendering

/// The one JSON encoder: escaping, number spelling, the three layouts.
@Suite struct JSONWriterTests {
    @Test func stringsAreEscapedAndReadBackIntact() throws {
        let texts = ["plain", "a \"quoted\" word", "back\\slash", "line\nbreak\r\ttab", "\u{0}\u{1}\u{1F}\u{7F}",
                     "é, 東京: 🙂", "\u{2028}", ""]
        for text in texts {
            let quoted = StrictJSON.quote(text)
            #expect(try StrictJSON.parse(Array(quoted.utf8)) == .string(text), "\(quoted)")
        }
        #expect(StrictJSON.quote("a\"b\\c\n\u{1}é") == #""a\"b\\c\n\u0001é""#)
    }

    @Test func numbersHaveOneSpellingPerTypeAndNullForNonFinite() {
        func text(_ value: JSONValue) -> String { value.serialized(.compact) }
        #expect(text(.int(-42)) == "-42" && text(.int(Int.min)) == "-9223372036854775808" && text(.int(nil)) == "null")
        #expect(text(.number(0.5)) == "0.5" && text(.number(1.0)) == "1.0" && text(.number(1e-5)) == "1e-05")
        #expect(text(.number(Float(0.1))) == "0.1", "a Float is spelled as a Float, not as the Double it widens to")
        for bad in [Double.nan, .infinity, -.infinity] {
            #expect(text(.number(bad)) == "null")
            #expect(text(.number(Float(bad))) == "null")
        }
        #expect(text(.number(Double?.none)) == "null" && text(.string(String?.none)) == "null")
    }

    @Test func layoutsDifferOnlyInWhitespace() throws {
        let value: JSONValue = .object([
            ("name", .string("a, b: c")), ("shape", .array([.int(2), .int(3)])), ("empty", .array([])), ("none", .object([])),
        ])
        #expect(value.serialized(.compact) == #"{"name":"a, b: c","shape":[2,3],"empty":[],"none":{}}"#)
        #expect(value.serialized(.oneLine) == #"{"name": "a, b: c", "shape": [2, 3], "empty": [], "none": {}}"#)
        #expect(value.serialized(.pretty) == value.serialized(.oneLine), "a small object stays on one line")
        for layout in [JSONLayout.compact, .oneLine, .pretty] {
            #expect(try StrictJSON.parse(Array(value.serialized(layout).utf8)) == value)
        }
    }

    @Test func prettyBreaksLargeContainersAndKeepsSmallOnesOnOneLine() throws {
        // 40 items: more than 16, and over 100 bytes compact, so neither it nor the object fits on a line.
        let long: JSONValue = .array((0..<40).map { .int($0) })
        let value: JSONValue = .object([("long", long), ("small", .array([.int(1), .int(2)]))])
        let pretty = value.serialized()
        #expect(pretty.hasPrefix("{\n  \"long\": [\n    0,\n    1,\n"))
        #expect(pretty.hasSuffix("    39\n  ],\n  \"small\": [1, 2]\n}"))
        #expect(try StrictJSON.parse(Array(pretty.utf8)) == value)
    }

    @Test func floatArraysNestByShape() {
        let value = JSONValue.array([1, 2, 3, 4, .nan, 6], shape: [1, 2, 3])
        #expect(value.serialized(.oneLine) == "[[[1.0, 2.0, 3.0], [4.0, null, 6.0]]]")
    }

    @Test func safetensorsHeadersAreCompactJSONPaddedToEightBytes() throws {
        let tensor = Tensor.makeTensor(name: "a \"quoted\" name", floats: [1, 2, 3], shape: [3])
        let header = SafetensorsWriter.header(for: [tensor], metadata: ["format": "pt"])
        #expect(header.count % 8 == 0)
        let text = String(decoding: header, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        #expect(text == #"{"__metadata__":{"format":"pt"},"a \"quoted\" name":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}"#)
    }

    @Test func textListsUseTheOneLineLayout() throws {
        let items = [TextItem("a \"b\""), TextItem("c", pair: "d\n")]
        let encoded = TextItem.encodeList(items)
        #expect(encoded == #"["a \"b\"", ["c", "d\n"]]"#)
        #expect(try TextItem.parseList(Array(encoded.utf8)).get() == items)
    }
}

@Suite struct RendererTests {
    @Test func encodingJSONLinesMatchPythonJSONDumps() {
        let encoding = Encoding(inputIds: [101, 1, 2, 3, 4, 102], tokens: ["[CLS]", "a\"b", "\\", "\u{1}", "é", "[SEP]"],
                                tokenTypeIds: [0, 0, 0, 0, 1, 1])
        #expect(EncodingRenderer.jsonLine(encoding) ==
                #"{"input_ids": [101, 1, 2, 3, 4, 102], "tokens": ["[CLS]", "a\"b", "\\", "\u0001", "é", "[SEP]"], "token_type_ids": [0, 0, 0, 0, 1, 1]}"# + "\n")
        var bytes: [UInt8] = Array("x".utf8)
        EncodingRenderer.appendJSONLine(encoding, to: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == "x" + EncodingRenderer.jsonLine(encoding))
    }

    @Test func encodingTextUsesPythonReprs() {
        let encoding = Encoding(inputIds: [101, 7, 102], tokens: ["[CLS]", "it's", "[SEP]"], tokenTypeIds: [0, 0, 0])
        #expect(EncodingRenderer.text(encoding) == """
        3 tokens
        tokens:         ['[CLS]', "it's", '[SEP]']
        input_ids:      [101, 7, 102]
        token_type_ids: [0, 0, 0]
        """)
    }

    @Test func similarityJSONWritesNullForANonFiniteSimilarity() {
        #expect(SimilarityRenderer.json(similarity: 0.25, pooling: .mean).serialized(.oneLine) == #"{"similarity": 0.25, "pooling": "mean"}"#)
        #expect(SimilarityRenderer.json(similarity: .nan, pooling: .cls).serialized(.oneLine) == #"{"similarity": null, "pooling": "cls"}"#)
        #expect(SimilarityRenderer.text(similarity: 0.25, pooling: .pooler) == "cosine similarity (pooler pooling): 0.250000")
    }

    @Test func benchmarkJSONRoundsTheRates() throws {
        let result = BenchmarkResult(batch: 2, seq: 16, threads: 1, iterations: 3, msPerBatch: 12.34567)
        let json = BenchmarkRenderer.json(result)
        #expect(json["ms_per_batch"] == .number("12.346"))
        #expect(json["tokens_per_second"] == .number("2592.0"))
        #expect(json["batch"]?.integer == 2 && json["seq"]?.integer == 16 && json["threads"]?.integer == 1 && json["iterations"]?.integer == 3)
        #expect(BenchmarkRenderer.text(result) == "batch 2 x seq 16, 1 thread, 3 iterations: 12.3 ms per batch, 2592.0 tokens/s")
        // A padded batch counts its real tokens only.
        let padded = BenchmarkResult(batch: 2, seq: 16, threads: 1, iterations: 3, msPerBatch: 12.34567, lengths: [16, 4])
        #expect(BenchmarkRenderer.json(padded)["tokens_per_second"] == .number("1620.0"))
        #expect(BenchmarkRenderer.json(padded)["real_tokens"]?.integer == 20)
        #expect(BenchmarkRenderer.text(padded)
                == "batch 2 x seq 16 (20 real tokens, counted in tokens/s), 1 thread, 3 iterations: 12.3 ms per batch, 1620.0 tokens/s")
    }

    @Test func runReportJSONNestsOutputsAndNullsNonFiniteValues() throws {
        let bert = try BertModel(checkpoint: loadCheckpoint(TinyCheckpoints.path("tiny-bert")), threads: 1)
        let hidden = bert.config.hiddenSize
        var states = [Float](repeating: 0.5, count: 2 * hidden)
        states[hidden + 1] = .infinity
        let output = BertOutput(batch: 1, seq: 2, hidden: hidden, lastHiddenState: states, poolerOutput: nil, hiddenStates: nil)
        let batch = Batch(batch: 1, seq: 2, inputIds: [5, 6], attentionMask: [1, 1], tokenTypeIds: [0, 0])
        let report = RunReport(model: "m \"x\"", batch: batch, tokens: [["a", "b"]], output: output, bert: bert)
        let text = RunReportRenderer.json(report).serialized(.oneLine)
        let parsed = try StrictJSON.parse(Array(text.utf8))
        #expect(parsed["model"]?.string == "m \"x\"")
        #expect(parsed["input_ids"] == .array([.array([.int(5), .int(6)])]))
        #expect(parsed["tokens"] == .array([.array([.string("a"), .string("b")])]))
        let values = parsed["last_hidden_state"]?["values"]?.elements?.first?.elements
        #expect(values?.count == 2 && values?[1].elements?.count == hidden)
        #expect(values?[1].elements?[1] == .null)
        #expect(parsed["pooler_output"] == .null && parsed["pooler_check"] == .null)
        #expect(RunReportRenderer.text(report).contains("pooler_output: none (the checkpoint has no pooler weights)"))
    }

    /// `run --json` streams the report in pieces (issue 18 #2); the pieces join to exactly the
    /// text of the materialized value, whatever the piece boundaries.
    @Test func streamedRunJSONIsTheSerializedText() throws {
        let bert = try BertModel(checkpoint: loadCheckpoint(TinyCheckpoints.path("tiny-bert")), threads: 1)
        let hidden = bert.config.hiddenSize
        let values = (0..<(3 * hidden * 2)).map { Float($0) / 7 - 20 }
        let output = BertOutput(batch: 2, seq: 3, hidden: hidden, lastHiddenState: values, poolerOutput: Array(values.prefix(2 * hidden)),
                                hiddenStates: [values, values.map { -$0 }])
        let batch = Batch(batch: 2, seq: 3, inputIds: [2, 5, 3, 2, 6, 3], attentionMask: [1, 1, 1, 1, 1, 1], tokenTypeIds: [0, 0, 0, 0, 0, 0])
        let report = RunReport(model: "m", batch: batch, tokens: [["[CLS]", "a", "[SEP]"], ["[CLS]", "b", "[SEP]"]], output: output, bert: bert)
        var pieces: [[UInt8]] = []
        var buffer: [UInt8] = []
        try RunReportRenderer.jsonStream(report).write(to: &buffer, layout: .oneLine) { pieces.append($0); $0.removeAll() }
        pieces.append(buffer)
        #expect(pieces.joined().elementsEqual(RunReportRenderer.json(report).serialized(.oneLine).utf8))
    }

    @Test func paramsListingNamesTheFineTuningRows() throws {
        let checkpoint = try loadCheckpoint(TinyCheckpoints.path("tiny-bert"))
        let report = try ParamsReport(checkpoint: checkpoint, freeze: .prefixes(["embeddings"]), headClasses: 2, computeStats: true)
        let text = ParamsReportRenderer.text(report, all: false)
        #expect(text.contains("\nFine-tuning (--freeze embeddings)\n"))
        for label in ["head parameters (2 classes, N*H + N)", "trainable parameters", "frozen parameters"] {
            #expect(text.contains("\n" + pad(label, 55) + " "), "\(label)")
        }
        #expect(text.contains("\n" + pad("trainable parameters", 55) + " " + lpad(thousands(report.trainable), 12) + "\n"))
        let json = ParamsReportRenderer.json(report)
        #expect(json["trainable"]?.integer == report.trainable && json["frozen"]?.integer == report.frozen)
        let stats = json["parameters"]?.elements?.first?["stats"]
        #expect(stats?["min"]?.double == report.stats?.first?.min)
        #expect(stats?["nan"]?.integer == 0)
    }

    @Test func statsOfANaNOnlyTensorAreNullInJSON() throws {
        let tensor = Tensor.makeTensor(name: "embeddings.word_embeddings.weight", floats: [.nan, .nan], shape: [1, 2])
        let checkpoint = Checkpoint(path: "nan", format: CheckpointFormat("safetensors"), files: ["nan"], tensors: [tensor], config: nil, configPath: nil)
        let report = try ParamsReport(checkpoint: checkpoint, computeStats: true)
        let stats = ParamsReportRenderer.json(report)["parameters"]?.elements?.first?["stats"]
        #expect(stats == .object([("min", .null), ("max", .null), ("mean", .null), ("std", .null), ("nan", .int(2)), ("inf", .int(0))]))
        #expect(ParamsReportRenderer.schemaSummary(report) == "Schema: not checked (no config.json beside the weights)")
    }

    @Test func diffJSONNullsMissingFigures() throws {
        let changed = TensorDiff(name: "pooler.dense.bias", dtypeA: .F32, dtypeB: .F16, shapeA: [4], shapeB: [2, 2], maxAbsErr: nil,
                                 maxRelErr: nil, cosine: .nan, mismatched: 0, nonFinite: 0, status: .fail)
        let report = CheckpointDiffReport(pathA: "a", pathB: "b", missing: ["x"], extra: [], tensors: [changed], profile: .fp16,
                                          tolerance: ToleranceProfile.fp16.tolerance)
        let json = CheckpointDiffRenderer.json(report)
        let tensor = json["tensors"]?.elements?.first
        #expect(json["status"]?.string == "fail" && json["missing"] == .array([.string("x")]))
        #expect(tensor?["max_abs_err"] == .null && tensor?["cosine"] == .null && tensor?["shape_b"] == .array([.int(2), .int(2)]))
        let table = CheckpointDiffRenderer.table(report, all: true)
        #expect(table.contains("Shape differs: pooler.dense.bias (4,) → (2, 2)"))
        #expect(table.hasSuffix("FAIL: 1 missing, 0 extra, 1 differing beyond tolerance or in shape\n"))
    }
}

/// The library states problems without the CLI's flags; the CLI adds them (CLIContractTests and
/// the command tests check its lines).
@Suite struct LibraryProblemTests {
    static let problems: [any Error & CustomStringConvertible] = [
        FineTuningProblem.emptyFreezeItem, FineTuningProblem.notANamePrefix("a..b"), FineTuningProblem.notALayerRange("x.3-1"),
        FineTuningProblem.prefixMatchesNothing("nothing", checkpoint: "m"), FineTuningProblem.headWithoutClasses(0),
        FineTuningProblem.hiddenSizeUnknown, FineTuningProblem.headTooLarge(classes: Int.max, hiddenSize: 32),
        BenchmarkProblem.emptyBatch, BenchmarkProblem.sequenceTooLong(513, maxPositions: 512), BenchmarkProblem.tooManyTokens,
        BenchmarkProblem.noIterations,
        ComparisonRequestProblem.malformedToleranceOverride("x=1"),
        ComparisonRequestProblem.toleranceForUnknownTensor("x", checkpoints: ["a", "b"]), ComparisonRequestProblem.noCandidate,
        SentenceEmbeddingProblem.noPoolerOutput, OutputProblem.overwritesInput(output: "o", input: "i"),
    ]

    @Test func problemsNameNoFlag() {
        for problem in Self.problems {
            #expect(!problem.description.contains("--"), "\(problem)")
            #expect(!problem.description.isEmpty)
        }
    }

    @Test func libraryCallsThrowTypedProblems() throws {
        #expect(throws: FineTuningProblem.emptyFreezeItem) { try FreezeStrategy.parse("a,,b") }
        #expect(throws: FineTuningProblem.notANamePrefix("a..b")) { try FreezeStrategy.parse("a..b") }
        #expect(throws: FineTuningProblem.notALayerRange("x.3-1")) { try FreezeStrategy.parse("x.3-1") }
        let checkpoint = try loadCheckpoint(TinyCheckpoints.path("tiny-bert"))
        #expect(throws: FineTuningProblem.headWithoutClasses(0)) { try ParamsReport(checkpoint: checkpoint, headClasses: 0) }
        #expect(throws: FineTuningProblem.prefixMatchesNothing("nothing", checkpoint: checkpoint.path)) {
            try ParamsReport(checkpoint: checkpoint, freeze: .prefixes(["nothing"]))
        }
        let bert = try BertModel(checkpoint: checkpoint, threads: 1)
        let maxPositions = bert.config.maxPositionEmbeddings
        #expect(throws: BenchmarkProblem.sequenceTooLong(maxPositions + 1, maxPositions: maxPositions)) {
            try bert.benchmarkBatch(batch: 1, seq: maxPositions + 1)
        }
        #expect(throws: BenchmarkProblem.emptyBatch) { try bert.benchmarkBatch(batch: 0, seq: 4) }
        #expect(throws: BenchmarkProblem.noIterations) { try bert.benchmark(batch: 1, seq: 4, iterations: 0) }
        #expect(throws: ComparisonRequestProblem.noCandidate) { try verifyGolden(VerifyOptions(goldenPath: GoldenFormatTests.tinyGolden)) }
        let config = TinyCheckpoints.path("tiny-bert") + "/config.json"
        #expect(throws: OutputProblem.overwritesInput(output: config, input: config)) {
            try refuseOverwritingInputs(output: config, inputs: [config])
        }
    }
}
