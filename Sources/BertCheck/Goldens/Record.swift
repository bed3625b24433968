import Foundation

/// Records a golden from bertcheck's own forward pass (to gate other runtimes against bertcheck):
/// the texts are tokenized with the model's vocabulary, padded into one batch and run.
public func recordGolden(modelPath: String, texts: [TextItem], hiddenStates: Bool, threads: Int? = nil,
                         progress: ProgressObserver? = nil) throws -> GoldenFile {
    let checkpoint = try loadCheckpoint(modelPath)
    guard let tokenizer = try checkpointTokenizer(checkpoint) else {
        throw FileError(modelPath, Problem("no vocab.txt or tokenizer.json beside the model: record needs the tokenizer's vocabulary"))
    }
    let model = try BertModel(checkpoint: checkpoint, threads: threads)
    try checkVocabularyFits(tokenizer, config: model.config, configPath: checkpoint.configPath)
    let maxLength = model.inputLength(tokenizer: tokenizer)
    // sentence_bert_config.json do_lower_case: sentence-transformers lowercases before tokenizing.
    let lower = model.sentencePipeline?.doLowerCase == true
    let batch = tokenizer.batch(texts.map { lower ? ($0.text.lowercased(), $0.pair?.lowercased()) : ($0.text, $0.pair) }, maxLength: maxLength)
    // A golden holds the padded positions too (verify --include-padding compares them).
    let output = try model.forwardInChunks(batch, outputHiddenStates: hiddenStates, computePadding: true, progress: progress)
    // A golden is a reference: one holding NaN or Inf would make every later verdict meaningless.
    if let bad = firstNonFiniteOutput(output) { throw FileError(modelPath, bad) }
    return GoldenFile(path: "", batch: batch.batch, seq: batch.seq, hidden: output.hidden,
                      inputIds: batch.inputIds.map(Int64.init), attentionMask: batch.attentionMask.map(Int64.init),
                      tokenTypeIds: batch.tokenTypeIds.map(Int64.init), outputs: ModelOutputs(output),
                      metadata: GoldenMetadata(texts: texts, model: modelPath, producer: "bertcheck"))
}
