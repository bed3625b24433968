import Foundation

/// What `bertcheck verify` compares: a golden against a model run through bertcheck's forward
/// pass, or against another runtime's outputs file.
public struct VerifyOptions {
    public var goldenPath: String
    public var modelPath: String?
    public var outputsPath: String?
    /// With an outputs file: a vocabulary (a model directory, vocab.txt, tokenizer.json or GGUF)
    /// for token texts; `modelPath` with `outputsPath` gives token texts and the pooler weights.
    public var vocabPath: String?
    /// `--map`: golden name → the outputs file's name.
    public var outputNames: [String: String]
    public var tolerances: ToleranceSettings
    /// Compare padded positions too (they are skipped by default: their values are unspecified).
    public var includePadding: Bool
    public var threads: Int?

    public init(goldenPath: String, modelPath: String? = nil, outputsPath: String? = nil, vocabPath: String? = nil,
                outputNames: [String: String] = [:], tolerances: ToleranceSettings = ToleranceSettings(),
                includePadding: Bool = false, threads: Int? = nil) {
        self.goldenPath = goldenPath
        self.modelPath = modelPath
        self.outputsPath = outputsPath
        self.vocabPath = vocabPath
        self.outputNames = outputNames
        self.tolerances = tolerances
        self.includePadding = includePadding
        self.threads = threads
    }
}

/// Everything `verify` found; BertCheckRendering renders it as a table, JSON or JUnit XML.
public struct VerifyReport {
    public var goldenPath: String
    public var golden: GoldenFile
    /// "model PATH" or "outputs PATH".
    public var candidate: String
    public var weightDType: DType?
    public var profile: ToleranceProfile
    public var checks: [CheckResult]
    /// The output where the error starts (`StackErrorGrowth.divergence`): the hidden state whose
    /// error jumps, or the first failing output after a passing stack; nil when all pass and for
    /// precision drift.
    public var firstDivergence: String?
    public var notes: [String]
    /// The hidden states fail with steadily growing error and no single layer jumps.
    public var precisionDrift = false
    /// How the error grows through the hidden states; nil when the golden has fewer than three.
    public var errorGrowth: StackErrorGrowth?
    /// The tolerance of an output without a `--tolerance` override, and the cosine floor.
    public var toleranceInForce: Tolerance?
    public var requiredMinCosine: Double?
    /// `--tolerance NAME=…` overrides.
    public var toleranceOverrides: [String: Tolerance] = [:]
    /// Token texts of every row (`tokens[row][position]`) when the vocabulary is known.
    public var tokens: [[String]]?

    public var status: CheckStatus { checks.contains { $0.status == .fail } ? .fail : .pass }

    public var divergence: Divergence {
        if let firstDivergence { return .output(firstDivergence) }
        return precisionDrift ? .precisionDrift : .none
    }

    /// The hidden-state checks, in layer order: how error grows through the stack.
    public var layerChecks: [CheckResult] {
        checks.filter { OutputRegistry.index(of: $0.name, in: OutputRegistry.hiddenStates) != nil }
    }

    /// Every output check in stack order: the hidden states, then what follows them (the last
    /// hidden state, the pooler, task heads).
    public var stackChecks: [CheckResult] {
        checks.compactMap { check in OutputRegistry.stackOrder(of: check.name).map { (check, $0) } }
            .sorted { $0.1 < $1.1 }.map(\.0)
    }
}

