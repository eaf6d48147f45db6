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
 * vector load of a row is whole and in bounds.
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

/* One block: rows R <= GK_ROWS, vectors V <= GK_VECS, both constants after inlining, so the
 * accumulators are registers. cols (<= V * GK_VL) columns of C are valid. */
static inline __attribute__((always_inline)) GK_FN_ATTR void
GK(block)(const int R, const int V, int k, const REAL *A, size_t ars, size_t acs,
          const REAL *Bp, size_t ldb, REAL *C, size_t ldc, int cols, int accumulate)
{
    GK(vec) acc[GK_ROWS][GK_VECS];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) acc[r][v] = (GK(vec)){0};
    for (int p = 0; p < k; p++) {
        GK(vec) b[GK_VECS];
        for (int v = 0; v < V; v++) memcpy(&b[v], Bp + p * ldb + v * GK_VL, sizeof b[v]);
        for (int r = 0; r < R; r++) {
            const REAL a = A[r * ars + p * acs];
            for (int v = 0; v < V; v++) acc[r][v] += a * b[v];
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
            REAL t[GK_VECS * GK_VL];
            memcpy(t, acc[r], (size_t)V * sizeof acc[r][0]);
            for (int j = 0; j < cols; j++) c[j] = accumulate ? c[j] + t[j] : t[j];
        }
    }
}

static GK_FN_ATTR void GK(gemm)(int m, int n, int k, const REAL *A, size_t ars, size_t acs,
                                const REAL *Bp, size_t ldb, REAL *C, size_t ldc, int accumulate)
{
    const int width = GK_VECS * GK_VL;
    /* Column blocks outside: the block's k x width slice of B stays in L1 across the rows. */
    for (int j0 = 0; j0 < n; j0 += width) {
        const int cols = n - j0 < width ? n - j0 : width;
        const int vecs = (cols + GK_VL - 1) / GK_VL;
        for (int i0 = 0; i0 < m; i0 += GK_ROWS) {
            const int rows = m - i0 < GK_ROWS ? m - i0 : GK_ROWS;
            const REAL *a = A + (size_t)i0 * ars;
            const REAL *b = Bp + j0;
            REAL *c = C + (size_t)i0 * ldc + j0;
/* Every (rows, vecs) pair gets its own constant-size copy of the block. */
#define GK_CASE(R, V) GK(block)(R, V, k, a, ars, acs, b, ldb, c, ldc, cols, accumulate)
            if (vecs == 2) {
                switch (rows) {
                case 4: GK_CASE(4, 2); break;
                case 3: GK_CASE(3, 2); break;
                case 2: GK_CASE(2, 2); break;
                default: GK_CASE(1, 2); break;
                }
            } else {
                switch (rows) {
                case 4: GK_CASE(4, 1); break;
                case 3: GK_CASE(3, 1); break;
                case 2: GK_CASE(2, 1); break;
                default: GK_CASE(1, 1); break;
                }
            }
#undef GK_CASE
        }
    }
}

#undef GK_VL
#undef GK_ROWS
#undef GK_VECS
#undef GK_FN_ATTR
