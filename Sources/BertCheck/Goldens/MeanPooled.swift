/// The row check of the quantized profiles: each row's last_hidden_state mean-pooled over its
/// real tokens (what sentence-transformers' mean pooling hands out), compared by cosine with the
/// golden's. Quantization error is spread over every token; what a user of an embedding model
/// sees is the row's vector.
public enum MeanPooled {
    /// The check's name in reports.
    public static let checkName = "mean_pooled"

    /// `[batch, seq, hidden]` → `[batch, hidden]`, averaging the positions whose mask is 1 (every
    /// position without a mask); nil when the shape is not `[batch, seq, hidden]`.
    public static func pool(_ states: FloatArray, batch: Int, seq: Int, mask: [Int64]?) -> FloatArray? {
        guard states.shape.count == 3, states.shape[0] == batch, states.shape[1] == seq, let hidden = states.shape.last,
              states.values.count == batch * seq * hidden else { return nil }
        var pooled = [Double](repeating: 0, count: batch * hidden)
        for row in 0..<batch {
            var count = 0
            for position in 0..<seq {
                let v = row * seq + position
                if let mask, v < mask.count, mask[v] == 0 { continue }
                count += 1
                for h in 0..<hidden { pooled[row * hidden + h] += states.exact(v * hidden + h) }
            }
            if count > 0 { for h in 0..<hidden { pooled[row * hidden + h] /= Double(count) } }
        }
        return FloatArray(shape: [batch, hidden], values: pooled.map(Float.init), doubles: pooled)
    }

    /// The mean-pooled rows of the candidate's last_hidden_state against the golden's, each row's
    /// cosine at least `minRowCosine`; nil when either side has no [batch, seq, hidden] state.
    static func check(expected: FloatArray, actual: FloatArray?, layout: TokenLayout, tolerance: Tolerance,
                      minRowCosine: Double) -> CheckResult? {
        guard let actual, let golden = pool(expected, batch: layout.batch, seq: layout.seq, mask: layout.mask),
              let candidate = pool(actual, batch: layout.batch, seq: layout.seq, mask: layout.mask) else { return nil }
        // The floor is applied here, so the message names the row vectors, not tokens.
        var result = compareTensor(name: checkName, expected: golden, actual: candidate,
                                   layout: TokenLayout(batch: layout.batch, seq: 1, mask: nil), perToken: false,
                                   tolerance: tolerance, minCosine: nil)
        result.requiredMinCosine = minRowCosine
        for i in result.rows.indices where (result.rows[i].minCosine ?? 1) < minRowCosine { result.rows[i].status = .fail }
        if let got = result.minCosine, got < minRowCosine {
            let why = "min row cosine of the mean-pooled last_hidden_state \(formatNumber(got)) < \(formatNumber(minRowCosine))"
            result.status = .fail
            result.message = [result.message, why].compactMap { $0 }.joined(separator: "; ")
        }
        return result
    }
}