/// Runs every check of `verify`. Throws `FileError` for unusable input (exit 2); a failing check
/// is a report with status `.fail` (exit 1). `progress` hears of the forward pass's steps, then
/// of the outputs compared.
public func verifyGolden(_ options: VerifyOptions, progress: ProgressObserver? = nil) throws -> VerifyReport {
    let golden = try GoldenFile.read(options.goldenPath)
    if let outputsPath = options.outputsPath {
        return try verifyOutputsFile(outputsPath, golden: golden, options: options, progress: progress)
    } else if let modelPath = options.modelPath {
        let checkpoint = try loadCheckpoint(modelPath)
        let model = try BertModel(checkpoint: checkpoint, threads: options.threads)
        try checkFits(golden, model.config, modelPath: modelPath)
        var notes: [String] = []
        var tokenizer: BertTokenizer?
        if let loaded = try checkpointTokenizer(checkpoint) {
            tokenizer = loaded
        } else {
            notes.append("no vocab.txt or tokenizer.json beside the model: the tokenizer check (input_ids) and token texts are skipped")
        }
        if let dropped = checkpoint.notCarried, dropped.dropsPooler, !model.hasPooler, golden.outputs.poolerOutput != nil {
            notes.append("the \(dropped.carrier) carries no pooler (\(dropped.reason)): the pooler checks are skipped")
        }
        // The quantized types decide (the coarsest of them), not only the dtype holding most bytes.
        let (weightProfile, profileNote) = ToleranceProfile.forWeights(checkpoint.tensors, dequantized: checkpoint.dequantized)
        if options.tolerances.profile == nil, let profileNote { notes.append(profileNote) }
        var report = try verifyGolden(golden, model: model, tokenizer: tokenizer,
                                      label: "model \(modelPath) (\(model.weightDType.rawValue) weights)",
                                      tolerances: options.tolerances, includePadding: options.includePadding,
                                      weightProfile: weightProfile, progress: progress)
        report.goldenPath = options.goldenPath
        report.notes.insert(contentsOf: notes, at: 0)
        return report
    } else {
        throw ComparisonRequestProblem.noCandidate
    }
}

/// `verify --outputs`: the file's outputs against the golden's; with a model, its vocabulary
/// gives token texts and its pooler weights check `pooler_invariant` on the runtime's own
/// pooler output; with a vocabulary alone, token texts.
func verifyOutputsFile(_ outputsPath: String, golden: GoldenFile, options: VerifyOptions,
                       progress: ProgressObserver? = nil) throws -> VerifyReport {
    let file = try readOutputsFile(outputsPath, for: golden, names: options.outputNames)
    var candidate = Candidate(outputs: file.outputs, label: "outputs \(outputsPath)", fromFile: true)
    candidate.inferredProfile = ToleranceProfile.forOutputs(
        storedDTypes: file.outputs.storedDTypes.map { ($0.value, file.outputs[$0.key]?.values.count ?? 0) })
    candidate.runtimeInputIds = file.inputIds
    candidate.checksTokenizer = false
    if !file.unrecognised.isEmpty {
        candidate.notes.append("not compared: the outputs file's \(heldList(file.unrecognised)) (no golden name; give one with --map GOLDEN_NAME=THEIR_NAME)")
    }
    if !file.renamed.isEmpty { candidate.notes.append("read " + file.renamed.joined(separator: ", ")) }
    if let modelPath = options.modelPath {
        let checkpoint = try loadCheckpoint(modelPath)
        let model = try BertModel(checkpoint: checkpoint, threads: options.threads)
        try checkFits(golden, model.config, modelPath: modelPath)
        candidate.tokenizer = try checkpointTokenizer(checkpoint)
        candidate.labelNames = model.config.id2label
        candidate.architecture = model.taskHead?.rawValue
        candidate.label += " (token texts and pooler weights from \(modelPath))"
        if model.hasPooler {
            candidate.pool = { rows, count in model.pool(rows, rows: count) }
        } else if golden.outputs.poolerOutput != nil {
            candidate.notes.append("the model \(modelPath) has no pooler weights: pooler_invariant is not checked")
        }
    } else if let vocabPath = options.vocabPath {
        candidate.tokenizer = try BertTokenizer.load(vocabPath)
        candidate.label += " (token texts from \(vocabPath))"
    }
    if candidate.pool == nil && options.modelPath == nil && golden.outputs.poolerOutput != nil && file.outputs.poolerOutput != nil {
        candidate.notes.append("pooler_invariant needs the model's pooler weights: give --model MODEL beside --outputs to check it")
    }
    var report = compare(golden, candidate, tolerances: options.tolerances, includePadding: options.includePadding, progress: progress)
    report.goldenPath = options.goldenPath
    return report
}

