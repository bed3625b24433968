// The register tile of the matrix product (sgemm.c drives it): 6 rows × 16 columns in 12 AVX2
// accumulators, fed by a packed 6-row input panel and a packed 16-column weight panel, with an
// epilogue that adds the bias and applies the activation while the tile is in registers, and
// writes it row-major or in the packed input layout of the next product.
#include "packed_tile.h"
#include "vector_math.h"

#include <string.h>

// One k step of the tile: two 8-float vectors of the weight panel against R broadcast inputs.
#define TILE_STEP(R, a, b, lo, hi)                                   \
    do {                                                             \
        __m256 b0_ = _mm256_load_ps(b), b1_ = _mm256_load_ps((b) + 8); \
        _Pragma("clang loop unroll(full)")                           \
        for (int i_ = 0; i_ < (R); i_++) {                           \
            __m256 a_ = _mm256_broadcast_ss((a) + i_);               \
            lo[i_] = _mm256_fmadd_ps(a_, b0_, lo[i_]);               \
            hi[i_] = _mm256_fmadd_ps(a_, b1_, hi[i_]);               \
        }                                                            \
    } while (0)

// tile[R][16] (+)= a-panel · b-panel over kc, R ≤ 6 rows of C (the a-panel is packed 6 rows
// wide whatever R is); `accumulate` adds to what the tile holds. The last k-block passes the
// `bias` (if any) and `activation` to apply. The tile is row-major at c (rows ldc apart), or
// (`packed`) the 96 floats at c in the packed-input layout, rows past R zero. Written once for
// any R and layout; called with constants, so the loops unroll and the 2·R accumulators live in
// registers.
AVX2_FMA static inline __attribute__((always_inline)) void
kernel_rows(const int R, const int packed, long kc, const float *a, const float *b, float *c, long ldc,
            int accumulate, const float *bias, int activation) {
    // The tile's output is written at the end; start fetching it now.
    if (packed) {
        _Pragma("clang loop unroll(full)")
        for (int line = 0; line < MR * NR; line += 16) _mm_prefetch((const char *)(c + line), _MM_HINT_T0);
    } else {
        _Pragma("clang loop unroll(full)")
        for (int i = 0; i < R; i++) {
            _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + i * ldc + NR - 1), _MM_HINT_T0);
        }
    }
    __m256 lo[MR], hi[MR];
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < MR; i++) lo[i] = hi[i] = _mm256_setzero_ps();
    long k = 0;
    // Eight steps at a time, fetching the input panel 1 KiB ahead: it streams from L2 (the
    // weight panel stays in L1), and the hardware prefetcher alone falls behind at each new tile.
    for (; k + 8 <= kc; k += 8) {
        _mm_prefetch((const char *)(a + 256), _MM_HINT_T0);
        _mm_prefetch((const char *)(a + 256 + 16), _MM_HINT_T0);
        _mm_prefetch((const char *)(a + 256 + 32), _MM_HINT_T0);
        _Pragma("clang loop unroll(full)")
        for (int u = 0; u < 8; u++) {
            TILE_STEP(R, a, b, lo, hi);
            a += MR;
            b += NR;
        }
    }
    for (; k < kc; k++) {
        TILE_STEP(R, a, b, lo, hi);
        a += MR;
        b += NR;
    }
    // Epilogue, each step unrolled over the rows so the accumulators stay in registers.
    if (accumulate && packed) {
        __m256 old_lo[MR], old_hi[MR];
        load_columns_packed(c, old_lo);
        load_columns_packed(c + 8 * MR, old_hi);
        _Pragma("clang loop unroll(full)")
        for (int i = 0; i < R; i++) {
            lo[i] = _mm256_add_ps(old_lo[i], lo[i]);
            hi[i] = _mm256_add_ps(old_hi[i], hi[i]);
        }
    } else if (accumulate) {
        _Pragma("clang loop unroll(full)")
        for (int i = 0; i < R; i++) {
            lo[i] = _mm256_add_ps(_mm256_loadu_ps(c + i * ldc), lo[i]);
            hi[i] = _mm256_add_ps(_mm256_loadu_ps(c + i * ldc + 8), hi[i]);
        }
    }
    if (bias) {
        __m256 bias_lo = _mm256_loadu_ps(bias), bias_hi = _mm256_loadu_ps(bias + 8);
        _Pragma("clang loop unroll(full)")
        for (int i = 0; i < R; i++) {
            lo[i] = _mm256_add_ps(lo[i], bias_lo);
            hi[i] = _mm256_add_ps(hi[i], bias_hi);
        }
    }
    if (activation) {
        for (int i = 0; i < R; i++) {
            lo[i] = activate_ps(lo[i], activation);
            hi[i] = activate_ps(hi[i], activation);
        }
    }
    if (packed) {
        // Rows past R stay zero (their accumulators were never touched).
        store_columns_packed(lo, c);
        store_columns_packed(hi, c + 8 * MR);
        return;
    }
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < R; i++) {
        _mm256_storeu_ps(c + i * ldc, lo[i]);
        _mm256_storeu_ps(c + i * ldc + 8, hi[i]);
    }
}

// The tile kernels stay out of line: inlined into run_panel's loop they would compete with it
// for registers.
#define KERNEL AVX2_FMA __attribute__((noinline)) void

KERNEL bc_kernel_6x16(long kc, const float *a, const float *b, float *c, long ldc, int accumulate, const float *bias,
                   int activation) {
    kernel_rows(6, 0, kc, a, b, c, ldc, accumulate, bias, activation);
}

KERNEL bc_kernel_6x16_packed(long kc, const float *a, const float *b, float *c, int accumulate, const float *bias,
                          int activation) {
    kernel_rows(6, 1, kc, a, b, c, 0, accumulate, bias, activation);
}

// A tile of 1…5 rows (the last rows of the input), in either layout.
KERNEL bc_kernel_partial(long rows, int packed, long kc, const float *a, const float *b, float *c, long ldc,
                      int accumulate, const float *bias, int activation) {
#define PARTIAL(R)                                                                    \
    if (packed) kernel_rows(R, 1, kc, a, b, c, ldc, accumulate, bias, activation);    \
    else kernel_rows(R, 0, kc, a, b, c, ldc, accumulate, bias, activation);           \
    break;
    switch (rows) {
    case 1: PARTIAL(1)
    case 2: PARTIAL(2)
    case 3: PARTIAL(3)
    case 4: PARTIAL(4)
    default: PARTIAL(5)
    }
#undef PARTIAL
}

// activation(row[j]) for j < count (≤ 16), through a 16-float buffer for the partial vectors.
AVX2_FMA void bc_activate_row16(float *row, long count, int activation) {
    float buffer[NR];
    memcpy(buffer, row, (size_t)count * sizeof(float));
    _mm256_storeu_ps(buffer, activate_ps(_mm256_loadu_ps(buffer), activation));
    _mm256_storeu_ps(buffer + 8, activate_ps(_mm256_loadu_ps(buffer + 8), activation));
    memcpy(row, buffer, (size_t)count * sizeof(float));
}
