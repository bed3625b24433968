/// BERT's text normalization and word splitting, as the reference's BertNormalizer and
/// BertPreTokenizer do it, over Unicode scalar values (never Characters: graphemes would merge
/// marks and change counts):
/// 1. clean_text: delete NUL, U+FFFD and "other" scalars (but \t \n \r); whitespace -> space;
/// 2. CJK ideographs get a space on each side (tokenize_chinese_chars);
/// 3. accent stripping: NFD, then drop nonspacing marks (strip_accents, default do_lower_case);
/// 4. lowercase (do_lower_case);
/// 5. split on whitespace, and isolate each punctuation scalar as its own word.
/// Every step is one pass, so the work is linear in the text.
struct BasicTokenizer {
    var lowercase: Bool
    var stripAccents: Bool
    var tokenizeChineseChars: Bool

    private let properties = ScalarProperties.shared

    /// Appends the normalized form of `text` (a segment with no special tokens in it) to `out`.
    func normalize(_ text: UnsafeBufferPointer<UInt32>, into out: inout [UInt32]) {
        var cleaned: [UInt32] = []
        cleaned.reserveCapacity(text.count)
        for scalar in text {
            let flags = properties.flags(scalar)
            if flags.isEmpty {
                cleaned.append(scalar)
            } else if flags.contains(.removed) {
                continue
            } else if flags.contains(.whitespace) {
                cleaned.append(0x20)
            } else if flags.contains(.chinese) && tokenizeChineseChars {
                cleaned.append(0x20)
                cleaned.append(scalar)
                cleaned.append(0x20)
            } else {
                cleaned.append(scalar)
            }
        }
        if stripAccents {
            cleaned = stripped(cleaned)
        }
        guard lowercase else {
            out.append(contentsOf: cleaned)
            return
        }
        out.reserveCapacity(out.count + cleaned.count)
        for scalar in cleaned {
            if properties.flags(scalar).contains(.lowercases), let lower = properties.lowercase[scalar] {
                out.append(contentsOf: lower)
            } else {
                out.append(scalar)
            }
        }
    }

    /// NFD (decompose, then put each run of combining marks in canonical order), then drop the
    /// nonspacing marks.
    private func stripped(_ text: [UInt32]) -> [UInt32] {
        var decomposed: [UInt32] = []
        decomposed.reserveCapacity(text.count)
        var needsOrdering = false
        for scalar in text {
            if scalar < 0xC0 { // nothing below À decomposes or combines
                decomposed.append(scalar)
                continue
            }
            if Hangul.isSyllable(scalar) {
                Hangul.decompose(scalar, into: &decomposed)
            } else if properties.flags(scalar).contains(.decomposes), let parts = properties.decompositions[scalar] {
                decomposed.append(contentsOf: parts)
                needsOrdering = true
            } else {
                decomposed.append(scalar)
                if properties.combiningClass[scalar] != nil { needsOrdering = true }
            }
        }
        if needsOrdering { canonicalOrder(&decomposed) }
        return decomposed.filter { !properties.flags($0).contains(.mark) }
    }

    /// Stable-sorts each run of scalars with a nonzero combining class by class (n log n, so a
    /// megabyte of alternating marks stays fast).
    private func canonicalOrder(_ text: inout [UInt32]) {
        var index = 0
        while index < text.count {
            guard text[index] >= 0x300, properties.combiningClass[text[index]] != nil else {
                index += 1
                continue
            }
            var end = index + 1
            while end < text.count, text[end] >= 0x300, properties.combiningClass[text[end]] != nil { end += 1 }
            if end - index > 1 {
                let run = text[index..<end].enumerated().map { (offset, scalar) in
                    (class: properties.combiningClass[scalar] ?? 0, offset: offset, scalar: scalar)
                }
                let ordered = run.sorted { ($0.class, $0.offset) < ($1.class, $1.offset) }
                for (k, item) in ordered.enumerated() { text[index + k] = item.scalar }
            }
            index = end
        }
    }

    /// Calls `word` with the bounds of each word of normalized text: runs between whitespace,
    /// with every punctuation scalar a word of its own.
    func forEachWord(in text: UnsafeBufferPointer<UInt32>, _ word: (Range<Int>) -> Void) {
        var start = 0
        for index in 0..<text.count {
            let flags = properties.flags(text[index])
            if flags.contains(.splitSpace) {
                if start < index { word(start..<index) }
                start = index + 1
            } else if flags.contains(.punctuation) {
                if start < index { word(start..<index) }
                word(index..<index + 1)
                start = index + 1
            }
        }
        if start < text.count { word(start..<text.count) }
    }
}

/// Hangul syllables decompose by formula (Unicode §3.12), not by table.
enum Hangul {
    static let syllableBase: UInt32 = 0xAC00, leadBase: UInt32 = 0x1100, vowelBase: UInt32 = 0x1161, trailBase: UInt32 = 0x11A7
    static let vowelCount: UInt32 = 21, trailCount: UInt32 = 28, syllableCount: UInt32 = 11172

    @inline(__always)
    static func isSyllable(_ scalar: UInt32) -> Bool {
        scalar >= syllableBase && scalar < syllableBase + syllableCount
    }

    static func decompose(_ scalar: UInt32, into out: inout [UInt32]) {
        let index = scalar - syllableBase
        out.append(leadBase + index / (vowelCount * trailCount))
        out.append(vowelBase + index % (vowelCount * trailCount) / trailCount)
        if index % trailCount != 0 { out.append(trailBase + index % trailCount) }
    }
}
