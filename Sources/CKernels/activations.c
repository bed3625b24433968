// Element-wise kernels over a float array in place: the activations (the intermediate dense's
// epilogue when OpenBLAS computed the product) and e^x, erf and tanh themselves (the pooler's
// tanh; the tests check each approximation against libm). The AVX2 forms use vector_math.h, as
// the products' epilogue does; the references are plain libm, beside them, and also what runs on
// a CPU without AVX2 and FMA.
#include "vector_math.h"

#include <math.h>
#include <string.h>

float bc_activation_reference(float x, int activation) {
    switch (activation) {
    case BC_ACTIVATION_GELU:
        return x * 0.5f * (1 + erff(x * 0.7071067811865476f));
    case BC_ACTIVATION_GELU_TANH:
        return 0.5f * x * (1 + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    case BC_ACTIVATION_RELU:
        return x < 0 ? 0 : x; // NaN stays NaN, as in torch
    default:
        return x;
    }
}

void bc_activate_reference(float *x, long count, int activation) {
    for (long i = 0; i < count; i++) x[i] = bc_activation_reference(x[i], activation);
}

// f over x[0..count) eight lanes at a time, the tail through a zero-padded buffer.
#define MAP_AVX2(x, count, f)                                                        \
    do {                                                                             \
        long i_ = 0;                                                                 \
        for (; i_ + 8 <= (count); i_ += 8) _mm256_storeu_ps((x) + i_, f(_mm256_loadu_ps((x) + i_))); \
        if (i_ < (count)) {                                                          \
            float tail_[8] = {0};                                                    \
            memcpy(tail_, (x) + i_, (size_t)((count) - i_) * sizeof(float));         \
            _mm256_storeu_ps(tail_, f(_mm256_loadu_ps(tail_)));                      \
            memcpy((x) + i_, tail_, (size_t)((count) - i_) * sizeof(float));         \
        }                                                                            \
    } while (0)

AVX2_FMA static void activate_avx2(float *x, long count, int activation) {
#define ACTIVATE(v) activate_ps(v, activation)
    MAP_AVX2(x, count, ACTIVATE);
#undef ACTIVATE
}

void bc_activate(float *x, long count, int activation) {
    if (bc_has_avx2_fma()) activate_avx2(x, count, activation);
    else bc_activate_reference(x, count, activation);
}

void bc_elementwise_reference(int function, float *x, long count) {
    for (long i = 0; i < count; i++) {
        switch (function) {
        case BC_FUNCTION_EXP: x[i] = expf(x[i]); break;
        case BC_FUNCTION_ERF: x[i] = erff(x[i]); break;
        case BC_FUNCTION_TANH: x[i] = tanhf(x[i]); break;
        default: break;
        }
    }
}

AVX2_FMA static void elementwise_avx2(int function, float *x, long count) {
    switch (function) {
    case BC_FUNCTION_EXP: MAP_AVX2(x, count, exp_ps); break;
    case BC_FUNCTION_ERF: MAP_AVX2(x, count, erf_ps); break;
    case BC_FUNCTION_TANH: MAP_AVX2(x, count, tanh_ps); break;
    default: break;
    }
}

void bc_elementwise(int function, float *x, long count) {
    if (bc_has_avx2_fma()) elementwise_avx2(function, x, count);
    else bc_elementwise_reference(function, x, count);
}
