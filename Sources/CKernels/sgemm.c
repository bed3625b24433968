// A blocked single-precision matrix product for the shapes of a BERT forward pass, in the
// usual Goto/BLIS arrangement: the activations are packed once per product into 6-row panels
// (the broadcast operand, shared by all threads, a block of rows kept in L2), each thread packs
// the weight panels of the columns it computes into 16-column panels (the vector operand, kept
// in L1 by the inner loop), and a 6×16 register tile of 12 AVX2 accumulators does the FMAs.
// The AVX2/FMA functions carry a target attribute (the rest of the package builds for the
// baseline CPU); callers check bc_cpu_has_avx2_fma() first. Built with -O3 in every
// configuration (Package.swift), so debug test runs are not slowed to a crawl.
#include "ckernels.h"

#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

// Register tile MR × NR; K in blocks of KC (a 16 × 256 weight panel is 16 KiB, half of L1),
// rows in blocks of MC (144 × 256 packed input floats, 144 KiB of L2). Other blockings can be
// measured with -DBC_KC=… -DBC_MC=…; Docs/performance.md lists the ones tried.
#ifndef BC_KC
#define BC_KC 256
#endif
#ifndef BC_MC
#define BC_MC 144
#endif
enum { MR = 6, NR = 16, KC = BC_KC, MC = BC_MC };

#define AVX2_FMA __attribute__((target("avx2,fma")))

int bc_cpu_has_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

// Per-thread weight-packing buffer, grown on demand and kept for the thread's life (the forward
// pass calls this hundreds of times per batch from the same few threads); a thread-specific key
// frees it when the thread exits.
static _Thread_local float *packed_w = NULL;
static _Thread_local size_t packed_w_capacity = 0;
static pthread_key_t packed_w_key;
static pthread_once_t packed_w_key_once = PTHREAD_ONCE_INIT;

static void make_packed_w_key(void) { pthread_key_create(&packed_w_key, free); }

// This thread's weight-packing buffer with room for `count` floats (NULL when out of memory).
static float *reserve_packed_w(size_t count) {
    if (count <= packed_w_capacity) return packed_w;
    pthread_once(&packed_w_key_once, make_packed_w_key);
    free(packed_w);
    packed_w = NULL;
    packed_w_capacity = 0;
    pthread_setspecific(packed_w_key, NULL);
    float *fresh = aligned_alloc(64, (count * sizeof(float) + 63) / 64 * 64);
    if (!fresh) return NULL;
    packed_w = fresh;
    packed_w_capacity = count;
    pthread_setspecific(packed_w_key, fresh);
    return fresh;
}

// W rows [n, n + 16) × columns [k0, k0 + kc) → out[k * 16 + j] (rows past `rows` are zero).
AVX2_FMA static void pack_weight_panel(const float *w, long ldw, long rows, long kc, float *out) {
    if (rows == NR) {
        long k = 0;
        for (; k + 8 <= kc; k += 8) {
            // Two 8×8 transposes: rows j..j+7, columns k..k+7 → out[(k + c) * 16 + j].
            for (int half = 0; half < 2; half++) {
                const float *src = w + (long)half * 8 * ldw + k;
                __m256 r0 = _mm256_loadu_ps(src + 0 * ldw), r1 = _mm256_loadu_ps(src + 1 * ldw);
                __m256 r2 = _mm256_loadu_ps(src + 2 * ldw), r3 = _mm256_loadu_ps(src + 3 * ldw);
                __m256 r4 = _mm256_loadu_ps(src + 4 * ldw), r5 = _mm256_loadu_ps(src + 5 * ldw);
                __m256 r6 = _mm256_loadu_ps(src + 6 * ldw), r7 = _mm256_loadu_ps(src + 7 * ldw);
                __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
                __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
                __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
                __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
                __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
                __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
                __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
                __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
                float *dst = out + k * NR + half * 8;
                _mm256_store_ps(dst + 0 * NR, _mm256_permute2f128_ps(s0, s4, 0x20));
                _mm256_store_ps(dst + 1 * NR, _mm256_permute2f128_ps(s1, s5, 0x20));
                _mm256_store_ps(dst + 2 * NR, _mm256_permute2f128_ps(s2, s6, 0x20));
                _mm256_store_ps(dst + 3 * NR, _mm256_permute2f128_ps(s3, s7, 0x20));
                _mm256_store_ps(dst + 4 * NR, _mm256_permute2f128_ps(s0, s4, 0x31));
                _mm256_store_ps(dst + 5 * NR, _mm256_permute2f128_ps(s1, s5, 0x31));
                _mm256_store_ps(dst + 6 * NR, _mm256_permute2f128_ps(s2, s6, 0x31));
                _mm256_store_ps(dst + 7 * NR, _mm256_permute2f128_ps(s3, s7, 0x31));
            }
        }
        for (; k < kc; k++)
            for (int j = 0; j < NR; j++) out[k * NR + j] = w[j * ldw + k];
        return;
    }
    for (long k = 0; k < kc; k++)
        for (int j = 0; j < NR; j++) out[k * NR + j] = j < rows ? w[j * ldw + k] : 0.0f;
}

