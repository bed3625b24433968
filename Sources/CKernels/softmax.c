// Attention's softmax over each row of scores: softmax(scale · s + mask), the mask 0 for real keys
// and finfo(float32).min for padded ones, added after scaling as transformers does. The AVX2 form
// uses the kernels' exp approximation (vector_math.h); the reference, libm's expf, and is also
// what runs on a CPU without AVX2 and FMA.
#include "vector_math.h"

#include <math.h>

// One row in place, eight lanes at a time.
AVX2_FMA static inline void softmax_row_avx2(float *row, long columns, float scale, const float *mask) {
    long whole = columns & ~7L;
    const __m256 scale8 = _mm256_set1_ps(scale);
    // scale · s + mask, and the row's maximum (maxps keeps its second operand when the first is
    // NaN, so a NaN is skipped here and turns the whole row NaN through the sum below).
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
    float inverse = 1 / sum;
    const __m256 inverse8 = _mm256_set1_ps(inverse);
    for (long c = 0; c < whole; c += 8) _mm256_storeu_ps(row + c, _mm256_mul_ps(_mm256_loadu_ps(row + c), inverse8));
    for (long c = whole; c < columns; c++) row[c] *= inverse;
}

void bc_masked_softmax_rows_reference(long rows, long columns, float *scores, float scale, const float *mask) {
    for (long r = 0; r < rows; r++) {
        float *row = scores + r * columns;
        float maximum = -INFINITY;
        for (long c = 0; c < columns; c++) {
            float scaled = row[c] * scale; // two roundings, as in transformers
            row[c] = scaled + mask[c];
            maximum = row[c] > maximum ? row[c] : maximum;
        }
        float sum = 0;
        for (long c = 0; c < columns; c++) {
            row[c] = expf(row[c] - maximum);
            sum += row[c];
        }
        float inverse = 1 / sum;
        for (long c = 0; c < columns; c++) row[c] *= inverse;
    }
}

AVX2_FMA static void masked_softmax_rows_avx2(long rows, long columns, float *scores, float scale, const float *mask) {
    for (long r = 0; r < rows; r++) softmax_row_avx2(scores + r * columns, columns, scale, mask);
}

void bc_masked_softmax_rows(long rows, long columns, float *scores, float scale, const float *mask) {
    if (bc_has_avx2_fma()) masked_softmax_rows_avx2(rows, columns, scores, scale, mask);
    else bc_masked_softmax_rows_reference(rows, columns, scores, scale, mask);
}

// Each row's probabilities are packed with the rest of their 6-row panel as soon as the panel's
// last row is done, while the panel is still in cache (block k0: panel r / 6, lane r % 6).
AVX2_FMA static void softmax_pack_avx2(long rows, long columns, float *scores, float scale, const float *mask,
                                       float *packed) {
    long m6 = (rows + MR - 1) / MR * MR;
    for (long r = 0; r < rows; r++) {
        softmax_row_avx2(scores + r * columns, columns, scale, mask);
        if (r % MR != MR - 1 && r != rows - 1) continue;
        long m = r / MR * MR, panel_rows = r - m + 1;
        for (long k0 = 0; k0 < columns; k0 += KC) {
            long kc = columns - k0 < KC ? columns - k0 : KC;
            float *out = packed + m6 * k0 + m * kc;
            // (Padding rows of a last panel are zero, as bc_pack_input leaves them.)
            if (panel_rows == MR) bc_pack_input_panel_avx2(scores + m * columns + k0, columns, kc, out);
            else bc_pack_input_panel(scores + m * columns + k0, columns, panel_rows, kc, out);
        }
    }
}

void bc_softmax_pack(long rows, long columns, float *scores, float scale, const float *mask, float *packed) {
    if (rows <= 0 || columns <= 0) return;
    if (bc_has_avx2_fma()) {
        softmax_pack_avx2(rows, columns, scores, scale, mask, packed);
        return;
    }
    bc_masked_softmax_rows_reference(rows, columns, scores, scale, mask);
    bc_pack_input(rows, columns, scores, columns, packed, 0, (rows + MR - 1) / MR);
}
