/// Another runtime's outputs file (`verify --outputs`), read leniently: the golden's tensor names,
/// or names given with `--map GOLDEN=THEIRS`, or the spellings exporters use for hidden states
/// (`hidden_states_N`, one stacked `hidden_states` [L+1, B, S, H]). Tensors it does not recognise
/// are listed, never silently dropped; the ids the runtime ran are kept for the `input_ids` check.

/// What `verify --outputs` read from an outputs file.
public struct OutputsFile: Sendable {
    public var outputs: ModelOutputs
    /// Tensors that are neither inputs nor outputs, sorted: listed in the report, not compared.
    public var unrecognised: [String]
    /// The ids the runtime ran, real tokens only, one list per row; nil when the file holds no
    /// `input_ids`.
    public var inputIds: [[Int64]]?
    /// How names other than the golden's were read ("hidden_states_3 as hidden_states.3").
    public var renamed: [String]
}

/// What a file tensor is, once `--map` and the hidden-state spellings are applied.
private enum Recognised: Equatable {
    case input(String)
    case output(String)
    /// One tensor holding every hidden state, [L+1, batch, seq, hidden].
    case stackedHiddenStates
}

/// `--map` values and their checks, before any file is read.
public enum OutputNameMapping {
    /// Parses `GOLDEN_NAME=THEIR_NAME`; the golden name must be an input, an output or
    /// `hidden_states` (their tensor then holds every hidden state stacked).
    public static func parse(_ text: String) throws -> (golden: String, theirs: String) {
        let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw ComparisonRequestProblem.malformedNameMapping(text) }
        let golden = parts[0]
        guard GoldenFile.inputNames.contains(golden) || OutputRegistry.lookup(golden) != nil || golden == OutputRegistry.hiddenStates.name else {
            throw ComparisonRequestProblem.unknownGoldenName(golden)
        }
        return (golden, parts[1])
    }

    /// Every `--map` value as golden name → their name; a golden name given twice is refused
    /// (one of the two would be silently lost). One tensor of theirs may serve several golden
    /// names: an ONNX export returns its last hidden state once for `last_hidden_state` and
    /// `hidden_states.L`.
    public static func parse(_ texts: [String]) throws -> [String: String] {
        var mapping: [String: String] = [:]
        for text in texts {
            let (golden, their) = try parse(text)
            guard mapping[golden] == nil else { throw ComparisonRequestProblem.nameMappedTwice(text) }
            mapping[golden] = their
        }
        return mapping
    }
}

/// `hidden_states_N` (as ONNX exporters name outputs) → `hidden_states.N`, with the golden's rules
/// for N.
private func underscoredHiddenState(_ name: String) -> String? {
    let family = OutputRegistry.hiddenStates.name
    guard name.hasPrefix(family + "_") else { return nil }
    let dotted = family + "." + name.dropFirst(family.count + 1)
    return OutputRegistry.index(of: dotted, in: OutputRegistry.hiddenStates) != nil ? dotted : nil
}

/// What a file tensor is read as: the golden names `--map` gives it, else its own name or
/// spelling; empty when it is not recognised (or its name went to another tensor with --map).
private func recognise(_ name: String, names: [String: String]) -> [Recognised] {
    let mapped = names.filter { $0.value == name }.map(\.key).sorted()
    if mapped.isEmpty && names[name] != nil { return [] }
    return (mapped.isEmpty ? [name] : mapped).compactMap { golden in
        if GoldenFile.inputNames.contains(golden) { return .input(golden) }
        if OutputRegistry.lookup(golden) != nil { return .output(golden) }
        if golden == OutputRegistry.hiddenStates.name { return .stackedHiddenStates }
        return underscoredHiddenState(golden).map { .output($0) }
    }
}

