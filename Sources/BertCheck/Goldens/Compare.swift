import Foundation

/// Elementwise tolerance: `|actual − expected| ≤ atol + rtol·|expected|`.
public struct Tolerance: Equatable, Sendable {
    public var atol: Double
    public var rtol: Double

    public init(atol: Double, rtol: Double) {
        self.atol = atol
        self.rtol = rtol
    }
}

// ToleranceProfile and ToleranceSettings: ToleranceProfile.swift.

public enum CheckStatus: String, Sendable {
    case pass, fail
    /// The golden holds an output this model does not compute (a pooler-less checkpoint's
    /// pooler_output): reported, never a failure.
    case notProduced = "not_produced"

    /// The word the reports show.
    public var label: String {
        switch self {
        case .pass: return "pass"
        case .fail: return "FAIL"
        case .notProduced: return "not produced"
        }
    }
}

/// The element that is furthest outside its tolerance (or, when all pass, closest to it).
public struct WorstElement: Equatable, Sendable {
    /// "golden" or "candidate" for the pooler invariant, which checks both; nil otherwise.
    public var subject: String?
    public var row: Int
    /// Token position; nil for [batch, hidden] tensors.
    public var position: Int?
    /// The token's text when the vocabulary is known.
    public var token: String?
    public var hiddenIndex: Int?
    public var actual: Double
    public var expected: Double
    /// Set when the place is the lowest-cosine token of a cosine failure: that token's cosine
    /// (the element given is its largest difference).
    public var cosine: Double? = nil
}

/// The outcome of one check, with every figure the reports show.
public struct CheckResult: Sendable {
    public var name: String
    public var status: CheckStatus
    /// Why it failed (or a note), in words.
    public var message: String?
    public var expectedShape: [Int]?
    public var actualShape: [Int]?
    public var maxAbsErr: Double?
    public var maxRelErr: Double?
    public var meanAbsErr: Double?
    public var minCosine: Double?
    public var mismatched: Int
    public var compared: Int
    /// Candidate values that are NaN or ±Inf where the golden is finite.
    public var nonFinite: Int
    /// Golden values that are NaN or ±Inf: always a failure, whatever the candidate holds.
    public var nonFiniteGolden: Int
    public var worst: WorstElement?
    public var tolerance: Tolerance?
    public var requiredMinCosine: Double?
    /// The same figures for each row of the batch (which texts fail); empty when nothing was
    /// compared (a missing tensor, a shape mismatch).
    public var rows: [RowResult] = []

    public init(name: String, status: CheckStatus, message: String? = nil) {
        self.name = name
        self.status = status
        self.message = message
        mismatched = 0
        compared = 0
        nonFinite = 0
        nonFiniteGolden = 0
    }

    public var mismatchedPercent: Double { compared == 0 ? 0 : Double(mismatched) * 100 / Double(compared) }
}

/// One row (one text of the golden) of a check.
public struct RowResult: Equatable, Sendable {
    public var row: Int
    public var status: CheckStatus
    public var maxAbsErr: Double?
    public var meanAbsErr: Double?
    public var minCosine: Double?
    public var mismatched: Int
    public var compared: Int
    /// The row's element furthest outside its tolerance.
    public var worst: WorstElement?

    public init(row: Int, status: CheckStatus = .pass, maxAbsErr: Double? = nil, meanAbsErr: Double? = nil, minCosine: Double? = nil,
                mismatched: Int = 0, compared: Int = 0, worst: WorstElement? = nil) {
        self.row = row
        self.status = status
        self.maxAbsErr = maxAbsErr
        self.meanAbsErr = meanAbsErr
        self.minCosine = minCosine
        self.mismatched = mismatched
        self.compared = compared
        self.worst = worst
    }
}

/// Sums of one row while `compareTensor` walks it.
private struct RowAccumulator {
    var sumAbs = 0.0, maxAbs = 0.0, finite = 0, mismatched = 0, compared = 0, nonFinite = 0, nonFiniteGolden = 0
    var minCosine = Double.infinity
    var worstScore = -1.0
    var worst: WorstElement?
    /// The lowest-cosine token's largest difference, with its cosine.
    var lowestCosineWorst: WorstElement?

    /// Whether the row's lowest cosine is under the floor: its worst place is then that token.
    func cosineFails(_ minCosineRequired: Double?) -> Bool {
        guard let required = minCosineRequired, minCosine.isFinite else { return false }
        return minCosine < required
    }

