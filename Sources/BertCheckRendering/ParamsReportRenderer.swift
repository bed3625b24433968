import BertCheck

/// `bertcheck params` as the notebook's listing or as JSON.
public enum ParamsReportRenderer {
    /// The listing as the notebook printed it: sections *Embedding Layer*, *First Encoder*,
    /// *Output Layer* (with `all`, every encoder layer and anything else), then totals.
    public static func text(_ report: ParamsReport, all: Bool) -> String {
        let inventory = report.inventory, parameters = inventory.parameters
        var out = "The BERT model has \(parameters.count) different named parameters.\n"
        if !report.checkpoint.details.isEmpty {
            out += "\n\(report.checkpoint.format.rawValue) file\n\n"
            for (key, value) in report.checkpoint.details { out += "  \(key): \(value)\n" }
        }
        func section(_ title: String, _ items: [NamedParameter]) {
            out += "\n\(title)\n\n"
            for p in items { out += row(p.name, Tensor.describe(shape: p.shape)) + "\n" }
        }
        func inGroup(_ group: ParameterGroup) -> [NamedParameter] {
            parameters.filter { $0.group == group }
        }
        section("Embedding Layer", inGroup(.embeddings))
        let layers = Set(parameters.map(\.group)).compactMap { group -> Int? in
            if case .layer(let n) = group { return n }
            return nil
        }.sorted()
        if all {
            for n in layers { section(n == 0 ? "First Encoder" : "Encoder \(n)", inGroup(.layer(n))) }
        } else if let first = layers.first {
            section(first == 0 ? "First Encoder" : "Encoder \(first)", inGroup(.layer(first)))
        }
        if inventory.hasPooler {
            section("Output Layer", inGroup(.pooler))
        } else {
            if let dropped = report.checkpoint.notCarried, dropped.dropsPooler {
                out += "\nOutput Layer\n\n(no pooler weights: not carried by \(dropped.carrier), \(dropped.reason))\n"
            } else {
                out += "\nOutput Layer\n\n(no pooler weights: a model saved with add_pooling_layer=False)\n"
            }
        }
        let others = inGroup(.other)
        if all && !others.isEmpty { section("Other", others) }
        if !inventory.headParameters.isEmpty {
            section("Task Head (\(inventory.task?.rawValue ?? "not computed: no task class fits"))", inventory.headParameters)
            if let labels = report.checkpoint.config?.id2label, !labels.isEmpty {
                out += "\nlabels: " + labels.enumerated().map { "\($0.offset) \($0.element)" }.joined(separator: ", ") + "\n"
            }
        }

        out += "\nTotals\n\n"
        out += row("all parameters", thousands(inventory.totalParameters)) + "\n"
        out += row("parameters in 2-D matrices", thousands(inventory.matrixParameters)) + "\n"
        for (group, count) in inventory.groups { out += row("  " + group.description, thousands(count)) + "\n" }
        if !inventory.headParameters.isEmpty {
            out += row("task head parameters", thousands(inventory.headTotal)) + "\n"
            out += row("model with its head", thousands(inventory.totalParameters + inventory.headTotal)) + "\n"
        }
        for (dtype, bytes, tensors) in inventory.bytesByDType {
            out += row("bytes in \(dtype.rawValue) (\(tensors) tensors)", thousands(bytes)) + "\n"
        }
        if report.freeze != .none || report.headClasses != nil {
            out += "\nFine-tuning (--freeze \(report.freeze))\n\n"
            if let n = report.headClasses { out += row("head parameters (\(n) classes, N*H + N)", thousands(report.headParameters)) + "\n" }
            if report.storedHeadParameters > 0 { out += row("task head parameters (the checkpoint's)", thousands(report.storedHeadParameters)) + "\n" }
            out += row("trainable parameters", thousands(report.trainable)) + "\n"
            out += row("frozen parameters", thousands(report.frozen)) + "\n"
        }
        if !inventory.buffers.isEmpty {
            out += "\nBuffers (not parameters)\n\n"
            for b in inventory.buffers { out += row(b.name, Tensor.describe(shape: b.shape)) + "\n" }
        }
        if !inventory.ignored.isEmpty {
            out += "\nIgnored (not part of BertModel)\n\n"
            for t in inventory.ignored { out += row(t.name, Tensor.describe(shape: t.shape)) + "\n" }
        }
        if let stats = report.stats {
            out += "\nStatistics\n\n"
            out += "\(pad("name", 55)) \(lpad("min", 12)) \(lpad("max", 12)) \(lpad("mean", 12)) \(lpad("std", 12)) \(lpad("nan", 8)) \(lpad("inf", 8))\n"
            for (p, s) in zip(parameters, stats) {
                out += "\(pad(p.name, 55)) \(lpad(short(s.min), 12)) \(lpad(short(s.max), 12)) \(lpad(short(s.mean), 12)) \(lpad(short(s.std), 12)) \(lpad(String(s.nanCount), 8)) \(lpad(String(s.infCount), 8))\n"
            }
        }
        out += "\n" + schemaSummary(report) + "\n"
        if let schema = inventory.schema, !schema.ok {
            for fault in schema.faults { out += "  " + fault + "\n" }
        }
        return out
    }

    /// One line on the schema check.
    public static func schemaSummary(_ report: ParamsReport) -> String {
        guard let schema = report.inventory.schema else {
            return "Schema: not checked (no config.json beside the weights)"
        }
        let config = report.checkpoint.configPath ?? "config.json"
        if schema.ok { return "Schema: matches \(config)" }
        var parts: [String] = []
        if !schema.missing.isEmpty { parts.append("\(schema.missing.count) missing") }
        if !schema.unexpected.isEmpty { parts.append("\(schema.unexpected.count) unexpected") }
        if !schema.mismatched.isEmpty { parts.append("\(schema.mismatched.count) wrong-shaped") }
        return "Schema: does not match \(config): " + parts.joined(separator: ", ")
    }

