/*
 * The C tests of one dtype, written once: test_lstm.c includes this file twice, with REAL,
 * SUFFIX (f32 or f64), GEMM_FIELD (sgemm or dgemm) and TOL defined.
 *
 * T time steps, B batch, I input, H hidden, P projection (0: none), Ph = P or H, G = 4H,
 * N packed rows.
 */
#ifndef TEST_CASE_MACROS
#define TEST_CASE_MACROS
#define TCAT_(a, b) a##_##b
#define TCAT(a, b) TCAT_(a, b)
#define T_(name) TCAT(name, SUFFIX)
#define WEIGHTS TCAT(lstm_weights, SUFFIX)
#define GRADS TCAT(lstm_grads, SUFFIX)
/* What the core may not change: columns past Ph of a wider y. */
#define SENTINEL 7
#endif

/* A buffer of count elements, every one set to value (NaN: the core must write before it
 * reads). */
static REAL *T_(buffer)(pool *p, size_t count, REAL value)
{
    REAL *b = pool_alloc(p, count * sizeof(REAL));
    for (size_t i = 0; i < count; i++) b[i] = value;
    return b;
}

static REAL *T_(load)(FILE *f, pool *p, const char *name, size_t count)
{
    REAL *b = pool_alloc(p, count * sizeof(REAL));
    read_tensor(f, name, count, sizeof(REAL), b);
    return b;
}

/* Prints the max relative difference of actual (rows, cols; rows ld_actual apart) against
 * expected (rows, cols, contiguous) + offset, and counts a failure past TOL or on NaN. */
static void T_(compare)(const char *name, const REAL *actual, int ld_actual,
                        const REAL *expected, size_t rows, int cols, double offset)
{
    double error = 0, scale = 0;
    int nan = 0;
    for (size_t r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) {
            double e = (double)expected[r * cols + j] + offset;
            double diff = fabs((double)actual[r * ld_actual + j] - e);
            nan |= isnan(diff);
            error = diff > error ? diff : error;
            scale = fabs(e) > scale ? fabs(e) : scale;
        }
    double relative = scale > 0 ? error / scale : error;
    int ok = !nan && relative <= TOL;
    if (ok) printf(" %s %.1e", name, relative);
    else printf(" FAIL(%s %.1e%s)", name, relative, nan ? " NaN" : "");
    failures += !ok;
}

/* Counts a failure unless every element of the (rows, cols) block, rows ld apart, is value. */
static void T_(expect_untouched)(const char *name, const REAL *a, int ld, size_t rows, int cols,
                                 REAL value)
{
    int ok = 1;
    for (size_t r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) ok &= a[r * ld + j] == value;
    printf(ok ? " %s untouched" : " FAIL(%s written)", name);
    failures += !ok;
}

