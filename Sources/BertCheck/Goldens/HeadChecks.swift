/// The checks `verify` adds for task-head outputs, beside the elementwise comparison: what a user
/// of the head sees. `labels` (argmax per row or token), `top_k` (the masked LM's candidates at
/// each [MASK]), `best_span` (question answering). A flip between values the golden itself holds
/// within the tolerance is a tie, not a failure.

/// How many candidates the top-k check compares at each masked position.
public let topKCount = 5
/// The longest answer span (in tokens) the QA checks consider, as transformers' QA pipeline.
public let maxAnswerTokens = 30

/// What the head checks know about the golden besides its tensors.
struct HeadCheckContext {
    var golden: GoldenFile
    var layout: TokenLayout
    var tolerance: (String) -> Tolerance
    /// Label names by id (config.json `id2label`), when known.
    var labelNames: [String]?
    /// The [MASK] id: golden metadata, else the candidate's vocabulary.
    var maskTokenId: Int64?
    /// A vocabulary id's text, when the vocabulary is known.
    var tokenForId: ((Int) -> String?)?

    func textOfRow(_ row: Int) -> String? {
        guard let texts = golden.metadata.texts, row < texts.count else { return nil }
        let item = texts[row]
        return item.pair.map { "\(item.text) | \($0)" } ?? item.text
    }

    /// Where a fault is, as messages name it: `row 2, token 5 'fox' ("the quick fox")`; the
    /// token's text only when `tokenText` (at [MASK] positions it would always be [MASK]).
    func place(row: Int, position: Int?, tokenText: Bool = true) -> String {
        var place = "row \(row)"
        if let position {
            place += ", token \(position)"
            if tokenText, let token = layout.tokenText?(row, position) { place += " '\(token)'" }
        }
        if let text = textOfRow(row) { place += " (\"\(text)\")" }
        return place
    }

    func labelName(_ id: Int) -> String {
        guard let names = labelNames, id < names.count else { return "\(id)" }
        return "\(id) (\(names[id]))"
    }

    func isReal(row: Int, position: Int) -> Bool {
        guard let mask = layout.mask else { return true }
        let index = row * golden.seq + position
        return index < mask.count && mask[index] == 1
    }
}

/// Per-row counts of a head check, turned into the rows every check reports.
struct RowTally {
    var compared: [Int]
    var mismatched: [Int]

    init(rows: Int) {
        compared = [Int](repeating: 0, count: rows)
        mismatched = [Int](repeating: 0, count: rows)
    }

    mutating func count(row: Int, mismatch: Bool) {
        guard row < compared.count else { return }
        compared[row] += 1
        if mismatch { mismatched[row] += 1 }
    }

    /// Rows with something compared.
    var results: [RowResult] {
        compared.indices.filter { compared[$0] > 0 }.map { row in
            RowResult(row: row, status: mismatched[row] > 0 ? .fail : .pass, mismatched: mismatched[row], compared: compared[row])
        }
    }
}

/// Index of the largest value of `values[base..<base+count]` (the first on ties, as torch.argmax).
func argmax(_ values: [Float], base: Int, count: Int) -> Int {
    var best = 0
    for k in 1..<max(count, 1) where values[base + k] > values[base + best] { best = k }
    return best
}