/// Reads an outputs file for comparison with `golden`. `names` maps golden names to the file's
/// (`--map`). Throws `FileError(path, …)` for a file that cannot be compared (exit 2).
public func readOutputsFile(_ path: String, for golden: GoldenFile, names: [String: String] = [:]) throws -> OutputsFile {
    var held: [String] = []
    let (tensors, _, _) = try GoldenFile.readNamedTensors(path) { name in
        held.append(name)
        return !recognise(name, names: names).isEmpty
    }
    // safetensors files are read whole: their names did not pass through the filter.
    held = Array(Set(held + tensors.keys)).sorted()
    do {
        for (goldenName, theirs) in names.sorted(by: { $0.key < $1.key }) where !held.contains(theirs) {
            throw GoldenProblem.missingMappedTensor(golden: goldenName, theirs: theirs, held: held)
        }
        var outputs: [String: FloatArray] = [:]
        var storedDTypes: [String: DType] = [:]  // F16 arrays select the fp16 profile
        var inputs: [String: Tensor] = [:]
        var source: [String: String] = [:]  // golden name → the file's
        var renamed: [String] = []
        func take(_ goldenName: String, from theirs: String) throws {
            if let other = source[goldenName] { throw GoldenProblem.sameOutputTwice(name: goldenName, first: other, second: theirs) }
            source[goldenName] = theirs
        }
        func read(_ recognised: Recognised, _ name: String, _ tensor: Tensor) throws {
            switch recognised {
            case .input(let goldenName):
                try take(goldenName, from: name)
                inputs[goldenName] = tensor
            case .output(let goldenName):
                try take(goldenName, from: name)
                outputs[goldenName] = try GoldenFile.floatOutput(tensor)
                storedDTypes[goldenName] = tensor.dtype
                if goldenName != name { renamed.append("\(name) as \(goldenName)") }
            case .stackedHiddenStates:
                let states = try unstackedHiddenStates(tensor, golden: golden)
                for (n, state) in states.enumerated() {
                    let goldenName = OutputRegistry.hiddenStates.tensorName(n)
                    try take(goldenName, from: name)
                    outputs[goldenName] = state
                    storedDTypes[goldenName] = tensor.dtype
                }
                renamed.append("\(name) \(Tensor.describe(shape: tensor.shape)) as hidden_states.0…\(states.count - 1)")
            }
        }
        for name in tensors.keys.sorted() {
            guard let tensor = tensors[name] else { continue }
            for recognised in recognise(name, names: names) { try read(recognised, name, tensor) }
        }
        for spec in OutputRegistry.all where spec.required && outputs[spec.name] == nil {
            // Their tensor of that name may have gone to another golden name with --map.
            let takenBy = names.filter { $0.value == spec.name }.map(\.key).sorted().first
            throw GoldenProblem.missingOutput(name: spec.name, held: held, mappedTo: takenBy)
        }
        let inputIds = try runtimeInputIds(inputs, golden: golden)
        if let ids = inputs["input_ids"], ids.shape.count == 2, ids.shape[1] != golden.seq {
            let realigned = realignToGoldenLength(&outputs, runtimeSeq: ids.shape[1], golden: golden)
            if !realigned.isEmpty {
                renamed.append("\(realigned.joined(separator: ", ")) at the golden's \(golden.seq) positions (the runtime's input_ids have \(ids.shape[1]))")
            }
        }
        try checkSameInputs(inputs, golden: golden, idsDiffer: inputIds.map { $0 != goldenRealIds(golden) } ?? false)
        let unrecognised = held.filter { recognise($0, names: names).isEmpty }
        var compared = ModelOutputs(tensors: outputs)
        compared.storedDTypes = storedDTypes
        return OutputsFile(outputs: compared, unrecognised: unrecognised, inputIds: inputIds, renamed: renamed)
    } catch let problem as GoldenProblem {
        throw FileError(path, problem)
    }
}

