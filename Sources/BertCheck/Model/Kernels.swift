import CKernels
import COpenBLAS
import Foundation

// The forward pass as plain functions over flat row-major Float buffers (llm.c style). Matrix
// products, attention's per-head ones included, go to the CKernels AVX2/FMA kernel (OpenBLAS
// sgemm on a CPU without AVX2 and FMA); parallel steps run on the CKernels worker pool; the
// element-wise work is SIMD8 code that -mavx2 -mfma turns into AVX2 instructions in release
// builds (Package.swift).

typealias FloatPointer = UnsafeMutablePointer<Float>
typealias ConstFloatPointer = UnsafePointer<Float>

/// Whether this CPU runs the AVX2/FMA matrix-product kernel (CKernels); without it OpenBLAS
/// computes every product. (Release builds need AVX2 and FMA anyway: Package.swift compiles this
/// target's SIMD code for them, so the check only ever fails in a debug build.)
let cpuHasAVX2FMA = bc_cpu_has_avx2_fma() != 0

/// Floats the packed input of `linearForward` needs for `rows` × `inFeatures` (nil on overflow).
func packedInputCount(rows: Int, inFeatures: Int) -> Int? {
    let (padded, o1) = ((rows + 5) / 6).multipliedReportingOverflow(by: 6)
    let (count, o2) = padded.multipliedReportingOverflow(by: inFeatures)
    return o1 || o2 ? nil : count
}

/// How a matrix lies in memory: row-major, or packed as `bc_pack_input` lays out a product's
/// input (6-row panels per block of 256 columns), which only the CKernels kernel reads or writes.
enum MatrixLayout {
    case rowMajor
    case packed
}

/// One nn.Linear of `linearForward`: weight [outFeatures, in] as nn.Linear stores it, bias
/// [outFeatures], the output [rows, outFeatures] in `outLayout` (packed: capacity
/// `packedInputCount(rows:inFeatures: outFeatures)`) and the activation applied to it.
struct LinearProduct {
    let weight: ConstFloatPointer
    let bias: ConstFloatPointer
    let out: FloatPointer
    let outFeatures: Int
    let activation: Activation?
    var outLayout: MatrixLayout = .rowMajor
}

/// nn.Linear: `out[m, n] = activation(Σ_k input[m, k] · weight[n, k] + bias[n])` on `workers`
/// threads; see the `products` form.
func linearForward(_ out: FloatPointer, _ input: ConstFloatPointer, weight: ConstFloatPointer, bias: ConstFloatPointer,
                   rows: Int, inFeatures: Int, outFeatures: Int, activation: Activation? = nil, workers: Int,
                   packed: FloatPointer? = nil, inputLayout: MatrixLayout = .rowMajor, outLayout: MatrixLayout = .rowMajor,
                   useKernel: Bool = cpuHasAVX2FMA) {
    linearForward([LinearProduct(weight: weight, bias: bias, out: out, outFeatures: outFeatures, activation: activation,
                                 outLayout: outLayout)],
                  input: input, rows: rows, inFeatures: inFeatures, workers: workers, packed: packed,
                  inputLayout: inputLayout, useKernel: useKernel)
}

