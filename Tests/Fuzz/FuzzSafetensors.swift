// Fuzz target: the safetensors header parser and reader (Scripts/fuzz.sh safetensors).
import Foundation

func fuzzSafetensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    // The parser over the bytes in memory: fast, so most executions go here.
    var parsed: SafetensorsFile.Header?
    do {
        parsed = try SafetensorsFile.parseHeader(input)
    } catch is SafetensorsProblem {
    } catch {
        fatalError("header refused without a SafetensorsProblem: \(error)")
    }
    if let header = parsed {
        // Offsets the parser accepted must lie inside the bytes: touch every element.
        var sum: Float = 0
        for entry in header.entries {
            let tensor = Tensor(name: entry.name, dtype: entry.dtype, shape: entry.shape,
                                data: UnsafeRawBufferPointer(rebasing: input[(header.dataStart + entry.begin)..<(header.dataStart + entry.end)]),
                                storage: ByteStorage())
            for i in 0..<tensor.elementCount { sum += tensor.element(i) }
        }
        _ = sum
    }
    // A deterministic quarter of the inputs also go through the file readers (mmap and pread),
    // which must agree with each other and with the in-memory verdict.
    guard size % 4 == 0 else { return 0 }
    let path = FuzzScratch.write(UnsafeBufferPointer(start: data, count: size), to: "model.safetensors")
    var mappedOK = false, headerOK = false
    expectNamedFailure {
        _ = try SafetensorsFile.read(path)
        mappedOK = true
    }
    expectNamedFailure {
        _ = try SafetensorsFile.readHeader(path)
        headerOK = true
    }
    if mappedOK != headerOK || mappedOK != (parsed != nil) {
        fatalError("verdicts disagree: in memory \(parsed != nil), read \(mappedOK), readHeader \(headerOK)")
    }
    return 0
}
