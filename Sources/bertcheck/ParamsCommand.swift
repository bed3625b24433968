import ArgumentParser
import BertCheck
import BertCheckRendering

struct ParamsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "params",
        abstract: "List a checkpoint's named parameters and check them against config.json.",
        discussion: """
        MODEL is a model directory (model.safetensors, else model.safetensors.index.json, else \
        pytorch_model.bin, else model.onnx) or one such file, a numpy .npz archive, or an ONNX export \
        (initializers named back through the graph; the exporter form and anything unnamed are \
        listed). Names are transformers' BertModel names (a `bert.` \
        prefix is stripped, LayerNorm gamma/beta read as weight/bias); buffers and task heads are \
        listed apart. Exit 1 when the parameters do not match what config.json implies.
        """
    )

    @Argument(help: "Model directory or weights file.")
    var model: String

    @Flag(help: "List every parameter, not only the notebook's sections (embeddings, first encoder layer, pooler).")
    var all = false

    @Option(help: ArgumentHelp("Fine-tuning strategy: none (train everything), all (freeze the model, train only the head), or comma-separated name prefixes with A-B layer ranges to freeze, e.g. embeddings,encoder.layer.0-7.", valueName: "strategy"))
    var freeze = "none"

    @Option(parsing: .unconditional, help: ArgumentHelp("Add a classification head of N classes on the pooled output (N*H + N parameters, always trainable).", valueName: "N"))
    var head: Int?

    @Flag(help: "Per-tensor min, max, mean, std and NaN/Inf counts (reads every weight).")
    var stats = false

    @Flag(help: "Print a JSON report instead of the listing.")
    var json = false

    func run() throws {
        let report: ParamsReport
        do {
            let strategy = try FreezeStrategy.parse(freeze)
            let checkpoint = try loadCheckpoint(model)
            report = try ParamsReport(checkpoint: checkpoint, freeze: strategy, headClasses: head, computeStats: stats)
        } catch let problem as FineTuningProblem {
            throw UsageError(problem, freeze: freeze)
        }
        try writeStdout(json ? ParamsReportRenderer.json(report).serialized() + "\n" : ParamsReportRenderer.text(report, all: all), terminator: "")
        if !report.schemaOK {
            writeStderr("bertcheck: \(ParamsReportRenderer.schemaSummary(report)); first: \(report.firstFault ?? "")\n")
            throw ExitCode(1)
        }
    }
}
