// The run-time CPU check every AVX2/FMA path goes through.
#include "internal.h"

int bc_cpu_has_avx2_fma(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

int bc_has_avx2_fma(void) {
    static int answer = -1;
    int known = __atomic_load_n(&answer, __ATOMIC_RELAXED);
    if (known >= 0) return known;
    known = bc_cpu_has_avx2_fma();
    __atomic_store_n(&answer, known, __ATOMIC_RELAXED);
    return known;
}