/// Several nn.Linear layers of the same input (a layer's query, key and value), computed together.
///
/// With the AVX2 kernel (CKernels): the workers pack the input once into `packed` (capacity
/// `packedInputCount`; allocated here when nil) unless it comes packed (`inputLayout`), then
/// take slices of output columns, of all the products, from a shared counter until none are
/// left, so a worker slowed by a busy core takes fewer slices instead of holding the others up.
/// The kernel adds the bias and applies the activation to each tile while it is in registers,
/// and writes it row-major or packed for the next product. Without it (`useKernel` false, which
/// tests also choose), each worker runs single-threaded OpenBLAS on its columns and Swift adds
/// bias and activation; a packed input needs the kernel.
func linearForward(_ products: [LinearProduct], input: ConstFloatPointer, rows: Int, inFeatures: Int, workers: Int,
                   packed: FloatPointer? = nil, inputLayout: MatrixLayout = .rowMajor,
                   useKernel: Bool = cpuHasAVX2FMA) {
    guard useKernel, rows > 0, inFeatures > 0, let count = packedInputCount(rows: rows, inFeatures: inFeatures) else {
        precondition(inputLayout == .rowMajor || useKernel, "a packed input needs the CKernels kernel")
        for product in products {
            blasLinear(product, input, rows: rows, inFeatures: inFeatures, workers: workers)
        }
        return
    }
    let owned = inputLayout == .rowMajor && packed == nil ? FloatPointer.allocate(capacity: count) : nil
    defer { owned?.deallocate() }
    var buffer = input
    if inputLayout == .rowMajor, let scratch = packed ?? owned {
        // A second thread joins a step in about 0.3 µs while the pool's workers spin, but 0.3 ms
        // once they sleep: the calling thread packs a small input alone.
        parallelChunks((rows + 5) / 6, workers: count <= 1 << 17 ? 1 : workers) { range in
            bc_pack_input(rows, inFeatures, input, inFeatures, scratch, range.lowerBound, range.upperBound)
        }
        buffer = ConstFloatPointer(scratch)
    }
    // Slices shrink towards the end (each at most the remaining panels over the workers), so the
    // workers finish together even when one of them ran slower.
    var remaining = products.reduce(0) { $0 + ($1.outFeatures + 15) / 16 }
    let slicePanels = max(1, bc_slice_panels(rows, remaining, workers))
    var slices: [(product: Int, columns: Range<Int>)] = []
    for (index, product) in products.enumerated() {
        var n0 = 0
        while n0 < product.outFeatures {
            let panels = min(max(1, min(slicePanels, remaining / max(workers, 1))), (product.outFeatures - n0 + 15) / 16)
            slices.append((index, n0..<min(n0 + panels * 16, product.outFeatures)))
            n0 += panels * 16
            remaining -= panels
        }
    }
    slices.withUnsafeBufferPointer { slices in
        onPool(slices.count, workers: workers) { slice, _ in
            let product = products[slices[slice].product], columns = slices[slice].columns
            let code = product.activation?.kernelCode ?? Int32(BC_ACTIVATION_NONE)
            switch product.outLayout {
            case .rowMajor:
                bc_sgemm_packed(rows, inFeatures, buffer, product.weight, inFeatures, product.bias, code, product.out,
                                product.outFeatures, columns.lowerBound, columns.upperBound)
            case .packed:
                bc_sgemm_packed_to_packed(rows, inFeatures, buffer, product.weight, inFeatures, product.bias, code,
                                          product.out, product.outFeatures, columns.lowerBound, columns.upperBound)
            }
        }
    }
}

/// One product of `linearForward` through OpenBLAS, single-threaded per 16-column chunk of
/// output on `workers` threads, bias and activation in Swift; a packed output is computed
/// row-major first and packed.
private func blasLinear(_ product: LinearProduct, _ input: ConstFloatPointer, rows: Int, inFeatures: Int, workers: Int) {
    let outFeatures = product.outFeatures
    let rowMajor = product.outLayout == .rowMajor ? product.out : FloatPointer.allocate(capacity: max(rows * outFeatures, 1))
    defer { if product.outLayout == .packed { rowMajor.deallocate() } }
    parallelChunks((outFeatures + 15) / 16, workers: workers) { range in
        let n0 = range.lowerBound * 16, n1 = min(range.upperBound * 16, outFeatures)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(n1 - n0), Int32(inFeatures),
                    1, input, Int32(inFeatures), product.weight + n0 * inFeatures, Int32(inFeatures), 0, rowMajor + n0,
                    Int32(outFeatures))
        for r in 0..<rows {
            let row = rowMajor + r * outFeatures
            for c in n0..<n1 { row[c] += product.bias[c] }
            if let activation = product.activation { activate(row + n0, count: n1 - n0, activation: activation) }
        }
    }
    if product.outLayout == .packed && rows > 0 {
        bc_pack_input(rows, outFeatures, rowMajor, outFeatures, product.out, 0, (rows + 5) / 6)
    }
}

/// Runs `body(index, worker)` for every index in 0..<count on up to `workers` threads of the
/// CKernels pool (`bc_pool_run`): the calling thread and pool threads each take the next
/// unclaimed index until none are left, so a thread on a busier core simply takes fewer.
/// `worker` is below min(workers, count), and no two threads use the same one at once.
func onPool(_ count: Int, workers: Int, _ body: (_ index: Int, _ worker: Int) -> Void) {
    withoutActuallyEscaping(body) { body in
        var task = body
        withUnsafeMutablePointer(to: &task) { task in
            bc_pool_run(count, workers, { context, index, worker in
                context!.assumingMemoryBound(to: ((Int, Int) -> Void).self).pointee(index, worker)
            }, task)
        }
    }
}

