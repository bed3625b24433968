import Foundation

/// One tensor present in both checkpoints.
public struct TensorDiff: Sendable {
    public var name: String
    public var dtypeA: DType
    public var dtypeB: DType
    public var shapeA: [Int]
    public var shapeB: [Int]
    public var maxAbsErr: Double?
    public var maxRelErr: Double?
    public var cosine: Double?
    public var mismatched: Int
    public var nonFinite: Int
    public var status: CheckStatus
    /// B is A's matrix transposed, with equal values (an export that forgot to un-transpose).
    public var transposedEqual = false
    /// For a GGML block-quantized side: the bound that decides (instead of elementwise
    /// tolerance), and the tensor's relative error and gain it is held to.
    public var quantizationBound: BlockQuantizationBound?
    public var relativeError: Double?
    public var gain: Double?

    public var shapeDiffers: Bool { shapeA != shapeB }
    public var dtypeDiffers: Bool { dtypeA != dtypeB }
}

/// `bertcheck diff A B`: what B (e.g. a converted checkpoint) lacks, adds or changes relative to A.
public struct CheckpointDiffReport: Sendable {
    public var pathA: String
    public var pathB: String
    /// In A, not in B.
    public var missing: [String]
    /// In B, not in A.
    public var extra: [String]
    public var tensors: [TensorDiff]
    /// In one checkpoint only because the other's format drops it by design (a GGUF carries no
    /// pooler): listed, not a failure.
    public var notCarried: [String] = []
    /// The format that drops `notCarried` ("gguf"), which declares it (`NotCarriedByDesign`).
    public var notCarriedBy: String?
    public var profile: ToleranceProfile
    public var tolerance: Tolerance
    /// Registered buffers (`embeddings.position_ids`, …) present on one side only: reported,
    /// never a failure (transformers 5 no longer saves them; they are not parameters).
    public var buffersOnlyInA: [String] = []
    public var buffersOnlyInB: [String] = []
    /// Parameters a checkpoint stores twice under names that map to one (legacy `bert.…gamma`
    /// and modern `…weight`): a failure, as `params` reports it.
    public var storedTwice: [(checkpoint: String, name: String, storedNames: [String])] = []

    public var status: CheckStatus {
        missing.isEmpty && extra.isEmpty && storedTwice.isEmpty && tensors.allSatisfy({ $0.status == .pass }) ? .pass : .fail
    }
}

