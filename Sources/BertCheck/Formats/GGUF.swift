/// Every rule a GGUF file can break, one case each (the layout and limits of llama.cpp's
/// `ggml/src/gguf.cpp`). Thrown wrapped in `FileError(path, problem)`.
public enum GGUFProblem: Error, CustomStringConvertible, Equatable {
    /// The file does not start with "GGUF".
    case badMagic
    /// Version 1 (no longer written by anyone), 0, above 3, or byte-swapped (a big-endian file).
    case unsupportedVersion(UInt32)
    /// The file ends inside the header, a key, a value or a tensor description.
    case truncated(offset: Int, reading: String)
    /// The tensor count cannot be right: its descriptions alone would not fit in the file.
    case tooManyTensors(count: UInt64, fileSize: Int)
    /// The key-value count cannot be right: the pairs alone would not fit in the file.
    case tooManyKeys(count: UInt64, fileSize: Int)
    /// A string's length runs past the end of the file.
    case stringPastEndOfFile(offset: Int, length: UInt64, reading: String)
    /// A string is not valid UTF-8.
    case stringNotUTF8(offset: Int, reading: String)
    /// A metadata key is the empty string.
    case emptyKey(index: Int)
    /// A metadata key appears twice.
    case duplicateKey(String)
    /// A value type id outside the 13 GGUF value types.
    case unknownValueType(key: String, type: UInt32)
    /// An array whose elements are arrays (GGUF readers refuse them).
    case nestedArray(key: String)
    /// An array's element count cannot be right: the elements would not fit in the file.
    case arrayTooLong(key: String, count: UInt64)
    /// `general.alignment` is not a uint32.
    case alignmentNotUInt32(type: String)
    /// `general.alignment` is not a power of two.
    case alignmentNotPowerOfTwo(UInt32)
    /// A tensor name of 64 bytes or more (ggml's GGML_MAX_NAME).
    case tensorNameTooLong(name: String, length: Int)
    /// Two tensors with the same name.
    case duplicateTensor(String)
    /// More than 4 dimensions (GGML_MAX_DIMS).
    case tooManyDimensions(tensor: String, count: UInt32)
    /// A dimension below zero.
    case negativeDimension(tensor: String, index: Int, value: Int64)
    /// The element count or the byte size does not fit in 63 bits.
    case sizeOverflow(tensor: String)
    /// A GGML type id that names no type.
    case unknownTensorType(tensor: String, type: UInt32)
    /// A GGML type bertcheck does not dequantize (IQ*, TQ*, Q8_1, Q8_K, MXFP4).
    case unsupportedTensorType(tensor: String, type: String)
    /// The innermost dimension is not a whole number of the type's blocks.
    case rowNotWholeBlocks(tensor: String, rowLength: Int64, type: String, blockElements: Int)
    /// A tensor's offset is not a multiple of the file's alignment.
    case misalignedTensor(tensor: String, offset: UInt64, alignment: Int)
    /// A tensor's bytes run past the end of the file.
    case tensorPastEndOfFile(tensor: String, end: UInt64, fileSize: Int)
    /// Two tensors share bytes.
    case overlappingTensors(tensor: String, previous: String)
    /// A metadata value bertcheck reads has another type than GGUF's writers give it.
    case wrongMetadataType(key: String, expected: String, found: String)
    /// A metadata key a BERT GGUF must have is absent.
    case missingMetadata(String)
    /// A metadata value outside the range it can take (a negative count, an id past the vocabulary).
    case badMetadataValue(key: String, reason: String)
    /// `general.architecture` is not `bert`.
    case notBert(architecture: String)
    /// The tokenizer metadata is not a BERT WordPiece vocabulary.
    case notWordPieceTokenizer(model: String)

