// The vector math of the kernels, eight lanes of AVX2/FMA at a time: e^x, erf and tanh, and the
// activations built on them. Shared by the products' epilogue (sgemm_tile.c), the softmax and
// the element-wise kernels, so every path computes the same approximations; each has a scalar
// libm reference beside its caller (activations.c), which the tests compare it with.
#ifndef BERTCHECK_CKERNELS_VECTOR_MATH_H
#define BERTCHECK_CKERNELS_VECTOR_MATH_H

#include "internal.h"

#include <immintrin.h>

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

#endif
