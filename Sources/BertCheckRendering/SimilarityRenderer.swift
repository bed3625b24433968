import BertCheck
import Foundation

/// `bertcheck similarity` as one line of text or of JSON.
public enum SimilarityRenderer {
    /// `{"similarity", "pooling"}` (null for a non-finite similarity).
    public static func json(similarity: Double, pooling: Pooling) -> JSONValue {
        .object([("similarity", .number(similarity)), ("pooling", .string(pooling.rawValue))])
    }

    public static func text(similarity: Double, pooling: Pooling) -> String {
        text(similarity: similarity, poolingLabel: pooling.rawValue)
    }

    /// `pooling` names the vector: `mean`, or a sentence-transformers folder's modules after the
    /// encoder (`max, Dense, Normalize`).
    public static func text(similarity: Double, poolingLabel: String) -> String {
        String(format: "cosine similarity (%@ pooling): %.6f", poolingLabel, similarity)
    }

    public static func json(similarity: Double, poolingLabel: String) -> JSONValue {
        .object([("similarity", .number(similarity)), ("pooling", .string(poolingLabel))])
    }
}
