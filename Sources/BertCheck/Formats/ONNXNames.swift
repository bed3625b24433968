/// Name recovery: ONNX initializers back to transformers' `BertModel` names and orientation,
/// through the graph. Exporters keep some names (TorchScript keeps biases and LayerNorms), rename
/// others (`onnx::MatMul_1234`, dynamo's `val_268`, the optimizer's packed QKV) and store Linear
/// weights as MatMul's [in, out]; the graph still says what each one feeds.

/// The initializers under HF names, plus what could not be named and which exporter forms were seen.
public struct ONNXRecovery {
    public var tensors: [Tensor] = []
    /// Exporter forms recognised (`torch.onnx TorchScript export`, `onnxruntime quantize_dynamic`, …).
    public var forms: [String] = []
    /// Weights no rule named: their ONNX name and the node that consumes them. They stay in
    /// `tensors` under the ONNX name, so `params` lists them and `diff` reports them as extra.
    public var unmapped: [(name: String, consumer: String)] = []
    /// Initializers that are not weights (shape and index constants, scalars).
    public var constants: [String] = []
    /// Quantization parameters consumed by dequantizing (`*_scale`, `*_zero_point`).
    public var quantizationParameters: [String] = []
    /// HF name → the integer type it was stored in and its quantization step.
    public var dequantized: [String: DequantizedWeight] = [:]
    /// How many of them have one scale per channel.
    public var perChannel = 0
    /// Linear biases the graph does not add (exporters drop an all-zero bias: a Gemm without C),
    /// present as zeros so that `diff` compares what the graph computes with the checkpoint.
    public var zeroBiases: [String] = []

    public var details: [(key: String, value: String)] {
        var out: [(key: String, value: String)] = [("exporter", forms.joined(separator: " + "))]
        if !dequantized.isEmpty {
            let types = Set(dequantized.values.map(\.storedDType.rawValue)).sorted().joined(separator: "/")
            let granularity = perChannel == 0 ? "per-tensor" : perChannel == dequantized.count ? "per-channel" : "\(perChannel) per-channel"
            out.append(("dequantized", "\(dequantized.count) weights stored as \(types) (\(granularity)), dequantized to F32 ((q - zero_point) * scale)"))
        }
        if !quantizationParameters.isEmpty { out.append(("quantization parameters", "\(quantizationParameters.count) initializers")) }
        if !constants.isEmpty {
            let shown = constants.prefix(6).joined(separator: ", ") + (constants.count > 6 ? ", …" : "")
            out.append(("not weights", "\(constants.count) integer or scalar initializers (\(shown))"))
        }
        if !zeroBiases.isEmpty {
            out.append(("zero biases", zeroBiases.joined(separator: ", ") + " (the graph adds none; read as zeros)"))
        }
        for entry in unmapped { out.append(("unmapped", "\(entry.name) (consumed by \(entry.consumer))")) }
        return out
    }

    init(_ onnx: ONNXFile) throws {
        let graph = ONNXGraphIndex(onnx.graph)
        forms = Self.forms(onnx)
        var byName: [String: Tensor] = [:]
        for t in onnx.initializers { byName[t.name] = t }

        // Dequantize first: the integer initializer is replaced by an F32 tensor under the name it
        // had before quantization, used where the integer one is.
        var logical: [(tensor: Tensor, usedAs: String)] = []
        var consumedQuantization = Set<String>()
        for t in onnx.initializers where t.dtype == .I8 || t.dtype == .U8 {
            guard let q = graph.quantization(of: t, initializers: byName) else { continue }
            let (f32, step) = try dequantize(t, scale: q.scale, zeroPoint: q.zeroPoint, axis: q.axis)
            consumedQuantization.insert(q.scale.name)
            if q.scale.elementCount > 1 { perChannel += 1 }
            if let zp = q.zeroPoint { consumedQuantization.insert(zp.name) }
            var named = f32
            named.name = q.baseName
            logical.append((named, t.name))
            dequantized[q.baseName] = DequantizedWeight(storedDType: t.dtype, largestStep: step)
        }
        let dequantizedSources = Set(logical.map(\.usedAs))
        for t in onnx.initializers where !dequantizedSources.contains(t.name) && !consumedQuantization.contains(t.name) {
            logical.append((t, t.name))
        }
        quantizationParameters = onnx.initializers.map(\.name).filter(consumedQuantization.contains)

        var taken: [String: String] = [:]
        var renamedDequantized: [String: DequantizedWeight] = [:]
        for (tensor, usedAs) in logical {
            let named = graph.recover(tensor, usedAs: usedAs)
            if named.isEmpty {
                if Self.isConstant(tensor) && dequantized[tensor.name] == nil {
                    constants.append(tensor.name)
                } else {
                    unmapped.append((tensor.name, graph.consumerLabel(usedAs)))
                    tensors.append(tensor)
                }
                continue
            }
            for piece in named {
                if let other = taken[piece.name] {
                    // Two initializers claim one name: keep the first, list the second.
                    unmapped.append((tensor.name, graph.consumerLabel(usedAs) + "; would be \(piece.name), already from \(other)"))
                    tensors.append(tensor)
                    break
                }
                taken[piece.name] = tensor.name
                if let stored = dequantized[tensor.name] { renamedDequantized[piece.name] = stored }
                tensors.append(piece)
            }
        }
        dequantized = renamedDequantized
        addZeroBiases()
        if onnx.graph.sparseInitializers > 0 {
            unmapped.append(("\(onnx.graph.sparseInitializers) sparse initializers", "not read"))
        }
    }

