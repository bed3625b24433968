import Foundation
import Testing
@testable import BertCheck

/// The forward pass computes only the real tokens of a padded batch, packed (PackedRows): the
/// real tokens' values must not depend on how the batch was padded, and the padded positions,
/// when asked for, must be transformers'.
@Suite struct PackedRowsTests {
    /// Row `row` of `batch` alone, cut to its real tokens (a prefix of ones).
    func alone(_ batch: Batch, row: Int) -> Batch {
        let s = batch.seq, length = batch.attentionMask[(row * s)..<((row + 1) * s)].reduce(0, +)
        return Batch(batch: 1, seq: length, inputIds: Array(batch.inputIds[(row * s)..<(row * s + length)]),
                     attentionMask: [Int](repeating: 1, count: length),
                     tokenTypeIds: Array(batch.tokenTypeIds[(row * s)..<(row * s + length)]))
    }

    /// Max |a − b| over the real tokens of row `row` of a [B, S, H] output and the same row run alone.
    func worst(batched: [Float], row: Int, seq: Int, alone: [Float], length: Int, hidden: Int) -> Float {
        let inBatch = batched[(row * seq * hidden)..<(row * seq * hidden + length * hidden)]
        #expect(alone.count == length * hidden)
        return zip(inBatch, alone).map { abs($0 - $1) }.max() ?? .infinity
    }

