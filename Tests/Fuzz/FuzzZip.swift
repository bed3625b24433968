// libFuzzer entry: the zip reader and the torch.save (.bin) reader on top of it
// (Scripts/fuzz.sh zip).
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzZip(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeBufferPointer(start: data, count: size)
    let path = FuzzScratch.write(input, to: "pytorch_model.bin")
    expectNamedFailure {
        let archive = try ZipArchive(path: path)
        for entry in archive.entries {
            // Each entry on its own: one broken entry must not hide how the others behave.
            expectNamedFailure {
                let contents = try archive.contents(of: entry)
                if entry.isStored { try archive.verifyChecksum(entry, of: contents) }
            }
        }
    }
    expectNamedFailure {
        var sum: Float = 0
        for tensor in try PyTorchBinReader.read(path) {
            for i in 0..<tensor.elementCount { sum += tensor.element(i) }
        }
        _ = sum
    }
    return 0
}
