/// What the pickle machine (Pickle.swift) does with globals, REDUCE/BUILD calls and persistent
/// ids: only the listed globals, resolved into inert descriptions.

extension PickleMachine {
    func resolveGlobal(module: String, name: String) throws -> PickleValue {
        guard let global = PickleGlobal(module: module, name: name) else {
            throw PickleProblem.forbiddenGlobal("\(module).\(name)")
        }
        return .global(global)
    }

    mutating func call(_ callee: PickleValue, _ arguments: [PickleValue]) throws -> PickleValue {
        guard case .global(let global) = callee else {
            throw wrongType(expected: "an allowed global to call", found: callee.typeName)
        }
        func fail(_ reason: String) -> PickleProblem { .badCall(callee: global.name, reason: reason) }
        switch global {
        case .orderedDict:
            let dict = PickleDict()
            if arguments.isEmpty { return .dict(dict) }
            // OrderedDict([[key, value], ...])
            guard arguments.count == 1 else { throw fail("\(arguments.count) arguments") }
            let pairs: [PickleValue]
            switch arguments[0] {
            case .list(let list): pairs = list.items
            case .tuple(let items, _): pairs = items
            default: throw fail("a \(arguments[0].typeName) of items")
            }
            orderedDictPairs += pairs.count
            guard orderedDictPairs <= Pickle.maximumOrderedDictPairs else {
                throw PickleProblem.tooMuchWork(limit: Pickle.maximumOrderedDictPairs)
            }
            var flat: [PickleValue] = []
            for pair in pairs {
                switch pair {
                case .tuple(let kv, _) where kv.count == 2: flat += kv
                case .list(let list) where list.items.count == 2: flat += list.items
                default: throw fail("an item that is not a key/value pair")
                }
            }
            var machine = self
            machine.stack = [.dict(dict)]
            try machine.setItems(flat)
            return .dict(dict)
        case .rebuildTensorV2, .rebuildTensorV3:
            // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, dtype][, metadata])
            guard arguments.count >= 4, arguments.count <= 8 else { throw fail("\(arguments.count) arguments") }
            guard case .storage(let storage) = arguments[0] else { throw fail("\(arguments[0].typeName) as its storage") }
            guard case .int(let offset) = arguments[1], offset >= 0, let start = Int(exactly: offset) else {
                throw fail("a storage offset that is not a non-negative integer")
            }
            let shape = try integers(arguments[2], what: "size", fail: fail)
            let strides = try integers(arguments[3], what: "stride", fail: fail)
            guard shape.count == strides.count else { throw fail("\(shape.count) sizes but \(strides.count) strides") }
            var dtype = storage.dtype
            if global == .rebuildTensorV3 {
                guard arguments.count >= 7, case .global(.dtype(let declared)) = arguments[6] else {
                    throw fail("no dtype argument")
                }
                dtype = declared
            }
            guard dtype == storage.dtype else {
                throw fail("dtype \(dtype.rawValue) over a \(storage.dtype.rawValue) storage (unsupported reinterpretation)")
            }
            return .tensor(PickleTensor(storage: storage, dtype: dtype, offset: start, shape: shape, strides: strides))
        case .rebuildParameter, .rebuildParameterWithState:
            // (data, requires_grad, backward_hooks[, state]): a Parameter is its tensor here.
            guard (3...4).contains(arguments.count), case .tensor = arguments[0] else {
                throw fail("arguments that are not (tensor, requires_grad, hooks)")
            }
            return arguments[0]
        case .typedStorage, .untypedStorage, .dtype:
            throw fail("a call (it is not callable in a checkpoint)")
        }
    }

    func integers(_ value: PickleValue, what: String, fail: (String) -> PickleProblem) throws -> [Int] {
        guard case .tuple(let items, _) = value else { throw fail("a \(value.typeName) as its \(what)") }
        return try items.map { item in
            guard case .int(let number) = item, number >= 0, let int = Int(exactly: number) else {
                throw fail("a \(what) entry that is not a non-negative integer")
            }
            return int
        }
    }

    /// torch.save's persistent ids: `('storage', StorageType, key, location, numel)`.
    func persistentLoad(_ id: PickleValue) throws -> PickleValue {
        guard case .tuple(let items, _) = id, items.count == 5 else {
            throw PickleProblem.badPersistentID(reason: "is \(id.typeName), not a 5-tuple ('storage', type, key, location, size)")
        }
        guard case .string("storage") = items[0] else { throw PickleProblem.badPersistentID(reason: "is not a 'storage' id") }
        let dtype: DType
        switch items[1] {
        case .global(.typedStorage(let type)): dtype = type
        case .global(.untypedStorage): dtype = .U8
        case .global(.dtype(let type)): dtype = type
        default: throw PickleProblem.badPersistentID(reason: "names \(items[1].typeName) as its storage type")
        }
        guard case .string(let key) = items[2] else { throw PickleProblem.badPersistentID(reason: "has a key that is not a string") }
        guard case .string(let location) = items[3] else {
            throw PickleProblem.badPersistentID(reason: "has a location that is not a string")
        }
        guard case .int(let numel) = items[4], numel >= 0, let count = Int(exactly: numel) else {
            throw PickleProblem.badPersistentID(reason: "has a size that is not a non-negative integer")
        }
        return .storage(PickleStorage(dtype: dtype, key: key, location: location, count: count))
    }
}
