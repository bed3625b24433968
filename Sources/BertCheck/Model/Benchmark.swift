import Foundation

/// Timing of the forward pass on fixed ids, as `bertcheck bench` reports it.
public struct BenchmarkResult: Sendable {
    public var batch: Int
    public var seq: Int
    public var threads: Int
    public var iterations: Int
    /// Mean wall time of one forward pass, in milliseconds.
    public var msPerBatch: Double
    public var tokensPerSecond: Double { msPerBatch > 0 ? Double(batch * seq) / (msPerBatch / 1000) : 0 }

    /// `{"tokens_per_second", "ms_per_batch", "batch", "seq", "threads", "iterations"}`.
    public var json: String {
        String(format: "{\"tokens_per_second\": %.2f, \"ms_per_batch\": %.3f, \"batch\": %d, \"seq\": %d, \"threads\": %d, \"iterations\": %d}",
               tokensPerSecond, msPerBatch, batch, seq, threads, iterations)
    }

    public var text: String {
        String(format: "batch %d x seq %d, %d thread%@, %d iteration%@: %.1f ms per batch, %.1f tokens/s",
               batch, seq, threads, threads == 1 ? "" : "s", iterations, iterations == 1 ? "" : "s", msPerBatch, tokensPerSecond)
    }
}

extension BertModel {
    /// A full batch of fixed, in-vocabulary ids (no padding), the same on every run.
    public func benchmarkBatch(batch: Int, seq: Int) throws -> Batch {
        guard batch > 0, seq > 0 else { throw UsageError("--batch and --seq must be positive") }
        guard seq <= config.maxPositionEmbeddings else {
            throw UsageError("--seq \(seq) exceeds the model's max_position_embeddings \(config.maxPositionEmbeddings)")
        }
        let (tokens, overflow) = batch.multipliedReportingOverflow(by: seq)
        guard !overflow, tokens <= 1 << 24 else { throw UsageError("--batch × --seq is too large") }
        let ids = (0..<tokens).map { t in (t * 7919 + 1000) % config.vocabSize }
        return Batch(batch: batch, seq: seq, inputIds: ids, attentionMask: [Int](repeating: 1, count: tokens),
                     tokenTypeIds: [Int](repeating: 0, count: tokens))
    }

    /// Runs one untimed warm-up pass, then `iterations` timed passes.
    public func benchmark(batch: Int, seq: Int, iterations: Int) throws -> BenchmarkResult {
        guard iterations > 0 else { throw UsageError("--iterations must be positive") }
        let input = try benchmarkBatch(batch: batch, seq: seq)
        _ = try forward(input)
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<iterations { _ = try forward(input) }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        return BenchmarkResult(batch: batch, seq: seq, threads: threads, iterations: iterations,
                               msPerBatch: elapsed / Double(iterations))
    }
}
