/*
 * lstmcore: forward and backward of one LSTM layer in one direction, written once for both
 * dtypes. lstm.c includes this file twice, with REAL, SUFFIX and GEMM_FIELD defined.
 *
 * T time steps, B batch, I input, H hidden, P projection (0: none), Ph = P or H, G = 4H,
 * N rows over all steps (packed, time-major: see lstm.h). b_t rows are active at step t.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lstm_math.h"
#include "lstm_gates_avx512.h"

#ifndef LSTM_IMPL_MACROS
#define LSTM_IMPL_MACROS
#define LSTM_CAT_(a, b) a##_##b
#define LSTM_CAT(a, b) LSTM_CAT_(a, b)
#define FN(name) LSTM_CAT(name, SUFFIX)
#define WEIGHTS LSTM_CAT(lstm_weights, SUFFIX)
#define GRADS LSTM_CAT(lstm_grads, SUFFIX)
#define BATCH(d, t) ((d)->batch_sizes ? (d)->batch_sizes[t] : (d)->batch)
#endif

/* Row-major C (m, n) = alpha op(A) op(B) + beta C through a column-major BLAS: the same
 * memory read column-major is C^T = op(B)^T op(A)^T, so the operands swap. ta and tb are
 * 'N' or 'T' as the row-major caller sees them. */
static void FN(gemm)(const lstm_blas *blas, char ta, char tb, int m, int n, int k, REAL alpha,
                     const REAL *A, int lda, const REAL *Bm, int ldb, REAL beta, REAL *C, int ldc)
{
    if (m == 0 || n == 0) return;
    if (k == 0) { /* nothing to multiply; BLAS would also reject lda < 1 here */
        if (beta == 0)
            for (int r = 0; r < m; r++) memset(C + (size_t)r * ldc, 0, (size_t)n * sizeof(REAL));
        return;
    }
    blas->GEMM_FIELD(&tb, &ta, &n, &m, &k, &alpha, (REAL *)Bm, &ldb, (REAL *)A, &lda, &beta, C,
                     &ldc);
}

#include "lstm_gemm.h"
#include "lstm_threads.h"

/* The gate passes: one fused, vectorisable loop over the rows of a step. On x86-64 with GCC or
 * Clang they are compiled for AVX-512, AVX2 with FMA and the baseline and picked at run time.
 * The AVX2 clone is named by its ISA level, x86-64-v3 (AVX2, FMA, ...), which the dispatcher
 * checks feature by feature: "arch=haswell" was checked as "is this CPU a Haswell", so every
 * AMD and later Intel CPU without AVX-512 ran the SSE2 baseline (3x slower gate passes on a
 * Zen 3). Compilers that do not take that name (GCC before 12, Clang) get an "avx2" clone,
 * without FMA. Here, as in the GEMM kernel, a * b + c may contract into one FMA
 * (fp-contract=fast for these functions only; -std=c11 keeps it off elsewhere): the
 * polynomials of the gate math are chains of them, and fusing makes the pass 1.5x faster at
 * the seed shape while rounding once instead of twice (tests/test_math.py holds the result to
 * 3 ulp either way). Results may differ in the last bit between a CPU with FMA and one
 * without, as BLAS's do. */
#ifndef LSTM_KERNEL
#if defined(__x86_64__) && defined(__GNUC__) && defined(__has_attribute)
#if __has_attribute(target_clones) && !defined(LSTM_NO_TARGET_CLONES)
#if !defined(__clang__) && __GNUC__ >= 12
#define LSTM_AVX2_CLONE "arch=x86-64-v3"
#else
#define LSTM_AVX2_CLONE "avx2"
#endif
#define LSTM_KERNEL                                                                      \
    __attribute__((target_clones("avx512f", LSTM_AVX2_CLONE, "default"),                     \
                   optimize("fp-contract=fast")))
#endif
#endif
#ifndef LSTM_KERNEL
#define LSTM_KERNEL
#endif
#endif

/* The gate loops run over blocks of LSTM_BLOCK hidden units: a fixed trip count vectorises at
 * every vector width with no scalar remainder (H = 30 would otherwise run half its units in
 * scalar code); the last, partial block is described at gates_forward. In a block, gate q of
 * unit j is at a[q * s + j]. */
#ifndef LSTM_BLOCK
#define LSTM_BLOCK 16
#endif

/* Forward of one block. a holds the pre-activations without bias and receives the activated
 * i, f, g, o; bias holds b_ih + b_hh with the gates sb apart; c holds c_{t-1} and receives
 * c_t, as does c_save (training's copy, the cache's cells) unless it is NULL; out receives
 * r = o * tanh(c_t). */
LSTM_INLINE void FN(forward_block)(REAL *restrict a, size_t s, const REAL *restrict bias,
                                   size_t sb, REAL *restrict c, REAL *restrict c_save,
                                   REAL *restrict out)
{
    for (int j = 0; j < LSTM_BLOCK; j++) {
        REAL i = FN(lstm_sigmoid)(a[j] + bias[j]);
        REAL f = FN(lstm_sigmoid)(a[s + j] + bias[sb + j]);
        REAL g = FN(lstm_tanh)(a[2 * s + j] + bias[2 * sb + j]);
        REAL o = FN(lstm_sigmoid)(a[3 * s + j] + bias[3 * sb + j]);
        REAL cn = f * c[j] + i * g;
        a[j] = i;
        a[s + j] = f;
        a[2 * s + j] = g;
        a[3 * s + j] = o;
        c[j] = cn;
        if (c_save) c_save[j] = cn;
        out[j] = o * FN(lstm_tanh)(cn);
    }
}

/* Backward of one block. a holds the activated i, f, g, o and receives their pre-activation
 * gradients; cell holds c_t and receives r_t = o * tanh(c_t) when save_r (for dW_hr); c_prev is
 * c_{t-1}; dr is dL/dr_t; dc holds dL/dc_t from the step after and receives dL/dc_{t-1}.
 *
 * tanh(c_t) comes back from h, the forward's r_t = o * tanh(c_t), when from_h (no projection:
 * r_t is h_t, in y): a division by o instead of a tanh, a third of the block's arithmetic. Where
 * o is 0 it takes r_t itself: every term tanh(c_t) enters is multiplied by o, so it is 0 as
 * with the tanh, or NaN when c_t is NaN (then r_t is NaN too). The quotient is within an ulp or
 * two of the tanh, which is itself a few ulp from tanh (lstm_math.h). from_h is a constant in
 * every caller, so each inlined copy keeps one of the two. */
LSTM_INLINE void FN(backward_block)(REAL *restrict a, size_t s, REAL *restrict cell,
                                    const REAL *restrict c_prev, const REAL *restrict dr,
                                    REAL *restrict dc, const REAL *restrict h, int from_h,
                                    int save_r)
{
    for (int j = 0; j < LSTM_BLOCK; j++) {
        REAL i = a[j], f = a[s + j], g = a[2 * s + j], o = a[3 * s + j];
        REAL tc = from_h ? (o != 0 ? h[j] / o : h[j]) : FN(lstm_tanh)(cell[j]);
        /* r = o * tanh(c) */
        REAL d_o = dr[j] * tc;
        REAL d_c = dc[j] + dr[j] * o * (1 - tc * tc);
        /* c = f * c_prev + i * g */
        REAL d_i = d_c * g;
        REAL d_g = d_c * i;
        REAL d_f = d_c * c_prev[j];
        dc[j] = d_c * f;
        /* i, f, o = sigmoid(a): s' = s (1 - s);  g = tanh(a): t' = 1 - t^2 */
        a[j] = d_i * i * (1 - i);
        a[s + j] = d_f * f * (1 - f);
        a[2 * s + j] = d_g * (1 - g * g);
        a[3 * s + j] = d_o * o * (1 - o);
        if (save_r) cell[j] = o * tc;
    }
}

/* Copies n elements (a block's tail, a row of a step). An inline loop, since a memcpy call per
 * tail or row cost more than the gates at H = 30, with its own branch for n = LSTM_BLOCK (a
 * last block's copies): the callers' counts are known only at run time, and the constant count
 * makes that case a few vector moves instead of a scalar loop (1.5% of the seed shape's
 * training step). GCC turns such loops into memcpy calls unless built with
 * -fno-tree-loop-distribute-patterns, as setup.py and the Makefile do. */
LSTM_INLINE void FN(copy_n)(REAL *restrict dst, const REAL *restrict src, int n)
{
    if (n == LSTM_BLOCK) {
        for (int j = 0; j < LSTM_BLOCK; j++) dst[j] = src[j];
        return;
    }
    for (int j = 0; j < n; j++) dst[j] = src[j];
}

/* A hidden size that is not a multiple of LSTM_BLOCK (H = 30) has a last, partial block. When
 * H >= LSTM_BLOCK it runs as the whole block of units [H - LSTM_BLOCK, H), which overlaps the
 * full block before it: it is computed on copies taken before the full blocks write anything
 * and stored after them, so the overlapping units get the same values twice (same inputs, same
 * arithmetic) and every copy is a whole block (vector moves). Only H < LSTM_BLOCK pads. */

/* Forward over the b rows of a step, for the n hidden units the pointers start at (n = H: all
 * of them; fewer: a chunk of a split step). a (b, G) pre-activations -> activated gates, gate q
 * of a unit H after gate q - 1; c (b, H) c_{t-1} -> c_t, also copied to c_save (b, H) unless
 * NULL; out (b, ld_out) receives r; bias has its gates H apart. block is forward_block or an
 * instruction set's copy of it (lstm_gates_avx512.h): a constant in each caller, so that it is
 * inlined there. */
typedef void FN(block_fn)(REAL *a, size_t s, const REAL *bias, size_t sb, REAL *c,
                          REAL *c_save, REAL *out);
