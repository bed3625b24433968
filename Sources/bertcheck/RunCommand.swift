import ArgumentParser
import BertCheck

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the FP32 forward pass and show last_hidden_state and pooler_output.",
        discussion: """
        Shows the token ids, last_hidden_state and pooler_output as torch prints them, and the check
        pooler(CLS) == pooler_output recomputed from the pooler weights and the [CLS] rows.
        """
    )

    @Argument(help: "Model directory (weights, config.json, vocab.txt).")
    var model: String

    @Argument(help: "The text to run.")
    var text: String?

    @Option(help: "A second segment for TEXT (token type 1).")
    var pair: String?

    @Flag(name: .customLong("hidden-states"), help: "Also compute hidden_states.0 … hidden_states.L (0 = embeddings).")
    var hiddenStates = false

    @Option(help: "Threads for the forward pass (default: all cores).")
    var threads: Int?

    @Flag(help: "Print inputs and outputs as JSON (nested arrays).")
    var json = false

    func items() throws -> [(String, String?)] {
        guard let text else { throw UsageError("give a TEXT") }
        return [(text, pair)]
    }

    func run() throws {
        if let threads, threads < 1 { throw UsageError("--threads must be at least 1") }
        let items = try items()
        let checkpoint = try loadCheckpoint(model)
        let tokenizer = try BertTokenizer.load(model)
        let bert = try BertModel(checkpoint: checkpoint, threads: threads)
        let encodings = items.map { tokenizer.encode($0.0, pair: $0.1, maxLength: bert.config.maxPositionEmbeddings) }
        let batch = tokenizer.batch(items, maxLength: bert.config.maxPositionEmbeddings)
        let output = try bert.forward(batch, outputHiddenStates: hiddenStates)
        let report = RunReport(model: model, batch: batch, tokens: encodings.map(\.tokens), output: output, bert: bert)
        print(json ? report.json : report.text)
    }
}
