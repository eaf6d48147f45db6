/*
 * lstmcore: forward and backward of one LSTM layer in one direction, written once for both
 * dtypes. lstm.c includes this file twice, with REAL, SUFFIX and GEMM_FIELD defined.
 *
 * T time steps, B batch, I input, H hidden, P projection (0: none), Ph = P or H, G = 4H,
 * N rows over all steps (packed, time-major: see lstm.h). b_t rows are active at step t.
 */
#include <string.h>

#include "lstm_math.h"

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

/* The gate passes: one fused, vectorisable loop over the rows of a step. On x86-64 with GCC or
 * Clang they are compiled for AVX-512, AVX2 with FMA (haswell) and the baseline and picked at
 * run time. Here, as in the GEMM kernel, a * b + c may contract into one FMA (fp-contract=fast
 * for these functions only; -std=c11 keeps it off elsewhere): the polynomials of the gate
 * math are chains of them, and fusing makes the pass 1.5x faster at the seed shape while
 * rounding once instead of twice (tests/test_math.py holds the result to 3 ulp either way).
 * Results may differ in the last bit between a CPU with FMA and one without, as BLAS's do. */
#ifndef LSTM_KERNEL
#if defined(__x86_64__) && defined(__GNUC__) && defined(__has_attribute)
#if __has_attribute(target_clones) && !defined(LSTM_NO_TARGET_CLONES)
#define LSTM_KERNEL                                                                      \
    __attribute__((target_clones("avx512f", "arch=haswell", "default"),                      \
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
 * c_t; out receives r = o * tanh(c_t). */
LSTM_INLINE void FN(forward_block)(REAL *restrict a, size_t s, const REAL *restrict bias,
                                   size_t sb, REAL *restrict c, REAL *restrict out)
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
        out[j] = o * FN(lstm_tanh)(cn);
    }
}

/* Backward of one block. a holds the activated i, f, g, o and receives their pre-activation
 * gradients; cell holds c_t and receives r_t = o * tanh(c_t) when save_r (for dW_hr); c_prev is
 * c_{t-1}; dr is dL/dr_t; dc holds dL/dc_t from the step after and receives dL/dc_{t-1}. */
