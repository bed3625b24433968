import Foundation
import Testing
@testable import BertCheck

/// The task heads against transformers: goldens recorded by Scripts/record_goldens.py from the
/// tiny seeded checkpoints of Scripts/make_head_checkpoints.py (goldens/heads/, goldens/checkpoints/heads/).
@Suite struct HeadTests {
    static func checkpoint(_ name: String) -> String { TinyCheckpoints.path("heads/\(name)") }
    static func golden(_ name: String) -> String { TestPaths.goldens.appendingPathComponent("heads/\(name).golden.safetensors").path }

    /// Each head's outputs and the checks verify must report for it.
    static let cases: [(name: String, outputs: [String], checks: [String])] = [
        ("seqcls", ["logits"], ["labels"]),
        ("regression", ["logits"], []),
        ("tokcls", ["logits"], ["labels"]),
        ("qa", ["start_logits", "end_logits"], ["best_span"]),
        ("mlm", ["logits"], ["top_k"]),
        ("pretraining", ["prediction_logits", "seq_relationship_logits"], ["top_k", "seq_relationship_logits.labels"]),
        ("nsp", ["logits"], ["labels"]),
    ]

    @Test(arguments: cases.map(\.name))
    func headLogitsMatchTransformersWithin1e5(_ name: String) throws {
        let golden = try GoldenFile.read(Self.golden(name))
        let model = try BertModel(checkpoint: try loadCheckpoint(Self.checkpoint(name)), threads: 1)
        // Every position is compared, the padded ones too: computed for the per-token heads.
        let output = try model.forward(golden.inputBatch, computePadding: true)
        let spec = try #require(Self.cases.first { $0.name == name })
        for tensor in spec.outputs {
            let expected = try #require(golden.outputs[tensor], "the golden has no \(tensor)")
            let actual = try #require(output.headOutputs[tensor], "bertcheck computed no \(tensor)")
            #expect(actual.shape == expected.shape)
            let worst = zip(actual.values, expected.values).map { abs($0 - $1) }.max() ?? .infinity
            #expect(worst <= 1e-5, "\(name) \(tensor): max abs err \(worst)")
        }
        // Without the padded positions: a per-token head's real tokens are the same, the rest 0.
        let packed = try model.forward(golden.inputBatch)
        let batch = golden.inputBatch
        for tensor in spec.outputs {
            let full = try #require(output.headOutputs[tensor]), real = try #require(packed.headOutputs[tensor])
            guard full.shape.count >= 2, full.shape[1] == batch.seq else {
                #expect(real.values == full.values, "\(name) \(tensor)")
                continue
            }
            let width = full.values.count / (batch.batch * batch.seq)
            for t in 0..<(batch.batch * batch.seq) {
                let a = full.values[(t * width)..<((t + 1) * width)], b = real.values[(t * width)..<((t + 1) * width)]
                if batch.attentionMask[t] == 1 {
                    #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-6 }, "\(name) \(tensor) token \(t)")
                } else if t % batch.seq != 0 {
                    #expect(b.allSatisfy { $0 == 0 }, "\(name) \(tensor) padded token \(t)")
                }
            }
        }
    }

    @Test(arguments: cases.map(\.name))
    func goldenVerifiesWithEveryHeadCheck(_ name: String) throws {
        let report = try verifyGolden(VerifyOptions(goldenPath: Self.golden(name), modelPath: Self.checkpoint(name)))
        let spec = try #require(Self.cases.first { $0.name == name })
        #expect(report.status == .pass, "\(report.checks.filter { $0.status != .pass }.map { "\($0.name): \($0.message ?? "")" })")
        for check in spec.outputs + spec.checks {
            let result = report.checks.first { $0.name == check }
            #expect(result?.status == .pass, "\(name): \(check) is \(result.map { "\($0.status)" } ?? "missing")")
            #expect((result?.compared ?? 0) > 0, "\(name): \(check) compared nothing")
            // Every check reports its rows (issue 15): one per golden row it compared.
            #expect(result?.rows.isEmpty == false && result?.rows.allSatisfy { $0.status == .pass } == true, "\(name): \(check) rows")
        }
        // Heads come after the encoder in stack order.
        let order = report.checks.compactMap { OutputRegistry.stackOrder(of: $0.name) }
        #expect(order == order.sorted())
        // A pooler-less checkpoint's golden has no pooler_output (record_goldens.py loads the real class).
        let golden = try GoldenFile.read(Self.golden(name))
        #expect((golden.outputs.poolerOutput != nil) == (try BertModel(checkpoint: try loadCheckpoint(Self.checkpoint(name))).hasPooler))
    }