static void T_(run_case)(FILE *f, const case_header *h)
{
    pool p = {0};
    const int T = h->T, B = h->B, I = h->I, H = h->H, P = h->P, Ph = P ? P : H, G = 4 * H;
    int *batch_sizes = NULL;
    if (h->has_lengths) {
        batch_sizes = pool_alloc(&p, (size_t)T * sizeof(int));
        read_tensor(f, "batch_sizes", (size_t)T, sizeof(int), batch_sizes);
    }
    const lstm_dims d = {T, B, I, H, P, h->reverse, batch_sizes};
    size_t N = 0;
    for (int t = 0; t < T; t++) N += (size_t)(batch_sizes ? batch_sizes[t] : B);
    expect_status("lstm_check_dims", lstm_check_dims(&d), LSTM_OK);
    if (lstm_rows(&d) != N || lstm_cache_size(&d) != N * (size_t)(G + H)) {
        printf("FAIL lstm_rows %zu or lstm_cache_size %zu, expected %zu and %zu\n",
               lstm_rows(&d), lstm_cache_size(&d), N, N * (size_t)(G + H));
        failures++;
    }

    /* The inputs, then the expected values, in file order. */
    const REAL *x = T_(load)(f, &p, "x", N * I);
    const REAL *w_ih = T_(load)(f, &p, "w_ih", (size_t)G * I);
    const REAL *w_hh = T_(load)(f, &p, "w_hh", (size_t)G * Ph);
    const REAL *b_ih = h->has_bias ? T_(load)(f, &p, "b_ih", G) : NULL;
    const REAL *b_hh = h->has_bias ? T_(load)(f, &p, "b_hh", G) : NULL;
    const REAL *w_hr = P ? T_(load)(f, &p, "w_hr", (size_t)P * H) : NULL;
    const REAL *h0 = h->has_state ? T_(load)(f, &p, "h0", (size_t)B * Ph) : NULL;
    const REAL *c0 = h->has_state ? T_(load)(f, &p, "c0", (size_t)B * H) : NULL;
    const REAL *y_ref = T_(load)(f, &p, "y", N * Ph);
    const REAL *h_n_ref = T_(load)(f, &p, "h_n", (size_t)B * Ph);
    const REAL *c_n_ref = T_(load)(f, &p, "c_n", (size_t)B * H);
    const REAL *dy_ref = h->dy_null ? NULL : T_(load)(f, &p, "dy", N * Ph);
    const REAL *dh_n = h->has_dstate ? T_(load)(f, &p, "dh_n", (size_t)B * Ph) : NULL;
    const REAL *dc_n = h->has_dstate ? T_(load)(f, &p, "dc_n", (size_t)B * H) : NULL;
    const REAL *dx_ref = T_(load)(f, &p, "dx", N * I);
    const REAL *dh0_ref = T_(load)(f, &p, "dh0", (size_t)B * Ph);
    const REAL *dc0_ref = T_(load)(f, &p, "dc0", (size_t)B * H);
    const REAL *dw_ih_ref = T_(load)(f, &p, "dw_ih", (size_t)G * I);
    const REAL *dw_hh_ref = T_(load)(f, &p, "dw_hh", (size_t)G * Ph);
    const REAL *db_ih_ref = h->has_bias ? T_(load)(f, &p, "db_ih", G) : NULL;
    const REAL *db_hh_ref = h->has_bias ? T_(load)(f, &p, "db_hh", G) : NULL;
    const REAL *dw_hr_ref = P ? T_(load)(f, &p, "dw_hr", (size_t)P * H) : NULL;

    /* The naive BLAS runs in its calling thread: with the core's threads on, say so, so that
     * the calls that split their BLAS products over those threads do (the input projection
     * of a forward split by hidden units, the backward's products in pieces). */
    const lstm_blas blas = {sgemm_, dgemm_, lstm_get_num_threads() > 1};
    const WEIGHTS w = {w_ih, w_hh, b_ih, b_hh, w_hr};
    REAL *h_n = T_(buffer)(&p, (size_t)B * Ph, NAN), *c_n = T_(buffer)(&p, (size_t)B * H, NAN);
    int status;

    /* Inference: no cache, y rows exactly Ph wide. */
    REAL *y = T_(buffer)(&p, N * Ph, NAN);
    REAL *work = T_(buffer)(&p, lstm_forward_workspace_size(&d, 0), NAN);
    status = T_(lstm_forward)(&blas, y, Ph, h_n, c_n, NULL, work, x, h0, c0, &w, &d);
    expect_status("inference forward", status, LSTM_OK);
    printf("  inference:");
    T_(compare)("y", y, Ph, y_ref, N, Ph, 0);
    T_(compare)("h_n", h_n, Ph, h_n_ref, B, Ph, 0);
    T_(compare)("c_n", c_n, H, c_n_ref, B, H, 0);
    printf("\n");

    /* Training and backward, with y and dy wider than Ph and gradients that already hold
     * 0.25 (backward adds into them). */
    const int ldy = Ph + 3, lddy = Ph + 2;
    REAL *y_wide = T_(buffer)(&p, N * ldy, SENTINEL);
    REAL *cache = T_(buffer)(&p, lstm_cache_size(&d), NAN);
    REAL *work_train = T_(buffer)(&p, lstm_forward_workspace_size(&d, 1), NAN);
    for (size_t i = 0; i < (size_t)B * Ph; i++) h_n[i] = NAN;
    for (size_t i = 0; i < (size_t)B * H; i++) c_n[i] = NAN;
    status = T_(lstm_forward)(&blas, y_wide, ldy, h_n, c_n, cache, work_train, x, h0, c0, &w, &d);
    expect_status("training forward", status, LSTM_OK);
    printf("  training: ");
    T_(compare)("y", y_wide, ldy, y_ref, N, Ph, 0);
    T_(expect_untouched)("y[:, Ph:]", y_wide + Ph, ldy, N, ldy - Ph, SENTINEL);
    T_(compare)("h_n", h_n, Ph, h_n_ref, B, Ph, 0);
    T_(compare)("c_n", c_n, H, c_n_ref, B, H, 0);
    printf("\n");

    REAL *dy = NULL;
    if (dy_ref) {
        dy = T_(buffer)(&p, N * lddy, NAN);
        for (size_t r = 0; r < N; r++) memcpy(dy + r * lddy, dy_ref + r * Ph, Ph * sizeof(REAL));
    }
    REAL *dx = T_(buffer)(&p, N * I, NAN);
    REAL *dh0 = T_(buffer)(&p, (size_t)B * Ph, NAN), *dc0 = T_(buffer)(&p, (size_t)B * H, NAN);
    const GRADS g = {
        T_(buffer)(&p, (size_t)G * I, 0.25), T_(buffer)(&p, (size_t)G * Ph, 0.25),
        h->has_bias ? T_(buffer)(&p, G, 0.25) : NULL, h->has_bias ? T_(buffer)(&p, G, 0.25) : NULL,
        P ? T_(buffer)(&p, (size_t)P * H, 0.25) : NULL};
    /* Without a projection the workspace is empty and NULL is allowed. */
    const size_t bwork_size = lstm_backward_workspace_size(&d);
    REAL *bwork = bwork_size ? T_(buffer)(&p, bwork_size, NAN) : NULL;
    status = T_(lstm_backward)(&blas, dx, 0, dh0, dc0, &g, bwork, dy, lddy, dh_n, dc_n, cache,
                               y_wide, ldy, x, h0, c0, &w, &d);
    expect_status("backward", status, LSTM_OK);
    printf("  backward: ");
    T_(compare)("dx", dx, I, dx_ref, N, I, 0);
    T_(compare)("dh0", dh0, Ph, dh0_ref, B, Ph, 0);
    T_(compare)("dc0", dc0, H, dc0_ref, B, H, 0);
    T_(compare)("dw_ih", g.dw_ih, I, dw_ih_ref, G, I, 0.25);
    T_(compare)("dw_hh", g.dw_hh, Ph, dw_hh_ref, G, Ph, 0.25);
    if (h->has_bias) {
        T_(compare)("db_ih", g.db_ih, G, db_ih_ref, 1, G, 0.25);
        T_(compare)("db_hh", g.db_hh, G, db_hh_ref, 1, G, 0.25);
    }
    if (P) T_(compare)("dw_hr", g.dw_hr, H, dw_hr_ref, P, H, 0.25);
    printf("\n");

    /* accumulate_dx adds into dx (which holds 1); NULL gradient entries are skipped. A second
     * training forward, since backward consumed the cache. */
    const GRADS no_grads = {NULL, NULL, NULL, NULL, NULL};
    for (size_t i = 0; i < lstm_cache_size(&d); i++) cache[i] = NAN;
    status = T_(lstm_forward)(&blas, y_wide, ldy, h_n, c_n, cache, work_train, x, h0, c0, &w, &d);
    expect_status("training forward (accumulate_dx)", status, LSTM_OK);
    for (size_t i = 0; i < N * I; i++) dx[i] = 1;
    status = T_(lstm_backward)(&blas, dx, 1, dh0, dc0, &no_grads, bwork, dy, lddy, dh_n, dc_n,
                               cache, y_wide, ldy, x, h0, c0, &w, &d);
    expect_status("backward (accumulate_dx)", status, LSTM_OK);
    printf("  accumulate_dx, no weight grads:");
    T_(compare)("dx", dx, I, dx_ref, N, I, 1);
    T_(compare)("dh0", dh0, Ph, dh0_ref, B, Ph, 0);
    T_(compare)("dc0", dc0, H, dc0_ref, B, H, 0);
    printf("\n");

    /* dx == NULL skips dx. */
    status = T_(lstm_forward)(&blas, y_wide, ldy, h_n, c_n, cache, work_train, x, h0, c0, &w, &d);
    expect_status("training forward (dx NULL)", status, LSTM_OK);
    for (size_t i = 0; i < (size_t)B * Ph; i++) dh0[i] = NAN;
    for (size_t i = 0; i < (size_t)B * H; i++) dc0[i] = NAN;
    status = T_(lstm_backward)(&blas, NULL, 0, dh0, dc0, &no_grads, bwork, dy, lddy, dh_n, dc_n,
                               cache, y_wide, ldy, x, h0, c0, &w, &d);
    expect_status("backward (dx NULL)", status, LSTM_OK);
    printf("  dx NULL:  ");
    T_(compare)("dh0", dh0, Ph, dh0_ref, B, Ph, 0);
    T_(compare)("dc0", dc0, H, dc0_ref, B, H, 0);
    printf("\n");

    /* Streaming: one call per step with T = 1 and h_n/c_n aliasing h0/c0 gives the outputs of
     * the whole sequence. At step t the b_t longest sequences are the first b_t state rows. */
    if (!h->reverse) {
        REAL *h_state = T_(buffer)(&p, (size_t)B * Ph, 0);
        REAL *c_state = T_(buffer)(&p, (size_t)B * H, 0);
        if (h0) memcpy(h_state, h0, (size_t)B * Ph * sizeof(REAL));
        if (c0) memcpy(c_state, c0, (size_t)B * H * sizeof(REAL));
        REAL *y_steps = T_(buffer)(&p, N * Ph, NAN);
        lstm_dims step = {1, B, I, H, P, 0, NULL};
        REAL *work_step = T_(buffer)(&p, lstm_forward_workspace_size(&step, 0), NAN);
        size_t row = 0;
        for (int t = 0; t < T; t++) {
            step.batch = batch_sizes ? batch_sizes[t] : B;
            if (step.batch == 0) break; /* no sequence is this long */
            status = T_(lstm_forward)(&blas, y_steps + row * Ph, Ph, h_state, c_state, NULL,
                                      work_step, x + row * I, h_state, c_state, &w, &step);
            expect_status("streaming forward", status, LSTM_OK);
            row += (size_t)step.batch;
        }
        printf("  streaming:");
        T_(compare)("y", y_steps, Ph, y_ref, N, Ph, 0);
        T_(compare)("h_n", h_state, Ph, h_n_ref, B, Ph, 0);
        T_(compare)("c_n", c_state, H, c_n_ref, B, H, 0);
        printf("\n");
    }
    pool_free(&p);
}