/// Names are compared canonically (a `bert.` prefix and `LayerNorm.gamma/beta` do not make a
/// difference); values elementwise with `|b − a| ≤ atol + rtol·|a|`. The default profile is the one
/// of the less precise of the two checkpoints' dominant float dtypes.
/// `progress` hears of each tensor of A as it is compared.
public func diffCheckpoints(_ pathA: String, _ pathB: String, settings: ToleranceSettings,
                            progress: ProgressObserver? = nil) throws -> CheckpointDiffReport {
    let a = try loadCheckpoint(pathA), b = try loadCheckpoint(pathB)
    func canonical(_ t: Tensor) -> String {
        if let head = HeadParameterName(storedName: t.name) { return head.description }
        switch parameterRole(ofStoredName: t.name) {
        case .parameter(let n), .buffer(let n): return n
        case .ignored(let n): return n
        }
    }
    func isBuffer(_ t: Tensor) -> Bool {
        if case .buffer = parameterRole(ofStoredName: t.name) { return true }
        return false
    }
    let namedB = Dictionary(b.tensors.map { (canonical($0), $0) }, uniquingKeysWith: { first, _ in first })
    let namesA = Set(a.tensors.map(canonical))
    // A tolerance for a name in neither checkpoint (a typo, or a stored `bert.` name) would be
    // silently ignored and the gate would run with tolerances the user did not ask for.
    for name in settings.perTensor.keys.sorted() where !namesA.contains(name) && namedB[name] == nil {
        throw ComparisonRequestProblem.toleranceForUnknownTensor(name, checkpoints: [pathA, pathB])
    }
    // The coarser checkpoint's profile (a Q4_K_M GGUF: q4, from its coarsest quantized type).
    let profile = settings.profile ?? [a, b].map { ToleranceProfile.forWeights($0.tensors, dequantized: $0.dequantized).profile }
        .max { $0.looseness < $1.looseness } ?? .fp32
    var tolerance = profile.weightTolerance
    if let atol = settings.atol { tolerance.atol = atol }
    if let rtol = settings.rtol { tolerance.rtol = rtol }

    var report = CheckpointDiffReport(pathA: pathA, pathB: pathB, missing: [], extra: [], tensors: [], profile: profile, tolerance: tolerance)
    for (path, checkpoint) in [(pathA, a), (pathB, b)] {
        let byName = Dictionary(grouping: checkpoint.tensors.filter { !isBuffer($0) }, by: canonical)
        for (name, stored) in byName.sorted(by: { $0.key < $1.key }) where stored.count > 1 {
            report.storedTwice.append((path, name, stored.map(\.name)))
        }
    }
    // What a format leaves out by design (a GGUF the pooler), as the format declares it.
    let dropping = [a, b].first { $0.notCarried != nil }
    func droppedByDesign(_ name: String) -> Bool { dropping?.notCarried?.covers(name) == true }
    report.notCarriedBy = dropping?.format.rawValue
    var seen = Set<String>()
    progress?.update("comparing tensors", unit: "tensors", 0, of: a.tensors.count)
    for (index, ta) in a.tensors.enumerated() {
        defer { progress?.update("comparing tensors", unit: "tensors", index + 1, of: a.tensors.count) }
        let name = canonical(ta)
        guard seen.insert(name).inserted else { continue }
        guard let tb = namedB[name] else {
            if isBuffer(ta) { report.buffersOnlyInA.append(name) }
            else if droppedByDesign(name) { report.notCarried.append(name) } else { report.missing.append(name) }
            continue
        }
        var perTensor = settings.perTensor[name] ?? tolerance
        // A dequantized weight is as close as its quantization step allows (half of it, rounded).
        if profile.isQuantized, settings.perTensor[name] == nil, settings.atol == nil,
           let step = (b.dequantized[tb.name] ?? a.dequantized[ta.name])?.largestStep {
            perTensor.atol = max(perTensor.atol, step / 2 * 1.0001 + 1e-6)
        }
        let explicit = settings.perTensor[name] != nil || settings.atol != nil || settings.rtol != nil
        // Each tensor's own storage sets its bound: an F16 tensor inside a Q8_0 GGUF gets fp16's.
        if !explicit, settings.profile == nil {
            let own = [ta.dtype, tb.dtype].map { ToleranceProfile.forWeights($0).weightTolerance }
            perTensor.atol = ([perTensor.atol] + own.map(\.atol)).max() ?? perTensor.atol
            perTensor.rtol = ([perTensor.rtol] + own.map(\.rtol)).max() ?? perTensor.rtol
        }
        report.tensors.append(compareWeights(name: name, ta, tb, tolerance: perTensor, minCosine: settings.minCosine,
                                             blockQuantized: !explicit))
    }
    var seenB = Set<String>()
    for tb in b.tensors {
        let name = canonical(tb)
        guard !namesA.contains(name) && seenB.insert(name).inserted else { continue }
        if isBuffer(tb) { report.buffersOnlyInB.append(name) }
        else if droppedByDesign(name) { report.notCarried.append(name) } else { report.extra.append(name) }
    }
    return report
}


