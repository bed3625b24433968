/// A batch whose workspace would not fit runs in chunks of rows (issue 18 #1/#2: a large
/// `--texts-file` was one pass, its workspace — about 24 KB per token for MiniLM — held whole).
///
/// Every chunk keeps the batch's padded length: the outputs at padded positions are part of a
/// golden (transformers computes them), and a row's values depend only on that row and its
/// padded length, so the chunked outputs are the single pass's, bit for bit. Grouping rows of
/// similar length into shorter passes would save compute but change those padded outputs.
extension BertModel {
    /// `forward`, in as few passes as the memory budget allows. The outputs of the whole batch
    /// must fit the budget (refused with the figure otherwise); the workspace is sized per chunk.
    public func forwardInChunks(_ batch: Batch, outputHiddenStates: Bool = false, computePadding: Bool = false,
                                progress: ProgressObserver? = nil) throws -> BertOutput {
        let rows = try rowsPerPass(batch, hiddenStates: outputHiddenStates)
        guard rows < batch.batch else { return try forward(batch, outputHiddenStates: outputHiddenStates, computePadding: computePadding, progress: progress) }
        let chunks = (batch.batch + rows - 1) / rows
        let overall = progress.map { ChunkedProgress($0, chunks: chunks, activity: "forward pass over \(batch.batch) rows × \(batch.seq) tokens in \(chunks) chunks") }
        var combined = try forward(batch.rows(0..<rows), outputHiddenStates: outputHiddenStates, computePadding: computePadding, progress: overall)
        // Room for every row at once: growing by doubling would hold up to twice the outputs.
        combined.reserveRows(batch.batch)
        for start in stride(from: rows, to: batch.batch, by: rows) {
            overall?.chunk += 1
            combined.append(try forward(batch.rows(start..<min(start + rows, batch.batch)), outputHiddenStates: outputHiddenStates,
                                         computePadding: computePadding, progress: overall))
        }
        return combined
    }

    /// The most rows whose pass fits beside the whole batch's outputs; the batch itself when no
    /// budget is known or everything fits.
    func rowsPerPass(_ batch: Batch, hiddenStates: Bool) throws -> Int {
        guard batch.batch > 1, let (available, source) = MemoryBudget.available() else { return batch.batch }
        let whole = estimatedPassBytes(batch, attentionBuffers: max(1, min(threads, batch.batch * config.numAttentionHeads, 64)), hiddenStates: hiddenStates)
        guard whole > available else { return batch.batch }
        let outputs = estimatedOutputBytes(batch, hiddenStates: hiddenStates)
        if outputs > available {
            throw InputProblem.exceedsMemory(tokens: "\(batch.batch) × \(batch.seq)", needed: outputs, available: available, source: source)
        }
        let oneRow = Batch(batch: 1, seq: batch.seq, inputIds: [], attentionMask: [], tokenTypeIds: [])
        let perRow = max(1, estimatedPassBytes(oneRow, attentionBuffers: 1, hiddenStates: hiddenStates))
        let attention = estimatedPassBytes(oneRow, attentionBuffers: min(threads, 64), hiddenStates: hiddenStates) - perRow
        // Half of what is left per chunk: freed buffers are not always returned to the system at
        // once, so the next chunk's check sees some of the last one's memory as still in use.
        return max(1, min(batch.batch, (available - outputs - attention) / 2 / perRow))
    }

    /// Bytes of the outputs alone (last_hidden_state, the hidden states when asked for, a
    /// masked-LM head's logits, the pooler), as `estimatedPassBytes` counts them.
    func estimatedOutputBytes(_ batch: Batch, hiddenStates: Bool) -> Int {
        let h = config.hiddenSize
        let vocabularyLogits = taskHead == .maskedLM || taskHead == .preTraining ? config.vocabSize : 0
        let perToken = h * (hiddenStates ? config.numHiddenLayers + 2 : 1) + vocabularyLogits
        let (tokens, o1) = batch.batch.multipliedReportingOverflow(by: batch.seq)
        let (floats, o2) = tokens.multipliedReportingOverflow(by: perToken)
        let (bytes, o3) = (floats + batch.batch * h).multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        return o1 || o2 || o3 ? .max : bytes
    }
}

extension Batch {
    /// The rows `range`, at the same padded length.
    public func rows(_ range: Range<Int>) -> Batch {
        let tokens = (range.lowerBound * seq)..<(range.upperBound * seq)
        return Batch(batch: range.count, seq: seq, inputIds: Array(inputIds[tokens]),
                     attentionMask: Array(attentionMask[tokens]), tokenTypeIds: Array(tokenTypeIds[tokens]))
    }
}

extension BertOutput {
    /// Reserves room for `rows` rows in every output.
    mutating func reserveRows(_ rows: Int) {
        let current = Swift.max(batch, 1)
        func reserve(_ values: inout [Float]) { values.reserveCapacity(values.count / current * rows) }
        reserve(&lastHiddenState)
        if poolerOutput != nil { reserve(&poolerOutput!) }
        if hiddenStates != nil {
            for i in hiddenStates!.indices { reserve(&hiddenStates![i]) }
        }
        for name in headOutputs.keys { reserve(&headOutputs[name]!.values) }
    }

    /// Appends the rows of `next` (same padded length): every output's first dimension is the batch.
    mutating func append(_ next: BertOutput) {
        batch += next.batch
        lastHiddenState += next.lastHiddenState
        if let more = next.poolerOutput { poolerOutput?.append(contentsOf: more) }
        if let more = next.hiddenStates, hiddenStates != nil {
            for i in more.indices { hiddenStates![i] += more[i] }
        }
        for (name, more) in next.headOutputs {
            guard var values = headOutputs[name] else { continue }
            values.values += more.values
            values.shape[0] += more.shape[0]
            values.doubles = nil
            headOutputs[name] = values
        }
    }
}

/// One count over every chunk's passes: chunk k's step c of t is step k·t + c of chunks·t.
final class ChunkedProgress: ProgressObserver {
    let observer: ProgressObserver
    let chunks: Int
    let activity: String
    var chunk = 0

    init(_ observer: ProgressObserver, chunks: Int, activity: String) {
        self.observer = observer
        self.chunks = chunks
        self.activity = activity
    }

    func update(_ step: ProgressStep) {
        // Each chunk starts its count at 0; only the first start and the last end are the whole's.
        if step.completed == 0 && chunk > 0 { return }
        if step.completed == step.total && chunk < chunks - 1 { return }
        observer.update(activity, unit: step.unit, chunk * step.total + step.completed, of: chunks * step.total)
    }
}
