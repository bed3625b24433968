/// Every way a `torch.save` checkpoint (zip form, torch >= 1.6) can be refused, one case each.
public enum PyTorchBinProblem: Error, CustomStringConvertible, Equatable, Sendable {
    case legacyFormat
    case missingDataPickle
    case severalDataPickles([String])
    case bigEndian(String)
    case notAStateDict(found: String)
    case notATensor(name: String, found: String)
    case unsupportedKey(found: String)
    case missingStorage(key: String, entry: String)
    case storageTooShort(key: String, needed: Int, actual: Int)
    case storageSizeOverflow(key: String)
    case storageTypeConflict(key: String)
    case tensorOutsideStorage(name: String, lastElement: Int, storageElements: Int)
    case shapeOverflow(name: String)
    case viewLargerThanStorage(name: String, elements: Int, storageElements: Int)
    case broadcastViewsTooLarge(name: String, total: Int)
    case outOfMemory(name: String, bytes: Int)

    public var description: String {
        switch self {
        case .legacyFormat:
            return "legacy (pre-1.6, non-zip) torch.save format is not supported; re-save it with torch >= 1.6 "
                + "(torch.save(state_dict, path)) or as safetensors (model.save_pretrained(dir, safe_serialization=True))"
        case .missingDataPickle:
            return "not a torch.save checkpoint: the zip has no '<folder>/data.pkl' entry"
        case .severalDataPickles(let names):
            return "ambiguous torch.save checkpoint: several data.pkl entries (\(names.joined(separator: ", ")))"
        case .bigEndian(let order):
            return "torch.save checkpoint has byte order '\(order)' (only little-endian is supported)"
        case .notAStateDict(let found):
            return "data.pkl holds \(found), not a state dict (a dict of tensors)"
        case .notATensor(let name, let found):
            return "state dict entry '\(name)' is \(found), not a tensor"
        case .unsupportedKey(let found):
            return "state dict key is \(found), not a string"
        case .missingStorage(let key, let entry):
            return "storage '\(key)' is referenced but the zip has no entry '\(entry)'"
        case .storageTooShort(let key, let needed, let actual):
            return "storage '\(key)' needs \(needed) bytes but its entry holds \(actual)"
        case .storageSizeOverflow(let key):
            return "storage '\(key)' declares a size whose byte count overflows"
        case .storageTypeConflict(let key):
            return "storage '\(key)' is declared with two different types or sizes"
        case .tensorOutsideStorage(let name, let lastElement, let storageElements):
            return "tensor '\(name)' reaches element \(lastElement) of a storage of \(storageElements) elements"
        case .shapeOverflow(let name):
            return "tensor '\(name)' has a shape or strides whose size overflows"
        case .viewLargerThanStorage(let name, let elements, let storageElements):
            return "tensor '\(name)' repeats its storage (\(elements) elements over \(storageElements)) beyond the "
                + "\(PyTorchBinReader.maximumBroadcastElements)-element limit for broadcast views"
        case .broadcastViewsTooLarge(let name, let total):
            return "tensor '\(name)' brings the elements of views repeating their storage to \(total), beyond the "
                + "\(PyTorchBinReader.maximumBroadcastElements)-element limit for all broadcast views of a checkpoint"
        case .outOfMemory(let name, let bytes):
            return "tensor '\(name)' needs \(bytes) bytes, more memory than this system can provide"
        }
    }
}

/// Reads `pytorch_model.bin` as written by `torch.save(state_dict)` (torch >= 1.6): a zip holding
/// `<folder>/data.pkl` (the restricted pickle describing each tensor as a view of a storage) and
/// one `<folder>/data/<key>` entry per storage. Tensors that cover a stored storage contiguously
/// and aligned point straight into the mapped file; others (strided views, deflated entries,
/// odd alignment) are gathered into owned memory. Tensors sharing a storage (tied weights) share
/// its bytes.
public enum PyTorchBinReader {
    /// A view may hold more elements than its storage only by repeating it (stride 0, as
    /// `expand` makes); such views are gathered up to this many elements, in total over the
    /// checkpoint (one such view per tensor would otherwise multiply the limit), so a tiny file cannot
    /// demand unbounded memory.
    public static let maximumBroadcastElements = 1 << 24

    public static func read(_ path: String) throws -> [Tensor] {
        let file = try MappedFile(path: path)
        return try read(bytes: file.bytes, storage: file, path: path)
    }