LSTM_INLINE void FN(backward_block)(REAL *restrict a, size_t s, REAL *restrict cell,
                                    const REAL *restrict c_prev, const REAL *restrict dr,
                                    REAL *restrict dc, int save_r)
{
    for (int j = 0; j < LSTM_BLOCK; j++) {
        REAL i = a[j], f = a[s + j], g = a[2 * s + j], o = a[3 * s + j];
        REAL tc = FN(lstm_tanh)(cell[j]);
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

/* Copies n <= LSTM_BLOCK elements. An inline loop: with n = LSTM_BLOCK it becomes a few
 * vector moves, and a memcpy call per short tail would cost more than the gates at H = 30. */
LSTM_INLINE void FN(copy_short)(REAL *restrict dst, const REAL *restrict src, int n)
{
    for (int j = 0; j < n; j++) dst[j] = src[j];
}

/* A hidden size that is not a multiple of LSTM_BLOCK (H = 30) has a last, partial block. When
 * H >= LSTM_BLOCK it runs as the whole block of units [H - LSTM_BLOCK, H), which overlaps the
 * full block before it: it is computed on copies taken before the full blocks write anything
 * and stored after them, so the overlapping units get the same values twice (same inputs, same
 * arithmetic) and every copy is a whole block (vector moves). Only H < LSTM_BLOCK pads. */

/* Forward over the b rows of a step. a (b, G) pre-activations -> activated gates; c (b, H)
 * c_{t-1} -> c_t, also copied to c_save (b, H) unless NULL; out (b, ld_out) receives r. */
static LSTM_KERNEL void FN(gates_forward)(REAL *restrict a, REAL *restrict c,
                                          REAL *restrict out, int ld_out, REAL *restrict c_save,
                                          const REAL *restrict bias, int b, int H)
{
    const size_t G = 4 * (size_t)H;
    const int full = H - H % LSTM_BLOCK, n = H - full;
    const int overlap = n > 0 && H >= LSTM_BLOCK;
    const int t0 = overlap ? H - LSTM_BLOCK : full; /* first unit of the last block */
    const int tn = overlap ? LSTM_BLOCK : n;        /* its units that exist */
    REAL ta[4 * LSTM_BLOCK] = {0}, tb[4 * LSTM_BLOCK] = {0};
    REAL tc[LSTM_BLOCK] = {0}, tout[LSTM_BLOCK];
    for (int q = 0; q < 4; q++) FN(copy_short)(tb + q * LSTM_BLOCK, bias + q * H + t0, tn);
    for (int r = 0; r < b; r++) {
        REAL *ar = a + r * G, *cr = c + (size_t)r * H, *outr = out + (size_t)r * ld_out;
        if (n > 0) {
            for (int q = 0; q < 4; q++) FN(copy_short)(ta + q * LSTM_BLOCK, ar + q * H + t0, tn);
            FN(copy_short)(tc, cr + t0, tn);
            FN(forward_block)(ta, LSTM_BLOCK, tb, LSTM_BLOCK, tc, tout);
        }
        for (int j = 0; j < full; j += LSTM_BLOCK)
            FN(forward_block)(ar + j, H, bias + j, H, cr + j, outr + j);
        if (n > 0) {
            for (int q = 0; q < 4; q++) FN(copy_short)(ar + q * H + t0, ta + q * LSTM_BLOCK, tn);
            FN(copy_short)(cr + t0, tc, tn);
            FN(copy_short)(outr + t0, tout, tn);
        }
        if (c_save) memcpy(c_save + (size_t)r * H, cr, (size_t)H * sizeof(REAL));
    }
}

/* Backward over one row: a (G) activated gates -> their gradients; cell (H) c_t (-> r_t when
 * save_r); c_prev (H) or NULL for zeros; dr (H); dc (H) dL/dc_t -> dL/dc_{t-1}. */
static LSTM_KERNEL void FN(gates_backward)(REAL *restrict a, REAL *restrict cell,
                                           const REAL *restrict c_prev, const REAL *restrict dr,
                                           REAL *restrict dc, int save_r, int H)
{
    const REAL zeros[LSTM_BLOCK] = {0};
    const int full = H - H % LSTM_BLOCK, n = H - full;
    const int overlap = n > 0 && H >= LSTM_BLOCK;
    const int t0 = overlap ? H - LSTM_BLOCK : full, tn = overlap ? LSTM_BLOCK : n;
    REAL ta[4 * LSTM_BLOCK] = {0}, tcell[LSTM_BLOCK] = {0}, tcp[LSTM_BLOCK] = {0};
    REAL tdr[LSTM_BLOCK] = {0}, tdc[LSTM_BLOCK] = {0};
    if (n > 0) {
        for (int q = 0; q < 4; q++) FN(copy_short)(ta + q * LSTM_BLOCK, a + q * H + t0, tn);
        FN(copy_short)(tcell, cell + t0, tn);
        if (c_prev) FN(copy_short)(tcp, c_prev + t0, tn);
        FN(copy_short)(tdr, dr + t0, tn);
        FN(copy_short)(tdc, dc + t0, tn);
        FN(backward_block)(ta, LSTM_BLOCK, tcell, tcp, tdr, tdc, save_r);
    }
    for (int j = 0; j < full; j += LSTM_BLOCK)
        FN(backward_block)(a + j, H, cell + j, c_prev ? c_prev + j : zeros, dr + j, dc + j,
                           save_r);
    if (n > 0) {
        for (int q = 0; q < 4; q++) FN(copy_short)(a + q * H + t0, ta + q * LSTM_BLOCK, tn);
        FN(copy_short)(cell + t0, tcell, tn);
        FN(copy_short)(dc + t0, tdc, tn);
    }
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
    REAL *cells = training ? cache + N * (size_t)G : NULL;  /* (N, H) saved c_t */
    const int small = small_recurrence(d);
    /* Training projects all steps into the cache; inference a chunk at a time. */
    const int chunk_len = training ? T : chunk_steps(d);

    for (int j = 0; j < G; j++)
        bias[j] = (w->b_ih ? w->b_ih[j] : 0) + (w->b_hh ? w->b_hh[j] : 0);
    FN(init_state)(h_n, h0, (size_t)B * Ph);
    FN(init_state)(c_n, c0, (size_t)B * H);
    if (small) FN(gemm_pack)(w_hh_t, w->w_hh, G, Ph, 1);

    /* Every step has all B rows: h_{t-1} of each is the step before's output row. */
    const int direct = !d->batch_sizes;
    REAL *pre = NULL;       /* pre-activations of the current chunk */
    size_t pre_row0 = 0;    /* packed row that pre's first row stands for */
    size_t off = d->reverse ? N : 0; /* packed row of the step boundary being walked */
    for (int s = 0; s < T; s++) {
        const int t = d->reverse ? T - 1 - s : s;
        const int b = BATCH(d, t);
        const size_t off_t = d->reverse ? off - (size_t)b : off;
        off = d->reverse ? off_t : off_t + (size_t)b;

        if (s % chunk_len == 0) {
            /* x W_ih^T for the chunk's steps s .. s+len-1, whose rows are contiguous. */
            int len = T - s < chunk_len ? T - s : chunk_len;
            size_t lo = off_t, hi = off_t + (size_t)b;
            for (int u = 1; u < len; u++) {
                int tu = d->reverse ? t - u : t + u;
                if (d->reverse) lo -= (size_t)BATCH(d, tu);
                else hi += (size_t)BATCH(d, tu);
            }
            pre_row0 = lo;
            pre = training ? cache + lo * (size_t)G : chunk;
            FN(gemm)(blas, 'N', 'T', (int)(hi - lo), G, I, 1, x + lo * (size_t)I, I, w->w_ih, I, 0,
                     pre, G);
        }
        if (b == 0) continue;
        REAL *a = pre + (off_t - pre_row0) * (size_t)G; /* (b, G) */

        /* a += h_{t-1} W_hh^T; skipped while every state is still the zero default. With
         * full-length sequences h_{t-1} is read where the step before wrote it, in y. */
        const int from_y = direct && s > 0;
        const REAL *h_prev = from_y ? y + (d->reverse ? off_t + b : off_t - b) * (size_t)ldy : h_n;
        const int ld_h = from_y ? ldy : Ph;
        if (s == 0 && !h0)
            ;
        else if (small)
            FN(small_gemm)(b, G, Ph, h_prev, (size_t)ld_h, 1, w_hh_t, a, G, 1);
        else
            FN(gemm)(blas, 'N', 'T', b, G, Ph, 1, h_prev, ld_h, w->w_hh, Ph, 1, a, G);

        REAL *out = P > 0 ? rows_r : y + off_t * (size_t)ldy;
        FN(gates_forward)(a, c_n, out, P > 0 ? H : ldy, training ? cells + off_t * H : NULL,
                          bias, b, H);
        /* h = r W_hr^T */
        if (P > 0) FN(gemm)(blas, 'N', 'T', b, P, H, 1, rows_r, H, w->w_hr, H, 0, y + off_t * (size_t)ldy, ldy);
        /* h_n: every step's rows with variable lengths (a sequence may end at any step), the
         * last step's otherwise. */
        if (!direct || s == T - 1)
            for (int r = 0; r < b; r++)
                memcpy(h_n + (size_t)r * Ph, y + (off_t + r) * (size_t)ldy,
                       (size_t)Ph * sizeof(REAL));
    }
    return LSTM_OK;
}

/* dW_hh += sum over steps of dG_t^T h_{t-1}. h_{t-1} of a row is the output row of the step
 * before in processing order, or h0 at the row's first step. Within a run of steps that share
 * one batch size those output rows are contiguous, so each run costs a few GEMMs instead of
 * one per step (one GEMM over all rows when every sequence is full length). */
static void FN(add_dw_hh)(const lstm_blas *blas, REAL *dw_hh, const REAL *dG, const REAL *y,
                          int ldy, const REAL *h0, const lstm_dims *d)
{
    const int T = d->time_steps, Ph = d->proj_size > 0 ? d->proj_size : d->hidden_size, G = 4 * d->hidden_size;
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
                FN(gemm)(blas, 'T', 'N', G, Ph, b, 1, dG + off0 * G, G,
                         y + (off0 - (size_t)BATCH(d, t0 - 1)) * ldy, ldy, 1, dw_hh, Ph);
            else if (h0)
                FN(gemm)(blas, 'T', 'N', G, Ph, b, 1, dG, G, h0, Ph, 1, dw_hh, Ph);
            FN(gemm)(blas, 'T', 'N', G, Ph, (steps - 1) * b, 1, dG + (off0 + b) * G, G,
                     y + off0 * ldy, ldy, 1, dw_hh, Ph);
        } else if (b > 0) {
            /* Reverse: steps t0..t1-1 read the whole of steps t0+1..t1; step t1 reads the
             * rows that step t1+1 has, and h0 for the rows that start at t1. */
            FN(gemm)(blas, 'T', 'N', G, Ph, (steps - 1) * b, 1, dG + off0 * G, G,
                     y + (off0 + b) * ldy, ldy, 1, dw_hh, Ph);
            const size_t last = off0 + (size_t)(steps - 1) * b;
            const int b_next = t1 + 1 < T ? BATCH(d, t1 + 1) : 0;
            FN(gemm)(blas, 'T', 'N', G, Ph, b_next, 1, dG + last * G, G, y + (last + b) * ldy,
                     ldy, 1, dw_hh, Ph);
            if (h0)
                FN(gemm)(blas, 'T', 'N', G, Ph, b - b_next, 1, dG + (last + b_next) * G, G,
                         h0 + (size_t)b_next * Ph, Ph, 1, dw_hh, Ph);
        }
        off0 += (size_t)steps * b;
        t0 = t1 + 1;
    }
}

