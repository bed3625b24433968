import BertCheck
import Foundation

/// `bertcheck similarity` as one line of text or of JSON.
public enum SimilarityRenderer {
    /// `{"similarity", "pooling"}` (null for a non-finite similarity).
    public static func json(similarity: Double, pooling: Pooling) -> JSONValue {
        .object([("similarity", .number(similarity)), ("pooling", .string(pooling.rawValue))])
    }

    public static func text(similarity: Double, pooling: Pooling) -> String {
        String(format: "cosine similarity (%@ pooling): %.6f", pooling.rawValue, similarity)
    }
}
