import Foundation
@testable import BertCheck

/// Checkpoints whose weights come from splitmix64, the same scheme
/// Scripts/record_forward_goldens.py implements, so the tests rebuild exactly the weights the
/// transformers reference ran (no 440 MB file committed).
enum SyntheticBert {
    static let bertBase = Shape(vocab: 30522, hidden: 768, layers: 12, heads: 12, intermediate: 3072,
                                maxPositions: 512, typeVocab: 2, act: "gelu", eps: 1e-12)
    static func tiny(_ act: String) -> Shape {
        Shape(vocab: 99, hidden: 32, layers: 2, heads: 4, intermediate: 64, maxPositions: 40, typeVocab: 3, act: act, eps: 1e-5)
    }

    struct Shape {
        var vocab, hidden, layers, heads, intermediate, maxPositions, typeVocab: Int
        var act: String
        var eps: Double

        var configJSON: String {
            """
            {"vocab_size": \(vocab), "hidden_size": \(hidden), "num_hidden_layers": \(layers), \
            "num_attention_heads": \(heads), "intermediate_size": \(intermediate), "hidden_act": "\(act)", \
            "max_position_embeddings": \(maxPositions), "type_vocab_size": \(typeVocab), \
            "layer_norm_eps": \(eps), "pad_token_id": 0, "model_type": "bert", "architectures": ["BertModel"]}
            """
        }

        /// Canonical names and shapes; the position in this list (from 1) is the tensor's seed.
        var parameters: [(String, [Int])] {
            var list: [(String, [Int])] = [
                ("embeddings.word_embeddings.weight", [vocab, hidden]),
                ("embeddings.position_embeddings.weight", [maxPositions, hidden]),
                ("embeddings.token_type_embeddings.weight", [typeVocab, hidden]),
                ("embeddings.LayerNorm.weight", [hidden]),
                ("embeddings.LayerNorm.bias", [hidden]),
            ]
            for n in 0..<layers {
                let p = "encoder.layer.\(n)."
                for projection in ["query", "key", "value"] {
                    list.append((p + "attention.self.\(projection).weight", [hidden, hidden]))
                    list.append((p + "attention.self.\(projection).bias", [hidden]))
                }
                list += [
                    (p + "attention.output.dense.weight", [hidden, hidden]), (p + "attention.output.dense.bias", [hidden]),
                    (p + "attention.output.LayerNorm.weight", [hidden]), (p + "attention.output.LayerNorm.bias", [hidden]),
                    (p + "intermediate.dense.weight", [intermediate, hidden]), (p + "intermediate.dense.bias", [intermediate]),
                    (p + "output.dense.weight", [hidden, intermediate]), (p + "output.dense.bias", [hidden]),
                    (p + "output.LayerNorm.weight", [hidden]), (p + "output.LayerNorm.bias", [hidden]),
                ]
            }
            list += [("pooler.dense.weight", [hidden, hidden]), ("pooler.dense.bias", [hidden])]
            return list
        }
    }

    /// Element i is mix(seed + (i + 1)·φ) mapped to [-1, 1): top 24 bits / 2^24 · 2 − 1 (exact in Float).
    static func uniform(seed: UInt64, count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { out, initialized in
            var state = seed
            for i in 0..<count {
                state = state &+ 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                z = z ^ (z >> 31)
                out[i] = Float(z >> 40) * 0x1p-24 * 2 - 1
            }
            initialized = count
        }
    }

    /// Writes config.json and model.safetensors (dtype F32, F16 or BF16) into `directory`.
    static func write(_ shape: Shape, scale: Float, dtype: DType = .F32, pooler: Bool = true,
                      to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try shape.configJSON.write(to: directory.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        var tensors: [Tensor] = []
        for (index, (name, dims)) in shape.parameters.enumerated() {
            if !pooler && name.hasPrefix("pooler.") { continue }
            let u = uniform(seed: UInt64(index + 1), count: dims.reduce(1, *))
            let values = name.hasSuffix("LayerNorm.weight") ? u.map { $0 * 0.1 + 1 } : u.map { $0 * scale }
            switch dtype {
            case .F16:
                let bits = values.map { Float16($0).bitPattern }
                tensors.append(bits.withUnsafeBytes { Tensor.makeTensor(name: name, dtype: .F16, shape: dims, bytes: $0) })
            case .BF16:
                // Round to nearest even, as torch's .to(torch.bfloat16) does.
                let bits = values.map { v -> UInt16 in
                    let b = v.bitPattern
                    return UInt16(truncatingIfNeeded: (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16)
                }
                tensors.append(bits.withUnsafeBytes { Tensor.makeTensor(name: name, dtype: .BF16, shape: dims, bytes: $0) })
            default:
                tensors.append(Tensor.makeTensor(name: name, floats: values, shape: dims))
            }
        }
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: directory.appendingPathComponent("model.safetensors").path)
    }
}
