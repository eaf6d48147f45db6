/*
 * lstmcore: the register-blocked small GEMM for one dtype and one instruction set. lstm_gemm.h
 * includes it once per instruction set, inside each dtype instance of lstm_impl.h, with:
 *   REAL, FN        the dtype and its name suffix (lstm_impl.h)
 *   GK(name)        the name of a function of this dtype and instruction set
 *   GK_ATTR         the target attribute of this instruction set (may be empty)
 *   GK_VBYTES       the vector width in bytes
 *
 * C (m, n) = A (m, k) B (k, n), stored or added into C. A is read through two strides,
 * A(i, p) = A[i * ars + p * acs], so it may be a matrix or its transpose. B is packed: rows
 * ldb apart with ldb a multiple of LSTM_GEMM_PAD and zeros past column n, so that every
 * vector load of a row is whole and in bounds. gemm_runs takes k in runs: run s covers the
 * next len[s] rows of B, and A's columns for them start off[s] elements from A (the rows of
 * one row group at several steps, which are not evenly spaced in the cache).
 *
 * Each block of GK_ROWS rows and GK_VECS vectors of C lives in registers for the whole k loop
 * (4 x 2 = 8 accumulators: enough to cover the FMA latency, few enough not to spill with 16
 * vector registers). Sums run over p in order, as a BLAS kernel's do; contraction into FMA is
 * allowed here (and only here, through fp-contract=fast) because a GEMM without it would run at
 * half speed, and BLAS uses FMA just the same.
 */
#define GK_VL (GK_VBYTES / (int)sizeof(REAL))
#define GK_ROWS 4
#define GK_VECS 2
#define GK_FN_ATTR GK_ATTR __attribute__((optimize("fp-contract=fast")))

typedef REAL GK(vec) __attribute__((vector_size(GK_VBYTES)));

/* Keeps a loaded vector of B in a register for every row of a block. Left alone, GCC folds the
 * load into each row's FMA when the block has fewer than 4 rows, loading it once a row: a
 * variable-length batch's last, partial block of a step then ran at the load ports' pace
 * (3 rows took longer than 4, 2 as long as 4). An empty asm that claims to change the vector
 * makes the load happen once. */
#ifndef GK_IN_REGISTER
#if LSTM_GEMM_X86
#define GK_IN_REGISTER(v) __asm__("" : "+v"(v))
#else
#define GK_IN_REGISTER(v) ((void)0)
#endif
#endif

/* The k products of a run into the block's accumulators: row p of B times column p of A. */
#define GK_RUN(k, A_run, B_run)                                                                  \
    for (int p = 0; p < (k); p++) {                                                              \
        GK(vec) b[2 * GK_VECS];                                                                  \
        for (int v = 0; v < V; v++) {                                                            \
            memcpy(&b[v], (B_run) + p * ldb + v * GK_VL, sizeof b[v]);                           \
            GK_IN_REGISTER(b[v]);                                                                \
        }                                                                                        \
        for (int r = 0; r < R; r++) {                                                            \
            const REAL a = (A_run)[r * ars + p * acs];                                           \
            for (int v = 0; v < V; v++) acc[r][v] += a * b[v];                                   \
        }                                                                                        \
    }

/* One block: rows R <= GK_ROWS, vectors V <= 2 * GK_VECS (the wide blocks of the last rows),
 * both constants after inlining, so the accumulators are registers. cols (<= V * GK_VL)
 * columns of C are valid. runs 0: k in one run (a plain product); else k in runs (gemm_runs),
 * k unused. */
