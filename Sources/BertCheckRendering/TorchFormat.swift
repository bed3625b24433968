import Foundation

/// Prints tensors the way `print(torch_tensor)` does (default print options: precision 4,
/// linewidth 80, more than 1000 elements summarised to 3 edge items per dimension), so output
/// can be compared by eye with a notebook.
public enum TorchFormat {
    static let precision = 4
    static let lineWidth = 80
    static let threshold = 1000
    static let edgeItems = 3

    /// `tensor([[...]])` for row-major `values` of `shape`.
    public static func tensor(_ values: [Float], shape: [Int]) -> String {
        let count = shape.reduce(1, *)
        guard count == values.count else { return "tensor(<\(values.count) values for shape \(shape)>)" }
        let summarize = count > threshold
        let formatter = ElementFormatter(shownValues(values, shape: shape, summarize: summarize))
        let prefix = "tensor("
        return prefix + body(values, offset: 0, shape: shape[...], indent: prefix.count, summarize: summarize, formatter: formatter) + ")"
    }

    /// `torch.Size([1, 6, 384])`.
    public static func size(_ shape: [Int]) -> String {
        "torch.Size([" + shape.map(String.init).joined(separator: ", ") + "])"
    }

    /// Indices shown along a dimension of `length`.
    static func shownIndices(_ length: Int, summarize: Bool) -> [Int?] {
        if summarize && length > 2 * edgeItems {
            return Array(0..<edgeItems).map { Optional($0) } + [nil] + Array((length - edgeItems)..<length).map { Optional($0) }
        }
        return Array(0..<length).map { Optional($0) }
    }

    /// The elements that will be printed (torch sizes its format on these alone).
    static func shownValues(_ values: [Float], shape: [Int], summarize: Bool) -> [Float] {
        var out: [Float] = []
        func walk(_ offset: Int, _ dims: ArraySlice<Int>) {
            guard let length = dims.first else {
                out.append(values[offset])
                return
            }
            let stride = dims.dropFirst().reduce(1, *)
            for index in shownIndices(length, summarize: summarize) {
                if let index { walk(offset + index * stride, dims.dropFirst()) }
            }
        }
        walk(0, shape[...])
        return out
    }

    static func body(_ values: [Float], offset: Int, shape: ArraySlice<Int>, indent: Int, summarize: Bool,
                     formatter: ElementFormatter) -> String {
        guard let length = shape.first else { return formatter.format(values[offset]) }
        let indices = shownIndices(length, summarize: summarize)
        if shape.count == 1 {
            let items = indices.map { index in index.map { formatter.format(values[offset + $0]) } ?? " ..." }
            let perLine = max(1, (lineWidth - indent) / (formatter.width + 2))
            var lines: [String] = []
            var start = 0
            while start < items.count {
                lines.append(items[start..<min(start + perLine, items.count)].joined(separator: ", "))
                start += perLine
            }
            return "[" + lines.joined(separator: ",\n" + String(repeating: " ", count: indent + 1)) + "]"
        }
        let stride = shape.dropFirst().reduce(1, *)
        let slices = indices.map { index in
            index.map { body(values, offset: offset + $0 * stride, shape: shape.dropFirst(), indent: indent + 1,
                             summarize: summarize, formatter: formatter) } ?? "..."
        }
        let separator = "," + String(repeating: "\n", count: shape.count - 1) + String(repeating: " ", count: indent + 1)
        return "[" + slices.joined(separator: separator) + "]"
    }

    /// torch's `_Formatter` for floating tensors: integer, fixed or scientific mode, one width
    /// sized on the non-zero finite values.
    struct ElementFormatter {
        var integerMode = true
        var scientific = false
        var width = 1

        init(_ values: [Float]) {
            let nonzero = values.filter { $0.isFinite && $0 != 0 }
            guard let top = nonzero.map({ Double(abs($0)) }).max(),
                  let bottom = nonzero.map({ Double(abs($0)) }).min() else { return }
            integerMode = nonzero.allSatisfy { $0.rounded(.up) == $0 }
            if integerMode {
                scientific = top / bottom > 1000 || top > 1e8
            } else {
                scientific = top / bottom > 1000 || top > 1e8 || bottom < 1e-4
            }
            for v in nonzero { width = max(width, text(v).count) }
        }

        func text(_ v: Float) -> String {
            if v.isNaN { return "nan" }
            if v.isInfinite { return v < 0 ? "-inf" : "inf" }
            if scientific { return String(format: "%.\(TorchFormat.precision)e", Double(v)) }
            if integerMode { return String(format: "%.0f.", Double(v)) }
            return String(format: "%.\(TorchFormat.precision)f", Double(v))
        }

        func format(_ v: Float) -> String {
            let t = text(v)
            return String(repeating: " ", count: max(0, width - t.count)) + t
        }
    }
}