/// Verifies outputs held in memory against a golden: a Swift package gating its own model (or
/// its own runtime) in its own tests, without files. Never throws: shapes that do not fit fail
/// their checks.
public func verifyGolden(_ golden: GoldenFile, outputs: ModelOutputs, label: String = "outputs in memory",
                         tolerances: ToleranceSettings = ToleranceSettings(), includePadding: Bool = false) -> VerifyReport {
    compare(golden, Candidate(outputs: outputs, label: label, fromFile: false), tolerances: tolerances, includePadding: includePadding)
}

/// Runs the golden's recorded inputs through a loaded model and verifies its outputs; with the
/// model's tokenizer, the golden's texts must tokenize to its ids. Throws `InputProblem` when the
/// golden's inputs do not fit the model. `weightProfile` is the profile the model's checkpoint
/// calls for (`ToleranceProfile.forWeights(checkpoint.tensors, dequantized:)`); nil: the one of
/// the dtype holding most of its weights.
public func verifyGolden(_ golden: GoldenFile, model: BertModel, tokenizer: BertTokenizer? = nil, label: String = "model in memory",
                         tolerances: ToleranceSettings = ToleranceSettings(), includePadding: Bool = false,
                         weightProfile: ToleranceProfile? = nil, progress: ProgressObserver? = nil) throws -> VerifyReport {
    // Padded positions are computed only when they are compared.
    let output = try model.forward(golden.inputBatch, outputHiddenStates: !golden.outputs.hiddenStates.isEmpty,
                                   computePadding: includePadding, progress: progress)
    var candidate = Candidate(outputs: ModelOutputs(output), label: label, fromFile: false)
    candidate.weightDType = model.weightDType
    candidate.inferredProfile = weightProfile
    candidate.tokenizer = tokenizer
    candidate.maxPositions = tokenizer.map { model.inputLength(tokenizer: $0) }
    candidate.produces = { spec in spec.produce(output) != nil }
    candidate.labelNames = model.config.id2label
    candidate.architecture = model.taskHead?.rawValue
    candidate.lowercasesTexts = model.sentencePipeline?.doLowerCase == true
    if model.hasPooler {
        candidate.pool = { rows, count in model.pool(rows, rows: count) }
    } else if golden.outputs.poolerOutput != nil {
        candidate.notes.append("the model has no pooler weights: pooler_invariant is not checked")
    }
    return compare(golden, candidate, tolerances: tolerances, includePadding: includePadding, progress: progress)
}

/// What a candidate brings to the comparison besides its outputs.
struct Candidate {
    var outputs: ModelOutputs
    /// "model PATH (F32 weights)", "outputs PATH", …
    var label: String
    /// Outputs read from a file (another runtime's): missing hidden states are noted, not failed.
    var fromFile: Bool
    var weightDType: DType?
    /// The profile the candidate calls for (`ToleranceProfile.forWeights`, `forOutputs`); nil:
    /// the one of `weightDType`.
    var inferredProfile: ToleranceProfile?
    /// The model's pooler, for the pooler invariant.
    var pool: (([Float], Int) -> [Float]?)?
    var tokenizer: BertTokenizer?
    var maxPositions: Int?
    /// Whether the model computes an output at all (nil when unknown, as for an outputs file).
    var produces: ((OutputSpec) -> Bool)?
    /// config.json `id2label` and `architectures` of the model, for the head checks.
    var labelNames: [String]?
    var architecture: String?
    /// A sentence-transformers folder with do_lower_case: texts are lowercased before tokenizing.
    var lowercasesTexts = false
    /// Whether the tokenizer is the candidate's own (checked against the golden's ids), or only
    /// gives token texts (an outputs file's runtime tokenized elsewhere).
    var checksTokenizer = true
    /// The ids an outputs file says the runtime ran, real tokens per row.
    var runtimeInputIds: [[Int64]]?
    var notes: [String] = []

