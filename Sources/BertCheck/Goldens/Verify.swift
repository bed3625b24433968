import Foundation

/// What `bertcheck verify` compares: a golden against a model run through bertcheck's forward
/// pass, or against another runtime's outputs file.
public struct VerifyOptions {
    public var goldenPath: String
    public var modelPath: String?
    public var outputsPath: String?
    public var tolerances: ToleranceSettings
    /// Compare padded positions too (they are skipped by default: their values are unspecified).
    public var includePadding: Bool
    public var threads: Int?

    public init(goldenPath: String, modelPath: String? = nil, outputsPath: String? = nil, tolerances: ToleranceSettings = ToleranceSettings(),
                includePadding: Bool = false, threads: Int? = nil) {
        self.goldenPath = goldenPath
        self.modelPath = modelPath
        self.outputsPath = outputsPath
        self.tolerances = tolerances
        self.includePadding = includePadding
        self.threads = threads
    }
}

/// Everything `verify` found; rendered by Report.swift as a table, JSON or JUnit XML.
public struct VerifyReport {
    public var goldenPath: String
    public var golden: GoldenFile
    /// "model PATH" or "outputs PATH".
    public var candidate: String
    public var weightDType: DType?
    public var profile: ToleranceProfile
    public var checks: [CheckResult]
    /// The first output tensor, in stack order (hidden_states.0…L, last_hidden_state,
    /// pooler_output), that fails; nil when all pass.
    public var firstDivergence: String?
    public var notes: [String]

    public var status: CheckStatus { checks.contains { $0.status == .fail } ? .fail : .pass }

    /// The hidden-state checks, in layer order: how error grows through the stack.
    public var layerChecks: [CheckResult] { checks.filter { $0.name.hasPrefix("hidden_states.") } }
}

/// Stack order of the output tensors, for the first divergence.
func divergenceOrder(_ name: String) -> Int? {
    if let n = GoldenFile.hiddenStateIndex(name) { return n }
    if name == "last_hidden_state" { return 1_000_000 }
    if name == "pooler_output" { return 1_000_001 }
    return nil
}

