import Foundation
import ArgumentParser
import BertCheck
import BertCheckRendering

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time the FP32 forward pass on fixed ids.",
        discussion: "One untimed warm-up pass, then --iterations timed passes; prints the mean."
    )

    @Argument(help: "Model directory or weight file (safetensors, sharded index, pytorch_model.bin, GGUF).")
    var model: String

    @Option(parsing: .unconditional, help: "Rows per batch.")
    var batch: Int = 8

    @Option(parsing: .unconditional, help: "Tokens per row (at most the model's max_position_embeddings).")
    var seq: Int = 128

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Real tokens of each row, comma-separated (e.g. 126,5,5): a batch padded to the longest; tokens/s counts real tokens. Replaces --batch and --seq.",
        valueName: "L1,L2,..."))
    var lengths: String?

    @Option(parsing: .unconditional, help: "Threads for sgemm and the element-wise work (default: all cores).")
    var threads: Int?

    @OptionGroup var memory: MemoryOption

    @Option(parsing: .unconditional, help: "Timed forward passes.")
    var iterations: Int = 5

    @Flag(help: "Print {\"tokens_per_second\", \"ms_per_batch\", \"batch\", \"seq\", \"threads\", \"iterations\"}.")
    var json = false

    @OptionGroup var terminal: ProgressOptions

    func run() throws {
        try checkThreads(threads)
        try memory.apply()
        let bert = try BertModel(checkpoint: loadCheckpoint(model), threads: threads)
        let result: BenchmarkResult
        let progress = terminal.progress()
        defer { progress?.finish() }
        do {
            if let lengths {
                result = try bert.benchmark(lengths: try parseLengths(lengths), iterations: iterations, progress: progress)
            } else {
                result = try bert.benchmark(batch: batch, seq: seq, iterations: iterations, progress: progress)
            }
        } catch let problem as BenchmarkProblem {
            throw UsageError(problem, lengths: lengths != nil)
        }
        progress?.finish()
        try writeStdout(json ? BenchmarkRenderer.json(result).serialized(.oneLine) : BenchmarkRenderer.text(result))
    }

    /// `--lengths 126,5,5` as [126, 5, 5].
    func parseLengths(_ text: String) throws -> [Int] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let values = parts.map { Int($0) }
        guard !parts.isEmpty, values.allSatisfy({ $0 != nil }) else {
            throw UsageError("--lengths takes comma-separated whole numbers, e.g. 126,5,5 (got '\(text)')")
        }
        return values.compactMap { $0 }
    }
}
