import Foundation
import Testing
@testable import BertCheck

// Issue 18, defect 5: a memoised list of pairs handed to OrderedDict again and again made the
// machine do work quadratic in the stream's length. The total work is now bounded.

@Suite struct PickleWorkTests {
    /// `L = [(0, None), … (k-1, None)]` memoised, then `OrderedDict(L)` `calls` times.
    static func repeatedOrderedDict(pairs k: Int, calls: Int) -> [UInt8] {
        var bytes: [UInt8] = [0x80, 2, 0x5D, 0x71, 0, 0x28]
        for i in 0..<k { bytes += [0x4D, UInt8(i & 0xFF), UInt8(i >> 8), 0x4E, 0x86] }  // BININT2 i, None, TUPLE2
        bytes += [0x65]  // APPENDS
        bytes += [0x63] + Array("collections\nOrderedDict\n".utf8) + [0x71, 1]
        for _ in 0..<calls { bytes += [0x68, 1, 0x68, 0, 0x85, 0x52, 0x30] }  // BINGET 1, BINGET 0, TUPLE1, REDUCE, POP
        bytes += [0x7D, 0x2E]  // EMPTY_DICT, STOP
        return bytes
    }

    @Test func repeatedOrderedDictCallsAreBoundedInTotal() throws {
        let bytes = Self.repeatedOrderedDict(pairs: 4000, calls: 4000)  // 16 M pairs from 48 KB
        let clock = ContinuousClock()
        let start = clock.now
        var refused: PickleProblem?
        do { _ = try bytes.withUnsafeBytes { try Pickle.load($0) } } catch let problem as PickleProblem { refused = problem }
        #expect(clock.now - start < .seconds(5), "took \(clock.now - start)")
        guard case .tooMuchWork? = refused else { Issue.record("not refused for its total work: \(String(describing: refused))"); return }
    }

    @Test func aFewOrderedDictCallsStillWork() throws {
        let value = try Self.repeatedOrderedDict(pairs: 3, calls: 2).withUnsafeBytes { try Pickle.load($0) }
        guard case .dict(let dict) = value else { Issue.record("not a dict"); return }
        #expect(dict.entries.isEmpty)
    }
}
