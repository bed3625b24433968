// Fuzz target: the zip reader and the readers on top of it, torch.save (.bin) and numpy
// (.npz) (Scripts/fuzz.sh zip). In memory, through the readers' bytes entry points.
import Foundation

func fuzzZip(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let storage = ByteStorage()
    let path = FuzzScratch.directory + "/pytorch_model.bin"
    expectNamedFailure {
        let archive = try ZipArchive(bytes: input, storage: storage, path: path)
        for entry in archive.entries {
            // Each entry on its own: one broken entry must not hide how the others behave.
            expectNamedFailure {
                let contents = try archive.contents(of: entry)
                if entry.isStored { try archive.verifyChecksum(entry, of: contents) }
            }
        }
    }
    expectNamedFailure { touch(try PyTorchBinReader.read(bytes: input, storage: storage, path: path)) }
    expectNamedFailure { touch(try NpzReader.read(bytes: input, storage: storage, path: path)) }
    return 0
}

/// Reads every element: the views a reader returns must lie inside their storage.
func touch(_ tensors: [Tensor]) {
    var sum: Float = 0
    for tensor in tensors {
        for i in 0..<tensor.elementCount { sum += tensor.element(i) }
    }
    _ = sum
}
