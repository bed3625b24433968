import ArgumentParser
import BertCheck
import BertCheckRendering

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the FP32 forward pass and show last_hidden_state, pooler_output and the task head's predictions.",
        discussion: """
        Shows the token ids, last_hidden_state and pooler_output as torch prints them, and the check \
        pooler(CLS) == pooler_output recomputed from the pooler weights and the [CLS] rows. A checkpoint \
        with a task head (config.json architectures) also shows what a pipeline would: the label and \
        its probability (a score for regression), a label per token, the best answer span in the \
        --pair, the top-5 tokens at each [MASK]; --json carries the head's tensors.
        """
    )

    @Argument(help: "Model directory (weights, config.json, vocab.txt) or a GGUF file (config and vocabulary in its metadata).")
    var model: String

    @Argument(help: "The text to run.", transform: PathBytes.text)
    var text: String?

    @Option(help: "A second segment for TEXT (token type 1).", transform: PathBytes.text)
    var pair: String?

    @Option(name: .customLong("texts-file"), help: "A JSON array whose items are a text or a [text, pair] array: run as one padded batch. Texts longer than the model's position table are truncated (longest_first), as transformers' truncation=True does.")
    var textsFile: String?

    @Option(help: "Write the inputs and outputs to this safetensors file (a bertcheck-golden/1 golden).")
    var out: String?

    @Flag(name: .customLong("hidden-states"), help: "Also compute hidden_states.0 … hidden_states.L (0 = embeddings, N = output of layer N-1); written with --out.")
    var hiddenStates = false

    @Option(parsing: .unconditional, help: "Threads for the forward pass (default: all cores).")
    var threads: Int?

    @OptionGroup var memory: MemoryOption

    @Flag(help: "Print inputs and outputs as JSON (nested arrays).")
    var json = false

    @OptionGroup var terminal: ProgressOptions

    func items() throws -> [TextItem] {
        switch (text, textsFile) {
        case (let text?, nil):
            return [TextItem(text, pair: pair)]
        case (nil, let file?):
            if pair != nil { throw UsageError("--pair goes with TEXT; in --texts-file write [text, pair]") }
            return try readTextsFile(file)
        case (nil, nil):
            throw UsageError("give a TEXT or --texts-file")
        case (_?, _?):
            throw UsageError("give either a TEXT or --texts-file, not both")
        }
    }

    func run() throws {
        try checkThreads(threads)
        try memory.apply()
        if let out { try refuseOverwritingInputs(output: out, option: "--out", inputs: textsFile.map { [$0] } ?? [], modelPath: model) }
        // sentence_bert_config.json do_lower_case: sentence-transformers lowercases before tokenizing.
        var items = try items()
        let checkpoint = try loadCheckpoint(model)
        let tokenizer = try BertTokenizer.load(checkpoint.tokenizer ?? .directory(model))
        let bert = try BertModel(checkpoint: checkpoint, threads: threads)
        try checkVocabularyFits(tokenizer, config: bert.config, configPath: checkpoint.configPath)
        let maxLength = bert.inputLength(tokenizer: tokenizer)
        if bert.sentencePipeline?.doLowerCase == true { items = items.map { TextItem($0.text.lowercased(), pair: $0.pair?.lowercased()) } }
        let encodings = items.map { tokenizer.encode($0.text, pair: $0.pair, maxLength: maxLength) }
        let batch = tokenizer.batch(items.map { ($0.text, $0.pair) }, maxLength: maxLength)
        // Progress for a --texts-file batch; one TEXT is quick.
        let progress = textsFile == nil ? nil : terminal.progress()
        defer { progress?.finish() }
        // A golden written with --out holds the padded positions too (verify --include-padding).
        let output = try bert.forwardInChunks(batch, outputHiddenStates: hiddenStates, computePadding: out != nil, progress: progress)
        progress?.finish()
        let nonFinite = firstNonFiniteOutput(output)
        if let out, nonFinite == nil {
            let golden = GoldenFile(path: out, batch: batch.batch, seq: batch.seq, hidden: output.hidden,
                                    inputIds: batch.inputIds.map(Int64.init), attentionMask: batch.attentionMask.map(Int64.init),
                                    tokenTypeIds: batch.tokenTypeIds.map(Int64.init), outputs: ModelOutputs(output),
                                    metadata: GoldenMetadata(texts: items, model: model, producer: "bertcheck run"))
            try golden.write(to: out)
        }
        let report = RunReport(model: model, batch: batch, tokens: encodings.map(\.tokens), output: output, bert: bert, tokenizer: tokenizer)
        if json {
            // Streamed in pieces: the whole text of a large batch would be several times its floats.
            var piece: [UInt8] = []
            try RunReportRenderer.jsonStream(report).write(to: &piece, layout: .oneLine) { try StandardOutput.write(&$0) }
            piece.append(UInt8(ascii: "\n"))
            try StandardOutput.write(&piece)
        } else {
            try writeStdout(RunReportRenderer.text(report))
        }
        // The report shows the values; the verdict is a failure, and --out wrote nothing.
        if let nonFinite { try failCheck("\(model): \(nonFinite)" + (out == nil ? "" : " (nothing written to \(out!))")) }
    }
}