LSTM_INLINE void FN(gates_forward_rows)(REAL *restrict a, REAL *restrict c,
                                        REAL *restrict out, int ld_out, REAL *restrict c_save,
                                        const REAL *restrict bias, int b, int H, int n_units,
                                        FN(block_fn) *block)
{
    const size_t G = 4 * (size_t)H;
    const int full = n_units - n_units % LSTM_BLOCK, n = n_units - full;
    const int overlap = n > 0 && n_units >= LSTM_BLOCK;
    const int t0 = overlap ? n_units - LSTM_BLOCK : full; /* first unit of the last block */
    const int tn = overlap ? LSTM_BLOCK : n;              /* its units that exist */
    REAL ta[4 * LSTM_BLOCK] = {0}, tb[4 * LSTM_BLOCK] = {0};
    REAL tc[LSTM_BLOCK] = {0}, tout[LSTM_BLOCK];
    for (int q = 0; q < 4; q++) FN(copy_n)(tb + q * LSTM_BLOCK, bias + q * H + t0, tn);
    for (int r = 0; r < b; r++) {
        REAL *ar = a + r * G, *cr = c + (size_t)r * H, *outr = out + (size_t)r * ld_out;
        REAL *sr = c_save ? c_save + (size_t)r * H : NULL; /* the blocks store c_t there too */
        if (n > 0) {
            for (int q = 0; q < 4; q++) FN(copy_n)(ta + q * LSTM_BLOCK, ar + q * H + t0, tn);
            FN(copy_n)(tc, cr + t0, tn);
            block(ta, LSTM_BLOCK, tb, LSTM_BLOCK, tc, NULL, tout);
        }
        for (int j = 0; j < full; j += LSTM_BLOCK)
            block(ar + j, H, bias + j, H, cr + j, sr ? sr + j : NULL, outr + j);
        if (n > 0) {
            for (int q = 0; q < 4; q++) FN(copy_n)(ar + q * H + t0, ta + q * LSTM_BLOCK, tn);
            FN(copy_n)(cr + t0, tc, tn);
            if (sr) FN(copy_n)(sr + t0, tc, tn);
            FN(copy_n)(outr + t0, tout, tn);
        }
    }
}

static LSTM_KERNEL void FN(gates_forward_generic)(REAL *restrict a, REAL *restrict c,
                                                  REAL *restrict out, int ld_out,
                                                  REAL *restrict c_save,
                                                  const REAL *restrict bias, int b, int H,
                                                  int n_units)
{
    FN(gates_forward_rows)(a, c, out, ld_out, c_save, bias, b, H, n_units, FN(forward_block));
}

#if LSTM_GATES_AVX512 && LSTM_REAL_IS_FLOAT
static __attribute__((target("avx512f,avx2,fma"))) void
FN(gates_forward_avx512)(REAL *restrict a, REAL *restrict c, REAL *restrict out, int ld_out,
                         REAL *restrict c_save, const REAL *restrict bias, int b, int H,
                         int n_units)
{
    FN(gates_forward_rows)(a, c, out, ld_out, c_save, bias, b, H, n_units,
                           lstm_forward_block_avx512);
}
#endif

/* gates_forward_rows on the float32 AVX-512 block where the CPU runs the AVX-512 kernels
 * (lstm_gemm.h), else on the generic block compiled for the CPU's instruction set. */
static void FN(gates_forward)(REAL *restrict a, REAL *restrict c, REAL *restrict out,
                              int ld_out, REAL *restrict c_save, const REAL *restrict bias,
                              int b, int H, int n_units)
{
#if LSTM_GATES_AVX512 && LSTM_REAL_IS_FLOAT
    if (lstm_cpu_has_avx512()) {
        FN(gates_forward_avx512)(a, c, out, ld_out, c_save, bias, b, H, n_units);
        return;
    }
#endif
    FN(gates_forward_generic)(a, c, out, ld_out, c_save, bias, b, H, n_units);
}

/* Backward over the rows of a step, for the n_units hidden units the pointers start at (as
 * gates_forward): a (rows, G) activated gates -> their gradients; cell
 * (rows, H) c_t (-> r_t when save_r); c_{t-1} of row r is c_before's row r for r < b_before,
 * else c0's row r, else zeros (c_before, c0 may be NULL); dr (rows, H); dc (rows, H)
 * dL/dc_t -> dL/dc_{t-1}; h (rows, ld_h) the forward's r_t = h_t when from_h (backward_block).
 * One call a step: the per-row set-up of the last block's copies cost as much as the
 * arithmetic at H = 30. */
LSTM_INLINE void FN(gates_backward_rows)(REAL *restrict a, REAL *restrict cell,
                                         const REAL *restrict c_before, int b_before,
                                         const REAL *restrict c0, const REAL *restrict dr,
                                         REAL *restrict dc, const REAL *restrict h, int ld_h,
                                         int from_h, int save_r, int rows, int H, int n_units)
{
    const REAL zeros[LSTM_BLOCK] = {0};
    const size_t G = 4 * (size_t)H;
    const int full = n_units - n_units % LSTM_BLOCK, n = n_units - full;
    const int overlap = n > 0 && n_units >= LSTM_BLOCK;
    const int t0 = overlap ? n_units - LSTM_BLOCK : full, tn = overlap ? LSTM_BLOCK : n;
    /* Zero once: a partial block (H < LSTM_BLOCK) keeps zeros past its units in every row. */
    REAL ta[4 * LSTM_BLOCK] = {0}, tcell[LSTM_BLOCK] = {0}, tcp[LSTM_BLOCK] = {0};
    REAL tdr[LSTM_BLOCK] = {0}, tdc[LSTM_BLOCK] = {0}, th[LSTM_BLOCK] = {0};
    for (int r = 0; r < rows; r++) {
        REAL *ar = a + r * G, *cellr = cell + (size_t)r * H, *dcr = dc + (size_t)r * H;
        const REAL *drr = dr + (size_t)r * H, *hr = from_h ? h + (size_t)r * ld_h : NULL;
        const REAL *c_prev = r < b_before ? c_before + (size_t)r * H
                             : c0         ? c0 + (size_t)r * H
                                          : NULL;
        if (n > 0) {
            for (int q = 0; q < 4; q++) FN(copy_n)(ta + q * LSTM_BLOCK, ar + q * H + t0, tn);
            FN(copy_n)(tcell, cellr + t0, tn);
            FN(copy_n)(tcp, c_prev ? c_prev + t0 : zeros, tn);
            FN(copy_n)(tdr, drr + t0, tn);
            FN(copy_n)(tdc, dcr + t0, tn);
            if (from_h) FN(copy_n)(th, hr + t0, tn);
            FN(backward_block)(ta, LSTM_BLOCK, tcell, tcp, tdr, tdc, th, from_h, save_r);
        }
        for (int j = 0; j < full; j += LSTM_BLOCK)
            FN(backward_block)(ar + j, H, cellr + j, c_prev ? c_prev + j : zeros, drr + j,
                               dcr + j, from_h ? hr + j : NULL, from_h, save_r);
        if (n > 0) {
            for (int q = 0; q < 4; q++) FN(copy_n)(ar + q * H + t0, ta + q * LSTM_BLOCK, tn);
            FN(copy_n)(cellr + t0, tcell, tn);
            FN(copy_n)(dcr + t0, tdc, tn);
        }
    }
}

/* gates_backward_rows with h (rows, ld_h) the step's h_t rows, or NULL to compute tanh(c_t):
 * with a projection (save_r), whose h_t is not r_t. */
static LSTM_KERNEL void FN(gates_backward)(REAL *restrict a, REAL *restrict cell,
                                           const REAL *restrict c_before, int b_before,
                                           const REAL *restrict c0, const REAL *restrict dr,
                                           REAL *restrict dc, const REAL *restrict h, int ld_h,
                                           int save_r, int rows, int H, int n_units)
{
    if (h)
        FN(gates_backward_rows)(a, cell, c_before, b_before, c0, dr, dc, h, ld_h, 1, 0, rows,
                                H, n_units);
    else
        FN(gates_backward_rows)(a, cell, c_before, b_before, c0, dr, dc, NULL, 0, 0, save_r,
                                rows, H, n_units);
}

static int FN(check_common)(const lstm_blas *blas, const WEIGHTS *w, const lstm_dims *d)
{
    int status = lstm_check_dims(d);
    if (status != LSTM_OK) return status;
    if (!blas || !blas->GEMM_FIELD) return LSTM_ERR_NO_BLAS;
    if (!w || !w->w_ih || !w->w_hh || (d->proj_size > 0 && !w->w_hr)) return LSTM_ERR_NULL_ARGUMENT;
    return LSTM_OK;
}

/* Start a state buffer (rows, cols) from init, or zeros when init is NULL. */
static void FN(init_state)(REAL *state, const REAL *init, size_t count)
{
    if (!init) memset(state, 0, count * sizeof(REAL));
    else if (init != state) memmove(state, init, count * sizeof(REAL));
}

/* BLAS products of a split backward (lstm_backward_splits_blas) run as this many pieces along
 * their rows when BLAS is single-threaded: enough for the threads to share them evenly, few
 * enough that BLAS's packing of the operand all pieces read stays small beside the product. */
#ifndef LSTM_BLAS_PIECES
#define LSTM_BLAS_PIECES 8
#endif

/* Rows a BLAS piece holds: rows / LSTM_BLAS_PIECES rounded up to a multiple of 8. */
static inline int FN(blas_piece_rows)(int rows)
{
    int per = (rows + LSTM_BLAS_PIECES - 1) / LSTM_BLAS_PIECES;
    per = (per + 7) / 8 * 8;
    return per > 0 ? per : 1;
}

/* The row, a multiple of 4 (or B), before which the rows' work (the time steps in [t0, t1)
 * each is active in, summed) comes closest to target. Rows are sorted by decreasing length.
 * The closest, not the first to reach it: a row of the first part is active in every step of
 * the range, so rounding up to the next multiple of 4 gave the first part up to 4 whole rows
 * more (at (50, 64, 128, 128) with lengths, 28 rows of 16 steps against 25: 448 row-steps to
 * the other part's 352, and it finished 15-25% later). */
