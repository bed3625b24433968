import Foundation

/// What `bertcheck run` shows: the inputs, the outputs, and the notebook's check that the pooler
/// applied to the [CLS] rows gives pooler_output. BertCheckRendering prints it.
public struct RunReport {
    public let model: String
    public let batch: Batch
    public let tokens: [[String]]?
    public let output: BertOutput
    /// `pool(CLS rows)` recomputed from the pooler weights (nil without a pooler).
    public let recomputedPooler: [Float]?
    /// What the task head predicts for each row (nil for a bare `BertModel`).
    public let predictions: [RowPrediction]?
    /// The task head, when the model has one.
    public let task: TaskHead?

    public init(model: String, batch: Batch, tokens: [[String]]?, output: BertOutput, bert: BertModel, tokenizer: BertTokenizer? = nil) {
        self.model = model
        self.batch = batch
        self.tokens = tokens
        self.output = output
        task = bert.taskHead
        predictions = headPredictions(task: bert.taskHead, config: bert.config, batch: batch, output: output,
                                      tokenText: { tokenizer?.token(for: $0) })
        let cls = clsRows(output.lastHiddenState, batch: output.batch, seq: output.seq, hidden: output.hidden)
        recomputedPooler = bert.pool(cls, rows: output.batch)
    }

    /// Does `pooler(CLS) == pooler_output` hold exactly (as the notebook's `.all()` asks)? nil without a pooler.
    public var poolerCheck: Bool? {
        guard let pooled = output.poolerOutput, let recomputed = recomputedPooler else { return nil }
        return pooled == recomputed
    }

    public var poolerCheckMaxDifference: Float? {
        guard let pooled = output.poolerOutput, let recomputed = recomputedPooler else { return nil }
        return zip(pooled, recomputed).map { abs($0 - $1) }.max() ?? 0
    }
}
