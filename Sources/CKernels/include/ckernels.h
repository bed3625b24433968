#ifndef BERTCHECK_CKERNELS_H
#define BERTCHECK_CKERNELS_H

#include <stddef.h>

/// 1 when this CPU has AVX2 and FMA (the kernel below needs both).
int bc_cpu_has_avx2_fma(void);

/// `C[m, n] = Σ_k X[m, k] · W[n, k] + bias[n]` for m in [0, M) and n in [n_begin, n_end): an
/// nn.Linear applied to activations X [M, K] with weight W [N, K] (both row-major, k
/// contiguous), written into row-major C; `bias` may be NULL. Single-threaded: callers split
/// [0, N) across threads. Returns 0, or -1 when its packing buffers cannot be allocated
/// (nothing is written then).
int bc_sgemm_xwt(long M, long K, const float *X, long ldx, const float *W, long ldw,
                 const float *bias, float *C, long ldc, long n_begin, long n_end);

#endif
