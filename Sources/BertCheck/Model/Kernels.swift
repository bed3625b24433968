import CKernels
import COpenBLAS

// The forward pass as plain functions over flat row-major Float buffers (llm.c style). The
// arithmetic is C (Sources/CKernels): matrix products (LinearForward.swift) and attention's
// per-head ones go to the AVX2/FMA kernel (OpenBLAS on a CPU without AVX2 and FMA); the
// element-wise steps (LayerNorm, softmax, activations) have an AVX2/FMA form and a portable
// reference, chosen at run time in C. This target is plain Swift: no SIMD code, no special flags.
// Parallel steps run on the CKernels worker pool (WorkerPool.swift).

typealias FloatPointer = UnsafeMutablePointer<Float>
typealias ConstFloatPointer = UnsafePointer<Float>

/// Whether this CPU runs the AVX2/FMA matrix-product kernel (CKernels); without it OpenBLAS
/// computes every product and the element-wise kernels run their portable references.
let cpuHasAVX2FMA = bc_cpu_has_avx2_fma() != 0

/// Activations transformers' `ACT2FN` maps `hidden_act` to (the ones BERT checkpoints use).
public enum Activation: String, Sendable, CaseIterable {
    /// x · Φ(x) with the exact erf (`nn.GELU()`).
    case gelu
    /// The tanh approximation (`NewGELUActivation`, `gelu_pytorch_tanh`, `gelu_fast` is close to it).
    case geluNew = "gelu_new"
    case geluPytorchTanh = "gelu_pytorch_tanh"
    case relu

    /// The CKernels code for this activation (`bc_activate`, the products' epilogue).
    var kernelCode: Int32 {
        switch self {
        case .gelu: return Int32(BC_ACTIVATION_GELU)
        case .geluNew, .geluPytorchTanh: return Int32(BC_ACTIVATION_GELU_TANH)
        case .relu: return Int32(BC_ACTIVATION_RELU)
        }
    }
}

/// `out = LayerNorm(x + residual)` row by row (the residual connection and LayerNorm of
/// BertSelfOutput / BertOutput; the dense layer's bias is already in `x`), on `workers` threads
/// (`bc_residual_layer_norm`). `x` receives the sum; `out` may alias `residual`. With `packed`
/// (capacity `packedInputCount(rows:inFeatures: columns)`), `out` is also packed there for the
/// next product, six rows at a time while they are still in cache, so that product skips its own
/// packing pass over memory.
func residualLayerNorm(_ out: FloatPointer, _ x: FloatPointer, residual: ConstFloatPointer?, weight: ConstFloatPointer,
                       shift: ConstFloatPointer, eps: Float, rows: Int, columns: Int, workers: Int,
                       packed: FloatPointer? = nil) {
    // In 6-row panels (the packing's unit), at least 22 (132 rows) a thread: fewer are done
    // before a second thread would have joined.
    parallelChunks((rows + 5) / 6, workers: workers, minimumChunk: 22) { panels in
        bc_residual_layer_norm(rows, columns, out, x, residual, weight, shift, eps, packed, panels.lowerBound,
                               panels.upperBound)
    }
}

/// One head of one sequence of self-attention: `context = softmax(scale · Q Kᵀ + mask) V` for
/// `queries` query rows against `keys` key rows, Q, K, V and the context rows `ld` floats apart
/// (a head's columns of the [tokens, hidden] buffers) and `keyMask` [keys] added after scaling.
/// `scores` holds queries × keys floats; `packed` holds `packedInputCount(rows: queries,
/// inFeatures: max(headSize, keys))`. With the AVX2 kernel both products and the softmax go
/// through CKernels (`bc_softmax_pack` writes P packed, `bc_sgemm_packed_by_k` reads V by rows);
/// otherwise the products go through OpenBLAS around `bc_masked_softmax_rows`.
func attentionHead(context: FloatPointer, query: ConstFloatPointer, key: ConstFloatPointer, value: ConstFloatPointer,
                   ld: Int, queries: Int, keys: Int, headSize: Int, scale: Float, keyMask: ConstFloatPointer,
                   scores: FloatPointer, packed: FloatPointer, useKernel: Bool = cpuHasAVX2FMA) {
    guard queries > 0, keys > 0 else { return }
    if useKernel {
        bc_pack_input(queries, headSize, query, ld, packed, 0, (queries + 5) / 6)
        bc_sgemm_packed(queries, headSize, packed, key, ld, nil, Int32(BC_ACTIVATION_NONE), scores, keys, 0, keys)
        // The softmax writes P straight into the packed layout P·V reads.
        bc_softmax_pack(queries, keys, scores, scale, keyMask, packed)
        bc_sgemm_packed_by_k(queries, keys, packed, value, ld, context, ld, 0, headSize)
        return
    }
    // scores[queries, keys] = Q Kᵀ, scaled in the softmax (transformers: matmul, then × scaling).
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(queries), Int32(keys), Int32(headSize),
                1, query, Int32(ld), key, Int32(ld), 0, scores, Int32(keys))
    bc_masked_softmax_rows(queries, keys, scores, scale, keyMask)
    // context[queries, d] = P · V.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(queries), Int32(headSize), Int32(keys),
                1, scores, Int32(keys), value, Int32(ld), 0, context, Int32(ld))
}

/// tanh in place (the pooler's activation).
func tanhInPlace(_ x: FloatPointer, count: Int) {
    bc_elementwise(Int32(BC_FUNCTION_TANH), x, count)
}
