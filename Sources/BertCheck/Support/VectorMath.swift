/// Small vector helpers shared by the forward pass, the comparisons and the commands.

/// Dot product and squared norms of two vectors, accumulated in Double, for their cosine.
public struct CosineAccumulator: Sendable {
    public private(set) var dot = 0.0
    public private(set) var normA = 0.0
    public private(set) var normB = 0.0

    public init() {}

    @inline(__always)
    public mutating func add(_ a: Double, _ b: Double) {
        dot += a * b
        normA += a * a
        normB += b * b
    }

    /// The cosine; two zero vectors are identical (1), one zero vector against another is
    /// orthogonal to it (0).
    public var cosine: Double {
        if normA == 0 && normB == 0 { return 1 }
        if normA == 0 || normB == 0 { return 0 }
        return dot / (normA.squareRoot() * normB.squareRoot())
    }
}

/// Cosine similarity of two vectors of equal length (see `CosineAccumulator` for zero vectors).
public func cosineSimilarity(_ a: [Float], _ b: [Float]) -> Double {
    var accumulator = CosineAccumulator()
    for (x, y) in zip(a, b) { accumulator.add(Double(x), Double(y)) }
    return accumulator.cosine
}

/// The first position ([CLS]) of every row of a [batch, seq, hidden] tensor, as [batch, hidden].
public func clsRows(_ values: UnsafeBufferPointer<Float>, batch: Int, seq: Int, hidden: Int) -> [Float] {
    var rows = [Float]()
    rows.reserveCapacity(batch * hidden)
    for row in 0..<batch {
        let start = row * seq * hidden
        rows.append(contentsOf: values[start..<(start + hidden)])
    }
    return rows
}

/// The same for values held in an array.
public func clsRows(_ values: [Float], batch: Int, seq: Int, hidden: Int) -> [Float] {
    values.withUnsafeBufferPointer { clsRows($0, batch: batch, seq: seq, hidden: hidden) }
}
