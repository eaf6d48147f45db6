/*
 * lstmcore: the public C API of a single LSTM layer in one direction.
 *
 * This is the only header a C user includes. Python is not needed: a C user passes the
 * sgemm_/dgemm_ of any BLAS through `lstm_blas`, allocates every buffer itself (the *_size
 * functions say how much) and gets a status code back from every entry point.
 *
 * Dimension legend (used in every shape comment):
 *   T  time steps                      B  batch (rows at the first time step)
 *   I  input size                      H  hidden (cell) size
 *   P  projection size; 0 means none   Ph output size of a step: P if P > 0, else H
 *   G  = 4H, the gate pre-activations in PyTorch's order i, f, g, o
 *   N  rows over all steps: T*B, or the sum of batch_sizes for variable lengths
 *
 * Row layout. Sequence data is time-major and packed as PyTorch's PackedSequence: the rows of
 * step t are the b_t = batch_sizes[t] first sequences of the batch, one after another, and the
 * steps follow each other. With batch_sizes == NULL every step has B rows, so a (T, B, X)
 * array is already packed. Variable-length batches must be sorted by decreasing length, which
 * makes batch_sizes non-increasing; rows past a sequence's end then simply do not exist, and no
 * work is spent on them.
 *
 * Equations of one step (r is the cell output before the projection):
 *   a   = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh          (b_t, G)
 *   i = sigmoid(a_i)  f = sigmoid(a_f)  g = tanh(a_g)  o = sigmoid(a_o)
 *   c_t = f * c_{t-1} + i * g
 *   r_t = o * tanh(c_t)
 *   h_t = r_t            if P == 0
 *   h_t = r_t W_hr^T     if P > 0 (LSTMP)
 * A reverse layer (the second direction of a bidirectional LSTM) runs t = T-1 down to 0; a
 * sequence of length L starts at its own step L-1 from h0/c0, as PyTorch does.
 *
 * Ownership and threads: the caller owns every buffer; nothing is allocated, nothing global is
 * written, so calls on distinct output, cache and workspace buffers may run in parallel
 * threads. Backward adds into the weight gradients: the caller zeroes them. Backward consumes
 * the cache (it overwrites the saved gates with their gradients), so each forward cache
 * supports exactly one backward.
 *
 * Errors: lstm_forward_* and lstm_backward_* check every argument before they write anything,
 * so on a status other than LSTM_OK no output, cache, workspace or gradient buffer has been
 * touched.
 */
#ifndef LSTMCORE_LSTM_H
#define LSTMCORE_LSTM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes: every entry point returns one; lstm_strerror() names it. */
enum lstm_status {
    LSTM_OK = 0,
    LSTM_ERR_NULL_ARGUMENT = 1,  /* d, or a pointer the call requires, is NULL */
    LSTM_ERR_BAD_SIZE = 2,       /* T, B, I or H < 1, P < 0, or 4H or T*B past INT_MAX */
    LSTM_ERR_BAD_BATCH_SIZES = 3,/* batch_sizes[0] != B, an entry outside [0, B], or increasing */
    LSTM_ERR_BAD_LEADING_DIM = 4,/* ldy < Ph, or lddy < Ph when dy is not NULL */
    LSTM_ERR_NO_BLAS = 5         /* blas is NULL or lacks the gemm for this dtype */
};

/* Returns a static, human-readable description of a status code. */
const char *lstm_strerror(int status);

/* Fortran BLAS GEMM signatures (column-major), as sgemm_/dgemm_ of OpenBLAS, MKL, BLIS or
 * scipy.linalg.cython_blas. The row-major handling is internal to lstmcore. */
typedef void lstm_sgemm_fn(char *transa, char *transb, int *m, int *n, int *k, float *alpha,
                           float *a, int *lda, float *b, int *ldb, float *beta, float *c,
                           int *ldc);
typedef void lstm_dgemm_fn(char *transa, char *transb, int *m, int *n, int *k, double *alpha,
                           double *a, int *lda, double *b, int *ldb, double *beta, double *c,
                           int *ldc);

typedef struct lstm_blas {
    lstm_sgemm_fn *sgemm; /* needed by the *_f32 functions */
    lstm_dgemm_fn *dgemm; /* needed by the *_f64 functions */
    /* Nonzero when every GEMM call runs in its calling thread (a sequential BLAS, or one set to
     * 1 thread for the call): the backward may then run its products after the time loop as
     * fixed pieces, several at once on the core's threads, where lstm_backward_splits_blas(d)
     * says so, and a forward split by hidden units its input projection, a piece per chunk
     * (lstm_forward_splits_blas). 0 (as {sgemm, dgemm} leaves it) calls BLAS from one thread
     * at a time and leaves its threading to BLAS, whose threads then keep spinning on the
     * cores the next call's time loop needs (OpenBLAS: up to 0.1 s). */
    int single_threaded;
} lstm_blas;

