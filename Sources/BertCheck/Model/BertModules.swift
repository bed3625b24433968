/// One type per transformers module of `BertModel`, loaded from the weight table by the
/// parameter-spec table's module names (like candle's bert.rs).

/// nn.Linear: weight [out, in], bias [out].
struct Linear {
    let weight: FloatWeight
    let bias: FloatWeight
    let inFeatures: Int
    let outFeatures: Int

    init(_ table: WeightTable, _ module: BertModule, layer: Int? = nil) throws {
        weight = try table.weight(module, layer: layer, leaf: "weight")
        bias = try table.weight(module, layer: layer, leaf: "bias")
        outFeatures = weight.shape[0]
        inFeatures = weight.shape[1]
    }

    /// `out[rows, outFeatures] = activation(input · Wᵀ + b)`, on `workers` threads; `packed` is
    /// scratch for the packed input, and either side may be packed (see `linearForward`).
    func forward(_ out: FloatPointer, _ input: ConstFloatPointer, rows: Int, activation: Activation? = nil, workers: Int,
                 packed: FloatPointer? = nil, inputLayout: MatrixLayout = .rowMajor, outLayout: MatrixLayout = .rowMajor) {
        linearForward(out, input, weight: weight.pointer, bias: bias.pointer, rows: rows, inFeatures: inFeatures,
                      outFeatures: outFeatures, activation: activation, workers: workers, packed: packed,
                      inputLayout: inputLayout, outLayout: outLayout)
    }

    /// This layer as one product of a combined `linearForward`, writing into `out`.
    func product(into out: FloatPointer, activation: Activation? = nil) -> LinearProduct {
        LinearProduct(weight: weight.pointer, bias: bias.pointer, out: out, outFeatures: outFeatures, activation: activation)
    }

    var mappedBytes: Int { weight.mappedBytes + bias.mappedBytes }

    func releasePages() {
        weight.releasePages()
        bias.releasePages()
    }
}

/// nn.LayerNorm over the hidden size.
struct LayerNorm {
    let weight: FloatWeight
    let bias: FloatWeight
    let eps: Float

    init(_ table: WeightTable, _ module: BertModule, layer: Int? = nil) throws {
        weight = try table.weight(module, layer: layer, leaf: "weight")
        bias = try table.weight(module, layer: layer, leaf: "bias")
        eps = Float(table.config.layerNormEps)
    }
}

/// `embeddings.*`: word + token type + position, then LayerNorm.
struct BertEmbeddings {
    let wordEmbeddings: FloatWeight
    let positionEmbeddings: FloatWeight
    let tokenTypeEmbeddings: FloatWeight
    let layerNorm: LayerNorm

    init(_ table: WeightTable) throws {
        wordEmbeddings = try table.weight(.wordEmbeddings, leaf: "weight")
        positionEmbeddings = try table.weight(.positionEmbeddings, leaf: "weight")
        tokenTypeEmbeddings = try table.weight(.tokenTypeEmbeddings, leaf: "weight")
        layerNorm = try LayerNorm(table, .embeddingsLayerNorm)
    }

    /// `out[i] = LayerNorm(word[id] + type[tt] + position[s])` for every packed token i (at flat
    /// index b·S + s of the batch), also packed into `packed` if given (see `residualLayerNorm`);
    /// ids already validated.
    func forward(_ out: FloatPointer, batch: Batch, tokens: PackedRows, hidden: Int, workers: Int, packed: FloatPointer?) {
        // Read once: a non-F32 table is decoded (or found decoded) under the scratch's lock.
        let types = tokenTypeEmbeddings.pointer, positions = positionEmbeddings.pointer
        for (i, t) in tokens.positions.enumerated() {
            let type = types + batch.tokenTypeIds[t] * hidden
            let pos = positions + (t % batch.seq) * hidden
            let o = out + i * hidden
            // The word row alone (decoded when not F32: no F32 copy of the vocabulary).
            wordEmbeddings.copyRow(batch.inputIds[t], into: o)
            // transformers' order: (inputs_embeds + token_type_embeddings) + position_embeddings.
            for c in 0..<hidden { o[c] = (o[c] + type[c]) + pos[c] }
        }
        residualLayerNorm(out, out, residual: nil, weight: layerNorm.weight.pointer, shift: layerNorm.bias.pointer,
                          eps: layerNorm.eps, rows: tokens.tokens, columns: hidden, workers: workers, packed: packed)
    }
}