    func result(row: Int, minCosineRequired: Double?) -> RowResult {
        let cosine = minCosine.isFinite ? minCosine : nil
        let cosineFailed = cosineFails(minCosineRequired)
        let failed = mismatched > 0 || nonFinite > 0 || nonFiniteGolden > 0 || cosineFailed
        // A non-finite value stays the worst place: nothing is further off.
        let place = cosineFailed && nonFinite == 0 && nonFiniteGolden == 0 ? lowestCosineWorst ?? worst : worst
        return RowResult(row: row, status: failed ? .fail : .pass, maxAbsErr: finite > 0 ? maxAbs : nil,
                         meanAbsErr: finite > 0 ? sumAbs / Double(finite) : nil, minCosine: cosine,
                         mismatched: mismatched, compared: compared, worst: place)
    }
}

/// How the rows of a compared tensor map to tokens.
public struct TokenLayout {
    public var batch: Int
    public var seq: Int
    /// [batch, seq], 1 = real token; nil compares every position.
    public var mask: [Int64]?
    /// Text of token (row, position), when known.
    public var tokenText: ((_ row: Int, _ position: Int) -> String?)?

    public init(batch: Int, seq: Int, mask: [Int64]?, tokenText: ((Int, Int) -> String?)? = nil) {
        self.batch = batch
        self.seq = seq
        self.mask = mask
        self.tokenText = tokenText
    }
}