    init(outputs: ModelOutputs, label: String, fromFile: Bool) {
        self.outputs = outputs
        self.label = label
        self.fromFile = fromFile
    }
}

/// Every check of `verify` on a golden and a candidate in memory.
func compare(_ golden: GoldenFile, _ candidate: Candidate, tolerances: ToleranceSettings, includePadding: Bool,
             progress: ProgressObserver? = nil) -> VerifyReport {
    var checks: [CheckResult] = []
    var notes = candidate.notes
    let weightDType = candidate.weightDType
    let inferred = candidate.inferredProfile ?? ToleranceProfile.forWeights(weightDType)
    let profile = tolerances.effectiveProfile(inferred: inferred)
    func tolerance(_ name: String) -> Tolerance {
        tolerances.tolerance(for: name, inferred: inferred, golden: golden.metadata)
    }
    let tokenCosine = tolerances.minTokenCosine(inferred: inferred)
    let tokenText: ((Int, Int) -> String?)? = candidate.tokenizer.map { tokenizer in
        { row, position in
            let index = row * golden.seq + position
            return index < golden.inputIds.count ? tokenizer.token(for: Int(golden.inputIds[index])) : nil
        }
    }
    let layout = TokenLayout(batch: golden.batch, seq: golden.seq, mask: includePadding ? nil : golden.attentionMask,
                             tokenText: tokenText)

    if let runtimeIds = candidate.runtimeInputIds {
        checks.append(runtimeIdsCheck(golden: golden, runtimeIds: runtimeIds, token: candidate.tokenizer.map { t in { t.token(for: $0) } }))
    }
    if candidate.checksTokenizer, let tokenizer = candidate.tokenizer, let goldenTexts = golden.metadata.texts {
        // sentence_bert_config.json do_lower_case: sentence-transformers lowercases before tokenizing.
        let texts = candidate.lowercasesTexts
            ? goldenTexts.map { TextItem($0.text.lowercased(), pair: $0.pair?.lowercased()) } : goldenTexts
        checks.append(tokenizerCheck(golden, texts: texts, tokenizer: tokenizer, maxLength: candidate.maxPositions))
    }
    // Every output the golden holds, in stack order, against the candidate's.
    var absentFromFile: [String] = []
    let outputNames = golden.outputs.namesInStackOrder
    progress?.update("comparing outputs", unit: "tensors", 0, of: outputNames.count)
    for (index, name) in outputNames.enumerated() {
        defer { progress?.update("comparing outputs", unit: "tensors", index + 1, of: outputNames.count) }
        guard let expected = golden.outputs[name], let (spec, _) = OutputRegistry.lookup(name) else { continue }
        let actual = candidate.outputs[name]
        if actual == nil, let produces = candidate.produces, !produces(spec) {
            checks.append(CheckResult(name: name, status: .notProduced, message: "not produced: \(spec.notProducedReason)"))
            continue
        }
        if actual == nil && spec.indexed && candidate.fromFile {
            absentFromFile.append(name)
            continue
        }
        // llama.cpp (its GGUF drops the pooler) and feature-extraction exports give no pooler
        // output: reported as not produced, as for a model without pooler weights.
        if actual == nil && candidate.fromFile && spec.name == OutputRegistry.poolerOutput.name {
            checks.append(CheckResult(name: name, status: .notProduced,
                                      message: "not produced: the outputs file has no pooler_output (llama.cpp and feature-extraction exports give none)"))
            continue
        }
        let rowCosine = spec.checks.contains(.rowCosine) ? tolerances.minRowCosine(inferred: inferred) : nil
        checks.append(compareTensor(name: name, expected: shapedForComparison(expected, spec), actual: actual.map { shapedForComparison($0, spec) },
                                    layout: layout, perToken: spec.rank.isPerToken(expected.shape), tolerance: tolerance(name),
                                    minCosine: spec.checks.contains(.cosine) ? tokenCosine : rowCosine))
        // The quantized profiles also gate what an embedding model hands out: each row's mean.
        if profile.isQuantized && name == OutputRegistry.lastHiddenState.name,
           let pooled = MeanPooled.check(expected: expected, actual: actual,
                                         layout: TokenLayout(batch: golden.batch, seq: golden.seq, mask: golden.attentionMask),
                                         tolerance: tolerance(name), minRowCosine: tolerances.minRowCosine(inferred: inferred)) {
            checks.append(pooled)
        }
        if let actual {
            checks += headChecks(spec, expected: expected, actual: actual, golden: golden, candidate: candidate,
                                 context: HeadCheckContext(golden: golden, layout: layout, tolerance: tolerance,
                                                           labelNames: candidate.labelNames,
                                                           maskTokenId: golden.metadata.maskTokenId
                                                               ?? candidate.tokenizer?.id(for: "[MASK]").map(Int64.init),
                                                           tokenForId: candidate.tokenizer.map { t in { t.token(for: $0) } }))
        }
    }
    if !absentFromFile.isEmpty {
        notes.append("\(absentFromFile.joined(separator: ", ")) \(absentFromFile.count == 1 ? "is" : "are") not in the outputs file: not compared")
    }
    for name in candidate.outputs.namesInStackOrder where golden.outputs[name] == nil {
        notes.append("the golden has no \(name): the candidate's is not compared")
    }
    if let pool = candidate.pool,
       let invariant = poolerInvariant(golden: golden.outputs, candidate: candidate.outputs, batch: golden.batch, seq: golden.seq,
                                       hidden: golden.hidden, pool: pool, tolerance: tolerance(OutputRegistry.poolerInvariantCheck)) {
        checks.append(invariant)
    }

    if let note = pairRowsNote(checks, golden: golden) { notes.append(note) }
    var report = VerifyReport(goldenPath: golden.path, golden: golden, candidate: candidate.label, weightDType: weightDType,
                              profile: profile, checks: checks, firstDivergence: nil, notes: notes)
    report.errorGrowth = StackErrorGrowth.measure(report.layerChecks)
    switch StackErrorGrowth.divergence(outputChecks: report.stackChecks, growth: report.errorGrowth) {
    case .none: break
    case .output(let name): report.firstDivergence = name
    case .precisionDrift: report.precisionDrift = true
    }
    report.toleranceInForce = tolerances.tolerance(for: "", inferred: inferred, golden: golden.metadata)
    report.requiredMinCosine = tokenCosine
    if profile.isQuantized, let force = report.toleranceInForce {
        report.notes.append("profile \(profile.rawValue) is cosine first: per-token cosine ≥ \(tokenCosine.map(formatNumber) ?? "-"), "
            + "mean-pooled row cosine ≥ \(formatNumber(tolerances.minRowCosine(inferred: inferred))) (check \(MeanPooled.checkName)), "
            + "and only a loose elementwise bound (atol \(formatNumber(force.atol)), rtol \(formatNumber(force.rtol)))")
    }
    report.toleranceOverrides = tolerances.perTensor
    if let tokenText {
        report.tokens = (0..<golden.batch).map { row in (0..<golden.seq).map { tokenText(row, $0) ?? "?" } }
    }
    return report
}