/// `encoder.layer.N.attention.self.{query,key,value}`.
struct BertSelfAttention {
    let query: Linear
    let key: Linear
    let value: Linear
    let heads: Int
    let headSize: Int

    init(_ table: WeightTable, layer: Int) throws {
        query = try Linear(table, .query, layer: layer)
        key = try Linear(table, .key, layer: layer)
        value = try Linear(table, .value, layer: layer)
        heads = table.config.numAttentionHeads
        headSize = table.config.headSize
    }

    /// `context = softmax(Q Kᵀ / √d) V` over the packed tokens, head by head and batch row by batch
    /// row, each row's queries against its own keys (`PackedRows`); the workers take (row, head)
    /// pairs, the longest rows first, from a shared counter, each with its own buffers.
    func forward(_ context: FloatPointer, input: ConstFloatPointer, workspace: Workspace, tokens: PackedRows, workers: Int) {
        let hidden = heads * headSize
        let q = workspace.query, k = workspace.key, v = workspace.value
        // Q, K and V share one packed input (packed by the LayerNorm before, when chained) and one
        // pool of work.
        let chained = workspace.chainsPacked
        linearForward([query.product(into: q), key.product(into: k), value.product(into: v)],
                      input: chained ? ConstFloatPointer(workspace.packedInput) : input, rows: tokens.tokens, inFeatures: hidden,
                      workers: workers, packed: workspace.packedInput, inputLayout: chained ? .packed : .rowMajor)
        let scaling = 1 / Float(headSize).squareRoot()
        let order = tokens.rows.indices.sorted { tokens.rows[$0].queries * tokens.rows[$0].keys > tokens.rows[$1].queries * tokens.rows[$1].keys }
        order.withUnsafeBufferPointer { order in
            onPool(order.count * heads, workers: min(workers, workspace.attentionBuffers)) { pair, worker in
                let row = tokens.rows[order[pair / heads]], head = pair % heads
                let offset = row.start * hidden + head * headSize
                attentionHead(context: context + offset, query: q + offset, key: k + offset, value: v + offset, ld: hidden,
                              queries: row.queries, keys: row.keys, headSize: headSize, scale: scaling,
                              keyMask: row.keysMasked ? workspace.maskedKeys : workspace.unmaskedKeys,
                              scores: workspace.scores(worker), packed: workspace.attentionPacked(worker))
            }
        }
    }

    func releasePages() {
        query.releasePages()
        key.releasePages()
        value.releasePages()
    }
}

/// A dense layer whose output joins the residual stream through LayerNorm: transformers'
/// BertSelfOutput (`encoder.layer.N.attention.output`) and BertOutput (`encoder.layer.N.output`)
/// are both this module.
struct DenseResidualLayerNorm {
    let dense: Linear
    let layerNorm: LayerNorm

    init(_ table: WeightTable, dense: BertModule, layerNorm: BertModule, layer: Int) throws {
        self.dense = try Linear(table, dense, layer: layer)
        self.layerNorm = try LayerNorm(table, layerNorm, layer: layer)
    }

