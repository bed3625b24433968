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
    /// A length in `--lengths` that is zero or negative (its position, from 1).
    case emptyLength(Int)

    /// The most tokens (batch × seq) one benchmark batch may hold.
    public static let maximumTokens = 1 << 24

    public var description: String {
        switch self {
        case .emptyBatch: return "the batch size and sequence length must be positive"
        case let .sequenceTooLong(seq, maxPositions): return "sequence length \(seq) exceeds the model's max_position_embeddings \(maxPositions)"
        case .tooManyTokens: return "batch size × sequence length is too large"
        case .noIterations: return "the number of iterations must be positive"
        case let .emptyLength(index): return "length \(index) of the list is not positive: every row needs at least one token"
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
    /// The real tokens of each row (the rest of its `seq` positions are padding); all `seq` for
    /// a full batch.
    public var lengths: [Int]

    public init(batch: Int, seq: Int, threads: Int, iterations: Int, msPerBatch: Double, lengths: [Int]? = nil) {
        self.batch = batch
        self.seq = seq
        self.threads = threads
        self.iterations = iterations
        self.msPerBatch = msPerBatch
        self.lengths = lengths ?? [Int](repeating: seq, count: batch)
    }

    /// Tokens with attention mask 1: what a padded batch is for.
    public var realTokens: Int { lengths.reduce(0, +) }
    /// Real tokens per second (padded positions do not count).
    public var tokensPerSecond: Double { msPerBatch > 0 ? Double(realTokens) / (msPerBatch / 1000) : 0 }
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

    /// A padded batch of rows with `lengths` real tokens each (fixed ids as `benchmarkBatch(batch:
    /// seq:)`, padded with id 0 and mask 0 to the longest), as a tokenizer pads a batch of texts.
    public func benchmarkBatch(lengths: [Int]) throws -> Batch {
        if let index = lengths.firstIndex(where: { $0 <= 0 }) { throw BenchmarkProblem.emptyLength(index + 1) }
        var padded = try benchmarkBatch(batch: lengths.count, seq: lengths.max() ?? 0)
        for (row, length) in lengths.enumerated() {
            for position in length..<padded.seq {
                padded.inputIds[row * padded.seq + position] = 0
                padded.attentionMask[row * padded.seq + position] = 0
            }
        }
        return padded
    }

    /// Runs one untimed warm-up pass, then `iterations` timed passes; `progress` hears of each pass.
    public func benchmark(batch: Int, seq: Int, iterations: Int, progress: ProgressObserver? = nil) throws -> BenchmarkResult {
        try benchmark(input: benchmarkBatch(batch: batch, seq: seq), iterations: iterations, progress: progress)
    }

    /// The same over a padded batch of rows with `lengths` real tokens each (`tokensPerSecond`
    /// counts the real ones).
    public func benchmark(lengths: [Int], iterations: Int, progress: ProgressObserver? = nil) throws -> BenchmarkResult {
        try benchmark(input: benchmarkBatch(lengths: lengths), iterations: iterations, lengths: lengths, progress: progress)
    }

    private func benchmark(input: Batch, iterations: Int, lengths: [Int]? = nil, progress: ProgressObserver?) throws -> BenchmarkResult {
        guard iterations > 0 else { throw BenchmarkProblem.noIterations }
        let batch = input.batch, seq = input.seq
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
                               msPerBatch: elapsed / Double(iterations), lengths: lengths)
    }
}
