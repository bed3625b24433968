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
    /// In one checkpoint only because the other's format drops it by design (a GGUF carries no
    /// pooler and no position_ids buffer): listed, not a failure.
    public var notCarried: [String] = []
    /// The format that drops `notCarried` ("gguf").
    public var notCarriedBy: String?
    public var tensors: [TensorDiff]
    public var profile: ToleranceProfile
    public var tolerance: Tolerance

    public var status: CheckStatus {
        missing.isEmpty && extra.isEmpty && tensors.allSatisfy({ $0.status == .pass }) ? .pass : .fail
    }
}

/// Names are compared canonically (a `bert.` prefix and `LayerNorm.gamma/beta` do not make a
/// difference); values elementwise with `|b − a| ≤ atol + rtol·|a|`. The default profile is the one
/// of the less precise of the two checkpoints' dominant float dtypes.
public func diffCheckpoints(_ pathA: String, _ pathB: String, settings: ToleranceSettings) throws -> CheckpointDiffReport {
    let a = try loadCheckpoint(pathA), b = try loadCheckpoint(pathB)
    func canonical(_ t: Tensor) -> String {
        switch parameterRole(ofStoredName: t.name) {
        case .parameter(let n), .buffer(let n): return n
        case .ignored(let n): return n
        }
    }
    let namedB = Dictionary(b.tensors.map { (canonical($0), $0) }, uniquingKeysWith: { first, _ in first })
    let namesA = Set(a.tensors.map(canonical))
    // A --tolerance for a name in neither checkpoint (a typo, or a stored `bert.` name) would be
    // silently ignored and the gate would run with tolerances the user did not ask for.
    for name in settings.perTensor.keys.sorted() where !namesA.contains(name) && namedB[name] == nil {
        throw UsageError("--tolerance \(name)=...: no tensor named '\(name)' in \(pathA) or \(pathB) (use BertModel names, e.g. pooler.dense.weight)")
    }
    let profile = settings.profile ?? [dominantFloatDType(a.tensors), dominantFloatDType(b.tensors)]
        .map(ToleranceProfile.forWeights)
        .max { looseness($0) < looseness($1) } ?? .fp32
    var tolerance = profile.tolerance
    if let atol = settings.atol { tolerance.atol = atol }
    if let rtol = settings.rtol { tolerance.rtol = rtol }

    var report = CheckpointDiffReport(pathA: pathA, pathB: pathB, missing: [], extra: [], tensors: [], profile: profile, tolerance: tolerance)
    // llama.cpp's converter drops the pooler and the buffers of BertModel.
    let dropping = [a, b].first { $0.format == .gguf }.map { $0.format.rawValue }
    func droppedByDesign(_ t: Tensor) -> Bool {
        guard dropping != nil else { return false }
        if case .buffer = parameterRole(ofStoredName: t.name) { return true }
        return canonical(t).hasPrefix("pooler.")
    }
    report.notCarriedBy = dropping
    var seen = Set<String>()
    for ta in a.tensors {
        let name = canonical(ta)
        guard seen.insert(name).inserted else { continue }
        guard let tb = namedB[name] else {
            if droppedByDesign(ta) { report.notCarried.append(name) } else { report.missing.append(name) }
            continue
        }
        let perTensor = settings.perTensor[name] ?? tolerance
        report.tensors.append(compareWeights(name: name, ta, tb, tolerance: perTensor, minCosine: settings.minCosine))
    }
    var seenB = Set<String>()
    for tb in b.tensors {
        let name = canonical(tb)
        if !namesA.contains(name) && seenB.insert(name).inserted {
            if droppedByDesign(tb) { report.notCarried.append(name) } else { report.extra.append(name) }
        }
    }
    return report
}

func looseness(_ profile: ToleranceProfile) -> Int {
    switch profile {
    case .fp32: return 0
    case .fp16: return 1
    case .bf16: return 2
    }
}

/// The float dtype holding most of the bytes.
func dominantFloatDType(_ tensors: [Tensor]) -> DType? {
    var bytes: [DType: Int] = [:]
    for t in tensors where t.dtype.isFloatingPoint { bytes[t.dtype, default: 0] += t.byteCount }
    return bytes.max { $0.value < $1.value }?.key
}

func compareWeights(name: String, _ ta: Tensor, _ tb: Tensor, tolerance: Tolerance, minCosine: Double?) -> TensorDiff {
    var diff = TensorDiff(name: name, dtypeA: ta.dtype, dtypeB: tb.dtype, shapeA: ta.shape, shapeB: tb.shape,
                          maxAbsErr: nil, maxRelErr: nil, cosine: nil, mismatched: 0, nonFinite: 0, status: .pass)
    guard ta.shape == tb.shape else {
        diff.status = .fail
        return diff
    }
    var maxAbs = 0.0, maxRel = 0.0, dot = 0.0, normA = 0.0, normB = 0.0
    ta.withFloats { fa in
        tb.withFloats { fb in
            for i in 0..<min(fa.count, fb.count) {
                let x = Double(fa[i]), y = Double(fb[i])
                guard x.isFinite, y.isFinite else {
                    if !(x.isNaN && y.isNaN) && x != y { diff.nonFinite += 1; diff.mismatched += 1 }
                    continue
                }
                let d = abs(y - x)
                if d > tolerance.atol + tolerance.rtol * abs(x) { diff.mismatched += 1 }
                maxAbs = max(maxAbs, d)
                if x != 0 { maxRel = max(maxRel, d / abs(x)) }
                dot += x * y
                normA += x * x
                normB += y * y
            }
        }
    }
    diff.maxAbsErr = maxAbs
    diff.maxRelErr = maxRel
    diff.cosine = normA == 0 && normB == 0 ? 1 : (normA == 0 || normB == 0 ? 0 : dot / (normA.squareRoot() * normB.squareRoot()))
    if diff.mismatched > 0 { diff.status = .fail }
    if let minCosine, let cosine = diff.cosine, cosine < minCosine { diff.status = .fail }
    return diff
}