    /// `out = LayerNorm(input · Wᵀ + b + residual)`; `scratch` holds the product and `packed` the
    /// packed input, unless `inputLayout` says it comes packed. `out` may be `residual`. With
    /// `packedOut` (which may be `packed`), `out` is also written there packed for the next product.
    func forward(_ out: FloatPointer, input: ConstFloatPointer, inputLayout: MatrixLayout = .rowMajor,
                 residual: ConstFloatPointer, scratch: FloatPointer, packed: FloatPointer, packedOut: FloatPointer?,
                 rows: Int, workers: Int) {
        dense.forward(scratch, input, rows: rows, workers: workers, packed: packed, inputLayout: inputLayout)
        residualLayerNorm(out, scratch, residual: residual, weight: layerNorm.weight.pointer, shift: layerNorm.bias.pointer,
                          eps: layerNorm.eps, rows: rows, columns: dense.outFeatures, workers: workers, packed: packedOut)
    }
}

/// transformers' BertSelfOutput (`encoder.layer.N.attention.output`).
struct BertSelfOutput {
    let block: DenseResidualLayerNorm

    init(_ table: WeightTable, layer: Int) throws {
        block = try DenseResidualLayerNorm(table, dense: .attentionOutputDense, layerNorm: .attentionOutputLayerNorm, layer: layer)
    }
}

/// transformers' BertOutput (`encoder.layer.N.output`; the name `BertOutput` is the forward
/// pass's result type here).
struct BertLayerOutput {
    let block: DenseResidualLayerNorm

    init(_ table: WeightTable, layer: Int) throws {
        block = try DenseResidualLayerNorm(table, dense: .outputDense, layerNorm: .outputLayerNorm, layer: layer)
    }

    /// `out = LayerNorm(intermediate · Wᵀ + b + attended)`, `intermediate` packed when chained.
    func forward(_ out: FloatPointer, intermediate: FloatPointer, attended: FloatPointer, workspace: Workspace,
                 rows: Int, workers: Int) {
        let chained = workspace.chainsPacked
        block.forward(out, input: intermediate, inputLayout: chained ? .packed : .rowMajor, residual: attended,
                      scratch: workspace.projected, packed: workspace.packedInput,
                      packedOut: chained ? workspace.packedInput : nil, rows: rows, workers: workers)
    }
}

/// transformers' BertAttention (`encoder.layer.N.attention`): self-attention, then its output
/// dense joining the residual stream.
struct BertAttention {
    let selfAttention: BertSelfAttention
    let output: BertSelfOutput

    init(_ table: WeightTable, layer: Int) throws {
        selfAttention = try BertSelfAttention(table, layer: layer)
        output = try BertSelfOutput(table, layer: layer)
    }

    /// `out = LayerNorm(attention(hidden) · Wᵀ + b + hidden)`, leaving `out` packed in
    /// `workspace.packedInput` as well when the workspace chains packed inputs.
    func forward(_ out: FloatPointer, hidden: FloatPointer, workspace: Workspace, tokens: PackedRows, workers: Int) {
        selfAttention.forward(workspace.context, input: hidden, workspace: workspace, tokens: tokens, workers: workers)
        output.block.forward(out, input: workspace.context, residual: hidden, scratch: workspace.projected,
                             packed: workspace.packedInput, packedOut: workspace.chainsPacked ? workspace.packedInput : nil,
                             rows: tokens.tokens, workers: workers)
    }

    func releasePages() {
        selfAttention.releasePages()
        output.block.dense.releasePages()
    }
}

/// `encoder.layer.N.intermediate`: dense and the activation, fused in one pass over the output.
struct BertIntermediate {
    let dense: Linear
    let activation: Activation

    init(_ table: WeightTable, layer: Int, activation: Activation) throws {
        dense = try Linear(table, .intermediateDense, layer: layer)
        self.activation = activation
    }

    /// `out = activation(attended · Wᵀ + b)`, the activation in the product's epilogue. Chained,
    /// it reads `attended` packed (by the attention's LayerNorm) and writes `out` packed, as the
    /// output dense reads it: its largest input (tokens × intermediate_size) is then never packed
    /// in a pass of its own.
    func forward(_ out: FloatPointer, attended: FloatPointer, workspace: Workspace, rows: Int, workers: Int) {
        let chained = workspace.chainsPacked
        let layout: MatrixLayout = chained ? .packed : .rowMajor
        dense.forward(out, chained ? workspace.packedInput : attended, rows: rows, activation: activation, workers: workers,
                      packed: workspace.packedInput, inputLayout: layout, outLayout: layout)
    }
}

