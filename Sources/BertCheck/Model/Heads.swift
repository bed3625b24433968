/// The task heads of transformers' BertFor… classes, one type per HF module, loaded from the
/// weight table by the head table's names (HeadSpec.swift). Each reads the encoder's outputs
/// (`last_hidden_state` and `pooler_output`) and returns transformers' output fields by name.
/// Dropout is the identity (eval mode), as in the reference.

/// What a head reads: the encoder's outputs for one batch.
struct EncoderOutputs {
    let batch: Int
    let seq: Int
    let hidden: Int
    /// [batch·seq, hidden].
    let lastHiddenState: [Float]
    /// [batch, hidden], nil without a pooler.
    let pooled: [Float]?
    /// The tokens the encoder computed, and their last hidden state [tokens.tokens, hidden]:
    /// per-token heads run over these rows only.
    let tokens: PackedRows
    let packedHidden: ConstFloatPointer

    /// A per-token head's output [batch · seq, features]: `compute` maps the packed rows
    /// (pointer, count) to [count, features]; positions not computed hold 0, as in
    /// `lastHiddenState`.
    func perToken(features: Int, _ compute: (ConstFloatPointer, Int) -> [Float]) -> [Float] {
        tokens.scatter(compute(packedHidden, tokens.tokens), width: features)
    }
}

extension Linear {
    /// A head's nn.Linear, its output features checked against `outFeatures`.
    init(_ table: WeightTable, head module: HeadModule, outFeatures: Int) throws {
        let config = table.config
        let labels = outFeatures
        weight = try table.weight(HeadParameterName(module, leaf: "weight"), shape: module.shape(of: "weight", config: config, labels: labels))
        bias = try table.weight(HeadParameterName(module, leaf: "bias"), shape: module.shape(of: "bias", config: config, labels: labels))
        self.outFeatures = weight.shape[0]
        inFeatures = weight.shape[1]
    }

    /// `input · Wᵀ + b` for `rows` rows, as a new buffer.
    func apply(_ input: [Float], rows: Int, workers: Int) -> [Float] {
        input.withUnsafeBufferPointer { i in
            guard let ib = i.baseAddress else { return [Float](repeating: 0, count: rows * outFeatures) }
            return apply(ib, rows: rows, workers: workers)
        }
    }

    func apply(_ input: ConstFloatPointer, rows: Int, workers: Int) -> [Float] {
        var out = [Float](repeating: 0, count: rows * outFeatures)
        out.withUnsafeMutableBufferPointer { o in
            guard let ob = o.baseAddress, rows > 0 else { return }
            forward(ob, input, rows: rows, workers: workers)
        }
        return out
    }
}

/// A task head: transformers' output fields computed from the encoder's outputs.
protocol TaskHeadModule {
    func outputs(_ encoder: EncoderOutputs, workers: Int) -> [String: FloatArray]
}

/// BertForSequenceClassification's `classifier` on the pooled output: `logits` [B, num_labels].
struct SequenceClassificationHead: TaskHeadModule {
    let classifier: Linear

    func outputs(_ encoder: EncoderOutputs, workers: Int) -> [String: FloatArray] {
        let logits = classifier.apply(encoder.pooled ?? [], rows: encoder.batch, workers: workers)
        return ["logits": FloatArray(shape: [encoder.batch, classifier.outFeatures], values: logits)]
    }
}

/// BertForTokenClassification's `classifier` on every token: `logits` [B, S, num_labels].
struct TokenClassificationHead: TaskHeadModule {
    let classifier: Linear

    func outputs(_ encoder: EncoderOutputs, workers: Int) -> [String: FloatArray] {
        let logits = encoder.perToken(features: classifier.outFeatures) { classifier.apply($0, rows: $1, workers: workers) }
        return ["logits": FloatArray(shape: [encoder.batch, encoder.seq, classifier.outFeatures], values: logits)]
    }
}

/// BertForQuestionAnswering's `qa_outputs`: Linear(H, 2) split into `start_logits` and
/// `end_logits` [B, S].
struct QuestionAnsweringHead: TaskHeadModule {
    let qaOutputs: Linear