// W rows [k0, k0 + kc) × columns [n, n + columns) of a [K, N] matrix → out[k * 16 + j] (columns
// past `columns` are zero): the weight operand of attention's P·V, whose values are stored by k.
AVX2_FMA static void pack_weight_panel_by_k(const float *w, long ldw, long columns, long kc, float *out) {
    if (columns == NR) {
        for (long k = 0; k < kc; k++) {
            _mm256_store_ps(out + k * NR, _mm256_loadu_ps(w + k * ldw));
            _mm256_store_ps(out + k * NR + 8, _mm256_loadu_ps(w + k * ldw + 8));
        }
        return;
    }
    for (long k = 0; k < kc; k++)
        for (int j = 0; j < NR; j++) out[k * NR + j] = j < columns ? w[k * ldw + j] : 0.0f;
}

// Activations for the epilogue, lane-wise: the same approximations as the Swift SIMD8 versions
// in Kernels.swift (exp8, erf8, tanh8), so both paths agree to about 1 ulp.

// e^x: Cody–Waite reduction by ln 2 and Cephes' degree-6 polynomial; 0 below -87.3, NaN for NaN
// (min/max return their second operand when one is NaN, so x goes second).
AVX2_FMA static inline __m256 exp_ps(__m256 x) {
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    __m256 clamped = _mm256_min_ps(_mm256_set1_ps(88.3f), _mm256_max_ps(_mm256_set1_ps(-87.3f), x));
    __m256 shifted = _mm256_fmadd_ps(clamped, _mm256_set1_ps(1.4426950408889634f), magic);
    __m256 n = _mm256_sub_ps(shifted, magic);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), clamped);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440054690583e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r), _mm256_set1_ps(1.0f));
    __m256i bits = _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_castps_si256(magic));
    __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(bits, _mm256_set1_epi32(127)), 23));
    __m256 result = _mm256_mul_ps(p, scale);
    return _mm256_andnot_ps(_mm256_cmp_ps(x, _mm256_set1_ps(-87.3f), _CMP_LT_OQ), result);
}

// erf: Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7).
AVX2_FMA static inline __m256 erf_ps(__m256 x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 a = _mm256_andnot_ps(sign, x);
    __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), a, _mm256_set1_ps(1.0f)));
    __m256 r = _mm256_set1_ps(1.061405429f);
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(-1.453152027f));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(1.421413741f));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(-0.284496736f));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(0.254829592f));
    __m256 e = exp_ps(_mm256_xor_ps(sign, _mm256_mul_ps(a, a)));
    __m256 y = _mm256_fnmadd_ps(_mm256_mul_ps(r, t), e, _mm256_set1_ps(1.0f));
    return _mm256_or_ps(y, _mm256_and_ps(sign, x));
}

// tanh: sign(x)·(1 − 2 / (e^{2|x|} + 1)), with the odd Taylor series below |x| = 1/16.
AVX2_FMA static inline __m256 tanh_ps(__m256 x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 a = _mm256_min_ps(_mm256_andnot_ps(sign, x), _mm256_set1_ps(20.0f));
    __m256 e = exp_ps(_mm256_add_ps(a, a));
    __m256 y = _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
    __m256 a2 = _mm256_mul_ps(a, a);
    __m256 series = _mm256_fmadd_ps(a2, _mm256_set1_ps(-17.0f / 315.0f), _mm256_set1_ps(2.0f / 15.0f));
    series = _mm256_fmadd_ps(a2, series, _mm256_set1_ps(-1.0f / 3.0f));
    series = _mm256_fmadd_ps(a2, series, _mm256_set1_ps(1.0f));
    y = _mm256_blendv_ps(y, _mm256_mul_ps(a, series), _mm256_cmp_ps(a, _mm256_set1_ps(0.0625f), _CMP_LT_OQ));
    return _mm256_or_ps(y, _mm256_and_ps(sign, x));
}

