/*
 * lstmcore: dims checks, buffer sizes, status strings, and the two dtype instances of the
 * forward/backward template (lstm_impl.h).
 *
 * T time steps, B batch, I input, H hidden, P projection (0: none), Ph = P or H, G = 4H,
 * N rows over all steps.
 */
#include "lstm.h"
#include "lstm_threads.h" /* LSTM_MAX_THREADS */

#include <limits.h>
#include <stdint.h>

/* Inference projects the input of a chunk of steps at once instead of all T: the chunk's
 * pre-activations (about this many elements) stay in cache while its steps consume them. */
#define LSTM_CHUNK_ELEMENTS ((size_t)1 << 19)

const char *lstm_strerror(int status)
{
    switch (status) {
    case LSTM_OK: return "success";
    case LSTM_ERR_NULL_ARGUMENT: return "a required pointer argument is NULL";
    case LSTM_ERR_BAD_SIZE:
        return "a size is out of range (T, B, I, H must be >= 1, P >= 0, and every matrix "
               "dimension must fit BLAS's int)";
    case LSTM_ERR_BAD_BATCH_SIZES:
        return "batch_sizes must start at B, stay within [0, B] and never increase";
    case LSTM_ERR_BAD_LEADING_DIM: return "a leading dimension is smaller than the row width";
    case LSTM_ERR_NO_BLAS: return "the BLAS table has no GEMM for this dtype";
    default: return "unknown status code";
    }
}

int lstm_check_dims(const lstm_dims *d)
{
    if (!d) return LSTM_ERR_NULL_ARGUMENT;
    if (d->time_steps < 1 || d->batch < 1 || d->input_size < 1 || d->hidden_size < 1 || d->proj_size < 0) return LSTM_ERR_BAD_SIZE;
    /* G = 4H and N = T*B are BLAS dimensions: they must fit an int. */
    if (d->hidden_size > INT_MAX / 4) return LSTM_ERR_BAD_SIZE;
    if ((int64_t)d->time_steps * d->batch > INT_MAX) return LSTM_ERR_BAD_SIZE;
    if (d->batch_sizes) {
        if (d->batch_sizes[0] != d->batch) return LSTM_ERR_BAD_BATCH_SIZES;
        for (int t = 1; t < d->time_steps; t++) {
            int b = d->batch_sizes[t];
            if (b < 0 || b > d->batch_sizes[t - 1]) return LSTM_ERR_BAD_BATCH_SIZES;
        }
    }
    return LSTM_OK;
}

size_t lstm_rows(const lstm_dims *d)
{
    if (lstm_check_dims(d) != LSTM_OK) return 0;
    if (!d->batch_sizes) return (size_t)d->time_steps * (size_t)d->batch;
    size_t n = 0;
    for (int t = 0; t < d->time_steps; t++) n += (size_t)d->batch_sizes[t];
    return n;
}

size_t lstm_cache_size(const lstm_dims *d)
{
    if (lstm_check_dims(d) != LSTM_OK) return 0;
    size_t n = lstm_rows(d);
    return n * 4 * (size_t)d->hidden_size + n * (size_t)d->hidden_size; /* gates (N, G) + cells (N, H) */
}

/* The per-step recurrent products run on the core's own GEMM (lstm_gemm.h) when the batch has
 * at least LSTM_SMALL_MIN_BATCH rows and one step's B x 4H x Ph multiply-adds are at most
 * LSTM_FORWARD_STEP_MACS in the forward, LSTM_BACKWARD_STEP_MACS in the backward. Below those
 * sizes BLAS's per-call overhead and its threads meeting at every step cost more than the
 * arithmetic, and the core's kernel costs in proportion to the rows a step has (variable
 * lengths); above them BLAS's packing wins. With fewer rows the kernel's register blocks run
 * mostly empty while BLAS switches to a GEMV (batch 1: 4x slower ours). The backward's limit
 * was 2^19 while its products after the loop ran in pieces at every size it covered; with
 * those left to BLAS above 2^19 (LSTM_TAIL_PIECES_STEP_MACS), its own-GEMM loop at
 * (50, 64, 128, 128) is as fast as BLAS's per-step calls on full batches and faster with
 * variable lengths (17.9 against 19.8 ms a training step), so both limits are the same. */
#define LSTM_FORWARD_STEP_MACS ((size_t)1 << 23)
#define LSTM_BACKWARD_STEP_MACS ((size_t)1 << 23)
#define LSTM_SMALL_MIN_BATCH 4