/// `encoder.layer.N`: attention, then the feed-forward block (intermediate and output), as
/// candle's `BertLayer::forward` reads.
struct BertLayer {
    let attention: BertAttention
    let intermediate: BertIntermediate
    let output: BertLayerOutput

    init(_ table: WeightTable, layer: Int, activation: Activation) throws {
        attention = try BertAttention(table, layer: layer)
        intermediate = try BertIntermediate(table, layer: layer, activation: activation)
        output = try BertLayerOutput(table, layer: layer)
    }

    /// The parts `forward` reports to `afterStep`: attention, intermediate, output (each about a
    /// third of the layer's arithmetic), so progress moves within a long layer.
    static let steps = 3

    /// `hidden` [T, H] (the packed tokens) in, the layer's output written back into it. When the workspace chains
    /// packed inputs, `workspace.packedInput` holds `hidden` packed on the way in and on the way out.
    func forward(_ hidden: FloatPointer, workspace: Workspace, tokens: PackedRows, workers: Int, afterStep: () -> Void = {}) {
        let attended = workspace.attended
        attention.forward(attended, hidden: hidden, workspace: workspace, tokens: tokens, workers: workers)
        afterStep()
        intermediate.forward(workspace.intermediate, attended: attended, workspace: workspace, rows: tokens.tokens, workers: workers)
        afterStep()
        output.forward(hidden, intermediate: workspace.intermediate, attended: attended, workspace: workspace,
                       rows: tokens.tokens, workers: workers)
        afterStep()
    }

    /// The mapped bytes of the layer's dense weights (what `releasePages` drops).
    var mappedBytes: Int {
        let projections = attention.selfAttention
        return projections.query.mappedBytes + projections.key.mappedBytes + projections.value.mappedBytes
            + attention.output.block.dense.mappedBytes + intermediate.dense.mappedBytes + output.block.dense.mappedBytes
    }

    func releasePages() {
        attention.releasePages()
        intermediate.dense.releasePages()
        output.block.dense.releasePages()
    }
}

/// `encoder`: the layers in order. Each layer's weight pages are dropped after it ran once the
/// resident budget is spent (see `BertModel.residentWeightBudget`).
struct BertEncoder {
    let layers: [BertLayer]

    init(_ table: WeightTable, activation: Activation) throws {
        layers = try (0..<table.config.numHiddenLayers).map { try BertLayer(table, layer: $0, activation: activation) }
    }

    /// Runs every layer over `hidden` in place; `afterLayer` sees the stream after each one,
    /// `afterStep` hears of each of a layer's `BertLayer.steps`.
    func forward(_ hidden: FloatPointer, workspace: Workspace, tokens: PackedRows, workers: Int, residentBudget: Int,
                 afterStep: () -> Void = {}, afterLayer: () -> Void) {
        var residentBytes = 0
        for layer in layers {
            layer.forward(hidden, workspace: workspace, tokens: tokens, workers: workers, afterStep: afterStep)
            residentBytes += layer.mappedBytes
            if residentBytes > residentBudget { layer.releasePages() }
            afterLayer()
        }
    }
}

/// `pooler.dense` + tanh on position 0.
struct BertPooler {
    let dense: Linear

    init(_ table: WeightTable) throws {
        dense = try Linear(table, .poolerDense)
    }

    /// `tanh(W · rows + b)` for `count` rows of `hidden` floats.
    func forward(_ rows: ConstFloatPointer, count: Int) -> [Float] {
        let h = dense.outFeatures
        var out = [Float](repeating: 0, count: count * h)
        out.withUnsafeMutableBufferPointer { o in
            guard let base = o.baseAddress else { return }
            dense.forward(base, rows, rows: count, workers: 1)
            tanhInPlace(base, count: count * h)
        }
        return out
    }
}

