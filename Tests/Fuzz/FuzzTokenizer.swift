// Fuzz target: the tokenizer on arbitrary bytes (Scripts/fuzz.sh tokenizer). The first byte
// picks what the rest is: text (valid UTF-8 or not) for an uncased or a cased tokenizer, single or
// paired, with or without truncation; a texts file (`tokenize --file`); or a vocab.txt.
import Foundation

/// all-MiniLM-L6-v2's tokenizer (uncased) and the committed cased vocabulary without lower-casing.
let fuzzTokenizers: [BertTokenizer] = {
    let env = ProcessInfo.processInfo.environment
    let miniLM = env["BERTCHECK_MINILM"] ?? (NSHomeDirectory() + "/.cache/bertcheck/all-MiniLM-L6-v2")
    var cased = BertTokenizer.Options()
    cased.lowercase = false
    do {
        return [try BertTokenizer.load(miniLM),
                try BertTokenizer(vocabularyPath: "goldens/tokenizer/cased-vocab.txt", options: cased)]
    } catch {
        fatalError("fuzz harness needs the MiniLM vocabulary (Scripts/fetch-model.sh) and goldens/tokenizer: \(error)")
    }
}()

func fuzzTokenizer(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 2 else { return 0 }
    let mode = data[0], lengthByte = data[1]
    let rest = UnsafeBufferPointer(start: data + 2, count: size - 2)
    switch mode % 8 {
    case 6:
        // A texts file: every line valid UTF-8 or a FileError naming it, and each line tokenizes.
        let path = FuzzScratch.write(rest, to: "texts.txt")
        expectNamedFailure {
            for line in try TextLines.read(path) { check(fuzzTokenizers[0], line, pair: nil, maxLength: nil) }
        }
    case 7:
        // A vocabulary: loads or is refused with a reason; a loaded one tokenizes.
        let path = FuzzScratch.write(rest, to: "vocab.txt")
        expectNamedFailure {
            let tokenizer = try BertTokenizer.load(path)
            check(tokenizer, "Hello, wörld! unaffable 日本 [CLS] [MASK]", pair: "x", maxLength: nil)
        }
    default:
        let tokenizer = fuzzTokenizers[Int(mode & 1)]
        // Invalid bytes become U+FFFD, which the tokenizer drops, as Python's errors="replace" does.
        let bytes = Array(rest)
        let split = bytes.firstIndex(of: 0xFF)
        let text = String(decoding: split.map { bytes[..<$0] } ?? bytes[...], as: UTF8.self)
        let pair = (mode & 2 != 0) ? split.map { String(decoding: bytes[($0 + 1)...], as: UTF8.self) } : nil
        // Lengths the CLI accepts: room for the special tokens.
        let maxLength = (mode & 4 != 0) ? 4 + Int(lengthByte % 64) : nil
        check(tokenizer, text, pair: pair, maxLength: maxLength)
    }
    return 0
}

/// Invariants of any encoding: parallel arrays, ids inside the vocabulary matching their tokens,
/// [CLS] first and [SEP] last, at most `maxLength` ids, type ids 0 then 1.
func check(_ tokenizer: BertTokenizer, _ text: String, pair: String?, maxLength: Int?) {
    let encoding = tokenizer.encode(text, pair: pair, maxLength: maxLength)
    let ids = encoding.inputIds
    guard ids.count == encoding.tokens.count, ids.count == encoding.tokenTypeIds.count else {
        fatalError("encoding arrays differ in length")
    }
    guard ids.first == tokenizer.clsId, ids.last == tokenizer.sepId, ids.count >= 2 else { fatalError("no [CLS] ... [SEP]") }
    if let maxLength, ids.count > maxLength { fatalError("\(ids.count) ids exceed max length \(maxLength)") }
    for (id, token) in zip(ids, encoding.tokens) {
        guard id >= 0, id < tokenizer.vocabularySize, tokenizer.token(for: id) == token else {
            fatalError("id \(id) does not match token \(token)")
        }
    }
    guard encoding.tokenTypeIds == encoding.tokenTypeIds.sorted(), encoding.tokenTypeIds.allSatisfy({ $0 == 0 || $0 == 1 }),
          pair != nil || encoding.tokenTypeIds.allSatisfy({ $0 == 0 }) else {
        fatalError("token type ids not 0...0 1...1")
    }
}