/// Compares a candidate tensor with the golden's, element by element, over real tokens.
/// `perToken` is true for [batch, seq, hidden] tensors, false for [batch, hidden] ones (each row is
/// one vector, e.g. pooler_output; every row is compared).
public func compareTensor(name: String, expected: FloatArray, actual: FloatArray?, layout: TokenLayout, perToken: Bool,
                          tolerance: Tolerance, minCosine: Double?) -> CheckResult {
    var result = CheckResult(name: name, status: .pass)
    result.tolerance = tolerance
    result.requiredMinCosine = minCosine
    result.expectedShape = expected.shape
    guard let actual else {
        result.status = .fail
        result.message = "the candidate has no \(name)"
        return result
    }
    result.actualShape = actual.shape
    guard actual.shape == expected.shape, actual.values.count == expected.values.count, let width = expected.shape.last, width > 0 else {
        result.status = .fail
        result.message = "shape \(Tensor.describe(shape: actual.shape)) differs from the golden's \(Tensor.describe(shape: expected.shape))"
        return result
    }
    let vectors = expected.values.count / width
    let nearZero = nearZeroBound(expected, tolerance: tolerance)
    var sumAbs = 0.0, maxAbs = 0.0, maxRel: Double?, finiteCompared = 0
    var minCos = Double.infinity
    var worstScore = -1.0
    var worst: WorstElement?
    let rowCount = perToken ? (vectors + max(layout.seq, 1) - 1) / max(layout.seq, 1) : vectors
    var rows = [RowAccumulator](repeating: RowAccumulator(), count: rowCount)
    expected.values.withUnsafeBufferPointer { g in
        actual.values.withUnsafeBufferPointer { a in
            for v in 0..<vectors {
                let row = perToken ? v / max(layout.seq, 1) : v
                let position = perToken ? v % max(layout.seq, 1) : nil
                if perToken, let mask = layout.mask, v < mask.count, mask[v] == 0 { continue }
                var cosine = CosineAccumulator(), vectorFinite = true
                var vectorWorstIndex = 0, vectorWorstDiff = -1.0
                var r = rows[row]
                let base = v * width
                for h in 0..<width {
                    let ge = expected.doubles?[base + h] ?? Double(g[base + h])
                    let ac = actual.doubles?[base + h] ?? Double(a[base + h])
                    r.compared += 1
                    var score: Double
                    if !ge.isFinite {
                        // A non-finite golden value is a broken reference, never a match, even
                        // for the same NaN or Inf in the candidate (issue 18).
                        r.nonFiniteGolden += 1
                        r.mismatched += 1
                        score = .infinity
                        vectorFinite = false
                    } else if !ac.isFinite {
                        r.nonFinite += 1
                        r.mismatched += 1
                        score = .infinity
                        vectorFinite = false
                    } else {
                        let diff = abs(ac - ge)
                        let allowed = tolerance.atol + tolerance.rtol * abs(ge)
                        if diff > allowed { r.mismatched += 1 }
                        score = allowed > 0 ? diff / allowed : (diff > 0 ? .infinity : 0)
                        r.sumAbs += diff
                        r.finite += 1
                        r.maxAbs = max(r.maxAbs, diff)
                        if abs(ge) >= nearZero { maxRel = max(maxRel ?? 0, diff / abs(ge)) }
                        cosine.add(ac, ge)
                        if diff > vectorWorstDiff {
                            vectorWorstDiff = diff
                            vectorWorstIndex = h
                        }
                    }
                    if score > r.worstScore {
                        r.worstScore = score
                        r.worst = WorstElement(subject: nil, row: row, position: position, token: nil, hiddenIndex: h,
                                               actual: ac, expected: ge)
                    }
                }
                if vectorFinite {
                    let c = cosine.cosine
                    minCos = min(minCos, c)
                    if c < r.minCosine {
                        let h = vectorWorstIndex
                        r.lowestCosineWorst = WorstElement(subject: nil, row: row, position: position, token: nil, hiddenIndex: h,
                                                           actual: actual.exact(base + h), expected: expected.exact(base + h), cosine: c)
                    }
                    r.minCosine = min(r.minCosine, c)
                }
                rows[row] = r
            }
        }
    }
    // The whole tensor's figures are those of its rows taken together. A cosine failure's worst
    // place is the lowest-cosine token (unless a value is non-finite): the elementwise worst may
    // sit in a token whose direction is fine.
    let cosineFailed = rows.contains { $0.cosineFails(minCosine) }
    let anyNonFinite = rows.contains { $0.nonFinite > 0 || $0.nonFiniteGolden > 0 }
    var lowestCosine = Double.infinity
    for (row, r) in rows.enumerated() {
        result.compared += r.compared
        result.mismatched += r.mismatched
        result.nonFinite += r.nonFinite
        result.nonFiniteGolden += r.nonFiniteGolden
        sumAbs += r.sumAbs
        finiteCompared += r.finite
        maxAbs = max(maxAbs, r.maxAbs)
        if cosineFailed && !anyNonFinite {
            if r.minCosine < lowestCosine, let place = r.lowestCosineWorst {
                lowestCosine = r.minCosine
                worst = place
            }
        } else if r.worstScore > worstScore {
            worstScore = r.worstScore
            worst = r.worst
        }
        if r.compared > 0 {
            var rowResult = r.result(row: row, minCosineRequired: minCosine)
            if let w = rowResult.worst, let position = w.position, let tokenText = layout.tokenText {
                rowResult.worst?.token = tokenText(w.row, position)
            }
            result.rows.append(rowResult)
        }
    }
    if let w = worst, let position = w.position, let tokenText = layout.tokenText {
        worst?.token = tokenText(w.row, position)
    }
    result.worst = worst
    result.maxAbsErr = finiteCompared > 0 ? maxAbs : nil
    result.maxRelErr = finiteCompared > 0 ? maxRel : nil
    result.meanAbsErr = finiteCompared > 0 ? sumAbs / Double(finiteCompared) : nil
    result.minCosine = minCos.isFinite ? minCos : nil
    var reasons: [String] = []
    if result.nonFiniteGolden > 0 { reasons.append("\(result.nonFiniteGolden) non-finite values (NaN/Inf) in the golden") }
    if result.nonFinite > 0 { reasons.append("\(result.nonFinite) non-finite values (NaN/Inf) where the golden is finite") }
    if result.mismatched > 0 {
        reasons.append("\(result.mismatched) of \(result.compared) values outside atol \(formatNumber(tolerance.atol)) + rtol \(formatNumber(tolerance.rtol))·|golden|")
    }
    if let minCosine, let got = result.minCosine, got < minCosine {
        let (shownGot, shownFloor) = formatApart(got, minCosine)
        reasons.append("min \(perToken ? "per-token" : "per-row") cosine \(shownGot) < \(shownFloor)")
    }
    if result.compared == 0 { reasons.append("nothing to compare (every position is padding)") }
    if !reasons.isEmpty {
        result.status = .fail
        result.message = reasons.joined(separator: "; ")
    }
    return result
}

