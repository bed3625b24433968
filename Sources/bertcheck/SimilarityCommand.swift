import ArgumentParser
import BertCheck
import BertCheckRendering

extension Pooling: ExpressibleByArgument {}

struct SimilarityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "similarity",
        abstract: "Cosine similarity of two texts' sentence vectors.",
        discussion: "The texts are tokenized with the model's vocabulary and run as one padded batch."
    )

    @Argument(help: "Model directory (weights, config.json, vocab.txt) or a GGUF file (config and vocabulary in its metadata).")
    var model: String

    @Argument(help: "The first text.", transform: PathBytes.text)
    var textA: String

    @Argument(help: "The second text.", transform: PathBytes.text)
    var textB: String

    @Option(help: "Sentence vector: cls (the [CLS] row), mean (attention-masked mean, as sentence-transformers), pooler (pooler_output). Default: a sentence-transformers folder's own modules (modules.json: pooling, Dense, Normalize, max_seq_length), else mean.")
    var pooling: Pooling?

    @Option(parsing: .unconditional, help: "Threads for the forward pass (default: all cores).")
    var threads: Int?

    @OptionGroup var memory: MemoryOption

    @Flag(help: "Print {\"similarity\", \"pooling\"}.")
    var json = false

    func run() throws {
        try checkThreads(threads)
        try memory.apply()
        let checkpoint = try loadCheckpoint(model)
        let tokenizer = try BertTokenizer.load(checkpoint.tokenizer ?? .directory(model))
        let bert = try BertModel(checkpoint: checkpoint, threads: threads)
        try checkVocabularyFits(tokenizer, config: bert.config, configPath: checkpoint.configPath)
        if pooling == .pooler && !bert.hasPooler {
            throw UsageError("\(model): the model has no pooler weights: use --pooling cls or --pooling mean")
        }
        let pipeline = pooling == nil ? bert.sentencePipeline : nil
        let lower = pipeline?.doLowerCase == true
        let texts = [textA, textB].map { lower ? $0.lowercased() : $0 }
        let maxLength = pipeline != nil ? bert.inputLength(tokenizer: tokenizer)
            : tokenizer.truncationLength(maxPositionEmbeddings: bert.config.maxPositionEmbeddings)
        let batch = tokenizer.batch(texts.map { ($0, nil) }, maxLength: maxLength)
        let output = try bert.forward(batch)
        let vectors: [[Float]]
        let label: String
        if pipeline != nil, let embedding = output.headOutputs[OutputRegistry.sentenceEmbedding.name], let width = embedding.shape.last {
            vectors = [Array(embedding.values[0..<width]), Array(embedding.values[width..<(2 * width)])]
            label = bert.sentencePipeline?.label(includingNormalize: false) ?? "sentence-transformers"
        } else {
            let chosen = pooling ?? .mean
            vectors = try sentenceEmbeddings(output, attentionMask: batch.attentionMask, pooling: chosen)
            label = chosen.rawValue
        }
        let similarity = cosineSimilarity(vectors[0], vectors[1])
        try writeStdout(json ? SimilarityRenderer.json(similarity: similarity, poolingLabel: label).serialized(.oneLine)
                             : SimilarityRenderer.text(similarity: similarity, poolingLabel: label))
        if let bad = firstNonFinite([("\(label) sentence vector of text A", vectors[0]), ("\(label) sentence vector of text B", vectors[1])])
            ?? firstNonFiniteOutput(output) {
            try failCheck("\(model): \(bad)")
        }
    }
}
