import Foundation
import Testing
@testable import BertCheck

/// A golden recorded by Scripts/record_forward_goldens.py, and the comparison the tests make.
struct ForwardGolden {
    let path: String
    let tensors: [String: Tensor]
    let batch: Batch

    init(_ name: String) throws {
        path = TestPaths.goldens.appendingPathComponent("forward/\(name)").path
        let file = try SafetensorsFile.read(path)
        #expect(file.metadata["format"] == "bertcheck-golden/1")
        tensors = Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, $0) })
        guard let ids = tensors["input_ids"], let mask = tensors["attention_mask"], let types = tensors["token_type_ids"],
              ids.shape.count == 2 else { throw Problem("\(path): golden lacks its inputs") }
        batch = Batch(batch: ids.shape[0], seq: ids.shape[1], inputIds: ids.int64s().map { Int($0) },
                      attentionMask: mask.int64s().map { Int($0) }, tokenTypeIds: types.int64s().map { Int($0) })
    }

    var layerCount: Int { tensors.keys.filter { $0.hasPrefix("hidden_states.") }.count }

    /// Max |actual − golden| over real tokens of a [B, S, H] tensor (every position with
    /// `includePadding`).
    func maxError(hiddenTensor name: String, _ actual: [Float], includePadding: Bool = false) -> Float {
        guard let golden = tensors[name] else {
            Issue.record("\(path) has no \(name)")
            return .infinity
        }
        let expected = golden.floats()
        #expect(expected.count == actual.count, "\(name): \(actual.count) values, golden has \(expected.count)")
        guard expected.count == actual.count else { return .infinity }
        let hidden = expected.count / (batch.batch * batch.seq)
        var worst: Float = 0
        for t in 0..<(batch.batch * batch.seq) where includePadding || batch.attentionMask[t] == 1 {
            for c in 0..<hidden {
                let e = abs(actual[t * hidden + c] - expected[t * hidden + c])
                worst = max(worst, e.isNaN ? .infinity : e)
            }
        }
        return worst
    }

    func maxError(pooler actual: [Float]?) -> Float {
        guard let golden = tensors["pooler_output"]?.floats() else { return .infinity }
        guard let actual, actual.count == golden.count else { return .infinity }
        return zip(actual, golden).reduce(0) { worst, pair in
            let e = abs(pair.0 - pair.1)
            return max(worst, e.isNaN ? .infinity : e)
        }
    }

    /// Runs `model` on the golden's inputs and checks every recorded tensor within `tolerance`.
    /// Returns the largest error seen.
    @discardableResult
    func check(_ model: BertModel, tolerance: Float = 1e-5, includePadding: Bool = false,
               sourceLocation: SourceLocation = #_sourceLocation) throws -> Float {
        let withStates = layerCount > 0
        let output = try model.forward(batch, outputHiddenStates: withStates, computePadding: includePadding)
        var worst: Float = 0
        if withStates {
            #expect(layerCount == model.config.numHiddenLayers + 1, sourceLocation: sourceLocation)
            #expect(output.hiddenStates?.count == layerCount, sourceLocation: sourceLocation)
            for (n, state) in (output.hiddenStates ?? []).enumerated() {
                let e = maxError(hiddenTensor: "hidden_states.\(n)", state, includePadding: includePadding)
                #expect(e <= tolerance, "\(path): hidden_states.\(n) max abs error \(e)", sourceLocation: sourceLocation)
                worst = max(worst, e)
            }
        }
        let e = maxError(hiddenTensor: "last_hidden_state", output.lastHiddenState, includePadding: includePadding)
        #expect(e <= tolerance, "\(path): last_hidden_state max abs error \(e)", sourceLocation: sourceLocation)
        let p = maxError(pooler: output.poolerOutput)
        #expect(p <= tolerance, "\(path): pooler_output max abs error \(p)", sourceLocation: sourceLocation)
        return max(worst, e, p)
    }
}
