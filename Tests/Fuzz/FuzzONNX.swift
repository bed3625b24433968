// Fuzz target: the ONNX reader (Scripts/fuzz.sh onnx): the wire parser over the bytes in memory,
// then, for a deterministic quarter of the inputs, the file reader with name recovery.
import Foundation

func fuzzONNX(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    var parsed = false
    do {
        let model = try ONNXParser.parseModel(input)
        parsed = model.graph != nil
        // Spans the parser accepted lie inside the bytes: touch every raw_data byte.
        var sum: UInt8 = 0
        for tensor in model.graph?.initializers ?? [] {
            if let raw = tensor.rawData { for i in raw { sum &+= input[i] } }
        }
        _ = sum
    } catch is ONNXProblem {
    } catch {
        fatalError("model refused without an ONNXProblem: \(error)")
    }
    guard size % 4 == 0 else { return 0 }
    // Beside it, an external data file a fuzzed `location` may name.
    _ = FuzzScratch.write(UnsafeBufferPointer(start: data, count: min(size, 64)), to: "weights.bin")
    let path = FuzzScratch.write(UnsafeBufferPointer(start: data, count: size), to: "model.onnx")
    var read = false
    expectNamedFailure {
        let contents = try ONNXFormat.read(path)
        read = true
        var sum: Float = 0
        for tensor in contents.tensors { for i in 0..<tensor.elementCount { sum += tensor.element(i) } }
        _ = sum
    }
    if read && !parsed { fatalError("the file reader accepted a model the parser refused") }
    return 0
}