    @Test func layoutPutsRealTokensFirstAndComputesPaddingOnlyWhenAsked() {
        // Right padding, left padding (position 0 padded), and a row without a real token.
        let batch = Batch(batch: 3, seq: 4, inputIds: [Int](repeating: 5, count: 12),
                          attentionMask: [1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0], tokenTypeIds: [Int](repeating: 0, count: 12))
        let packed = PackedRows(batch, computePadding: false)
        #expect(packed.positions == [0, 1, 5, 6, 4, 8, 9, 10, 11])
        #expect(packed.rows == [.init(start: 0, queries: 2, keys: 2, keysMasked: false),
                                .init(start: 2, queries: 3, keys: 2, keysMasked: false),
                                .init(start: 5, queries: 4, keys: 4, keysMasked: true)])
        #expect(packed.firstTokens == [0, 4, 5])
        let everything = PackedRows(batch, computePadding: true)
        #expect(everything.positions == [0, 1, 2, 3, 5, 6, 4, 7, 8, 9, 10, 11])
        #expect(everything.rows[1] == .init(start: 4, queries: 4, keys: 2, keysMasked: false))
        #expect(everything.firstTokens == [0, 6, 8])
        let values: [Float] = (0..<packed.tokens).map { Float($0 + 1) }
        #expect(packed.scatter(values, width: 1) == [1, 2, 0, 0, 5, 3, 4, 0, 6, 7, 8, 9])
    }

    /// Each row of the padded golden batch run alone at its own length, against the same row
    /// inside the mixed-length batch: every hidden state and the pooler within 1e-6.
    @Test func mixedLengthBatchGivesEachRowTheValuesItHasAlone() throws {
        let model = try BertModel(checkpoint: loadCheckpoint(TestPaths.miniLM))
        let golden = try ForwardGolden("minilm-pairs.safetensors")
        let lengths = (0..<golden.batch.batch).map { alone(golden.batch, row: $0).seq }
        #expect(Set(lengths).count > 1, "the rows must have different lengths")
        let batched = try model.forward(golden.batch, outputHiddenStates: true)
        let h = batched.hidden, s = golden.batch.seq
        for row in 0..<golden.batch.batch {
            let single = try model.forward(alone(golden.batch, row: row), outputHiddenStates: true)
            var largest = worst(batched: batched.lastHiddenState, row: row, seq: s, alone: single.lastHiddenState,
                                length: lengths[row], hidden: h)
            for (state, stateAlone) in zip(batched.hiddenStates ?? [], single.hiddenStates ?? []) {
                largest = max(largest, worst(batched: state, row: row, seq: s, alone: stateAlone, length: lengths[row], hidden: h))
            }
            let pooled = zip(batched.poolerOutput?[(row * h)..<((row + 1) * h)] ?? [], single.poolerOutput ?? []).map { abs($0 - $1) }
            #expect(pooled.count == h)
            largest = max(largest, pooled.max() ?? .infinity)
            #expect(largest <= 1e-6, "row \(row) (length \(lengths[row])): \(largest)")
        }
    }

    /// With `computePadding`, the padded positions too are transformers' values (the goldens hold
    /// them); without it they are 0, and the real tokens are the same either way. (MiniLM's padded
    /// positions agree to 6.6e-5 at worst, in layers 4 and 5, the real tokens to 1e-5: nothing
    /// feeds a padded position's errors back into the real ones, but its own grow unchecked.)
    @Test func paddedPositionsAreTransformersValuesWhenAskedFor() throws {
        let model = try BertModel(checkpoint: loadCheckpoint(TestPaths.miniLM))
        let golden = try ForwardGolden("minilm-pairs.safetensors")
        try golden.check(model, tolerance: 1e-4, includePadding: true)
        try golden.check(model)
        let all = try model.forward(golden.batch, computePadding: true)
        let real = try model.forward(golden.batch)
        let h = all.hidden
        var largest: Float = 0
        for t in 0..<(golden.batch.batch * golden.batch.seq) {
            let a = all.lastHiddenState[(t * h)..<((t + 1) * h)], r = real.lastHiddenState[(t * h)..<((t + 1) * h)]
            if golden.batch.attentionMask[t] == 1 {
                largest = max(largest, zip(a, r).map { abs($0 - $1) }.max() ?? 0)
            } else {
                #expect(r.allSatisfy { $0 == 0 }, "padded position \(t) computed without being asked for")
                #expect(a.contains { $0 != 0 })
            }
        }
        #expect(largest <= 1e-6)
        #expect(all.poolerOutput == real.poolerOutput)
    }

    @Test(arguments: ["gelu", "relu"])
    func tinyModelsMatchTransformersAtPaddedPositions(act: String) throws {
        let directory = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try SyntheticBert.write(SyntheticBert.tiny(act), scale: 0.3, to: directory)
        let model = try BertModel(checkpoint: loadCheckpoint(directory.path))
        let golden = try ForwardGolden("tiny-\(act)-f32.safetensors")
        #expect(golden.batch.attentionMask.contains(0))
        try golden.check(model, includePadding: true)
    }

    /// A mask that is not a prefix of ones (left padding) and a row without any real token: the
    /// real tokens keep their positions, padded position 0 is computed for the pooler, and the
    /// other rows are untouched by the empty one.
    @Test func leftPaddingAndAnEmptyRowAreHandled() throws {
        let model = try BertModel(checkpoint: loadCheckpoint(TestPaths.miniLM))
        let golden = try ForwardGolden("minilm-pairs.safetensors")
        let first = alone(golden.batch, row: 0), n = first.seq, s = n + 3
        // Row 0: three pad positions, then the text; row 1: the text, right-padded; row 2: no token.
        var ids = [Int](repeating: 0, count: 3 * s), mask = [Int](repeating: 0, count: 3 * s), types = ids
        for p in 0..<n {
            ids[3 + p] = first.inputIds[p]; mask[3 + p] = 1; types[3 + p] = first.tokenTypeIds[p]
            ids[s + p] = first.inputIds[p]; mask[s + p] = 1; types[s + p] = first.tokenTypeIds[p]
        }
        let batch = Batch(batch: 3, seq: s, inputIds: ids, attentionMask: mask, tokenTypeIds: types)
        let packed = try model.forward(batch)
        let everything = try model.forward(batch, computePadding: true)
        let h = packed.hidden
        for t in 0..<(3 * s) where mask[t] == 1 || t % s == 0 {
            let a = packed.lastHiddenState[(t * h)..<((t + 1) * h)], b = everything.lastHiddenState[(t * h)..<((t + 1) * h)]
            let e = zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
            #expect(e <= 1e-6, "position \(t): \(e)")
        }
        #expect(packed.poolerOutput == everything.poolerOutput)
        #expect(packed.lastHiddenState.allSatisfy(\.isFinite) && everything.lastHiddenState.allSatisfy(\.isFinite))
        // Row 1 is the text at positions 0..<n, as alone; row 0 the same text at positions 3...
        let single = try model.forward(first)
        #expect(worst(batched: packed.lastHiddenState, row: 1, seq: s, alone: single.lastHiddenState, length: n, hidden: h) <= 1e-6)
        let shifted = Array(packed.lastHiddenState[(3 * h)..<((3 + n) * h)])
        #expect(zip(shifted, single.lastHiddenState).map { abs($0 - $1) }.max() ?? 0 > 1e-3, "positions 3... differ from 0...")
    }

    /// verify --include-padding against a golden recorded by transformers passes with the model.
    @Test func verifyIncludingPaddingPassesAgainstTransformers() throws {
        let golden = try GoldenFile.read(TestPaths.goldens.appendingPathComponent("all-MiniLM-L6-v2.golden.safetensors").path)
        #expect(golden.attentionMask.contains(0))
        let model = try BertModel(checkpoint: loadCheckpoint(TestPaths.miniLM))
        let report = try verifyGolden(golden, model: model, includePadding: true)
        #expect(report.status == .pass, "\(report.checks.filter { $0.status == .fail }.map(\.name))")
    }
}
