/// Where a forward pass first produced NaN or ±Inf. A non-finite output is never a result: it
/// means broken weights (a NaN in a matrix spreads through every later layer), so `record`
/// refuses to write it and `run` / `similarity` exit 1 (issue 18).
public struct NonFiniteOutput: Error, CustomStringConvertible, Equatable {
    /// The output tensor (`last_hidden_state`, `pooler_output`, `hidden_states.N`).
    public var output: String
    /// Flat index of the first non-finite element.
    public var index: Int
    public var value: Float
    /// How many elements of that tensor are non-finite.
    public var count: Int

    public var description: String {
        "the forward pass produced \(count) non-finite value\(count == 1 ? "" : "s") (NaN/Inf) in \(output), the first \(value) at flat index \(index): check the weights for NaN/Inf (bertcheck params)"
    }
}

/// The first output, in the order the model computes them, holding a non-finite value.
public func firstNonFiniteOutput(_ output: BertOutput) -> NonFiniteOutput? {
    var named: [(String, [Float])] = []
    for (n, state) in (output.hiddenStates ?? []).enumerated() { named.append(("hidden_states.\(n)", state)) }
    named.append(("last_hidden_state", output.lastHiddenState))
    if let pooler = output.poolerOutput { named.append(("pooler_output", pooler)) }
    return firstNonFinite(named)
}

/// The first of `named` (in order) holding a non-finite value.
public func firstNonFinite(_ named: [(name: String, values: [Float])]) -> NonFiniteOutput? {
    for (name, values) in named {
        guard let index = values.firstIndex(where: { !$0.isFinite }) else { continue }
        let count = values.reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
        return NonFiniteOutput(output: name, index: index, value: values[index], count: count)
    }
    return nil
}

/// A vocabulary with more tokens than the model's embedding table: a text whose word maps to an
/// id past `vocab_size` could not be embedded. Refused up front, naming both files, rather than
/// as a bare "input id … outside the vocabulary" later (issue 18).
public func checkVocabularyFits(_ tokenizer: BertTokenizer, config: BertConfig, configPath: String?) throws {
    guard tokenizer.vocabularySize > config.vocabSize else { return }
    throw FileError(tokenizer.vocabularyPath, Problem(
        "has \(tokenizer.vocabularySize) tokens but \(configPath ?? "the model's config") says vocab_size \(config.vocabSize): ids past \(config.vocabSize - 1) have no embedding (the vocabulary and the weights do not belong together)"))
}
