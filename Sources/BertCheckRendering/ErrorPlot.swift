import BertCheck
import Foundation

/// One SVG chart of error along the stack: error series on a log axis (left), the tolerance as
/// a line, min cosine on a log axis of 1 − cosine (right), one marked place. Hand-written SVG:
/// no script, no fonts or images fetched, scales with the window.
struct ErrorPlot {
    struct Series {
        var name: String
        var values: [Double?]
        var colour: String
        var dash: String?
        var width: Double
    }

    /// One category per point along the x axis (embeddings, layer 0, …, pooler_output).
    var labels: [String]
    var failing: [Bool]
    /// Plotted on the left (log) axis; the first one gets a dot per point, red where failing.
    var errorSeries: [Series]
    /// The tolerance (atol) at each point, drawn as a dashed line.
    var tolerance: [Double?]
    var cosine: [Double?]?
    var requiredCosine: Double?
    /// The place marked in `markerColour` (the first divergence).
    var marker: (index: Int, label: String)?
    /// Shown inside the plot when nothing is marked (e.g. precision drift).
    var note: String?
    var title: String
    var xTitle: String
    var yTitle: String
    /// What the legend calls the marked place.
    var markerName = "first divergence"

    /// Colours the browser check looks for (Scripts/check-report-browser.sh): the marker's and
    /// the plot frame's are used nowhere else on the page.
    static let markerColour = "#ff00ff"
    static let frameColour = "#123456"
    static let maxAbsColour = "#1f5fbf"
    static let meanAbsColour = "#2a9d8f"
    static let toleranceColour = "#cf222e"
    static let cosineColour = "#b35c00"

    // Geometry of the viewBox; the plot box is [left, width - right] × [top, height - bottom].
    private let width = 900.0, height = 400.0
    private let left = 72.0, right = 92.0, top = 48.0, bottom = 96.0
    private var x0: Double { left }
    private var x1: Double { width - right }
    private var y0: Double { top }
    private var y1: Double { height - bottom }