/// Splits `count` items into contiguous chunks run on up to `workers` threads.
func parallelChunks(_ count: Int, workers: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    let chunks = max(1, min(workers, count / max(minimumChunk, 1)))
    if chunks == 1 {
        body(0..<count)
        return
    }
    onPool(chunks, workers: chunks) { c, _ in
        body(count * c / chunks..<count * (c + 1) / chunks)
    }
}

// MARK: - Vectorised elementary functions

typealias Float8 = SIMD8<Float>

/// `x` limited to [lower, upper] per lane (NaN stays NaN). SIMD's `clamped` is not inlined
/// into AVX min/max here; this compiles to two blends.
@inline(__always)
func clamp8(_ x: Float8, _ lower: Float, _ upper: Float) -> Float8 {
    var r = x.replacing(with: lower, where: x .< Float8(repeating: lower))
    r.replace(with: upper, where: r .> Float8(repeating: upper))
    return r
}

/// e^x for 8 lanes: Cody–Waite range reduction by ln 2 and a degree-6 polynomial (Cephes
/// expf), about 1 ulp. Below -87.3 the result is 0 (as the softmax of a masked key must be).
@inline(__always)
func exp8(_ x: Float8) -> Float8 {
    let clamped = clamp8(x, -87.3, 88.3)
    // n = round(x / ln 2), via the 1.5·2^23 trick so its integer sits in the low mantissa bits.
    let magic = Float8(repeating: 12_582_912)
    let shifted = clamped * Float8(repeating: 1.442_695_040_888_963_4) + magic
    let n = shifted - magic
    var r = clamped - n * Float8(repeating: 0.693_359_375)
    r = r - n * Float8(repeating: -2.121_944_400_546_905_8e-4)
    var p = Float8(repeating: 1.987_569_150_0e-4)
    p = p * r + Float8(repeating: 1.398_199_950_7e-3)
    p = p * r + Float8(repeating: 8.333_451_907_3e-3)
    p = p * r + Float8(repeating: 4.166_579_589_4e-2)
    p = p * r + Float8(repeating: 1.666_666_545_9e-1)
    p = p * r + Float8(repeating: 5.000_000_120_1e-1)
    p = p * r * r + r + Float8(repeating: 1)
    // 2^n from n's integer bits: (n + 127) << 23.
    let nBits = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
    let scale = unsafeBitCast((nBits &+ SIMD8<Int32>(repeating: 127)) &<< SIMD8<Int32>(repeating: 23), to: Float8.self)
    var result = p * scale
    result.replace(with: 0, where: x .< Float8(repeating: -87.3))
    return result
}

/// |x| per lane (clears the sign bit).
@inline(__always)
func absolute8(_ x: Float8) -> Float8 {
    unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & SIMD8<UInt32>(repeating: 0x7FFF_FFFF), to: Float8.self)
}

/// erf for 8 lanes: x·P(x²)/Q(x²) on |x| ≤ 3.92 (past it erf rounds to ±1 in Float), a rational
/// fit (Scripts/fit_erf.py) within 3.3e-7 of libm's erf; the same coefficients as the C kernel's
/// epilogue (CKernels erf_ps). NaN stays NaN.
@inline(__always)
func erf8(_ x: Float8) -> Float8 {
    let a = clamp8(absolute8(x), 0, 3.92)
    let u = a * a
    var p = Float8(repeating: -1.333_761_545_652_123_5e-8)
    p = p * u + Float8(repeating: 4.718_127_456_726_506e-6)
    p = p * u + Float8(repeating: 3.803_824_947_681_278e-4)
    p = p * u + Float8(repeating: 3.832_379_588_857_293e-3)
    p = p * u + Float8(repeating: 5.427_850_410_342_216_5e-2)
    p = p * u + Float8(repeating: 0.184_700_340_032_577_51)
    p = p * u + Float8(repeating: 1.128_379_225_730_896)
    var q = Float8(repeating: 6.342_207_780_107_856e-5)
    q = q * u + Float8(repeating: 1.305_044_163_018_465e-3)
    q = q * u + Float8(repeating: 1.543_098_781_257_867_8e-2)
    q = q * u + Float8(repeating: 0.113_775_476_813_316_35)
    q = q * u + Float8(repeating: 0.497_019_946_575_164_8)
    q = q * u + Float8(repeating: 1)
    // At most 1: the fit's rounding reaches 1 + 1 ulp near the clamp (NaN stays NaN).
    var y = a * p / q
    y.replace(with: 1, where: y .> Float8(repeating: 1))
    // Copy x's sign onto y (y ≥ 0).
    let signBits = unsafeBitCast(x, to: SIMD8<UInt32>.self) & SIMD8<UInt32>(repeating: 0x8000_0000)
    return unsafeBitCast(unsafeBitCast(y, to: SIMD8<UInt32>.self) | signBits, to: Float8.self)
}