/// A stacked [L+1, batch, seq, hidden] tensor as hidden_states.0…L.
private func unstackedHiddenStates(_ tensor: Tensor, golden: GoldenFile) throws -> [FloatArray] {
    // Any length: a runtime that tokenized the texts itself pads to its own (realigned later).
    guard tensor.shape.count == 4, tensor.shape[0] > 0, tensor.shape[1] == golden.batch, tensor.shape[2] > 0, tensor.shape[3] == golden.hidden else {
        throw GoldenProblem.wrongRank(name: tensor.name, shape: tensor.shape,
                                      expected: "[layers+1, \(golden.batch), \(golden.seq), \(golden.hidden)] (every hidden state stacked)")
    }
    let all = try GoldenFile.floatOutput(tensor)
    let shape = Array(tensor.shape.dropFirst())
    let count = shape.reduce(1, *)
    return (0..<tensor.shape[0]).map { n in
        let range = (n * count)..<((n + 1) * count)
        return FloatArray(shape: shape, values: Array(all.values[range]), doubles: all.doubles.map { Array($0[range]) })
    }
}

/// Per-token outputs computed at the runtime's own padded length (it tokenized the texts itself
/// and padded to its longest row): cut or padded with zeros to the golden's length, so the rows
/// whose tokens agree are compared position by position (padding is not compared; a row whose
/// tokens differ fails the input_ids check). Returns the names realigned.
private func realignToGoldenLength(_ outputs: inout [String: FloatArray], runtimeSeq: Int, golden: GoldenFile) -> [String] {
    var realigned: [String] = []
    for (name, array) in outputs {
        guard let (spec, _) = OutputRegistry.lookup(name), array.shape.count >= 2, array.shape[0] == golden.batch,
              array.shape[1] == runtimeSeq, spec.rank.isPerToken(array.shape) else { continue }
        let width = array.shape.dropFirst(2).reduce(1, *)
        let kept = min(runtimeSeq, golden.seq)
        func cut<T: Numeric>(_ values: [T]) -> [T] {
            var out = [T](repeating: 0, count: golden.batch * golden.seq * width)
            for row in 0..<golden.batch {
                let from = row * runtimeSeq * width, to = row * golden.seq * width
                out[to..<(to + kept * width)] = values[from..<(from + kept * width)]
            }
            return out
        }
        outputs[name] = FloatArray(shape: [golden.batch, golden.seq] + array.shape.dropFirst(2), values: cut(array.values),
                                   doubles: array.doubles.map(cut))
        realigned.append(name)
    }
    return realigned.sorted { (OutputRegistry.stackOrder(of: $0) ?? .max, $0) < (OutputRegistry.stackOrder(of: $1) ?? .max, $1) }
}

/// The golden's ids of each row, real tokens only.
func goldenRealIds(_ golden: GoldenFile) -> [[Int64]] {
    (0..<golden.batch).map { row in
        (0..<golden.seq).compactMap { p in
            let i = row * golden.seq + p
            return golden.attentionMask[i] == 1 ? golden.inputIds[i] : nil
        }
    }
}

/// The ids the runtime ran, real tokens only: its `input_ids` may be padded to another length
/// (a runtime that tokenized the texts itself). Real tokens are those of the file's own
/// attention_mask when it fits its ids, else the golden's when the lengths agree, else all but
/// trailing [PAD] (id 0) tokens.
private func runtimeInputIds(_ inputs: [String: Tensor], golden: GoldenFile) throws -> [[Int64]]? {
    guard let ids = inputs["input_ids"] else { return nil }
    guard !ids.dtype.isFloatingPoint, ids.dtype != .BOOL else { throw GoldenProblem.idsNotInteger(name: "input_ids", dtype: ids.dtype) }
    guard ids.shape.count == 2, ids.shape[0] == golden.batch else {
        throw GoldenProblem.wrongRank(name: "input_ids", shape: ids.shape, expected: "[\(golden.batch), seq] (one row per golden row)")
    }
    let seq = ids.shape[1], values = ids.int64s()
    var mask: [Int64]?
    if let own = inputs["attention_mask"], own.shape == ids.shape, !own.dtype.isFloatingPoint { mask = own.int64s() }
    if mask == nil && seq == golden.seq { mask = golden.attentionMask }
    return (0..<golden.batch).map { row in
        let slice = Array(values[(row * seq)..<((row + 1) * seq)])
        if let mask { return slice.indices.compactMap { mask[row * seq + $0] == 1 ? slice[$0] : nil } }
        var real = slice
        while real.last == 0 { real.removeLast() }
        return real
    }
}

