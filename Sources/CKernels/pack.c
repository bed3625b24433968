// Packing for the matrix product (sgemm.c): the input into 6-row panels, shared by all the
// workers of a product (bc_pack_input), and the weights into 16-column panels, each worker its
// own (bc_pack_weight_panel). Packed layout of an M × K input: for each k-block (k0 = 0, KC,
// 2·KC, …; width kc), the 6-row panels one after another, each kc × 6 floats; block k0 starts at
// M6 · k0 (M6 = M rounded up to 6 rows), the padding rows of the last panel zero.
#include "packed_tile.h"

// W rows [n, n + 16) × columns [k0, k0 + kc) → out[k * 16 + j] (rows past `rows` are zero).
AVX2_FMA void bc_pack_weight_panel(const float *w, long ldw, long rows, long kc, float *out) {
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
AVX2_FMA void bc_pack_weight_panel_by_k(const float *w, long ldw, long columns, long kc, float *out) {
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

// X rows [m, m + 6) × columns [k0, k0 + kc) → out[k * 6 + i] (rows past `rows` are zero).
void bc_pack_input_panel(const float *x, long ldx, long rows, long kc, float *out) {
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

// A full 6-row input panel with AVX2: eight k at a time, the 6 × 8 block transposed in
// registers (store_columns_packed) instead of 48 scalar moves. Packing right after the rows were
// written (a LayerNorm's six rows, still in L1) is bound by these moves, not by memory.
AVX2_FMA void bc_pack_input_panel_avx2(const float *x, long ldx, long kc, float *out) {
    long k = 0;
    for (; k + 8 <= kc; k += 8) {
        __m256 r[MR];
        for (int i = 0; i < MR; i++) r[i] = _mm256_loadu_ps(x + i * ldx + k);
        store_columns_packed(r, out + k * MR);
    }
    for (; k < kc; k++)
        for (int i = 0; i < MR; i++) out[k * MR + i] = x[i * ldx + k];
}

size_t bc_packed_input_count(long M, long K) {
    if (M <= 0 || K <= 0) return 0;
    return (size_t)((M + MR - 1) / MR) * MR * (size_t)K;
}

void bc_pack_input(long M, long K, const float *X, long ldx, float *packed, long panel_begin, long panel_end) {
    int vector = bc_has_avx2_fma();
    long m6 = (M + MR - 1) / MR * MR;
    for (long k0 = 0; k0 < K; k0 += KC) {
        long kc = K - k0 < KC ? K - k0 : KC;
        for (long p = panel_begin; p < panel_end; p++) {
            long m = p * MR;
            long rows = M - m < MR ? M - m : MR;
            if (rows == MR && vector) bc_pack_input_panel_avx2(X + m * ldx + k0, ldx, kc, packed + m6 * k0 + m * kc);
            else bc_pack_input_panel(X + m * ldx + k0, ldx, rows, kc, packed + m6 * k0 + m * kc);
        }
    }
}