    mutating func addZeroBiases() {
        let present = Set(tensors.map(\.name))
        for weight in tensors where weight.name.hasSuffix(".weight") && weight.shape.count == 2 && weight.dtype.isFloatingPoint {
            let bias = String(weight.name.dropLast("weight".count)) + "bias"
            guard !present.contains(bias), ONNXGraphIndex.linearModule(ofBias: bias) != nil,
                  let bytes = weight.dtype.byteCount(elements: weight.shape[0]), let zeros = OwnedBytes(checkedCount: bytes) else { continue }
            zeros.mutableBytes.initializeMemory(as: UInt8.self, repeating: 0)
            tensors.append(Tensor(name: bias, dtype: weight.dtype, shape: [weight.shape[0]], data: UnsafeRawBufferPointer(zeros.bytes), storage: zeros))
            zeroBiases.append(bias)
        }
    }

    /// Integer tensors that are not quantized weights, and float scalars, are graph constants.
    static func isConstant(_ t: Tensor) -> Bool {
        !t.dtype.isRealValued || t.elementCount <= 1
    }

    static func forms(_ onnx: ONNXFile) -> [String] {
        let ops = Set(onnx.graph.nodes.map(\.opType))
        var forms: [String] = []
        let producer = onnx.model.producerName
        if onnx.graph.nodes.contains(where: { $0.metadata(ONNXGraphIndex.nameScopesKey) != nil }) {
            forms.append("torch.onnx dynamo export")
        } else if producer == "pytorch" {
            forms.append("torch.onnx TorchScript export")
        } else if !producer.isEmpty {
            forms.append(onnx.model.producerVersion.isEmpty ? producer : "\(producer) \(onnx.model.producerVersion)")
        }
        if !ops.isDisjoint(with: ["Attention", "EmbedLayerNormalization", "SkipLayerNormalization", "BiasGelu", "FastGelu"]) {
            forms.append("onnxruntime transformer optimizer (fused " +
                         ["Attention", "EmbedLayerNormalization", "SkipLayerNormalization", "BiasGelu", "FastGelu"].filter(ops.contains).joined(separator: ", ") + ")")
        }
        if !ops.isDisjoint(with: ["MatMulInteger", "DynamicQuantizeLinear", "DequantizeLinear", "MatMulIntegerToFloat", "QAttention"]) {
            forms.append("onnxruntime quantize_dynamic (int8)")
        }
        var floatBytes: [DType: Int] = [:]
        for t in onnx.initializers where t.dtype.isFloatingPoint { floatBytes[t.dtype, default: 0] += t.byteCount }
        if let (dtype, _) = floatBytes.max(by: { $0.value < $1.value }), dtype != .F32 {
            forms.append("\(dtype == .F16 ? "fp16" : dtype.rawValue) initializers" + (ops.contains("Cast") ? " with Cast nodes" : ""))
        }
        return forms.isEmpty ? ["unknown exporter"] : forms
    }
}