    func svg() -> String {
        let n = max(labels.count, 1)
        let step = (x1 - x0) / Double(n)
        func x(_ i: Int) -> Double { x0 + (Double(i) + 0.5) * step }
        let errorAxis = LogAxis(values: errorSeries.flatMap(\.values) + tolerance, maxDecades: 14)
        func yError(_ v: Double) -> Double { y1 - errorAxis.fraction(v) * (y1 - y0) }
        let cosineAxis = cosine.map { values in
            LogAxis(values: (values + [requiredCosine]).map { $0.map { min(max(1 - $0, 1e-8), 2) } }, maxDecades: 8)
        }
        func yCosine(_ c: Double) -> Double { y1 - (cosineAxis?.fraction(min(max(1 - c, 1e-8), 2)) ?? 0) * (y1 - y0) }

        var s = "<svg viewBox=\"0 0 \(f(width)) \(f(height))\" role=\"img\" aria-labelledby=\"plot-title\" font-family=\"system-ui, sans-serif\" font-size=\"13\">\n"
        s += "<title id=\"plot-title\">\(HTML.escape(title))</title>\n"
        s += "<rect x=\"0\" y=\"0\" width=\"\(f(width))\" height=\"\(f(height))\" fill=\"#ffffff\"/>\n"
        // Grid and left axis: one line per decade (every second when there are many).
        let decadeStep = errorAxis.decades > 8 ? 2 : 1
        for d in stride(from: errorAxis.low, through: errorAxis.high, by: decadeStep) {
            let y = yError(pow(10, Double(d)))
            s += "<line x1=\"\(f(x0))\" y1=\"\(f(y))\" x2=\"\(f(x1))\" y2=\"\(f(y))\" stroke=\"#e4e8ec\" stroke-width=\"1\"/>\n"
            s += "<text x=\"\(f(x0 - 6))\" y=\"\(f(y + 4))\" text-anchor=\"end\" fill=\"#333\">1e\(d)</text>\n"
        }
        s += "<text transform=\"translate(16 \(f((y0 + y1) / 2))) rotate(-90)\" text-anchor=\"middle\" fill=\"#333\">\(HTML.escape(yTitle))</text>\n"
        // Right axis: cosine ticks at 1 − 10^k.
        if let cosineAxis {
            let kStep = cosineAxis.decades > 8 ? 2 : 1
            for k in stride(from: cosineAxis.low, through: cosineAxis.high, by: kStep) {
                let y = y1 - cosineAxis.fraction(pow(10, Double(k))) * (y1 - y0)
                s += "<line x1=\"\(f(x1))\" y1=\"\(f(y))\" x2=\"\(f(x1 + 4))\" y2=\"\(f(y))\" stroke=\"\(Self.cosineColour)\"/>\n"
                s += "<text x=\"\(f(x1 + 6))\" y=\"\(f(y + 4))\" fill=\"\(Self.cosineColour)\" font-size=\"11.5\">\(cosineTick(k))</text>\n"
            }
            s += "<text transform=\"translate(\(f(width - 8)) \(f((y0 + y1) / 2))) rotate(90)\" text-anchor=\"middle\" fill=\"\(Self.cosineColour)\">min cosine (scale: 1 − cosine, log)</text>\n"
        }
        // X labels, rotated so 24 layers and the heads fit.
        for (i, label) in labels.enumerated() {
            let colour = failing.indices.contains(i) && failing[i] ? Self.toleranceColour : "#333"
            s += "<text transform=\"translate(\(f(x(i) + 3)) \(f(y1 + 12))) rotate(-45)\" text-anchor=\"end\" font-size=\"12\" fill=\"\(colour)\">\(HTML.escape(label))</text>\n"
        }
        s += "<text x=\"\(f((x0 + x1) / 2))\" y=\"\(f(height - 6))\" text-anchor=\"middle\" fill=\"#333\">\(HTML.escape(xTitle))</text>\n"

        // The marked place first, so the lines are drawn over it.
        if let marker, marker.index < n {
            s += "<rect x=\"\(f(x(marker.index) - 2))\" y=\"\(f(y0))\" width=\"4\" height=\"\(f(y1 - y0))\" fill=\"\(Self.markerColour)\" shape-rendering=\"crispEdges\"/>\n"
            let anchor = marker.index > n / 2 ? "end" : "start"
            let dx = marker.index > n / 2 ? -6.0 : 6.0
            s += "<text x=\"\(f(x(marker.index) + dx))\" y=\"\(f(y0 - 6))\" text-anchor=\"\(anchor)\" fill=\"#8a0078\" font-weight=\"600\">\(HTML.escape(marker.label))</text>\n"
        } else if let note {
            s += "<text x=\"\(f(x0 + 8))\" y=\"\(f(y0 + 16))\" fill=\"#8a0078\" font-weight=\"600\">\(HTML.escape(note))</text>\n"
        }
        // Tolerance, error series, cosine.
        s += polyline(tolerance.map { $0.flatMap { $0 > 0 ? $0 : nil } }, x: x, y: yError, colour: Self.toleranceColour, dash: "7 4", width: 1.6)
        if let first = tolerance.compactMap({ $0 }).first(where: { $0 > 0 }) {
            s += "<text x=\"\(f(x0 + 4))\" y=\"\(f(yError(first) - 5))\" fill=\"\(Self.toleranceColour)\" font-size=\"11\">tolerance (atol \(HTML.escape(formatNumber(first))))</text>\n"
        }
        for series in errorSeries {
            s += polyline(series.values, x: x, y: { yError(max($0, errorAxis.minimum)) }, colour: series.colour, dash: series.dash, width: series.width)
        }
        if let cosine {
            s += polyline(cosine, x: x, y: yCosine, colour: Self.cosineColour, dash: "2 3", width: 1.6)
            if let requiredCosine {
                let y = yCosine(requiredCosine)
                s += "<line x1=\"\(f(x0))\" y1=\"\(f(y))\" x2=\"\(f(x1))\" y2=\"\(f(y))\" stroke=\"\(Self.cosineColour)\" stroke-dasharray=\"7 4\" stroke-width=\"1\"/>\n"
            }
        }
        if let main = errorSeries.first {
            for (i, value) in main.values.enumerated() {
                guard let value else { continue }
                let bad = failing.indices.contains(i) && failing[i]
                s += "<circle cx=\"\(f(x(i)))\" cy=\"\(f(yError(max(value, errorAxis.minimum))))\" r=\"3.6\" fill=\"\(bad ? Self.toleranceColour : main.colour)\" stroke=\"#fff\" stroke-width=\"0.8\"/>\n"
            }
        }
        s += "<rect x=\"\(f(x0))\" y=\"\(f(y0))\" width=\"\(f(x1 - x0))\" height=\"\(f(y1 - y0))\" fill=\"none\" stroke=\"\(Self.frameColour)\" stroke-width=\"1\" vector-effect=\"non-scaling-stroke\" shape-rendering=\"crispEdges\"/>\n"
        s += legend()
        return s + "</svg>\n"
    }

