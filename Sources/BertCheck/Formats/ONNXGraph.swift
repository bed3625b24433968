/// The graph questions name recovery asks: who consumes a value, who produces it, what module
/// scope a node belongs to, and which HF name each initializer therefore has.
struct ONNXGraphIndex {
    static let nameScopesKey = "pkg.torch.onnx.name_scopes"

    let nodes: [ONNXNode]
    /// Value name → (node index, input slot), in graph order.
    private(set) var consumers: [String: [(node: Int, slot: Int)]] = [:]
    /// Value name → the node that outputs it.
    private(set) var producer: [String: Int] = [:]
    /// Node index → ordinal among the nodes of its op type (the n-th `Attention` is layer n).
    private(set) var ordinal: [Int] = []

    init(_ graph: ONNXGraph) {
        nodes = graph.nodes
        var seen: [String: Int] = [:]
        for (index, node) in nodes.enumerated() {
            for (slot, input) in node.inputs.enumerated() where !input.isEmpty { consumers[input, default: []].append((index, slot)) }
            for output in node.outputs where !output.isEmpty { producer[output] = index }
            ordinal.append(seen[node.opType, default: 0])
            seen[node.opType, default: 0] += 1
        }
    }

    func consumerLabel(_ value: String) -> String {
        guard let first = consumers[value]?.first else { return "no node" }
        return nodes[first.node].label + " (input \(first.slot))"
    }

    // MARK: Quantization

    struct Quantization {
        var baseName: String
        var scale: Tensor
        var zeroPoint: Tensor?
        var axis: Int?
    }

    /// The scale and zero point of an integer initializer: onnxruntime's `W_quantized` /
    /// `W_scale` / `W_zero_point` naming, or the inputs of the `DequantizeLinear` it feeds.
    func quantization(of q: Tensor, initializers: [String: Tensor]) -> Quantization? {
        if let dequantize = consumers[q.name]?.first(where: { nodes[$0.node].opType == "DequantizeLinear" && $0.slot == 0 }) {
            let node = nodes[dequantize.node]
            if node.inputs.count > 1, let scale = initializers[node.inputs[1]] {
                let zeroPoint = node.inputs.count > 2 ? initializers[node.inputs[2]] : nil
                let base = q.name.hasSuffix("_quantized") ? String(q.name.dropLast("_quantized".count)) : q.name
                return Quantization(baseName: base, scale: scale, zeroPoint: zeroPoint, axis: Int(node.attribute("axis")?.int ?? 1))
            }
        }
        guard q.name.hasSuffix("_quantized") else { return nil }
        let base = String(q.name.dropLast("_quantized".count))
        guard let scale = initializers[base + "_scale"] else { return nil }
        return Quantization(baseName: base, scale: scale, zeroPoint: initializers[base + "_zero_point"], axis: nil)
    }

    // MARK: Uses

    /// Where a weight is used, past the nodes that only convert or move it (Cast, Identity,
    /// DequantizeLinear, a 2-D Transpose, which flips its orientation). `alias` is the HF name an
    /// `Identity` output gives it: exporters merge equal initializers and hand the copies on that way.
    struct Use {
        var node: Int
        var slot: Int
        var flipped: Bool
        var alias: String?
    }

    /// Every use of `value`, in graph order at each depth. Each value is visited once and the
    /// walk is bounded, whatever cycles or fan-out a hostile graph has.
    func uses(of value: String) -> [Use] {
        var out: [Use] = []
        var queue: [(value: String, flipped: Bool)] = [(value, false)]
        var visited: Set<String> = [value]
        var next = 0
        while next < queue.count && next < 64 {
            let (current, flipped) = queue[next]
            next += 1
            for consumer in consumers[current] ?? [] {
                let node = nodes[consumer.node]
                guard consumer.slot == 0, let output = node.outputs.first,
                      ["Cast", "Identity", "DequantizeLinear", "Transpose"].contains(node.opType) else {
                    out.append(Use(node: consumer.node, slot: consumer.slot, flipped: flipped))
                    continue
                }
                var flips = flipped
                if node.opType == "Transpose" {
                    let perm = node.attribute("perm")?.ints ?? []
                    if perm.isEmpty || perm == [1, 0] { flips.toggle() }
                }
                guard visited.insert(output).inserted else { continue }
                if node.opType == "Identity" && Self.isHFName(output) {
                    // Named by the alias; its own first use says how it is stored.
                    var named = firstUse(of: output) ?? Use(node: consumer.node, slot: consumer.slot, flipped: false)
                    named.flipped = named.flipped != flips
                    named.alias = output
                    out.append(named)
                    continue
                }
                queue.append((output, flips))
            }
        }
        return out
    }