static int FN(work_boundary)(const lstm_dims *d, int64_t target, int t0, int t1)
{
    int64_t work = 0, work_before = 0; /* up to r, and up to the multiple of 4 before r */
    int steps = d->time_steps; /* steps row r is active in: those with more than r rows */
    for (int r = 0; r < d->batch; r++) {
        if (r % 4 == 0) {
            if (work >= target)
                return r >= 4 && target - work_before < work - target ? r - 4 : r;
            work_before = work;
        }
        while (steps > 0 && BATCH(d, steps - 1) <= r) steps--;
        const int last = steps < t1 ? steps : t1;
        work += last > t0 ? last - t0 : 0;
    }
    const int last4 = (d->batch - 1) / 4 * 4; /* the last multiple of 4 before B */
    return work >= target && target - work_before < work - target ? last4 : d->batch;
}

/* Rows [lo, hi) of the batch for threads part of parts over the time steps [t0, t1):
 * multiples of the GEMM kernel's 4-row block, so that no thread runs a partial block that
 * another could have filled, and with variable lengths cut where the work of those steps (not
 * the row count, not the whole sequence's work: an inference chunk ends with the threads
 * meeting) is shared evenly. The first rows hold the longest sequences. */
static void FN(part_rows)(const lstm_dims *d, int part, int parts, int t0, int t1, int *lo,
                          int *hi)
{
    const int B = d->batch;
    if (!d->batch_sizes) {
        *lo = (int)((int64_t)B * part / parts) / 4 * 4;
        *hi = part + 1 == parts ? B : (int)((int64_t)B * (part + 1) / parts) / 4 * 4;
        return;
    }
    int64_t total = 0;
    for (int t = t0; t < t1; t++) total += BATCH(d, t);
    *lo = part == 0 ? 0 : FN(work_boundary)(d, total * part / parts, t0, t1);
    *hi = part + 1 == parts ? B : FN(work_boundary)(d, total * (part + 1) / parts, t0, t1);
}

/* Threads a call's time loop splits over (split_calls in lstm.c says which calls may), 4 rows
 * or more each, or whole row groups (row_groups). */
static int FN(loop_parts)(const lstm_dims *d, int backward)
{
    if (!split_calls(d, backward)) return 1;
    int parts = lstm_get_num_threads();
    const int most = row_groups(d) > 0 ? row_groups(d) : d->batch / 4;
    if (parts > most) parts = most;
    return parts > 1 ? parts : 1;
}

static inline int FN(min_int)(int a, int b) { return a < b ? a : b; }

/* The first row of each row group g < groups (row_groups), as part_rows cuts the batch into
 * `groups` parts over the whole sequence, and starts[groups] = B. */
static void FN(group_starts)(const lstm_dims *d, int groups, int *starts)
{
    for (int g = 0; g < groups; g++) {
        int hi;
        FN(part_rows)(d, g, groups, 0, d->time_steps, &starts[g], &hi);
    }
    starts[groups] = d->batch;
}

/* With row groups a training cache keeps each group's rows together: group g's gates, then
 * g + 1's, each group's in the packed order of its own rows (time-major, the rows of the group
 * that each step has), and the cells likewise. So each thread writes and reads one stretch of
 * the cache, where rows interleaved by group at every step put one thread's rows next to the
 * other's: the cores' prefetchers then pulled in lines the other core was writing, and at the
 * seed shape each 16-row part of a 2-thread forward took 40 us where 16 rows take 27 alone
 * (the whole 2-thread forward: 40.3 us before, 31.7 laid out by group).
 * Groups depend on the sizes only, so the layout does too. This is the first cache row of the
 * group whose first batch row is `start`: the rows before it of every step. */
static size_t FN(group_cache_row)(const lstm_dims *d, int start)
{
    if (!d->batch_sizes) return (size_t)d->time_steps * (size_t)start;
    size_t rows = 0;
    for (int t = 0; t < d->time_steps; t++) rows += (size_t)FN(min_int)(BATCH(d, t), start);
    return rows;
}

/* The cache rows of a range of batch rows, step by step in a time loop's order: with
 * group_rows, the range is a row group, whose rows are counted from its first (its own
 * packed order, as group_cache_row lays them out); else the caller's packed row is the row.
 * The forward of the reverse direction, and the backward of the forward one, walk the steps
 * from the last: they start from the group's end. */
typedef struct {
    int group_rows, descending;
    size_t row;
} FN(cache_walk);

static FN(cache_walk) FN(cache_walk_start)(const lstm_dims *d, int group_rows, int lo, int hi,
                                           int backward)
{
    FN(cache_walk) walk = {group_rows, group_rows && d->reverse != backward, 0};
    if (walk.descending) walk.row = FN(group_cache_row)(d, hi) - FN(group_cache_row)(d, lo);
    return walk;
}

/* The first cache row of a step's `rows` rows of the range (packed_row without group_rows). */
static inline size_t FN(cache_walk_step)(FN(cache_walk) *walk, size_t packed_row, int rows)
{
    if (!walk->group_rows) return packed_row;
    if (walk->descending) return walk->row -= (size_t)rows;
    walk->row += (size_t)rows;
    return walk->row - (size_t)rows;
}

/* The steps of one input-projection chunk, shared by the threads that split its rows. */
typedef struct {
    const lstm_blas *blas;
    const WEIGHTS *w;
    const lstm_dims *d;
    REAL *y, *h_n, *c_n, *cells, *rows_r, *pre;
    const REAL *bias, *w_hh_t;
    const REAL *x, *w_ih_t;     /* w_ih_t: W_ih^T packed when the parts project their rows */
    int ldy, small, zero_start; /* zero_start: step 0 starts from the zero state */
    int s0, s1, parts;          /* processing steps [s0, s1) */
    size_t off0, pre_row0;      /* packed row of step s0's boundary; row of pre's first row */
    /* With row groups (row_groups, groups > 0) and more than one part, part p packs its own
     * copy of W_hh^T and W_ih^T, `copy` elements after part p - 1's from `packed` (the
     * first), and in training runs the rows of its groups (starts: each group's first). */
    int groups, own_packs;
    int group_rows; /* pre and cells hold only the rows being run, a row group's (training) */
    REAL *packed;
    size_t copy;
    const int *starts;
    const REAL *h0, *c0; /* with starts: each group starts its rows of h_n and c_n from them */
} FN(forward_chunk);

/* The input projection x W_ih^T of the chunk's steps for the batch rows [lo, hi), on the
 * core's GEMM: one call per step over the rows, all before the recurrence. A split call
 * projects each part's rows in the thread that then runs them: no hand-off of its own, the
 * work shared as the rows are, and the rows written where they are read next. Each element's
 * arithmetic is the same however the rows are grouped. */
static void FN(project_rows)(const FN(forward_chunk) *k, int lo, int hi)
{
    const lstm_dims *d = k->d;
    const int I = d->input_size, G = 4 * d->hidden_size;
    size_t off = k->off0;
    FN(cache_walk) walk = FN(cache_walk_start)(d, k->group_rows, lo, hi, 0);
    for (int s = k->s0; s < k->s1; s++) {
        const int b = BATCH(d, d->reverse ? d->time_steps - 1 - s : s);
        const size_t off_t = d->reverse ? off - (size_t)b : off;
        off = d->reverse ? off_t : off_t + (size_t)b;
        const int rows = (b < hi ? b : hi) - lo;
        if (rows <= 0) continue;
        const size_t pre_row = FN(cache_walk_step)(&walk, off_t - k->pre_row0 + lo, rows);
        FN(small_gemm)(rows, G, I, k->x + (off_t + lo) * (size_t)I, (size_t)I, 1, k->w_ih_t,
                       k->pre + pre_row * (size_t)G, G, 0);
    }
}

/* Runs the chunk's steps for the batch rows [lo, hi) (those of them that each step has). */
static void FN(forward_rows)(const FN(forward_chunk) *k, int lo, int hi)
{
    const lstm_dims *d = k->d;
    const int H = d->hidden_size, P = d->proj_size, Ph = P > 0 ? P : H, G = 4 * H;
    const int ldy = k->ldy;
    if (k->w_ih_t) FN(project_rows)(k, lo, hi);
    size_t off = k->off0;
    FN(cache_walk) walk = FN(cache_walk_start)(d, k->group_rows, lo, hi, 0);
    for (int s = k->s0; s < k->s1; s++) {
        const int t = d->reverse ? d->time_steps - 1 - s : s;
        const int b = BATCH(d, t);
        const size_t off_t = d->reverse ? off - (size_t)b : off;
        off = d->reverse ? off_t : off_t + (size_t)b;
        const int rows = (b < hi ? b : hi) - lo;
        if (rows <= 0) continue;
        /* the rows' first row in pre and in the cells: as in x and y, or the group's own */
        const size_t pre_row = FN(cache_walk_step)(&walk, off_t - k->pre_row0 + lo, rows);
        const size_t cell_row = k->group_rows ? pre_row : off_t + lo;
        REAL *a = k->pre + pre_row * (size_t)G; /* (rows, G) */
        REAL *h = k->h_n + (size_t)lo * Ph;
        REAL *y_t = k->y + (off_t + lo) * (size_t)ldy;

        /* a += h_{t-1} W_hh^T; skipped while every state is still the zero default. With
         * full-length sequences h_{t-1} is read where the step before wrote it, in y. */
        const int direct = !d->batch_sizes, from_y = direct && s > 0;
        const REAL *h_prev = from_y ? y_t + (d->reverse ? (ptrdiff_t)b : -(ptrdiff_t)b) * ldy : h;
        const int ld_h = from_y ? ldy : Ph;
        if (s == 0 && k->zero_start)
            ;
        else if (k->small)
            FN(small_gemm)(rows, G, Ph, h_prev, (size_t)ld_h, 1, k->w_hh_t, a, G, 1);
        else if (vector_recurrence(d))
            for (int r = 0; r < rows; r++)
                FN(small_matvec)(G, Ph, k->w->w_hh, (size_t)Ph, h_prev + (size_t)r * ld_h,
                                 a + (size_t)r * G, 1);
        else
            FN(gemm)(k->blas, 'N', 'T', rows, G, Ph, 1, h_prev, ld_h, k->w->w_hh, Ph, 1, a, G);

        REAL *r_out = P > 0 ? k->rows_r + (size_t)lo * H : y_t;
        FN(gates_forward)(a, k->c_n + (size_t)lo * H, r_out, P > 0 ? H : ldy,
                          k->cells ? k->cells + cell_row * H : NULL, k->bias, rows, H, H);
        /* h = r W_hr^T */
        if (P > 0 && vector_recurrence(d))
            for (int r = 0; r < rows; r++)
                FN(small_matvec)(P, H, k->w->w_hr, (size_t)H, r_out + (size_t)r * H,
                                 y_t + (size_t)r * ldy, 0);
        else if (P > 0)
            FN(gemm)(k->blas, 'N', 'T', rows, P, H, 1, r_out, H, k->w->w_hr, H, 0, y_t, ldy);
        /* h_n: every step's rows with variable lengths (a sequence may end at any step), the
         * last step's otherwise. */
        if (!direct || s == d->time_steps - 1)
            for (int r = 0; r < rows; r++)
                FN(copy_n)(h + (size_t)r * Ph, y_t + (size_t)r * ldy, Ph);
    }
}