    /// The same from bytes in memory (`storage` owns them; `path` names them in errors).
    public static func read(bytes: UnsafeRawBufferPointer, storage: ByteStorage, path: String) throws -> [Tensor] {
        // The legacy format is a bare pickle stream (PROTO, then the magic number); a zip
        // starts with a local header instead.
        if bytes.count >= 2, bytes[0] == 0x80, bytes[1] <= 0x05 {
            throw FileError(path, PyTorchBinProblem.legacyFormat)
        }
        let archive = try ZipArchive(bytes: bytes, storage: storage, path: path)
        let pickles = archive.entries.filter { entry in
            let parts = entry.name.split(separator: "/", omittingEmptySubsequences: false)
            return parts.count == 2 && parts[1] == "data.pkl" && !parts[0].isEmpty
        }
        guard let pickleEntry = pickles.first else { throw FileError(path, PyTorchBinProblem.missingDataPickle) }
        guard pickles.count == 1 else { throw FileError(path, PyTorchBinProblem.severalDataPickles(pickles.map(\.name))) }
        let folder = String(pickleEntry.name.dropLast("data.pkl".count))

        if let order = archive.entry(named: folder + "byteorder") {
            let contents = try archive.contents(of: order, atMost: 16)  // "little" or "big"
            let text = contents.withBytes { String(decoding: $0, as: UTF8.self) }
            guard text == "little" else { throw FileError(path, PyTorchBinProblem.bigEndian(String(text.prefix(16)))) }
        }

        let pickleBytes = try archive.contents(of: pickleEntry, atMost: 256 << 20)
        // The pickle is small and decides everything else: check its CRC even when stored.
        if pickleEntry.isStored { try archive.verifyChecksum(pickleEntry, of: pickleBytes) }
        let root: PickleValue
        do {
            root = try pickleBytes.withBytes { try Pickle.load($0) }
        } catch let problem as PickleProblem {
            throw FileError(path, PickleEntryProblem(entry: pickleEntry.name, problem: problem))
        }
        guard case .dict(let stateDict) = root else { throw FileError(path, PyTorchBinProblem.notAStateDict(found: root.typeName)) }

        var loader = StorageLoader(archive: archive, folder: folder)
        var tensors: [Tensor] = []
        tensors.reserveCapacity(stateDict.entries.count)
        for (key, value) in stateDict.entries {
            guard case .string(let name) = key else { throw FileError(path, PyTorchBinProblem.unsupportedKey(found: key.typeName)) }
            guard case .tensor(let description) = value else {
                throw FileError(path, PyTorchBinProblem.notATensor(name: name, found: value.typeName))
            }
            tensors.append(try loader.tensor(named: name, description))
        }
        return tensors
    }
}

/// A pickle problem, with the zip entry it was found in.
public struct PickleEntryProblem: Error, CustomStringConvertible, Equatable, Sendable {
    public let entry: String
    public let problem: PickleProblem
    public var description: String { "\(entry): \(problem)" }
}

/// Loads each storage once (tied weights reference the same key) and cuts tensors out of it.
private struct StorageLoader {
    let archive: ZipArchive
    let folder: String
    var loaded: [String: (storage: PickleStorage, contents: ZipArchive.Contents)] = [:]
    /// Elements of the views so far that hold more elements than their storage.
    var broadcastElements = 0

    var path: String { archive.path }

    mutating func storage(_ storage: PickleStorage) throws -> ZipArchive.Contents {
        if let cached = loaded[storage.key] {
            guard cached.storage == storage else { throw FileError(path, PyTorchBinProblem.storageTypeConflict(key: storage.key)) }
            return cached.contents
        }
        let name = folder + "data/" + storage.key
        guard let entry = archive.entry(named: name) else {
            throw FileError(path, PyTorchBinProblem.missingStorage(key: storage.key, entry: name))
        }
        let needed = storage.count.multipliedReportingOverflow(by: storage.dtype.size)
        guard !needed.overflow else { throw FileError(path, PyTorchBinProblem.storageSizeOverflow(key: storage.key)) }
        // Check the declared size before inflating anything.
        guard entry.uncompressedSize >= UInt64(needed.partialValue) else {
            throw FileError(path, PyTorchBinProblem.storageTooShort(key: storage.key, needed: needed.partialValue,
                                                                   actual: Int(clamping: entry.uncompressedSize)))
        }
        let contents = try archive.contents(of: entry)
        guard contents.bytes.count >= needed.partialValue else {
            throw FileError(path, PyTorchBinProblem.storageTooShort(key: storage.key, needed: needed.partialValue,
                                                                   actual: contents.bytes.count))
        }
        loaded[storage.key] = (storage, contents)
        return contents
    }