/// (q − zero_point) × scale, per tensor (one scale) or per channel along `axis` (or the last
/// axis of the weight's size when no node says which), with the largest step (|scale|).
func dequantize(_ q: Tensor, scale: Tensor, zeroPoint: Tensor?, axis: Int?) throws -> (tensor: Tensor, largestStep: Double) {
    let scales = scale.floats()
    let zeros = zeroPoint?.floats() ?? [Float](repeating: 0, count: scales.count)
    guard !scales.isEmpty, zeros.count == scales.count else {
        throw ONNXProblem.quantizationShapeMismatch(tensor: q.name, reason: "\(scales.count) scales but \(zeros.count) zero points")
    }
    var channelAxis: Int?
    if scales.count > 1 {
        if let axis {
            let normalized = axis < 0 ? axis + q.shape.count : axis
            guard normalized >= 0, normalized < q.shape.count, q.shape[normalized] == scales.count else {
                throw ONNXProblem.quantizationShapeMismatch(tensor: q.name, reason: "axis \(axis) of shape \(q.shape) does not have \(scales.count) channels")
            }
            channelAxis = normalized
        } else {
            channelAxis = q.shape.lastIndex(of: scales.count)
            guard channelAxis != nil else {
                throw ONNXProblem.quantizationShapeMismatch(tensor: q.name, reason: "\(scales.count) scales fit no axis of shape \(q.shape)")
            }
        }
    }
    let count = q.elementCount
    guard let bytes = DType.F32.byteCount(elements: count), let owned = OwnedBytes(checkedCount: bytes) else {
        throw ONNXProblem.sizeOverflow(tensor: q.name)
    }
    let out = owned.mutableBytes.bindMemory(to: Float.self)
    // Elements of one channel repeat every `inner` elements, `channels` apart.
    let inner = channelAxis.map { q.shape[($0 + 1)...].reduce(1, *) } ?? 1
    let values = q.floats()
    for i in 0..<count {
        let c = channelAxis == nil ? 0 : (i / inner) % scales.count
        out[i] = (values[i] - zeros[c]) * scales[c]
    }
    let tensor = Tensor(name: q.name, dtype: .F32, shape: q.shape, data: UnsafeRawBufferPointer(owned.bytes), storage: owned)
    return (tensor, scales.map { Double(abs($0)) }.max() ?? 0)
}

/// `tensor` with its two axes swapped, in its own dtype (an owned copy).
func transposed(_ tensor: Tensor, name: String) -> Tensor? {
    guard tensor.shape.count == 2, !tensor.dtype.isQuantized else { return nil }
    let (rows, columns) = (tensor.shape[0], tensor.shape[1])
    guard let owned = OwnedBytes(checkedCount: tensor.byteCount) else { return nil }
    // Moved as whole elements, tile by tile: a bert-base checkpoint transposes 85 M of them.
    func move<Element: BitwiseCopyable>(_: Element.Type) {
        guard let source = tensor.data.baseAddress, let destination = owned.mutableBytes.baseAddress else { return }
        // raw_data inside a protobuf has no alignment: load unaligned (the copy is aligned).
        let to = destination.assumingMemoryBound(to: Element.self), size = MemoryLayout<Element>.size
        let tile = 32
        for r0 in stride(from: 0, to: rows, by: tile) {
            for c0 in stride(from: 0, to: columns, by: tile) {
                for r in r0..<min(r0 + tile, rows) {
                    for c in c0..<min(c0 + tile, columns) {
                        to[c * rows + r] = source.loadUnaligned(fromByteOffset: (r * columns + c) * size, as: Element.self)
                    }
                }
            }
        }
    }
    switch tensor.dtype.size {
    case 1: move(UInt8.self)
    case 2: move(UInt16.self)
    case 4: move(UInt32.self)
    case 8: move(UInt64.self)
    default: return nil
    }
    return Tensor(name: name, dtype: tensor.dtype, shape: [columns, rows], data: UnsafeRawBufferPointer(owned.bytes), storage: owned)
}

/// Columns `part` of `parts` of a 2-D tensor (a packed QKV weight [in, 3·out]) as [in, out].
func columnSlice(_ tensor: Tensor, part: Int, of parts: Int) -> Tensor? {
    guard tensor.shape.count == 2, tensor.shape[1] % parts == 0, tensor.byteCount > 0, !tensor.dtype.isQuantized else { return nil }
    let rows = tensor.shape[0], width = tensor.shape[1] / parts, size = tensor.dtype.size
    guard let owned = OwnedBytes(checkedCount: rows * width * size) else { return nil }
    for r in 0..<rows {
        let from = (r * tensor.shape[1] + part * width) * size
        owned.mutableBytes.baseAddress!.advanced(by: r * width * size)
            .copyMemory(from: tensor.data.baseAddress!.advanced(by: from), byteCount: width * size)
    }
    return Tensor(name: tensor.name, dtype: tensor.dtype, shape: [rows, width], data: UnsafeRawBufferPointer(owned.bytes), storage: owned)
}

/// Elements `part` of `parts` of a 1-D tensor (a packed QKV bias), pointing into the original.
func elementSlice(_ tensor: Tensor, part: Int, of parts: Int, name: String) -> Tensor? {
    guard tensor.shape.count == 1, tensor.shape[0] % parts == 0, !tensor.dtype.isQuantized else { return nil }
    let width = tensor.shape[0] / parts, size = tensor.dtype.size
    let bytes = UnsafeRawBufferPointer(rebasing: tensor.data[(part * width * size)..<((part + 1) * width * size)])
    return Tensor(name: name, dtype: tensor.dtype, shape: [width], data: bytes, storage: tensor.storage)
}
