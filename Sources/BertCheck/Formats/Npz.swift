/// Every rule an `.npz` member (a `.npy` array) can break, one case each, naming the member.
public enum NpzProblem: Error, CustomStringConvertible, Equatable, Sendable {
    case notNpy(entry: String)
    case badMagic(entry: String)
    case unsupportedVersion(entry: String, major: UInt8, minor: UInt8)
    case headerTruncated(entry: String)
    case headerInvalid(entry: String, reason: String)
    case unsupportedDtype(entry: String, descr: String)
    case fortranOrder(entry: String)
    case shapeOverflow(entry: String)
    case dataSizeMismatch(entry: String, expected: Int, actual: Int)

    public var description: String {
        switch self {
        case .notNpy(let entry):
            return "npz member '\(entry)' is not a .npy array"
        case .badMagic(let entry):
            return "npz member '\(entry)' does not start with the .npy magic \\x93NUMPY"
        case .unsupportedVersion(let entry, let major, let minor):
            return "npz member '\(entry)' has .npy format version \(major).\(minor) (1.0, 2.0 and 3.0 are supported)"
        case .headerTruncated(let entry):
            return "npz member '\(entry)': .npy header runs past the end of the member"
        case .headerInvalid(let entry, let reason):
            return "npz member '\(entry)': invalid .npy header (\(reason))"
        case .unsupportedDtype(let entry, let descr):
            return "npz member '\(entry)' has dtype '\(descr)' (supported: <f8 <f4 <f2 <i8 <i4 <i2 |i1 |u1 |b1)"
        case .fortranOrder(let entry):
            return "npz member '\(entry)' is stored in Fortran (column-major) order; save it C-contiguous (np.ascontiguousarray)"
        case .shapeOverflow(let entry):
            return "npz member '\(entry)' has a shape whose size overflows"
        case .dataSizeMismatch(let entry, let expected, let actual):
            return "npz member '\(entry)': shape and dtype need \(expected) data bytes but it holds \(actual)"
        }
    }
}

/// Reads numpy `.npz` archives (`np.savez` stores members, `np.savez_compressed` deflates them):
/// one tensor per `NAME.npy` member, named `NAME`, in archive order. Stored, aligned data is not
/// copied.
public enum NpzReader {
    static let dtypes: [String: DType] = [
        "<f8": .F64, "<f4": .F32, "<f2": .F16, "<i8": .I64, "<i4": .I32, "<i2": .I16,
        "|i1": .I8, "<i1": .I8, "|u1": .U8, "<u1": .U8, "|b1": .BOOL, "<b1": .BOOL,
    ]

    /// `keeping` picks members by array name (without `.npy`) before any is inflated: a reader
    /// that ignores some members must not pay for them (issue 18: 3 MB of ignored members
    /// inflated to 3.1 GB).
    public static func read(_ path: String, keeping: (String) -> Bool = { _ in true }) throws -> [Tensor] {
        let file = try MappedFile(path: path)
        return try read(bytes: file.bytes, storage: file, path: path, keeping: keeping)
    }

    /// The same from bytes in memory (`storage` owns them; `path` names them in errors).
    public static func read(bytes: UnsafeRawBufferPointer, storage: ByteStorage, path: String,
                            keeping: (String) -> Bool = { _ in true }) throws -> [Tensor] {
        let archive = try ZipArchive(bytes: bytes, storage: storage, path: path)
        return try archive.entries.compactMap { entry in
            guard entry.name.hasSuffix(".npy"), entry.name.count > 4 else {
                throw FileError(path, NpzProblem.notNpy(entry: entry.name))
            }
            guard keeping(String(entry.name.dropLast(4))) else { return nil }
            do {
                return try array(entry, in: archive)
            } catch let problem as NpzProblem {
                throw FileError(path, problem)
            }
        }
    }

