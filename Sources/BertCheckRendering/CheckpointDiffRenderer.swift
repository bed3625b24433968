import BertCheck
import Foundation

/// `bertcheck diff` as a table or JSON.
public enum CheckpointDiffRenderer {
    public static func table(_ report: CheckpointDiffReport, all: Bool) -> String {
        let blockQuantized = report.tensors.contains { $0.quantizationBound != nil }
        var lines = ["A  \(report.pathA)", "B  \(report.pathB)",
                     "tolerance  profile \(report.profile.rawValue): |b − a| ≤ \(formatNumber(report.tolerance.atol)) + \(formatNumber(report.tolerance.rtol))·|a|" +
                     (report.profile == .int8 ? "; dequantized weights within half their quantization step" : "") +
                     (blockQuantized ? "; GGML block-quantized tensors: relative error ‖b − a‖/‖a‖ and gain ⟨a,b⟩/⟨a,a⟩ − 1 within their type's bound" : ""),
                     ""]
        if !report.missing.isEmpty { lines.append("Missing in B (\(report.missing.count)): " + report.missing.joined(separator: ", ")) }
        if !report.extra.isEmpty { lines.append("Extra in B (\(report.extra.count)): " + report.extra.joined(separator: ", ")) }
        if !report.notCarried.isEmpty {
            lines.append("Not carried by \((report.notCarriedBy ?? "").uppercased()) (\(report.notCarried.count), by design, not a failure): "
                         + report.notCarried.joined(separator: ", "))
        }
        for twice in report.storedTwice {
            lines.append("Stored twice in \(twice.checkpoint): \(twice.name) as " + twice.storedNames.joined(separator: " and "))
        }
        if !report.buffersOnlyInA.isEmpty { lines.append("Buffers only in A (not parameters, not compared): " + report.buffersOnlyInA.joined(separator: ", ")) }
        if !report.buffersOnlyInB.isEmpty { lines.append("Buffers only in B (not parameters, not compared): " + report.buffersOnlyInB.joined(separator: ", ")) }
        for t in report.tensors where t.shapeDiffers {
            lines.append("Shape differs: \(t.name) \(Tensor.describe(shape: t.shapeA)) → \(Tensor.describe(shape: t.shapeB))" +
                         (t.transposedEqual ? " (transposed: the values are equal after transposing)" : ""))
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
        var rows: [[String]] = [["tensor", "dtype", "shape", "max abs", "max rel", "cosine", "mismatched"]
            + (blockQuantized ? ["rel error (bound)", "gain (bound)"] : []) + ["status"]]
        for t in shown {
            var row = [t.name, t.dtypeDiffers ? "\(t.dtypeA.rawValue)→\(t.dtypeB.rawValue)" : t.dtypeA.rawValue,
                       Tensor.describe(shape: t.shapeB), t.maxAbsErr.map(formatNumber) ?? "-", t.maxRelErr.map(formatNumber) ?? "-",
                       t.cosine.map { String(format: "%.7f", $0) } ?? "-", t.quantizationBound == nil ? "\(t.mismatched)" : "-"]
            if blockQuantized {
                let bound = t.quantizationBound
                row.append(t.relativeError.map { "\(formatNumber($0)) (\(bound.map { formatNumber($0.relativeError) } ?? "-"))" } ?? "-")
                row.append(t.gain.map { "\(formatNumber($0)) (±\(bound.map { formatNumber($0.gain) } ?? "-"))" } ?? "-")
            }
            rows.append(row + [t.status == .pass ? "pass" : "FAIL"])
        }
        if rows.count > 1 {
            if lines.last != "" { lines.append("") }
            lines.append(contentsOf: alignedTable(rows, rightAligned: blockQuantized ? [3, 4, 5, 6, 7, 8] : [3, 4, 5, 6]))
        }
        if !all {
            let identical = report.tensors.count - failingTensors.count - changed.count
            let unlisted = changed.count - min(changed.count, 8)
            lines.append("\(identical) of \(report.tensors.count) common tensors are identical" +
                         (unlisted > 0 ? ", \(unlisted) more differ within tolerance" : "") + " (--all lists every tensor)")
        }
        lines.append("")
        lines.append(verdictLine(report))
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
            ("buffers_only_in_a", .array(report.buffersOnlyInA.map { .string($0) })),
            ("buffers_only_in_b", .array(report.buffersOnlyInB.map { .string($0) })),
            ("stored_twice", .array(report.storedTwice.map { twice in
                .object([("checkpoint", .string(twice.checkpoint)), ("name", .string(twice.name)),
                         ("stored_names", .array(twice.storedNames.map { .string($0) }))])
            })),
            ("not_carried", .array(report.notCarried.map { .string($0) })),
            ("tensors", .array(report.tensors.map { t in
                .object([
                    ("name", .string(t.name)), ("status", .string(t.status.rawValue)),
                    ("dtype_a", .string(t.dtypeA.rawValue)), ("dtype_b", .string(t.dtypeB.rawValue)),
                    ("shape_a", .array(t.shapeA.map { .int($0) })), ("shape_b", .array(t.shapeB.map { .int($0) })),
                    ("max_abs_err", .number(t.maxAbsErr)), ("max_rel_err", .number(t.maxRelErr)),
                    ("cosine", .number(t.cosine)), ("mismatched", .int(t.mismatched)), ("non_finite", .int(t.nonFinite)),
                    ("transposed", .bool(t.transposedEqual)),
                    ("relative_error", .number(t.relativeError)), ("gain", .number(t.gain)),
                    ("bound_relative_error", .number(t.quantizationBound?.relativeError)),
                    ("bound_gain", .number(t.quantizationBound?.gain)),
                ])
            })),
        ])
    }
}