/// `blockQuantized`: a GGML block-quantized side is held to its type's `BlockQuantizationBound`
/// instead of `tolerance` (false when the user set an elementwise tolerance).
func compareWeights(name: String, _ ta: Tensor, _ tb: Tensor, tolerance: Tolerance, minCosine: Double?,
                    blockQuantized: Bool = true) -> TensorDiff {
    var diff = TensorDiff(name: name, dtypeA: ta.dtype, dtypeB: tb.dtype, shapeA: ta.shape, shapeB: tb.shape,
                          maxAbsErr: nil, maxRelErr: nil, cosine: nil, mismatched: 0, nonFinite: 0, status: .pass)
    guard ta.shape == tb.shape else {
        diff.status = .fail
        diff.transposedEqual = isTransposeOf(ta, tb, tolerance: tolerance)
        return diff
    }
    var maxAbs = 0.0, maxRel = 0.0
    var cosine = CosineAccumulator()
    let blockBound = blockQuantized ? BlockQuantizationBound.forPair(ta.dtype, tb.dtype) : nil
    var quantization = QuantizationErrorAccumulator()
    ta.withFloats { fa in
        tb.withFloats { fb in
            for i in 0..<min(fa.count, fb.count) {
                let x = Double(fa[i]), y = Double(fb[i])
                guard x.isFinite, y.isFinite else {
                    if !(x.isNaN && y.isNaN) && x != y { diff.nonFinite += 1; diff.mismatched += 1 }
                    continue
                }
                let d = abs(y - x)
                if blockBound != nil {
                    quantization.add(x, y)
                } else if d > tolerance.atol + tolerance.rtol * abs(x) {
                    diff.mismatched += 1
                }
                maxAbs = max(maxAbs, d)
                if x != 0 { maxRel = max(maxRel, d / abs(x)) }
                cosine.add(x, y)
            }
        }
    }
    diff.maxAbsErr = maxAbs
    diff.maxRelErr = maxRel
    diff.cosine = cosine.cosine
    if let blockBound {
        diff.quantizationBound = blockBound
        diff.relativeError = quantization.relativeError
        diff.gain = quantization.gain
        if !(quantization.relativeError <= blockBound.relativeError && abs(quantization.gain) <= blockBound.gain) { diff.status = .fail }
    }
    if diff.mismatched > 0 { diff.status = .fail }
    if let minCosine, let cosine = diff.cosine, cosine < minCosine { diff.status = .fail }
    return diff
}
/// Whether 2-D `tb` equals `ta` transposed, within `tolerance`.
func isTransposeOf(_ ta: Tensor, _ tb: Tensor, tolerance: Tolerance) -> Bool {
    guard ta.shape.count == 2, tb.shape == [ta.shape[1], ta.shape[0]] else { return false }
    let (rows, columns) = (ta.shape[0], ta.shape[1])
    return ta.withFloats { fa in
        tb.withFloats { fb in
            for r in 0..<rows {
                for c in 0..<columns {
                    let x = Double(fa[r * columns + c]), y = Double(fb[c * rows + r])
                    if !(abs(y - x) <= tolerance.atol + tolerance.rtol * abs(x)) { return false }
                }
            }
            return true
        }
    }
}

/// Where a parameter sits along the stack, for error by layer: the embeddings first, then each
/// encoder layer, then whatever follows (pooler, heads) under its first name component.
public struct StackPlace: Hashable, Sendable, Comparable {
    public var order: Int
    public var label: String

    public static func < (a: StackPlace, b: StackPlace) -> Bool { (a.order, a.label) < (b.order, b.label) }

    /// `embeddings.…` → embeddings; `encoder.layer.N.…` → layer N; `pooler.dense.weight` → pooler.
    public init(ofParameter name: String) {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        if parts.first == "embeddings" {
            self.init(order: 0, label: "embeddings")
        } else if parts.count > 2, parts[0] == "encoder", parts[1] == "layer", let n = Int(parts[2]), n >= 0, n < 100_000 {
            self.init(order: 1 + n, label: "layer \(n)")
        } else {
            self.init(order: 1_000_000, label: parts.first.map(String.init) ?? name)
        }
    }

    init(order: Int, label: String) {
        self.order = order
        self.label = label
    }
}

extension CheckpointDiffReport {
    /// The common tensors grouped by place along the stack, in stack order.
    public var byPlace: [(place: StackPlace, tensors: [TensorDiff])] {
        Dictionary(grouping: tensors, by: { StackPlace(ofParameter: $0.name) })
            .sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}