    /// The first use of `value` past Cast, Identity and DequantizeLinear (at most 8 of them).
    func firstUse(of value: String) -> Use? {
        var current = value
        for _ in 0..<8 {
            guard let first = consumers[current]?.first else { return nil }
            let node = nodes[first.node]
            guard first.slot == 0, ["Cast", "Identity", "DequantizeLinear"].contains(node.opType), let output = node.outputs.first else {
                return Use(node: first.node, slot: first.slot, flipped: false)
            }
            current = output
        }
        return nil
    }

    // MARK: Scopes

    /// The module a node belongs to: dynamo's `pkg.torch.onnx.name_scopes`, else a TorchScript
    /// node name `/encoder/layer.0/attention/self/query/MatMul` → `encoder.layer.0.attention.self.query`.
    func scope(of index: Int) -> String? {
        let node = nodes[index]
        if let scopes = node.metadata(Self.nameScopesKey) {
            // Full module paths, outermost first, then the function called (`linear`):
            // `['', 'encoder', 'encoder.layer.0', …, 'encoder.layer.0.attention.self.query', 'linear']`.
            var path = ""
            for part in Self.quotedStrings(scopes) where !part.isEmpty && (path.isEmpty || part.hasPrefix(path + ".")) {
                path = part
            }
            return path.isEmpty ? nil : Self.hfPath(path)
        }
        guard node.name.hasPrefix("/") else { return nil }
        let parts = node.name.split(separator: "/").dropLast()
        return parts.isEmpty ? nil : Self.hfPath(parts.joined(separator: "."))
    }

    /// A task model's `bert.` prefix dropped.
    static func hfPath(_ path: String) -> String {
        path.hasPrefix("bert.") ? String(path.dropFirst(5)) : path
    }

    /// The strings of a Python list literal (`['', 'encoder', 'encoder.layer.0']`).
    static func quotedStrings(_ text: String) -> [String] {
        var out: [String] = [], current = "", quote: Character?
        for ch in text {
            if let q = quote {
                if ch == q { out.append(current); current = ""; quote = nil } else { current.append(ch) }
            } else if ch == "'" || ch == "\"" {
                quote = ch
            }
        }
        return out
    }

    /// Whether `name` is a `BertModel` parameter name (a `bert.` prefix allowed). Buffers
    /// (`embeddings.position_ids`) are graph constants here: checkpoints may or may not save them.
    static func isHFName(_ name: String) -> Bool {
        let path = hfPath(name)
        guard case .parameter = parameterRole(ofStoredName: path) else { return false }
        return (path.hasSuffix(".weight") || path.hasSuffix(".bias") || path.hasSuffix(".gamma") || path.hasSuffix(".beta"))
    }

    /// The module of a Linear computed by MatMul `index`: its scope when that is a Linear, else
    /// the HF bias added to its output (through Cast/Mul of a quantized product). The scope comes
    /// first: merged initializers give equal biases of several layers one name.
    func linearModule(ofMatMul index: Int) -> String? {
        if let scope = scope(of: index), Self.linearModule(ofBias: scope + ".bias") != nil { return scope }
        var current = index
        for _ in 0..<4 {
            guard let output = nodes[current].outputs.first, let next = consumers[output]?.first else { break }
            let node = nodes[next.node]
            let biasSlot: Int? = switch node.opType {
            case "Add": 1 - min(next.slot, 1)
            case "SkipLayerNormalization": 4
            case "BiasGelu", "FastGelu": 1
            default: nil
            }
            if let biasSlot {
                // Only a Linear's bias says which Linear: a merged initializer may carry another
                // module's name (every zero bias is `embeddings.LayerNorm.bias` after merging).
                if biasSlot < node.inputs.count, let module = Self.linearModule(ofBias: node.inputs[biasSlot]) { return module }
                break
            }
            guard ["Cast", "Mul"].contains(node.opType) else { break }
            current = next.node
        }
        return nil
    }

