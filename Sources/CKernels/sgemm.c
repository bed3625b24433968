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

static int refuse_slice_buffers = 0;

void bc_testing_refuse_slice_buffers(int refuse) { __atomic_store_n(&refuse_slice_buffers, refuse, __ATOMIC_RELAXED); }

// This thread's weight-packing buffer with room for `count` floats (NULL when out of memory).
static float *reserve_packed_w(size_t count) {
    if (__atomic_load_n(&refuse_slice_buffers, __ATOMIC_RELAXED)) return NULL;
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

// erf: x·P(x²)/Q(x²) on |x| ≤ 3.92 (past it erf rounds to ±1 in Float), a rational fit
// (Scripts/fit_erf.py) within 3.3e-7 of libm's erf. It takes about half the time of
// Abramowitz & Stegun 7.1.26 with its exp, and the intermediate dense's epilogue applies it to
// every output.
AVX2_FMA static inline __m256 erf_ps(__m256 x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    // min returns its second operand when one is NaN: a NaN stays NaN.
    __m256 a = _mm256_min_ps(_mm256_set1_ps(3.92f), _mm256_andnot_ps(sign, x));
    __m256 u = _mm256_mul_ps(a, a);
    __m256 p = _mm256_set1_ps(-1.3337615456521235e-08f);
    p = _mm256_fmadd_ps(p, u, _mm256_set1_ps(4.718127456726506e-06f));
    p = _mm256_fmadd_ps(p, u, _mm256_set1_ps(3.803824947681278e-04f));
    p = _mm256_fmadd_ps(p, u, _mm256_set1_ps(3.832379588857293e-03f));
    p = _mm256_fmadd_ps(p, u, _mm256_set1_ps(5.4278504103422165e-02f));
    p = _mm256_fmadd_ps(p, u, _mm256_set1_ps(0.18470034003257751f));
    p = _mm256_fmadd_ps(p, u, _mm256_set1_ps(1.128379225730896f));
    __m256 q = _mm256_set1_ps(6.342207780107856e-05f);
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(1.305044163018465e-03f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(1.5430987812578678e-02f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(0.11377547681331635f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(0.4970199465751648f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(1.0f));
    // At most 1: the fit's rounding could reach 1 + 1 ulp near the clamp (NaN stays NaN).
    __m256 y = _mm256_min_ps(_mm256_set1_ps(1.0f), _mm256_div_ps(_mm256_mul_ps(a, p), q));
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

// Packed output: a tile's 6 rows × 8 columns r[0..5] → out[j * 6 + i] (48 floats), the layout
// bc_pack_input gives those columns when they are the next product's input. Rows 0–3 of each
// column go through a 4 × 4 transpose per 128-bit lane, rows 4–5 through one unpack.
AVX2_FMA static inline void store_columns_packed(const __m256 r[MR], float *out) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    // u[c]: rows 0–3 of column c (low lane) and c + 4 (high lane); v[0]: rows 4–5 of columns
    // 0, 1 (4, 5), v[1]: of columns 2, 3 (6, 7).
    __m256 u[4] = {_mm256_shuffle_ps(t0, t2, 0x44), _mm256_shuffle_ps(t0, t2, 0xEE),
                   _mm256_shuffle_ps(t1, t3, 0x44), _mm256_shuffle_ps(t1, t3, 0xEE)};
    __m256 v[2] = {_mm256_unpacklo_ps(r[4], r[5]), _mm256_unpackhi_ps(r[4], r[5])};
    for (int lane = 0; lane < 2; lane++) {
        float *o = out + lane * 4 * MR;
        for (int c = 0; c < 4; c++) {
            __m128 rows0to3 = lane ? _mm256_extractf128_ps(u[c], 1) : _mm256_castps256_ps128(u[c]);
            __m128 rows4to5 = lane ? _mm256_extractf128_ps(v[c / 2], 1) : _mm256_castps256_ps128(v[c / 2]);
            _mm_storeu_ps(o + c * MR, rows0to3);
            if (c % 2 == 0) _mm_storel_pi((__m64 *)(o + c * MR + 4), rows4to5);
            else _mm_storeh_pi((__m64 *)(o + c * MR + 4), rows4to5);
        }
    }
}

// The inverse: 48 packed floats (8 columns of 6 rows) → the tile's rows r[0..5].
AVX2_FMA static inline void load_columns_packed(const float *in, __m256 r[MR]) {
    __m256 u[4], v[2];
    for (int c = 0; c < 4; c++)
        u[c] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(in + c * MR)), _mm_loadu_ps(in + (c + 4) * MR), 1);
    for (int pair = 0; pair < 2; pair++) {
        const float *lo = in + 2 * pair * MR + 4, *hi = lo + 4 * MR;
        __m128 low = _mm_loadh_pi(_mm_loadl_pi(_mm_setzero_ps(), (const __m64 *)lo), (const __m64 *)(lo + MR));
        __m128 high = _mm_loadh_pi(_mm_loadl_pi(_mm_setzero_ps(), (const __m64 *)hi), (const __m64 *)(hi + MR));
        v[pair] = _mm256_insertf128_ps(_mm256_castps128_ps256(low), high, 1);
    }
    __m256 t0 = _mm256_unpacklo_ps(u[0], u[1]), t1 = _mm256_unpackhi_ps(u[0], u[1]);
    __m256 t2 = _mm256_unpacklo_ps(u[2], u[3]), t3 = _mm256_unpackhi_ps(u[2], u[3]);
    r[0] = _mm256_shuffle_ps(t0, t2, 0x44);
    r[1] = _mm256_shuffle_ps(t0, t2, 0xEE);
    r[2] = _mm256_shuffle_ps(t1, t3, 0x44);
    r[3] = _mm256_shuffle_ps(t1, t3, 0xEE);
    r[4] = _mm256_shuffle_ps(v[0], v[1], 0x88);
    r[5] = _mm256_shuffle_ps(v[0], v[1], 0xDD);
}

// A full 6-row input panel with AVX2: eight k at a time, the 6 × 8 block transposed in
// registers (store_columns_packed) instead of 48 scalar moves. Packing right after the rows were
// written (a LayerNorm's six rows, still in L1) is bound by these moves, not by memory.
AVX2_FMA static void pack_input_panel_avx2(const float *x, long ldx, long kc, float *out) {
    long k = 0;
    for (; k + 8 <= kc; k += 8) {
        __m256 r[MR];
        for (int i = 0; i < MR; i++) r[i] = _mm256_loadu_ps(x + i * ldx + k);
        store_columns_packed(r, out + k * MR);
    }
    for (; k < kc; k++)
        for (int i = 0; i < MR; i++) out[k * MR + i] = x[i * ldx + k];
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
#define KERNEL AVX2_FMA static __attribute__((noinline)) void

KERNEL kernel_6x16(long kc, const float *a, const float *b, float *c, long ldc, int accumulate, const float *bias,
                   int activation) {
    kernel_rows(6, 0, kc, a, b, c, ldc, accumulate, bias, activation);
}

KERNEL kernel_6x16_packed(long kc, const float *a, const float *b, float *c, int accumulate, const float *bias,
                          int activation) {
    kernel_rows(6, 1, kc, a, b, c, 0, accumulate, bias, activation);
}

// A tile of 1…5 rows (the last rows of the input), in either layout.
KERNEL kernel_partial(long rows, int packed, long kc, const float *a, const float *b, float *c, long ldc,
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

// Where a product writes: row-major C (`ldc` floats a row), or (`packed`) the layout
// bc_pack_input gives an M × `columns` matrix, ready to be the next product's input.
typedef struct {
    float *c;
    long ldc;
    int packed;
    long m6, columns;
} output;

// The start of the tile at row m (a multiple of 6) and column n (a multiple of 16), and in
// `stride` what to add per row for the tile 6 rows on: ldc, or (packed) the k-block's width,
// since the next 6-row panel starts 6 · kc floats on.
static float *tile_at(output out, long m, long n, long *stride) {
    if (!out.packed) {
        *stride = out.ldc;
        return out.c + m * out.ldc + n;
    }
    long k0 = n / KC * KC, kc = out.columns - k0 < KC ? out.columns - k0 : KC;
    *stride = kc;
    return out.c + out.m6 * k0 + m * kc + (n - k0) * MR;
}

// The kernels of one weight panel (`columns` ≤ 16 wide) over `mc` rows of packed input `a`
// (6-row panels of kc), into the tiles from C on (`stride` per row, see tile_at). Partial
// columns go through `edge`. `last` adds the bias and applies the activation. Between the
// tiles it prefetches `next` a few rows at a time, so the next panel's weights arrive from
// memory while these kernels run rather than all at once when they are packed.
AVX2_FMA static void run_panel(long mc, long kc, const float *a, const float *b, float *C, long stride, int packed,
                               long columns, int accumulate, int last, const float *bias, int activation, float *edge,
                               weight_region next) {
    // The next panel's rows, an equal share per tile (one division per call, not per tile).
    long tiles = (mc + MR - 1) / MR;
    long rows_per_tile = (next.rows + tiles - 1) / tiles;
    const float *fetch = next.w, *fetch_end = next.w + next.rows * next.ldw;
    for (long i = 0; i < mc; i += MR) {
        for (long r = 0; r < rows_per_tile && fetch < fetch_end; r++, fetch += next.ldw)
            for (long k = 0; k < next.width; k += 16) _mm_prefetch((const char *)(fetch + k), _MM_HINT_T0);
        long rows = mc - i < MR ? mc - i : MR;
        float *c = C + i * stride;
        const float *tile_bias = last ? bias : NULL;
        int tile_activation = last ? activation : BC_ACTIVATION_NONE;
        if (columns == NR) {
            if (rows == MR && packed) kernel_6x16_packed(kc, a + i * kc, b, c, accumulate, tile_bias, tile_activation);
            else if (rows == MR) kernel_6x16(kc, a + i * kc, b, c, stride, accumulate, tile_bias, tile_activation);
            else kernel_partial(rows, packed, kc, a + i * kc, b, c, stride, accumulate, tile_bias, tile_activation);
            continue;
        }
        // Partial columns: compute the full 6×16 into `edge`, finish the valid part row by row.
        kernel_6x16(kc, a + i * kc, b, edge, NR, 0, NULL, BC_ACTIVATION_NONE);
        for (long r = 0; r < MR; r++) {
            float row[NR];
            for (long j = 0; j < columns; j++) {
                float old = !accumulate || r >= rows ? 0.0f : packed ? c[j * MR + r] : c[r * stride + j];
                float v = r < rows ? old + edge[r * NR + j] : 0.0f;
                row[j] = tile_bias && r < rows ? v + tile_bias[j] : v;
            }
            if (tile_activation && r < rows) activate_row(row, columns, tile_activation);
            for (long j = 0; j < columns; j++) {
                if (packed) c[j * MR + r] = row[j];
                else if (r < rows) c[r * stride + j] = row[j];
            }
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
    static int has_avx2 = -1; // the CPU check, once (a benign race: every thread stores the same)
    if (__atomic_load_n(&has_avx2, __ATOMIC_RELAXED) < 0) __atomic_store_n(&has_avx2, bc_cpu_has_avx2_fma(), __ATOMIC_RELAXED);
    int vector = __atomic_load_n(&has_avx2, __ATOMIC_RELAXED);
    long m6 = (M + MR - 1) / MR * MR;
    for (long k0 = 0; k0 < K; k0 += KC) {
        long kc = K - k0 < KC ? K - k0 : KC;
        for (long p = panel_begin; p < panel_end; p++) {
            long m = p * MR;
            long rows = M - m < MR ? M - m : MR;
            if (rows == MR && vector) pack_input_panel_avx2(X + m * ldx + k0, ldx, kc, packed + m6 * k0 + m * kc);
            else pack_input_panel(X + m * ldx + k0, ldx, rows, kc, packed + m6 * k0 + m * kc);
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
        // The probabilities, in place; once a panel's six rows (or the last rows) are done, they
        // are packed together while still in cache (block k0: panel r / 6, lane r % 6).
        float inverse = 1 / sum;
        const __m256 inverse8 = _mm256_set1_ps(inverse);
        for (long c = 0; c < whole; c += 8) _mm256_storeu_ps(row + c, _mm256_mul_ps(_mm256_loadu_ps(row + c), inverse8));
        for (long c = whole; c < columns; c++) row[c] *= inverse;
        if (r % MR != MR - 1 && r != rows - 1) continue;
        long m = r / MR * MR, panel_rows = r - m + 1;
        for (long k0 = 0; k0 < columns; k0 += KC) {
            long kc = columns - k0 < KC ? columns - k0 : KC;
            float *out = packed + m6 * k0 + m * kc;
            // (Padding rows of a last panel are zero, as bc_pack_input leaves them.)
            if (panel_rows == MR) pack_input_panel_avx2(scores + m * columns + k0, columns, kc, out);
            else pack_input_panel(scores + m * columns + k0, columns, panel_rows, kc, out);
        }
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

// The products of bc_sgemm_packed & co., for either layout of W and of the output. Never fails:
// when the buffer for a slice's weight panels cannot be had, it goes panel by panel with one
// panel on the stack.
AVX2_FMA static void sgemm_packed(long M, long K, const float *packed, weights W, const float *bias, int activation,
                                  output out, long n_begin, long n_end) {
    long N = n_end - n_begin;
    if (M <= 0 || N <= 0) return;
    long m6 = (M + MR - 1) / MR * MR;
    if (K <= 0) {
        float row[NR];
        for (long m = 0; m < m6; m++)
            for (long n = n_begin; n < n_end; n += NR) {
                long count = n_end - n < NR ? n_end - n : NR;
                for (long j = 0; j < count; j++) row[j] = m < M && bias ? bias[n + j] : 0.0f;
                if (activation && m < M) activate_row(row, count, activation);
                long stride;
                float *c = tile_at(out, m / MR * MR, n, &stride);
                for (long j = 0; j < count; j++) {
                    if (out.packed) c[j * MR + m % MR] = row[j];
                    else if (m < M) c[(m % MR) * stride + j] = row[j];
                }
            }
        return;
    }
    long panels = (N + NR - 1) / NR;
    float edge[MR * NR];
    const weight_region nothing = {W.w, W.ldw, 0, 0};
    float *slice_panels = M <= MC ? NULL : reserve_packed_w((size_t)panels * NR * KC);
    if (!slice_panels) {
        // One block of rows (the packed input stays in L2): panel by panel, k-block by k-block,
        // pack the weights just before their kernels and prefetch the next piece meanwhile, so
        // streaming the weights from memory overlaps the arithmetic.
        float wp[NR * KC] __attribute__((aligned(64)));
        for (long p = 0; p < panels; p++) {
            long n = n_begin + p * NR;
            long columns = n_end - n < NR ? n_end - n : NR;
            long stride;
            float *c = tile_at(out, 0, n, &stride);
            for (long k0 = 0; k0 < K; k0 += KC) {
                long kc = K - k0 < KC ? K - k0 : KC;
                pack_panel(W, n, k0, columns, kc, wp);
                weight_region next = nothing;
                if (k0 + KC < K) {
                    next = region_of(W, n, k0 + KC, columns, K - k0 - KC < KC ? K - k0 - KC : KC);
                } else if (n + NR < n_end) {
                    next = region_of(W, n + NR, 0, n_end - n - NR < NR ? n_end - n - NR : NR, K < KC ? K : KC);
                }
                run_panel(M, kc, packed + m6 * k0, wp, c, stride, out.packed, columns, k0 > 0, k0 + kc == K,
                          bias ? bias + n : NULL, activation, edge, next);
            }
        }
        return;
    }
    // Per k-block: the slice's weight panels are packed once (they stay in L2 when the slice is
    // a few panels wide) and every block of MC rows of the packed input runs over them; the
    // next k-block's weights are prefetched a share per row block.
    long row_blocks = (M + MC - 1) / MC;
    for (long k0 = 0; k0 < K; k0 += KC) {
        long kc = K - k0 < KC ? K - k0 : KC;
        const float *xb = packed + m6 * k0;
        for (long p = 0; p < panels; p++) {
            long n = n_begin + p * NR;
            pack_panel(W, n, k0, n_end - n < NR ? n_end - n : NR, kc, slice_panels + p * NR * kc);
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
                long stride;
                float *c = tile_at(out, m0, n, &stride);
                run_panel(mc, kc, xb + m0 * kc, slice_panels + p * NR * kc, c, stride, out.packed, columns, k0 > 0,
                          k0 + kc == K, bias ? bias + n : NULL, activation, edge, next);
            }
        }
    }
}

AVX2_FMA void bc_sgemm_packed(long M, long K, const float *packed, const float *W, long ldw, const float *bias,
                              int activation, float *C, long ldc, long n_begin, long n_end) {
    sgemm_packed(M, K, packed, (weights){W, ldw, 0}, bias, activation, (output){C, ldc, 0, 0, 0}, n_begin, n_end);
}

AVX2_FMA void bc_sgemm_packed_to_packed(long M, long K, const float *packed, const float *W, long ldw,
                                        const float *bias, int activation, float *out, long N, long n_begin,
                                        long n_end) {
    output o = {out, 0, 1, (M + MR - 1) / MR * MR, N};
    sgemm_packed(M, K, packed, (weights){W, ldw, 0}, bias, activation, o, n_begin, n_end);
}

AVX2_FMA void bc_sgemm_packed_by_k(long M, long K, const float *packed, const float *W, long ldw, float *C, long ldc,
                                   long n_begin, long n_end) {
    sgemm_packed(M, K, packed, (weights){W, ldw, 1}, NULL, BC_ACTIVATION_NONE, (output){C, ldc, 0, 0, 0}, n_begin,
                 n_end);
}