/* W_hh^T for the small GEMM and, in a split call, W_ih^T, into k's copy. */
static void FN(pack_forward_weights)(const FN(forward_chunk) *k, REAL *w_hh_t, REAL *w_ih_t)
{
    const lstm_dims *d = k->d;
    const int G = 4 * d->hidden_size, Ph = d->proj_size > 0 ? d->proj_size : d->hidden_size;
    if (k->small) FN(gemm_pack)(w_hh_t, k->w->w_hh, G, Ph, 1);
    if (k->w_ih_t) FN(gemm_pack)(w_ih_t, k->w->w_ih, G, d->input_size, 1);
}

static void FN(forward_part)(void *ctx, int part)
{
    const FN(forward_chunk) *k = ctx;
    const lstm_dims *d = k->d;
    FN(forward_chunk) own = *k;
    if (k->own_packs) {
        /* This part's own copy of the packed weights, packed at the first chunk: it stays in
         * this thread's cache, where a copy packed by the calling thread moved to every other
         * core at every call (lstm.c, row_groups). */
        REAL *w_hh_t = k->packed + (size_t)part * k->copy;
        REAL *w_ih_t = w_hh_t + packed_w_hh_size(d, 0);
        own.w_hh_t = w_hh_t;
        own.w_ih_t = k->w_ih_t ? w_ih_t : NULL;
        if (k->s0 == 0) FN(pack_forward_weights)(&own, w_hh_t, w_ih_t);
    }
    if (k->groups > 0 && k->starts) {
        /* Training: whole groups, the backward's rows, one after the other over all steps,
         * each into its own stretch of the cache (group_cache_row). */
        const int H = d->hidden_size, G = 4 * H;
        for (int g = k->groups * part / k->parts; g < k->groups * (part + 1) / k->parts; g++) {
            const size_t row = FN(group_cache_row)(d, k->starts[g]);
            FN(forward_chunk) group = own;
            group.pre = k->pre + row * (size_t)G;
            group.cells = k->cells + row * (size_t)H;
            group.group_rows = 1;
            /* the group's rows of the states, here rather than by the calling thread for all
             * rows, which then moved to the thread running them */
            const int lo = k->starts[g], rows = k->starts[g + 1] - lo, Ph = H;
            FN(init_state)(k->h_n + (size_t)lo * Ph, k->h0 ? k->h0 + (size_t)lo * Ph : NULL,
                           (size_t)rows * Ph);
            FN(init_state)(k->c_n + (size_t)lo * H, k->c0 ? k->c0 + (size_t)lo * H : NULL,
                           (size_t)rows * H);
            FN(forward_rows)(&group, lo, lo + rows);
        }
        return;
    }
    const int T = d->time_steps;
    int lo, hi; /* over the chunk's steps, as times */
    FN(part_rows)(d, part, k->parts, d->reverse ? T - k->s1 : k->s0,
                  d->reverse ? T - k->s0 : k->s1, &lo, &hi);
    FN(forward_rows)(&own, lo, hi);
}

/* A step split by hidden units (unit_chunks in lstm.c): chunk c of a step computes, for every
 * row, the pre-activations of its units' four gates from the rows of W_hh that feed them,
 * then their gates, c_t and h_t. The next step reads all of h_t, so the chunks of a step meet
 * before the next (lstm_parallel_steps); in exchange each thread reads only its chunks' rows
 * of W_hh, which then stay in its core's cache from step to step, where all of W_hh streamed
 * from L3 at every step (at (100, 1, 128, 256) float32, 1 MB). Each unit's arithmetic is that
 * of forward_rows, in the same order, whichever thread runs it. */
typedef struct {
    const FN(forward_chunk) *k;
    int chunks;
    int project; /* each chunk projects its own columns at the first step */
} FN(unit_job);

static void FN(forward_units)(void *ctx, int step, int chunk)
{
    const FN(unit_job) *u = ctx;
    const FN(forward_chunk) *k = u->k;
    const lstm_dims *d = k->d;
    const int T = d->time_steps, B = d->batch, H = d->hidden_size, G = 4 * H, ldy = k->ldy;
    const int s = k->s0 + step, t = d->reverse ? T - 1 - s : s;
    const int lo = unit_bound(H, u->chunks, chunk), n = unit_bound(H, u->chunks, chunk + 1) - lo;
    const size_t off_t = (size_t)t * B; /* full-length sequences: step t's rows */
    REAL *a = k->pre + (off_t - k->pre_row0) * (size_t)G;
    REAL *y_t = k->y + off_t * (size_t)ldy;
    if (step == 0 && u->project) {
        /* x W_ih^T of the steps to come, for this chunk's gate columns: a single-threaded BLAS
         * in this thread, which keeps BLAS's own threads asleep while the steps run (when they
         * spun after a call for the whole chunk, they took the core the other chunks need). */
        const int t_first = d->reverse ? T - k->s1 : k->s0, len = k->s1 - k->s0;
        const size_t row0 = (size_t)t_first * B;
        for (int q = 0; q < 4; q++)
            FN(gemm)(k->blas, 'N', 'T', len * B, n, d->input_size, 1,
                     k->x + row0 * (size_t)d->input_size, d->input_size,
                     k->w->w_ih + ((size_t)q * H + lo) * d->input_size, d->input_size, 0,
                     k->pre + (row0 - k->pre_row0) * (size_t)G + (size_t)q * H + lo, G);
    }
    const REAL *h_prev = s > 0 ? y_t + (d->reverse ? (ptrdiff_t)B : -(ptrdiff_t)B) * ldy : k->h_n;
    const int ld_h = s > 0 ? ldy : H;
    if (s == 0 && k->zero_start)
        ;
    else if (k->small) /* 4 to 7 rows: W_hh^T packed, this chunk's columns of each gate */
        for (int q = 0; q < 4; q++)
            FN(small_gemm_cols)(B, n, H, h_prev, (size_t)ld_h, 1, k->w_hh_t + (size_t)q * H + lo,
                                lstm_gemm_padded((size_t)G), a + (size_t)q * H + lo, G, 1);
    else
        for (int r = 0; r < B; r++)
            for (int q = 0; q < 4; q++)
                FN(small_matvec)(n, H, k->w->w_hh + ((size_t)q * H + lo) * H, (size_t)H,
                                 h_prev + (size_t)r * ld_h,
                                 a + (size_t)r * G + (size_t)q * H + lo, 1);
    FN(gates_forward)(a + lo, k->c_n + lo, y_t + lo, ldy,
                      k->cells ? k->cells + off_t * (size_t)H + lo : NULL, k->bias + lo, B, H, n);
    /* h_n is written after the last step (lstm_forward): at step 0 it holds h0, which the
     * other chunks may still be reading. */
}

/* The kind of a split call for the adaptive choice between splitting and not (lstm_threads.c):
 * its sizes, rows, direction, dtype and work (0 inference, 1 training: the forward chooses,
 * its backward follows). */
static unsigned long long FN(adapt_key)(const lstm_dims *d, int work)
{
    unsigned long long key = (unsigned long long)sizeof(REAL) * 4 + (unsigned)work;
    const unsigned long long sizes[] = {(unsigned)d->time_steps, (unsigned)d->batch,
                                        (unsigned)d->input_size, (unsigned)d->hidden_size,
                                        (unsigned)d->proj_size, (unsigned)d->reverse,
                                        lstm_rows(d)};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        key = (key ^ sizes[i]) * 0x100000001B3ULL; /* FNV-1a's multiplier, word by word */
    return key;
}

