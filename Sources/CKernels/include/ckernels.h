#ifndef BERTCHECK_CKERNELS_H
#define BERTCHECK_CKERNELS_H

#include <stddef.h>

/// 1 when this CPU has AVX2 and FMA (the kernel below needs both).
int bc_cpu_has_avx2_fma(void);

/// The activation a product's epilogue applies (transformers' ACT2FN names in the comments).
enum {
    BC_ACTIVATION_NONE = 0,
    BC_ACTIVATION_GELU = 1,      // "gelu": x·Φ(x) with the exact erf
    BC_ACTIVATION_GELU_TANH = 2, // "gelu_new", "gelu_pytorch_tanh"
    BC_ACTIVATION_RELU = 3,      // "relu"
};

/// `C[m, n] = activation(Σ_k X[m, k] · W[n, k] + bias[n])` for m in [0, M) and n in
/// [n_begin, n_end): an nn.Linear applied to activations X [M, K] with weight W [N, K] (both
/// row-major, k contiguous), written into row-major C; `bias` may be NULL. Single-threaded:
/// callers split [0, N) across threads. Returns 0, or -1 when its packing buffers cannot be
/// allocated (nothing is written then).
int bc_sgemm_xwt(long M, long K, const float *X, long ldx, const float *W, long ldw,
                 const float *bias, int activation, float *C, long ldc, long n_begin, long n_end);

#endif
