#ifndef BERTCHECK_CKERNELS_H
#define BERTCHECK_CKERNELS_H

#include <stddef.h>

// The forward pass's kernels. Every function with an AVX2/FMA form checks the CPU at run time and
// otherwise runs its portable reference (the `_reference` functions, which the tests compare the
// AVX2 forms with), except the matrix products (bc_sgemm_*), whose callers check
// bc_cpu_has_avx2_fma() and use OpenBLAS otherwise.

/// 1 when this CPU has AVX2 and FMA (the kernels' fast forms need both).
int bc_cpu_has_avx2_fma(void);

/// The activation a product's epilogue applies (transformers' ACT2FN names in the comments).
enum {
    BC_ACTIVATION_NONE = 0,
    BC_ACTIVATION_GELU = 1,      // "gelu": x·Φ(x) with the exact erf
    BC_ACTIVATION_GELU_TANH = 2, // "gelu_new", "gelu_pytorch_tanh"
    BC_ACTIVATION_RELU = 3,      // "relu"
};

/// e^x, erf and tanh, for `bc_elementwise`.
enum {
    BC_FUNCTION_EXP = 0,
    BC_FUNCTION_ERF = 1,
    BC_FUNCTION_TANH = 2,
};

/// Floats `bc_pack_input` writes for an M × K input.
size_t bc_packed_input_count(long M, long K);

/// Packs rows [6·panel_begin, 6·panel_end) of X [M, K] (row-major) into `packed` (capacity
/// `bc_packed_input_count(M, K)`) for `bc_sgemm_packed`. Threads may pack disjoint panel ranges.
void bc_pack_input(long M, long K, const float *X, long ldx, float *packed, long panel_begin, long panel_end);

/// `C[m, n] = activation(Σ_k X[m, k] · W[n, k] + bias[n])` for m in [0, M) and n in
/// [n_begin, n_end): an nn.Linear applied to the packed input X [M, K] with weight W [N, K]
/// (row-major, k contiguous), written into row-major C; `bias` may be NULL. Single-threaded:
/// callers share [0, N) out among threads. Allocates nothing it cannot do without: when the
/// buffer for a slice's packed weights cannot be had, it works panel by panel from the stack.
void bc_sgemm_packed(long M, long K, const float *packed, const float *W, long ldw, const float *bias,
                     int activation, float *C, long ldc, long n_begin, long n_end);

/// The same product for columns [n_begin, n_end) (n_begin a multiple of 16) of an M × N result,
/// written into `out` in `bc_pack_input`'s layout for an M × N input (capacity
/// `bc_packed_input_count(M, N)`; the padding rows of the last panel are zero), so the next
/// product reads it without packing it: the intermediate dense's output, say, for the output
/// dense. Each element equals what `bc_sgemm_packed` computes, bit for bit.
void bc_sgemm_packed_to_packed(long M, long K, const float *packed, const float *W, long ldw, const float *bias,
                               int activation, float *out, long N, long n_begin, long n_end);

/// For tests: while `refuse` is non-zero, products behave as if their slice buffer could not be
/// allocated (each then goes panel by panel from the stack, with the same results bit for bit).
void bc_testing_refuse_slice_buffers(int refuse);

/// `C[m, n] = Σ_k X[m, k] · W[k, n]` for m in [0, M) and n in [n_begin, n_end): the same
/// product with W [K, N] (row-major, n contiguous), as attention's P·V needs it.
void bc_sgemm_packed_by_k(long M, long K, const float *packed, const float *W, long ldw, float *C, long ldc,
                          long n_begin, long n_end);

/// Attention's softmax in place: each row of `scores` [rows, columns] (row-major) becomes
/// softmax(scale · s + mask), `mask` [columns] being 0 for real keys and finfo(float32).min for
/// padded ones (added after scaling, as transformers does).
void bc_masked_softmax_rows(long rows, long columns, float *scores, float scale, const float *mask);
void bc_masked_softmax_rows_reference(long rows, long columns, float *scores, float scale, const float *mask);

/// The same softmax, written packed: `scores` (used as scratch) ends up in `packed` in
/// `bc_pack_input`'s layout for a [rows, columns] input (capacity `bc_packed_input_count(rows,
/// columns)`), ready to be the P of P·V.
void bc_softmax_pack(long rows, long columns, float *scores, float scale, const float *mask, float *packed);

/// `x[i] = activation(x[i])` for i in [0, count) (the epilogue of a product OpenBLAS computed),
/// with the same approximations as the products' epilogue; the reference uses libm.
void bc_activate(float *x, long count, int activation);
void bc_activate_reference(float *x, long count, int activation);
/// One value through the reference activation (libm's erff and tanhf).
float bc_activation_reference(float x, int activation);

/// `x[i] = function(x[i])` (a `BC_FUNCTION_*`) for i in [0, count), with the kernels' vector
/// approximations of e^x, erf and tanh; the reference uses libm.
void bc_elementwise(int function, float *x, long count);
void bc_elementwise_reference(int function, float *x, long count);

/// `out = LayerNorm(x + residual)` (weight, shift [columns]; `residual` may be NULL) for the rows
/// of 6-row panels [panel_begin, panel_end) of a rows × columns matrix: `x` receives the sum,
/// `out` may alias `residual`. With `packed` (capacity `bc_packed_input_count(rows, columns)`),
/// each finished panel of `out` is also packed there for the next product, while in cache.
/// Threads may take disjoint panel ranges.
void bc_residual_layer_norm(long rows, long columns, float *out, float *x, const float *residual, const float *weight,
                            const float *shift, float eps, float *packed, long panel_begin, long panel_end);
void bc_residual_layer_norm_reference(long rows, long columns, float *out, float *x, const float *residual,
                                      const float *weight, const float *shift, float eps, float *packed,
                                      long panel_begin, long panel_end);

/// How many 16-column panels one work slice of `bc_sgemm_packed` should span for M rows,
/// `panels` panels in all and `workers` threads.
long bc_slice_panels(long M, long panels, long workers);

/// A piece of work for `bc_pool_run`: `task(context, index, worker)`, `worker` being the running
/// thread's number in the step (0 for the caller).
typedef void (*bc_pool_task)(void *context, long index, long worker);

/// Runs `task(context, i, worker)` for every i in [0, count) on up to `workers` threads (the
/// caller and pool threads, started on first use and kept), each claiming the next index until
/// none are left; returns when all are done. `worker` is below min(workers, count) and no two
/// threads share one at a time, so it can pick per-thread scratch. Steps from several threads run
/// one after another; a step started inside a task runs on its thread alone (as worker 0).
void bc_pool_run(long count, long workers, bc_pool_task task, void *context);

/// Atomically adds `value` to `*counter` and returns the previous value (the tests count work done
/// on several threads with it).
long bc_fetch_add(long *counter, long value);

#endif