int FN(lstm_forward)(const lstm_blas *blas, REAL *y, int ldy, REAL *h_n, REAL *c_n, REAL *cache,
                     REAL *work, const REAL *x, const REAL *h0, const REAL *c0, const WEIGHTS *w,
                     const lstm_dims *d)
{
    int status = FN(check_common)(blas, w, d);
    if (status != LSTM_OK) return status;
    if (!y || !h_n || !c_n || !x || !work) return LSTM_ERR_NULL_ARGUMENT;
    const int T = d->time_steps, B = d->batch, I = d->input_size, H = d->hidden_size, P = d->proj_size;
    const int Ph = P > 0 ? P : H, G = 4 * H;
    if (ldy < Ph) return LSTM_ERR_BAD_LEADING_DIM;
    const int training = cache != NULL;
    const size_t N = lstm_rows(d);

    /* Workspace views, in the order lstm_forward_workspace_size counts them. */
    REAL *bias = work;                                      /* (G) b_ih + b_hh */
    REAL *rows_r = bias + G;                                /* (B, H) r before W_hr, P > 0 */
    REAL *chunk = rows_r + (P > 0 ? (size_t)B * H : 0);     /* (chunk*B, G) inference */
    REAL *w_hh_t = chunk + (training ? 0 : (size_t)chunk_steps(d) * B * G); /* (Ph, pad G) */
    REAL *w_ih_t = w_hh_t + packed_w_hh_size(d, 0);         /* (I, pad G), split calls */
    const int split = split_calls(d, 0);
    /* Training projects all steps into the cache; inference a chunk at a time. */
    const int chunk_len = training ? T : chunk_steps(d);

    const int groups = row_groups(d);
    int starts[LSTM_MAX_THREADS + 1];
    if (groups > 0 && training) FN(group_starts)(d, groups, starts);
    FN(forward_chunk) k = {blas, w, d, y, h_n, c_n, training ? cache + N * (size_t)G : NULL,
                           rows_r, NULL, bias, w_hh_t, x, split ? w_ih_t : NULL, ldy,
                           small_recurrence(d, 0), h0 == NULL, 0, 0, FN(loop_parts)(d, 0), 0, 0,
                           groups, 0, 0, w_hh_t, packed_w_hh_size(d, 0) + packed_w_ih_size(d),
                           groups > 0 && training ? starts : NULL, h0, c0};
    /* Row-group calls are the small ones, where a worker that lost its core costs most. */
    lstm_adaptive adapt = {NULL, 0, 0, -1, 0};
    if (groups > 0) k.parts = lstm_adaptive_parts(FN(adapt_key)(d, training), k.parts, &adapt);
    k.own_packs = groups > 0 && k.parts > 1;
    for (int j = 0; j < G; j++)
        bias[j] = (w->b_ih ? w->b_ih[j] : 0) + (w->b_hh ? w->b_hh[j] : 0);
    if (!k.starts) { /* else each row group starts its own (forward_part) */
        FN(init_state)(h_n, h0, (size_t)B * Ph);
        FN(init_state)(c_n, c0, (size_t)B * H);
    }
    /* Batches under 8 rows split their steps by hidden units; each chunk projects its own
     * input columns when BLAS runs in the calling thread. */
    const int units = unit_chunks(d), units_project = units > 0 && blas->single_threaded;
    if (!k.own_packs) FN(pack_forward_weights)(&k, w_hh_t, w_ih_t);
    if (k.small && units > 0) /* the slack a split step's last vector may read */
        memset(w_hh_t + (size_t)Ph * lstm_gemm_padded((size_t)G), 0, LSTM_GEMM_PAD * sizeof(REAL));

    size_t off = d->reverse ? N : 0; /* packed row of the step boundary being walked */
    for (int s = 0; s < T; s += chunk_len) {
        /* x W_ih^T for the chunk's steps s .. s+len-1, whose rows are contiguous. */
        const int len = T - s < chunk_len ? T - s : chunk_len;
        size_t rows = 0;
        for (int u = s; u < s + len; u++) rows += (size_t)BATCH(d, d->reverse ? T - 1 - u : u);
        const size_t lo = d->reverse ? off - rows : off;
        k.pre = training ? cache + lo * (size_t)G : chunk;
        k.pre_row0 = lo;
        if (!split && !units_project) /* split calls' parts project their own rows, columns */
            FN(gemm)(blas, 'N', 'T', (int)rows, G, I, 1, x + lo * (size_t)I, I, w->w_ih, I, 0,
                     k.pre, G);

        k.s0 = s;
        k.s1 = s + len;
        k.off0 = off;
        if (units > 0) {
            FN(unit_job) u = {&k, units, units_project};
            lstm_parallel_steps(len, u.chunks, FN(forward_units), &u);
        } else if (k.parts > 1)
            lstm_parallel_for(k.parts, FN(forward_part), &k);
        else if (k.starts) /* training by row groups in this thread */
            FN(forward_part)(&k, 0);
        else
            FN(forward_rows)(&k, 0, B);
        off = d->reverse ? lo : lo + rows;
    }
    if (units > 0) { /* h_n: the last step's rows, as forward_rows copies them */
        const REAL *y_last = y + (size_t)(d->reverse ? 0 : T - 1) * B * (size_t)ldy;
        for (int r = 0; r < B; r++) FN(copy_n)(h_n + (size_t)r * H, y_last + (size_t)r * ldy, H);
    }
    lstm_adaptive_done(&adapt);
    return LSTM_OK;
}

/* acc (cols) += the sum of the n rows (ld apart), row by row. restrict lets it vectorise. */
static void FN(add_rows)(REAL *restrict acc, const REAL *restrict rows, size_t n, size_t ld,
                         int cols)
{
    for (size_t r = 0; r < n; r++)
        for (int j = 0; j < cols; j++) acc[j] += rows[r * ld + j];
}

/* The same into two distinct accumulators in one pass over the rows (db_ih and db_hh get the
 * same sum; reading dG once halves the pass, which is bound by reading it). */
static void FN(add_rows2)(REAL *restrict acc, REAL *restrict acc2, const REAL *restrict rows,
                          size_t n, size_t ld, int cols)
{
    for (size_t r = 0; r < n; r++)
        for (int j = 0; j < cols; j++) {
            const REAL v = rows[r * ld + j];
            acc[j] += v;
            acc2[j] += v;
        }
}

/* dW_hh += sum over steps of dG_t^T h_{t-1}. h_{t-1} of a row is the output row of the step
 * before in processing order, or h0 at the row's first step. Within a run of steps that share
 * one batch size those output rows are contiguous, so each run costs a few GEMMs instead of
 * one per step (one GEMM over all rows when every sequence is full length). */
static void FN(add_dw_hh)(const lstm_blas *blas, REAL *dw_hh, const REAL *dG, const REAL *y,
                          int ldy, const REAL *h0, const lstm_dims *d, int g0, int m)
{
    /* Rows [g0, g0 + m) of dW_hh: columns g0.. of dG. */
    const int T = d->time_steps, Ph = d->proj_size > 0 ? d->proj_size : d->hidden_size, G = 4 * d->hidden_size;
    dG += g0;
    dw_hh += (size_t)g0 * Ph;
    size_t off0 = 0; /* first packed row of the run */
    for (int t0 = 0; t0 < T;) {
        const int b = BATCH(d, t0);
        int t1 = t0;
        while (t1 + 1 < T && BATCH(d, t1 + 1) == b) t1++;
        const int steps = t1 - t0 + 1;
        if (b > 0 && !d->reverse) {
            /* Step t0 reads the first b rows of step t0-1 (or h0); steps t0+1..t1 read the
             * whole of steps t0..t1-1. */
            if (t0 > 0)
                FN(gemm)(blas, 'T', 'N', m, Ph, b, 1, dG + off0 * G, G,
                         y + (off0 - (size_t)BATCH(d, t0 - 1)) * ldy, ldy, 1, dw_hh, Ph);
            else if (h0)
                FN(gemm)(blas, 'T', 'N', m, Ph, b, 1, dG, G, h0, Ph, 1, dw_hh, Ph);
            FN(gemm)(blas, 'T', 'N', m, Ph, (steps - 1) * b, 1, dG + (off0 + b) * G, G,
                     y + off0 * ldy, ldy, 1, dw_hh, Ph);
        } else if (b > 0) {
            /* Reverse: steps t0..t1-1 read the whole of steps t0+1..t1; step t1 reads the
             * rows that step t1+1 has, and h0 for the rows that start at t1. */
            FN(gemm)(blas, 'T', 'N', m, Ph, (steps - 1) * b, 1, dG + off0 * G, G,
                     y + (off0 + b) * ldy, ldy, 1, dw_hh, Ph);
            const size_t last = off0 + (size_t)(steps - 1) * b;
            const int b_next = t1 + 1 < T ? BATCH(d, t1 + 1) : 0;
            FN(gemm)(blas, 'T', 'N', m, Ph, b_next, 1, dG + last * G, G, y + (last + b) * ldy,
                     ldy, 1, dw_hh, Ph);
            if (h0)
                FN(gemm)(blas, 'T', 'N', m, Ph, b - b_next, 1, dG + (last + b_next) * G, G,
                         h0 + (size_t)b_next * Ph, Ph, 1, dw_hh, Ph);
        }
        off0 += (size_t)steps * b;
        t0 = t1 + 1;
    }
}

/* The backward's work after its time loop (a call without row groups), each product over all
 * N rows at once on BLAS: dW_hh, dx and dW_ih, and the bias gradients. As tasks: pieces of
 * each product's rows and of the bias sums' columns, largest products first, which a split
 * call's threads share when BLAS is single-threaded; otherwise each product is one task and
 * BLAS brings its own threads. */
typedef struct {
    const lstm_blas *blas;
    const lstm_dims *d;
    const GRADS *g;
    const REAL *w_ih, *gates, *x, *y, *h0; /* gates holds dG (N, G) */
    REAL *dx;
    int ldy, accumulate_dx;
    int dw_hh_rows, dx_rows, dw_ih_rows, db_cols; /* rows or columns of a piece */
    int dw_hh_n, dx_n, dw_ih_n, db_n;             /* pieces; 0 when not wanted */
} FN(backward_tail);

