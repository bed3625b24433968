/// The tokens of a padded batch the forward pass computes, concatenated ("packed"): every dense
/// product runs over these rows only (M = their count, not batch × seq), and attention runs per
/// batch row over its own keys. A real token attends to the real tokens of its row, as in
/// transformers, where padded keys get finfo(float32).min and so weigh exactly 0; a padded
/// position's values come from its query attending to those same real keys, so they are computed
/// only when asked for (or for position 0, which the pooler and CLS pooling read), after the
/// row's real tokens. Any mask works, not only a prefix of ones: each token keeps its position.
struct PackedRows: Equatable {
    /// One batch row: packed rows [start, start + queries), of which the first `keys` are the
    /// keys every query of the row attends to. `keysMasked`: a row without a single real token,
    /// where transformers' softmax sees only masked keys and spreads evenly over all of them;
    /// its every position is computed and attends to all of them through the mask.
    struct Row: Equatable {
        var start: Int
        var queries: Int
        var keys: Int
        var keysMasked: Bool
    }

    let batch: Int
    let seq: Int
    let rows: [Row]
    /// The flat [batch · seq] index of every packed token, in packed order.
    let positions: [Int]

    var tokens: Int { positions.count }

    /// Real tokens first in each row (in position order), then the padded positions computed:
    /// all of them with `computePadding`, else position 0 alone when it is padding.
    init(_ batch: Batch, computePadding: Bool) {
        self.batch = batch.batch
        seq = batch.seq
        var rows: [Row] = [], positions: [Int] = []
        rows.reserveCapacity(batch.batch)
        positions.reserveCapacity(batch.batch * batch.seq)
        for row in 0..<batch.batch {
            let base = row * batch.seq, start = positions.count
            let mask = batch.attentionMask[base..<(base + batch.seq)]
            let real = mask.indices.filter { mask[$0] == 1 }
            if real.isEmpty {
                positions += base..<(base + batch.seq)
                rows.append(Row(start: start, queries: batch.seq, keys: batch.seq, keysMasked: true))
                continue
            }
            positions += real
            if computePadding {
                positions += mask.indices.filter { mask[$0] != 1 }
            } else if mask[base] != 1 {
                positions.append(base)
            }
            rows.append(Row(start: start, queries: positions.count - start, keys: real.count, keysMasked: false))
        }
        self.rows = rows
        self.positions = positions
    }

    /// `packed` [tokens, width] scattered into a new [batch · seq, width] buffer; positions not
    /// computed hold 0.
    func scatter(_ packed: UnsafePointer<Float>, width: Int) -> [Float] {
        var out = [Float](repeating: 0, count: batch * seq * width)
        out.withUnsafeMutableBufferPointer { o in
            guard let base = o.baseAddress else { return }
            for (i, flat) in positions.enumerated() {
                (base + flat * width).update(from: packed + i * width, count: width)
            }
        }
        return out
    }

    /// `packed` [tokens, width] scattered as `scatter(_:width:)` does.
    func scatter(_ packed: [Float], width: Int) -> [Float] {
        packed.withUnsafeBufferPointer { p in
            guard let base = p.baseAddress else { return [Float](repeating: 0, count: batch * seq * width) }
            return scatter(base, width: width)
        }
    }

    /// The packed index of every row's position 0 (always computed).
    var firstTokens: [Int] {
        var index: [Int: Int] = [:]
        for (i, flat) in positions.enumerated() where flat % seq == 0 { index[flat / seq] = i }
        return (0..<batch).map { index[$0] ?? 0 }
    }
}
