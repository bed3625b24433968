// LayerNorm of the residual stream, row by row: out = LayerNorm(x + residual) · weight + shift,
// with two passes over each row (the mean, then the mean of squared deviations), as BertSelfOutput
// and BertOutput apply it after their dense layer (whose bias is already in x). The AVX2 form
// sums eight lanes at a time; the reference, beside it, is the plain loop, and also what runs on
// a CPU without AVX2 and FMA. Both pack each finished 6-row panel for the next product.
#include "vector_math.h"

#include <math.h>

// Rows [begin, end) with AVX2.
AVX2_FMA static void layer_norm_rows_avx2(long columns, float *out, float *x, const float *residual,
                                          const float *weight, const float *shift, float eps, long begin, long end) {
    long whole = columns & ~7L;
    for (long r = begin; r < end; r++) {
        float *row = x + r * columns, *o = out + r * columns;
        __m256 sum8 = _mm256_setzero_ps();
        float sum = 0;
        if (residual) {
            const float *res = residual + r * columns;
            for (long c = 0; c < whole; c += 8) {
                __m256 v = _mm256_add_ps(_mm256_loadu_ps(row + c), _mm256_loadu_ps(res + c));
                _mm256_storeu_ps(row + c, v);
                sum8 = _mm256_add_ps(sum8, v);
            }
            for (long c = whole; c < columns; c++) row[c] = row[c] + res[c];
        } else {
            for (long c = 0; c < whole; c += 8) sum8 = _mm256_add_ps(sum8, _mm256_loadu_ps(row + c));
        }
        for (long c = whole; c < columns; c++) sum += row[c];
        float lanes[8];
        _mm256_storeu_ps(lanes, sum8);
        for (int i = 0; i < 8; i++) sum += lanes[i];
        float mean = sum / (float)columns;
        const __m256 mean8 = _mm256_set1_ps(mean);
        __m256 squares8 = _mm256_setzero_ps();
        float squares = 0;
        for (long c = 0; c < whole; c += 8) {
            __m256 d = _mm256_sub_ps(_mm256_loadu_ps(row + c), mean8);
            squares8 = _mm256_fmadd_ps(d, d, squares8);
        }
        for (long c = whole; c < columns; c++) squares += (row[c] - mean) * (row[c] - mean);
        _mm256_storeu_ps(lanes, squares8);
        for (int i = 0; i < 8; i++) squares += lanes[i];
        float inverse = 1 / sqrtf(squares / (float)columns + eps);
        const __m256 inverse8 = _mm256_set1_ps(inverse);
        for (long c = 0; c < whole; c += 8) {
            __m256 normal = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(row + c), mean8), inverse8);
            _mm256_storeu_ps(o + c, _mm256_fmadd_ps(normal, _mm256_loadu_ps(weight + c), _mm256_loadu_ps(shift + c)));
        }
        for (long c = whole; c < columns; c++) o[c] = (row[c] - mean) * inverse * weight[c] + shift[c];
    }
}

// Rows [begin, end), plainly.
static void layer_norm_rows_reference(long columns, float *out, float *x, const float *residual, const float *weight,
                                      const float *shift, float eps, long begin, long end) {
    for (long r = begin; r < end; r++) {
        float *row = x + r * columns, *o = out + r * columns;
        if (residual)
            for (long c = 0; c < columns; c++) row[c] += residual[r * columns + c];
        float sum = 0;
        for (long c = 0; c < columns; c++) sum += row[c];
        float mean = sum / (float)columns;
        float squares = 0;
        for (long c = 0; c < columns; c++) squares += (row[c] - mean) * (row[c] - mean);
        float inverse = 1 / sqrtf(squares / (float)columns + eps);
        for (long c = 0; c < columns; c++) o[c] = (row[c] - mean) * inverse * weight[c] + shift[c];
    }
}

typedef void (*rows_function)(long, float *, float *, const float *, const float *, const float *, float, long, long);

static void layer_norm_panels(rows_function rows_of, long rows, long columns, float *out, float *x,
                              const float *residual, const float *weight, const float *shift, float eps, float *packed,
                              long panel_begin, long panel_end) {
    for (long panel = panel_begin; panel < panel_end; panel++) {
        long begin = panel * MR, end = begin + MR < rows ? begin + MR : rows;
        rows_of(columns, out, x, residual, weight, shift, eps, begin, end);
        if (packed) bc_pack_input(rows, columns, out, columns, packed, panel, panel + 1);
    }
}

void bc_residual_layer_norm(long rows, long columns, float *out, float *x, const float *residual, const float *weight,
                            const float *shift, float eps, float *packed, long panel_begin, long panel_end) {
    layer_norm_panels(bc_has_avx2_fma() ? layer_norm_rows_avx2 : layer_norm_rows_reference, rows, columns, out, x,
                      residual, weight, shift, eps, packed, panel_begin, panel_end);
}

void bc_residual_layer_norm_reference(long rows, long columns, float *out, float *x, const float *residual,
                                      const float *weight, const float *shift, float eps, float *packed,
                                      long panel_begin, long panel_end) {
    layer_norm_panels(layer_norm_rows_reference, rows, columns, out, x, residual, weight, shift, eps, packed,
                      panel_begin, panel_end);
}
