/// A restricted pickle machine for the `data.pkl` that `torch.save` writes. It understands the
/// opcodes of protocols 2-5 that checkpoints use, resolves only an explicit list of globals into
/// inert descriptions (nothing is ever imported or called), and bounds everything a hostile
/// stream could make it do: stack, memo, nesting and declared lengths.

/// Every way a pickle stream can be refused, one case each.
public enum PickleProblem: Error, CustomStringConvertible, Equatable, Sendable {
    case truncated(offset: Int)
    case lengthPastEnd(offset: Int, length: UInt64, remaining: Int)
    case unknownOpcode(UInt8, offset: Int)
    case unsupportedProtocol(Int)
    case stackUnderflow(opcode: String, offset: Int)
    case missingMark(opcode: String, offset: Int)
    case memoMissing(index: UInt64, offset: Int)
    case forbiddenGlobal(String)
    case tooDeep(limit: Int)
    case tooManyValues(limit: Int)
    case integerTooLarge(offset: Int)
    case invalidUTF8(offset: Int)
    case wrongType(opcode: String, expected: String, found: String, offset: Int)
    case badCall(callee: String, reason: String)
    case modifiedAfterNesting(offset: Int)
    case unsupportedKey(found: String, offset: Int)
    case badPersistentID(reason: String)
    case noValue
    case tooMuchWork(limit: Int)

    public var description: String {
        switch self {
        case .truncated(let offset):
            return "pickle truncated at byte \(offset) (no STOP opcode)"
        case .lengthPastEnd(let offset, let length, let remaining):
            return "pickle declares \(length) bytes at byte \(offset) but only \(remaining) remain"
        case .unknownOpcode(let opcode, let offset):
            return "pickle opcode 0x\(String(opcode, radix: 16)) at byte \(offset) is unknown or not allowed"
        case .unsupportedProtocol(let version):
            return "pickle protocol \(version) is not supported (2 to 5 are)"
        case .stackUnderflow(let opcode, let offset):
            return "pickle stack underflow at \(opcode) (byte \(offset))"
        case .missingMark(let opcode, let offset):
            return "pickle \(opcode) at byte \(offset) has no MARK"
        case .memoMissing(let index, let offset):
            return "pickle memo reference \(index) at byte \(offset) was never stored"
        case .forbiddenGlobal(let name):
            return "pickle refers to the global '\(name)', which is not allowed in a checkpoint (nothing was executed)"
        case .tooDeep(let limit):
            return "pickle nests containers deeper than \(limit) levels"
        case .tooManyValues(let limit):
            return "pickle holds more than \(limit) values on its stack or memo"
        case .integerTooLarge(let offset):
            return "pickle integer at byte \(offset) does not fit in 64 bits"
        case .invalidUTF8(let offset):
            return "pickle string at byte \(offset) is not valid UTF-8"
        case .wrongType(let opcode, let expected, let found, let offset):
            return "pickle \(opcode) at byte \(offset) expects \(expected), found \(found)"
        case .badCall(let callee, let reason):
            return "pickle calls \(callee) with \(reason)"
        case .modifiedAfterNesting(let offset):
            return "pickle modifies a container at byte \(offset) after placing it inside another (cycles are not allowed)"
        case .unsupportedKey(let found, let offset):
            return "pickle dictionary key at byte \(offset) is \(found) (only strings, integers, booleans and None)"
        case .badPersistentID(let reason):
            return "pickle persistent id \(reason)"
        case .noValue:
            return "pickle STOP with an empty stack"
        case .tooMuchWork(let limit):
            return "pickle passes more than \(limit) key/value pairs to OrderedDict in total (a memoised list handed over again and again)"
        }
    }
}

public enum Pickle {
    public static let maximumDepth = 100
    public static let maximumValues = 10_000_000
    /// Key/value pairs all `OrderedDict(items)` calls of one stream may copy. torch.save builds
    /// state dicts with `OrderedDict()` and SETITEMS, so real streams use none; without a bound a
    /// memoised list passed n times costs n·k from a stream of n + k bytes.
    public static let maximumOrderedDictPairs = 100_000

    /// Runs the stream to its STOP and returns the value it produced.
    public static func load(_ bytes: UnsafeRawBufferPointer) throws -> PickleValue {
        var machine = PickleMachine(bytes: bytes)
        return try machine.run()
    }
}