/* The arguments of one forward call, so that each error check changes one of them. */
typedef struct T_(forward_args) {
    const lstm_blas *blas;
    REAL *y;
    int ldy;
    REAL *h_n, *c_n, *cache, *work;
    const REAL *x, *h0, *c0;
    const WEIGHTS *w;
    const lstm_dims *d;
} T_(forward_args);

typedef struct T_(backward_args) {
    const lstm_blas *blas;
    REAL *dx;
    int accumulate_dx;
    REAL *dh0, *dc0;
    const GRADS *g;
    REAL *work;
    const REAL *dy;
    int lddy;
    const REAL *dh_n, *dc_n;
    REAL *cache;
    const REAL *y;
    int ldy;
    const REAL *x, *h0, *c0;
    const WEIGHTS *w;
    const lstm_dims *d;
} T_(backward_args);

static int T_(call_forward)(const T_(forward_args) *a)
{
    return T_(lstm_forward)(a->blas, a->y, a->ldy, a->h_n, a->c_n, a->cache, a->work, a->x,
                            a->h0, a->c0, a->w, a->d);
}

static int T_(call_backward)(const T_(backward_args) *a)
{
    return T_(lstm_backward)(a->blas, a->dx, a->accumulate_dx, a->dh0, a->dc0, a->g, a->work,
                             a->dy, a->lddy, a->dh_n, a->dc_n, a->cache, a->y, a->ldy, a->x,
                             a->h0, a->c0, a->w, a->d);
}

