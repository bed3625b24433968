import ArgumentParser
import BertCheck
import BertCheckRendering
#if canImport(Glibc)
import Glibc
#endif

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Tokenize text exactly as Hugging Face's BertTokenizer does.",
        discussion: """
        Prints tokens, input_ids and token_type_ids of [CLS] TEXT [SEP] (or [CLS] TEXT [SEP] PAIR [SEP]).
        With --file, each line of the file is one text and the output is JSON Lines: one object per \
        input line, empty lines included, in order.
        """
    )

    @Argument(help: "A model directory (vocab.txt or else tokenizer.json; tokenizer_config.json and config.json when present), a GGUF file (its tokenizer.ggml.* vocabulary) or a bare vocab.txt.")
    var modelOrVocab: String

    @Argument(help: "The text to tokenize.", transform: PathBytes.text)
    var text: String?

    @Option(help: "A second text, for a pair: [CLS] TEXT [SEP] PAIR [SEP] with token type 1 on PAIR.", transform: PathBytes.text)
    var pair: String?

    @Option(help: "A UTF-8 file with one text per line (split on \\n only); prints JSON Lines.")
    var file: String?

    @Option(parsing: .unconditional, help: "Truncate longest-first to this many tokens, special tokens included (default: the model's maximum, none for a bare vocab.txt).")
    var maxLength: Int?

    @Flag(help: "Print one JSON object {\"input_ids\", \"tokens\", \"token_type_ids\"}.")
    var json = false

    @OptionGroup var terminal: ProgressOptions

    func run() throws {
        switch (text, file) {
        case (nil, nil): throw UsageError("give a TEXT to tokenize or --file F")
        case (.some, .some): throw UsageError("give either a TEXT or --file, not both")
        default: break
        }
        if file != nil && pair != nil { throw UsageError("--pair cannot be used with --file") }
        if let maxLength, maxLength < (pair == nil ? 2 : 3) {
            throw UsageError("--max-length \(maxLength) cannot hold [CLS] and [SEP]\(pair == nil ? "" : " twice"): use \(pair == nil ? 2 : 3) or more")
        }
        let tokenizer = try BertTokenizer.load(modelOrVocab)
        if let file {
            let lines = try TextLines.read(file)
            var out: [UInt8] = []
            out.reserveCapacity(1 << 20)
            let progress = terminal.progress()
            defer { progress?.finish() }
            var step = ProgressStep(activity: "tokenizing \(file)", unit: "lines", completed: 0, total: lines.count)
            progress?.update(step)
            for line in lines {
                EncodingRenderer.appendJSONLine(tokenizer.encode(line, maxLength: maxLength), to: &out)
                step.completed += 1
                progress?.update(step)
                if out.count >= 1 << 20 {
                    // stdout may be the same terminal: the JSON must not land on the progress line.
                    progress?.clear()
                    try StandardOutput.write(&out)
                }
            }
            progress?.finish()
            try StandardOutput.write(&out)
            return
        }
        let encoding = tokenizer.encode(text ?? "", pair: pair, maxLength: maxLength)
        try writeStdout(json ? EncodingRenderer.json(encoding).serialized(.oneLine) : EncodingRenderer.text(encoding))
    }

}