/// The `labels` check: each row's (or real token's) argmax against the golden's. Nil when the
/// output has one column (regression: there is no label to flip).
func labelsCheck(name checkName: String, tensor: String, expected: FloatArray, actual: FloatArray, context: HeadCheckContext) -> CheckResult? {
    guard let width = expected.shape.last, width > 1, actual.shape == expected.shape else { return nil }
    let perToken = expected.shape.count == 3
    let tolerance = context.tolerance(tensor)
    var result = CheckResult(name: checkName, status: .pass)
    var tally = RowTally(rows: context.golden.batch)
    var flips: [String] = []
    var ties = 0
    for vector in 0..<(expected.values.count / width) {
        let row = perToken ? vector / context.golden.seq : vector
        let position = perToken ? vector % context.golden.seq : nil
        if let position, !context.isReal(row: row, position: position) { continue }
        result.compared += 1
        let base = vector * width
        let want = argmax(expected.values, base: base, count: width), got = argmax(actual.values, base: base, count: width)
        let g = Double(expected.values[base + want]), other = Double(expected.values[base + got])
        let tie = want != got && g - other <= tolerance.atol + tolerance.rtol * abs(g)
        tally.count(row: row, mismatch: want != got && !tie)
        guard want != got else { continue }
        if tie { ties += 1; continue }
        result.mismatched += 1
        let place = context.place(row: row, position: position)
        flips.append("\(place): golden \(context.labelName(want)), candidate \(context.labelName(got))")
    }
    let unit = perToken ? "tokens" : "rows"
    result.rows = tally.results
    if result.mismatched > 0 {
        result.status = .fail
        result.message = "\(tensor): the predicted label flipped in \(result.mismatched) of \(result.compared) \(unit): "
            + flips.prefix(8).joined(separator: "; ") + (flips.count > 8 ? "; …" : "")
    } else {
        result.message = "\(tensor): the predicted label agrees in all \(result.compared) \(unit)"
            + (ties > 0 ? " (\(ties) golden ties within the tolerance not counted)" : "")
    }
    return result
}

/// The `top_k` check of a masked LM: at each [MASK] position, the golden's top-k tokens are the
/// candidate's top-k, and the top-1 is the same (a swap between values the golden holds within the
/// tolerance is a tie). Without [MASK] tokens in the inputs, every real token is checked.
func topKCheck(tensor: String, expected: FloatArray, actual: FloatArray, context: HeadCheckContext) -> CheckResult? {
    guard expected.shape.count == 3, actual.shape == expected.shape, let width = expected.shape.last, width > 0 else { return nil }
    let k = min(topKCount, width)
    let tolerance = context.tolerance(tensor)
    let seq = context.golden.seq
    var positions: [(Int, Int)] = []
    for row in 0..<context.golden.batch {
        for p in 0..<seq where context.isReal(row: row, position: p) {
            if let mask = context.maskTokenId, context.golden.inputIds[row * seq + p] != mask { continue }
            positions.append((row, p))
        }
    }
    let everyToken = context.maskTokenId == nil || positions.isEmpty
    if everyToken && context.maskTokenId != nil {
        for row in 0..<context.golden.batch { for p in 0..<seq where context.isReal(row: row, position: p) { positions.append((row, p)) } }
    }
    var result = CheckResult(name: "top_k", status: .pass)
    var tally = RowTally(rows: context.golden.batch)
    var faults: [String] = []
    for (row, position) in positions {
        result.compared += 1
        let base = (row * seq + position) * width
        let golden = topIndices(expected.values, base: base, count: width, k: k + 1)
        let candidate = Set(topIndices(actual.values, base: base, count: width, k: k))
        // The (k+1)-th golden value: a token only a tie away from it may leave the top k.
        let floor = golden.count > k ? Double(expected.values[base + golden[k]]) : -Double.infinity
        func clearly(_ id: Int, above threshold: Double) -> Bool {
            let v = Double(expected.values[base + id])
            return v - threshold > tolerance.atol + tolerance.rtol * abs(v)
        }
        let lost = golden.prefix(k).filter { !candidate.contains($0) && clearly($0, above: floor) }
        let top = topIndices(actual.values, base: base, count: width, k: 1)[0]
        let topFlipped = top != golden[0] && clearly(golden[0], above: Double(expected.values[base + top]))
        tally.count(row: row, mismatch: !lost.isEmpty || topFlipped)
        guard !lost.isEmpty || topFlipped else { continue }
        result.mismatched += 1
        let tokenText = context.layout.tokenText
        func name(_ id: Int) -> String { context.tokenForId?(id).map { "'\($0)'" } ?? "\(id)" }
        let place = context.place(row: row, position: position, tokenText: false)
        let wanted = golden.prefix(k).map(name).joined(separator: " ")
        let got = topIndices(actual.values, base: base, count: width, k: k).map(name).joined(separator: " ")
        faults.append("\(place): golden top-\(k) [\(wanted)], candidate [\(got)]")
    }
    let place = everyToken ? "real tokens (the inputs hold no [MASK])" : "[MASK] positions"
    result.rows = tally.results
    if result.mismatched > 0 {
        result.status = .fail
        result.message = "\(tensor): the top-\(k) tokens differ at \(result.mismatched) of \(result.compared) \(place): "
            + faults.prefix(5).joined(separator: "; ")
    } else {
        result.message = "\(tensor): the top-\(k) tokens agree at all \(result.compared) \(place)"
    }
    return result
}