    public var description: String {
        switch self {
        case .badMagic:
            return "not a GGUF file: it does not start with \"GGUF\""
        case let .unsupportedVersion(version):
            if version == 1 { return "GGUF version 1 is not supported (versions 2 and 3 are)" }
            if version & 0xFFFF == 0 { return "GGUF version \(version) looks byte-swapped: a big-endian file is not supported" }
            return "GGUF version \(version) is not supported (versions 2 and 3 are)"
        case let .truncated(offset, reading):
            return "GGUF file ends at byte \(offset) while reading \(reading)"
        case let .tooManyTensors(count, size):
            return "GGUF header says \(count) tensors, more than a file of \(size) bytes can describe"
        case let .tooManyKeys(count, size):
            return "GGUF header says \(count) metadata keys, more than a file of \(size) bytes can hold"
        case let .stringPastEndOfFile(offset, length, reading):
            return "GGUF string at byte \(offset) (\(reading)) claims \(length) bytes, past the end of the file"
        case let .stringNotUTF8(offset, reading):
            return "GGUF string at byte \(offset) (\(reading)) is not valid UTF-8"
        case let .emptyKey(index):
            return "GGUF metadata key \(index) is empty"
        case let .duplicateKey(key):
            return "GGUF metadata key \"\(key)\" appears twice"
        case let .unknownValueType(key, type):
            return "GGUF metadata \"\(key)\" has unknown value type \(type) (known: 0 to 12)"
        case let .nestedArray(key):
            return "GGUF metadata \"\(key)\" is an array of arrays, which GGUF readers do not accept"
        case let .arrayTooLong(key, count):
            return "GGUF metadata \"\(key)\" claims \(count) elements, more than the rest of the file holds"
        case let .alignmentNotUInt32(type):
            return "GGUF general.alignment must be a uint32, found \(type)"
        case let .alignmentNotPowerOfTwo(value):
            return "GGUF general.alignment \(value) is not a power of two"
        case let .tensorNameTooLong(name, length):
            return "GGUF tensor name \"\(name.prefix(80))\" is \(length) bytes, the limit is 63"
        case let .duplicateTensor(name):
            return "GGUF tensor \"\(name)\" is described twice"
        case let .tooManyDimensions(tensor, count):
            return "GGUF tensor \"\(tensor)\" has \(count) dimensions, the limit is 4"
        case let .negativeDimension(tensor, index, value):
            return "GGUF tensor \"\(tensor)\" dimension \(index) is \(value), below zero"
        case let .sizeOverflow(tensor):
            return "GGUF tensor \"\(tensor)\": element count or byte size overflows 64-bit arithmetic"
        case let .unknownTensorType(tensor, type):
            return "GGUF tensor \"\(tensor)\" has unknown GGML type id \(type)"
        case let .unsupportedTensorType(tensor, type):
            return "GGUF tensor \"\(tensor)\" has type \(type), which bertcheck cannot dequantize (supported: \(GGMLType.supportedNames))"
        case let .rowNotWholeBlocks(tensor, length, type, block):
            return "GGUF tensor \"\(tensor)\": rows of \(length) elements are not whole \(type) blocks of \(block)"
        case let .misalignedTensor(tensor, offset, alignment):
            return "GGUF tensor \"\(tensor)\" data offset \(offset) is not a multiple of the alignment \(alignment)"
        case let .tensorPastEndOfFile(tensor, end, size):
            return "GGUF tensor \"\(tensor)\" data ends at byte \(end), past the end of the file (\(size) bytes)"
        case let .overlappingTensors(tensor, previous):
            return "GGUF tensor \"\(tensor)\" data overlaps tensor \"\(previous)\""
        case let .wrongMetadataType(key, expected, found):
            return "GGUF metadata \"\(key)\" must be \(expected), found \(found)"
        case let .missingMetadata(key):
            return "GGUF metadata has no \"\(key)\", which a BERT model needs"
        case let .badMetadataValue(key, reason):
            return "GGUF metadata \"\(key)\": \(reason)"
        case let .notBert(architecture):
            return "GGUF general.architecture is \"\(architecture)\": bertcheck reads BERT models only"
        case let .notWordPieceTokenizer(model):
            return "GGUF tokenizer.ggml.model is \"\(model)\", not a BERT WordPiece vocabulary (\"bert\")"
        }
    }
}

/// GGML tensor type ids as GGUF stores them (ggml.h's `enum ggml_type`), and the `DType` each
/// readable one becomes.
enum GGMLType {
    /// Every id ggml has defined (removed ids 4, 5, 31-33, 36-38 are absent).
    static let names: [UInt32: String] = [
        0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1",
        10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS",
        17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS",
        24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M", 30: "BF16", 34: "TQ1_0",
        35: "TQ2_0", 39: "MXFP4",
    ]

