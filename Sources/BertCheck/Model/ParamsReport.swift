/// `bertcheck params`: the notebook's listing of named parameters, totals, the schema check
/// against config.json, fine-tuning counts and per-tensor statistics.

/// Which parameters a fine-tuning run would freeze (the notebook's three strategies).
public enum FreezeStrategy: Equatable, Sendable {
    /// Update the whole model.
    case none
    /// Freeze the whole model; only the head trains.
    case all
    /// Freeze the parameters under these name prefixes (whole name components:
    /// `encoder.layer.1` does not cover `encoder.layer.10`).
    case prefixes([String])

    /// Parses `none`, `all`, or a comma-separated list of prefixes where a trailing `A-B` range
    /// expands to every number from A to B (`embeddings,encoder.layer.0-7`).
    public static func parse(_ text: String) throws -> FreezeStrategy {
        let trimmed = text.trimmingWhitespace()
        if trimmed == "none" { return .none }
        if trimmed == "all" { return .all }
        var prefixes: [String] = []
        for rawItem in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let item = String(rawItem).trimmingWhitespace()
            guard !item.isEmpty else { throw UsageError("--freeze \(text): empty item in the list") }
            let components = item.split(separator: ".", omittingEmptySubsequences: false)
            guard let last = components.last, !components.contains(where: \.isEmpty) else {
                throw UsageError("--freeze \(text): \"\(item)\" is not a parameter name prefix")
            }
            let bounds = last.split(separator: "-", omittingEmptySubsequences: false)
            if bounds.count == 2 {
                guard let low = Int(bounds[0]), let high = Int(bounds[1]), low >= 0, low <= high, high - low < 100_000 else {
                    throw UsageError("--freeze \(text): \"\(item)\" is not a range A-B with 0 <= A <= B")
                }
                let stem = components.dropLast().joined(separator: ".")
                for n in low...high { prefixes.append(stem.isEmpty ? String(n) : stem + ".\(n)") }
            } else {
                prefixes.append(item)
            }
        }
        // Task checkpoints store `bert.embeddings…`; the listing uses BertModel names.
        return .prefixes(prefixes.map { $0.hasPrefix("bert.") ? String($0.dropFirst(5)) : $0 })
    }

    func freezes(_ name: String) -> Bool {
        switch self {
        case .none: return false
        case .all: return true
        case .prefixes(let list): return list.contains { FreezeStrategy.covers($0, name) }
        }
    }
}

/// min / max / mean / std over the finite elements of a tensor, and how many are NaN or ±Inf.
public struct TensorStats: Equatable, Sendable {
    public var min: Double
    public var max: Double
    public var mean: Double
    /// Population standard deviation (torch's `std(unbiased=False)`).
    public var std: Double
    public var nanCount: Int
    public var infCount: Int

    public init(_ tensor: Tensor) {
        var lo = Double.infinity, hi = -Double.infinity
        var sum = 0.0, nan = 0, inf = 0, finite = 0
        tensor.withFloats { values in
            for v in values {
                if v.isNaN { nan += 1; continue }
                if v.isInfinite { inf += 1; continue }
                let d = Double(v)
                finite += 1
                sum += d
                if d < lo { lo = d }
                if d > hi { hi = d }
            }
        }
        let mean = finite > 0 ? sum / Double(finite) : .nan
        var squares = 0.0
        if finite > 0 {
            tensor.withFloats { values in
                for v in values where v.isFinite {
                    let d = Double(v) - mean
                    squares += d * d
                }
            }
        }
        min = finite > 0 ? lo : .nan
        max = finite > 0 ? hi : .nan
        self.mean = mean
        std = finite > 0 ? (squares / Double(finite)).squareRoot() : .nan
        nanCount = nan
        infCount = inf
    }
}

/// Everything `bertcheck params` reports about a checkpoint.
public struct ParamsReport: @unchecked Sendable {
    public let checkpoint: Checkpoint
    public let inventory: ParameterInventory
    public let freeze: FreezeStrategy
    /// Classes of the classification head on the pooled output (nil: no head).
    public let headClasses: Int?
    /// Per-parameter statistics (only when asked: they read every weight).
    public let stats: [TensorStats]?