AVX2_FMA static inline __m256 activate_ps(__m256 x, int activation) {
    switch (activation) {
    case BC_ACTIVATION_GELU:
        return _mm256_mul_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.5f)),
                             _mm256_add_ps(_mm256_set1_ps(1.0f), erf_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.7071067811865476f)))));
    case BC_ACTIVATION_GELU_TANH: {
        __m256 cube = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
        __m256 inner = _mm256_mul_ps(_mm256_set1_ps(0.7978845608028654f), _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), cube, x));
        return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), _mm256_add_ps(_mm256_set1_ps(1.0f), tanh_ps(inner)));
    }
    case BC_ACTIVATION_RELU:
        // maxps returns its second operand when either is NaN: NaN stays NaN, as in torch.
        return _mm256_max_ps(_mm256_setzero_ps(), x);
    default:
        return x;
    }
}

// activation(row[j]) for j < count (≤ 16), through a 16-float buffer for the partial vectors.
AVX2_FMA static void activate_row(float *row, long count, int activation) {
    float buffer[NR];
    memcpy(buffer, row, (size_t)count * sizeof(float));
    _mm256_storeu_ps(buffer, activate_ps(_mm256_loadu_ps(buffer), activation));
    _mm256_storeu_ps(buffer + 8, activate_ps(_mm256_loadu_ps(buffer + 8), activation));
    memcpy(row, buffer, (size_t)count * sizeof(float));
}

// X rows [m, m + 6) × columns [k0, k0 + kc) → out[k * 6 + i] (rows past `rows` are zero).
static void pack_input_panel(const float *x, long ldx, long rows, long kc, float *out) {
    const float *r[MR];
    for (int i = 0; i < MR; i++) r[i] = x + (i < rows ? i : 0) * ldx;
    if (rows == MR) {
        for (long k = 0; k < kc; k++) {
            out[0] = r[0][k]; out[1] = r[1][k]; out[2] = r[2][k];
            out[3] = r[3][k]; out[4] = r[4][k]; out[5] = r[5][k];
            out += MR;
        }
        return;
    }
    for (long k = 0; k < kc; k++) {
        for (int i = 0; i < MR; i++) out[i] = i < rows ? r[i][k] : 0.0f;
        out += MR;
    }
}

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
// `bias` (if any) and `activation` to apply. Written once for any R; called with a constant R,
// so the loops unroll and the 2·R accumulators live in registers.
AVX2_FMA static inline __attribute__((always_inline)) void
kernel_rows(const int R, long kc, const float *a, const float *b, float *c, long ldc, int accumulate,
            const float *bias, int activation) {
    // The tile's rows of C are written at the end; start fetching them now.
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < R; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + NR - 1), _MM_HINT_T0);
    }
    __m256 lo[MR], hi[MR];
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < R; i++) lo[i] = hi[i] = _mm256_setzero_ps();
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
    if (accumulate) {
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
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < R; i++) {
        _mm256_storeu_ps(c + i * ldc, lo[i]);
        _mm256_storeu_ps(c + i * ldc + 8, hi[i]);
    }
}

AVX2_FMA static void kernel_6x16(long kc, const float *a, const float *b, float *c, long ldc, int accumulate,
                                 const float *bias, int activation) {
    kernel_rows(6, kc, a, b, c, ldc, accumulate, bias, activation);
}

// A tile of 1…5 rows (the last rows of the input).
AVX2_FMA static void kernel_partial(long rows, long kc, const float *a, const float *b, float *c, long ldc,
                                    int accumulate, const float *bias, int activation) {
    switch (rows) {
    case 1: kernel_rows(1, kc, a, b, c, ldc, accumulate, bias, activation); break;
    case 2: kernel_rows(2, kc, a, b, c, ldc, accumulate, bias, activation); break;
    case 3: kernel_rows(3, kc, a, b, c, ldc, accumulate, bias, activation); break;
    case 4: kernel_rows(4, kc, a, b, c, ldc, accumulate, bias, activation); break;
    default: kernel_rows(5, kc, a, b, c, ldc, accumulate, bias, activation); break;
    }
}

