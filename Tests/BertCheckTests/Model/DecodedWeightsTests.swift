import Foundation
import Testing
@testable import BertCheck

/// Weights stored in another dtype than F32 (F16, BF16, GGML quants) are decoded when the forward
/// pass reads them, one layer's matrices at a time (`FloatWeight`, `WeightScratch`): the outputs
/// are those of a model whose every weight was converted to F32 at load, float for float, and the
/// F32 held stays below one layer's matrices plus the small tensors.
@Suite struct DecodedWeightsTests {
    static func golden(_ path: String) -> String { TestPaths.goldens.appendingPathComponent(path).path }

    /// Non-F32 checkpoints of several layers, heads and types (BF16 and F16 safetensors, llama.cpp
    /// conversions).
    static let checkpoints = ["checkpoints/tiny-bert-bf16", "checkpoints/heads/seqcls-f16", "gguf/tiny-h256-F16.gguf",
                              "gguf/tiny-h256-BF16.gguf", "gguf/tiny-h256-Q8_0.gguf", "gguf/tiny-h256-Q4_K_M.gguf",
                              "gguf/tiny-h256-Q5_1.gguf"]

    /// `checkpoint` with every real-valued tensor converted to F32 up front (what loading did
    /// before weights were decoded on use).
    static func convertedUpFront(_ checkpoint: Checkpoint) -> Checkpoint {
        let tensors = checkpoint.tensors.map { tensor -> Tensor in
            guard tensor.dtype.isRealValued, tensor.dtype != .F32 else { return tensor }
            return f32Tensor(tensor.floats(), like: tensor)
        }
        return Checkpoint(path: checkpoint.path, format: checkpoint.format, files: checkpoint.files, tensors: tensors,
                          config: checkpoint.config, configPath: checkpoint.configPath, tokenizer: checkpoint.tokenizer,
                          details: checkpoint.details, dequantized: checkpoint.dequantized, notCarried: checkpoint.notCarried)
    }

    static func f32Tensor(_ values: [Float], like tensor: Tensor, dtype: DType = .F32) -> Tensor {
        let width = dtype == .F32 ? 4 : 2
        let owned = OwnedBytes(count: values.count * width)
        for (i, value) in values.enumerated() {
            if dtype == .F32 {
                owned.pointer.storeBytes(of: value.bitPattern, toByteOffset: i * 4, as: UInt32.self)
            } else {
                owned.pointer.storeBytes(of: UInt16(value.bitPattern >> 16), toByteOffset: i * 2, as: UInt16.self)
            }
        }
        return Tensor(name: tensor.name, dtype: dtype, shape: tensor.shape, data: owned.bytes, storage: owned,
                      storedName: tensor.storedName)
    }

    /// Three batches of in-vocabulary ids (the first again last: the scratch has moved on since).
    static func batches(_ config: BertConfig) -> [Batch] {
        func batch(_ rows: Int, _ seq: Int, seed: Int) -> Batch {
            let ids = (0..<(rows * seq)).map { ($0 * 7 + seed * 13 + 1) % config.vocabSize }
            let mask = (0..<(rows * seq)).map { $0 % seq < seq - $0 / seq ? 1 : 0 }
            let types = (0..<(rows * seq)).map { $0 % seq >= seq / 2 ? min(1, config.typeVocabSize - 1) : 0 }
            return Batch(batch: rows, seq: seq, inputIds: ids, attentionMask: mask, tokenTypeIds: types)
        }
        let first = batch(2, 7, seed: 1)
        return [first, batch(1, 11, seed: 2), first]
    }

    static func bits(_ output: BertOutput) -> [[UInt32]] {
        var all = [output.lastHiddenState.map(\.bitPattern), (output.poolerOutput ?? []).map(\.bitPattern)]
        all += (output.hiddenStates ?? []).map { $0.map(\.bitPattern) }
        all += output.headOutputs.keys.sorted().map { key in output.headOutputs[key]!.values.map(\.bitPattern) }
        return all
    }