    /// `encoder.layer.0.attention.self.query` for `encoder.layer.0.attention.self.query.bias`; nil
    /// for a name that is not a Linear's bias.
    static func linearModule(ofBias name: String) -> String? {
        guard let parsed = ParameterName(parsing: hfPath(name)), parsed.leaf == "bias", parsed.module.kind == .linear else { return nil }
        return parsed.module.path(layer: parsed.layer)
    }

    /// The MatMul (or MatMulInteger) that produces `value`, through Cast and Mul.
    func producingMatMul(_ value: String) -> Int? {
        var current = value
        for _ in 0..<4 {
            guard let index = producer[current] else { return nil }
            let node = nodes[index]
            if node.opType == "MatMul" || node.opType == "MatMulInteger" { return index }
            guard ["Cast", "Mul"].contains(node.opType), let input = node.inputs.first else { return nil }
            current = input
        }
        return nil
    }
}

extension ONNXGraphIndex {
    /// The HF-named tensors an initializer (or a dequantized one, used where `value` is) stands
    /// for: one, three (a packed QKV split) or none when no rule applies.
    func recover(_ tensor: Tensor, usedAs value: String) -> [Tensor] {
        let all = uses(of: value)
        var result: [Tensor] = []
        var seen = Set<String>()
        func add(_ pieces: [Tensor]) {
            for piece in pieces where seen.insert(piece.name).inserted { result.append(piece) }
        }
        if Self.isHFName(tensor.name) {
            // Exporters keep these names; a MatMul-fed one is still stored [in, out].
            add(recover(tensor, name: tensor.name, use: all.first))
        }
        // A merged initializer serves several parameters: each use may name one more.
        for use in all { add(use.alias.map { recover(tensor, name: $0, use: use) } ?? recover(tensor, at: use)) }
        return result
    }

    /// `tensor` under `name`, in HF orientation given how `use` reads it.
    func recover(_ tensor: Tensor, name: String, use: Use?) -> [Tensor] {
        Self.rename(tensor, name, transpose: use.map(storedAsInOut) ?? false)
    }

    /// `tensor` as the HF parameter `name` ([out, in] when `transpose` says it is stored [in, out]),
    /// or nothing when `name` is not one.
    static func rename(_ tensor: Tensor, _ name: String?, transpose: Bool = false) -> [Tensor] {
        guard let name, isHFName(name) else { return [] }
        if transpose && tensor.shape.count == 2 { return transposed(tensor, name: name).map { [$0] } ?? [] }
        var renamed = tensor
        renamed.name = name
        return [renamed]
    }

