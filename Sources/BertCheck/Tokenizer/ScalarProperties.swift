/// The Unicode facts the BERT tokenizer needs, for every scalar value, exactly as the reference
/// (`tokenizers`, behind transformers' BertTokenizer) has them. Swift's own Unicode properties
/// follow a different Unicode version, so they are not used; the tables come from
/// Scripts/generate_tokenizer_tables.py, which asks the reference about every scalar.
final class ScalarProperties: @unchecked Sendable {
    static let shared = ScalarProperties()

    struct Flags: OptionSet {
        let rawValue: UInt8
        /// Deleted by clean_text.
        static let removed = Flags(rawValue: 1)
        /// Turned into a space by clean_text.
        static let whitespace = Flags(rawValue: 2)
        /// A CJK ideograph: spaced apart when tokenize_chinese_chars.
        static let chinese = Flags(rawValue: 4)
        /// Isolated by the pre-tokenizer.
        static let punctuation = Flags(rawValue: 8)
        /// A nonspacing mark: dropped by accent stripping.
        static let mark = Flags(rawValue: 16)
        /// Has a canonical decomposition (Hangul syllables excepted).
        static let decomposes = Flags(rawValue: 32)
        /// Has a lowercase mapping other than itself.
        static let lowercases = Flags(rawValue: 64)
        /// Split on by the pre-tokenizer and stripped by the vocabulary reader (Rust's White_Space).
        static let splitSpace = Flags(rawValue: 128)
    }

    static let scalarCount = 0x110000

    /// One byte of flags per scalar value (1.1 MB), for branch-light lookups in the hot loops.
    let flags: [UInt8]
    let decompositions: [UInt32: [UInt32]]
    let lowercase: [UInt32: [UInt32]]
    let combiningClass: [UInt32: UInt8]

    private init() {
        var flags = [UInt8](repeating: 0, count: Self.scalarCount)
        func mark(_ table: String, _ flag: Flags) {
            for (low, high) in Self.ranges(table) where low <= high && high < UInt32(Self.scalarCount) {
                for value in low...high { flags[Int(value)] |= flag.rawValue }
            }
        }
        mark(TokenizerTables.removed, .removed)
        mark(TokenizerTables.whitespace, .whitespace)
        mark(TokenizerTables.chinese, .chinese)
        mark(TokenizerTables.punctuation, .punctuation)
        mark(TokenizerTables.nonspacingMarks, .mark)
        mark(TokenizerTables.trimmedWhitespace, .splitSpace)
        decompositions = Self.mapping(TokenizerTables.decompositions)
        lowercase = Self.mapping(TokenizerTables.lowercase)
        for key in decompositions.keys where key < UInt32(Self.scalarCount) { flags[Int(key)] |= Flags.decomposes.rawValue }
        for key in lowercase.keys where key < UInt32(Self.scalarCount) { flags[Int(key)] |= Flags.lowercases.rawValue }
        var classes: [UInt32: UInt8] = [:]
        for entry in Self.joined(TokenizerTables.combiningClasses).split(separator: ";") {
            let parts = entry.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let value = UInt8(parts[0]) else { continue }
            for (low, high) in Self.ranges(String(parts[1])) where low <= high {
                for scalar in low...high { classes[scalar] = value }
            }
        }
        combiningClass = classes
        self.flags = flags
    }

    @inline(__always)
    func flags(_ scalar: UInt32) -> Flags {
        scalar < UInt32(Self.scalarCount) ? Flags(rawValue: flags[Int(scalar)]) : []
    }

    /// The generated literals are wrapped at 100 columns; the line breaks mean nothing.
    private static func joined(_ table: String) -> String {
        String(table.unicodeScalars.filter { $0 != "\n" }.map(Character.init))
    }

    /// "41-5A,61" -> [(0x41, 0x5A), (0x61, 0x61)]
    private static func ranges(_ table: String) -> [(UInt32, UInt32)] {
        joined(table).split(separator: ",").compactMap { item in
            let bounds = item.split(separator: "-", maxSplits: 1)
            guard let low = UInt32(bounds[0], radix: 16) else { return nil }
            guard bounds.count == 2 else { return (low, low) }
            guard let high = UInt32(bounds[1], radix: 16) else { return nil }
            return (low, high)
        }
    }

    /// "C0:41 300,..." -> [0xC0: [0x41, 0x300], ...]
    private static func mapping(_ table: String) -> [UInt32: [UInt32]] {
        var result: [UInt32: [UInt32]] = [:]
        for item in joined(table).split(separator: ",") {
            let parts = item.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let key = UInt32(parts[0], radix: 16) else { continue }
            result[key] = parts[1].split(separator: " ").compactMap { UInt32($0, radix: 16) }
        }
        return result
    }
}
