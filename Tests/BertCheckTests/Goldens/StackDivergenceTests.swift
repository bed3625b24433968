import Foundation
import Testing
@testable import BertCheck

/// A layer is the first divergence only when its error jumps; steady growth is precision drift
/// (issue 15, item 5). Figures shaped like measured gates (Docs/ci-gating.md).
@Suite struct StackDivergenceTests {
    /// hidden_states.0…N with these mean abs errors; a check fails when its max abs (10 × the
    /// mean) is beyond atol.
    static func layers(_ means: [Double], atol: Double = 1e-4) -> [CheckResult] {
        means.enumerated().map { i, mean in
            var check = CheckResult(name: "hidden_states.\(i)", status: mean * 10 > atol ? .fail : .pass)
            check.meanAbsErr = mean
            check.maxAbsErr = mean * 10
            check.tolerance = Tolerance(atol: atol, rtol: atol)
            return check
        }
    }

    static func divergence(_ checks: [CheckResult]) -> Divergence {
        StackErrorGrowth.divergence(outputChecks: checks, growth: StackErrorGrowth.measure(checks))
    }

    @Test func oneBrokenLayerIsNamed() {
        // MiniLM with encoder.layer.3.output.dense.weight × 1.02 (fp32 noise, then a jump).
        let checks = Self.layers([1.8e-8, 1.24e-7, 1.72e-7, 2.0e-7, 3.6e-3, 3.38e-3, 3.1e-3])
        #expect(Self.divergence(checks) == .output("hidden_states.4"))
        let growth = StackErrorGrowth.measure(checks)
        #expect(growth?.layers[4].jumps == true)
        #expect(growth?.layers[1].jumps == false, "×6.9 in round-off is not a jump next to ×1.2 typical")
    }

    @Test func aBrokenLayerWhoseErrorThenHoldsSteadyIsNamed() {
        // The random bert-base with encoder layer 5 × 1.02: ×0.99–1.02 per layer after it.
        let checks = Self.layers([0, 0, 0, 0, 0, 0, 1.317e-2, 1.307e-2, 1.319e-2, 1.351e-2, 1.374e-2, 1.381e-2, 1.362e-2])
        #expect(Self.divergence(checks) == .output("hidden_states.6"))
    }

    @Test func aJumpFarAboveWhatFollowsIsNamedEvenIfTheErrorGrowsAfter() {
        // tiny-bert with encoder.layer.1.intermediate.dense.weight + 0.05: ×63,000 at layer 1,
        // then ×1.05 at the last layer.
        let checks = Self.layers([3.07e-8, 1.736e-7, 1.101e-2, 1.152e-2])
        #expect(Self.divergence(checks) == .output("hidden_states.2"))
    }

    @Test func bf16FromLayer0AfterExactEmbeddingsIsDrift() {
        // OpenVINO's default bf16 inference on MiniLM (Docs/ci-gating.md): the embeddings exact,
        // ×10,496 over the floor at layer 0, then ×1.37, 0.95, 1.2, 1.1, 1.15 a layer. Each layer
        // adds error of its own: no single layer, though layer 0's jump is 8× the growth after it.
        var means = [0.0, 1.0496e-3]
        for growth in [1.37, 0.95, 1.2, 1.1, 1.15] { means.append(means[means.count - 1] * growth) }
        #expect(Self.divergence(Self.layers(means)) == .precisionDrift)
        // The same jump with the later layers only carrying it is that layer.
        #expect(Self.divergence(Self.layers([0, 1.0496e-3, 1.03e-3, 1.01e-3, 1.02e-3, 1.0e-3, 0.99e-3])) == .output("hidden_states.1"))
    }

    @Test func exactZerosBeforeTheBrokenLayerDoNotMakeInfiniteGrowth() {
        // A golden recorded by bertcheck itself: the layers before the broken one match exactly.
        let checks = Self.layers([0, 0, 0, 0, 0, 2e-2, 2.1e-2, 2.0e-2, 1.9e-2])
        #expect(Self.divergence(checks) == .output("hidden_states.5"))
        #expect(StackErrorGrowth.measure(checks)?.layers.allSatisfy { $0.growth?.isFinite ?? true } == true)
    }

