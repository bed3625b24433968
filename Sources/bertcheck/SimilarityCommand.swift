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

    @Argument(help: "The first text.")
    var textA: String

    @Argument(help: "The second text.")
    var textB: String

    @Option(help: "Sentence vector: cls (the [CLS] row), mean (attention-masked mean, as sentence-transformers), pooler (pooler_output).")
    var pooling: Pooling = .mean

    @Option(parsing: .unconditional, help: "Threads for the forward pass (default: all cores).")
    var threads: Int?

    @Flag(help: "Print {\"similarity\", \"pooling\"}.")
    var json = false

    func run() throws {
        try checkThreads(threads)
        let checkpoint = try loadCheckpoint(model)
        let tokenizer = try BertTokenizer.load(checkpoint.tokenizer ?? .directory(model))
        let bert = try BertModel(checkpoint: checkpoint, threads: threads)
        try checkVocabularyFits(tokenizer, config: bert.config, configPath: checkpoint.configPath)
        if pooling == .pooler && !bert.hasPooler {
            throw UsageError("\(model): the model has no pooler weights: use --pooling cls or --pooling mean")
        }
        let batch = tokenizer.batch([(textA, nil), (textB, nil)], maxLength: tokenizer.truncationLength(maxPositionEmbeddings: bert.config.maxPositionEmbeddings))
        let output = try bert.forward(batch)
        let vectors = try sentenceEmbeddings(output, attentionMask: batch.attentionMask, pooling: pooling)
        let similarity = cosineSimilarity(vectors[0], vectors[1])
        try writeStdout(json ? SimilarityRenderer.json(similarity: similarity, pooling: pooling).serialized(.oneLine)
                             : SimilarityRenderer.text(similarity: similarity, pooling: pooling))
        if let bad = firstNonFinite([("\(pooling) sentence vector of text A", vectors[0]), ("\(pooling) sentence vector of text B", vectors[1])])
            ?? firstNonFiniteOutput(output) {
            try failCheck("\(model): \(bad)")
        }
    }
}