static void FN(tail_task)(void *ctx, int task)
{
    const FN(backward_tail) *j = ctx;
    const lstm_dims *d = j->d;
    const GRADS *g = j->g;
    const int I = d->input_size, G = 4 * d->hidden_size, n = (int)lstm_rows(d);
    if (task < j->dw_hh_n) {
        const int g0 = task * j->dw_hh_rows, m = FN(min_int)(G - g0, j->dw_hh_rows);
        FN(add_dw_hh)(j->blas, g->dw_hh, j->gates, j->y, j->ldy, j->h0, d, g0, m);
        return;
    }
    task -= j->dw_hh_n;
    if (task < j->dx_n) { /* dx = dG W_ih, rows r0.. */
        const int r0 = task * j->dx_rows, m = FN(min_int)(n - r0, j->dx_rows);
        FN(gemm)(j->blas, 'N', 'N', m, I, G, 1, j->gates + (size_t)r0 * G, G, j->w_ih, I,
                 j->accumulate_dx ? 1 : 0, j->dx + (size_t)r0 * I, I);
        return;
    }
    task -= j->dx_n;
    if (task < j->dw_ih_n) { /* dW_ih += dG^T x, rows g0.. */
        const int g0 = task * j->dw_ih_rows, m = FN(min_int)(G - g0, j->dw_ih_rows);
        FN(gemm)(j->blas, 'T', 'N', m, I, n, 1, j->gates + g0, G, j->x, I, 1,
                 g->dw_ih + (size_t)g0 * I, I);
        return;
    }
    task -= j->dw_ih_n;
    const int c0 = task * j->db_cols, cols = FN(min_int)(G - c0, j->db_cols);
    const REAL *rows = j->gates + c0;
    if (g->db_ih && g->db_hh && g->db_ih != g->db_hh) {
        FN(add_rows2)(g->db_ih + c0, g->db_hh + c0, rows, (size_t)n, G, cols);
    } else {
        if (g->db_ih) FN(add_rows)(g->db_ih + c0, rows, (size_t)n, G, cols);
        if (g->db_hh) FN(add_rows)(g->db_hh + c0, rows, (size_t)n, G, cols);
    }
}

/* dh (rows, n), rows ld_dh apart, += dy (rows, n), rows lddy apart: the step's output
 * gradient joins the running dL/dh. */
static void FN(add_dy)(REAL *restrict dh, size_t ld_dh, const REAL *restrict dy, size_t lddy,
                       int rows, int n)
{
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n; j++) dh[(size_t)r * ld_dh + j] += dy[(size_t)r * lddy + j];
}

/* A row group's steps whose dW_hh (and dW_ih) products are pending (LSTM_GROUP_RUN_STEPS at
 * most, lstm.c): each step's rows of the group as a run of the product's k, its h_{t-1} (and
 * x) rows copied after the run before's, its dG rows off[s] elements into the cache. */
typedef struct {
    int count, rows; /* runs, and rows over them */
    int len[LSTM_GROUP_RUN_STEPS];
    size_t off[LSTM_GROUP_RUN_STEPS];
} FN(group_runs);

/* The backward's time loop, shared by the threads that split its rows. */
typedef struct {
    const lstm_blas *blas;
    const WEIGHTS *w;
    const lstm_dims *d;
    REAL *gates, *cells, *dh, *dc, *dh_rows, *dr;
    const REAL *dy, *c0, *w_hh_p;
    const REAL *dh_n, *dc_n; /* with row groups: the groups start their dL/dh, dL/dc here */
    int lddy, small, parts;
    /* With row groups (groups > 0): each group's workspace (group_ws_size elements, from
     * group_ws), the first row of each group, the groups [g0, g1) of the rows being run, and
     * what their steps read and write besides. */
    int groups, g0, g1;
    REAL *group_ws;
    const int *starts;
    FN(group_runs) *runs; /* the part's groups' pending runs, from group g0 */
    const GRADS *g;
    const REAL *x, *y, *h0, *w_ih_p;
    REAL *dx;
    int ldy, accumulate_dx;
} FN(backward_loop);

/* A row group's workspace (lstm.c, group_ws_size). */
typedef struct {
    REAL *w_hh_p, *dw_hh, *dw_ih, *db, *h_rows, *x_rows, *w_ih_p, *dh, *dc;
} FN(group_ws);

static FN(group_ws) FN(group_ws_of)(const FN(backward_loop) *k, int group)
{
    const lstm_dims *d = k->d;
    const size_t G = 4 * (size_t)d->hidden_size, Ph = lstm_gemm_padded((size_t)d->hidden_size);
    FN(group_ws) ws;
    ws.w_hh_p = k->group_ws + (size_t)group * group_ws_size(d);
    ws.dw_hh = ws.w_hh_p + group_ws_w_hh(d);
    ws.dw_ih = ws.dw_hh + group_ws_w_hh(d);
    ws.db = ws.dw_ih + group_ws_dw_ih(d);
    ws.h_rows = ws.db + lstm_gemm_padded(G);
    ws.x_rows = ws.h_rows + group_ws_run_rows(d) * Ph;
    ws.w_ih_p = ws.x_rows + group_ws_run_rows(d) * lstm_gemm_padded((size_t)d->input_size);
    ws.dh = ws.x_rows + group_ws_inputs(d);
    ws.dc = ws.dh + group_ws_state(d);
    return ws;
}

/* The pending runs of a group into its dW_hh and dW_ih sums: one product each. */
static void FN(flush_group_runs)(const FN(backward_loop) *k, int group)
{
    FN(group_runs) *runs = &k->runs[group - k->g0];
    if (runs->count == 0) return;
    const lstm_dims *d = k->d;
    const int G = 4 * d->hidden_size, I = d->input_size;
    const FN(group_ws) ws = FN(group_ws_of)(k, group);
    const size_t ph = lstm_gemm_padded((size_t)d->hidden_size);
    if (k->g->dw_hh) /* all pad(H) columns: whole vector stores, the padding's sums staying 0 */
        FN(small_gemm_runs)(G, (int)ph, runs->count, runs->len, runs->off, k->gates, 1, G,
                            ws.h_rows, ws.dw_hh, ph, 1);
    if (k->g->dw_ih && I > 1) {
        const size_t pad_i = lstm_gemm_padded((size_t)I);
        FN(small_gemm_runs)(G, (int)pad_i, runs->count, runs->len, runs->off, k->gates, 1, G,
                            ws.x_rows, ws.dw_ih, pad_i, 1);
    }
    runs->count = runs->rows = 0;
}

/* Whether the n values hold no Inf and no NaN (x - x is 0 for every finite x, NaN else). */
LSTM_INLINE int FN(all_finite)(const REAL *restrict a, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad |= !(a[i] - a[i] == 0);
    return !bad;
}

/* One step of group `group`, after its gate backward: the step's rows of the group (those the
 * step has, from row0, the step's first packed row being off_t; their dG from cache row
 * cache_row of k->gates, group_cache_row's layout) join its pending runs for
 * dG^T h_{t-1} and dG^T x, add dG's rows to its db (and, with one input column, dG^T x to its
 * dW_ih) and get dx = dG W_ih. h_{t-1} of a row is, as in the forward, the output row of the
 * step before in processing order, else h0's row, else zeros; it is copied into rows padded
 * with zeros for the GEMM. */
static LSTM_KERNEL void FN(group_step)(const FN(backward_loop) *k, int group, int t, size_t off_t,
                                       int b, size_t cache_row)
{
    const lstm_dims *d = k->d;
    const int T = d->time_steps, H = d->hidden_size, G = 4 * H, I = d->input_size;
    const int r0 = k->starts[group], r1 = FN(min_int)(k->starts[group + 1], b), rows = r1 - r0;
    if (rows <= 0) return;
    const FN(group_ws) ws = FN(group_ws_of)(k, group);
    FN(group_runs) *runs = &k->runs[group - k->g0];
    const size_t row0 = off_t + (size_t)r0, ph = lstm_gemm_padded((size_t)H);
    const size_t pad_i = lstm_gemm_padded((size_t)I);
    const REAL *dG = k->gates + cache_row * (size_t)G;
    /* the rows of y holding h_{t-1}, for the first b_from_y rows of the step */
    const int b_from_y = !d->reverse ? (t > 0 ? b : 0) : (t + 1 < T ? BATCH(d, t + 1) : 0);
    /* Rows whose h_{t-1} is all zeros (their first step, without h0) add nothing to dW_hh,
     * whose sums never hold -0 (they start at +0): their run is left out, as the forward
     * leaves out their product with W_hh, unless dG holds an Inf or a NaN (whose products
     * with 0 are NaN, which reach dW_hh as they do the reference's) or the run also carries x
     * rows for dW_ih. A step's share of the dW_hh products: a tenth at the seed shape. */
    const int run = !(!k->h0 && r0 >= b_from_y && (I == 1 || !k->g->dw_ih)
                      && FN(all_finite)(dG, (size_t)rows * G));
    if (k->g->dw_hh && run) {
        const REAL *from_y = k->y + (!d->reverse ? off_t - (size_t)(t > 0 ? BATCH(d, t - 1) : 0)
                                                 : off_t + (size_t)b) * (size_t)k->ldy;
        REAL *h_rows = ws.h_rows + (size_t)runs->rows * ph;
        for (int r = r0; r < r1; r++) {
            REAL *row = h_rows + (size_t)(r - r0) * ph;
            const REAL *src = r < b_from_y ? from_y + (size_t)r * k->ldy
                                           : (k->h0 ? k->h0 + (size_t)r * H : NULL);
            if (src)
                for (int j = 0; j < H; j++) row[j] = src[j];
            else
                for (int j = 0; j < H; j++) row[j] = 0;
            for (size_t j = (size_t)H; j < ph; j++) row[j] = 0;
        }
    }
    if (k->g->dw_ih && I == 1) /* one input column: the rows of dG weighted by x, in order */
        FN(small_vecmat)(rows, G, dG, G, k->x + row0, ws.dw_ih, 1);
    else if (k->g->dw_ih)
        FN(gemm_pack)(ws.x_rows + (size_t)runs->rows * pad_i, k->x + row0 * (size_t)I, rows, I,
                      0);
    if (k->g->db_ih || k->g->db_hh) FN(add_rows)(ws.db, dG, (size_t)rows, G, G);
    if (k->dx) {
        if (I == 1) /* a dot product a row */
            FN(small_matvec)(rows, G, dG, G, k->w_ih_p, k->dx + row0, k->accumulate_dx);
        else
            FN(small_gemm)(rows, I, G, dG, G, 1, k->w_ih_p, k->dx + row0 * (size_t)I, I,
                           k->accumulate_dx);
    }
    if (!run) return;
    runs->len[runs->count] = rows;
    runs->off[runs->count] = cache_row * (size_t)G;
    runs->rows += rows;
    if (++runs->count == LSTM_GROUP_RUN_STEPS) FN(flush_group_runs)(k, group);
}

