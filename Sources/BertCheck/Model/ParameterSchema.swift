/// How a checkpoint's tensors compare with the parameter set of transformers' `BertModel`
/// (ParameterSpec.swift).

/// A checkpoint tensor under its `BertModel` name.
public struct NamedParameter: @unchecked Sendable {
    /// Canonical `BertModel` name (`bert.` stripped, LayerNorm gamma/beta mapped).
    public let name: String
    public let tensor: Tensor
    public let group: ParameterGroup

    public init(name: String, tensor: Tensor) {
        self.name = name
        self.tensor = tensor
        group = ParameterGroup(canonicalName: name)
    }

    /// The name as stored in the file.
    public var storedName: String { tensor.storedName ?? tensor.name }
    public var shape: [Int] { tensor.shape }
    public var dtype: DType { tensor.dtype }
    public var count: Int { tensor.elementCount }
}

/// A tensor whose shape differs from what the config implies.
public struct ShapeMismatch: Equatable, Sendable {
    public var name: String
    public var expected: [Int]
    public var actual: [Int]
    /// The actual shape is the expected one transposed (a weight saved as W instead of Wᵀ).
    public var transposed: Bool
}

/// The comparison of a checkpoint's parameters with the set `BertModel(config)` must have.
public struct SchemaCheck: Equatable, Sendable {
    public var missing: [ExpectedParameter]
    /// Stored names of parameters `BertModel` does not have (or has twice, under two stored names).
    public var unexpected: [String]
    public var mismatched: [ShapeMismatch]
    public var ok: Bool { missing.isEmpty && unexpected.isEmpty && mismatched.isEmpty }

    /// One line per fault, for people.
    public var faults: [String] {
        missing.map { "missing \($0.name) \(Tensor.describe(shape: $0.shape))" }
            + unexpected.map { "unexpected \($0)" }
            + mismatched.map {
                "wrong shape \($0.name): expected \(Tensor.describe(shape: $0.expected)), found \(Tensor.describe(shape: $0.actual))"
                    + ($0.transposed ? " (the transpose of the expected shape)" : "")
            }
    }
}

/// A checkpoint's tensors sorted into `BertModel` parameters (canonical order), buffers and
/// ignored tensors (task heads), with the schema check when the config is known.
public struct ParameterInventory: @unchecked Sendable {
    public var parameters: [NamedParameter]
    public var buffers: [NamedParameter]
    public var ignored: [Tensor]
    /// The task head's parameters (HeadSpec.swift), under their canonical head names.
    public var headParameters: [NamedParameter]
    /// The task class the checkpoint is (config.json `architectures`, else its head tensors);
    /// nil for a bare `BertModel`.
    public var task: TaskHead?
    /// Whether the checkpoint has pooler weights. A checkpoint with no `pooler.*` tensor at all is
    /// a model saved with `add_pooling_layer=False` (BertForMaskedLM and friends): its pooler is
    /// not reported missing. A checkpoint with only one of the two is.
    public var hasPooler: Bool
    /// Nil when there is no config to check against.
    public var schema: SchemaCheck?

    public init(checkpoint: Checkpoint) {
        self.init(tensors: checkpoint.tensors, config: checkpoint.config)
    }

    public init(tensors: [Tensor], config: BertConfig?) {
        var parameters: [NamedParameter] = []
        var buffers: [NamedParameter] = []
        var ignored: [Tensor] = []
        var head: [NamedParameter] = []
        for tensor in tensors {
            if let name = HeadParameterName(storedName: tensor.name) {
                head.append(NamedParameter(name: name.description, tensor: tensor))
                continue
            }
            switch parameterRole(ofStoredName: tensor.name) {
            case .parameter(let name): parameters.append(NamedParameter(name: name, tensor: tensor))
            case .buffer(let name): buffers.append(NamedParameter(name: name, tensor: tensor))
            case .ignored: ignored.append(tensor)
            }
        }
        // Keys computed once; stable: equal keys (unknown names, duplicates) keep file order.
        let keys = parameters.map { canonicalOrderKey($0.name) }
        parameters = parameters.indices.sorted { a, b in
            keys[a] != keys[b] ? keys[a] < keys[b] : a < b
        }.map { parameters[$0] }
        self.parameters = parameters
        self.buffers = buffers
        self.ignored = ignored
        let moduleOrder = { (p: NamedParameter) in HeadModule.allCases.firstIndex { p.name.hasPrefix($0.rawValue + ".") } ?? 0 }
        headParameters = head.sorted { (moduleOrder($0), $0.name) < (moduleOrder($1), $1.name) }
        hasPooler = parameters.contains { $0.name.hasPrefix("pooler.") }
        task = TaskHead.of(architectures: config?.architectures,
                           storedModules: Set(head.compactMap { HeadParameterName(storedName: $0.name)?.module }), hasPooler: hasPooler)
        schema = config.map { SchemaCheck(parameters: parameters, expected: expectedParameters(for: $0, pooler: hasPooler)) }
    }

    public var totalParameters: Int { parameters.reduce(0) { $0 + $1.count } }
    /// Elements of the stored task head (tied tensors stored again count again, as in the file).
    public var headTotal: Int { headParameters.reduce(0) { $0 + $1.count } }
    public var matrixParameters: Int { parameters.filter { $0.shape.count == 2 }.reduce(0) { $0 + $1.count } }

    /// Parameter counts per group, in canonical order.
    public var groups: [(group: ParameterGroup, count: Int)] {
        var totals: [ParameterGroup: Int] = [:]
        for p in parameters { totals[p.group, default: 0] += p.count }
        return totals.keys.sorted().map { ($0, totals[$0] ?? 0) }
    }

    /// Bytes and tensor counts of the parameters per dtype, largest first.
    public var bytesByDType: [(dtype: DType, bytes: Int, tensors: Int)] {
        var totals: [DType: (Int, Int)] = [:]
        for p in parameters {
            let t = totals[p.dtype] ?? (0, 0)
            totals[p.dtype] = (t.0 + p.tensor.byteCount, t.1 + 1)
        }
        return totals.map { ($0.key, $0.value.0, $0.value.1) }.sorted { $0.bytes != $1.bytes ? $0.bytes > $1.bytes : $0.dtype.rawValue < $1.dtype.rawValue }
    }
}

extension SchemaCheck {
    init(parameters: [NamedParameter], expected: [ExpectedParameter]) {
        var seen: [String: NamedParameter] = [:]
        var unexpected: [String] = []
        for p in parameters {
            if seen[p.name] != nil { unexpected.append(p.storedName) } else { seen[p.name] = p }
        }
        var mismatched: [ShapeMismatch] = []
        var missing: [ExpectedParameter] = []
        let expectedNames = Set(expected.map(\.name))
        for e in expected {
            guard let actual = seen[e.name] else { missing.append(e); continue }
            if actual.shape != e.shape {
                let transposed = e.shape.count == 2 && actual.shape == Array(e.shape.reversed())
                mismatched.append(ShapeMismatch(name: e.name, expected: e.shape, actual: actual.shape, transposed: transposed))
            }
        }
        for p in parameters where !expectedNames.contains(p.name) && !unexpected.contains(p.storedName) {
            unexpected.append(p.storedName)
        }
        self.init(missing: missing, unexpected: unexpected, mismatched: mismatched)
    }
}
