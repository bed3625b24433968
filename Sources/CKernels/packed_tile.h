// The packed input layout's 6 × 8 blocks moved to and from registers: shared by the packing of
// full input panels (pack.c) and the tile kernels that write their output packed (sgemm_tile.c).
#ifndef BERTCHECK_CKERNELS_PACKED_TILE_H
#define BERTCHECK_CKERNELS_PACKED_TILE_H

#include "internal.h"

#include <immintrin.h>

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

#endif
