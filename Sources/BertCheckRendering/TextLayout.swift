import Foundation

/// Columns padded to the widest cell (two spaces apart), trailing spaces trimmed.
func alignedTable(_ rows: [[String]], rightAligned: Set<Int>) -> [String] {
    guard let columns = rows.first?.count else { return [] }
    let widths = (0..<columns).map { c in rows.map { $0.count > c ? $0[c].count : 0 }.max() ?? 0 }
    return rows.map { row in
        (0..<columns).map { c in
            let cell = c < row.count ? row[c] : ""
            let padding = String(repeating: " ", count: widths[c] - cell.count)
            return rightAligned.contains(c) ? padding + cell : cell + padding
        }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
    }
}

/// `text` left-aligned in `width` characters (Python's `{:<width}`).
func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}

/// `text` right-aligned in `width` characters (Python's `{:>width}`).
func lpad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}

/// 109482240 → "109,482,240".
public func thousands(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return value < 0 ? "-" + out : out
}