/* Up to this many multiply-adds a step (B x 4H x Ph), a split call's backward computes dx,
 * dW_ih, dW_hh and the bias gradients inside its loop, by row groups on the core's threads
 * and GEMM (row_groups); above it, after the loop as one BLAS call each on BLAS's threads.
 * The core's own products keep BLAS's threads asleep, which matters when the calls are short
 * (those threads spin for a while after a call, on the cores the next call needs), and cost
 * more than they save when the products are large (at (50, 64, 128, 128) each is 210M
 * multiply-adds). */
#define LSTM_TAIL_PIECES_STEP_MACS ((size_t)1 << 19)

/* Packed GEMM operands pad rows to a multiple of this many elements (64 bytes of float32,
 * 128 of float64): a whole number of vectors at every width the kernel is built for. */
#define LSTM_GEMM_PAD 16

static size_t lstm_gemm_padded(size_t n) { return (n + LSTM_GEMM_PAD - 1) / LSTM_GEMM_PAD * LSTM_GEMM_PAD; }

/* One step's recurrent multiply-adds, B x 4H x Ph: what the size limits above compare. */
static size_t step_macs(const lstm_dims *d)
{
    size_t Ph = d->proj_size > 0 ? (size_t)d->proj_size : (size_t)d->hidden_size;
    return (size_t)d->batch * 4 * (size_t)d->hidden_size * Ph;
}

static int small_recurrence(const lstm_dims *d, int backward)
{
    size_t limit = backward ? LSTM_BACKWARD_STEP_MACS : LSTM_FORWARD_STEP_MACS;
    return d->batch >= LSTM_SMALL_MIN_BATCH && step_macs(d) <= limit;
}

/* Batches under LSTM_SMALL_MIN_BATCH rows run their per-step products, and a projection's,
 * as matrix-vector products on the core's kernels, one row at a time (lstm_gemm_kernel.h):
 * BLAS's GEMM packed the whole W_hh for every one-row step, and at (100, 1, 128, 256) took
 * 10x longer than NumPy's reference on a Zen 3 (OpenBLAS's Haswell kernels). */
static int vector_recurrence(const lstm_dims *d)
{
    return d->batch < LSTM_SMALL_MIN_BATCH;
}

/* Batches too small for the split by rows (split_calls: under 8 rows) with full-length
 * sequences and no projection run their steps, forward and backward, split by hidden units
 * into this many chunks of at least LSTM_UNIT_CHUNK units (lstm_impl.h, forward_units and
 * backward_units), shared by the core's threads: under 4 rows on the matrix-vector kernels,
 * 4 to 7 on the core's GEMM (where its steps are small enough for it). 0 where the path is not
 * taken (under two chunks' worth of units, a step is too short to share). The chunks depend
 * on the sizes only, and each unit's arithmetic on nothing else. */
#define LSTM_UNIT_CHUNK 64
#define LSTM_UNIT_MAX_CHUNKS 8
#define LSTM_UNIT_MAX_BATCH 7

static int unit_chunks(const lstm_dims *d)
{
    if (d->batch > LSTM_UNIT_MAX_BATCH || d->proj_size > 0 || d->batch_sizes) return 0;
    if (!vector_recurrence(d) && !(small_recurrence(d, 0) && small_recurrence(d, 1))) return 0;
    int chunks = d->hidden_size / LSTM_UNIT_CHUNK;
    if (chunks > LSTM_UNIT_MAX_CHUNKS) chunks = LSTM_UNIT_MAX_CHUNKS;
    return chunks >= 2 ? chunks : 0;
}

/* The first unit of chunk c of H units in `chunks` (H for c = chunks): whole gate blocks of 16
 * units where they fit, so that only the last chunk's gate pass has a partial block. */
static int unit_bound(int H, int chunks, int c)
{
    if (c >= chunks) return H;
    return (int)((int64_t)H * c / chunks) / 16 * 16;
}

/* Whether a forward of these sizes runs BLAS products on the core's threads given a
 * single_threaded BLAS: the input projection, by the unit chunks of a split step. */
int lstm_forward_splits_blas(const lstm_dims *d)
{
    return lstm_check_dims(d) == LSTM_OK && unit_chunks(d) > 0;
}

/* Whether a forward or backward may split over the core's own threads (lstm_impl.h): its
 * recurrence on the core's GEMM, no projection (its per-step GEMM is BLAS's) and at least two
 * 4-row blocks. Sizes only, so that the arithmetic never depends on the thread count. */