/// When the failing rows are exactly text pairs (rows with a real token of token_type_ids 1)
/// while single texts pass, the runtime likely ignores token_type_ids (llama.cpp's BERT graph adds
/// type-0 embeddings to every token).
func pairRowsNote(_ checks: [CheckResult], golden: GoldenFile) -> String? {
    let pairRows = Set((0..<golden.batch).filter { row in
        (0..<golden.seq).contains { p in
            let i = row * golden.seq + p
            return golden.attentionMask[i] == 1 && golden.tokenTypeIds[i] == 1
        }
    })
    guard pairRows.count < golden.batch else { return nil }
    let failing = Set(checks.flatMap { $0.rows.filter { $0.status == .fail }.map(\.row) })
    guard !failing.isEmpty, failing.isSubset(of: pairRows) else { return nil }
    let rows = failing.sorted().map(String.init).joined(separator: ", ")
    return "only the text-pair rows fail (row\(failing.count == 1 ? "" : "s") \(rows), the rows with token_type_ids 1) while single texts pass: the runtime may ignore token types (llama.cpp's BERT graph does)"
}

/// [batch, seq] outputs are compared as [batch, seq, 1], so padded tokens are skipped as for
/// other per-token outputs.
func shapedForComparison(_ array: FloatArray, _ spec: OutputSpec) -> FloatArray {
    spec.rank == .perTokenScalar && array.shape.count == 2 ? FloatArray(shape: array.shape + [1], values: array.values, doubles: array.doubles) : array
}