/// tanh for 8 lanes: sign(x)·(1 − 2 / (e^{2|x|} + 1)); absolute error about 1e-7.
@inline(__always)
func tanh8(_ x: Float8) -> Float8 {
    let a = clamp8(absolute8(x), 0, 20)
    let e = exp8(a + a)
    var y = Float8(repeating: 1) - Float8(repeating: 2) / (e + Float8(repeating: 1))
    // Near 0 the subtraction loses relative precision; the odd Taylor series is exact enough there.
    let a2 = a * a
    var series = a2 * Float8(repeating: -17.0 / 315.0) + Float8(repeating: 2.0 / 15.0)
    series = a2 * series + Float8(repeating: -1.0 / 3.0)
    series = a2 * series + Float8(repeating: 1)
    let small = a * series
    y.replace(with: small, where: a .< Float8(repeating: 0.0625))
    let signBits = unsafeBitCast(x, to: SIMD8<UInt32>.self) & SIMD8<UInt32>(repeating: 0x8000_0000)
    return unsafeBitCast(unsafeBitCast(y, to: SIMD8<UInt32>.self) | signBits, to: Float8.self)
}

/// Activations transformers' `ACT2FN` maps `hidden_act` to (the ones BERT checkpoints use).
public enum Activation: String, Sendable, CaseIterable {
    /// x · Φ(x) with the exact erf (`nn.GELU()`).
    case gelu
    /// The tanh approximation (`NewGELUActivation`, `gelu_pytorch_tanh`, `gelu_fast` is close to it).
    case geluNew = "gelu_new"
    case geluPytorchTanh = "gelu_pytorch_tanh"
    case relu

    @inline(__always)
    func apply(_ x: Float8) -> Float8 {
        switch self {
        case .gelu:
            return x * Float8(repeating: 0.5) * (Float8(repeating: 1) + erf8(x * Float8(repeating: 0.707_106_781_186_547_6)))
        case .geluNew, .geluPytorchTanh:
            let inner = Float8(repeating: 0.797_884_560_802_865_4) * (x + Float8(repeating: 0.044_715) * x * x * x)
            return Float8(repeating: 0.5) * x * (Float8(repeating: 1) + tanh8(inner))
        case .relu:
            return x.replacing(with: 0, where: x .< Float8(repeating: 0))
        }
    }
}

extension Activation {
    /// The CKernels epilogue code for this activation.
    var kernelCode: Int32 {
        switch self {
        case .gelu: return Int32(BC_ACTIVATION_GELU)
        case .geluNew, .geluPytorchTanh: return Int32(BC_ACTIVATION_GELU_TANH)
        case .relu: return Int32(BC_ACTIVATION_RELU)
        }
    }

    /// The same activation per element with the C library's erf/tanh. Debug builds use it
    /// (unoptimised SIMD8 code is ~100x slower than scalar libm calls there).
    @inline(__always)
    func apply(_ x: Float) -> Float {
        switch self {
        case .gelu:
            return x * 0.5 * (1 + Foundation.erf(x * 0.707_106_781_186_547_6))
        case .geluNew, .geluPytorchTanh:
            return 0.5 * x * (1 + Foundation.tanh(0.797_884_560_802_865_4 * (x + 0.044_715 * x * x * x)))
        case .relu:
            return max(x, 0)
        }
    }
}

/// Loads up to 8 floats (the tail of a row), zero-filling the rest.
@inline(__always)
func loadPartial(_ p: ConstFloatPointer, _ count: Int) -> Float8 {
    var v = Float8(repeating: 0)
    for i in 0..<count { v[i] = p[i] }
    return v
}

@inline(__always)
func load8(_ p: ConstFloatPointer) -> Float8 {
    UnsafeRawPointer(p).loadUnaligned(as: Float8.self)
}