    static func array(_ entry: ZipArchive.Entry, in archive: ZipArchive) throws -> Tensor {
        let name = entry.name
        let contents = try archive.contents(of: entry)
        // `bytes` borrow from `contents.storage` (an inflated member's own buffer): keep it alive
        // until every path below, the throwing ones and the aligned copy included, is done.
        defer { withExtendedLifetime(contents) {} }
        let bytes = contents.bytes
        guard bytes.count >= 8 else { throw NpzProblem.headerTruncated(entry: name) }
        guard Array(bytes[0..<6]) == [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59] else { throw NpzProblem.badMagic(entry: name) }
        let major = bytes[6], minor = bytes[7]
        let headerLength: Int
        let headerStart: Int
        switch (major, minor) {
        case (1, 0):
            guard let length = bytes.le(UInt16.self, at: 8) else { throw NpzProblem.headerTruncated(entry: name) }
            headerLength = Int(length)
            headerStart = 10
        case (2, 0), (3, 0):
            guard let length = bytes.le(UInt32.self, at: 8) else { throw NpzProblem.headerTruncated(entry: name) }
            headerLength = Int(length)
            headerStart = 12
        default:
            throw NpzProblem.unsupportedVersion(entry: name, major: major, minor: minor)
        }
        guard headerLength <= bytes.count - headerStart else { throw NpzProblem.headerTruncated(entry: name) }
        let dataStart = headerStart + headerLength
        // Versions 1 and 2 are latin-1 but numpy only writes ASCII there; 3 is UTF-8.
        guard let text = String(validating: UnsafeRawBufferPointer(rebasing: bytes[headerStart..<dataStart]), as: UTF8.self) else {
            throw NpzProblem.headerInvalid(entry: name, reason: "not text")
        }
        let header = try NpyHeader(parsing: text, entry: name)

        guard let dtype = dtypes[header.descr] else { throw NpzProblem.unsupportedDtype(entry: name, descr: header.descr) }
        guard !header.fortranOrder else { throw NpzProblem.fortranOrder(entry: name) }
        var count = 1
        for extent in header.shape {
            let product = count.multipliedReportingOverflow(by: extent)
            guard !product.overflow else { throw NpzProblem.shapeOverflow(entry: name) }
            count = product.partialValue
        }
        let byteCount = count.multipliedReportingOverflow(by: dtype.size)
        guard !byteCount.overflow else { throw NpzProblem.shapeOverflow(entry: name) }
        let available = bytes.count - dataStart
        guard byteCount.partialValue == available else {
            throw NpzProblem.dataSizeMismatch(entry: name, expected: byteCount.partialValue, actual: available)
        }
        let data = UnsafeRawBufferPointer(rebasing: bytes[dataStart...])
        let tensorName = String(name.dropLast(4))
        if byteCount.partialValue == 0 || Int(bitPattern: data.baseAddress) % dtype.size == 0 {
            return Tensor(name: tensorName, dtype: dtype, shape: header.shape, data: data, storage: contents.storage)
        }
        // Stored members sit at arbitrary offsets in the zip: copy to aligned memory.
        let owned = OwnedBytes(count: data.count)
        owned.mutableBytes.copyMemory(from: data)
        return Tensor(name: tensorName, dtype: dtype, shape: header.shape, data: owned.bytes, storage: owned)
    }
}

/// The `.npy` header: a Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
/// Parsed by a tiny reader of exactly that grammar (strings, booleans, tuples of integers).
struct NpyHeader {
    var descr: String
    var fortranOrder: Bool
    var shape: [Int]

    private enum Literal {
        case string(String), bool(Bool), tuple([Int])
    }