/* Adds the row groups' sums, in group order, into the gradients: dW_hh, dW_ih and each bias
 * gradient get sum_g (group g's) for every element, group 0's buffers holding the running
 * sums. Slice `slice` of `slices` does the gradients' rows [i0, i1) of G (whole cache lines
 * of the sums), so that the threads that ran the groups share the work: each element's
 * additions are the same whichever slice holds it. */
static void FN(add_group_sums)(const FN(backward_loop) *k, int slice, int slices)
{
    const lstm_dims *d = k->d;
    const GRADS *g = k->g;
    const int H = d->hidden_size, G = 4 * H, I = d->input_size;
    const size_t ph = lstm_gemm_padded((size_t)H), pad_i = lstm_gemm_padded((size_t)I);
    const size_t dw_ih_width = I == 1 ? 1 : pad_i; /* I == 1: dW_ih's sums are (G) */
    const int i0 = (int)((int64_t)G * slice / slices) / 16 * 16;
    const int i1 = slice + 1 == slices ? G : (int)((int64_t)G * (slice + 1) / slices) / 16 * 16;
    const int n = i1 - i0;
    if (n <= 0) return;
    const FN(group_ws) first = FN(group_ws_of)(k, 0);
    for (int group = 1; group < k->groups; group++) {
        const FN(group_ws) ws = FN(group_ws_of)(k, group);
        if (g->dw_hh)
            FN(add_rows)(first.dw_hh + (size_t)i0 * ph, ws.dw_hh + (size_t)i0 * ph, 1, 0,
                         (int)((size_t)n * ph));
        if (g->dw_ih)
            FN(add_rows)(first.dw_ih + (size_t)i0 * dw_ih_width,
                         ws.dw_ih + (size_t)i0 * dw_ih_width, 1, 0, (int)((size_t)n * dw_ih_width));
        if (g->db_ih || g->db_hh) FN(add_rows)(first.db + i0, ws.db + i0, 1, 0, n);
    }
    for (int i = i0; i < i1; i++) { /* the sums' padded rows into the gradients' rows */
        if (g->dw_hh)
            FN(add_rows)(g->dw_hh + (size_t)i * H, first.dw_hh + (size_t)i * ph, 1, 0, H);
        if (g->dw_ih)
            FN(add_rows)(g->dw_ih + (size_t)i * I, first.dw_ih + (size_t)i * dw_ih_width, 1, 0, I);
    }
    if (g->db_ih) FN(add_rows)(g->db_ih + i0, first.db + i0, 1, 0, n);
    if (g->db_hh) FN(add_rows)(g->db_hh + i0, first.db + i0, 1, 0, n);
}

/* Runs every step, in the reverse of the forward's processing order, for the batch rows
 * [lo, hi) (those of them that each step has). Compiled per instruction set, as group_step:
 * their row loops (dy into dL/dh, the h rows of a run, the bias sums) ran on SSE, 4.6% of a
 * seed training step. */
static LSTM_KERNEL void FN(backward_rows)(const FN(backward_loop) *k, int lo, int hi)
{
    const lstm_dims *d = k->d;
    const int T = d->time_steps, H = d->hidden_size, P = d->proj_size;
    const int Ph = P > 0 ? P : H, G = 4 * H;
    /* With row groups the range is one group, whose gates and cells lie together in the cache
     * (group_cache_row) and whose running dL/dh and dL/dc are its own (backward_part). */
    const int group_rows = k->groups > 0;
    REAL *dh = group_rows ? k->dh : k->dh + (size_t)lo * Ph;
    REAL *dc = group_rows ? k->dc : k->dc + (size_t)lo * H;
    size_t off = d->reverse ? 0 : lstm_rows(d);
    FN(cache_walk) walk = FN(cache_walk_start)(d, group_rows, lo, hi, 1);
    for (int s = 0; s < T; s++) {
        const int t = d->reverse ? s : T - 1 - s;
        const int b = BATCH(d, t);
        const size_t off_t = d->reverse ? off : off - (size_t)b;
        off = d->reverse ? off_t + (size_t)b : off_t;
        const int rows = (b < hi ? b : hi) - lo;
        if (rows <= 0) continue;
        const size_t row0 = off_t + (size_t)lo; /* packed row of this range's first row */
        const size_t crow = FN(cache_walk_step)(&walk, row0, rows); /* its row in the cache */

        if (k->dy)
            FN(add_dy)(dh, (size_t)Ph, k->dy + row0 * (size_t)k->lddy, (size_t)k->lddy, rows, Ph);
        const REAL *d_r = dh;
        if (P > 0) {
            /* h = r W_hr^T */
            REAL *dr = k->dr + (size_t)lo * H;
            memcpy(k->dh_rows + row0 * P, dh, (size_t)rows * P * sizeof(REAL));
            if (vector_recurrence(d))
                for (int r = 0; r < rows; r++)
                    FN(small_vecmat)(P, H, k->w->w_hr, (size_t)H, dh + (size_t)r * P,
                                     dr + (size_t)r * H, 0);
            else
                FN(gemm)(k->blas, 'N', 'N', rows, H, P, 1, dh, P, k->w->w_hr, H, 0, dr, H);
            d_r = dr;
        }

        /* c_{t-1}: the cells of the step before in processing order for the rows it has
         * (c_before, the range's first of them, and n_before of them), c0 for the rows that
         * start here. */
        const REAL *c_before = NULL;
        int n_before = 0;
        if (!d->reverse && t > 0) {
            const int b_prev = BATCH(d, t - 1);
            n_before = (b_prev < hi ? b_prev : hi) - lo; /* >= rows */
            c_before = k->cells + (group_rows ? crow - (size_t)n_before
                                              : off_t - (size_t)b_prev + (size_t)lo) * H;
        } else if (d->reverse && t + 1 < T) {
            const int b_next = BATCH(d, t + 1);
            n_before = (b_next < hi ? b_next : hi) - lo;
            c_before = k->cells + (group_rows ? crow + (size_t)rows
                                              : off_t + (size_t)b + (size_t)lo) * H;
        }
        FN(gates_backward)(k->gates + crow * (size_t)G, k->cells + crow * (size_t)H,
                           n_before > 0 ? c_before : NULL, n_before,
                           k->c0 ? k->c0 + (size_t)lo * H : NULL, d_r, dc,
                           P > 0 ? NULL : k->y + row0 * (size_t)k->ldy, k->ldy, P > 0, rows, H,
                           H);
        /* a = ... + h_{t-1} W_hh^T */
        if (k->small)
            FN(small_gemm)(rows, Ph, G, k->gates + crow * G, G, 1, k->w_hh_p, dh, Ph, 0);
        else if (vector_recurrence(d))
            for (int r = 0; r < rows; r++)
                FN(small_vecmat)(G, Ph, k->w->w_hh, (size_t)Ph, k->gates + (crow + r) * G,
                                 dh + (size_t)r * Ph, 0);
        else
            FN(gemm)(k->blas, 'N', 'N', rows, Ph, G, 1, k->gates + crow * G, G, k->w->w_hh, Ph,
                     0, dh, Ph);
        if (group_rows) FN(group_step)(k, k->g0, t, off_t, b, crow);
    }
}

static void FN(backward_part)(void *ctx, int part)
{
    const FN(backward_loop) *k = ctx;
    int lo, hi;
    if (k->groups == 0) {
        FN(part_rows)(k->d, part, k->parts, 0, k->d->time_steps, &lo, &hi);
        FN(backward_rows)(k, lo, hi);
        return;
    }
    /* Whole row groups, the forward's rows of this part, with this part's own copies of the
     * packed weights in its first group's workspace (lstm.c, row_groups) and the groups' sums
     * started at zero. */
    const lstm_dims *d = k->d;
    const int H = d->hidden_size, G = 4 * H, I = d->input_size;
    FN(backward_loop) own = *k;
    own.g0 = k->groups * part / k->parts;
    own.g1 = k->groups * (part + 1) / k->parts;
    const FN(group_ws) first = FN(group_ws_of)(k, own.g0);
    FN(gemm_pack)(first.w_hh_p, k->w->w_hh, G, H, 0); /* no projection with groups */
    own.w_hh_p = first.w_hh_p;
    own.w_ih_p = k->w->w_ih; /* I == 1: W_ih as stored, a vector */
    if (k->dx && I > 1) {
        FN(gemm_pack)(first.w_ih_p, k->w->w_ih, G, I, 0);
        own.w_ih_p = first.w_ih_p;
    }
    /* One group after the other over all steps, each in its stretch of the cache
     * (group_cache_row), with its running dL/dh and dL/dc in its workspace: in dh0 and dc0,
     * each thread's rows lay next to the other's, and moved between the cores as the gates'
     * did (lstm_forward; 2.4 us of a 2-thread seed backward). They start from dh_n and dc_n
     * (lstm_backward leaves them there) and end in dh0 and dc0. */
    for (int group = own.g0; group < own.g1; group++) {
        const int lo = k->starts[group], rows = k->starts[group + 1] - lo;
        const FN(group_ws) ws = FN(group_ws_of)(k, group);
        memset(ws.dw_hh, 0, (size_t)(ws.h_rows - ws.dw_hh) * sizeof(REAL)); /* the sums */
        FN(init_state)(ws.dh, k->dh_n ? k->dh_n + (size_t)lo * H : NULL, (size_t)rows * H);
        FN(init_state)(ws.dc, k->dc_n ? k->dc_n + (size_t)lo * H : NULL, (size_t)rows * H);
        FN(group_runs) runs = {0};
        const size_t row = FN(group_cache_row)(d, lo);
        FN(backward_loop) one = own;
        one.g0 = group;
        one.g1 = group + 1;
        one.runs = &runs;
        one.gates = k->gates + row * (size_t)G;
        one.cells = k->cells + row * (size_t)H;
        one.dh = ws.dh;
        one.dc = ws.dc;
        FN(backward_rows)(&one, lo, lo + rows);
        FN(flush_group_runs)(&one, group);
        memcpy(k->dh + (size_t)lo * H, ws.dh, (size_t)rows * H * sizeof(REAL));
        memcpy(k->dc + (size_t)lo * H, ws.dc, (size_t)rows * H * sizeof(REAL));
    }
}