typedef struct lstm_dims {
    int time_steps;         /* T >= 1 */
    int batch;              /* B >= 1 */
    int input_size;         /* I >= 1 */
    int hidden_size;        /* H >= 1 */
    int proj_size;          /* P >= 0, 0 for none */
    int reverse;            /* nonzero: process time backwards */
    const int *batch_sizes; /* (T) rows of each step, non-increasing, [0] == B; or NULL */
} lstm_dims;

/* Weights, PyTorch's layout (row-major). Biases may be NULL (bias=False). */
typedef struct lstm_weights_f32 {
    const float *w_ih; /* (G, I) */
    const float *w_hh; /* (G, Ph) */
    const float *b_ih; /* (G) or NULL */
    const float *b_hh; /* (G) or NULL */
    const float *w_hr; /* (P, H), required iff P > 0 */
} lstm_weights_f32;

typedef struct lstm_weights_f64 {
    const double *w_ih, *w_hh, *b_ih, *b_hh, *w_hr; /* as lstm_weights_f32 */
} lstm_weights_f64;

/* Weight gradients, added into. A NULL entry is skipped (e.g. frozen weights, no bias). */
typedef struct lstm_grads_f32 {
    float *dw_ih; /* (G, I) */
    float *dw_hh; /* (G, Ph) */
    float *db_ih; /* (G) */
    float *db_hh; /* (G) */
    float *dw_hr; /* (P, H) */
} lstm_grads_f32;

typedef struct lstm_grads_f64 {
    double *dw_ih, *dw_hh, *db_ih, *db_hh, *dw_hr; /* as lstm_grads_f32 */
} lstm_grads_f64;

/* Sizes, in elements of the dtype (multiply by sizeof(float) or sizeof(double)). They return
 * 0 for invalid dims (NULL included); use lstm_check_dims() to learn why.
 *
 * Forward workspace: never 0 for valid dims (it holds at least the summed bias, G elements),
 * so lstm_forward_* always needs a work buffer. training is nonzero for a forward that will be
 * given a cache, 0 for inference. Inference needs more: it also holds the input projection of
 * a chunk of steps, which a training forward writes straight into the cache. A workspace sized
 * for inference is therefore large enough for a training forward too. For small steps (batch
 * >= 4 and B*4H*Ph <= 2^23 multiply-adds) it also holds W_hh^T packed for the core's own GEMM,
 * and W_ih^T packed when the call can split over threads (below).
 *
 * Backward workspace: W_hh packed for the core's own GEMM at small steps (batch >= 4 and
 * B*4H*Ph <= 2^23), and with a projection (P > 0) N*P + B*H more. It is 0 when neither applies, and then work may be NULL.
 * Always size buffers with these functions rather than by formula. */
size_t lstm_rows(const lstm_dims *d);                          /* N */
size_t lstm_cache_size(const lstm_dims *d);                    /* N*G + N*H */
size_t lstm_forward_workspace_size(const lstm_dims *d, int training);
size_t lstm_backward_workspace_size(const lstm_dims *d);
int lstm_check_dims(const lstm_dims *d);                       /* LSTM_OK or the problem */
/* Nonzero when a backward of these sizes runs its BLAS products in pieces on the core's
 * threads given a single_threaded BLAS (see lstm_blas): a caller whose BLAS has threads of its
 * own can limit them to 1 for such calls only. */
int lstm_backward_splits_blas(const lstm_dims *d);
/* The same for a forward: nonzero when, given a single_threaded BLAS, it runs its input
 * projection in pieces on the core's threads (batches under 8 rows with H >= 128, see below;
 * their backward splits its BLAS products too). */
int lstm_forward_splits_blas(const lstm_dims *d);