    /// The HF names the node at `use` implies for the tensor it reads there.
    func recover(_ tensor: Tensor, at use: Use) -> [Tensor] {
        func named(_ name: String?, transpose: Bool = false) -> [Tensor] { Self.rename(tensor, name, transpose: transpose) }
        let node = nodes[use.node]
        func input(_ slot: Int) -> String? { slot < node.inputs.count ? node.inputs[slot] : nil }
        switch (node.opType, use.slot) {
        case ("MatMul", 1), ("MatMulInteger", 1):
            guard tensor.shape.count == 2 else { return [] }
            return named(linearModule(ofMatMul: use.node).map { $0 + ".weight" }, transpose: storedAsInOut(use))
        case ("Gemm", 1):
            return named(scope(of: use.node).map { $0 + ".weight" }, transpose: storedAsInOut(use))
        case ("Gemm", 2):
            return named(scope(of: use.node).map { $0 + ".bias" })
        case ("Add", 0), ("Add", 1):
            let module = input(1 - use.slot).flatMap(producingMatMul).flatMap { scope(of: $0) } ?? scope(of: use.node)
            return named(module.map { $0 + ".bias" })
        case ("LayerNormalization", 1):
            return named(scope(of: use.node).map { $0 + ".weight" })
        case ("LayerNormalization", 2):
            return named(scope(of: use.node).map { $0 + ".bias" })
        case ("Gather", 0):
            return named(scope(of: use.node).map { $0 + ".weight" })
        case ("BiasGelu", 1), ("FastGelu", 1):
            return named(input(0).flatMap(producingMatMul).flatMap { scope(of: $0) }.map { $0 + ".bias" })
        case ("EmbedLayerNormalization", 2...6):
            let names = [ParameterName(.wordEmbeddings, leaf: "weight"), ParameterName(.positionEmbeddings, leaf: "weight"),
                         ParameterName(.tokenTypeEmbeddings, leaf: "weight"), ParameterName(.embeddingsLayerNorm, leaf: "weight"),
                         ParameterName(.embeddingsLayerNorm, leaf: "bias")]
            return named(names[use.slot - 2].description)
        case ("SkipLayerNormalization", 2...4):
            // The dense whose output it normalises: from its HF bias, else its MatMul.
            var dense: String?
            if let bias = input(4), let module = Self.linearModule(ofBias: bias) {
                dense = module
            } else {
                dense = [input(0), input(1)].compactMap { $0 }.compactMap(producingMatMul).first.flatMap { linearModule(ofMatMul: $0) }
            }
            // The LayerNorm that follows each residual dense, from the parameter-spec table.
            let layerNormAfter: [BertModule: BertModule] = [.attentionOutputDense: .attentionOutputLayerNorm, .outputDense: .outputLayerNorm]
            guard let dense, let parsed = ParameterName(parsing: dense + ".bias"), let norm = layerNormAfter[parsed.module] else { return [] }
            return named([ParameterName(norm, layer: parsed.layer, leaf: "weight"), ParameterName(norm, layer: parsed.layer, leaf: "bias"),
                          parsed][use.slot - 2].description)
        case ("Attention", 1), ("Attention", 2):
            let layer = attentionLayer(use.node)
            let parts: [BertModule] = [.query, .key, .value]
            func name(_ module: BertModule, _ leaf: String) -> String { ParameterName(module, layer: layer, leaf: leaf).description }
            if use.slot == 2 {
                let pieces = parts.enumerated().compactMap { elementSlice(tensor, part: $0.offset, of: 3, name: name($0.element, "bias")) }
                return pieces.count == 3 ? pieces : []
            }
            // Packed [in, 3·out]: columns q | k | v, each un-transposed to [out, in].
            let pieces = parts.enumerated().compactMap { part in
                columnSlice(tensor, part: part.offset, of: 3).flatMap { transposed($0, name: name(part.element, "weight")) }
            }
            return pieces.count == 3 ? pieces : []
        default:
            return []
        }
    }

    /// Whether the weight at `use` is stored [in, out] (MatMul's right operand, Gemm without transB).
    func storedAsInOut(_ use: Use) -> Bool {
        let node = nodes[use.node]
        let inOut: Bool = switch (node.opType, use.slot) {
        case ("MatMul", 1), ("MatMulInteger", 1): true
        case ("Gemm", 1): (node.attribute("transB")?.int ?? 0) == 0
        default: false
        }
        return inOut != use.flipped
    }

    /// The layer of a fused Attention: from the HF bias of the dense after it, else its ordinal.
    func attentionLayer(_ index: Int) -> Int {
        if let output = nodes[index].outputs.first, let next = consumers[output]?.first,
           ["MatMul", "MatMulInteger"].contains(nodes[next.node].opType),
           let module = linearModule(ofMatMul: next.node), let layer = ParameterName(parsing: module + ".bias")?.layer {
            return layer
        }
        return ordinal[index]
    }
}