/// The machine's state and opcodes; globals, calls and persistent ids are in PickleCalls.swift.
struct PickleMachine {
    let bytes: UnsafeRawBufferPointer
    var position = 0
    var opcodeStart = 0
    var opcodeName = ""
    var stack: [PickleValue] = []
    var marks: [Int] = []
    var memo: [UInt64: PickleValue] = [:]
    /// Pairs copied by `OrderedDict(items)` calls so far (bounded by `maximumOrderedDictPairs`).
    var orderedDictPairs = 0

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func run() throws -> PickleValue {
        while true {
            opcodeStart = position
            let opcode = try readByte()
            switch opcode {
            case 0x80: // PROTO
                opcodeName = "PROTO"
                let version = Int(try readByte())
                guard (2...5).contains(version) else { throw PickleProblem.unsupportedProtocol(version) }
            case 0x95: // FRAME: a length hint only
                _ = try read(UInt64.self)
            case 0x2E: // STOP
                opcodeName = "STOP"
                guard let value = stack.popLast() else { throw PickleProblem.noValue }
                return value
            case 0x28: // MARK
                try checkCapacity()
                marks.append(stack.count)
            case 0x7D: try push(.dict(PickleDict()))           // EMPTY_DICT
            case 0x5D: try push(.list(PickleList()))           // EMPTY_LIST
            case 0x29: try push(.tuple([], depth: 1))          // EMPTY_TUPLE
            case 0x4E: try push(.none)                         // NONE
            case 0x88: try push(.bool(true))                   // NEWTRUE
            case 0x89: try push(.bool(false))                  // NEWFALSE
            case 0x4B: try push(.int(Int64(try readByte())))   // BININT1
            case 0x4D: try push(.int(Int64(try read(UInt16.self)))) // BININT2
            case 0x4A: try push(.int(Int64(Int32(bitPattern: try read(UInt32.self))))) // BININT
            case 0x8A: // LONG1
                let length = Int(try readByte())
                try push(.int(try readLong(length)))
            case 0x8B: // LONG4
                let length = try read(UInt32.self)
                try push(.int(try readLong(try checkedLength(UInt64(length)))))
            case 0x47: // BINFLOAT: big-endian IEEE double
                try push(.float(Double(bitPattern: UInt64(bigEndian: try readRaw(UInt64.self)))))
            case 0x58: // BINUNICODE
                try push(.string(try readString(UInt64(try read(UInt32.self)))))
            case 0x8C: // SHORT_BINUNICODE
                try push(.string(try readString(UInt64(try readByte()))))
            case 0x8D: // BINUNICODE8
                try push(.string(try readString(try read(UInt64.self))))
            case 0x54: // BINSTRING (Python 2 str)
                try push(.string(try readString(UInt64(try read(UInt32.self)))))
            case 0x55: // SHORT_BINSTRING
                try push(.string(try readString(UInt64(try readByte()))))
            case 0x42: // BINBYTES
                try push(.bytes(try readBytes(UInt64(try read(UInt32.self)))))
            case 0x43: // SHORT_BINBYTES
                try push(.bytes(try readBytes(UInt64(try readByte()))))
            case 0x8E: // BINBYTES8
                try push(.bytes(try readBytes(try read(UInt64.self))))
            case 0x85: opcodeName = "TUPLE1"; try push(try makeTuple(try popValues(1)))
            case 0x86: opcodeName = "TUPLE2"; try push(try makeTuple(try popValues(2)))
            case 0x87: opcodeName = "TUPLE3"; try push(try makeTuple(try popValues(3)))
            case 0x74: // TUPLE
                opcodeName = "TUPLE"
                try push(try makeTuple(try popToMark()))
            case 0x63: // GLOBAL: "module\nname\n"
                opcodeName = "GLOBAL"
                let module = try readLine()
                let name = try readLine()
                try push(try resolveGlobal(module: module, name: name))
            case 0x93: // STACK_GLOBAL
                opcodeName = "STACK_GLOBAL"
                let name = try pop(), module = try pop()
                guard case .string(let module) = module, case .string(let name) = name else {
                    throw wrongType(expected: "two strings", found: module.typeName + " and " + name.typeName)
                }
                try push(try resolveGlobal(module: module, name: name))
            case 0x52: // REDUCE
                opcodeName = "REDUCE"
                let argumentTuple = try pop(), callee = try pop()
                guard case .tuple(let arguments, _) = argumentTuple else {
                    throw wrongType(expected: "an argument tuple", found: argumentTuple.typeName)
                }
                try push(try call(callee, arguments))
            case 0x81: // NEWOBJ: cls.__new__(cls, *args)
                opcodeName = "NEWOBJ"
                let argumentTuple = try pop(), type = try pop()
                guard case .tuple(let arguments, _) = argumentTuple else {
                    throw wrongType(expected: "an argument tuple", found: argumentTuple.typeName)
                }
                guard case .global(.orderedDict) = type, arguments.isEmpty else {
                    throw PickleProblem.badCall(callee: type.typeName, reason: "NEWOBJ (only OrderedDict() may be created)")
                }
                try push(.dict(PickleDict()))
            case 0x62: // BUILD: set state on the object below
                opcodeName = "BUILD"
                let state = try pop()
                guard let object = stack.last else { throw underflow() }
                switch object {
                case .dict:
                    // An OrderedDict's instance attributes (a state dict's `_metadata`): not weights.
                    state.seal()
                case .tensor:
                    // Parameter/tensor attributes (hooks, requires_grad state): not weights.
                    state.seal()
                default:
                    throw wrongType(expected: "a dict or tensor to BUILD", found: object.typeName)
                }
            case 0x51: // BINPERSID
                opcodeName = "BINPERSID"
                let id = try pop()
                try push(try persistentLoad(id))
            case 0x71: try memoize(UInt64(try readByte()))            // BINPUT
            case 0x72: try memoize(UInt64(try read(UInt32.self)))     // LONG_BINPUT
            case 0x94: try memoize(UInt64(memo.count))                 // MEMOIZE
            case 0x68: try recall(UInt64(try readByte()))             // BINGET
            case 0x6A: try recall(UInt64(try read(UInt32.self)))      // LONG_BINGET
            case 0x73: // SETITEM
                opcodeName = "SETITEM"
                let value = try pop(), key = try pop()
                try setItems([key, value])
            case 0x75: // SETITEMS
                opcodeName = "SETITEMS"
                let items = try popToMark()
                guard items.count % 2 == 0 else { throw wrongType(expected: "key/value pairs", found: "\(items.count) values") }
                try setItems(items)
            case 0x61: // APPEND
                opcodeName = "APPEND"
                try append([try pop()])
            case 0x65: // APPENDS
                opcodeName = "APPENDS"
                try append(try popToMark())
            case 0x30: // POP
                opcodeName = "POP"
                _ = try pop()
            case 0x31: // POP_MARK
                opcodeName = "POP_MARK"
                _ = try popToMark()
            case 0x32: // DUP
                opcodeName = "DUP"
                guard let top = stack.last else { throw underflow() }
                try push(top)
            default:
                throw PickleProblem.unknownOpcode(opcode, offset: opcodeStart)
            }
        }
    }