/// The file's attention_mask and token_type_ids must be the golden's (outputs of other inputs
/// cannot be compared), unless its ids already differ: that is the failing `input_ids` check.
private func checkSameInputs(_ inputs: [String: Tensor], golden: GoldenFile, idsDiffer: Bool) throws {
    for name in GoldenFile.inputNames {
        guard let t = inputs[name] else { continue }
        guard !t.dtype.isFloatingPoint else { throw GoldenProblem.idsNotInteger(name: name, dtype: t.dtype) }
        if idsDiffer { continue }
        // Padded to its own length like its ids (their real tokens agree): nothing to compare.
        if t.shape != [golden.batch, golden.seq], t.shape == inputs["input_ids"]?.shape { continue }
        guard t.shape == [golden.batch, golden.seq] else {
            throw GoldenProblem.shapeMismatch(name: name, shape: t.shape, expected: [golden.batch, golden.seq])
        }
        let values = t.int64s()
        let goldenValues = name == "input_ids" ? golden.inputIds : name == "attention_mask" ? golden.attentionMask : golden.tokenTypeIds
        for i in 0..<min(goldenValues.count, values.count) where values[i] != goldenValues[i] {
            // Ids that differ only at padded positions are the same inputs.
            if name == "input_ids" && golden.attentionMask[i] == 0 { continue }
            throw GoldenProblem.differentInputs(name: name, row: i / golden.seq, position: i % golden.seq,
                                                golden: goldenValues[i], outputs: values[i])
        }
    }
}

/// The `input_ids` check of an outputs file: the runtime ran the golden's ids, row by row.
/// `token` gives a vocabulary id's text when a vocabulary is known (else ids are listed).
func runtimeIdsCheck(golden: GoldenFile, runtimeIds: [[Int64]], token: ((Int) -> String?)?) -> CheckResult {
    var result = CheckResult(name: "input_ids", status: .pass)
    let expected = goldenRealIds(golden)
    var faults: [String] = []
    for row in 0..<min(golden.batch, runtimeIds.count) {
        let want = expected[row], got = runtimeIds[row]
        let count = max(want.count, got.count)
        let differing = (0..<count).filter { i in i >= want.count || i >= got.count || want[i] != got[i] }.count
        result.compared += count
        result.mismatched += differing
        result.rows.append(RowResult(row: row, status: differing > 0 ? .fail : .pass, mismatched: differing, compared: count))
        guard differing > 0 else { continue }
        func list(_ ids: [Int64]) -> String {
            let shown = ids.prefix(48).map { id in token.map { "'\($0(Int(id)) ?? "?")'" } ?? String(id) }
            return "[" + shown.joined(separator: ", ") + (ids.count > 48 ? ", …" : "") + "]"
        }
        var place = "row \(row)"
        if let texts = golden.metadata.texts, row < texts.count {
            place += " (text \(StrictJSON.quote(texts[row].text))" + (texts[row].pair.map { " with pair " + StrictJSON.quote($0) } ?? "") + ")"
        }
        faults.append("\(place): the runtime ran \(list(got)), the golden has \(list(want))")
    }
    if result.mismatched > 0 {
        result.status = .fail
        let rows = result.rows.filter { $0.status == .fail }.count
        result.message = "the runtime ran other token ids than the golden's in \(rows) of \(result.rows.count) rows: "
            + faults.prefix(3).joined(separator: "; ") + (faults.count > 3 ? "; …" : "")
    } else {
        result.message = "the runtime ran the golden's input_ids"
    }
    return result
}
