import BertCheck
import Foundation

/// The pieces every HTML report is built from: escaping, one stylesheet, tables. Reports are one
/// self-contained file: inline CSS and SVG, no script, nothing fetched.
enum HTML {
    /// Escapes text for element content and quoted attribute values: the XML escaping of the
    /// JUnit report (HTML reads it alike), so a golden's text is always shown as text.
    static func escape(_ text: String) -> String { VerifyReportRenderer.xmlEscape(text) }

    /// A whole page: `title` is plain text, `body` is HTML built with `escape`.
    static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title))</title>
        <style>
        \(stylesheet)
        </style>
        </head>
        <body>
        \(body)
        </body>
        </html>

        """
    }

    /// A table; `cells` are HTML already (escape text with `escape`). Numeric columns align right.
    static func table(header: [String], rows: [[String]], numeric: Set<Int> = [], rowClasses: [String?]? = nil) -> String {
        var out = "<div class=\"scroll\"><table>\n<thead><tr>"
        for (i, title) in header.enumerated() { out += "<th\(numeric.contains(i) ? " class=\"num\"" : "")>\(escape(title))</th>" }
        out += "</tr></thead>\n<tbody>\n"
        for (r, row) in rows.enumerated() {
            let rowClass = rowClasses?[r].map { " class=\"\($0)\"" } ?? ""
            out += "<tr\(rowClass)>"
            for (i, cell) in row.enumerated() { out += "<td\(numeric.contains(i) ? " class=\"num\"" : "")>\(cell)</td>" }
            out += "</tr>\n"
        }
        return out + "</tbody></table></div>\n"
    }

    /// "pass" / "FAIL" / "not produced" as a coloured badge.
    static func status(_ status: CheckStatus) -> String {
        "<span class=\"status \(status.rawValue)\">\(escape(status.label))</span>"
    }

    /// A definition list of provenance lines (label, HTML value).
    static func facts(_ items: [(String, String)]) -> String {
        "<dl class=\"facts\">\n" + items.map { "<dt>\(escape($0.0))</dt><dd>\($0.1)</dd>\n" }.joined() + "</dl>\n"
    }

    static func number(_ value: Double?) -> String { value.map { escape(formatNumber($0)) } ?? "–" }

    static func cosine(_ value: Double?) -> String { value.map(formatCosineColumn) ?? "–" }

    /// Readable on screen, in a narrow window (tables scroll sideways, the plot scales) and on
    /// paper (no backgrounds needed, sections kept whole).
    static let stylesheet = """
    :root { color-scheme: light; }
    body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1f24; background: #fff;
           margin: 0 auto; padding: 16px; max-width: 1100px; }
    h1 { font-size: 1.45em; margin: 0.2em 0 0.4em; }
    h2 { font-size: 1.15em; margin: 1.6em 0 0.5em; border-bottom: 1px solid #d0d7de; padding-bottom: 0.2em; }
    code, .mono, td.num, td.tok { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.92em; }
    .verdict { border: 2px solid; border-radius: 6px; padding: 10px 14px; margin: 0 0 1em; }
    .verdict.pass { border-color: #1a7f37; background: #eef9f0; }
    .verdict.fail { border-color: #cf222e; background: #fff1f0; }
    .verdict .headline { font-size: 1.15em; font-weight: 600; }
    .verdict p { margin: 0.3em 0 0; }
    dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0; }
    dl.facts dt { color: #57606a; }
    dl.facts dd { margin: 0; overflow-wrap: anywhere; }
    .scroll { overflow-x: auto; max-width: 100%; }
    table { border-collapse: collapse; margin: 0.3em 0; font-size: 0.9em; }
    th, td { border: 1px solid #d0d7de; padding: 3px 7px; text-align: left; vertical-align: top; }
    th { background: #f6f8fa; }
    td.num, th.num { text-align: right; white-space: nowrap; }
    tr.fail td { background: #fff5f5; }
    tr.divergence td { background: #fde7fb; }
    .status { font-weight: 600; white-space: nowrap; }
    .status.fail { color: #cf222e; }
    .status.pass { color: #1a7f37; }
    .status.not_produced { color: #57606a; }
    td.text { max-width: 36em; overflow-wrap: anywhere; }
    ul.failures { font-size: 0.9em; padding-left: 1.2em; }
    mark { background: #ffd8f7; outline: 1px solid #b0009b; padding: 0 2px; }
    figure { margin: 0.5em 0; }
    figure svg { width: 100%; height: auto; display: block; max-width: 980px; min-width: 640px; }
    figcaption { color: #57606a; font-size: 0.88em; }
    .notes li { color: #57606a; }
    @media (max-width: 600px) { body { padding: 8px; font-size: 14px; } dl.facts { grid-template-columns: 1fr; } dl.facts dd { margin-bottom: 4px; } }
    @media print {
      body { max-width: none; padding: 0; font-size: 10.5pt; }
      .scroll { overflow: visible; }
      table { font-size: 8.5pt; }
      figure, .verdict, tr { break-inside: avoid; }
      h2 { break-after: avoid; }
    }
    """
}
