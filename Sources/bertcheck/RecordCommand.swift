import ArgumentParser
import BertCheck

struct RecordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Record a golden file from bertcheck's own forward pass.",
        discussion: "The golden (bertcheck-golden/1) is written atomically: a temporary file beside OUT, then a rename."
    )

    @Argument(help: "The model: a directory with weights, config.json and vocab.txt.")
    var model: String

    @Option(name: .customLong("texts-file"), help: "A JSON array whose items are a text or a [text, pair] array: one padded batch. Texts longer than the model's position table are truncated (longest_first), as transformers' truncation=True does.")
    var textsFile: String

    @Option(help: "The golden file to write.")
    var out: String

    @Flag(name: .customLong("hidden-states"), help: "Also record hidden_states.0 … hidden_states.L.")
    var hiddenStates = false

    @Option(parsing: .unconditional, help: "Threads for the forward pass (default: all cores).")
    var threads: Int?

    @OptionGroup var memory: MemoryOption

    @OptionGroup var terminal: ProgressOptions

    func run() throws {
        try checkThreads(threads)
        try memory.apply()
        try refuseOverwritingInputs(output: out, option: "--out", inputs: [textsFile], modelPath: model)
        let texts = try readTextsFile(textsFile)
        let progress = terminal.progress()
        defer { progress?.finish() }
        let golden = try recordGolden(modelPath: model, texts: texts, hiddenStates: hiddenStates, threads: threads, progress: progress)
        progress?.finish()
        try golden.write(to: out)
        let states = golden.outputs.hiddenStates.isEmpty ? "" : ", \(golden.outputs.hiddenStates.count) hidden states"
        try writeStdout("wrote \(PathBytes.display(out)): \(golden.batch) rows × \(golden.seq) tokens, hidden \(golden.hidden)\(states)")
    }
}