    static func expectSameOutputs(_ checkpoint: Checkpoint, _ label: String) throws {
        let onUse = try BertModel(checkpoint: checkpoint, threads: 2)
        let upFront = try BertModel(checkpoint: convertedUpFront(checkpoint), threads: 2)
        #expect(upFront.convertedWeightBytes == 0)
        for batch in batches(onUse.config) {
            let a = try onUse.forward(batch, outputHiddenStates: true), b = try upFront.forward(batch, outputHiddenStates: true)
            #expect(!a.lastHiddenState.isEmpty)
            #expect(bits(a) == bits(b), "\(label): decoded on use differs from converted at load")
        }
    }

    @Test(arguments: checkpoints)
    func outputsEqualThoseOfWeightsConvertedAtLoad(path: String) throws {
        try Self.expectSameOutputs(loadCheckpoint(Self.golden(path)), path)
    }

    /// A masked-LM head's decoder is the word embeddings (tied), read whole as a matrix while the
    /// embeddings gather rows: both paths of one BF16 weight.
    @Test func aTiedMaskedLMDecoderOfBF16WeightsIsTheSame() throws {
        let f32 = try loadCheckpoint(Self.golden("checkpoints/heads/mlm"))
        let bf16 = f32.tensors.map { $0.dtype == .F32 ? Self.f32Tensor($0.floats(), like: $0, dtype: .BF16) : $0 }
        let checkpoint = Checkpoint(path: f32.path, format: f32.format, files: f32.files, tensors: bf16, config: f32.config,
                                    configPath: f32.configPath, tokenizer: f32.tokenizer)
        #expect(try BertModel(checkpoint: checkpoint).taskHead == .maskedLM)
        try Self.expectSameOutputs(checkpoint, "mlm BF16")
    }

    /// The F32 held after passes: at most every non-F32 tensor but the word embeddings and all
    /// layers' matrices except one, so a model converted whole at load (which also holds the word
    /// embeddings and every layer) fails; at least one layer's matrices, which the pass decoded.
    @Test(arguments: checkpoints)
    func heldF32StaysBelowOneLayerAndTheSmallTensors(path: String) throws {
        let checkpoint = try loadCheckpoint(Self.golden(path))
        let model = try BertModel(checkpoint: checkpoint, threads: 2)
        let config = model.config
        let layerMatrices = 4 * config.hiddenSize * config.hiddenSize + 2 * config.hiddenSize * config.intermediateSize
        // F32 tensors are used in place: only the others can be converted.
        let converted = checkpoint.tensors.filter { $0.dtype.isRealValued && $0.dtype != .F32 }
        let total = converted.reduce(0) { $0 + $1.elementCount }
        let word = try #require(converted.first { $0.name.hasSuffix("word_embeddings.weight") })
        let bound = 4 * (total - word.elementCount - (config.numHiddenLayers - 1) * layerMatrices)
        #expect(model.convertedWeightBytes < bound)
        for batch in Self.batches(config) { _ = try model.forward(batch) }
        let held = model.convertedWeightBytes
        #expect(held <= bound, "\(path): \(held) bytes of F32 held, bound \(bound)")
        #expect(held >= 4 * layerMatrices, "\(path): \(held) bytes held, one layer's matrices are \(4 * layerMatrices)")
    }

    /// An F32 checkpoint is used in place: nothing converted, before or after a pass.
    @Test(arguments: ["gguf/tiny-h256-F32.gguf", "checkpoints/tiny-bert"])
    func f32WeightsAreNotCopied(path: String) throws {
        let model = try BertModel(checkpoint: loadCheckpoint(Self.golden(path)), threads: 2)
        _ = try model.forward(Self.batches(model.config)[0])
        #expect(model.convertedWeightBytes == 0)
    }
}