    static func dtype(id: UInt32) -> DType? {
        names[id].flatMap { DType(rawValue: $0) }
    }

    static var supportedNames: String {
        names.sorted { $0.key < $1.key }.compactMap { DType(rawValue: $0.value) != nil ? $0.value : nil }.joined(separator: ", ")
    }
}

/// One tensor description of a GGUF file, validated.
public struct GGUFTensorInfo: Equatable, Sendable {
    public var name: String
    public var dtype: DType
    /// Dimensions as GGUF lists them: innermost (contiguous) first.
    public var dims: [Int]
    /// Offset of the data from the start of the data section.
    public var offset: Int
    public var byteCount: Int
}

/// A GGUF file (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md): "GGUF", version,
/// tensor count, key count, the key-value pairs, the tensor descriptions, padding to the
/// alignment, then the data section the descriptions' offsets index. Little-endian throughout.
public struct GGUFFile {
    public static let defaultAlignment = 32
    public static let maximumNameLength = 63
    public static let maximumDimensions = 4

    public var version: UInt32
    public var metadata: GGUFMetadata
    public var tensors: [GGUFTensorInfo]
    public var alignment: Int
    /// Where the data section starts in the file.
    public var dataStart: Int

    /// Validates every rule over the bytes of a whole file. Throws `GGUFProblem`.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws -> GGUFFile {
        var reader = GGUFByteReader(bytes)
        guard bytes.count >= 4, Array(bytes.prefix(4)) == Array("GGUF".utf8) else { throw GGUFProblem.badMagic }
        reader.position = 4
        let version = try reader.read(UInt32.self, "the version")
        guard version == 2 || version == 3 else { throw GGUFProblem.unsupportedVersion(version) }
        let tensorCount = try reader.read(UInt64.self, "the tensor count")
        let keyCount = try reader.read(UInt64.self, "the metadata key count")
        // Smallest tensor description: name length, 0 dims, type, offset; smallest pair: key
        // length, one key byte, type, one value byte.
        guard tensorCount <= UInt64(reader.remaining / 24) else {
            throw GGUFProblem.tooManyTensors(count: tensorCount, fileSize: bytes.count)
        }
        guard keyCount <= UInt64(reader.remaining / 14) else {
            throw GGUFProblem.tooManyKeys(count: keyCount, fileSize: bytes.count)
        }

        let metadata = try GGUFMetadata.parse(&reader, count: Int(keyCount))
        var alignment = defaultAlignment
        if let value = metadata["general.alignment"] {
            guard case .uint32(let a) = value else { throw GGUFProblem.alignmentNotUInt32(type: value.typeName) }
            guard a != 0, a & (a - 1) == 0 else { throw GGUFProblem.alignmentNotPowerOfTwo(a) }
            alignment = Int(a)
        }

        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(Int(tensorCount))
        var names = Set<String>()
        for _ in 0..<Int(tensorCount) {
            let info = try readTensorInfo(&reader)
            guard names.insert(info.name).inserted else { throw GGUFProblem.duplicateTensor(info.name) }
            tensors.append(info)
        }