/* Runs a copy of base_<kind> (forward or backward) whose dims `dd` and weights `ww` are
 * copies too, after `change` (statements on a, dd, ww), and expects status `code`. */
#define EXPECT(kind, what, change, code)                                                     \
    do {                                                                                     \
        T_(kind##_args) a = base_##kind;                                                     \
        lstm_dims dd = *a.d;                                                                 \
        WEIGHTS ww = *a.w;                                                                   \
        a.d = &dd;                                                                           \
        a.w = &ww;                                                                           \
        change;                                                                              \
        expect_status(#kind ", " what, T_(call_##kind)(&a), code);                           \
        checks++;                                                                            \
    } while (0)

/* Every status code of forward and backward, on a small valid call with one thing broken. */
static void T_(check_errors)(void)
{
    pool p = {0};
    enum { T = 3, B = 2, I = 3, H = 4, P = 2, G = 4 * H, N = T * B };
    static const int bs_increasing[T] = {2, 1, 2}, bs_first[T] = {1, 1, 1},
                     bs_negative[T] = {2, -1, 0}, bs_too_big[T] = {2, 3, 1};
    const lstm_dims d = {T, B, I, H, P, 0, NULL};
    const lstm_blas blas = {sgemm_, dgemm_, 0};
    lstm_blas other_dtype_only = blas;
    other_dtype_only.GEMM_FIELD = NULL;
    const WEIGHTS w = {T_(buffer)(&p, (size_t)G * I, 0.1), T_(buffer)(&p, (size_t)G * P, 0.1),
                       T_(buffer)(&p, G, 0.1), T_(buffer)(&p, G, 0.1),
                       T_(buffer)(&p, (size_t)P * H, 0.1)};
    const GRADS g = {T_(buffer)(&p, (size_t)G * I, 0), T_(buffer)(&p, (size_t)G * P, 0),
                     T_(buffer)(&p, G, 0), T_(buffer)(&p, G, 0), T_(buffer)(&p, (size_t)P * H, 0)};
    REAL *x = T_(buffer)(&p, N * I, 0.5), *y = T_(buffer)(&p, N * P, 0);
    REAL *cache = T_(buffer)(&p, lstm_cache_size(&d), 0);
    const T_(forward_args) base_forward = {
        &blas, y, P, T_(buffer)(&p, B * P, 0), T_(buffer)(&p, B * H, 0), cache,
        T_(buffer)(&p, lstm_forward_workspace_size(&d, 1), 0), x, NULL, NULL, &w, &d};
    const T_(backward_args) base_backward = {
        &blas, T_(buffer)(&p, N * I, 0), 0, T_(buffer)(&p, B * P, 0), T_(buffer)(&p, B * H, 0),
        &g, T_(buffer)(&p, lstm_backward_workspace_size(&d), 0), T_(buffer)(&p, N * P, 0.1), P,
        NULL, NULL, cache, y, P, x, NULL, NULL, &w, &d};
    int checks = 0, failures_before = failures;

    EXPECT(forward, "valid call (sets up the cache)", (void)0, LSTM_OK);
    EXPECT(forward, "dims NULL", a.d = NULL, LSTM_ERR_NULL_ARGUMENT);
    EXPECT(forward, "T = 0", dd.time_steps = 0, LSTM_ERR_BAD_SIZE);
    EXPECT(forward, "B = 0", dd.batch = 0, LSTM_ERR_BAD_SIZE);
    EXPECT(forward, "I = 0", dd.input_size = 0, LSTM_ERR_BAD_SIZE);
    EXPECT(forward, "H = 0", dd.hidden_size = 0, LSTM_ERR_BAD_SIZE);
    EXPECT(forward, "P = -1", dd.proj_size = -1, LSTM_ERR_BAD_SIZE);
    EXPECT(forward, "G past INT_MAX", dd.hidden_size = (1 << 29) + 1, LSTM_ERR_BAD_SIZE);
    EXPECT(forward, "T*B past INT_MAX", (dd.time_steps = 1 << 16, dd.batch = 1 << 15),
           LSTM_ERR_BAD_SIZE);
    EXPECT(forward, "batch_sizes increasing", dd.batch_sizes = bs_increasing,
           LSTM_ERR_BAD_BATCH_SIZES);
    EXPECT(forward, "batch_sizes[0] != B", dd.batch_sizes = bs_first, LSTM_ERR_BAD_BATCH_SIZES);
    EXPECT(forward, "batch_sizes negative", dd.batch_sizes = bs_negative,
           LSTM_ERR_BAD_BATCH_SIZES);
    EXPECT(forward, "batch_sizes past B", dd.batch_sizes = bs_too_big, LSTM_ERR_BAD_BATCH_SIZES);
    EXPECT(forward, "blas NULL", a.blas = NULL, LSTM_ERR_NO_BLAS);
    EXPECT(forward, "blas without this dtype's GEMM", a.blas = &other_dtype_only,
           LSTM_ERR_NO_BLAS);
    EXPECT(forward, "weights NULL", a.w = NULL, LSTM_ERR_NULL_ARGUMENT);
    EXPECT(forward, "w_ih NULL", ww.w_ih = NULL, LSTM_ERR_NULL_ARGUMENT);
    EXPECT(forward, "w_hh NULL", ww.w_hh = NULL, LSTM_ERR_NULL_ARGUMENT);
    EXPECT(forward, "w_hr NULL with P > 0", ww.w_hr = NULL, LSTM_ERR_NULL_ARGUMENT);
    EXPECT(forward, "y NULL", a.y = NULL, LSTM_ERR_NULL_ARGUMENT);
    EXPECT(forward, "h_n NULL", a.h_n = NULL, LSTM_ERR_NULL_ARGUMENT);
    EXPECT(forward, "c_n NULL", a.c_n = NULL, LSTM_ERR_NULL_ARGUMENT);
    EXPECT(forward, "x NULL", a.x = NULL, LSTM_ERR_NULL_ARGUMENT);
    EXPECT(forward, "work NULL", a.work = NULL, LSTM_ERR_NULL_ARGUMENT);
    EXPECT(forward, "ldy < Ph", a.ldy = P - 1, LSTM_ERR_BAD_LEADING_DIM);
    EXPECT(forward, "no biases", (ww.b_ih = NULL, ww.b_hh = NULL), LSTM_OK);

    EXPECT(backward, "valid call", (void)0, LSTM_OK);
    EXPECT(backward, "dims NULL", a.d = NULL, LSTM_ERR_NULL_ARGUMENT);
    EXPECT(backward, "H = 0", dd.hidden_size = 0, LSTM_ERR_BAD_SIZE);
    EXPECT(backward, "batch_sizes increasing", dd.batch_sizes = bs_increasing,
           LSTM_ERR_BAD_BATCH_SIZES);
    EXPECT(backward, "blas NULL", a.blas = NULL, LSTM_ERR_NO_BLAS);
    EXPECT(backward, "blas without this dtype's GEMM", a.blas = &other_dtype_only,
           LSTM_ERR_NO_BLAS);
    EXPECT(backward, "weights NULL", a.w = NULL, LSTM_ERR_NULL_ARGUMENT);
    EXPECT(backward, "w_hr NULL with P > 0", ww.w_hr = NULL, LSTM_ERR_NULL_ARGUMENT);
    EXPECT(backward, "dh0 NULL", a.dh0 = NULL, LSTM_ERR_NULL_ARGUMENT);
    EXPECT(backward, "dc0 NULL", a.dc0 = NULL, LSTM_ERR_NULL_ARGUMENT);
    EXPECT(backward, "grads NULL", a.g = NULL, LSTM_ERR_NULL_ARGUMENT);
    EXPECT(backward, "cache NULL", a.cache = NULL, LSTM_ERR_NULL_ARGUMENT);
    EXPECT(backward, "y NULL", a.y = NULL, LSTM_ERR_NULL_ARGUMENT);
    EXPECT(backward, "x NULL", a.x = NULL, LSTM_ERR_NULL_ARGUMENT);
    EXPECT(backward, "work NULL with P > 0", a.work = NULL, LSTM_ERR_NULL_ARGUMENT);
    EXPECT(backward, "ldy < Ph", a.ldy = P - 1, LSTM_ERR_BAD_LEADING_DIM);
    EXPECT(backward, "lddy < Ph", a.lddy = P - 1, LSTM_ERR_BAD_LEADING_DIM);
    EXPECT(backward, "lddy unused when dy is NULL", (a.dy = NULL, a.lddy = 0), LSTM_OK);
    EXPECT(backward, "dx NULL", a.dx = NULL, LSTM_OK);

    printf("%-4s errors %s: %d status checks\n", failures > failures_before ? "FAIL" : "ok",
           STR(SUFFIX), checks);
    pool_free(&p);
}
#undef EXPECT

/* The forward and backward of a batch under 8 rows with H >= 128 split each step by hidden
 * units over the core's threads (lstm.c, unit_chunks), each chunk projecting its own input
 * columns, and the backward's products after its loop running in pieces, when BLAS runs in its
 * calling thread. reference.bin holds no such case (its weights alone would take
 * megabytes), so this checks the split against itself: 3 threads with the per-chunk projection
 * give the bits of 1 thread with the projection as one call (the naive BLAS sums each element
 * in the same order whatever the call), in inference and training, in both directions, with
 * and without an initial state, and at T = 1, where every chunk reads h0 as the others finish.
 * It also puts that path under the sanitizers and valgrind. (The Python tests compare it with
 * the NumPy reference.) */
static void T_(check_unit_split)(void)
{
    enum { I = 5, H = 130, G = 4 * H };
    int checks = 0, failures_before = failures;
    unsigned seed = 12345;
    static const int batches[] = {1, 2, 5}; /* matrix-vector kernels, and the core's GEMM */
    for (int T = 1; T <= 3; T += 2)
        for (int bi = 0; bi < 3; bi++)
            for (int variant = 0; variant < 8; variant++) {
                const int B = batches[bi];
                const int reverse = variant & 1, state = variant >> 1 & 1, training = variant >> 2;
                const lstm_dims d = {T, B, I, H, 0, reverse, NULL};
                const size_t N = (size_t)T * B;
                pool p = {0};
                REAL *values[7];
                const size_t counts[7] = {(size_t)G * I, (size_t)G * H, G, G, N * I,
                                          (size_t)B * H, (size_t)B * H};
                for (int v = 0; v < 7; v++) {
                    values[v] = T_(buffer)(&p, counts[v], 0);
                    for (size_t i = 0; i < counts[v]; i++) {
                        seed = seed * 1103515245u + 12345u;
                        values[v][i] = (REAL)((seed >> 8) & 0xffff) / 65536 - (REAL)0.5;
                    }
                }
                const WEIGHTS w = {values[0], values[1], values[2], values[3], NULL};
                REAL *y[2], *h_n[2], *c_n[2], *cache[2], *grad_buffers[2][7];
                REAL *dy = T_(buffer)(&p, N * H, (REAL)0.25);
                /* the backward's outputs: dx, dh0, dc0, then dW_ih, dW_hh, db_ih, db_hh */
                const size_t grad_counts[7] = {N * I, (size_t)B * H, (size_t)B * H,
                                               (size_t)G * I, (size_t)G * H, G, G};
                for (int run = 0; run < 2; run++) {
                    expect_status("lstm_set_num_threads", lstm_set_num_threads(run ? 3 : 1),
                                  LSTM_OK);
                    const lstm_blas blas = {sgemm_, dgemm_, run};
                    y[run] = T_(buffer)(&p, N * H, NAN);
                    h_n[run] = T_(buffer)(&p, (size_t)B * H, NAN);
                    c_n[run] = T_(buffer)(&p, (size_t)B * H, NAN);
                    cache[run] = training ? T_(buffer)(&p, lstm_cache_size(&d), NAN) : NULL;
                    REAL *work = T_(buffer)(&p, lstm_forward_workspace_size(&d, training), NAN);
                    expect_status("unit-split forward",
                                  T_(lstm_forward)(&blas, y[run], H, h_n[run], c_n[run],
                                                   cache[run], work, values[4],
                                                   state ? values[5] : NULL,
                                                   state ? values[6] : NULL, &w, &d),
                                  LSTM_OK);
                    if (!training) continue;
                    REAL **gb = grad_buffers[run];
                    for (int v = 0; v < 7; v++)
                        gb[v] = T_(buffer)(&p, grad_counts[v], v < 3 ? NAN : 0);
                    const GRADS g = {gb[3], gb[4], gb[5], gb[6], NULL};
                    REAL *back_work = T_(buffer)(&p, lstm_backward_workspace_size(&d), NAN);
                    expect_status("unit-split backward",
                                  T_(lstm_backward)(&blas, gb[0], 0, gb[1], gb[2], &g, back_work,
                                                    dy, H, state ? values[5] : NULL,
                                                    state ? values[6] : NULL, cache[run],
                                                    y[run], H, values[4],
                                                    state ? values[5] : NULL,
                                                    state ? values[6] : NULL, &w, &d),
                                  LSTM_OK);
                }
                const int same = memcmp(y[0], y[1], N * H * sizeof(REAL)) == 0
                                 && memcmp(h_n[0], h_n[1], (size_t)B * H * sizeof(REAL)) == 0
                                 && memcmp(c_n[0], c_n[1], (size_t)B * H * sizeof(REAL)) == 0
                                 && (!training || memcmp(cache[0], cache[1],
                                                         lstm_cache_size(&d) * sizeof(REAL)) == 0);
                int same_grads = 1;
                for (int v = 0; training && v < 7; v++)
                    same_grads &= memcmp(grad_buffers[0][v], grad_buffers[1][v],
                                         grad_counts[v] * sizeof(REAL)) == 0;
                if (!same || !same_grads) {
                    printf("FAIL unit split " STR(SUFFIX) ": T=%d B=%d%s%s%s differs between "
                           "1 and 3 threads%s\n", T, B, reverse ? " reverse" : "",
                           state ? " h0/c0" : "", training ? " training" : "",
                           same ? " (backward)" : "");
                    failures++;
                }
                checks++;
                pool_free(&p);
            }
    expect_status("lstm_set_num_threads", lstm_set_num_threads(1), LSTM_OK);
    printf("%s unit split " STR(SUFFIX) ": %d cases, 1 and 3 threads the same bits\n",
           failures == failures_before ? "ok  " : "FAIL", checks);
}