/// The head checks of one output (HeadChecks.swift): `labels` for classification outputs,
/// `top_k` for a masked LM's, `best_span` for QA.
func headChecks(_ spec: OutputSpec, expected: FloatArray, actual: FloatArray, golden: GoldenFile, candidate: Candidate,
                context: HeadCheckContext) -> [CheckResult] {
    let architecture = golden.metadata.architecture ?? candidate.architecture
    let maskedLM = architecture == TaskHead.maskedLM.rawValue || spec.name == OutputRegistry.predictionLogits.name
    var results: [CheckResult?] = []
    if spec.checks.contains(.topK) && maskedLM && expected.shape.count == 3 {
        results.append(topKCheck(tensor: spec.name, expected: expected, actual: actual, context: context))
    } else if spec.checks.contains(.labels) {
        let name = spec.name == OutputRegistry.logits.name ? "labels" : "\(spec.name).labels"
        // Next-sentence logits are not the config's labels.
        var context = context
        if spec.name != OutputRegistry.logits.name || architecture == TaskHead.nextSentencePrediction.rawValue {
            context.labelNames = ["is next", "not next"]
        }
        results.append(labelsCheck(name: name, tensor: spec.name, expected: expected, actual: actual, context: context))
    }
    if spec.checks.contains(.bestSpan) {
        results.append(bestSpanCheck(golden: golden.outputs, candidate: candidate.outputs, context: context))
    }
    return results.compactMap { $0 }
}

/// A golden that cannot be run through this model is unusable input (exit 2), named by the golden.
func checkFits(_ golden: GoldenFile, _ config: BertConfig, modelPath: String) throws {
    func problem(_ p: GoldenProblem) -> FileError { FileError(golden.path, p) }
    guard golden.hidden == config.hiddenSize else {
        throw problem(.hiddenSizeMismatch(golden: golden.hidden, model: config.hiddenSize, modelPath: modelPath))
    }
    let states = golden.outputs.hiddenStates.count
    if states > 0 && states != config.numHiddenLayers + 1 {
        throw problem(.layerCountMismatch(hiddenStates: states, layers: config.numHiddenLayers, modelPath: modelPath))
    }
    guard golden.seq <= config.maxPositionEmbeddings else {
        throw problem(.sequenceTooLong(seq: golden.seq, maxPositions: config.maxPositionEmbeddings, modelPath: modelPath))
    }
    switch config.firstTokenOutOfRange(ids: golden.inputIds, types: golden.tokenTypeIds, seq: golden.seq) {
    case .id(let row, let position, let id)?:
        throw problem(.idOutOfRange(row: row, position: position, id: id, vocabSize: config.vocabSize, modelPath: modelPath))
    case .type(let row, let position, let type)?:
        throw problem(.tokenTypeOutOfRange(row: row, position: position, type: type, typeVocabSize: config.typeVocabSize,
                                           modelPath: modelPath))
    case nil:
        break
    }
}

