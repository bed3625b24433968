import ArgumentParser
import BertCheck
import BertCheckRendering
import Foundation

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Gate a model (or another runtime's outputs) on a golden file.",
        discussion: """
        Exit codes: 0 every check passed, 1 a check failed, 2 unusable input (unreadable or \
        inconsistent golden, shapes that do not fit the model, ids out of range) or usage. \
        Tolerances: the profile inferred from the candidate (a model's weights: the coarsest \
        quantized type, GGUF Q8_0 q8, Q6_K q6, Q5_* q5, Q4_*/Q3_K/Q2_K q4, ONNX int8 int8, else the \
        dtype holding most weights; an outputs file: F16 arrays fp16, else fp32), replaced by the \
        golden's atol/rtol metadata (float profiles only), replaced by --profile, then --atol/--rtol \
        (inf: no elementwise bound), then --tolerance NAME=... for that tensor. The quantized \
        profiles are cosine first: every token's cosine and every row's mean-pooled cosine \
        (check mean_pooled) against a floor, with a loose elementwise bound.
        """
    )

    @Option(help: "The golden file (bertcheck-golden/1 safetensors, or .npz with the same tensor names).")
    var golden: String

    @Option(help: "Run the golden's recorded inputs through this model (directory or weight file). With --outputs: the model whose vocabulary gives token texts and whose pooler weights check pooler_invariant on the outputs.")
    var model: String?

    @Option(help: "Compare another runtime's outputs file (safetensors or npz; the golden's tensor names, hidden_states_N, a stacked hidden_states [L+1, B, S, H], or names given with --map).")
    var outputs: String?

    @Option(name: .customLong("map"), help: ArgumentHelp("With --outputs: read the file's tensor THEIR_NAME as the golden's GOLDEN_NAME (repeatable).", valueName: "GOLDEN_NAME=THEIR_NAME"))
    var outputNames: [String] = []

    @Option(help: "With --outputs: a vocabulary for token texts in the report (a model directory, vocab.txt, tokenizer.json's directory or a GGUF).")
    var vocab: String?

    @OptionGroup var tolerances: ToleranceOptions

    @Flag(name: .customLong("include-padding"), help: "Compare padded positions too (by default only tokens with attention_mask 1).")
    var includePadding = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: "Also write the report as JUnit XML to this file.")
    var junit: String?

    @Option(help: "Also write the report as one self-contained HTML page (verdict, error plot through the stack, checks, rows, worst tokens) to this file.")
    var html: String?

    @Option(help: "Also write a GitHub-flavoured Markdown summary (verdict, checks, a Mermaid chart of the error through the stack) to this file, e.g. $GITHUB_STEP_SUMMARY's.")
    var markdown: String?

    @Option(parsing: .unconditional, help: "Threads for the forward pass (default: all cores).")
    var threads: Int?

    @OptionGroup var memory: MemoryOption

    @OptionGroup var terminal: VerdictOptions

    func run() throws {
        guard model != nil || outputs != nil else { throw UsageError("verify needs --model MODEL or --outputs FILE") }
        if outputs == nil {
            if vocab != nil { throw UsageError("--vocab goes with --outputs (a model brings its own vocabulary)") }
            if !outputNames.isEmpty { throw UsageError("--map goes with --outputs") }
        }
        if model != nil && vocab != nil { throw UsageError("give --model or --vocab, not both (the model's vocabulary is used)") }
        let names: [String: String]
        do {
            names = try OutputNameMapping.parse(outputNames)
        } catch let problem as ComparisonRequestProblem {
            throw UsageError(problem)
        }
        try checkThreads(threads)
        try memory.apply()
        try terminal.checkNotJSON(json)
        let inputs = [golden] + [outputs, vocab].compactMap { $0 }
        let reportFiles = [("--junit", junit), ("--html", html), ("--markdown", markdown)].compactMap { option, path in path.map { (option, $0) } }
        for (option, path) in reportFiles {
            try refuseOverwritingInputs(output: path, option: option, inputs: inputs, modelPath: model)
        }
        try refuseSamePath(reportFiles)
        let settings = try tolerances.settings(allowedName: OutputRegistry.acceptsToleranceOverride)
        let report: VerifyReport
        let progress = terminal.progress()
        defer { progress?.finish() }
        do {
            report = try verifyGolden(VerifyOptions(goldenPath: golden, modelPath: model, outputsPath: outputs, vocabPath: vocab,
                                                    outputNames: names, tolerances: settings,
                                                    includePadding: includePadding, threads: threads), progress: progress)
        } catch let problem as ComparisonRequestProblem {
            throw UsageError(problem)
        }
        progress?.finish()
        if let junit { try VerifyReportRenderer.writeJUnit(report, to: junit) }
        if let html { try VerifyReportRenderer.writeHTML(report, to: html) }
        if let markdown { try VerifyReportRenderer.writeMarkdown(report, to: markdown) }
        try writeStdout(json ? VerifyReportRenderer.json(report).serialized()
                             : terminal.text(table: VerifyReportRenderer.table(report), verdict: VerifyReportRenderer.verdictLine(report)),
                        terminator: json ? "\n" : "")
        if report.status == .fail { throw ExitCode(1) }
    }
}
