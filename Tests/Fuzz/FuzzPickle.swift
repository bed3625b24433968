// Fuzz target: the restricted pickle machine on raw streams (Scripts/fuzz.sh pickle). The
// zip target reaches it through real .bin files; this one feeds it directly, so every byte is
// an opcode or an argument.
import Foundation

func fuzzPickle(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    do {
        _ = try Pickle.load(input)
    } catch is PickleProblem {
        // Refused with a reason: fine.
    } catch {
        fatalError("pickle refused without a PickleProblem: \(error)")
    }
    return 0
}
