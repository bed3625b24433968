/// What `bertcheck params` computes: named parameters, totals, the schema check against
/// config.json, fine-tuning counts and per-tensor statistics. BertCheckRendering prints it.

/// Why a fine-tuning setup (a freeze strategy, a classification head) cannot be parsed or does not
/// fit the checkpoint. The CLI words these as problems with `--freeze` and `--head`.
public enum FineTuningProblem: Error, CustomStringConvertible, Equatable {
    /// The strategy's comma-separated list has an empty item.
    case emptyFreezeItem
    /// An item is not a dotted name prefix (an empty component).
    case notANamePrefix(String)
    /// An item ends in `A-B` that is not a range of layer numbers with 0 <= A <= B.
    case notALayerRange(String)
    /// A prefix that covers no parameter of the checkpoint (a typo would freeze nothing).
    case prefixMatchesNothing(String, checkpoint: String)
    case headWithoutClasses(Int)
    /// No config and no word embeddings: N·H + N cannot be counted.
    case hiddenSizeUnknown
    /// N·H + N, or the trainable total with it, overflows an Int.
    case headTooLarge(classes: Int, hiddenSize: Int)

    public var description: String {
        switch self {
        case .emptyFreezeItem: return "empty item in the list"
        case let .notANamePrefix(item): return "\"\(item)\" is not a parameter name prefix"
        case let .notALayerRange(item): return "\"\(item)\" is not a range A-B with 0 <= A <= B"
        case let .prefixMatchesNothing(prefix, checkpoint): return "\"\(prefix)\" matches no parameter of \(checkpoint)"
        case .headWithoutClasses: return "the head needs at least 1 class"
        case .hiddenSizeUnknown: return "the hidden size is unknown (no config.json and no word embeddings to infer it from)"
        case let .headTooLarge(classes, hiddenSize):
            return "a head of \(classes) classes on hidden size \(hiddenSize) has more parameters than can be counted"
        }
    }
}

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
    /// expands to every number from A to B (`embeddings,encoder.layer.0-7`). Throws
    /// `FineTuningProblem`.
    public static func parse(_ text: String) throws -> FreezeStrategy {
        let trimmed = text.trimmingWhitespace()
        if trimmed == "none" { return .none }
        if trimmed == "all" { return .all }
        var prefixes: [String] = []
        for rawItem in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let item = String(rawItem).trimmingWhitespace()
            guard !item.isEmpty else { throw FineTuningProblem.emptyFreezeItem }
            let components = item.split(separator: ".", omittingEmptySubsequences: false)
            guard let last = components.last, !components.contains(where: \.isEmpty) else {
                throw FineTuningProblem.notANamePrefix(item)
            }
            let bounds = last.split(separator: "-", omittingEmptySubsequences: false)
            if bounds.count == 2 {
                guard let low = Int(bounds[0]), let high = Int(bounds[1]), low >= 0, low <= high, high - low < 100_000 else {
                    throw FineTuningProblem.notALayerRange(item)
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

    /// Whether the strategy freezes the parameter called `name` (a `BertModel` name).
    public func freezes(_ name: String) -> Bool {
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

    /// Throws `FineTuningProblem` when the strategy or the head does not fit the checkpoint.
    public init(checkpoint: Checkpoint, freeze: FreezeStrategy = .none, headClasses: Int? = nil, computeStats: Bool = false) throws {
        self.checkpoint = checkpoint
        inventory = ParameterInventory(checkpoint: checkpoint)
        self.freeze = freeze
        if let headClasses, headClasses < 1 { throw FineTuningProblem.headWithoutClasses(headClasses) }
        self.headClasses = headClasses
        if case .prefixes(let list) = freeze {
            for prefix in list where !(inventory.parameters + inventory.headParameters).contains(where: { FreezeStrategy.covers(prefix, $0.name) }) {
                throw FineTuningProblem.prefixMatchesNothing(prefix, checkpoint: checkpoint.path)
            }
        }
        if let headClasses {
            guard let h = ParamsReport.hiddenSize(checkpoint, inventory) else {
                throw FineTuningProblem.hiddenSizeUnknown
            }
            // N·H + N, and trainable = total - frozen + head, must fit in an Int: N comes from the
            // command line and H from config.json, so neither is trusted.
            let (weights, o1) = headClasses.multipliedReportingOverflow(by: h)
            let (head, o2) = weights.addingReportingOverflow(headClasses)
            let (_, o3) = head.addingReportingOverflow(inventory.totalParameters)
            guard !o1, !o2, !o3 else {
                throw FineTuningProblem.headTooLarge(classes: headClasses, hiddenSize: h)
            }
        }
        stats = computeStats ? inventory.parameters.map { TensorStats($0.tensor) } : nil
    }

    /// H: from config.json, else from the word embeddings' width.
    public var hiddenSize: Int? { ParamsReport.hiddenSize(checkpoint, inventory) }

    static func hiddenSize(_ checkpoint: Checkpoint, _ inventory: ParameterInventory) -> Int? {
        if let h = checkpoint.config?.hiddenSize { return h }
        return inventory.parameters.first { $0.name == ParameterName(.wordEmbeddings, leaf: "weight").description }?.shape.last
    }

    /// N·H + N for a head of N classes on the pooled output.
    public var headParameters: Int {
        guard let n = headClasses, let h = hiddenSize else { return 0 }
        return n * h + n
    }

    /// The checkpoint's own task head, counted as part of the model unless `--head` puts a new
    /// one in its place.
    public var storedHead: [NamedParameter] { headClasses == nil ? inventory.headParameters : [] }
    public var storedHeadParameters: Int { storedHead.reduce(0) { $0 + $1.count } }

    /// Frozen elements: the strategy's `BertModel` parameters, and head parameters a prefix names
    /// (`all` freezes the model, never the head: only the head trains).
    public var frozen: Int {
        let model = inventory.parameters.filter { freeze.freezes($0.name) }.reduce(0) { $0 + $1.count }
        guard case .prefixes = freeze else { return model }
        return model + storedHead.filter { freeze.freezes($0.name) }.reduce(0) { $0 + $1.count }
    }
    public var trainable: Int { inventory.totalParameters + storedHeadParameters - frozen + headParameters }
    public var schemaOK: Bool { inventory.schema?.ok ?? true }

    /// The first schema fault (nil when the schema matches or was not checked).
    public var firstFault: String? { inventory.schema?.faults.first }
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

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}