    func outputs(_ encoder: EncoderOutputs, workers: Int) -> [String: FloatArray] {
        let tokens = encoder.batch * encoder.seq
        let both = encoder.perToken(features: 2) { qaOutputs.apply($0, rows: $1, workers: workers) }
        let shape = [encoder.batch, encoder.seq]
        return ["start_logits": FloatArray(shape: shape, values: (0..<tokens).map { both[2 * $0] }),
                "end_logits": FloatArray(shape: shape, values: (0..<tokens).map { both[2 * $0 + 1] })]
    }
}

/// `cls.predictions`: BertPredictionHeadTransform (dense, the config's activation, LayerNorm),
/// then the decoder, whose weight is the word embeddings unless the checkpoint stores its own,
/// and whose bias is `cls.predictions.bias`.
struct MaskedLMHead {
    let transformDense: Linear
    let activation: Activation
    let layerNormWeight: FloatWeight
    let layerNormBias: FloatWeight
    let eps: Float
    let decoderWeight: FloatWeight
    let decoderBias: FloatWeight

    init(_ table: WeightTable, wordEmbeddings: FloatWeight, activation: Activation) throws {
        let config = table.config
        func weight(_ module: HeadModule, _ leaf: String) throws -> FloatWeight {
            try table.weight(HeadParameterName(module, leaf: leaf), shape: module.shape(of: leaf, config: config, labels: 0))
        }
        transformDense = try Linear(table, head: .predictionTransformDense, outFeatures: config.hiddenSize)
        self.activation = activation
        layerNormWeight = try weight(.predictionTransformLayerNorm, "weight")
        layerNormBias = try weight(.predictionTransformLayerNorm, "bias")
        eps = Float(config.layerNormEps)
        // Tied: transformers points decoder.weight at the word embeddings and decoder.bias at
        // cls.predictions.bias; a file that stores them (untied, or a copy) is read as stored.
        let storedDecoder = HeadParameterName(.predictionDecoder, leaf: "weight")
        decoderWeight = table.contains(storedDecoder) ? try weight(.predictionDecoder, "weight") : wordEmbeddings
        decoderBias = table.contains(HeadParameterName(.predictions, leaf: "bias"))
            ? try weight(.predictions, "bias") : try weight(.predictionDecoder, "bias")
    }

    /// Logits [B·S, V] for every computed token (0 elsewhere, see `EncoderOutputs.perToken`).
    func logits(_ encoder: EncoderOutputs, workers: Int) -> [Float] {
        encoder.perToken(features: decoderWeight.shape[0]) { input, tokens in logits(input, tokens: tokens, hidden: encoder.hidden, workers: workers) }
    }

    /// Logits [tokens, V] of `tokens` rows of hidden states.
    private func logits(_ input: ConstFloatPointer, tokens: Int, hidden h: Int, workers: Int) -> [Float] {
        let v = decoderWeight.shape[0]
        var transformed = [Float](repeating: 0, count: tokens * h)
        var logits = [Float](repeating: 0, count: tokens * v)
        guard tokens > 0 else { return logits }
        transformed.withUnsafeMutableBufferPointer { t in
            guard let tb = t.baseAddress else { return }
            transformDense.forward(tb, input, rows: tokens, activation: activation, workers: workers)
            residualLayerNorm(tb, tb, residual: nil, weight: layerNormWeight.pointer, shift: layerNormBias.pointer, eps: eps,
                              rows: tokens, columns: h, workers: workers)
        }
        transformed.withUnsafeBufferPointer { t in
            logits.withUnsafeMutableBufferPointer { o in
                guard let tb = t.baseAddress, let ob = o.baseAddress else { return }
                linearForward(ob, tb, weight: decoderWeight.pointer, bias: decoderBias.pointer, rows: tokens, inFeatures: h,
                              outFeatures: v, workers: workers)
            }
        }
        return logits
    }
}

