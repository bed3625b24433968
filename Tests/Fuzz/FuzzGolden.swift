// Fuzz target: the golden reader (Scripts/fuzz.sh golden): safetensors or .npz goldens, every
// rule of bertcheck-golden/1, and the texts list its metadata (and `--texts-file`) holds.
import Foundation

func fuzzGolden(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeBufferPointer(start: data, count: size)
    let path = FuzzScratch.write(input, to: "golden.safetensors")
    expectNamedFailure {
        let golden = try GoldenFile.read(path)
        // What verify relies on once a golden is accepted.
        let cells = golden.batch.multipliedReportingOverflow(by: golden.seq)
        guard !cells.overflow, golden.batch > 0, golden.seq > 0, golden.hidden > 0,
              golden.inputIds.count == cells.partialValue, golden.attentionMask.count == cells.partialValue,
              golden.tokenTypeIds.count == cells.partialValue,
              golden.inputIds.allSatisfy({ $0 >= 0 }), golden.tokenTypeIds.allSatisfy({ $0 >= 0 }),
              golden.attentionMask.allSatisfy({ $0 == 0 || $0 == 1 }) else {
            fatalError("accepted a golden verify cannot use")
        }
        _ = golden.inputBatch
    }
    // The same bytes as a texts list: parsed or refused with a reason, never a trap.
    _ = TextItem.parseList(Array(input))
    return 0
}
