import Foundation
import Testing
@testable import BertCheck

@Suite struct PickleTests {
    func load(_ bytes: [UInt8]) throws -> PickleValue {
        try bytes.withUnsafeBytes { try Pickle.load($0) }
    }

    func refusal(_ bytes: [UInt8]) -> PickleProblem? {
        do {
            _ = try load(bytes)
            Issue.record("pickle accepted")
            return nil
        } catch let problem as PickleProblem {
            return problem
        } catch {
            Issue.record("not a PickleProblem: \(error)")
            return nil
        }
    }

    @Test func readsTorchDataPickle() throws {
        let zip = try ZipArchive(path: PyTorchFixtures.path("tiny-bert/pytorch_model.bin"))
        let value = try load(Array(try zip.contents(named: "archive/data.pkl").bytes))
        guard case .dict(let dict) = value else { Issue.record("not a dict"); return }
        let expected = try expectedTensors(PyTorchFixtures.path("tiny-bert/expected.safetensors"))
        #expect(dict.entries.count == expected.count)
        guard case .tensor(let tensor)? = dict.value(forKey: "embeddings.word_embeddings.weight") else {
            Issue.record("no word embeddings"); return
        }
        #expect(tensor.shape == [64, 32])
        #expect(tensor.strides == [32, 1])
        #expect(tensor.dtype == .F32)
        #expect(tensor.storage.count == 64 * 32)
    }

    @Test func readsScalarsAndContainers() throws {
        var p = PickleBuilder()
        p.op(0x7D); p.op(0x94)                                    // {} memoized as 0
        p.mark()
        p.op(0x8C, [1, 0x61]); p.op(0x8A, [2, 0x00, 0x80])       // 'a': LONG1 -32768
        p.op(0x8C, [1, 0x62]); p.op(0x47, le(UInt64(0x4004_0000_0000_0000).bigEndian)) // 'b': 2.5
        p.op(0x8C, [1, 0x63]); p.op(0x5D); p.op(0x4B, [7]); p.op(0x4D, le(UInt16(300))); p.op(0x86); p.op(0x61) // 'c': [(7, 300)]
        p.op(0x8C, [1, 0x64]); p.op(0x4E)                         // 'd': None
        p.op(0x8C, [1, 0x65]); p.op(0x88)                         // 'e': True
        p.op(0x75)
        p.stop()
        guard case .dict(let dict) = try load(p.bytes) else { Issue.record("not a dict"); return }
        guard case .int(-32768)? = dict.value(forKey: "a") else { Issue.record("LONG1"); return }
        guard case .float(2.5)? = dict.value(forKey: "b") else { Issue.record("BINFLOAT"); return }
        guard case .list(let list)? = dict.value(forKey: "c"), case .tuple(let pair, _)? = list.items.first,
              case .int(7) = pair[0], case .int(300) = pair[1] else { Issue.record("list of tuple"); return }
        guard case .none? = dict.value(forKey: "d"), case .bool(true)? = dict.value(forKey: "e") else { Issue.record("None/True"); return }
    }

    @Test(arguments: [("posix", "system"), ("builtins", "eval"), ("os", "system"), ("subprocess", "Popen"),
                      ("torch", "load"), ("torch._utils", "_rebuild_device_tensor_from_numpy"), ("collections", "Counter")])
    func refusesGlobalsOutsideTheAllowList(module: String, name: String) throws {
        var p = PickleBuilder()
        p.global(module, name)
        p.string("echo pwned"); p.op(0x85); p.op(0x52)
        p.stop()
        #expect(refusal(p.bytes) == .forbiddenGlobal("\(module).\(name)"))
    }

    @Test func refusesForbiddenStackGlobal() throws {
        var p = PickleBuilder()
        p.op(0x8C, [8] + Array("builtins".utf8)); p.op(0x8C, [4] + Array("eval".utf8)); p.op(0x93)
        p.stop()
        #expect(refusal(p.bytes) == .forbiddenGlobal("builtins.eval"))
    }

    @Test func refusesCallingAllowedNonCallables() throws {
        var p = PickleBuilder()
        p.global("torch", "FloatStorage"); p.op(0x29); p.op(0x52); p.stop()
        guard case .badCall? = refusal(p.bytes) else { Issue.record("storage class called"); return }
    }

    @Test func refusesUnknownOpcodes() throws {
        #expect(refusal([0x80, 0x02, 0xFF]) == .unknownOpcode(0xFF, offset: 2))
        // INST and OBJ instantiate arbitrary classes; PERSID is the text form torch never writes.
        #expect(refusal([0x80, 0x02, 0x69]) == .unknownOpcode(0x69, offset: 2))
        #expect(refusal([0x80, 0x02, 0x6F]) == .unknownOpcode(0x6F, offset: 2))
        #expect(refusal([0x80, 0x02, 0x50]) == .unknownOpcode(0x50, offset: 2))
        #expect(refusal([0x80, 0x06]) == .unsupportedProtocol(6))
    }

    @Test func refusesMemoReferencesOutOfRange() throws {
        #expect(refusal([0x80, 0x02, 0x4E, 0x71, 0x00, 0x68, 0x05, 0x2E]) == .memoMissing(index: 5, offset: 5))
        #expect(refusal([0x80, 0x02, 0x6A] + le(UInt32.max) + [0x2E]) == .memoMissing(index: UInt64(UInt32.max), offset: 2))
    }

