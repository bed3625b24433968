// The one libFuzzer entry point. All targets live in one binary (one compile of the library
// with -sanitize=fuzzer,address); BERTCHECK_FUZZ_TARGET, set by Scripts/fuzz.sh, picks the target.
import Foundation

let fuzzTargets: [String: (UnsafePointer<UInt8>, Int) -> CInt] = [
    "safetensors": fuzzSafetensors,
    "zip": fuzzZip,
    "pickle": fuzzPickle,
    "tokenizer": fuzzTokenizer,
    "config": fuzzConfig,
    "golden": fuzzGolden,
    "onnx": fuzzONNX,
    "gguf": fuzzGGUF,
]

let selectedFuzzTarget: (UnsafePointer<UInt8>, Int) -> CInt = {
    let name = ProcessInfo.processInfo.environment["BERTCHECK_FUZZ_TARGET"] ?? ""
    guard let target = fuzzTargets[name] else {
        fatalError("set BERTCHECK_FUZZ_TARGET to one of \(fuzzTargets.keys.sorted())")
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    selectedFuzzTarget(data, size)
}