    @Test func swappedClassifierRowsFailLabelsNamingTheFlippedRows() throws {
        let report = try verifyGolden(VerifyOptions(goldenPath: Self.golden("seqcls"), modelPath: Self.checkpoint("seqcls-swapped")))
        #expect(report.status == .fail)
        let labels = try #require(report.checks.first { $0.name == "labels" })
        #expect(labels.status == .fail)
        // The seeded head predicts 0, 1, 1, 2, 0: swapping rows 0 and 1 flips every row but row 3.
        #expect(labels.mismatched == 4 && labels.compared == 5)
        #expect(labels.rows.map(\.status) == [.fail, .fail, .fail, .pass, .fail])
        let message = labels.message ?? ""
        for row in [0, 1, 2, 4] { #expect(message.contains("row \(row) ")) }
        #expect(!message.contains("row 3 "))
        #expect(message.contains("golden 0 (negative), candidate 1 (neutral)"))
        #expect(message.contains("the quick brown fox"))
        #expect(report.firstDivergence == "logits")
    }

    @Test func float16CopyPassesItsProfile() throws {
        let report = try verifyGolden(VerifyOptions(goldenPath: Self.golden("seqcls"), modelPath: Self.checkpoint("seqcls-f16")))
        #expect(report.profile == .fp16)
        #expect(report.status == .pass, "\(report.checks.filter { $0.status != .pass }.map(\.name))")
        #expect(report.checks.contains { $0.name == "labels" && $0.status == .pass })
    }

    @Test func wrongLogitsInAnOutputsFileFailAndUnknownTensorsAreListed() throws {
        let golden = try GoldenFile.read(Self.golden("seqcls"))
        var tensors = golden.tensorsForWriting().map { tensor -> Tensor in
            guard tensor.name == "logits" else { return tensor }
            var values = tensor.floats()
            for row in 0..<5 { values.swapAt(row * 3, row * 3 + 1) }
            return Tensor.makeTensor(name: tensor.name, floats: values, shape: tensor.shape)
        }
        tensors.append(Tensor.makeTensor(name: "attentions.0", floats: [1], shape: [1]))
        let path = TestPaths.temporaryDirectory().appendingPathComponent("outputs.safetensors").path
        try SafetensorsWriter.write(tensors, metadata: [:], to: path)
        let report = try verifyGolden(VerifyOptions(goldenPath: Self.golden("seqcls"), outputsPath: path))
        #expect(report.checks.first { $0.name == "logits" }?.status == .fail)
        #expect(report.checks.first { $0.name == "labels" }?.status == .fail)
        #expect(report.notes.contains { $0.contains("attentions.0") && $0.contains("not compared") })
    }

    @Test func goldenWithHeadOutputsIsAccepted() throws {
        for (name, outputs, _) in Self.cases {
            let golden = try GoldenFile.read(Self.golden(name))
            for output in outputs { #expect(golden.outputs[output] != nil, "\(name): \(output)") }
            #expect(golden.metadata.architecture?.hasPrefix("BertFor") == true)
        }
    }

    @Test func headIsChosenFromArchitecturesThenTensors() {
        #expect(TaskHead.of(architectures: ["BertForQuestionAnswering"], storedModules: [.classifier], hasPooler: true) == .questionAnswering)
        #expect(TaskHead.of(architectures: ["BertModel"], storedModules: [.classifier], hasPooler: true) == nil)
        #expect(TaskHead.of(architectures: nil, storedModules: [.classifier], hasPooler: true) == .sequenceClassification)
        #expect(TaskHead.of(architectures: nil, storedModules: [.classifier], hasPooler: false) == .tokenClassification)
        #expect(TaskHead.of(architectures: nil, storedModules: [.predictions, .seqRelationship], hasPooler: true) == .preTraining)
        #expect(TaskHead.of(architectures: nil, storedModules: [.seqRelationship], hasPooler: true) == .nextSentencePrediction)
        #expect(HeadParameterName(storedName: "cls.predictions.transform.LayerNorm.gamma")?.description == "cls.predictions.transform.LayerNorm.weight")
        #expect(HeadParameterName(storedName: "cls.predictions.bias")?.module == .predictions)
        #expect(HeadParameterName(storedName: "classifier.gamma") == nil)
    }

    @Test func partialHeadIsAnErrorNamingTheMissingTensor() throws {
        let dir = try TinyCheckpoints.copy("heads/seqcls")
        let file = dir.appendingPathComponent("model.safetensors").path
        let (tensors, metadata) = try SafetensorsFile.read(file)
        try SafetensorsWriter.write(tensors.filter { $0.name != "classifier.bias" }, metadata: metadata, to: file)
        #expect(throws: FileError.self) { try BertModel(checkpoint: try loadCheckpoint(dir.path)) }
        do {
            _ = try BertModel(checkpoint: try loadCheckpoint(dir.path))
        } catch {
            #expect("\(error)".contains("classifier.bias"))
        }
    }

    @Test func legacyPreTrainingCheckpointComputesItsHeadsWithGammaBetaNames() throws {
        let model = try BertModel(checkpoint: try loadCheckpoint(TinyCheckpoints.path("tiny-bert-legacy")), threads: 1)
        #expect(model.taskHead == .preTraining)
        let batch = Batch(batch: 1, seq: 3, inputIds: [2, 5, 3], attentionMask: [1, 1, 1], tokenTypeIds: [0, 0, 0])
        let output = try model.forward(batch)
        #expect(output.headOutputs["prediction_logits"]?.shape == [1, 3, 99])
        #expect(output.headOutputs["seq_relationship_logits"]?.shape == [1, 2])
    }

    @Test func verifyCommandReportsTheLabelsCheck() throws {
        let result = try CLI.run(["verify", "--golden", Self.golden("seqcls"), "--model", Self.checkpoint("seqcls-swapped")])
        #expect(result.status == 1)
        #expect(result.stdout.contains("labels: logits: the predicted label flipped in 4 of 5 rows"))
    }
}

/// `params` and `run` on the task-head checkpoints.
@Suite struct HeadCommandTests {
    @Test func paramsShowsTheHeadWithItsLabelsAndCountsItInFreeze() throws {
        let path = HeadTests.checkpoint("seqcls")
        let text = try CLI.run(["params", path])
        #expect(text.status == 0)
        #expect(text.stdout.contains("Task Head (BertForSequenceClassification)"))
        #expect(text.stdout.contains("classifier.weight"))
        #expect(text.stdout.contains("labels: 0 negative, 1 neutral, 2 positive"))
        #expect(!text.stdout.contains("Ignored"))
        let json = jsonObject(try CLI.run(["params", path, "--json"]).stdout)
        let head = try #require(json["head"] as? [String: Any])
        #expect(head["labels"] as? [String] == ["negative", "neutral", "positive"])
        #expect(head["total"] as? Int == 3 * 32 + 3)
        let total = try #require(json["total_parameters"] as? Int)
        // The notebook's three strategies, on a real fine-tuned checkpoint: the head always trains.
        let all = jsonObject(try CLI.run(["params", path, "--json", "--freeze", "all"]).stdout)
        #expect(all["trainable"] as? Int == 99)
        #expect(all["frozen"] as? Int == total)
        let none = jsonObject(try CLI.run(["params", path, "--json", "--freeze", "none"]).stdout)
        #expect(none["trainable"] as? Int == total + 99)
        let partial = jsonObject(try CLI.run(["params", path, "--json", "--freeze", "embeddings,encoder.layer.0-1,classifier"]).stdout)
        let frozenPartial = try #require(partial["frozen"] as? Int)
        #expect(partial["trainable"] as? Int == total + 99 - frozenPartial)
        let embeddingsAndTwo = jsonObject(try CLI.run(["params", path, "--json", "--freeze", "embeddings,encoder.layer.0-1"]).stdout)
        #expect(frozenPartial == (embeddingsAndTwo["frozen"] as? Int ?? 0) + 99)
    }
}

extension HeadCommandTests {
    @Test func runShowsWhatAPipelineWould() throws {
        let seqcls = try CLI.run(["run", HeadTests.checkpoint("seqcls"), "the cat sat on the mat"])
        #expect(seqcls.status == 0)
        #expect(seqcls.stdout.contains("task head: BertForSequenceClassification"))
        #expect(seqcls.stdout.contains("label: "))
        #expect(try CLI.run(["run", HeadTests.checkpoint("regression"), "test"]).stdout.contains("score: "))
        #expect(try CLI.run(["run", HeadTests.checkpoint("tokcls"), "the cat"]).stdout.contains("token labels: [CLS]/"))
        let mlm = try CLI.run(["run", HeadTests.checkpoint("mlm"), "the [MASK] sat"]).stdout
        #expect(mlm.contains("[MASK] at token 2: "))
        let qa = try CLI.run(["run", HeadTests.checkpoint("qa"), "where is the dog?", "--pair", "the dog ran to the tree."]).stdout
        #expect(qa.contains("answer: \""))
        let json = jsonObject(try CLI.run(["run", HeadTests.checkpoint("seqcls"), "the cat", "--json"]).stdout)
        #expect(json["task"] as? String == "BertForSequenceClassification")
        #expect((json["logits"] as? [String: Any])?["shape"] as? [Int] == [1, 3])
    }

    /// The predictions agree with the golden's logits recorded by transformers: the label is the
    /// argmax with the softmax probability, the masks' top token is the argmax at [MASK].
    @Test func predictionsFollowTheReferenceLogits() throws {
        let golden = try GoldenFile.read(HeadTests.golden("seqcls"))
        let model = try BertModel(checkpoint: try loadCheckpoint(HeadTests.checkpoint("seqcls")))
        var output = try model.forward(golden.inputBatch)
        output.headOutputs = ["logits": try #require(golden.outputs["logits"])]
        let rows = try #require(headPredictions(task: .sequenceClassification, config: model.config, batch: golden.inputBatch,
                                                output: output, tokenText: { _ in nil }))
        #expect(rows.map { $0.label?.name } == ["negative", "neutral", "neutral", "positive", "negative"])
        let logits = try #require(golden.outputs["logits"]).values
        let first = softmax(Array(logits[0..<3]))
        #expect(abs((rows[0].label?.probability ?? 0) - first[0]) < 1e-12)
    }
}
