import Foundation

/// Why a benchmark cannot run with the shape or count asked for.
public enum BenchmarkProblem: Error, CustomStringConvertible, Equatable {
    /// The batch or the sequence length is zero or negative.
    case emptyBatch
    case sequenceTooLong(Int, maxPositions: Int)
    /// More than `maximumTokens` tokens (or batch × seq overflows).
    case tooManyTokens
    /// Zero or negative timed iterations.
    case noIterations

    /// The most tokens (batch × seq) one benchmark batch may hold.
    public static let maximumTokens = 1 << 24

    public var description: String {
        switch self {
        case .emptyBatch: return "the batch size and sequence length must be positive"
        case let .sequenceTooLong(seq, maxPositions): return "sequence length \(seq) exceeds the model's max_position_embeddings \(maxPositions)"
        case .tooManyTokens: return "batch size × sequence length is too large"
        case .noIterations: return "the number of iterations must be positive"
        }
    }
}

/// Timing of the forward pass on fixed ids, as `bertcheck bench` reports it.
public struct BenchmarkResult: Sendable {
    public var batch: Int
    public var seq: Int
    public var threads: Int
    public var iterations: Int
    /// Mean wall time of one forward pass, in milliseconds.
    public var msPerBatch: Double
    public var tokensPerSecond: Double { msPerBatch > 0 ? Double(batch * seq) / (msPerBatch / 1000) : 0 }
}

extension BertModel {
    /// A full batch of fixed, in-vocabulary ids (no padding), the same on every run. Throws
    /// `BenchmarkProblem`.
    public func benchmarkBatch(batch: Int, seq: Int) throws -> Batch {
        guard batch > 0, seq > 0 else { throw BenchmarkProblem.emptyBatch }
        guard seq <= config.maxPositionEmbeddings else {
            throw BenchmarkProblem.sequenceTooLong(seq, maxPositions: config.maxPositionEmbeddings)
        }
        let (tokens, overflow) = batch.multipliedReportingOverflow(by: seq)
        guard !overflow, tokens <= BenchmarkProblem.maximumTokens else { throw BenchmarkProblem.tooManyTokens }
        let ids = (0..<tokens).map { t in (t * 7919 + 1000) % config.vocabSize }
        return Batch(batch: batch, seq: seq, inputIds: ids, attentionMask: [Int](repeating: 1, count: tokens),
                     tokenTypeIds: [Int](repeating: 0, count: tokens))
    }

    /// Runs one untimed warm-up pass, then `iterations` timed passes; `progress` hears of each pass.
    public func benchmark(batch: Int, seq: Int, iterations: Int, progress: ProgressObserver? = nil) throws -> BenchmarkResult {
        guard iterations > 0 else { throw BenchmarkProblem.noIterations }
        let input = try benchmarkBatch(batch: batch, seq: seq)
        let activity = "timing forward passes of \(batch) × \(seq) tokens"
        progress?.update(activity, unit: "passes", 0, of: iterations + 1)
        _ = try forward(input)
        progress?.update(activity, unit: "passes", 1, of: iterations + 1)
        let start = DispatchTime.now().uptimeNanoseconds
        for pass in 0..<iterations {
            _ = try forward(input)
            progress?.update(activity, unit: "passes", pass + 2, of: iterations + 1)
        }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        return BenchmarkResult(batch: batch, seq: seq, threads: threads, iterations: iterations,
                               msPerBatch: elapsed / Double(iterations))
    }
}
