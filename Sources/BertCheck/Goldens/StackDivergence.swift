import Foundation

/// Where a failing gate went wrong: one layer whose error jumps, or precision drift that grows
/// steadily through the stack. A layer is the first divergence only when its error grows well
/// above the stack's typical layer-to-layer growth (Docs/golden-format.md, "First divergence").

/// What `verify` concludes about a failure.
public enum Divergence: Equatable, Sendable {
    /// Every output check passed.
    case none
    /// The error starts at this output (a hidden state where it jumps, or an output after a
    /// passing stack, or the first failing output when the golden has no hidden states).
    case output(String)
    /// The hidden states fail with no single layer whose error jumps: each layer adds error of its
    /// own (fp16/bf16 arithmetic, quantized weights), "precision drift, no single layer".
    case precisionDrift
}

/// One hidden state's error and how much it grew over the previous one's.
public struct LayerError: Equatable, Sendable {
    /// `hidden_states.N`.
    public var name: String
    public var status: CheckStatus
    /// Mean abs error, raised to the stack's noise floor: what the growth is measured on.
    public var error: Double?
    /// `error / previous error`; for the embeddings, over the noise floor (the inputs are exact).
    public var growth: Double?
    /// The median growth of the other layers: what "typical" means for this one.
    public var typicalGrowth: Double?
    /// Growth at least `StackErrorGrowth.jumpFactor` times the typical growth.
    public var jumps: Bool
    /// The geometric mean growth of the layers after this one.
    public var growthAfter: Double?
    /// The growth from this layer to the last one.
    public var totalGrowthAfter: Double?

    /// How many layer-to-layer growths follow this one.
    public var layersAfter = 0

    /// A jump that starts the error: what follows only carries it (no steady growth), or grows it
    /// far less than the jump did while too few layers follow to call their growth steady. Three
    /// or more layers that keep growing it are each adding error of their own: a runtime computing
    /// in bf16 from layer 0 (OpenVINO's default) jumps there from exact embeddings, then grows
    /// ×0.95–1.37 a layer; that is drift. The embeddings' growth is over the noise floor, not over
    /// a layer, so only the first test applies to them.
    func startsError(isEmbeddings: Bool) -> Bool {
        guard jumps else { return false }
        if (growthAfter ?? 1) < StackErrorGrowth.steadyGrowth { return true }
        guard !isEmbeddings, layersAfter < 3, let growth, let totalGrowthAfter else { return false }
        return growth >= StackErrorGrowth.jumpFactor * max(totalGrowthAfter, 1)
    }
}

/// The error of every hidden state, in layer order, with the judgement.
public struct StackErrorGrowth: Equatable, Sendable {
    public var layers: [LayerError]
    /// Errors below this (1/1000 of the tightest atol in force, at most 1e-4) are round-off: growth is
    /// measured from here, so exact zeros before a broken layer do not make infinite ratios.
    public var noiseFloor: Double
    /// The median layer-to-layer growth of the whole stack.
    public var typicalGrowth: Double?

    /// A layer jumps when its growth is this many times the typical growth (and at least this).
    public static let jumpFactor = 8.0
    /// After a broken layer the error only propagates: LayerNorm keeps it from growing (measured
    /// ×0.91–1.01 per layer, geometric mean, on tiny-bert, MiniLM and a random bert-base with one
    /// layer × 1.02). When it keeps growing by this much per layer, every layer adds error of its
    /// own (fp16 weights measured ×1.07 on bert-base, ×1.2 on MiniLM, ×1.46 on tiny-bert).
    public static let steadyGrowth = 1.04

    /// The layer a failure starts at, or precision drift; `.none` when every output passes.
    /// `outputChecks` are the failing-or-passing output checks in stack order.
    static func divergence(outputChecks: [CheckResult], growth: StackErrorGrowth?) -> Divergence {
        guard let firstFailing = outputChecks.first(where: { $0.status == .fail }) else { return .none }
        guard let growth, growth.layers.count >= 2 else { return .output(firstFailing.name) }
        let failingLayer = growth.layers.firstIndex { $0.status == .fail }
        guard let failingLayer else {
            // Every hidden state passes: the error starts after the stack.
            return .output(firstFailing.name)
        }
        // A failing layer without figures (a wrong shape) cannot be drift.
        if growth.layers[failingLayer].error == nil { return .output(growth.layers[failingLayer].name) }
        // The last single-layer jump at or before the first failing layer explains the failure.
        let jump = growth.layers.indices[...failingLayer].last { growth.layers[$0].startsError(isEmbeddings: $0 == 0) }
        if let jump { return .output(growth.layers[jump].name) }
        return .precisionDrift
    }

    /// The growth of the hidden-state checks (layer order); nil with fewer than three (a
    /// one-layer model has no layer-to-layer growth to call typical).
    static func measure(_ layerChecks: [CheckResult]) -> StackErrorGrowth? {
        guard layerChecks.count >= 3 else { return nil }
        // A cosine-first gate may switch the elementwise bound off (--atol 1e9 or inf): the floor
        // then follows the loosest profile's atol (bf16, 0.1), or every error would sit under it.
        let tightestAtol = layerChecks.compactMap { $0.tolerance?.atol }.filter { $0 > 0 }.min() ?? 1e-4
        let floor = max(min(tightestAtol, ToleranceProfile.bf16.tolerance.atol) * 1e-3, 1e-12)
        var layers = layerChecks.map { check in
            LayerError(name: check.name, status: check.status, error: check.meanAbsErr.map { max($0, floor) },
                       growth: nil, typicalGrowth: nil, jumps: false, growthAfter: nil, totalGrowthAfter: nil)
        }
        for i in layers.indices {
            let previous = i == 0 ? floor : layers[i - 1].error
            if let error = layers[i].error, let previous { layers[i].growth = error / previous }
        }
        // Non-finite values appearing at a layer are a jump whatever the numbers say.
        let nonFinite = layerChecks.map { $0.nonFinite > 0 }
        // Growth between layers (not the embeddings' over the floor) makes "typical".
        let between = layers.indices.dropFirst().compactMap { i in layers[i].growth.map { (i, $0) } }
        for i in layers.indices {
            let others = between.filter { $0.0 != i }.map(\.1)
            let typical = others.isEmpty ? 1 : median(others)
            layers[i].typicalGrowth = typical
            if let growth = layers[i].growth {
                layers[i].jumps = growth >= jumpFactor * max(typical, 1)
            }
            let after = between.filter { $0.0 > i }.map(\.1)
            layers[i].layersAfter = after.count
            if nonFinite[i] && (i == 0 || !nonFinite[i - 1]) {
                layers[i].jumps = true // what follows a NaN says nothing about growth
            } else if !after.isEmpty {
                let logSum = after.map { log($0) }.reduce(0, +)
                layers[i].growthAfter = exp(logSum / Double(after.count))
                layers[i].totalGrowthAfter = exp(logSum)
            }
        }
        return StackErrorGrowth(layers: layers, noiseFloor: floor, typicalGrowth: between.isEmpty ? nil : median(between.map(\.1)))
    }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}