    @Test func refusesDeepNesting() throws {
        let tuples = [0x80, 0x02, 0x5D] + [UInt8](repeating: 0x85, count: 10_000) + [0x2E]
        #expect(refusal(tuples) == .tooDeep(limit: Pickle.maximumDepth))
        // Lists nested through APPEND: ] ] ] ... a a a
        let lists = [0x80, 0x02] + [UInt8](repeating: 0x5D, count: 500) + [UInt8](repeating: 0x61, count: 499) + [0x2E]
        #expect(refusal(lists) == .tooDeep(limit: Pickle.maximumDepth))
    }

    @Test func refusesCyclesAndMutationAfterNesting() throws {
        // l = []; l.append(l)
        #expect(refusal([0x80, 0x02, 0x5D, 0x71, 0x00, 0x68, 0x00, 0x61, 0x2E]) == .modifiedAfterNesting(offset: 7))
        // inner = []; outer = (inner,); inner.append(1)
        let mutate: [UInt8] = [0x80, 0x02, 0x5D, 0x71, 0x00, 0x85, 0x68, 0x00, 0x4B, 0x01, 0x61, 0x2E]
        #expect(refusal(mutate) == .modifiedAfterNesting(offset: 10))
    }

    @Test func refusesTruncatedPickles() throws {
        let zip = try ZipArchive(path: PyTorchFixtures.path("tiny-bert/pytorch_model.bin"))
        let full = Array(try zip.contents(named: "archive/data.pkl").bytes)
        for cut in [1, 2, 3, 40, full.count / 2, full.count - 1] {
            let found = refusal(Array(full[..<cut]))
            switch found {
            case .truncated?, .lengthPastEnd?: break
            default: Issue.record("cut at \(cut): \(String(describing: found))")
            }
        }
        #expect(refusal([0x80, 0x02, 0x58] + le(UInt32.max) + [0x61]) == .lengthPastEnd(offset: 2, length: UInt64(UInt32.max), remaining: 1))
        #expect(refusal([0x80, 0x02, 0x8D] + le(UInt64.max)) == .lengthPastEnd(offset: 2, length: UInt64.max, remaining: 0))
        #expect(refusal([0x80, 0x02, 0x8B] + le(UInt32(1 << 30))) == .lengthPastEnd(offset: 2, length: 1 << 30, remaining: 0))
        #expect(refusal([0x80, 0x02, 0x63] + Array("torch".utf8)) == .truncated(offset: 8))
    }

    @Test func refusesStackUnderflowAndMissingMarks() throws {
        #expect(refusal([0x80, 0x02, 0x86, 0x2E]) == .stackUnderflow(opcode: "TUPLE2", offset: 2))
        #expect(refusal([0x80, 0x02, 0x4E, 0x52, 0x2E]) == .stackUnderflow(opcode: "REDUCE", offset: 3))
        #expect(refusal([0x80, 0x02, 0x2E]) == .noValue)
        #expect(refusal([0x80, 0x02, 0x4E, 0x74, 0x2E]) == .missingMark(opcode: "TUPLE", offset: 3))
        // Popping through a mark is underflow, not a silent read of older values.
        #expect(refusal([0x80, 0x02, 0x4E, 0x4E, 0x28, 0x86, 0x2E]) == .stackUnderflow(opcode: "TUPLE2", offset: 5))
    }

    @Test func refusesOversizedIntegersAndBadStrings() throws {
        #expect(refusal([0x80, 0x02, 0x8A, 9] + [UInt8](repeating: 0x11, count: 9) + [0x2E]) == .integerTooLarge(offset: 2))
        #expect(refusal([0x80, 0x02, 0x8C, 2, 0xC3, 0x28, 0x2E]) == .invalidUTF8(offset: 4))
        // Nine bytes of pure sign extension still fit.
        guard case .int(-1) = try load([0x80, 0x02, 0x8A, 9] + [UInt8](repeating: 0xFF, count: 9) + [0x2E]) else {
            Issue.record("LONG1 -1 in 9 bytes"); return
        }
    }

    @Test func refusesWrongTypes() throws {
        guard case .wrongType? = refusal([0x80, 0x02, 0x5D, 0x4E, 0x4E, 0x73, 0x2E]) else { Issue.record("SETITEM on a list"); return }
        guard case .wrongType? = refusal([0x80, 0x02, 0x7D, 0x4E, 0x61, 0x2E]) else { Issue.record("APPEND on a dict"); return }
        guard case .unsupportedKey? = refusal([0x80, 0x02, 0x7D, 0x5D, 0x4E, 0x73, 0x2E]) else { Issue.record("list as key"); return }
        guard case .wrongType? = refusal([0x80, 0x02, 0x4E, 0x4E, 0x62, 0x2E]) else { Issue.record("BUILD on None"); return }
    }

    @Test func refusesBadTensorDescriptions() throws {
        func stateDict(offset: Int = 0, shape: [Int] = [2], strides: [Int] = [1], storage: String = "FloatStorage") -> [UInt8] {
            PickleBuilder.stateDict([(name: "w", storage: storage, key: "0", count: 2, offset: offset, shape: shape, strides: strides)])
        }
        guard case .dict = try load(stateDict()) else { Issue.record("good state dict refused"); return }
        guard case .badCall? = refusal(stateDict(shape: [2, 2])) else { Issue.record("shape/stride count mismatch"); return }
        guard case .badCall? = refusal(stateDict(offset: -1)) else { Issue.record("negative offset"); return }
        guard case .badCall? = refusal(stateDict(strides: [-1])) else { Issue.record("negative stride"); return }
        #expect(refusal(stateDict(storage: "EvilStorage")) == .forbiddenGlobal("torch.EvilStorage"))
        // A persistent id that is not a storage tuple.
        var p = PickleBuilder()
        p.string("storage"); p.op(0x85); p.op(0x51); p.stop()
        guard case .badPersistentID? = refusal(p.bytes) else { Issue.record("bad persistent id"); return }
    }
}