    public init(checkpoint: Checkpoint, freeze: FreezeStrategy = .none, headClasses: Int? = nil, computeStats: Bool = false) throws {
        self.checkpoint = checkpoint
        inventory = ParameterInventory(checkpoint: checkpoint)
        self.freeze = freeze
        if let headClasses, headClasses < 1 { throw UsageError("--head \(headClasses): the head needs at least 1 class") }
        self.headClasses = headClasses
        if case .prefixes(let list) = freeze {
            for prefix in list where !inventory.parameters.contains(where: { FreezeStrategy.covers(prefix, $0.name) }) {
                throw UsageError("--freeze: \"\(prefix)\" matches no parameter of \(checkpoint.path)")
            }
        }
        if let headClasses {
            guard let h = ParamsReport.hiddenSize(checkpoint, inventory) else {
                throw UsageError("--head: the hidden size is unknown (no config.json and no word embeddings to infer it from)")
            }
            // N·H + N, and trainable = total - frozen + head, must fit in an Int: N comes from the
            // command line and H from config.json, so neither is trusted.
            let (weights, o1) = headClasses.multipliedReportingOverflow(by: h)
            let (head, o2) = weights.addingReportingOverflow(headClasses)
            let (_, o3) = head.addingReportingOverflow(inventory.totalParameters)
            guard !o1, !o2, !o3 else {
                throw UsageError("--head \(headClasses): a head of \(headClasses) classes on hidden size \(h) has more parameters than can be counted")
            }
        }
        stats = computeStats ? inventory.parameters.map { TensorStats($0.tensor) } : nil
    }

    /// H: from config.json, else from the word embeddings' width.
    public var hiddenSize: Int? { ParamsReport.hiddenSize(checkpoint, inventory) }

    static func hiddenSize(_ checkpoint: Checkpoint, _ inventory: ParameterInventory) -> Int? {
        if let h = checkpoint.config?.hiddenSize { return h }
        return inventory.parameters.first { $0.name == "embeddings.word_embeddings.weight" }?.shape.last
    }

    /// N·H + N for a head of N classes on the pooled output.
    public var headParameters: Int {
        guard let n = headClasses, let h = hiddenSize else { return 0 }
        return n * h + n
    }

    public var frozen: Int { inventory.parameters.filter { freeze.freezes($0.name) }.reduce(0) { $0 + $1.count } }
    public var trainable: Int { inventory.totalParameters - frozen + headParameters }
    public var schemaOK: Bool { inventory.schema?.ok ?? true }

    // MARK: Human output

    /// The listing as the notebook printed it: sections *Embedding Layer*, *First Encoder*,
    /// *Output Layer* (with `all`, every encoder layer and anything else), then totals.
    public func human(all: Bool) -> String {
        let parameters = inventory.parameters
        var out = "The BERT model has \(parameters.count) different named parameters.\n"
        if !checkpoint.details.isEmpty {
            out += "Format: \(checkpoint.format) (" + checkpoint.details.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ")\n"
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
            out += checkpoint.format == .gguf
                ? "\nOutput Layer\n\n(no pooler weights: not carried by GGUF, llama.cpp's converter drops pooler.dense)\n"
                : "\nOutput Layer\n\n(no pooler weights: a model saved with add_pooling_layer=False)\n"
        }
        let others = inGroup(.other)
        if all && !others.isEmpty { section("Other", others) }

        out += "\nTotals\n\n"
        out += row("all parameters", thousands(inventory.totalParameters)) + "\n"
        out += row("parameters in 2-D matrices", thousands(inventory.matrixParameters)) + "\n"
        for (group, count) in inventory.groups { out += row("  " + group.description, thousands(count)) + "\n" }
        for (dtype, bytes, tensors) in inventory.bytesByDType {
            out += row("bytes in \(dtype.rawValue) (\(tensors) tensors)", thousands(bytes)) + "\n"
        }
        if freeze != .none || headClasses != nil {
            out += "\nFine-tuning (\(freezeDescription))\n\n"
            if let n = headClasses { out += row("head parameters (\(n) classes, N*H + N)", thousands(headParameters)) + "\n" }
            out += row("trainable parameters", thousands(trainable)) + "\n"
            out += row("frozen parameters", thousands(frozen)) + "\n"
        }
        if !inventory.buffers.isEmpty {
            out += "\nBuffers (not parameters)\n\n"
            for b in inventory.buffers { out += row(b.name, Tensor.describe(shape: b.shape)) + "\n" }
        }
        if !inventory.ignored.isEmpty {
            out += "\nIgnored (not part of BertModel)\n\n"
            for t in inventory.ignored { out += row(t.name, Tensor.describe(shape: t.shape)) + "\n" }
        }
        if let stats {
            out += "\nStatistics\n\n"
            out += "\(pad("name", 55)) \(lpad("min", 12)) \(lpad("max", 12)) \(lpad("mean", 12)) \(lpad("std", 12)) \(lpad("nan", 8)) \(lpad("inf", 8))\n"
            for (p, s) in zip(parameters, stats) {
                out += "\(pad(p.name, 55)) \(lpad(short(s.min), 12)) \(lpad(short(s.max), 12)) \(lpad(short(s.mean), 12)) \(lpad(short(s.std), 12)) \(lpad(String(s.nanCount), 8)) \(lpad(String(s.infCount), 8))\n"
            }
        }
        out += "\n" + schemaSummary + "\n"
        if let schema = inventory.schema, !schema.ok {
            for fault in schema.faults { out += "  " + fault + "\n" }
        }
        return out
    }