static inline __attribute__((always_inline)) GK_FN_ATTR void
GK(block)(const int R, const int V, int k, int runs, const int *len, const size_t *off,
          const REAL *A, size_t ars, size_t acs, const REAL *Bp, size_t ldb, REAL *C, size_t ldc,
          int cols, int accumulate)
{
    GK(vec) acc[GK_ROWS][2 * GK_VECS];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) acc[r][v] = (GK(vec)){0};
    if (runs == 0) {
        GK_RUN(k, A, Bp)
    } else {
        for (int s = 0; s < runs; s++) {
            GK_RUN(len[s], A + off[s], Bp)
            Bp += (size_t)len[s] * ldb;
        }
    }
    for (int r = 0; r < R; r++) {
        REAL *c = C + r * ldc;
        if (cols == V * GK_VL) {
            for (int v = 0; v < V; v++) {
                GK(vec) t = acc[r][v];
                if (accumulate) {
                    GK(vec) old;
                    memcpy(&old, c + v * GK_VL, sizeof old);
                    t = old + t;
                }
                memcpy(c + v * GK_VL, &t, sizeof t);
            }
        } else { /* the last, partial block of columns: C has no room past cols */
            REAL t[2 * GK_VECS * GK_VL];
            memcpy(t, acc[r], (size_t)V * sizeof acc[r][0]);
            for (int j = 0; j < cols; j++) c[j] = accumulate ? c[j] + t[j] : t[j];
        }
    }
}

/* The rows past the last whole block of GK_ROWS (a variable-length step's rows are any
 * number): 3 as one block a column block, 1 or 2 over two column blocks at once where there
 * are two, since with GK_VECS vectors their few chains of FMAs wait on each other's latency
 * (a 1-row block took 3 times a row's share of a 4-row block's time). Each element's sum is
 * the same whichever block computes it. */
static inline __attribute__((always_inline)) GK_FN_ATTR void
GK(last_rows)(const int R, int n, int k, int runs, const int *len, const size_t *off,
              const REAL *a, size_t ars, size_t acs, const REAL *Bp, size_t ldb, REAL *C,
              size_t ldc, int accumulate)
{
    const int width = GK_VECS * GK_VL;
    int j0 = 0;
    if (R <= 2)
        for (; j0 + 2 * width <= n; j0 += 2 * width)
            GK(block)(R, 2 * GK_VECS, k, runs, len, off, a, ars, acs, Bp + j0, ldb, C + j0, ldc,
                      2 * width, accumulate);
    for (; j0 < n; j0 += width) {
        const int cols = n - j0 < width ? n - j0 : width;
        if (cols > GK_VL)
            GK(block)(R, GK_VECS, k, runs, len, off, a, ars, acs, Bp + j0, ldb, C + j0, ldc, cols,
                      accumulate);
        else
            GK(block)(R, 1, k, runs, len, off, a, ars, acs, Bp + j0, ldb, C + j0, ldc, cols,
                      accumulate);
    }
}

/* The product over whole blocks and the last rows, for gemm (runs 0) and gemm_runs. Inlined
 * into each, so that gemm's blocks keep the plain k loop alone: one body shared by both, the
 * choice made at run time, made the recurrent products 5-10% slower. */
static inline __attribute__((always_inline)) GK_FN_ATTR void
GK(gemm_any)(int m, int n, int k, int runs, const int *len, const size_t *off, const REAL *A,
             size_t ars, size_t acs, const REAL *Bp, size_t ldb, REAL *C, size_t ldc,
             int accumulate)
{
    const int width = GK_VECS * GK_VL;
    const int full = m - m % GK_ROWS; /* rows in whole blocks */
    /* Column blocks outside: the block's k x width slice of B stays in L1 across the rows. */
    for (int j0 = 0; j0 < n; j0 += width) {
        const int cols = n - j0 < width ? n - j0 : width;
        const int vecs = (cols + GK_VL - 1) / GK_VL;
        for (int i0 = 0; i0 < full; i0 += GK_ROWS) {
            const REAL *a = A + (size_t)i0 * ars;
            const REAL *b = Bp + j0;
            REAL *c = C + (size_t)i0 * ldc + j0;
            if (vecs == 2)
                GK(block)(GK_ROWS, 2, k, runs, len, off, a, ars, acs, b, ldb, c, ldc, cols,
                          accumulate);
            else
                GK(block)(GK_ROWS, 1, k, runs, len, off, a, ars, acs, b, ldb, c, ldc, cols,
                          accumulate);
        }
    }
    const REAL *a = A + (size_t)full * ars;
    REAL *c = C + (size_t)full * ldc;
    switch (m - full) {
    case 3:
        GK(last_rows)(3, n, k, runs, len, off, a, ars, acs, Bp, ldb, c, ldc, accumulate);
        break;
    case 2:
        GK(last_rows)(2, n, k, runs, len, off, a, ars, acs, Bp, ldb, c, ldc, accumulate);
        break;
    case 1:
        GK(last_rows)(1, n, k, runs, len, off, a, ars, acs, Bp, ldb, c, ldc, accumulate);
        break;
    default: break;
    }
}