// A block of weights in memory, for prefetching: `rows` rows of `width` floats, `ldw` apart.
typedef struct {
    const float *w;
    long ldw, rows, width;
} weight_region;

// The weight operand: W [N, K] as nn.Linear stores it, or (`by_k`) W [K, N].
typedef struct {
    const float *w;
    long ldw;
    int by_k;
} weights;

// Columns [n, n + columns) × k [k0, k0 + kc) of W into a 16-wide panel.
AVX2_FMA static void pack_panel(weights W, long n, long k0, long columns, long kc, float *out) {
    if (W.by_k) pack_weight_panel_by_k(W.w + k0 * W.ldw + n, W.ldw, columns, kc, out);
    else pack_weight_panel(W.w + n * W.ldw + k0, W.ldw, columns, kc, out);
}

// Where columns [n, n + columns) × k [k0, k0 + kc) of W lie.
static weight_region region_of(weights W, long n, long k0, long columns, long kc) {
    if (W.by_k) return (weight_region){W.w + k0 * W.ldw + n, W.ldw, kc, columns};
    return (weight_region){W.w + n * W.ldw + k0, W.ldw, columns, kc};
}

// The kernels of one weight panel (`columns` ≤ 16 wide) over `mc` rows of packed input `a`
// (6-row panels of kc), into C (pointing at the panel's first column). Partial columns go
// through `edge`. `last` adds the bias and applies the activation. Between the tiles it
// prefetches `next` a few rows at a time, so the next panel's weights arrive from memory while
// these kernels run rather than all at once when they are packed.
AVX2_FMA static void run_panel(long mc, long kc, const float *a, const float *b, float *C, long ldc, long columns,
                               int accumulate, int last, const float *bias, int activation, float *edge,
                               weight_region next) {
    long tiles = (mc + MR - 1) / MR;
    for (long t = 0, i = 0; i < mc; t++, i += MR) {
        for (long r = next.rows * t / tiles; r < next.rows * (t + 1) / tiles; r++)
            for (long k = 0; k < next.width; k += 16) _mm_prefetch((const char *)(next.w + r * next.ldw + k), _MM_HINT_T0);
        long rows = mc - i < MR ? mc - i : MR;
        float *c = C + i * ldc;
        const float *tile_bias = last ? bias : NULL;
        int tile_activation = last ? activation : BC_ACTIVATION_NONE;
        if (columns == NR) {
            if (rows == MR) kernel_6x16(kc, a + i * kc, b, c, ldc, accumulate, tile_bias, tile_activation);
            else kernel_partial(rows, kc, a + i * kc, b, c, ldc, accumulate, tile_bias, tile_activation);
            continue;
        }
        // Partial columns: compute the full 6×16 into `edge`, copy the valid part.
        kernel_6x16(kc, a + i * kc, b, edge, NR, 0, NULL, BC_ACTIVATION_NONE);
        for (long r = 0; r < rows; r++) {
            for (long j = 0; j < columns; j++) {
                float v = accumulate ? c[r * ldc + j] + edge[r * NR + j] : edge[r * NR + j];
                c[r * ldc + j] = tile_bias ? v + tile_bias[j] : v;
            }
            if (tile_activation) activate_row(c + r * ldc, columns, tile_activation);
        }
    }
}

size_t bc_packed_input_count(long M, long K) {
    if (M <= 0 || K <= 0) return 0;
    return (size_t)((M + MR - 1) / MR) * MR * (size_t)K;
}

// Packed layout: for each k-block (k0 = 0, KC, 2·KC, …; width kc), the 6-row panels one after
// another, each kc × 6 floats; block k0 starts at M6 · k0 (M6 = M rounded up to 6 rows).
void bc_pack_input(long M, long K, const float *X, long ldx, float *packed, long panel_begin, long panel_end) {
    long m6 = (M + MR - 1) / MR * MR;
    for (long k0 = 0; k0 < K; k0 += KC) {
        long kc = K - k0 < KC ? K - k0 : KC;
        for (long p = panel_begin; p < panel_end; p++) {
            long m = p * MR;
            long rows = M - m < MR ? M - m : MR;
            pack_input_panel(X + m * ldx + k0, ldx, rows, kc, packed + m6 * k0 + m * kc);
        }
    }
}