    /// One line on the schema check.
    public var schemaSummary: String {
        guard let schema = inventory.schema else {
            return "Schema: not checked (no config.json beside the weights)"
        }
        let config = checkpoint.configPath ?? "config.json"
        if schema.ok { return "Schema: matches \(config)" }
        var parts: [String] = []
        if !schema.missing.isEmpty { parts.append("\(schema.missing.count) missing") }
        if !schema.unexpected.isEmpty { parts.append("\(schema.unexpected.count) unexpected") }
        if !schema.mismatched.isEmpty { parts.append("\(schema.mismatched.count) wrong-shaped") }
        return "Schema: does not match \(config): " + parts.joined(separator: ", ")
    }

    /// The first fault, for the one-line message on stderr.
    public var firstFault: String? { inventory.schema?.faults.first }

    var freezeDescription: String { "--freeze " + freeze.description }

    // MARK: JSON output

    public func json() -> String {
        func shape(_ s: [Int]) -> JSONValue { .array(s.map(JSONValue.int)) }
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
            if let stats, i < stats.count {
                let s = stats[i]
                members.append(("stats", .object([
                    ("min", .double(s.min)), ("max", .double(s.max)), ("mean", .double(s.mean)), ("std", .double(s.std)),
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
        var members: [(key: String, value: JSONValue)] = [
            ("model", .string(checkpoint.path)),
            ("format", .string(checkpoint.format.rawValue)),
            ("files", .array(checkpoint.files.map(JSONValue.string))),
        ]
        if !checkpoint.details.isEmpty {
            members.append(("format_details", .object(checkpoint.details.map { ($0.key, JSONValue.string($0.value)) })))
        }
        let root: JSONValue = .object(members + [
            ("named_parameters", .int(inventory.parameters.count)),
            ("total_parameters", .int(inventory.totalParameters)),
            ("matrix_parameters", .int(inventory.matrixParameters)),
            ("trainable", .int(trainable)),
            ("frozen", .int(frozen)),
            ("head_parameters", .int(headParameters)),
            ("freeze", .string(freeze.description)),
            ("pooler", .bool(inventory.hasPooler)),
            ("groups", .object(inventory.groups.map { ($0.group.description, JSONValue.int($0.count)) })),
            ("bytes_by_dtype", .object(inventory.bytesByDType.map { ($0.dtype.rawValue, JSONValue.int($0.bytes)) })),
            ("parameters", .array(parameters)),
            ("buffers", .array(inventory.buffers.map { tensorEntry($0.name, $0.tensor) })),
            ("ignored", .array(inventory.ignored.map { tensorEntry($0.name, $0) })),
            ("schema", schema),
        ])
        return root.serialized() + "\n"
    }
}

extension FreezeStrategy: CustomStringConvertible {
    /// The strategy as `--freeze` takes it (ranges expanded).
    public var description: String {
        switch self {
        case .none: return "none"
        case .all: return "all"
        case .prefixes(let list): return list.joined(separator: ",")
        }
    }

    /// Whether `prefix` covers `name` as whole name components.
    static func covers(_ prefix: String, _ name: String) -> Bool { name == prefix || name.hasPrefix(prefix + ".") }
}

/// Python's `"{:<55} {:>12}".format(name, value)`.
func row(_ name: String, _ value: String) -> String { pad(name, 55) + " " + lpad(value, 12) }

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}

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

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}