/// Runs every check of `verify`. Throws `FileError` for unusable input (exit 2); a failing check
/// is a report with status `.fail` (exit 1).
public func verifyGolden(_ options: VerifyOptions) throws -> VerifyReport {
    let golden = try GoldenFile.read(options.goldenPath)
    var notes: [String] = []
    var checks: [CheckResult] = []
    let candidate: ModelOutputs
    let candidateLabel: String
    var weightDType: DType?
    var pool: (([Float], Int) -> [Float]?)?
    var tokenizer: BertTokenizer?
    var maxPositions: Int?
    /// The checkpoint's format drops the pooler by design (GGUF): its checks are skipped, not failed.
    var poolerNotCarried = false

    if let modelPath = options.modelPath {
        let checkpoint = try loadCheckpoint(modelPath)
        let model = try BertModel(checkpoint: checkpoint, threads: options.threads)
        try checkFits(golden, model.config, modelPath: modelPath)
        weightDType = model.weightDType
        candidateLabel = "model \(modelPath) (\(model.weightDType.rawValue) weights)"
        if let loaded = try checkpointTokenizer(checkpoint) {
            tokenizer = loaded
            maxPositions = min(loaded.modelMaxLength ?? Int.max, model.config.maxPositionEmbeddings)
        } else {
            notes.append("no vocab.txt beside the model: the tokenizer check (input_ids) and token texts are skipped")
        }
        let output = try model.forward(golden.inputBatch, outputHiddenStates: !golden.outputs.hiddenStates.isEmpty)
        candidate = ModelOutputs(output)
        if model.hasPooler { pool = { rows, count in model.pool(rows, rows: count) } }
        else if golden.outputs.poolerOutput != nil && checkpoint.format == .gguf {
            poolerNotCarried = true
            notes.append("pooler_output and pooler_invariant are skipped: the GGUF carries no pooler (llama.cpp's converter drops pooler.dense)")
        } else if golden.outputs.poolerOutput != nil { notes.append("the model has no pooler weights: pooler_invariant is not checked") }
    } else if let outputsPath = options.outputsPath {
        candidate = try readCandidateOutputs(outputsPath, for: golden)
        candidateLabel = "outputs \(outputsPath)"
    } else {
        throw UsageError("verify needs --model MODEL or --outputs FILE")
    }

    let profile = options.tolerances.effectiveProfile(weightDType: weightDType)
    func tolerance(_ name: String) -> Tolerance {
        options.tolerances.tolerance(for: name, weightDType: weightDType, golden: golden.metadata)
    }
    let tokenText: ((Int, Int) -> String?)? = tokenizer.map { tokenizer in
        { row, position in
            let index = row * golden.seq + position
            return index < golden.inputIds.count ? tokenizer.token(for: Int(golden.inputIds[index])) : nil
        }
    }
    let layout = TokenLayout(batch: golden.batch, seq: golden.seq, mask: options.includePadding ? nil : golden.attentionMask,
                             tokenText: tokenText)

    if let tokenizer, let texts = golden.metadata.texts {
        checks.append(tokenizerCheck(golden, texts: texts, tokenizer: tokenizer, maxLength: maxPositions))
    }
    for (n, expected) in golden.outputs.hiddenStates.enumerated() {
        guard let expected else { continue }
        let name = "hidden_states.\(n)"
        let actual = n < candidate.hiddenStates.count ? candidate.hiddenStates[n] : nil
        if actual == nil && options.outputsPath != nil {
            notes.append("\(name) is not in the outputs file: not compared")
            continue
        }
        checks.append(compareTensor(name: name, expected: expected, actual: actual, layout: layout, perToken: true,
                                    tolerance: tolerance(name), minCosine: options.tolerances.minCosine))
    }
    checks.append(compareTensor(name: "last_hidden_state", expected: golden.outputs.lastHiddenState, actual: candidate.lastHiddenState,
                                layout: layout, perToken: true, tolerance: tolerance("last_hidden_state"),
                                minCosine: options.tolerances.minCosine))
    if let expected = golden.outputs.poolerOutput, !poolerNotCarried {
        checks.append(compareTensor(name: "pooler_output", expected: expected, actual: candidate.poolerOutput, layout: layout,
                                    perToken: false, tolerance: tolerance("pooler_output"), minCosine: options.tolerances.minCosine))
    } else if candidate.poolerOutput != nil {
        notes.append("the golden has no pooler_output: the candidate's is not compared")
    }
    if let pool, let invariant = poolerInvariant(golden: golden.outputs, candidate: candidate, batch: golden.batch, seq: golden.seq,
                                                  hidden: golden.hidden, pool: pool, tolerance: tolerance("pooler_invariant")) {
        checks.append(invariant)
    }
    if options.outputsPath != nil && golden.outputs.poolerOutput != nil {
        notes.append("pooler_invariant needs the model's pooler weights: use --model to check it")
    }

    let firstDivergence = checks
        .filter { $0.status == .fail && divergenceOrder($0.name) != nil }
        .min { (divergenceOrder($0.name) ?? 0) < (divergenceOrder($1.name) ?? 0) }?.name
    return VerifyReport(goldenPath: options.goldenPath, golden: golden, candidate: candidateLabel, weightDType: weightDType,
                        profile: profile, checks: checks, firstDivergence: firstDivergence, notes: notes)
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
    for i in 0..<golden.inputIds.count {
        if golden.inputIds[i] >= Int64(config.vocabSize) {
            throw problem(.idOutOfRange(row: i / golden.seq, position: i % golden.seq, id: golden.inputIds[i],
                                        vocabSize: config.vocabSize, modelPath: modelPath))
        }
        if golden.tokenTypeIds[i] >= Int64(config.typeVocabSize) {
            throw problem(.tokenTypeOutOfRange(row: i / golden.seq, position: i % golden.seq, type: golden.tokenTypeIds[i],
                                               typeVocabSize: config.typeVocabSize, modelPath: modelPath))
        }
    }
}

/// The model's directory (or the named weight file's) when it holds a vocab.txt: the tokenizer
/// loads from there with tokenizer_config.json and config.json, as `from_pretrained` does.
/// The checkpoint's own tokenizer (a GGUF's), else the one beside it when there is a vocab.txt.
func checkpointTokenizer(_ checkpoint: Checkpoint) throws -> BertTokenizer? {
    if case .embedded(let vocabulary)? = checkpoint.tokenizer { return try BertTokenizer(embedded: vocabulary) }
    return try vocabularyDirectory(near: checkpoint).map { try BertTokenizer.load($0) }
}

func vocabularyDirectory(near checkpoint: Checkpoint) -> String? {
    var isDirectory: ObjCBool = false
    let path = checkpoint.path
    let dir = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
        ? path : (path as NSString).deletingLastPathComponent
    let directory = dir.isEmpty ? "." : dir
    return FileManager.default.fileExists(atPath: directory + "/vocab.txt") ? directory : nil
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
        for i in 0..<count {
            result.compared += 1
            let expectedId: Int64? = i < realPositions.count ? golden.inputIds[rowStart + realPositions[i]] : nil
            let expectedType: Int64? = i < realPositions.count ? golden.tokenTypeIds[rowStart + realPositions[i]] : nil
            let actualId = i < encoding.inputIds.count ? Int64(encoding.inputIds[i]) : nil
            let actualType = i < encoding.tokenTypeIds.count ? Int64(encoding.tokenTypeIds[i]) : nil
            guard expectedId != actualId || expectedType != actualType else { continue }
            result.mismatched += 1
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
