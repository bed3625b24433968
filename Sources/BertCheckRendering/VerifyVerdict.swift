import BertCheck
import Foundation

/// The verdict of a verify report in words, the same in the table, the HTML page and the
/// Markdown summary: pass, fail at a layer and token and by how much, or precision drift.
struct VerifyVerdict {
    var passed: Bool
    /// One line: "FAIL at encoder layer 5 (hidden_states.6), token 'dog': 61× the tolerance".
    var headline: String
    /// Supporting sentences.
    var details: [String]

    init(_ report: VerifyReport) {
        let failures = report.checks.filter { $0.status == .fail }
        passed = failures.isEmpty
        details = []
        if passed {
            headline = VerifyReportRenderer.verdictLine(report)
            if let closest = report.stackChecks.filter({ $0.maxAbsErr != nil }).max(by: { Self.toleranceShare($0) < Self.toleranceShare($1) }),
               let err = closest.maxAbsErr {
                details.append("Largest error: max abs \(formatNumber(err)) at \(Self.place(closest.name)), \(Self.percent(Self.toleranceShare(closest))) of its tolerance.")
            }
            return
        }
        let failed = "\(failures.count) of \(report.checks.count) checks fail: " + failures.map(\.name).joined(separator: ", ") + "."
        switch report.divergence {
        case .output(let name):
            let check = report.checks.first { $0.name == name }
            var line = "FAIL at \(Self.place(name))"
            if let worst = check?.worst {
                if let token = worst.token { line += ", token \(VerifyReportRenderer.quotedToken(token))" }
                if let cosine = worst.cosine, let floor = check?.requiredMinCosine {
                    let (shown, shownFloor) = formatApart(cosine, floor)
                    line += ": cosine \(shown) under the floor \(shownFloor)"
                } else if let ratio = Self.excess(worst, check?.tolerance) {
                    line += ": \(Self.times(ratio)) the tolerance"
                }
            }
            headline = line
            if let check, let worst = check.worst { details.append("Worst element: \(VerifyReportRenderer.describe(worst)).") }
            if let layer = report.errorGrowth?.layers.first(where: { $0.name == name }), let growth = layer.growth {
                let typical = layer.typicalGrowth.map { ", while the other layers grow it ×\(Self.factor($0)) (median)" } ?? ""
                details.append("The mean abs error grows ×\(Self.factor(growth)) at this layer\(typical): the error starts here.")
            }
        case .precisionDrift:
            let first = report.layerChecks.first { $0.status == .fail }
            headline = "FAIL: precision drift, no single layer"
            let typical = report.errorGrowth?.typicalGrowth.map { " (×\(Self.factor($0)) per layer, median)" } ?? ""
            details.append("The error grows steadily through the stack\(typical) and no layer jumps; it first exceeds the tolerance at \(first.map { Self.place($0.name) } ?? "a hidden state"). A lower-precision runtime or conversion (fp16, bf16, quantized) does this: gate it with a looser profile, or look for the setting that makes it compute in fp32.")
        case .none:
            headline = "FAIL: " + failures.map(\.name).joined(separator: ", ")
            if let message = failures.first?.message { details.append(message) }
        }
        details.append(failed)
    }

    /// "encoder layer 5 (hidden_states.6)", "the embeddings (hidden_states.0)", "pooler_output".
    static func place(_ name: String) -> String {
        guard let label = OutputRegistry.layerLabel(of: name) else { return name }
        return label == "embeddings" ? "the embeddings (\(name))" : "encoder \(label) (\(name))"
    }

    /// |diff| over what the tolerance allows at that element.
    static func excess(_ worst: WorstElement, _ tolerance: Tolerance?) -> Double? {
        guard let tolerance, worst.actual.isFinite, worst.expected.isFinite else { return nil }
        let allowed = tolerance.atol + tolerance.rtol * abs(worst.expected)
        return allowed > 0 ? abs(worst.actual - worst.expected) / allowed : nil
    }

    /// The worst element's share of its tolerance (1 = at the bound).
    static func toleranceShare(_ check: CheckResult) -> Double {
        guard let worst = check.worst else { return 0 }
        return excess(worst, check.tolerance) ?? 0
    }

    static func times(_ ratio: Double) -> String { ratio >= 100 ? String(format: "%.0f×", ratio) : String(format: "%.3g×", ratio) }

    static func factor(_ growth: Double) -> String { growth >= 100 ? formatNumber(growth) : String(format: "%.2f", growth) }

    static func percent(_ share: Double) -> String { String(format: "%.1f%%", share * 100) }
}