static int split_calls(const lstm_dims *d, int backward)
{
    return small_recurrence(d, backward) && d->proj_size == 0 && d->batch >= 8;
}

/* Whether a split backward's products run by row groups in its loop (row_groups). */
static int tail_pieces(const lstm_dims *d)
{
    return split_calls(d, 1) && step_macs(d) <= LSTM_TAIL_PIECES_STEP_MACS;
}

/* Whether a split backward's products after the loop run on BLAS (not by row groups on the
 * core's GEMM): as fixed pieces on the core's threads when BLAS is single-threaded, else as
 * one BLAS call each. */
int lstm_backward_splits_blas(const lstm_dims *d)
{
    return lstm_check_dims(d) == LSTM_OK
           && ((split_calls(d, 1) && !tail_pieces(d)) || unit_chunks(d) > 0);
}

/* Elements of W_ih^T packed, (I, pad(G)), for the input projection of a split forward. */
static size_t packed_w_ih_size(const lstm_dims *d)
{
    return split_calls(d, 0) ? (size_t)d->input_size * lstm_gemm_padded(4 * (size_t)d->hidden_size) : 0;
}

/* Elements of W_hh packed for the small GEMM: (Ph, pad(G)) for the forward's h W_hh^T and
 * (G, pad(Ph)) for the backward's dG W_hh; 0 when BLAS does the recurrence. */
static size_t packed_w_hh_size(const lstm_dims *d, int backward)
{
    if (!small_recurrence(d, backward)) return 0;
    size_t G = 4 * (size_t)d->hidden_size;
    size_t Ph = d->proj_size > 0 ? (size_t)d->proj_size : (size_t)d->hidden_size;
    /* A forward split by units reads a gate's columns from q * H, not a multiple of
     * LSTM_GEMM_PAD: the last row's last vector may end up to a pad past the row. */
    size_t slack = !backward && unit_chunks(d) > 0 ? LSTM_GEMM_PAD : 0;
    return backward ? G * lstm_gemm_padded(Ph) : Ph * lstm_gemm_padded(G) + slack;
}

/* A call whose backward would run its products after the loop in pieces (tail_pieces) has
 * its batch rows in this many row groups, fixed by the sizes (lstm_impl.h, group_rows): about
 * LSTM_GROUP_ROWS rows each, at least two. A thread runs whole groups, the same rows in the
 * forward and the backward, and each group sums its own rows' share of dW_hh, dW_ih and the
 * bias gradients at every step of the backward loop, the groups' sums then added in group
 * order. So the arithmetic depends on the sizes only, as before, while no thread reads
 * another's rows: products over all rows after the loop (dG, y, x read whole, by every
 * thread) made each call move most of the cache between the cores, and on this project's
 * 2-vCPU machine a line moving between the cores takes 4x longer for seconds at a time (a
 * ping-pong of 256 lines: 0.5 against 2.1 us), when the seed shape's 2-thread forward went
 * from 47 to 146 us. 0 for a call that does not split this way. */
#define LSTM_GROUP_ROWS 16

static int row_groups(const lstm_dims *d)
{
    if (!tail_pieces(d)) return 0;
    int groups = d->batch / LSTM_GROUP_ROWS;
    if (groups < 2) groups = 2; /* split_calls: at least 8 rows, two groups of 4 */
    return groups < LSTM_MAX_THREADS ? groups : LSTM_MAX_THREADS;
}

/* Steps whose input projection one inference GEMM computes. */
static int chunk_steps(const lstm_dims *d)
{
    size_t per_step = (size_t)d->batch * 4 * (size_t)d->hidden_size;
    size_t steps = LSTM_CHUNK_ELEMENTS / per_step;
    if (steps < 1) steps = 1;
    return steps < (size_t)d->time_steps ? (int)steps : d->time_steps;
}

/* Forward workspace: the combined bias (G), the projection's r rows (B, H) when P > 0, in
 * inference the pre-activations of one chunk of steps (chunk*B, G), W_hh^T packed for the
 * small GEMM, and W_ih^T packed when the call splits over threads: one copy of the two for
 * each row group (row_groups), which its part packs for itself, else one. */