/// The checkpoint's own tokenizer (a GGUF's), else the one beside it (vocab.txt or tokenizer.json).
func checkpointTokenizer(_ checkpoint: Checkpoint) throws -> BertTokenizer? {
    if case .embedded(let vocabulary)? = checkpoint.tokenizer { return try BertTokenizer(embedded: vocabulary) }
    return try tokenizerDirectory(near: checkpoint).map { try BertTokenizer.load($0) }
}

/// Does the tokenizer turn the golden's texts into the golden's ids and token types?
func tokenizerCheck(_ golden: GoldenFile, texts: [TextItem], tokenizer: BertTokenizer, maxLength: Int?) -> CheckResult {
    var result = CheckResult(name: "input_ids", status: .pass)
    var firstMismatch: WorstElement?
    var firstMessage: String?
    for (row, item) in texts.enumerated() where row < golden.batch {
        let encoding = tokenizer.encode(item.text, pair: item.pair, maxLength: maxLength)
        let rowStart = row * golden.seq
        let realPositions = (0..<golden.seq).filter { golden.attentionMask[rowStart + $0] == 1 }
        let count = max(realPositions.count, encoding.inputIds.count)
        var rowResult = RowResult(row: row, compared: count)
        defer {
            rowResult.status = rowResult.mismatched > 0 ? .fail : .pass
            result.rows.append(rowResult)
        }
        for i in 0..<count {
            result.compared += 1
            let expectedId: Int64? = i < realPositions.count ? golden.inputIds[rowStart + realPositions[i]] : nil
            let expectedType: Int64? = i < realPositions.count ? golden.tokenTypeIds[rowStart + realPositions[i]] : nil
            let actualId = i < encoding.inputIds.count ? Int64(encoding.inputIds[i]) : nil
            let actualType = i < encoding.tokenTypeIds.count ? Int64(encoding.tokenTypeIds[i]) : nil
            guard expectedId != actualId || expectedType != actualType else { continue }
            result.mismatched += 1
            rowResult.mismatched += 1
            if firstMismatch == nil {
                let expectedText = expectedId.flatMap { tokenizer.token(for: Int($0)) }
                let actualText = actualId.flatMap { tokenizer.token(for: Int($0)) }
                firstMismatch = WorstElement(subject: nil, row: row, position: i, token: expectedText, hiddenIndex: nil,
                                             actual: Double(actualId ?? -1), expected: Double(expectedId ?? -1))
                func describe(_ text: String?, _ id: Int64?, _ type: Int64?) -> String {
                    guard let id else { return "nothing" }
                    return "'\(text ?? "?")' (id \(id), type \(type ?? 0))"
                }
                // Both token lists of the row, so a vocabulary that lost something (a GGUF's accents)
                // shows where.
                func list(_ ids: [Int64]) -> String {
                    let shown = ids.prefix(48).map { "'\(tokenizer.token(for: Int($0)) ?? "?")'" }
                    return "[" + shown.joined(separator: ", ") + (ids.count > 48 ? ", …" : "") + "]"
                }
                let goldenIds = realPositions.map { golden.inputIds[rowStart + $0] }
                firstMessage = "row \(row), token \(i): the tokenizer gives \(describe(actualText, actualId, actualType)), the golden has \(describe(expectedText, expectedId, expectedType)); "
                    + "text \(StrictJSON.quote(item.text))\(item.pair.map { " with pair " + StrictJSON.quote($0) } ?? ""): "
                    + "the tokenizer gives \(list(encoding.inputIds.map(Int64.init))), the golden has \(list(goldenIds))"
            }
        }
    }
    result.worst = firstMismatch
    if result.mismatched > 0 {
        result.status = .fail
        result.message = "\(result.mismatched) of \(result.compared) tokens differ from the golden's input_ids/token_type_ids; first at " + (firstMessage ?? "?")
    } else {
        result.message = "the tokenizer reproduces the golden's input_ids and token_type_ids from its texts"
    }
    return result
}