    public static func json(_ report: ParamsReport) -> JSONValue {
        let inventory = report.inventory, checkpoint = report.checkpoint, freeze = report.freeze
        func shape(_ s: [Int]) -> JSONValue { .array(s.map { .int($0) }) }
        func tensorEntry(_ name: String, _ t: Tensor) -> JSONValue {
            .object([("name", .string(name)), ("shape", shape(t.shape)), ("dtype", .string(t.dtype.rawValue)), ("count", .int(t.elementCount))])
        }
        var parameters: [JSONValue] = []
        for (i, p) in inventory.parameters.enumerated() {
            var members: [(key: String, value: JSONValue)] = [
                ("name", .string(p.name)), ("shape", shape(p.shape)), ("dtype", .string(p.dtype.rawValue)), ("count", .int(p.count)),
            ]
            if p.storedName != p.name { members.append(("stored_name", .string(p.storedName))) }
            members.append(("trainable", .bool(!freeze.freezes(p.name))))
            if let stats = report.stats, i < stats.count {
                let s = stats[i]
                members.append(("stats", .object([
                    ("min", .number(s.min)), ("max", .number(s.max)), ("mean", .number(s.mean)), ("std", .number(s.std)),
                    ("nan", .int(s.nanCount)), ("inf", .int(s.infCount)),
                ])))
            }
            parameters.append(.object(members))
        }
        let schema: JSONValue
        if let check = inventory.schema {
            schema = .object([
                ("checked", .bool(true)),
                ("config", .string(checkpoint.configPath ?? "")),
                ("ok", .bool(check.ok)),
                ("missing", .array(check.missing.map { .object([("name", .string($0.name)), ("shape", shape($0.shape))]) })),
                ("unexpected", .array(check.unexpected.map(JSONValue.string))),
                ("mismatched", .array(check.mismatched.map {
                    .object([("name", .string($0.name)), ("expected", shape($0.expected)), ("actual", shape($0.actual)), ("transposed", .bool($0.transposed))])
                })),
            ])
        } else {
            schema = .object([("checked", .bool(false)), ("config", .null), ("ok", .bool(true)),
                              ("missing", .array([])), ("unexpected", .array([])), ("mismatched", .array([]))])
        }
        let root: JSONValue = .object([
            ("model", .string(checkpoint.path)),
            ("format", .string(checkpoint.format.rawValue)),
            ("files", .array(checkpoint.files.map(JSONValue.string))),
            ("details", .array(checkpoint.details.map { .object([("key", .string($0.key)), ("value", .string($0.value))]) })),
            ("named_parameters", .int(inventory.parameters.count)),
            ("total_parameters", .int(inventory.totalParameters)),
            ("matrix_parameters", .int(inventory.matrixParameters)),
            ("trainable", .int(report.trainable)),
            ("frozen", .int(report.frozen)),
            ("head_parameters", .int(report.headParameters)),
            ("freeze", .string(freeze.description)),
            ("pooler", .bool(inventory.hasPooler)),
            ("groups", .object(inventory.groups.map { ($0.group.description, .int($0.count)) })),
            ("bytes_by_dtype", .object(inventory.bytesByDType.map { ($0.dtype.rawValue, .int($0.bytes)) })),
            ("parameters", .array(parameters)),
            ("buffers", .array(inventory.buffers.map { tensorEntry($0.name, $0.tensor) })),
            ("ignored", .array(inventory.ignored.map { tensorEntry($0.name, $0) })),
            ("head", inventory.headParameters.isEmpty ? .null : .object([
                ("architecture", inventory.task.map { .string($0.rawValue) } ?? .null),
                ("labels", checkpoint.config?.id2label.map { .array($0.map(JSONValue.string)) } ?? .null),
                ("total", .int(inventory.headTotal)),
                ("parameters", .array(inventory.headParameters.map { tensorEntry($0.name, $0.tensor) })),
            ])),
            ("schema", schema),
        ])
        return root
    }
}

/// Python's `"{:<55} {:>12}".format(name, value)`.
func row(_ name: String, _ value: String) -> String { pad(name, 55) + " " + lpad(value, 12) }

/// A statistic in at most 12 characters: 6 decimals in the usual range, else 4 significant
/// digits in scientific notation (`-3.665e-05`).
func short(_ value: Double) -> String {
    if value.isNaN { return "nan" }
    if value.isInfinite { return value < 0 ? "-inf" : "inf" }
    if value == 0 { return "0" }
    let magnitude = abs(value)
    if magnitude >= 1e-3 && magnitude < 1e5 {
        let micros = Int((magnitude * 1e6).rounded())
        var fraction = String(micros % 1_000_000)
        fraction = String(repeating: "0", count: 6 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return (value < 0 ? "-" : "") + String(micros / 1_000_000) + (fraction.isEmpty ? "" : "." + fraction)
    }
    var exponent = 0
    var mantissa = magnitude
    while mantissa >= 10 { mantissa /= 10; exponent += 1 }
    while mantissa < 1 { mantissa *= 10; exponent -= 1 }
    var digits = Int((mantissa * 1000).rounded())
    if digits >= 10_000 { digits /= 10; exponent += 1 }
    let text = "\(digits / 1000).\(String(repeating: "0", count: 3 - String(digits % 1000).count))\(digits % 1000)"
    let sign = exponent < 0 ? "-" : "+"
    let e = abs(exponent) < 10 ? "0\(abs(exponent))" : "\(abs(exponent))"
    return (value < 0 ? "-" : "") + text + "e" + sign + e
}