@inline(__always)
func store8(_ v: Float8, _ p: FloatPointer) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Float8.self)
}

/// In place: `x[i] = activation(x[i])` for `count` floats (the intermediate dense's epilogue).
func activate(_ x: FloatPointer, count: Int, activation: Activation) {
    #if DEBUG
    for i in 0..<count { x[i] = activation.apply(x[i]) }
    #else
    var i = 0
    while i + 8 <= count {
        store8(activation.apply(load8(x + i)), x + i)
        i += 8
    }
    if i < count {
        let v = activation.apply(loadPartial(x + i, count - i))
        for j in 0..<(count - i) { x[i + j] = v[j] }
    }
    #endif
}

/// `out = LayerNorm(x + residual)` row by row (the residual connection and LayerNorm of
/// BertSelfOutput / BertOutput; the dense layer's bias is already in `x`). Two passes over the
/// row (mean, then the mean of squared deviations), eight lanes at a time.
/// `x` receives the sum; `out` may alias `residual`. With `packed` (capacity
/// `packedInputCount(rows:inFeatures: columns)`), `out` is also packed there for the next
/// product, six rows at a time while they are still in cache, so that product skips its own
/// packing pass over memory.
func residualLayerNorm(_ out: FloatPointer, _ x: FloatPointer, residual: ConstFloatPointer?, weight: ConstFloatPointer,
                       shift: ConstFloatPointer, eps: Float, rows: Int, columns: Int, workers: Int,
                       packed: FloatPointer? = nil) {
    // In 6-row panels (the packing's unit), at least 22 (132 rows) a thread: fewer are done
    // before a second thread would have joined.
    parallelChunks((rows + 5) / 6, workers: workers, minimumChunk: 22) { panels in
        for panel in panels {
            layerNormRows(out, x, residual: residual, weight: weight, shift: shift, eps: eps,
                          rows: panel * 6..<min(panel * 6 + 6, rows), columns: columns)
            if let packed { bc_pack_input(rows, columns, out, columns, packed, panel, panel + 1) }
        }
    }
}

/// `residualLayerNorm` of some rows.
@inline(__always)
private func layerNormRows(_ out: FloatPointer, _ x: FloatPointer, residual: ConstFloatPointer?, weight: ConstFloatPointer,
                           shift: ConstFloatPointer, eps: Float, rows: Range<Int>, columns: Int) {
    for r in rows {
        let row = x + r * columns, o = out + r * columns
        let whole = columns & ~7
        var sum8 = Float8(repeating: 0)
        var sum: Float = 0
        if let residual {
            let res = residual + r * columns
            for c in stride(from: 0, to: whole, by: 8) {
                let v = load8(row + c) + load8(res + c)
                store8(v, row + c)
                sum8 += v
            }
            for c in whole..<columns { row[c] = row[c] + res[c] }
        } else {
            for c in stride(from: 0, to: whole, by: 8) { sum8 += load8(row + c) }
        }
        for c in whole..<columns { sum += row[c] }
        let mean = (sum8.sum() + sum) / Float(columns)
        let mean8 = Float8(repeating: mean)
        var squares8 = Float8(repeating: 0)
        var squares: Float = 0
        for c in stride(from: 0, to: whole, by: 8) {
            let d = load8(row + c) - mean8
            squares8 += d * d
        }
        for c in whole..<columns { squares += (row[c] - mean) * (row[c] - mean) }
        let inverse = 1 / ((squares8.sum() + squares) / Float(columns) + eps).squareRoot()
        let inverse8 = Float8(repeating: inverse)
        for c in stride(from: 0, to: whole, by: 8) {
            store8((load8(row + c) - mean8) * inverse8 * load8(weight + c) + load8(shift + c), o + c)
        }
        for c in whole..<columns { o[c] = (row[c] - mean) * inverse * weight[c] + shift[c] }
    }
}

