import CKernels
import COpenBLAS

// nn.Linear over flat row-major buffers: the CKernels AVX2/FMA product (Sources/CKernels/sgemm.c)
// when the CPU has AVX2 and FMA, single-threaded OpenBLAS per slice of columns otherwise.

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
/// tests also choose), each worker runs single-threaded OpenBLAS on its columns, then adds the
/// bias and applies the activation (`bc_activate`); a packed input needs the kernel.
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
/// output on `workers` threads, then bias and activation; a packed output is computed
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
            if let activation = product.activation { bc_activate(row + n0, n1 - n0, activation.kernelCode) }
        }
    }
    if product.outLayout == .packed && rows > 0 {
        bc_pack_input(rows, outFeatures, rowMajor, outFeatures, product.out, 0, (rows + 5) / 6)
    }
}