/// BertForMaskedLM: `logits` [B, S, V].
struct MaskedLMTaskHead: TaskHeadModule {
    let predictions: MaskedLMHead

    func outputs(_ encoder: EncoderOutputs, workers: Int) -> [String: FloatArray] {
        let v = predictions.decoderWeight.shape[0]
        return ["logits": FloatArray(shape: [encoder.batch, encoder.seq, v], values: predictions.logits(encoder, workers: workers))]
    }
}

/// BertForNextSentencePrediction's `cls.seq_relationship` on the pooled output: `logits` [B, 2].
struct NextSentenceHead: TaskHeadModule {
    let seqRelationship: Linear
    var outputName = "logits"

    func outputs(_ encoder: EncoderOutputs, workers: Int) -> [String: FloatArray] {
        let logits = seqRelationship.apply(encoder.pooled ?? [], rows: encoder.batch, workers: workers)
        return [outputName: FloatArray(shape: [encoder.batch, 2], values: logits)]
    }
}

/// BertForPreTraining's BertPreTrainingHeads: `prediction_logits` [B, S, V] and
/// `seq_relationship_logits` [B, 2].
struct PreTrainingHeads: TaskHeadModule {
    let predictions: MaskedLMHead
    let seqRelationship: NextSentenceHead

    func outputs(_ encoder: EncoderOutputs, workers: Int) -> [String: FloatArray] {
        let v = predictions.decoderWeight.shape[0]
        var out = seqRelationship.outputs(encoder, workers: workers)
        out["prediction_logits"] = FloatArray(shape: [encoder.batch, encoder.seq, v], values: predictions.logits(encoder, workers: workers))
        return out
    }
}

/// A checkpoint's head, chosen by `TaskHead.of` and loaded.
struct LoadedTaskHead {
    let kind: TaskHead
    let module: TaskHeadModule

    /// The head of `kind` from the table. A checkpoint whose config names a task class but that
    /// stores none of its head tensors (an encoder exported alone) has no head: nil. One that
    /// stores part of them is broken: the first missing tensor is the error.
    static func load(_ kind: TaskHead, table: WeightTable, wordEmbeddings: FloatWeight, activation: Activation,
                     hasPooler: Bool) throws -> LoadedTaskHead? {
        let stored = table.storedHeadModules
        guard !stored.isDisjoint(with: kind.modules) else { return nil }
        if kind.needsPooler && !hasPooler {
            throw FileError(table.defaultFile, WeightProblem.missing(ParameterName(.poolerDense, leaf: "weight").description
                                                                    + " (\(kind.rawValue) reads the pooled output)"))
        }
        let config = table.config
        func classifier() throws -> Linear {
            // num_labels: id2label's size when the config has one, else the stored rows.
            let rows = config.id2label?.count ?? table.storedShape(HeadParameterName(.classifier, leaf: "weight"))?.first ?? 2
            return try Linear(table, head: .classifier, outFeatures: rows)
        }
        let module: TaskHeadModule
        switch kind {
        case .sequenceClassification:
            module = SequenceClassificationHead(classifier: try classifier())
        case .tokenClassification:
            module = TokenClassificationHead(classifier: try classifier())
        case .questionAnswering:
            module = QuestionAnsweringHead(qaOutputs: try Linear(table, head: .qaOutputs, outFeatures: 2))
        case .maskedLM:
            module = MaskedLMTaskHead(predictions: try MaskedLMHead(table, wordEmbeddings: wordEmbeddings, activation: activation))
        case .nextSentencePrediction:
            module = NextSentenceHead(seqRelationship: try Linear(table, head: .seqRelationship, outFeatures: 2))
        case .preTraining:
            module = PreTrainingHeads(
                predictions: try MaskedLMHead(table, wordEmbeddings: wordEmbeddings, activation: activation),
                seqRelationship: NextSentenceHead(seqRelationship: try Linear(table, head: .seqRelationship, outFeatures: 2),
                                                  outputName: "seq_relationship_logits"))
        }
        return LoadedTaskHead(kind: kind, module: module)
    }
}
