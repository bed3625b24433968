/// A batch whose workspace would not fit runs in chunks of rows (issue 18 #1/#2: a large
/// `--texts-file` was one pass, its workspace — about 24 KB per token for MiniLM — held whole).
///
/// Every chunk keeps the batch's padded length: the outputs at padded positions are part of a
/// golden (transformers computes them), and a row's values depend only on that row and its
/// padded length, so the chunked outputs are the single pass's, bit for bit. Grouping rows of
/// similar length into shorter passes would save compute but change those padded outputs.
extension BertModel {
    /// `forward`, in as few passes as the memory budget allows. The outputs of the whole batch
    /// must fit the budget (refused with the figure otherwise); the workspace is sized per pass.
    /// Rows are grouped by length (`passPlan`), so a pass of short rows holds many of them.
    public func forwardInChunks(_ batch: Batch, outputHiddenStates: Bool = false, computePadding: Bool = false,
                                progress: ProgressObserver? = nil) throws -> BertOutput {
        let plan = try passPlan(batch, hiddenStates: outputHiddenStates, computePadding: computePadding)
        guard plan.count > 1 else { return try forward(batch, outputHiddenStates: outputHiddenStates, computePadding: computePadding, progress: progress) }
        let overall = progress.map { ChunkedProgress($0, chunks: plan.count, activity: "forward pass over \(batch.batch) rows × \(batch.seq) tokens in \(plan.count) chunks") }
        var combined: BertOutput?
        for (index, rows) in plan.enumerated() {
            overall?.chunk = index
            let part = try forward(batch.rows(rows), outputHiddenStates: outputHiddenStates, computePadding: computePadding, progress: overall)
            // Allocated once, whole: growing by doubling would hold up to twice the outputs.
            if combined == nil { combined = BertOutput(zerosLike: part, rows: batch.batch) }
            combined?.place(part, atRows: rows)
        }
        return combined!
    }

    /// The rows of each pass: one pass of every row when no budget is known or the whole batch
    /// fits; else rows sorted by the tokens they compute (longest first), each pass as many of
    /// them as fit half of what the whole batch's outputs leave (freed buffers are not always
    /// returned to the system at once, so the next pass's check sees some of the last one's
    /// memory as still in use). Grouping by length is what makes a pass of short rows cheap:
    /// the workspace follows the packed tokens, not rows × padded length.
    func passPlan(_ batch: Batch, hiddenStates: Bool, computePadding: Bool,
                  budget: (bytes: Int, source: String)? = MemoryBudget.available()) throws -> [[Int]] {
        let all = [Array(0..<batch.batch)]
        guard batch.batch > 1, let (available, source) = budget else { return all }
        let packed = PackedRows(batch, computePadding: computePadding)
        let buffers = max(1, min(threads, batch.batch * config.numAttentionHeads, 64))
        guard estimatedPassBytes(batch, packedTokens: packed.tokens, attentionBuffers: buffers, hiddenStates: hiddenStates) > available else { return all }
        let outputs = estimatedOutputBytes(batch, hiddenStates: hiddenStates)
        if outputs > available {
            throw InputProblem.exceedsMemory(tokens: "\(batch.batch) × \(batch.seq)", needed: outputs, available: available, source: source)
        }
        let oneRow = Batch(batch: 1, seq: batch.seq, inputIds: [], attentionMask: [], tokenTypeIds: [])
        let attention = estimatedPassBytes(oneRow, packedTokens: 0, attentionBuffers: min(threads, 64), hiddenStates: hiddenStates)
            - estimatedOutputBytes(oneRow, hiddenStates: hiddenStates)
        let perPass = max(0, available - outputs - attention) / 2
        // What one row adds to a pass: its computed tokens' workspace and its own padded outputs.
        let perToken = (8 * config.hiddenSize + 2 * config.intermediateSize) * MemoryLayout<Float>.stride
        let rowOutputs = estimatedOutputBytes(oneRow, hiddenStates: hiddenStates)
        let computed = packed.rows.map(\.queries)
        let order = computed.indices.sorted { computed[$0] != computed[$1] ? computed[$0] > computed[$1] : $0 < $1 }
        var plan: [[Int]] = [], current: [Int] = [], cost = 0
        for row in order {
            let added = computed[row] * perToken + rowOutputs
            if !current.isEmpty && cost + added > perPass {
                plan.append(current)
                (current, cost) = ([], 0)
            }
            current.append(row)
            cost += added
        }
        if !current.isEmpty { plan.append(current) }
        return plan
    }
}

extension Batch {
    /// The rows at `indices`, in that order, at the same padded length.
    public func rows(_ indices: [Int]) -> Batch {
        var ids: [Int] = [], mask: [Int] = [], types: [Int] = []
        for row in indices {
            let tokens = (row * seq)..<((row + 1) * seq)
            ids += inputIds[tokens]
            mask += attentionMask[tokens]
            types += tokenTypeIds[tokens]
        }
        return Batch(batch: indices.count, seq: seq, inputIds: ids, attentionMask: mask, tokenTypeIds: types)
    }
}

extension BertOutput {
    /// `rows` rows shaped like `part`'s (the same padded length, outputs and heads), all zero.
    init(zerosLike part: BertOutput, rows: Int) {
        func zeros(_ values: [Float]) -> [Float] { [Float](repeating: 0, count: values.count / Swift.max(part.batch, 1) * rows) }
        self.init(batch: rows, seq: part.seq, hidden: part.hidden, lastHiddenState: zeros(part.lastHiddenState),
                  poolerOutput: part.poolerOutput.map(zeros), hiddenStates: part.hiddenStates?.map(zeros))
        for (name, head) in part.headOutputs {
            headOutputs[name] = FloatArray(shape: [rows] + head.shape.dropFirst(), values: zeros(head.values))
        }
    }

    /// Copies row k of `part` into row `indices[k]` of every output (each output's first
    /// dimension is the batch).
    mutating func place(_ part: BertOutput, atRows indices: [Int]) {
        func copy(_ from: [Float], into to: inout [Float]) {
            let width = from.count / Swift.max(part.batch, 1)
            for (k, row) in indices.enumerated() { to[(row * width)..<((row + 1) * width)] = from[(k * width)..<((k + 1) * width)] }
        }
        copy(part.lastHiddenState, into: &lastHiddenState)
        if let from = part.poolerOutput, poolerOutput != nil { copy(from, into: &poolerOutput!) }
        if let from = part.hiddenStates, hiddenStates != nil {
            for i in from.indices { copy(from[i], into: &hiddenStates![i]) }
        }
        for (name, head) in part.headOutputs where headOutputs[name] != nil { copy(head.values, into: &headOutputs[name]!.values) }
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
        // Each pass starts its count at 0; only the first start and the last end are the whole's.
        if step.completed == 0 && chunk > 0 { return }
        if step.completed == step.total && chunk < chunks - 1 { return }
        observer.update(activity, unit: step.unit, chunk * step.total + step.completed, of: chunks * step.total)
    }
}