/// Softmax of each row of `scores` [rows, columns] in place, of `scale · score + keyMask[c]`
/// (the mask 0 for real keys, finfo(float32).min for padded ones, as transformers adds it after
/// scaling).
func maskedSoftmaxRows(_ scores: FloatPointer, rows: Int, columns: Int, scale: Float = 1, keyMask: ConstFloatPointer) {
    let whole = columns & ~7
    for r in 0..<rows {
        let row = scores + r * columns
        var maximum = -Float.infinity
        #if DEBUG
        for c in 0..<columns {
            let v = row[c] * scale + keyMask[c]
            row[c] = v
            maximum = max(maximum, v)
        }
        var sum: Float = 0
        for c in 0..<columns {
            row[c] = Foundation.exp(row[c] - maximum)
            sum += row[c]
        }
        #else
        let scale8 = Float8(repeating: scale)
        var maximum8 = Float8(repeating: -.infinity)
        for c in stride(from: 0, to: whole, by: 8) {
            let v = load8(row + c) * scale8 + load8(keyMask + c)
            store8(v, row + c)
            maximum8.replace(with: v, where: v .> maximum8)
        }
        maximum = maximum8.max()
        for c in whole..<columns {
            let v = row[c] * scale + keyMask[c]
            row[c] = v
            maximum = max(maximum, v)
        }
        let m8 = Float8(repeating: maximum)
        var sum8 = Float8(repeating: 0)
        for c in stride(from: 0, to: whole, by: 8) {
            let e = exp8(load8(row + c) - m8)
            store8(e, row + c)
            sum8 += e
        }
        var sum = sum8.sum()
        if whole < columns {
            let n = columns - whole
            let e = exp8(loadPartial(row + whole, n) - m8)
            for i in 0..<n {
                row[whole + i] = e[i]
                sum += e[i]
            }
        }
        #endif
        let inverse = 1 / sum
        #if DEBUG
        for c in 0..<columns { row[c] *= inverse }
        #else
        let inverse8 = Float8(repeating: inverse)
        for c in stride(from: 0, to: whole, by: 8) { store8(load8(row + c) * inverse8, row + c) }
        for c in whole..<columns { row[c] *= inverse }
        #endif
    }
}

/// One head of one sequence of self-attention: `context = softmax(scale · Q Kᵀ + mask) V`,
/// with Q, K, V and the context [seq, headSize] rows `ld` floats apart (a head's columns of
/// the [tokens, hidden] buffers) and `keyMask` [seq]. `scores` holds seq × seq floats;
/// `packed` holds `packedInputCount(rows: seq, inFeatures: max(headSize, seq))`. With the AVX2
/// kernel both products and the softmax go through CKernels (`bc_softmax_pack` writes P packed,
/// `bc_sgemm_packed_by_k` reads V by rows); otherwise the products go through OpenBLAS and the
/// softmax is `maskedSoftmaxRows`.
func attentionHead(context: FloatPointer, query: ConstFloatPointer, key: ConstFloatPointer, value: ConstFloatPointer,
                   ld: Int, seq: Int, headSize: Int, scale: Float, keyMask: ConstFloatPointer, scores: FloatPointer,
                   packed: FloatPointer, useKernel: Bool = cpuHasAVX2FMA) {
    if useKernel {
        bc_pack_input(seq, headSize, query, ld, packed, 0, (seq + 5) / 6)
        bc_sgemm_packed(seq, headSize, packed, key, ld, nil, Int32(BC_ACTIVATION_NONE), scores, seq, 0, seq)
        // The softmax writes P straight into the packed layout P·V reads.
        bc_softmax_pack(seq, seq, scores, scale, keyMask, packed)
        bc_sgemm_packed_by_k(seq, seq, packed, value, ld, context, ld, 0, headSize)
        return
    }
    // scores[S, S] = Q Kᵀ, scaled in the softmax (transformers: matmul, then × scaling).
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(seq), Int32(seq), Int32(headSize),
                1, query, Int32(ld), key, Int32(ld), 0, scores, Int32(seq))
    maskedSoftmaxRows(scores, rows: seq, columns: seq, scale: scale, keyMask: keyMask)
    // context[S, d] = P · V.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(seq), Int32(headSize), Int32(seq),
                1, scores, Int32(seq), value, Int32(ld), 0, context, Int32(ld))
}

/// tanh in place (the pooler's activation).
func tanhInPlace(_ x: FloatPointer, count: Int) {
    #if DEBUG
    for i in 0..<count { x[i] = Foundation.tanh(x[i]) }
    #else
    var i = 0
    while i + 8 <= count {
        store8(tanh8(load8(x + i)), x + i)
        i += 8
    }
    if i < count {
        let v = tanh8(loadPartial(x + i, count - i))
        for j in 0..<(count - i) { x[i + j] = v[j] }
    }
    #endif
}