    // MARK: Reading

    mutating func readByte() throws -> UInt8 {
        guard position < bytes.count else { throw PickleProblem.truncated(offset: position) }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func readRaw<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        guard position <= bytes.count - MemoryLayout<T>.size else { throw PickleProblem.truncated(offset: position) }
        defer { position += MemoryLayout<T>.size }
        return bytes.loadUnaligned(fromByteOffset: position, as: T.self)
    }

    mutating func read<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        T(littleEndian: try readRaw(type))
    }

    /// A declared length, checked against the bytes left before anything is allocated.
    func checkedLength(_ length: UInt64) throws -> Int {
        let remaining = bytes.count - position
        guard let count = Int(exactly: length), count <= remaining else {
            throw PickleProblem.lengthPastEnd(offset: opcodeStart, length: length, remaining: remaining)
        }
        return count
    }

    mutating func readBytes(_ length: UInt64) throws -> [UInt8] {
        let count = try checkedLength(length)
        defer { position += count }
        return Array(bytes[position..<position + count])
    }

    mutating func readString(_ length: UInt64) throws -> String {
        let count = try checkedLength(length)
        defer { position += count }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[position..<position + count])
        guard let string = String(validating: slice, as: UTF8.self) else { throw PickleProblem.invalidUTF8(offset: position) }
        return string
    }

    mutating func readLine() throws -> String {
        guard let newline = bytes[position...].firstIndex(of: 0x0A) else { throw PickleProblem.truncated(offset: bytes.count) }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[position..<newline])
        guard let line = String(validating: slice, as: UTF8.self) else { throw PickleProblem.invalidUTF8(offset: position) }
        position = newline + 1
        return line
    }

    /// A little-endian two's-complement integer of `length` bytes (LONG1/LONG4).
    mutating func readLong(_ length: Int) throws -> Int64 {
        let start = position
        let count = try checkedLength(UInt64(length))
        position += count
        guard count > 0 else { return 0 }
        let negative = bytes[start + count - 1] & 0x80 != 0
        // Bytes beyond the eighth must be pure sign extension.
        if count > 8 {
            for index in (start + 8)..<(start + count) where bytes[index] != (negative ? 0xFF : 0) {
                throw PickleProblem.integerTooLarge(offset: opcodeStart)
            }
            let low = bytes[start + 7] & 0x80 != 0
            guard low == negative else { throw PickleProblem.integerTooLarge(offset: opcodeStart) }
        }
        var value: UInt64 = negative ? ~0 : 0
        for index in 0..<min(count, 8) {
            let shift = UInt64(index * 8)
            value &= ~(0xFF << shift)
            value |= UInt64(bytes[start + index]) << shift
        }
        return Int64(bitPattern: value)
    }

    // MARK: Stack and memo

    func checkCapacity() throws {
        guard stack.count + marks.count + memo.count < Pickle.maximumValues else {
            throw PickleProblem.tooManyValues(limit: Pickle.maximumValues)
        }
    }

    mutating func push(_ value: PickleValue) throws {
        try checkCapacity()
        stack.append(value)
    }

    func underflow() -> PickleProblem {
        .stackUnderflow(opcode: opcodeName, offset: opcodeStart)
    }

    func wrongType(expected: String, found: String) -> PickleProblem {
        .wrongType(opcode: opcodeName, expected: expected, found: found, offset: opcodeStart)
    }

    /// Pops the top value, never reaching below the innermost mark.
    mutating func pop() throws -> PickleValue {
        guard stack.count > (marks.last ?? 0), let value = stack.popLast() else { throw underflow() }
        return value
    }

    /// Pops `count` values (in stack order), never reaching below the innermost mark.
    mutating func popValues(_ count: Int) throws -> [PickleValue] {
        let floor = marks.last ?? 0
        guard stack.count - floor >= count else { throw underflow() }
        let values = Array(stack[(stack.count - count)...])
        stack.removeLast(count)
        return values
    }

    mutating func popToMark() throws -> [PickleValue] {
        guard let mark = marks.popLast() else { throw PickleProblem.missingMark(opcode: opcodeName, offset: opcodeStart) }
        let values = Array(stack[mark...])
        stack.removeLast(stack.count - mark)
        return values
    }

    mutating func memoize(_ index: UInt64) throws {
        opcodeName = "BINPUT"
        guard let top = stack.last else { throw underflow() }
        try checkCapacity()
        memo[index] = top
    }

    mutating func recall(_ index: UInt64) throws {
        guard let value = memo[index] else { throw PickleProblem.memoMissing(index: index, offset: opcodeStart) }
        try push(value)
    }

    // MARK: Containers

    func makeTuple(_ items: [PickleValue]) throws -> PickleValue {
        let depth = 1 + (items.map(\.depth).max() ?? 0)
        guard depth <= Pickle.maximumDepth else { throw PickleProblem.tooDeep(limit: Pickle.maximumDepth) }
        items.forEach { $0.seal() }
        return .tuple(items, depth: depth)
    }

    func key(_ value: PickleValue) throws -> PickleKey {
        switch value {
        case .string(let string): return .string(string)
        case .int(let int): return .int(int)
        case .bool(let bool): return .bool(bool)
        case .none: return .none
        default: throw PickleProblem.unsupportedKey(found: value.typeName, offset: opcodeStart)
        }
    }

    mutating func setItems(_ items: [PickleValue]) throws {
        guard let target = stack.last else { throw underflow() }
        guard case .dict(let dict) = target else { throw wrongType(expected: "a dict", found: target.typeName) }
        guard !dict.sealed else { throw PickleProblem.modifiedAfterNesting(offset: opcodeStart) }
        // An unsealed container is inside nothing, so only itself could close a cycle.
        for item in items { if case .dict(let inner) = item, inner === dict { throw PickleProblem.modifiedAfterNesting(offset: opcodeStart) } }
        var index = 0
        while index + 1 < items.count {
            let key = items[index], value = items[index + 1]
            let hashable = try self.key(key)
            guard value.depth + 1 <= Pickle.maximumDepth else { throw PickleProblem.tooDeep(limit: Pickle.maximumDepth) }
            value.seal()
            dict.depth = max(dict.depth, value.depth + 1)
            if let existing = dict.indexByKey[hashable] {
                dict.entries[existing].value = value
            } else {
                dict.indexByKey[hashable] = dict.entries.count
                dict.entries.append((key, value))
            }
            index += 2
        }
    }

    mutating func append(_ items: [PickleValue]) throws {
        guard let target = stack.last else { throw underflow() }
        guard case .list(let list) = target else { throw wrongType(expected: "a list", found: target.typeName) }
        guard !list.sealed else { throw PickleProblem.modifiedAfterNesting(offset: opcodeStart) }
        for item in items { if case .list(let inner) = item, inner === list { throw PickleProblem.modifiedAfterNesting(offset: opcodeStart) } }
        for item in items {
            guard item.depth + 1 <= Pickle.maximumDepth else { throw PickleProblem.tooDeep(limit: Pickle.maximumDepth) }
            item.seal()
            list.depth = max(list.depth, item.depth + 1)
            list.items.append(item)
        }
    }
}
