// Fuzz target: the GGUF parser, dequantization and checkpoint reader (Scripts/fuzz.sh gguf).
import Foundation

func fuzzGGUF(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    // The parser over the bytes in memory: fast, so most executions go here.
    var parsed: GGUFFile?
    do {
        parsed = try GGUFFile.parse(input)
    } catch is GGUFProblem {
    } catch {
        fatalError("GGUF refused without a GGUFProblem: \(error)")
    }
    if let file = parsed {
        // Tensors the parser accepted must lie inside the bytes: decode every element (every
        // block type's dequantizer reads all of its block).
        var sum: Float = 0
        for info in file.tensors {
            let start = file.dataStart + info.offset
            let tensor = Tensor(name: info.name, dtype: info.dtype, shape: info.dims.reversed(),
                                data: UnsafeRawBufferPointer(rebasing: input[start..<(start + info.byteCount)]),
                                storage: ByteStorage())
            tensor.withFloats { floats in for v in floats { sum += v } }
        }
        _ = sum
    }
    // A deterministic quarter of the inputs also go through the checkpoint reader (mmap, names,
    // config, tokenizer), whose verdict cannot be kinder than the parser's.
    guard size % 4 == 0 else { return 0 }
    let path = FuzzScratch.write(UnsafeBufferPointer(start: data, count: size), to: "model.gguf")
    var readOK = false
    expectNamedFailure {
        let contents = try GGUFFormat.read(path)
        readOK = true
        _ = ParameterInventory(tensors: contents.tensors, config: contents.config)
        if case .embedded(let vocabulary)? = contents.tokenizer {
            let tokenizer = try BertTokenizer(embedded: vocabulary)
            _ = tokenizer.encode("Hello, naïve world [SEP] x", pair: "b", maxLength: 16)
        }
    }
    if readOK && parsed == nil { fatalError("the checkpoint reader took a file the parser refused") }
    return 0
}