AVX2_FMA void bc_softmax_pack(long rows, long columns, float *scores, float scale, const float *mask, float *packed) {
    long m6 = (rows + MR - 1) / MR * MR;
    long whole = columns & ~7L;
    const __m256 scale8 = _mm256_set1_ps(scale);
    for (long r = 0; r < rows; r++) {
        float *row = scores + r * columns;
        // scale · s + mask, and the row's maximum (maxps keeps its second operand when the first
        // is NaN, so a NaN is skipped here and turns the whole row NaN through the sum below).
        __m256 max8 = _mm256_set1_ps(-__builtin_inff());
        for (long c = 0; c < whole; c += 8) {
            // Two roundings, as transformers scales and then adds the mask.
            __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(row + c), scale8), _mm256_loadu_ps(mask + c));
            _mm256_storeu_ps(row + c, v);
            max8 = _mm256_max_ps(v, max8);
        }
        float lanes[8], maximum = -__builtin_inff();
        _mm256_storeu_ps(lanes, max8);
        for (int i = 0; i < 8; i++) maximum = lanes[i] > maximum ? lanes[i] : maximum;
        for (long c = whole; c < columns; c++) {
            float scaled = row[c] * scale; // a separate statement: not contracted into an FMA
            row[c] = scaled + mask[c];
            maximum = row[c] > maximum ? row[c] : maximum;
        }
        const __m256 max_all = _mm256_set1_ps(maximum);
        __m256 sum8 = _mm256_setzero_ps();
        for (long c = 0; c < whole; c += 8) {
            __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(row + c), max_all));
            _mm256_storeu_ps(row + c, e);
            sum8 = _mm256_add_ps(sum8, e);
        }
        _mm256_storeu_ps(lanes, sum8);
        float sum = 0;
        for (int i = 0; i < 8; i++) sum += lanes[i];
        if (whole < columns) {
            float tail[8] = {0};
            for (long c = whole; c < columns; c++) tail[c - whole] = row[c] - maximum;
            _mm256_storeu_ps(tail, exp_ps(_mm256_loadu_ps(tail)));
            for (long c = whole; c < columns; c++) {
                row[c] = tail[c - whole];
                sum += row[c];
            }
        }
        // The probabilities, into row r of the packed layout (block k0: panel r / 6, lane r % 6).
        float inverse = 1 / sum;
        for (long k0 = 0; k0 < columns; k0 += KC) {
            long kc = columns - k0 < KC ? columns - k0 : KC;
            float *out = packed + m6 * k0 + (r / MR) * MR * kc + r % MR;
            for (long k = 0; k < kc; k++) out[k * MR] = row[k0 + k] * inverse;
        }
    }
    // The padding rows of the last panel are zero.
    for (long r = rows; r < m6; r++)
        for (long k0 = 0; k0 < columns; k0 += KC) {
            long kc = columns - k0 < KC ? columns - k0 : KC;
            float *out = packed + m6 * k0 + (r / MR) * MR * kc + r % MR;
            for (long k = 0; k < kc; k++) out[k * MR] = 0.0f;
        }
}

long bc_slice_panels(long M, long panels, long workers) {
    if (workers < 1) workers = 1;
    // One block of rows: slices cost nothing extra (each weight panel is packed once either
    // way), so keep them small and the workers' shares even. More rows: every slice streams the
    // whole packed input, so take up to 8 panels (their packed weights still fit in L2), about
    // four slices per worker.
    long per = M <= MC ? panels / (8 * workers) : panels / (4 * workers);
    long cap = M <= MC ? 2 : 8;
    return per < 1 ? 1 : per > cap ? cap : per;
}

long bc_fetch_add(long *counter, long value) {
    return __atomic_fetch_add(counter, value, __ATOMIC_RELAXED);
}