/*
 * The core's own threads, process-wide: 1 (the default) runs every call in the calling
 * thread. With n > 1, a call at small steps (those on the core's own GEMM, see the workspace
 * sizes above) with no projection and a batch of 8 or more splits its time loop by batch rows
 * over up to n threads, one hand-off per call, and its other products into fixed pieces shared
 * among them. A call with a batch under 8 rows, full-length sequences, no projection and
 * H >= 128 splits each step by hidden units instead, forward and backward: up to n threads
 * each take their chunks of the units (and their rows of W_hh in the forward, their columns in
 * the backward, which then stay in their core's cache) and meet at every step. The results
 * are bitwise the same for any n: no row's or unit's arithmetic, nor any piece, depends on
 * which thread runs it. The threads write rows of y, dx, h_n, c_n, dh0 and dc0 side by side:
 * arrays that start on a 64-byte boundary (a cache line) keep one thread's rows off the
 * other's lines, which otherwise move between the cores at every step (Python's binding
 * allocates them so). n outside [1, 64] is refused with LSTM_ERR_BAD_SIZE (and any n but 1
 * where the build has no threads). Lowering n stops the threads past it: setting 1 leaves
 * none running. Calls that overlap in time share the pool: one uses it, the others run
 * in their own thread. BLAS's own threads are set in the BLAS library.
 */
int lstm_set_num_threads(int n);
int lstm_get_num_threads(void);

/*
 * Whether calls that split by row groups (the small ones: batch >= 8, steps of up to 2^19
 * multiply-adds) choose, kind by kind, between splitting and running in the calling thread by
 * the time each way took lately (on = 1, the default), or always split (on = 0). A split call
 * waits for a worker whose core another process or a virtual machine's host has taken; the
 * choice then runs it in one thread, trying the split again every 128th call. The results are
 * the same bits either way. Any value but 0 and 1 is refused with LSTM_ERR_BAD_SIZE.
 */
int lstm_set_adaptive_threads(int on);

/*
 * Forward over the whole sequence.
 *   y      (N, ldy)  out: h_t of every row (Ph columns written, the rest untouched)
 *   h_n    (B, Ph)   out: each sequence's h at its last processed step
 *   c_n    (B, H)    out: each sequence's c at its last processed step
 *   cache  lstm_cache_size elements: activated gates and cell states for backward, or NULL
 *          for inference (nothing is saved)
 *   work   lstm_forward_workspace_size(d, cache != NULL) elements; never NULL
 *   x      (N, I)    in
 *   h0     (B, Ph)   initial h, or NULL for zeros
 *   c0     (B, H)    initial c, or NULL for zeros
 * h_n and c_n may alias h0 and c0 (the state is updated in place).
 */
int lstm_forward_f32(const lstm_blas *blas, float *y, int ldy, float *h_n, float *c_n,
                     float *cache, float *work, const float *x, const float *h0,
                     const float *c0, const lstm_weights_f32 *w, const lstm_dims *d);
int lstm_forward_f64(const lstm_blas *blas, double *y, int ldy, double *h_n, double *c_n,
                     double *cache, double *work, const double *x, const double *h0,
                     const double *c0, const lstm_weights_f64 *w, const lstm_dims *d);

/*
 * Backward over the whole sequence, from the cache of one training forward (consumed).
 *   dx     (N, I)    out, or NULL to skip it; accumulate_dx nonzero adds into it instead
 *                    (the two directions of a bidirectional layer share one dx)
 *   dh0    (B, Ph)   out: gradient of h0
 *   dc0    (B, H)    out: gradient of c0
 *   g      weight gradients, added into
 *   work   lstm_backward_workspace_size(d) elements (NULL is fine when that is 0)
 *   dy     (N, lddy) gradient of y (Ph columns read), or NULL for zeros; lddy is then ignored
 *   dh_n   (B, Ph)   gradient of h_n, or NULL for zeros
 *   dc_n   (B, H)    gradient of c_n, or NULL for zeros
 *   cache  the forward's cache (overwritten)
 *   y      (N, ldy)  the forward's output, unchanged since
 *   x, h0, c0, w, d  as given to the forward
 * dh0 and dc0 may alias dh_n and dc_n (the gradient is carried back in place): backward reads
 * dh_n and dc_n once, into dh0 and dc0, before anything else.
 */
int lstm_backward_f32(const lstm_blas *blas, float *dx, int accumulate_dx, float *dh0,
                      float *dc0, const lstm_grads_f32 *g, float *work, const float *dy,
                      int lddy, const float *dh_n, const float *dc_n, float *cache,
                      const float *y, int ldy, const float *x, const float *h0,
                      const float *c0, const lstm_weights_f32 *w, const lstm_dims *d);
int lstm_backward_f64(const lstm_blas *blas, double *dx, int accumulate_dx, double *dh0,
                      double *dc0, const lstm_grads_f64 *g, double *work, const double *dy,
                      int lddy, const double *dh_n, const double *dc_n, double *cache,
                      const double *y, int ldy, const double *x, const double *h0,
                      const double *c0, const lstm_weights_f64 *w, const lstm_dims *d);

#ifdef __cplusplus
}
#endif

#endif /* LSTMCORE_LSTM_H */