static GK_FN_ATTR void GK(gemm)(int m, int n, int k, const REAL *A, size_t ars, size_t acs,
                                const REAL *Bp, size_t ldb, REAL *C, size_t ldc, int accumulate)
{
    GK(gemm_any)(m, n, k, 0, NULL, NULL, A, ars, acs, Bp, ldb, C, ldc, accumulate);
}

static GK_FN_ATTR void GK(gemm_runs)(int m, int n, int runs, const int *len, const size_t *off,
                                     const REAL *A, size_t ars, size_t acs, const REAL *Bp,
                                     size_t ldb, REAL *C, size_t ldc, int accumulate)
{
    GK(gemm_any)(m, n, 0, runs, len, off, A, ars, acs, Bp, ldb, C, ldc, accumulate);
}
#undef GK_RUN

/* The batch-1 products (and batches under 4 rows, one row at a time), where a BLAS GEMM with
 * one row packs the whole weight matrix at every step (OpenBLAS's Haswell kernels: 10x the
 * arithmetic's time) and the register blocks above would run three quarters empty. Both read
 * W (n, k) as stored, rows ldw apart, once. Sums run in a fixed order whatever the thread. */

/* y (n) = W x (k), or += when accumulate: a dot product per row of W, GK_MV_ROWS rows at a
 * time, each summed in vector lanes, then across the lanes by halving (lane l + lane l + w,
 * w = half the width, then half again: a fixed order, four dependent adds deep at 16 lanes
 * where summing the lanes in turn was sixteen), then the columns past the last whole vector.
 * Eight rows, where four had been: with one chain of FMAs per row, eight cover the FMA's
 * latency, and x's vector is loaded once per eight. */
#define GK_MV_ROWS 8

static inline __attribute__((always_inline)) GK_FN_ATTR REAL GK(lane_sum)(GK(vec) v)
{
    /* The same halving order on every width; the x86 widths through their extract and
     * shuffle instructions, since the compiler ran the loop below through memory (a matvec of
     * (512, 256) took 8.5 us instead of 6.1). */
#if GK_VBYTES == 64
    if (sizeof(REAL) == 4) {
        __m512 m;
        memcpy(&m, &v, sizeof m);
        return _mm512_reduce_add_ps(m);
    } else {
        __m512d m;
        memcpy(&m, &v, sizeof m);
        return _mm512_reduce_add_pd(m);
    }
#elif GK_VBYTES == 32
    if (sizeof(REAL) == 4) {
        __m256 m;
        memcpy(&m, &v, sizeof m);
        __m128 q = _mm_add_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        q = _mm_add_ps(q, _mm_movehl_ps(q, q));
        return _mm_cvtss_f32(_mm_add_ss(q, _mm_shuffle_ps(q, q, 1)));
    } else {
        __m256d m;
        memcpy(&m, &v, sizeof m);
        __m128d q = _mm_add_pd(_mm256_castpd256_pd128(m), _mm256_extractf128_pd(m, 1));
        return _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)));
    }