// bc_sgemm_packed and bc_sgemm_packed_by_k: the product for either layout of W.
AVX2_FMA static int sgemm_packed(long M, long K, const float *packed, weights W, const float *bias, int activation,
                                 float *C, long ldc, long n_begin, long n_end) {
    long N = n_end - n_begin;
    if (M <= 0 || N <= 0) return 0;
    if (K <= 0) {
        for (long m = 0; m < M; m++)
            for (long n = n_begin; n < n_end; n += NR) {
                long count = n_end - n < NR ? n_end - n : NR;
                for (long j = 0; j < count; j++) C[m * ldc + n + j] = bias ? bias[n + j] : 0.0f;
                if (activation) activate_row(C + m * ldc + n, count, activation);
            }
        return 0;
    }
    long panels = (N + NR - 1) / NR;
    long m6 = (M + MR - 1) / MR * MR;
    float edge[MR * NR];
    const weight_region nothing = {W.w, W.ldw, 0, 0};
    if (M <= MC) {
        // One block of rows (the packed input stays in L2): panel by panel, k-block by k-block,
        // pack the weights just before their kernels and prefetch the next piece meanwhile, so
        // streaming the weights from memory overlaps the arithmetic.
        float *wp = reserve_packed_w((size_t)NR * KC);
        if (!wp) return -1;
        for (long p = 0; p < panels; p++) {
            long n = n_begin + p * NR;
            long columns = n_end - n < NR ? n_end - n : NR;
            for (long k0 = 0; k0 < K; k0 += KC) {
                long kc = K - k0 < KC ? K - k0 : KC;
                pack_panel(W, n, k0, columns, kc, wp);
                weight_region next = nothing;
                if (k0 + KC < K) {
                    next = region_of(W, n, k0 + KC, columns, K - k0 - KC < KC ? K - k0 - KC : KC);
                } else if (n + NR < n_end) {
                    next = region_of(W, n + NR, 0, n_end - n - NR < NR ? n_end - n - NR : NR, K < KC ? K : KC);
                }
                run_panel(M, kc, packed + m6 * k0, wp, C + n, ldc, columns, k0 > 0, k0 + kc == K,
                          bias ? bias + n : NULL, activation, edge, next);
            }
        }
        return 0;
    }
    // Per k-block: the slice's weight panels are packed once (they stay in L2 when the slice is
    // a few panels wide) and every block of MC rows of the packed input runs over them; the
    // next k-block's weights are prefetched a share per row block.
    float *wp = reserve_packed_w((size_t)panels * NR * KC);
    if (!wp) return -1;
    long row_blocks = (M + MC - 1) / MC;
    for (long k0 = 0; k0 < K; k0 += KC) {
        long kc = K - k0 < KC ? K - k0 : KC;
        const float *xb = packed + m6 * k0;
        for (long p = 0; p < panels; p++) {
            long n = n_begin + p * NR;
            pack_panel(W, n, k0, n_end - n < NR ? n_end - n : NR, kc, wp + p * NR * kc);
        }
        long next_kc = K - k0 - kc < KC ? K - k0 - kc : KC;
        weight_region upcoming = next_kc > 0 ? region_of(W, n_begin, k0 + kc, N, next_kc) : nothing;
        for (long block = 0; block < row_blocks; block++) {
            long m0 = block * MC;
            long mc = M - m0 < MC ? M - m0 : MC;
            for (long p = 0; p < panels; p++) {
                long n = n_begin + p * NR;
                long columns = n_end - n < NR ? n_end - n : NR;
                // This (row block, panel)'s share of the rows of the next k-block's weights.
                long share = row_blocks * panels, index = block * panels + p;
                long first = upcoming.rows * index / share, end = upcoming.rows * (index + 1) / share;
                weight_region next = {upcoming.w + first * upcoming.ldw, upcoming.ldw, end - first, upcoming.width};
                run_panel(mc, kc, xb + m0 * kc, wp + p * NR * kc, C + m0 * ldc + n, ldc, columns, k0 > 0,
                          k0 + kc == K, bias ? bias + n : NULL, activation, edge, next);
            }
        }
    }
    return 0;
}

AVX2_FMA int bc_sgemm_packed(long M, long K, const float *packed, const float *W, long ldw, const float *bias,
                             int activation, float *C, long ldc, long n_begin, long n_end) {
    return sgemm_packed(M, K, packed, (weights){W, ldw, 0}, bias, activation, C, ldc, n_begin, n_end);
}

AVX2_FMA int bc_sgemm_packed_by_k(long M, long K, const float *packed, const float *W, long ldw, float *C, long ldc,
                                  long n_begin, long n_end) {
    return sgemm_packed(M, K, packed, (weights){W, ldw, 1}, NULL, BC_ACTIVATION_NONE, C, ldc, n_begin, n_end);
}