/// The notebook's invariant `pooler(last_hidden_state[:, 0]) == pooler_output`, with this model's
/// pooler weights, for the golden (does it belong to this model?) and for the candidate.
public func poolerInvariant(golden: ModelOutputs, candidate: ModelOutputs?, batch: Int, seq: Int, hidden: Int,
                            pool: ([Float], Int) -> [Float]?, tolerance: Tolerance) -> CheckResult? {
    var parts: [(subject: String, result: CheckResult)] = []
    for (subject, outputs) in [("golden", Optional(golden)), ("candidate", candidate)] {
        guard let outputs, let pooler = outputs.poolerOutput,
              outputs.lastHiddenState.shape == [batch, seq, hidden], pooler.shape == [batch, hidden] else { continue }
        let cls = clsRows(outputs.lastHiddenState.values, batch: batch, seq: seq, hidden: hidden)
        guard let pooled = pool(cls, batch) else { return nil }
        var part = compareTensor(name: "pooler_invariant", expected: FloatArray(shape: [batch, hidden], values: pooled),
                                 actual: pooler, layout: TokenLayout(batch: batch, seq: 1, mask: nil), perToken: false,
                                 tolerance: tolerance, minCosine: nil)
        part.worst?.subject = subject
        parts.append((subject, part))
    }
    guard !parts.isEmpty else { return nil }
    // Report the figures of the worse side; the message names every side that failed.
    guard let worse = parts.max(by: { lhs, rhs in
        (lhs.result.status == .fail ? 1 : 0, lhs.result.maxAbsErr ?? .infinity) < (rhs.result.status == .fail ? 1 : 0, rhs.result.maxAbsErr ?? .infinity)
    }) else { return nil }
    var result = worse.result
    result.compared = parts.reduce(0) { $0 + $1.result.compared }
    result.mismatched = parts.reduce(0) { $0 + $1.result.mismatched }
    result.nonFinite = parts.reduce(0) { $0 + $1.result.nonFinite }
    result.nonFiniteGolden = parts.reduce(0) { $0 + $1.result.nonFiniteGolden }
    let failures = parts.filter { $0.result.status == .fail }
    if failures.isEmpty {
        result.status = .pass
        result.message = "tanh(W·CLS + b) reproduces pooler_output for " + parts.map(\.subject).joined(separator: " and ")
    } else {
        result.status = .fail
        result.message = failures.map { part in
            let err = part.result.maxAbsErr.map(formatNumber) ?? "non-finite"
            let why = part.subject == "golden"
                ? "the golden's pooler_output is not tanh(W·CLS + b) with this model's pooler weights (max abs err \(err)): the golden was not recorded with this model, or the pooler weights are wrong"
                : "the candidate's pooler_output is not tanh(W·CLS + b) of its own last_hidden_state (max abs err \(err))"
            return why
        }.joined(separator: "; ")
    }
    return result
}

/// Golden values whose size is below this are left out of the max relative error: relative to a
/// value near zero (-1.6e-34 once gave 7.4e+26), it measures nothing. Near zero means under the
/// atol in force (the bound that judges such values), at most 1e-3 of the tensor's largest |value|
/// (an atol of 1e9 would leave nothing), and at least 1e-6 of it.
func nearZeroBound(_ golden: FloatArray, tolerance: Tolerance) -> Double {
    var scale = 0.0
    for i in 0..<golden.values.count {
        let g = abs(golden.exact(i))
        if g.isFinite && g > scale { scale = g }
    }
    return max(1e-6 * scale, min(tolerance.atol, 1e-3 * scale))
}

/// Two numbers with enough significant digits (at least four, at most seventeen) that the printed
/// values stay apart and in order: a cosine of 0.99995 against a floor of 0.99999 is not
/// "0.9999 < 1", nor "1 < 1".
public func formatApart(_ a: Double, _ b: Double) -> (String, String) {
    for digits in 4...17 {
        let x = formatSignificant(a, digits: digits), y = formatSignificant(b, digits: digits)
        guard a != b, let shownA = Double(x), let shownB = Double(y), shownA.isFinite, shownB.isFinite else { return (x, y) }
        // Each printed value nearer its number than half their distance: ordered, and apart.
        if max(abs(shownA - a), abs(shownB - b)) < abs(a - b) / 2 { return (x, y) }
    }
    return (formatSignificant(a, digits: 17), formatSignificant(b, digits: 17))
}

/// A cosine with enough digits to show how far it is from 1: 0.99995 stays 0.99995, never "1".
public func formatCosine(_ value: Double) -> String {
    guard value.isFinite, value < 1, value > 0.99 else { return formatNumber(value) }
    // The nines after the point, then four significant digits of what is left.
    let nines = Int(floor(-log10(1 - value)))
    return formatSignificant(value, digits: min(17, nines + 4))
}

/// A cosine in a table column: seven decimals, unless they would read 1.0000000 for a cosine
/// under 1 (a floor of 0.99999999 must not look met); then `formatCosine`'s digits.
public func formatCosineColumn(_ value: Double) -> String {
    let fixed = String(format: "%.7f", value)
    return fixed == "1.0000000" && value < 1 ? formatCosine(value) : fixed
}

/// Numbers as reports print them: four significant digits, exponent only when needed.
public func formatNumber(_ value: Double) -> String { formatSignificant(value, digits: 4) }

/// `value` with `digits` significant digits, exponent only when needed.
public func formatSignificant(_ value: Double, digits: Int) -> String {
    if value.isNaN { return "nan" }
    if value.isInfinite { return value > 0 ? "inf" : "-inf" }
    return String(format: "%.\(digits)g", value)
}
