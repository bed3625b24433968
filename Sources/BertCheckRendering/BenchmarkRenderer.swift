import BertCheck
import Foundation

/// `bertcheck bench` as one line of text or of JSON.
public enum BenchmarkRenderer {
    /// `{"tokens_per_second", "ms_per_batch", "batch", "seq", "threads", "iterations",
    /// "real_tokens", "lengths"}`, the rates rounded to 2 and 3 decimals; tokens per second count
    /// real tokens only (padding excluded).
    public static func json(_ result: BenchmarkResult) -> JSONValue {
        func rounded(_ value: Double, decimals: Int) -> Double {
            let scale = pow(10, Double(decimals))
            return (value * scale).rounded() / scale
        }
        return .object([
            ("tokens_per_second", .number(rounded(result.tokensPerSecond, decimals: 2))),
            ("ms_per_batch", .number(rounded(result.msPerBatch, decimals: 3))),
            ("batch", .int(result.batch)), ("seq", .int(result.seq)),
            ("threads", .int(result.threads)), ("iterations", .int(result.iterations)),
            ("real_tokens", .int(result.realTokens)), ("lengths", .array(result.lengths.map { .int($0) })),
        ])
    }

    public static func text(_ result: BenchmarkResult) -> String {
        let padded = result.realTokens == result.batch * result.seq ? "" : " (\(result.realTokens) real tokens, counted in tokens/s)"
        return String(format: "batch %d x seq %d%@, %d thread%@, %d iteration%@: %.1f ms per batch, %.1f tokens/s",
                      result.batch, result.seq, padded, result.threads, result.threads == 1 ? "" : "s", result.iterations,
                      result.iterations == 1 ? "" : "s", result.msPerBatch, result.tokensPerSecond)
    }
}