    private func legend() -> String {
        var entries = errorSeries.map { ($0.name, $0.colour, $0.dash) }
        entries.append(("tolerance", Self.toleranceColour, "7 4"))
        if cosine != nil { entries.append(("min cosine", Self.cosineColour, "2 3")) }
        var s = "", cursor = x0
        for (name, colour, dash) in entries {
            s += "<line x1=\"\(f(cursor))\" y1=\"14\" x2=\"\(f(cursor + 26))\" y2=\"14\" stroke=\"\(colour)\" stroke-width=\"2.4\"\(dash.map { " stroke-dasharray=\"\($0)\"" } ?? "")/>\n"
            s += "<text x=\"\(f(cursor + 31))\" y=\"18\" fill=\"#333\">\(HTML.escape(name))</text>\n"
            cursor += 46 + Double(name.count) * 7.2
        }
        if marker != nil {
            s += "<rect x=\"\(f(cursor))\" y=\"7\" width=\"4\" height=\"14\" fill=\"#8a0078\"/>\n"
            s += "<text x=\"\(f(cursor + 10))\" y=\"18\" fill=\"#333\">\(HTML.escape(markerName))</text>\n"
        }
        return s
    }

    /// A line through the points that have a value; a missing value breaks it.
    private func polyline(_ values: [Double?], x: (Int) -> Double, y: (Double) -> Double, colour: String, dash: String?, width: Double) -> String {
        var out = "", run: [String] = []
        func flush() {
            if run.count > 1 {
                out += "<polyline points=\"\(run.joined(separator: " "))\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"\(f(width))\" stroke-linejoin=\"round\"\(dash.map { " stroke-dasharray=\"\($0)\"" } ?? "")/>\n"
            }
            run = []
        }
        for (i, value) in values.enumerated() {
            guard let value, value.isFinite else { flush(); continue }
            run.append("\(f(x(i))),\(f(y(value)))")
        }
        flush()
        return out
    }

    /// 0.999 for k = −3; 0 for k = 0.
    private func cosineTick(_ k: Int) -> String {
        k < 0 ? "0." + String(repeating: "9", count: -k) : formatNumber(1 - pow(10, Double(k)))
    }

    private func f(_ v: Double) -> String { String(format: "%.1f", v) }
}

/// A base-10 log axis spanning whole decades around the positive finite values.
struct LogAxis {
    var low: Int
    var high: Int
    var decades: Int { high - low }
    /// Values below are drawn at the bottom (an exact 0 has no place on a log axis).
    var minimum: Double { pow(10, Double(low)) }

    init(values: [Double?], maxDecades: Int) {
        let positive = values.compactMap { $0 }.filter { $0 > 0 && $0.isFinite }
        guard let lo = positive.min(), let hi = positive.max() else {
            low = -6; high = 0
            return
        }
        // A value on a decade (the tolerance) keeps a little room above and below it.
        high = Int(ceil(log10(hi) + 0.25))
        low = max(Int(floor(log10(lo) - 0.25)), high - maxDecades)
        if low == high { low -= 1 }
    }

    /// 0 at the bottom of the axis, 1 at the top.
    func fraction(_ value: Double) -> Double {
        guard value > 0, value.isFinite else { return value.isInfinite ? 1 : 0 }
        return min(max((log10(value) - Double(low)) / Double(high - low), 0), 1)
    }
}