    @Test func steadyGrowthIsPrecisionDrift() {
        // MiniLM in fp16 gated at fp32: every layer fails, growing ×1.0–1.6 per layer.
        #expect(Self.divergence(Self.layers([1.05e-4, 1.71e-4, 2.13e-4, 2.45e-4, 3.05e-4, 3.07e-4, 3.16e-4])) == .precisionDrift)
        // A random bert-base stored in fp16, gated at fp32: slow growth (×1.03–1.18) from the
        // embeddings on.
        #expect(Self.divergence(Self.layers([1.594e-4, 1.877e-4, 2.071e-4, 2.286e-4, 2.437e-4, 2.65e-4, 2.816e-4, 2.892e-4,
                                             3.069e-4, 3.246e-4, 3.45e-4, 3.632e-4, 3.725e-4])) == .precisionDrift)
        // bf16 arithmetic from layer 0 on (the embeddings in fp32): a big step at layer 0, then
        // steady growth that crosses the tolerance at layer 2. No single layer.
        #expect(Self.divergence(Self.layers([1e-8, 3e-6, 6e-6, 1.1e-5, 2e-5, 3.6e-5, 6.5e-5])) == .precisionDrift)
    }

    /// A cosine-first gate (`--atol 1e9`, or inf) fails on cosine alone: the growth is still
    /// measured, not flattened under a floor of atol/1000.
    @Test func driftAndJumpAreToldApartWithTheElementwiseBoundOff() {
        for atol in [1e9, Double.infinity] {
            // The layers whose cosine falls under the floor: those with a mean error of 1e-3 or more.
            func failing(_ means: [Double]) -> [CheckResult] {
                Self.layers(means, atol: atol).map { check in
                    var check = check
                    check.status = (check.meanAbsErr ?? 0) >= 1e-3 ? .fail : .pass
                    return check
                }
            }
            // ORT per-tensor int8 on MiniLM (29 November 2026): ×5 at layer 0, then ×0.9–1.15.
            let int8 = StackErrorGrowth.measure(failing([0.02199, 0.113, 0.113, 0.1249, 0.1438, 0.1254, 0.1134]))
            #expect(int8?.layers[1].growth.map { abs($0 - 0.113 / 0.02199) < 1e-9 } == true, "atol \(atol)")
            #expect(Self.divergence(failing([0.02199, 0.113, 0.113, 0.1249, 0.1438, 0.1254, 0.1134])) == .precisionDrift)
            #expect(Self.divergence(failing([1.8e-8, 1.24e-7, 1.72e-7, 2.0e-7, 3.6e-3, 3.38e-3, 3.1e-3])) == .output("hidden_states.4"))
        }
    }

    @Test func aBrokenLayerInsideDriftIsStillNamed() {
        // An fp16 candidate (drift ×1.2) with one layer broken: the jump stands out.
        let checks = Self.layers([2e-6, 2.4e-6, 2.9e-6, 3.4e-6, 4e-4, 4.1e-4, 4.2e-4], atol: 1e-3)
        #expect(Self.divergence(checks) == .output("hidden_states.4"))
    }

    @Test func aFailureAfterAPassingStackIsThatOutput() {
        var checks = Self.layers([1e-8, 2e-8, 3e-8])
        var pooler = CheckResult(name: "pooler_output", status: .fail)
        pooler.meanAbsErr = 0.5
        checks.append(pooler)
        #expect(Self.divergence(checks) == .output("pooler_output"))
        // Without hidden states there is nothing to judge growth on: the first failing output.
        #expect(Self.divergence([pooler]) == .output("pooler_output"))
        #expect(Self.divergence(Self.layers([1e-8, 2e-8])) == .none)
        // A one-layer model: no typical growth to judge a jump by, the first failing layer is named.
        #expect(Self.divergence(Self.layers([1e-6, 3e-5])) == .output("hidden_states.1"))
    }

    @Test func nonFiniteValuesAppearingAtALayerAreItsDivergence() {
        var checks = Self.layers([1e-6, 1.2e-6, 1.5e-6, 1.8e-6])
        checks[2].nonFinite = 4
        checks[2].status = .fail
        checks[3].nonFinite = 9
        checks[3].status = .fail
        #expect(Self.divergence(checks) == .output("hidden_states.2"))
    }

    @Test func aLayerWithoutFiguresIsNamedNotDrift() {
        var checks = Self.layers([1e-8, 2e-8, 3e-8])
        checks[1] = CheckResult(name: "hidden_states.1", status: .fail, message: "shape [1] differs")
        #expect(Self.divergence(checks) == .output("hidden_states.1"))
    }

    @Test func perRowResultsNameTheFailingRow() {
        // Two rows of three tokens, hidden 2; only row 1, position 2 is off.
        let expected = FloatArray(shape: [2, 3, 2], values: [Float](repeating: 0.5, count: 12))
        var values = expected.values
        values[(1 * 3 + 2) * 2 + 1] += 0.25
        let result = compareTensor(name: "hidden_states.1", expected: expected, actual: FloatArray(shape: [2, 3, 2], values: values),
                                   layout: TokenLayout(batch: 2, seq: 3, mask: [1, 1, 0, 1, 1, 1], tokenText: { "t\($0)\($1)" }),
                                   perToken: true, tolerance: Tolerance(atol: 1e-4, rtol: 0), minCosine: 0.9999)
        #expect(result.rows.map(\.row) == [0, 1])
        #expect(result.rows.map(\.status) == [.pass, .fail])
        #expect(result.rows[0].compared == 4 && result.rows[1].compared == 6, "padding is not compared")
        #expect(result.rows[1].maxAbsErr == 0.25 && result.rows[0].maxAbsErr == 0)
        #expect(result.rows[1].worst?.position == 2 && result.rows[1].worst?.token == "t12")
        #expect((result.rows[1].minCosine ?? 1) < 0.9999 && (result.rows[0].minCosine ?? 0) > 1 - 1e-12)
        // The tensor's figures are its rows' together.
        #expect(result.compared == 10 && result.mismatched == 1 && result.maxAbsErr == 0.25)
        #expect(result.worst == result.rows[1].worst)
    }

    @Test func onlyPairRowsFailingIsSaid() throws {
        let golden = try GoldenFile.read(GoldenFormatTests.tinyGolden)
        let pairRows = (golden.metadata.texts ?? []).indices.filter { golden.metadata.texts?[$0].pair != nil }
        #expect(!pairRows.isEmpty)
        // Every token of the pair rows off a little, in every output: the single texts pass.
        var outputs = golden.outputs
        for name in outputs.tensors.keys {
            guard var tensor = outputs[name] else { continue }
            let perRow = tensor.values.count / golden.batch
            for row in pairRows { for i in (row * perRow)..<((row + 1) * perRow) { tensor.values[i] += 0.01 } }
            outputs[name] = tensor
        }
        let report = verifyGolden(golden, outputs: outputs)
        #expect(report.status == .fail)
        #expect(report.notes.contains { $0.hasPrefix("only the text-pair rows fail") && $0.contains("token_type_ids") }, "\(report.notes)")
        // A failure in a single text says nothing of the kind.
        var single = golden.outputs
        var last = single.lastHiddenState
        let singleRow = (0..<golden.batch).first { !pairRows.contains($0) } ?? 0
        last.values[singleRow * golden.seq * golden.hidden] += 1
        single.lastHiddenState = last
        #expect(!verifyGolden(golden, outputs: single).notes.contains { $0.hasPrefix("only the text-pair rows") })
    }
}