    mutating func tensor(named name: String, _ description: PickleTensor) throws -> Tensor {
        let contents = try storage(description.storage)
        let dtype = description.dtype
        let shape = description.shape
        let strides = description.strides
        let size = dtype.size

        // Element count and the last element the view touches, overflow-checked.
        var count = 1
        var last = description.offset
        for (extent, stride) in zip(shape, strides) {
            let product = count.multipliedReportingOverflow(by: extent)
            guard !product.overflow else { throw FileError(path, PyTorchBinProblem.shapeOverflow(name: name)) }
            count = product.partialValue
            if extent > 0 {
                let reach = (extent - 1).multipliedReportingOverflow(by: stride)
                guard !reach.overflow else { throw FileError(path, PyTorchBinProblem.shapeOverflow(name: name)) }
                let sum = last.addingReportingOverflow(reach.partialValue)
                guard !sum.overflow else { throw FileError(path, PyTorchBinProblem.shapeOverflow(name: name)) }
                last = sum.partialValue
            }
        }
        let byteCount = count.multipliedReportingOverflow(by: size)
        guard !byteCount.overflow else { throw FileError(path, PyTorchBinProblem.shapeOverflow(name: name)) }
        if count == 0 {
            return Tensor(name: name, dtype: dtype, shape: shape, data: UnsafeRawBufferPointer(start: nil, count: 0),
                          storage: contents.storage)
        }
        let storageElements = description.storage.count
        guard last < storageElements else {
            throw FileError(path, PyTorchBinProblem.tensorOutsideStorage(name: name, lastElement: last, storageElements: storageElements))
        }
        guard count <= max(storageElements, PyTorchBinReader.maximumBroadcastElements) else {
            throw FileError(path, PyTorchBinProblem.viewLargerThanStorage(name: name, elements: count, storageElements: storageElements))
        }
        if count > storageElements {
            broadcastElements += count  // each count is at most maximumBroadcastElements: no overflow
            guard broadcastElements <= PyTorchBinReader.maximumBroadcastElements else {
                throw FileError(path, PyTorchBinProblem.broadcastViewsTooLarge(name: name, total: broadcastElements))
            }
        }
        let base = contents.bytes

        if isContiguous(shape: shape, strides: strides) {
            let start = description.offset * size // last < storageElements, so no overflow
            let slice = UnsafeRawBufferPointer(rebasing: base[start..<start + byteCount.partialValue])
            if let address = slice.baseAddress, Int(bitPattern: address) % size == 0 {
                return Tensor(name: name, dtype: dtype, shape: shape, data: slice, storage: contents.storage)
            }
            let owned = OwnedBytes(count: byteCount.partialValue)
            owned.mutableBytes.copyMemory(from: slice)
            return Tensor(name: name, dtype: dtype, shape: shape, data: owned.bytes, storage: owned)
        }

        // A strided view: gather element by element in row-major order.
        guard let owned = OwnedBytes(checkedCount: byteCount.partialValue) else {
            throw FileError(path, PyTorchBinProblem.outOfMemory(name: name, bytes: byteCount.partialValue))
        }
        let destination = owned.mutableBytes
        var index = [Int](repeating: 0, count: shape.count)
        var source = description.offset
        for element in 0..<count {
            let from = UnsafeRawBufferPointer(rebasing: base[(source * size)..<(source * size + size)])
            UnsafeMutableRawBufferPointer(rebasing: destination[(element * size)..<(element * size + size)]).copyMemory(from: from)
            // Advance the odometer from the last dimension. Wrapping arithmetic: a size-1
            // dimension may carry any stride, and every position actually read was bounded above.
            var dimension = shape.count - 1
            while dimension >= 0 {
                index[dimension] += 1
                source = source &+ strides[dimension]
                if index[dimension] < shape[dimension] { break }
                source = source &- strides[dimension] &* shape[dimension]
                index[dimension] = 0
                dimension -= 1
            }
        }
        return Tensor(name: name, dtype: dtype, shape: shape, data: owned.bytes, storage: owned)
    }

    /// Row-major contiguity; strides of size-1 dimensions do not matter.
    func isContiguous(shape: [Int], strides: [Int]) -> Bool {
        var expected = 1
        for (extent, stride) in zip(shape, strides).reversed() where extent != 1 {
            if stride != expected { return false }
            expected *= extent
        }
        return true
    }
}

/// `pytorch_model.bin` as `torch.save` writes it (a zip); a torch.save name whose bytes are not a
/// zip still comes here, so the reader can say what is wrong (a legacy pickle, say).
public enum PyTorchZipFormat: CheckpointFormatReader {
    public static let format = CheckpointFormat("pytorch-zip")
    public static let displayName = "a PyTorch checkpoint"
    public static let directoryFileNames = ["pytorch_model.bin"]

    public static func match(path: String, head: [UInt8]) -> FormatMatch? {
        // numpy archives are zips too, and are only ever named.
        if path.hasSuffix(".npz") { return nil }
        if head.count >= 2, head[0] == 0x50, head[1] == 0x4B { return .byMagic }
        return [".bin", ".pt", ".pth"].contains(where: path.hasSuffix) ? .byName : nil
    }

    public static func read(_ path: String) throws -> CheckpointContents {
        CheckpointContents(tensors: try PyTorchBinReader.read(path), files: [path])
    }
}

extension CheckpointFormat {
    public static let pytorchZip = PyTorchZipFormat.format
}