/// The indices of the `k` largest values of `values[base..<base+count]`, largest first.
func topIndices(_ values: [Float], base: Int, count: Int, k: Int) -> [Int] {
    var best: [Int] = []
    for i in 0..<count {
        let v = values[base + i]
        guard best.count < k || v > values[base + best[best.count - 1]] else { continue }
        var at = best.count
        while at > 0 && values[base + best[at - 1]] < v { at -= 1 }
        best.insert(i, at: at)
        if best.count > k { best.removeLast() }
    }
    return best
}

/// An answer span: token positions `start…end` and the score start_logit + end_logit.
public struct AnswerSpan: Equatable, Sendable {
    public var start: Int
    public var end: Int
    public var score: Double
}

/// The best span of one row: start ≤ end < start + `maxAnswerTokens`, both among `allowed`
/// positions, maximising start_logits[start] + end_logits[end].
public func bestAnswerSpan(start: ArraySlice<Float>, end: ArraySlice<Float>, allowed: (Int) -> Bool) -> AnswerSpan? {
    let s0 = start.startIndex, e0 = end.startIndex, n = min(start.count, end.count)
    var best: AnswerSpan?
    for i in 0..<n where allowed(i) {
        for j in i..<min(n, i + maxAnswerTokens) where allowed(j) {
            let score = Double(start[s0 + i]) + Double(end[e0 + j])
            if best == nil || score > best!.score { best = AnswerSpan(start: i, end: j, score: score) }
        }
    }
    return best
}

/// The `best_span` check of a QA model: each row's best span over its real tokens, from the
/// candidate's start and end logits, against the golden's.
func bestSpanCheck(golden: ModelOutputs, candidate: ModelOutputs, context: HeadCheckContext) -> CheckResult? {
    let startName = OutputRegistry.startLogits.name, endName = OutputRegistry.endLogits.name
    guard let gs = golden[startName], let ge = golden[endName], let cs = candidate[startName], let ce = candidate[endName],
          gs.shape == ge.shape, cs.shape == gs.shape, ce.shape == gs.shape, gs.shape.count == 2 else { return nil }
    let seq = gs.shape[1]
    let tolerance = context.tolerance(startName)
    var result = CheckResult(name: "best_span", status: .pass)
    var tally = RowTally(rows: gs.shape[0])
    var faults: [String] = []
    for row in 0..<gs.shape[0] {
        let range = (row * seq)..<(row * seq + seq)
        let allowed = { (p: Int) in context.isReal(row: row, position: p) }
        guard let want = bestAnswerSpan(start: gs.values[range], end: ge.values[range], allowed: allowed),
              let got = bestAnswerSpan(start: cs.values[range], end: ce.values[range], allowed: allowed) else { continue }
        result.compared += 1
        let differs = want.start != got.start || want.end != got.end
        // The golden's own score of the candidate's span: within the tolerance of the best is a tie.
        let rival = Double(gs.values[row * seq + got.start]) + Double(ge.values[row * seq + got.end])
        let tie = want.score - rival <= 2 * (tolerance.atol + tolerance.rtol * abs(want.score))
        tally.count(row: row, mismatch: differs && !tie)
        guard differs && !tie else { continue }
        result.mismatched += 1
        func text(_ span: AnswerSpan) -> String {
            let tokens = (span.start...span.end).compactMap { context.layout.tokenText?(row, $0) }
            return "tokens \(span.start)…\(span.end)" + (tokens.isEmpty ? "" : " '\(tokens.joined(separator: " "))'")
        }
        faults.append("row \(row): golden \(text(want)), candidate \(text(got))")
    }
    result.rows = tally.results
    if result.mismatched > 0 {
        result.status = .fail
        result.message = "the best answer span differs in \(result.mismatched) of \(result.compared) rows: " + faults.prefix(5).joined(separator: "; ")
    } else {
        result.message = "the best answer span agrees in all \(result.compared) rows"
    }
    return result
}
