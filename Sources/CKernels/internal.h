// What the CKernels source files share and do not export: the blocking, the AVX2/FMA function
// attribute, the cached CPU check, and the packing helpers and tile kernels sgemm.c drives.
#ifndef BERTCHECK_CKERNELS_INTERNAL_H
#define BERTCHECK_CKERNELS_INTERNAL_H

#include "ckernels.h"

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

// The package builds for the baseline x86-64 CPU; functions using AVX2 and FMA carry this
// attribute, and only run after bc_has_avx2_fma() said yes.
#define AVX2_FMA __attribute__((target("avx2,fma")))
#define INTERNAL __attribute__((visibility("hidden")))

// bc_cpu_has_avx2_fma(), asked once (a benign race: every thread stores the same answer).
INTERNAL int bc_has_avx2_fma(void);

// Packing (pack.c). Input panels: X rows [m, m + 6) × columns [k0, k0 + kc) → out[k * 6 + i],
// rows past `rows` zero; the _avx2 form takes a full panel. Weight panels: 16 rows of W [N, K]
// (or, by_k, 16 columns of W [K, N]) × kc → out[k * 16 + j], past `rows`/`columns` zero.
INTERNAL void bc_pack_input_panel(const float *x, long ldx, long rows, long kc, float *out);
AVX2_FMA INTERNAL void bc_pack_input_panel_avx2(const float *x, long ldx, long kc, float *out);
AVX2_FMA INTERNAL void bc_pack_weight_panel(const float *w, long ldw, long rows, long kc, float *out);
AVX2_FMA INTERNAL void bc_pack_weight_panel_by_k(const float *w, long ldw, long columns, long kc, float *out);

// The 6 × 16 tile kernels (sgemm_tile.c): tile (+)= a-panel · b-panel over kc, then the bias and
// activation when given; row-major at c (rows ldc apart) or, _packed, 96 floats in the packed
// input layout. kernel_partial takes the last 1…5 rows in either layout.
AVX2_FMA INTERNAL void bc_kernel_6x16(long kc, const float *a, const float *b, float *c, long ldc, int accumulate,
                                      const float *bias, int activation);
AVX2_FMA INTERNAL void bc_kernel_6x16_packed(long kc, const float *a, const float *b, float *c, int accumulate,
                                             const float *bias, int activation);
AVX2_FMA INTERNAL void bc_kernel_partial(long rows, int packed, long kc, const float *a, const float *b, float *c,
                                         long ldc, int accumulate, const float *bias, int activation);
// activation(row[j]) for j < count (≤ 16), vectorised (sgemm_tile.c).
AVX2_FMA INTERNAL void bc_activate_row16(float *row, long count, int activation);

#endif
