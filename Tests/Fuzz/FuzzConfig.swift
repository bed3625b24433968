// Fuzz target: the JSON files beside the weights (Scripts/fuzz.sh config). The first byte
// picks the file: config.json (for the model or for the tokenizer), tokenizer_config.json or
// model.safetensors.index.json.
import Foundation

func fuzzConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let rest = UnsafeBufferPointer(start: data + 1, count: size - 1)
    switch data[0] % 4 {
    case 0:
        do {
            let config = try BertConfig.parse(UnsafeRawBufferPointer(rest))
            // What later code relies on once a config is accepted.
            guard config.hiddenSize > 0, config.numAttentionHeads > 0, config.hiddenSize % config.numAttentionHeads == 0,
                  config.vocabSize > 0, config.maxPositionEmbeddings > 0, config.typeVocabSize > 0,
                  config.numHiddenLayers > 0, config.intermediateSize > 0 else {
                fatalError("accepted a config later code cannot use: \(config)")
            }
        } catch is ConfigProblem {
        } catch {
            fatalError("config refused without a ConfigProblem: \(error)")
        }
    case 1, 2:
        // tokenizer_config.json, or config.json as the tokenizer reads it (max_position_embeddings),
        // beside a minimal vocabulary.
        let name = data[0] % 3 == 1 ? "tokenizer_config.json" : "config.json"
        let vocab = Array("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n##s\n".utf8)
        _ = vocab.withUnsafeBufferPointer { FuzzScratch.write($0, to: "tokenizer/vocab.txt") }
        _ = FuzzScratch.write(rest, to: "tokenizer/" + name)
        expectNamedFailure { _ = try BertTokenizer.load(FuzzScratch.directory + "/tokenizer") }
        try? FileManager.default.removeItem(atPath: FuzzScratch.directory + "/tokenizer/" + name)
    default:
        // An index whose shards may or may not exist in the scratch directory: only the index
        // rules (JSON, weight_map, names inside the directory) are reached.
        let path = FuzzScratch.write(rest, to: "model.safetensors.index.json")
        expectNamedFailure { _ = try ShardedSafetensors.readIndex(path) }
    }
    return 0
}