        // The data section starts at the next multiple of the alignment.
        let (padded, overflow) = reader.position.addingReportingOverflow(alignment - 1)
        let dataStart = overflow ? Int.max : padded / alignment * alignment
        if !tensors.isEmpty, dataStart > bytes.count {
            throw GGUFProblem.truncated(offset: bytes.count, reading: "the padding before the tensor data")
        }
        for t in tensors {
            guard t.offset % alignment == 0 else {
                throw GGUFProblem.misalignedTensor(tensor: t.name, offset: UInt64(t.offset), alignment: alignment)
            }
            let (start, o1) = dataStart.addingReportingOverflow(t.offset)
            let (end, o2) = start.addingReportingOverflow(t.byteCount)
            guard !o1, !o2, end <= bytes.count else {
                let end = UInt64(dataStart).addingReportingOverflow(UInt64(t.offset)).partialValue
                    .addingReportingOverflow(UInt64(t.byteCount)).partialValue
                throw GGUFProblem.tensorPastEndOfFile(tensor: t.name, end: end, fileSize: bytes.count)
            }
        }
        // In offset order, each tensor must start where every earlier one has ended.
        var covered: (end: Int, name: String)?
        for t in tensors.sorted(by: { ($0.offset, $0.byteCount) < ($1.offset, $1.byteCount) }) where t.byteCount > 0 {
            if let covered, t.offset < covered.end {
                throw GGUFProblem.overlappingTensors(tensor: t.name, previous: covered.name)
            }
            if t.offset + t.byteCount > covered?.end ?? 0 { covered = (t.offset + t.byteCount, t.name) }
        }
        return GGUFFile(version: version, metadata: metadata, tensors: tensors, alignment: alignment, dataStart: dataStart)
    }

    private static func readTensorInfo(_ reader: inout GGUFByteReader) throws -> GGUFTensorInfo {
        let name = try reader.readString("a tensor name")
        guard name.utf8.count <= maximumNameLength else {
            throw GGUFProblem.tensorNameTooLong(name: name, length: name.utf8.count)
        }
        let dimensionCount = try reader.read(UInt32.self, "the dimension count of tensor \"\(name)\"")
        guard dimensionCount <= UInt32(maximumDimensions) else {
            throw GGUFProblem.tooManyDimensions(tensor: name, count: dimensionCount)
        }
        var dims: [Int] = []
        var elements = 1
        var overflow = false
        for index in 0..<Int(dimensionCount) {
            let value = try reader.read(Int64.self, "the dimensions of tensor \"\(name)\"")
            guard value >= 0 else { throw GGUFProblem.negativeDimension(tensor: name, index: index, value: value) }
            dims.append(Int(value))
            let (product, o) = elements.multipliedReportingOverflow(by: Int(value))
            overflow = overflow || o
            elements = product
        }
        let typeId = try reader.read(UInt32.self, "the type of tensor \"\(name)\"")
        guard let typeName = GGMLType.names[typeId] else { throw GGUFProblem.unknownTensorType(tensor: name, type: typeId) }
        guard let dtype = GGMLType.dtype(id: typeId) else { throw GGUFProblem.unsupportedTensorType(tensor: name, type: typeName) }
        if overflow { throw GGUFProblem.sizeOverflow(tensor: name) }
        let rowLength = dims.first ?? 1
        guard rowLength % dtype.block.elements == 0 else {
            throw GGUFProblem.rowNotWholeBlocks(tensor: name, rowLength: Int64(rowLength), type: typeName, blockElements: dtype.block.elements)
        }
        guard let byteCount = dtype.byteCount(elements: elements) else { throw GGUFProblem.sizeOverflow(tensor: name) }
        let offset = try reader.read(UInt64.self, "the data offset of tensor \"\(name)\"")
        guard offset <= UInt64(Int.max) else {
            throw GGUFProblem.tensorPastEndOfFile(tensor: name, end: offset, fileSize: reader.bytes.count)
        }
        return GGUFTensorInfo(name: name, dtype: dtype, dims: dims, offset: Int(offset), byteCount: byteCount)
    }
}

/// A cursor over the bytes of a GGUF file; every read is bounds-checked.
struct GGUFByteReader {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var remaining: Int { bytes.count - position }

    mutating func read<T: FixedWidthInteger>(_ type: T.Type, _ what: @autoclosure () -> String) throws -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw GGUFProblem.truncated(offset: bytes.count, reading: what()) }
        let value = T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
        position += size
        return value
    }

    mutating func readString(_ what: @autoclosure () -> String) throws -> String {
        let start = position
        let length = try read(UInt64.self, what())
        guard length <= UInt64(remaining) else {
            throw GGUFProblem.stringPastEndOfFile(offset: start, length: length, reading: what())
        }
        let text = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + Int(length))])
        guard let string = String(validating: text, as: UTF8.self) else {
            throw GGUFProblem.stringNotUTF8(offset: start, reading: what())
        }
        position += Int(length)
        return string
    }
}