/* A row-group backward split over threads, as a stepped job (lstm_parallel_steps): step 0
 * runs part `chunk`'s groups, step 1, once every part is done, its slice of the groups' sums
 * (add_group_sums). The calling thread added all the sums after the parts at first: it read
 * the other threads' sums (15 KB a group at the seed shape), which those threads then had to
 * take back at the next call, 3.3 us of a 2-thread seed backward in all, where each thread
 * now moves half of it, at once. */
static void FN(backward_group_job)(void *ctx, int step, int chunk)
{
    const FN(backward_loop) *k = ctx;
    if (step == 0)
        FN(backward_part)(ctx, chunk);
    else
        FN(add_group_sums)(k, chunk, k->parts);
}

/* The backward of a forward split by hidden units (unit_chunks), split the same way. Step s
 * of chunk c first finishes dL/dh_t of its units: dy_t's, plus the step before's dG W_hh for
 * its columns of W_hh (all 4H rows of them: each thread reads only its share of W_hh's columns
 * at every step, which stays in its core's cache); then runs the gate backward of its units.
 * The next step reads all of this step's dG, so the chunks of a step meet before the next; a
 * last step T only finishes dL/dh_0. Each unit's arithmetic is the same whichever thread runs
 * it. */
typedef struct {
    const FN(backward_loop) *k;
    int chunks;
} FN(unit_back_job);

static void FN(backward_units)(void *ctx, int step, int chunk)
{
    const FN(unit_back_job) *u = ctx;
    const FN(backward_loop) *k = u->k;
    const lstm_dims *d = k->d;
    const int T = d->time_steps, B = d->batch, H = d->hidden_size, G = 4 * H;
    const int lo = unit_bound(H, u->chunks, chunk), n = unit_bound(H, u->chunks, chunk + 1) - lo;
    REAL *dh = k->dh + lo; /* (B, H), rows H apart: this chunk's units of the running dL/dh */
    if (step > 0) { /* dL/dh_t (or dL/dh_0) = dG of the step before in this loop, times W_hh */
        const int t_prev = d->reverse ? step - 1 : T - step;
        if (k->small) /* 4 to 7 rows: W_hh packed, this chunk's columns */
            FN(small_gemm_cols)(B, n, G, k->gates + (size_t)t_prev * B * G, G, 1,
                                k->w_hh_p + lo, lstm_gemm_padded((size_t)H), dh, H, 0);
        else
            for (int r = 0; r < B; r++)
                FN(small_vecmat)(G, n, k->w->w_hh + lo, (size_t)H,
                                 k->gates + ((size_t)t_prev * B + r) * G, dh + (size_t)r * H, 0);
    }
    if (step == T) return;
    const int t = d->reverse ? step : T - 1 - step;
    const size_t row0 = (size_t)t * B;
    if (k->dy)
        FN(add_dy)(dh, (size_t)H, k->dy + row0 * (size_t)k->lddy + lo, (size_t)k->lddy, B, n);
    /* c_{t-1}: the cells of the step before in the forward's order, or c0 at its first step */
    const int first = d->reverse ? t == T - 1 : t == 0;
    const REAL *c_before = first ? NULL : k->cells + (d->reverse ? row0 + B : row0 - B) * H;
    FN(gates_backward)(k->gates + row0 * (size_t)G + lo, k->cells + row0 * (size_t)H + lo,
                       c_before ? c_before + lo : NULL, c_before ? B : 0,
                       k->c0 ? k->c0 + lo : NULL, dh, k->dc + lo, k->y + row0 * (size_t)k->ldy + lo,
                       k->ldy, 0, B, H, n);
}

int FN(lstm_backward)(const lstm_blas *blas, REAL *dx, int accumulate_dx, REAL *dh0, REAL *dc0,
                      const GRADS *g, REAL *work, const REAL *dy, int lddy, const REAL *dh_n,
                      const REAL *dc_n, REAL *cache, const REAL *y, int ldy, const REAL *x,
                      const REAL *h0, const REAL *c0, const WEIGHTS *w, const lstm_dims *d)
{
    int status = FN(check_common)(blas, w, d);
    if (status != LSTM_OK) return status;
    if (!dh0 || !dc0 || !g || !cache || !y || !x) return LSTM_ERR_NULL_ARGUMENT;
    const int H = d->hidden_size, P = d->proj_size;
    const int Ph = P > 0 ? P : H, G = 4 * H;
    if (ldy < Ph || (dy && lddy < Ph)) return LSTM_ERR_BAD_LEADING_DIM;
    if (!work && lstm_backward_workspace_size(d) > 0) return LSTM_ERR_NULL_ARGUMENT;
    const size_t N = lstm_rows(d);
    const int small = small_recurrence(d, 1);

    REAL *gates = cache;                    /* (N, G) activated gates -> their gradients dG */
    REAL *cells = cache + N * (size_t)G;    /* (N, H) c_t -> r_t when P > 0 */
    const int groups = row_groups(d);
    int starts[LSTM_MAX_THREADS + 1];
    if (groups > 0) FN(group_starts)(d, groups, starts);
    /* The workspace (lstm.c's lstm_backward_workspace_size), each part NULL when absent; with
     * row groups, the groups' own, each part packing its own W_hh. */
    REAL *w_hh_p = small && groups == 0 ? work : NULL; /* (G, pad Ph) W_hh packed, small */
    REAL *rest = work && groups == 0 ? work + packed_w_hh_size(d, 1) : NULL;
    REAL *dh_rows = P > 0 ? rest : NULL;     /* (N, P) dL/dh, for dW_hr */
    REAL *dr = P > 0 ? dh_rows + N * (size_t)P : NULL; /* (B, H) dL/dr of the step's rows */
    /* dh0 and dc0 carry the running dL/dh and dL/dc of each sequence, or with row groups
     * receive them from the groups' own (backward_part). */
    if (groups == 0) {
        FN(init_state)(dh0, dh_n, (size_t)d->batch * Ph);
        FN(init_state)(dc0, dc_n, (size_t)d->batch * H);
    }
    if (w_hh_p) FN(gemm_pack)(w_hh_p, w->w_hh, G, Ph, 0);

    FN(backward_loop) k = {blas, w, d, gates, cells, dh0, dc0, dh_rows, dr, dy, c0, w_hh_p,
                           dh_n, dc_n, lddy, small, FN(loop_parts)(d, 1), groups, 0, 0,
                           groups > 0 ? work : NULL, starts, NULL, g, x, y, h0, NULL, dx, ldy,
                           accumulate_dx};
    /* Row-group calls: the way of the training forward of these sizes (see lstm_forward), so
     * that its rows' saved gates are read in the core that wrote them. */
    lstm_adaptive adapt = {NULL, 0, 0, -1, 0};
    if (groups > 0) k.parts = lstm_adaptive_follow(FN(adapt_key)(d, 1), k.parts, &adapt);
    const int units = unit_chunks(d);
    if (units > 0) {
        FN(unit_back_job) u = {&k, units};
        lstm_parallel_steps(d->time_steps + 1, u.chunks, FN(backward_units), &u);
    } else if (groups > 0) { /* the loop computes dx and the groups' sums of the weight
                              * gradients, added into them after it */
        if (k.parts > 1)
            lstm_parallel_steps(2, k.parts, FN(backward_group_job), &k);
        else {
            FN(backward_part)(&k, 0);
            FN(add_group_sums)(&k, 0, 1);
        }
        lstm_adaptive_done(&adapt);
        return LSTM_OK;
    } else if (k.parts > 1)
        lstm_parallel_for(k.parts, FN(backward_part), &k);
    else
        FN(backward_rows)(&k, 0, d->batch);

    /* Everything left is a GEMM or a sum over all N rows at once: in pieces on the core's
     * threads when BLAS is single-threaded (blas_pieces), else one call each with BLAS's
     * threads. */
    const int n = (int)N;
    const int blas_pieces = blas->single_threaded && lstm_backward_splits_blas(d);
    FN(backward_tail) tail = {blas, d, g, w->w_ih, gates, x, y, h0, dx, ldy, accumulate_dx,
                              blas_pieces ? FN(blas_piece_rows)(G) : G,
                              blas_pieces ? FN(blas_piece_rows)(n) : n,
                              blas_pieces ? FN(blas_piece_rows)(G) : G,
                              /* two column pieces of whole vectors when there are enough */
                              blas_pieces && G >= 32 ? (G / 2 + 15) / 16 * 16 : G,
                              0, 0, 0, 0};
    tail.dw_hh_n = g->dw_hh ? (G + tail.dw_hh_rows - 1) / tail.dw_hh_rows : 0;
    tail.dx_n = dx ? (n + tail.dx_rows - 1) / tail.dx_rows : 0;
    tail.dw_ih_n = g->dw_ih ? (G + tail.dw_ih_rows - 1) / tail.dw_ih_rows : 0;
    tail.db_n = g->db_ih || g->db_hh ? (G + tail.db_cols - 1) / tail.db_cols : 0;
    const int tasks = tail.dw_hh_n + tail.dx_n + tail.dw_ih_n + tail.db_n;
    if (blas_pieces)
        lstm_parallel_for(tasks, FN(tail_task), &tail);
    else
        for (int task = 0; task < tasks; task++) FN(tail_task)(&tail, task);
    if (P > 0 && g->dw_hr) FN(gemm)(blas, 'T', 'N', P, H, n, 1, dh_rows, P, cells, H, 1, g->dw_hr, H);
    return LSTM_OK;
}