public enum CheckpointDiffRenderer {
    public static func table(_ report: CheckpointDiffReport, all: Bool) -> String {
        var lines = ["A  \(report.pathA)", "B  \(report.pathB)",
                     "tolerance  profile \(report.profile.rawValue): |b − a| ≤ \(formatNumber(report.tolerance.atol)) + \(formatNumber(report.tolerance.rtol))·|a|", ""]
        if !report.missing.isEmpty { lines.append("Missing in B (\(report.missing.count)): " + report.missing.joined(separator: ", ")) }
        if !report.extra.isEmpty { lines.append("Extra in B (\(report.extra.count)): " + report.extra.joined(separator: ", ")) }
        if !report.notCarried.isEmpty {
            lines.append("Not carried by \((report.notCarriedBy ?? "").uppercased()) (\(report.notCarried.count), by design, not a failure): "
                         + report.notCarried.joined(separator: ", "))
        }
        for t in report.tensors where t.shapeDiffers {
            lines.append("Shape differs: \(t.name) \(Tensor.describe(shape: t.shapeA)) → \(Tensor.describe(shape: t.shapeB))")
        }
        let dtypeChanges = Dictionary(grouping: report.tensors.filter(\.dtypeDiffers), by: { "\($0.dtypeA.rawValue) → \($0.dtypeB.rawValue)" })
        for (change, tensors) in dtypeChanges.sorted(by: { $0.key < $1.key }) {
            lines.append("Dtype differs: \(change) for \(tensors.count) tensors")
        }
        // Failing tensors, then the largest differences among passing ones; --all lists every tensor.
        let failingTensors = report.tensors.filter { $0.status == .fail }
        let changed = report.tensors.filter { $0.status == .pass && ($0.maxAbsErr ?? 0) > 0 }
            .sorted { ($0.maxAbsErr ?? 0) > ($1.maxAbsErr ?? 0) }
        let shown = all ? report.tensors : failingTensors + changed.prefix(8)
        var rows: [[String]] = [["tensor", "dtype", "shape", "max abs", "max rel", "cosine", "mismatched", "status"]]
        for t in shown {
            rows.append([t.name, t.dtypeDiffers ? "\(t.dtypeA.rawValue)→\(t.dtypeB.rawValue)" : t.dtypeA.rawValue,
                         Tensor.describe(shape: t.shapeB), t.maxAbsErr.map(formatNumber) ?? "-", t.maxRelErr.map(formatNumber) ?? "-",
                         t.cosine.map { String(format: "%.7f", $0) } ?? "-", "\(t.mismatched)", t.status == .pass ? "pass" : "FAIL"])
        }
        if rows.count > 1 {
            if lines.last != "" { lines.append("") }
            lines.append(contentsOf: VerifyReportRenderer.alignedTable(rows, rightAligned: [3, 4, 5, 6]))
        }
        if !all {
            let identical = report.tensors.count - failingTensors.count - changed.count
            let unlisted = changed.count - min(changed.count, 8)
            lines.append("\(identical) of \(report.tensors.count) common tensors are identical" +
                         (unlisted > 0 ? ", \(unlisted) more differ within tolerance" : "") + " (--all lists every tensor)")
        }
        lines.append("")
        let failing = report.tensors.filter { $0.status == .fail }.count
        if report.status == .pass {
            lines.append("PASS: \(report.tensors.count) tensors within tolerance, none missing or extra")
        } else {
            lines.append("FAIL: \(report.missing.count) missing, \(report.extra.count) extra, \(failing) differing beyond tolerance or in shape")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public static func json(_ report: CheckpointDiffReport) -> JSONValue {
        .object([
            ("status", .string(report.status.rawValue)),
            ("a", .string(report.pathA)), ("b", .string(report.pathB)),
            ("profile", .string(report.profile.rawValue)),
            ("atol", .number(report.tolerance.atol)), ("rtol", .number(report.tolerance.rtol)),
            ("missing", .array(report.missing.map { .string($0) })),
            ("extra", .array(report.extra.map { .string($0) })),
            ("not_carried", .array(report.notCarried.map { .string($0) })),
            ("tensors", .array(report.tensors.map { t in
                .object([
                    ("name", .string(t.name)), ("status", .string(t.status.rawValue)),
                    ("dtype_a", .string(t.dtypeA.rawValue)), ("dtype_b", .string(t.dtypeB.rawValue)),
                    ("shape_a", .array(t.shapeA.map { .number($0) })), ("shape_b", .array(t.shapeB.map { .number($0) })),
                    ("max_abs_err", .number(t.maxAbsErr)), ("max_rel_err", .number(t.maxRelErr)),
                    ("cosine", .number(t.cosine)), ("mismatched", .number(t.mismatched)), ("non_finite", .number(t.nonFinite)),
                ])
            })),
        ])
    }
}
