import Foundation

/// A model directory holding both vocab.txt and tokenizer.json: they must give every id the same
/// token, or the tokenizer bertcheck uses is not the one the model was saved with.
public struct VocabularyFilesDisagree: Error, CustomStringConvertible, Equatable {
    public var vocabTxt: String
    public var tokenizerJSON: String
    public var detail: String

    public var description: String { "\(vocabTxt) and \(tokenizerJSON) disagree: \(detail)" }
}

/// Throws `FileError(vocab.txt, VocabularyFilesDisagree)` when the directory's vocab.txt and
/// tokenizer.json (both present) map some id to different tokens or hold different counts;
/// returns vocab.txt's vocabulary when both were read (nil otherwise), so it is not read again.
@discardableResult
func checkVocabularyFilesAgree(directory: String) throws -> Vocabulary? {
    let text = (directory as NSString).appendingPathComponent("vocab.txt")
    let json = (directory as NSString).appendingPathComponent("tokenizer.json")
    guard pathExists(text), pathExists(json) else { return nil }
    let fromText = try Vocabulary(contentsOf: text), fromJSON = try Vocabulary(tokenizerJSON: json)
    func fail(_ detail: String) -> FileError { FileError(text, VocabularyFilesDisagree(vocabTxt: text, tokenizerJSON: json, detail: detail)) }
    for id in 0..<min(fromText.tokens.count, fromJSON.tokens.count) where fromText.tokens[id] != fromJSON.tokens[id] {
        throw fail("id \(id) is \(fromText.tokens[id].map(StrictJSON.quote) ?? "nothing") in vocab.txt but \(fromJSON.tokens[id].map(StrictJSON.quote) ?? "nothing") in tokenizer.json")
    }
    if fromText.tokens.count != fromJSON.tokens.count {
        throw fail("vocab.txt has \(fromText.tokens.count) tokens, tokenizer.json \(fromJSON.tokens.count)")
    }
    return fromText
}

/// The model's directory (or the named weight file's) when it holds a vocabulary, vocab.txt or
/// tokenizer.json: the tokenizer loads from there with tokenizer_config.json and config.json, as
/// `from_pretrained` does.
func tokenizerDirectory(near checkpoint: Checkpoint) -> String? {
    let path = checkpoint.path
    let dir = isDirectory(path)
        ? path : (path as NSString).deletingLastPathComponent
    let directory = dir.isEmpty ? "." : dir
    let found = ["vocab.txt", "tokenizer.json"].contains { pathExists(directory + "/" + $0) }
    return found ? directory : nil
}