#else
    REAL t[GK_VL];
    memcpy(t, &v, sizeof t);
    for (int w = GK_VL / 2; w >= 1; w /= 2)
        for (int l = 0; l < w; l++) t[l] += t[l + w];
    return t[0];
#endif
}

static inline __attribute__((always_inline)) GK_FN_ATTR void
GK(matvec_rows)(const int R, int k, const REAL *W, size_t ldw, const REAL *x, REAL *y,
                int accumulate)
{
    GK(vec) acc[GK_MV_ROWS];
    for (int r = 0; r < R; r++) acc[r] = (GK(vec)){0};
    int p = 0;
    for (; p + GK_VL <= k; p += GK_VL) {
        GK(vec) xv;
        memcpy(&xv, x + p, sizeof xv);
        for (int r = 0; r < R; r++) {
            GK(vec) wv;
            memcpy(&wv, W + (size_t)r * ldw + p, sizeof wv);
            acc[r] += wv * xv;
        }
    }
    for (int r = 0; r < R; r++) {
        REAL sum = GK(lane_sum)(acc[r]);
        for (int q = p; q < k; q++) sum += W[(size_t)r * ldw + q] * x[q];
        y[r] = accumulate ? y[r] + sum : sum;
    }
}

static GK_FN_ATTR void GK(matvec)(int n, int k, const REAL *W, size_t ldw, const REAL *x,
                                  REAL *y, int accumulate)
{
    int i = 0;
    for (; i + GK_MV_ROWS <= n; i += GK_MV_ROWS)
        GK(matvec_rows)(GK_MV_ROWS, k, W + (size_t)i * ldw, ldw, x, y + i, accumulate);
    for (; i + 4 <= n; i += 4)
        GK(matvec_rows)(4, k, W + (size_t)i * ldw, ldw, x, y + i, accumulate);
    for (; i < n; i++) GK(matvec_rows)(1, k, W + (size_t)i * ldw, ldw, x, y + i, accumulate);
}

/* y (k) = x W (x of n elements), or += when accumulate: vectors of y's columns summed over
 * the rows of W in order, four vectors at a time, then one, then the columns past the last
 * whole vector. */
static inline __attribute__((always_inline)) GK_FN_ATTR void
GK(vecmat_cols)(const int V, int n, const REAL *W, size_t ldw, const REAL *x, REAL *y,
                int accumulate)
{
    GK(vec) acc[4];
    for (int v = 0; v < V; v++) acc[v] = (GK(vec)){0};
    for (int i = 0; i < n; i++) {
        const REAL xi = x[i];
        for (int v = 0; v < V; v++) {
            GK(vec) wv;
            memcpy(&wv, W + (size_t)i * ldw + v * GK_VL, sizeof wv);
            acc[v] += xi * wv;
        }
    }
    for (int v = 0; v < V; v++) {
        GK(vec) t = acc[v];
        if (accumulate) {
            GK(vec) old;
            memcpy(&old, y + v * GK_VL, sizeof old);
            t = old + t;
        }
        memcpy(y + v * GK_VL, &t, sizeof t);
    }
}

static GK_FN_ATTR void GK(vecmat)(int n, int k, const REAL *W, size_t ldw, const REAL *x,
                                  REAL *y, int accumulate)
{
    int p = 0;
    for (; p + 4 * GK_VL <= k; p += 4 * GK_VL) GK(vecmat_cols)(4, n, W + p, ldw, x, y + p, accumulate);
    for (; p + GK_VL <= k; p += GK_VL) GK(vecmat_cols)(1, n, W + p, ldw, x, y + p, accumulate);
    for (; p < k; p++) {
        REAL sum = 0;
        for (int i = 0; i < n; i++) sum += x[i] * W[(size_t)i * ldw + p];
        y[p] = accumulate ? y[p] + sum : sum;
    }
}

#undef GK_VL
#undef GK_MV_ROWS
#undef GK_ROWS
#undef GK_VECS
#undef GK_FN_ATTR