    init(parsing text: String, entry: String) throws {
        var scanner = Scanner(characters: Array(text.unicodeScalars), entry: entry)
        var values: [String: Literal] = [:]
        scanner.skipSpace()
        try scanner.expect("{")
        while true {
            scanner.skipSpace()
            if scanner.take("}") { break }
            let key = try scanner.string()
            scanner.skipSpace()
            try scanner.expect(":")
            scanner.skipSpace()
            let value: Literal
            if scanner.peek == "'" || scanner.peek == "\"" {
                value = .string(try scanner.string())
            } else if scanner.take("(") {
                value = .tuple(try scanner.integerTuple())
            } else if scanner.takeWord("True") {
                value = .bool(true)
            } else if scanner.takeWord("False") {
                value = .bool(false)
            } else {
                throw scanner.invalid("unsupported value for '\(key)'")
            }
            guard values.updateValue(value, forKey: key) == nil else { throw scanner.invalid("key '\(key)' repeated") }
            scanner.skipSpace()
            if scanner.take("}") { break }
            try scanner.expect(",")
        }
        scanner.skipSpace()
        guard scanner.atEnd else { throw scanner.invalid("text after the dictionary") }
        guard Set(values.keys) == ["descr", "fortran_order", "shape"] else {
            throw scanner.invalid("keys are \(values.keys.sorted()), expected descr, fortran_order, shape")
        }
        guard case .string(let descr)? = values["descr"] else { throw scanner.invalid("descr is not a string (structured dtypes are not supported)") }
        guard case .bool(let fortran)? = values["fortran_order"] else { throw scanner.invalid("fortran_order is not True or False") }
        guard case .tuple(let shape)? = values["shape"] else { throw scanner.invalid("shape is not a tuple") }
        self.descr = descr
        self.fortranOrder = fortran
        self.shape = shape
    }

    private struct Scanner {
        let characters: [Unicode.Scalar]
        let entry: String
        var index = 0

        init(characters: [Unicode.Scalar], entry: String) {
            self.characters = characters
            self.entry = entry
        }

        var atEnd: Bool { index >= characters.count }
        var peek: Unicode.Scalar? { atEnd ? nil : characters[index] }

        func invalid(_ reason: String) -> NpzProblem { .headerInvalid(entry: entry, reason: reason) }

        mutating func skipSpace() {
            while let c = peek, c == " " || c == "\n" || c == "\t" || c == "\r" { index += 1 }
        }

        mutating func take(_ c: Unicode.Scalar) -> Bool {
            guard peek == c else { return false }
            index += 1
            return true
        }

        mutating func expect(_ c: Unicode.Scalar) throws {
            guard take(c) else { throw invalid("expected '\(c)' at character \(index)") }
        }

        mutating func takeWord(_ word: String) -> Bool {
            let scalars = Array(word.unicodeScalars)
            guard index + scalars.count <= characters.count, Array(characters[index..<index + scalars.count]) == scalars else {
                return false
            }
            index += scalars.count
            return true
        }

        mutating func string() throws -> String {
            guard let quote = peek, quote == "'" || quote == "\"" else { throw invalid("expected a string at character \(index)") }
            index += 1
            var result = String.UnicodeScalarView()
            while let c = peek, c != quote {
                guard c != "\\" else { throw invalid("escapes in strings are not supported") }
                result.append(c)
                index += 1
            }
            try expect(quote)
            return String(result)
        }

        /// After '(': integers separated by commas, optional trailing comma, then ')'.
        mutating func integerTuple() throws -> [Int] {
            var items: [Int] = []
            while true {
                skipSpace()
                if take(")") { return items }
                var value = 0
                var digits = 0
                while let c = peek, let digit = Int(exactly: c.value).map({ $0 - 48 }), (0...9).contains(digit) {
                    let next = value.multipliedReportingOverflow(by: 10)
                    let sum = next.partialValue.addingReportingOverflow(digit)
                    guard !next.overflow, !sum.overflow else { throw invalid("shape entry too large") }
                    value = sum.partialValue
                    digits += 1
                    index += 1
                }
                guard digits > 0 else { throw invalid("shape entries must be non-negative integers") }
                // Python 2 era headers wrote longs as `3L`.
                _ = take("L")
                items.append(value)
                skipSpace()
                if take(")") { return items }
                try expect(",")
            }
        }
    }
}

/// numpy `np.savez` / `np.savez_compressed`, when named explicitly (never found in a directory).
public enum NpzFormat: CheckpointFormatReader {
    public static let format = CheckpointFormat("npz")
    public static let displayName = "a numpy .npz archive"

    public static func match(path: String, head: [UInt8]) -> FormatMatch? {
        path.hasSuffix(".npz") ? .byName : nil
    }

    public static func read(_ path: String) throws -> CheckpointContents {
        CheckpointContents(tensors: try NpzReader.read(path), files: [path])
    }
}

extension CheckpointFormat {
    public static let npz = NpzFormat.format
}