size_t lstm_forward_workspace_size(const lstm_dims *d, int training)
{
    if (lstm_check_dims(d) != LSTM_OK) return 0;
    size_t G = 4 * (size_t)d->hidden_size;
    size_t n = G;
    if (d->proj_size > 0) n += (size_t)d->batch * (size_t)d->hidden_size;
    if (!training) n += (size_t)chunk_steps(d) * (size_t)d->batch * G;
    size_t copies = row_groups(d) > 0 ? (size_t)row_groups(d) : 1;
    return n + copies * (packed_w_hh_size(d, 0) + packed_w_ih_size(d));
}

/* A row group's sums of dW_hh (and, with more than one input column, dW_ih) take the steps
 * of the backward loop this many at a time: one product over their rows, so that the sums
 * leave the registers once for that many steps, not at every step (at (50, 16, 32, 64), 8
 * rows a group, the sums of every step cost 23% more backward). */
#define LSTM_GROUP_RUN_STEPS 8

/* The parts of a row group's backward workspace, in elements, each a multiple of
 * LSTM_GEMM_PAD (whole vectors): W_hh packed (G, pad Ph) for the part that starts at the
 * group; the group's sums dW_hh (G, pad Ph), dW_ih (G, pad I) (G with one input column) and
 * db (G); the h_{t-1} rows of LSTM_GROUP_RUN_STEPS steps (B rows each at most, pad Ph); with
 * more than one input column their x rows (pad I) and W_ih packed (G, pad I) for dx; the
 * group's running dL/dh and dL/dc (B rows at most, H each: no projection with groups). */
static size_t group_ws_w_hh(const lstm_dims *d)
{
    return 4 * (size_t)d->hidden_size * lstm_gemm_padded((size_t)d->hidden_size);
}
static size_t group_ws_dw_ih(const lstm_dims *d)
{
    size_t G = 4 * (size_t)d->hidden_size;
    return d->input_size == 1 ? lstm_gemm_padded(G) : G * lstm_gemm_padded((size_t)d->input_size);
}
static size_t group_ws_run_rows(const lstm_dims *d)
{
    return LSTM_GROUP_RUN_STEPS * (size_t)d->batch;
}
static size_t group_ws_inputs(const lstm_dims *d) /* x rows and W_ih packed, I > 1 */
{
    const size_t pad_i = lstm_gemm_padded((size_t)d->input_size);
    return d->input_size > 1 ? (group_ws_run_rows(d) + 4 * (size_t)d->hidden_size) * pad_i : 0;
}
static size_t group_ws_state(const lstm_dims *d) /* one of dL/dh, dL/dc */
{
    return lstm_gemm_padded((size_t)d->batch * (size_t)d->hidden_size);
}
static size_t group_ws_size(const lstm_dims *d)
{
    const size_t G = 4 * (size_t)d->hidden_size, Ph = lstm_gemm_padded((size_t)d->hidden_size);
    return 2 * group_ws_w_hh(d) + group_ws_dw_ih(d) + lstm_gemm_padded(G)
           + group_ws_run_rows(d) * Ph + group_ws_inputs(d) + 2 * group_ws_state(d);
}

/* Backward workspace, in this order: W_hh packed for the small GEMM; with a projection, dh of
 * every row (N, P) for dW_hr and dr (B, H). With row groups, each group's (group_ws_size)
 * instead. 0 when none is needed. */
size_t lstm_backward_workspace_size(const lstm_dims *d)
{
    if (lstm_check_dims(d) != LSTM_OK) return 0;
    if (row_groups(d) > 0) return (size_t)row_groups(d) * group_ws_size(d);
    size_t n = packed_w_hh_size(d, 1);
    if (d->proj_size > 0)
        n += lstm_rows(d) * (size_t)d->proj_size + (size_t)d->batch * (size_t)d->hidden_size;
    return n;
}

/* The dtype instances: one template, compiled once per dtype. */
#define REAL float
#define SUFFIX f32
#define GEMM_FIELD sgemm
#define LSTM_REAL_IS_FLOAT 1 /* the float32 instance has kernels of its own (lstm_gates_avx512.h) */
#include "lstm_impl.h"
#undef REAL
#undef SUFFIX
#undef GEMM_FIELD
#undef LSTM_REAL_IS_FLOAT

#define REAL double
#define SUFFIX f64
#define GEMM_FIELD dgemm
#define LSTM_REAL_IS_FLOAT 0
#include "lstm_impl.h"
#undef REAL
#undef SUFFIX
#undef GEMM_FIELD
#undef LSTM_REAL_IS_FLOAT
