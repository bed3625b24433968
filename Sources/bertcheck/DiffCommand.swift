import ArgumentParser
import BertCheck
import BertCheckRendering

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two checkpoints tensor by tensor (e.g. fp32 against its fp16 conversion).",
        discussion: """
        Reports tensors missing from B or extra in B, shape and dtype differences, and per tensor \
        max abs / relative error and cosine. Exit 1 when anything is missing, extra, reshaped or \
        beyond tolerance (default profile: the less precise of the two checkpoints' dtypes; int8 \
        for an ONNX quantize_dynamic export, whose dequantized weights may differ by half their \
        quantization step). B may be an ONNX export: its weights are compared under HF names.
        """
    )

    @Argument(help: "The reference checkpoint (directory or weight file).")
    var a: String

    @Argument(help: "The checkpoint compared with it.")
    var b: String

    @OptionGroup var tolerances: ToleranceOptions

    @Flag(help: "List every common tensor, identical ones included.")
    var all = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: "Also write the report as one self-contained HTML page (error by layer, tensors beyond tolerance first, missing, extra and reshaped ones) to this file.")
    var html: String?

    @OptionGroup var terminal: VerdictOptions

    func run() throws {
        // Either checkpoint's directory holds inputs (config.json, shards) the page must not replace.
        for model in [a, b] {
            if let html { try refuseOverwritingInputs(output: html, option: "--html", inputs: [a, b], modelPath: model) }
        }
        try terminal.checkNotJSON(json)
        let settings = try tolerances.settings { _ in true }
        let report: CheckpointDiffReport
        let progress = terminal.progress()
        defer { progress?.finish() }
        do {
            report = try diffCheckpoints(a, b, settings: settings, progress: progress)
        } catch let problem as ComparisonRequestProblem {
            throw UsageError(problem)
        }
        progress?.finish()
        if let html { try CheckpointDiffRenderer.writeHTML(report, to: html) }
        try writeStdout(json ? CheckpointDiffRenderer.json(report).serialized()
                             : terminal.text(table: CheckpointDiffRenderer.table(report, all: all), verdict: CheckpointDiffRenderer.verdictLine(report)),
                        terminator: json ? "\n" : "")
        if report.status == .fail { throw ExitCode(1) }
    }
}