int FN(lstm_backward)(const lstm_blas *blas, REAL *dx, int accumulate_dx, REAL *dh0, REAL *dc0,
                      const GRADS *g, REAL *work, const REAL *dy, int lddy, const REAL *dh_n,
                      const REAL *dc_n, REAL *cache, const REAL *y, int ldy, const REAL *x,
                      const REAL *h0, const REAL *c0, const WEIGHTS *w, const lstm_dims *d)
{
    int status = FN(check_common)(blas, w, d);
    if (status != LSTM_OK) return status;
    if (!dh0 || !dc0 || !g || !cache || !y || !x) return LSTM_ERR_NULL_ARGUMENT;
    const int T = d->time_steps, I = d->input_size, H = d->hidden_size, P = d->proj_size;
    const int Ph = P > 0 ? P : H, G = 4 * H;
    if (ldy < Ph || (dy && lddy < Ph)) return LSTM_ERR_BAD_LEADING_DIM;
    if (!work && lstm_backward_workspace_size(d) > 0) return LSTM_ERR_NULL_ARGUMENT;
    const size_t N = lstm_rows(d);
    const int small = small_recurrence(d);

    REAL *gates = cache;                    /* (N, G) activated gates -> their gradients dG */
    REAL *cells = cache + N * (size_t)G;    /* (N, H) c_t -> r_t when P > 0 */
    REAL *w_hh_p = work;                    /* (G, pad Ph) W_hh packed, small */
    REAL *dh_rows = work ? work + (small ? (size_t)G * FN(gemm_padded)(Ph) : 0) : NULL; /* (N, P) dL/dh, P > 0 */
    REAL *dr = P > 0 ? dh_rows + N * (size_t)P : NULL; /* (B, H) dL/dr of the step's rows */
    /* dh0 and dc0 carry the running dL/dh and dL/dc of each sequence. */
    REAL *dh = dh0, *dc = dc0;
    FN(init_state)(dh, dh_n, (size_t)d->batch * Ph);
    FN(init_state)(dc, dc_n, (size_t)d->batch * H);
    if (small) FN(gemm_pack)(w_hh_p, w->w_hh, G, Ph, 0);

    /* Steps in the reverse of the forward's processing order. */
    size_t off = d->reverse ? 0 : N;
    for (int s = 0; s < T; s++) {
        const int t = d->reverse ? s : T - 1 - s;
        const int b = BATCH(d, t);
        const size_t off_t = d->reverse ? off : off - (size_t)b;
        off = d->reverse ? off_t + (size_t)b : off_t;
        if (b == 0) continue;

        if (dy)
            for (int r = 0; r < b; r++) {
                const REAL *dy_row = dy + (off_t + r) * (size_t)lddy;
                REAL *dh_row = dh + (size_t)r * Ph;
                for (int j = 0; j < Ph; j++) dh_row[j] += dy_row[j];
            }
        const REAL *d_r = dh;
        if (P > 0) {
            /* h = r W_hr^T */
            memcpy(dh_rows + off_t * P, dh, (size_t)b * P * sizeof(REAL));
            FN(gemm)(blas, 'N', 'N', b, H, P, 1, dh, P, w->w_hr, H, 0, dr, H);
            d_r = dr;
        }

        /* c_{t-1}: the cells of the step before in processing order for the rows it has,
         * c0 for the rows that start here. */
        const REAL *c_before = NULL;
        int b_before = 0;
        if (!d->reverse && t > 0) {
            c_before = cells + (off_t - (size_t)BATCH(d, t - 1)) * H;
            b_before = b;
        } else if (d->reverse && t + 1 < T) {
            c_before = cells + (off_t + (size_t)b) * H;
            b_before = BATCH(d, t + 1);
        }
        for (int r = 0; r < b; r++) {
            const REAL *c_prev = r < b_before ? c_before + (size_t)r * H
                                 : c0         ? c0 + (size_t)r * H
                                              : NULL;
            FN(gates_backward)(gates + (off_t + r) * (size_t)G, cells + (off_t + r) * (size_t)H,
                                   c_prev, d_r + (size_t)r * H, dc + (size_t)r * H, P > 0, H);
        }
        /* a = ... + h_{t-1} W_hh^T */
        if (small)
            FN(small_gemm)(b, Ph, G, gates + off_t * G, G, 1, w_hh_p, dh, Ph, 0);
        else
            FN(gemm)(blas, 'N', 'N', b, Ph, G, 1, gates + off_t * G, G, w->w_hh, Ph, 0, dh, Ph);
    }

    /* Everything left is a GEMM or a sum over all N rows at once. */
    const int n = (int)N;
    if (dx) FN(gemm)(blas, 'N', 'N', n, I, G, 1, gates, G, w->w_ih, I, accumulate_dx ? 1 : 0, dx, I);
    if (g->dw_ih) FN(gemm)(blas, 'T', 'N', G, I, n, 1, gates, G, x, I, 1, g->dw_ih, I);
    if (g->dw_hh) FN(add_dw_hh)(blas, g->dw_hh, gates, y, ldy, h0, d);
    if (P > 0 && g->dw_hr) FN(gemm)(blas, 'T', 'N', P, H, n, 1, dh_rows, P, cells, H, 1, g->dw_hr, H);
    if (g->db_ih || g->db_hh) {
        for (size_t r = 0; r < N; r++) {
            const REAL *row = gates + r * G;
            if (g->db_ih) for (int j = 0; j < G; j++) g->db_ih[j] += row[j];
            if (g->db_hh) for (int j = 0; j < G; j++) g->db_hh[j] += row[j];
        }
    }
    return LSTM_OK;
}
