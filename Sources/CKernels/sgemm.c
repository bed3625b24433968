// A blocked single-precision matrix product for the shapes of a BERT forward pass, in the
// usual Goto/BLIS arrangement: the activations are packed once per product into 6-row panels
// (the broadcast operand, shared by all threads, a block of rows kept in L2), each thread packs
// the weight panels of the columns it computes into 16-column panels (the vector operand, kept
// in L1 by the inner loop), and a 6×16 register tile of 12 AVX2 accumulators does the FMAs.
// This file drives the product: slices of output columns, blocks of k and of rows, weight-panel
// packing and prefetching. The tile kernels are in sgemm_tile.c, the packing in pack.c. The
// AVX2/FMA functions carry a target attribute (the package builds for the baseline CPU);
// callers check bc_cpu_has_avx2_fma() first and use OpenBLAS otherwise.
#include "internal.h"

#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>

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
    if (W.by_k) bc_pack_weight_panel_by_k(W.w + k0 * W.ldw + n, W.ldw, columns, kc, out);
    else bc_pack_weight_panel(W.w + n * W.ldw + k0, W.ldw, columns, kc, out);
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
            if (rows == MR && packed) bc_kernel_6x16_packed(kc, a + i * kc, b, c, accumulate, tile_bias, tile_activation);
            else if (rows == MR) bc_kernel_6x16(kc, a + i * kc, b, c, stride, accumulate, tile_bias, tile_activation);
            else bc_kernel_partial(rows, packed, kc, a + i * kc, b, c, stride, accumulate, tile_bias, tile_activation);
            continue;
        }
        // Partial columns: compute the full 6×16 into `edge`, finish the valid part row by row.
        bc_kernel_6x16(kc, a + i * kc, b, edge, NR, 0, NULL, BC_ACTIVATION_NONE);
        for (long r = 0; r < MR; r++) {
            float row[NR];
            for (long j = 0; j < columns; j++) {
                float old = !accumulate || r >= rows ? 0.0f : packed ? c[j * MR + r] : c[r * stride + j];
                float v = r < rows ? old + edge[r * NR + j] : 0.0f;
                row[j] = tile_bias && r < rows ? v + tile_bias[j] : v;
            }
            if (tile_activation && r < rows) bc_activate_row16(row, columns, tile_activation);
            for (long j = 0; j < columns; j++) {
                if (packed) c[j * MR + r] = row[j];
                else if (r < rows) c[r * stride + j] = row[j];
            }
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
                if (activation && m < M) bc_activate_row16(row, count, activation);
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
