/*
 * The core's own product kernels (lstm_gemm_kernel.h) against a naive product in double, for
 * every instruction-set instance this CPU can run, both dtypes: the small GEMM over row counts
 * 1-11 (whole 4-row blocks and every remainder), column counts around the vector and block
 * widths, with and without accumulation, the same with k in runs (gemm_runs), and the
 * matrix-vector and vector-matrix kernels. The
 * LSTM tests reach only the instance the dispatcher picks on the machine that runs them; this
 * reaches the others too (valgrind, which hides AVX-512, runs the AVX2 instance).
 *
 * Also the float32 forward gate pass on AVX-512 intrinsics (lstm_gates_avx512.h) against the
 * generic one, bit for bit, over hidden sizes with and without a partial last block and
 * pre-activations from random values to NaN, infinities and the clamps' edges.
 *
 * It includes lstm.c, the kernels being internal to it. Exits 1 on any mismatch.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "lstm.c"

static int failures;
static unsigned seed = 1;

static double next_value(void)
{
    seed = seed * 1103515245u + 12345u;
    return (double)((seed >> 8) & 1023) / 512 - 1;
}

/* |actual - want| within what summing k products in another order may change, in the dtype. */
static int close_enough(double actual, double want, double magnitude, double eps)
{
    return fabs(actual - want) <= 8 * eps * (magnitude + fabs(want)) + 1e-300;
}

#define DEFINE_CHECKS(REAL_T, SUF, EPS)                                                          \
    typedef void (*gemm_fn_##SUF)(int, int, int, const REAL_T *, size_t, size_t,                \
                                  const REAL_T *, size_t, REAL_T *, size_t, int);               \
    typedef void (*vec_fn_##SUF)(int, int, const REAL_T *, size_t, const REAL_T *, REAL_T *,    \
                                 int);                                                          \
    typedef void (*runs_fn_##SUF)(int, int, int, const int *, const size_t *, const REAL_T *,   \
                                  size_t, size_t, const REAL_T *, size_t, REAL_T *, size_t,     \
                                  int);                                                         \
                                                                                                 \
    /* Elements of C (m, ldc) that differ from C0 (A B) or, with acc, C0 + A B, or past column  \
     * n from C0; A(i, p) = A[i * ars + a_col[p]], B packed (k, ldb). */                         \
    static int bad_products_##SUF(int m, int n, int k, int ldc, int acc, const REAL_T *A,      \
                                  size_t ars, const size_t *a_col, const REAL_T *Bp,            \
                                  size_t ldb, const REAL_T *C, const REAL_T *C0)                \
    {                                                                                            \
        int bad = 0;                                                                             \
        for (int i = 0; i < m; i++)                                                              \
            for (int j = 0; j < ldc; j++) {                                                      \
                double want = C0[i * ldc + j], sum = 0, magnitude = 0;                           \
                for (int p = 0; p < k && j < n; p++) {                                           \
                    const double a = A[i * ars + a_col[p]];                                      \
                    sum += a * Bp[p * ldb + j];                                                  \
                    magnitude += fabs(a * Bp[p * ldb + j]);                                      \
                }                                                                                \
                if (j < n) want = acc ? want + sum : sum;                                        \
                if (j < n ? !close_enough(C[i * ldc + j], want, magnitude, EPS)                  \
                          : C[i * ldc + j] != C0[i * ldc + j])                                   \
                    bad++;                                                                       \
            }                                                                                    \
        return bad;                                                                              \
    }                                                                                            \
                                                                                                 \
    static void check_gemm_##SUF(const char *isa, gemm_fn_##SUF gemm)                           \
    {                                                                                            \
        static const int widths[] = {1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 96, 130};          \
        int bad = 0;                                                                             \
        for (int m = 1; m <= 11; m++)                                                            \
            for (int wi = 0; wi < (int)(sizeof widths / sizeof widths[0]); wi++)                \
                for (int k = 1; k <= 70; k += 23)                                                \
                    for (int acc = 0; acc < 2; acc++) {                                          \
                        const int n = widths[wi], ldc = n + 3; /* columns past n: untouched */   \
                        const size_t ldb = lstm_gemm_padded((size_t)n);                          \
                        REAL_T *A = malloc(sizeof(REAL_T) * m * k);                              \
                        REAL_T *Bp = calloc(k * ldb, sizeof(REAL_T));                            \
                        REAL_T *C = malloc(sizeof(REAL_T) * m * ldc);                            \
                        REAL_T *C0 = malloc(sizeof(REAL_T) * m * ldc);                           \
                        for (int i = 0; i < m * k; i++) A[i] = (REAL_T)next_value();            \
                        for (int p = 0; p < k; p++)                                              \
                            for (int j = 0; j < n; j++) Bp[p * ldb + j] = (REAL_T)next_value();  \
                        for (int i = 0; i < m * ldc; i++) C[i] = C0[i] = (REAL_T)next_value();  \
                        gemm(m, n, k, A, (size_t)k, 1, Bp, ldb, C, (size_t)ldc, acc);           \
                        size_t a_col[70];                                                        \
                        for (int p = 0; p < k; p++) a_col[p] = (size_t)p;                        \
                        bad += bad_products_##SUF(m, n, k, ldc, acc, A, (size_t)k, a_col, Bp,   \
                                                  ldb, C, C0);                                   \
                        free(A), free(Bp), free(C), free(C0);                                    \
                    }                                                                            \
        printf("%-4s gemm " #SUF " %s: rows 1-11, widths 1-130, with and without accumulation\n", \
               bad ? "FAIL" : "ok", isa);                                                       \
        failures += bad != 0;                                                                    \
    }                                                                                            \
                                                                                                 \
    /* k in runs, A read as a transpose (ars 1, as dG^T is) with its runs' columns apart: run s \
     * of len[s] columns starts 5 columns after run s - 1 ends. */                               \
    static void check_gemm_runs_##SUF(const char *isa, runs_fn_##SUF gemm_runs)                 \
    {                                                                                            \
        static const int widths[] = {1, 16, 17, 32, 33, 65};                                    \
        static const int lens[4][4] = {{1}, {4, 7}, {2, 5, 3}, {9, 1, 6, 2}};                   \
        int bad = 0;                                                                             \
        for (int m = 1; m <= 11; m++)                                                            \
            for (int wi = 0; wi < (int)(sizeof widths / sizeof widths[0]); wi++)                \
                for (int runs = 1; runs <= 4; runs++)                                            \
                    for (int acc = 0; acc < 2; acc++) {                                          \
                        const int n = widths[wi], ldc = n + 3, acs = m + 2;                      \
                        const size_t ldb = lstm_gemm_padded((size_t)n);                          \
                        int k = 0, col = 0;                                                      \
                        size_t off[4], a_col[32]; /* A's column of each row of B, as offsets */  \
                        for (int s = 0; s < runs; s++) {                                         \
                            off[s] = (size_t)col * acs;                                          \
                            for (int q = 0; q < lens[runs - 1][s]; q++)                          \
                                a_col[k++] = (size_t)(col + q) * acs;                            \
                            col += lens[runs - 1][s] + 5;                                        \
                        }                                                                        \
                        REAL_T *A = malloc(sizeof(REAL_T) * col * acs);                          \
                        REAL_T *Bp = calloc(k * ldb, sizeof(REAL_T));                            \
                        REAL_T *C = malloc(sizeof(REAL_T) * m * ldc);                            \
                        REAL_T *C0 = malloc(sizeof(REAL_T) * m * ldc);                           \
                        for (int i = 0; i < col * acs; i++) A[i] = (REAL_T)next_value();        \
                        for (int p = 0; p < k; p++)                                              \
                            for (int j = 0; j < n; j++) Bp[p * ldb + j] = (REAL_T)next_value();  \
                        for (int i = 0; i < m * ldc; i++) C[i] = C0[i] = (REAL_T)next_value();  \
                        gemm_runs(m, n, runs, lens[runs - 1], off, A, 1, (size_t)acs, Bp, ldb,  \
                                  C, (size_t)ldc, acc);                                          \
                        bad += bad_products_##SUF(m, n, k, ldc, acc, A, 1, a_col, Bp, ldb, C,   \
                                                  C0);                                           \
                        free(A), free(Bp), free(C), free(C0);                                    \
                    }                                                                            \
        printf("%-4s gemm_runs " #SUF " %s: rows 1-11, 1-4 runs, with and without accumulation\n", \
               bad ? "FAIL" : "ok", isa);                                                       \
        failures += bad != 0;                                                                    \
    }                                                                                            \
                                                                                                 \
    /* y (n) = W x (k) when !transposed, y (k) = x (n) W when transposed; W (n, k), ld k + 2. */ \
    static void check_vec_##SUF(const char *isa, const char *name, vec_fn_##SUF fn,             \
                                int transposed)                                                  \
    {                                                                                            \
        static const int sizes[] = {1, 3, 4, 7, 8, 9, 15, 16, 17, 33, 64, 65, 130};              \
        const int count = (int)(sizeof sizes / sizeof sizes[0]);                                 \
        int bad = 0;                                                                             \
        for (int a = 0; a < count; a++)                                                          \
            for (int b = 0; b < count; b++)                                                      \
                for (int acc = 0; acc < 2; acc++) {                                              \
                    const int n = sizes[a], k = sizes[b], ldw = k + 2;                           \
                    const int in = transposed ? n : k, out = transposed ? k : n;                 \
                    REAL_T *W = malloc(sizeof(REAL_T) * n * ldw);                                \
                    REAL_T *x = malloc(sizeof(REAL_T) * in);                                     \
                    REAL_T *y = malloc(sizeof(REAL_T) * out);                                    \
                    REAL_T *y0 = malloc(sizeof(REAL_T) * out);                                   \
                    for (int i = 0; i < n * ldw; i++) W[i] = (REAL_T)next_value();              \
                    for (int i = 0; i < in; i++) x[i] = (REAL_T)next_value();                    \
                    for (int i = 0; i < out; i++) y[i] = y0[i] = (REAL_T)next_value();           \
                    fn(n, k, W, (size_t)ldw, x, y, acc);                                         \
                    for (int o = 0; o < out; o++) {                                              \
                        double sum = 0, magnitude = 0;                                           \
                        for (int i = 0; i < in; i++) {                                           \
                            const double w = transposed ? W[i * ldw + o] : W[o * ldw + i];       \
                            sum += w * x[i];                                                     \
                            magnitude += fabs(w * x[i]);                                         \
                        }                                                                        \
                        if (!close_enough(y[o], acc ? y0[o] + sum : sum, magnitude, EPS)) bad++; \
                    }                                                                            \
                    free(W), free(x), free(y), free(y0);                                         \
                }                                                                                \
        printf("%-4s %s " #SUF " %s: sizes 1-130, with and without accumulation\n",             \
               bad ? "FAIL" : "ok", name, isa);                                                 \
        failures += bad != 0;                                                                    \
    }                                                                                            \
                                                                                                 \
    static void check_isa_##SUF(const char *isa, gemm_fn_##SUF gemm, runs_fn_##SUF gemm_runs,  \
                                vec_fn_##SUF matvec, vec_fn_##SUF vecmat)                        \
    {                                                                                            \
        check_gemm_##SUF(isa, gemm);                                                             \
        check_gemm_runs_##SUF(isa, gemm_runs);                                                   \
        check_vec_##SUF(isa, "matvec", matvec, 0);                                               \
        check_vec_##SUF(isa, "vecmat", vecmat, 1);                                               \
    }

DEFINE_CHECKS(float, f32, 5.96e-8)
DEFINE_CHECKS(double, f64, 1.12e-16)

#if LSTM_GATES_AVX512
/* A pre-activation or cell value: mostly uniform over [-scale, scale], sometimes a value where
 * the gate math changes course (clamps, saturation, signed zeros, NaN, infinities). */
static float gate_input(float scale)
{
    static const float special[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-40f, -88.0f, -88.01f,
                                    -87.99f, -87.3f, 87.3f, 88.0f, 44.0f, -44.0f, 200.0f,
                                    -200.0f, 9.0f, -9.0f, INFINITY, -INFINITY, NAN};
    seed = seed * 1103515245u + 12345u;
    const unsigned pick = (seed >> 16) % 8;
    seed = seed * 1103515245u + 12345u;
    if (pick == 0) return special[(seed >> 8) % (sizeof special / sizeof special[0])];
    return scale * (float)((double)(seed >> 8) / (1 << 23) * 2 - 1);
}

static int same_bits(float a, float b) { return (isnan(a) && isnan(b)) || !memcmp(&a, &b, 4); }

/* gates_forward_avx512_f32 and the generic pass on the same rows: every output the same. */
static void check_gates_avx512(void)
{
    int bad = 0, cases = 0;
    const int sizes[] = {1, 5, 15, 16, 17, 30, 31, 33, 64, 100};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
        for (int chunk = 0; chunk < 2; chunk++) {
            const int H = sizes[k], G = 4 * H, rows = 3, ld_out = H + 2;
            /* chunk: units [lo, H) of a split step, the pointers offset by lo */
            const int lo = chunk ? H / 3 : 0, n_units = H - lo;
            if (n_units < 1) continue;
            float *a[2], *c[2], *out[2], *save[2];
            float *bias = malloc(sizeof(float) * G);
            for (int j = 0; j < G; j++) bias[j] = gate_input(2);
            for (int v = 0; v < 2; v++) {
                a[v] = malloc(sizeof(float) * rows * G);
                c[v] = malloc(sizeof(float) * rows * H);
                out[v] = malloc(sizeof(float) * rows * ld_out);
                save[v] = malloc(sizeof(float) * rows * H);
            }
            for (int round = 0; round < 200; round++, cases++) {
                for (int i = 0; i < rows * G; i++) a[0][i] = a[1][i] = gate_input(12);
                for (int i = 0; i < rows * H; i++) c[0][i] = c[1][i] = gate_input(5);
                for (int i = 0; i < rows * ld_out; i++) out[0][i] = out[1][i] = -1;
                for (int i = 0; i < rows * H; i++) save[0][i] = save[1][i] = -1;
                gates_forward_generic_f32(a[0] + lo, c[0] + lo, out[0] + lo, ld_out, save[0],
                                          bias + lo, rows, H, n_units);
                gates_forward_avx512_f32(a[1] + lo, c[1] + lo, out[1] + lo, ld_out, save[1],
                                         bias + lo, rows, H, n_units);
                int differ = 0;
                for (int i = 0; i < rows * G; i++) differ |= !same_bits(a[0][i], a[1][i]);
                for (int i = 0; i < rows * H; i++) differ |= !same_bits(c[0][i], c[1][i]);
                for (int i = 0; i < rows * ld_out; i++) differ |= !same_bits(out[0][i], out[1][i]);
                for (int i = 0; i < rows * H; i++) differ |= !same_bits(save[0][i], save[1][i]);
                bad += differ;
            }
            for (int v = 0; v < 2; v++) free(a[v]), free(c[v]), free(out[v]), free(save[v]);
            free(bias);
        }
    printf("%-4s gates_forward f32 avx512 against the generic pass: %d cases, %d differ\n",
           bad ? "FAIL" : "ok", cases, bad);
    failures += bad != 0;
}
#endif

int main(void)
{
    check_isa_f32("baseline", gemm_f32_base, gemm_runs_f32_base, matvec_f32_base, vecmat_f32_base);
    check_isa_f64("baseline", gemm_f64_base, gemm_runs_f64_base, matvec_f64_base, vecmat_f64_base);
#if LSTM_GEMM_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        check_isa_f32("avx2", gemm_f32_avx2, gemm_runs_f32_avx2, matvec_f32_avx2, vecmat_f32_avx2);
        check_isa_f64("avx2", gemm_f64_avx2, gemm_runs_f64_avx2, matvec_f64_avx2, vecmat_f64_avx2);
    } else {
        printf("skip avx2: this CPU has no AVX2 with FMA\n");
    }
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) {
        check_isa_f32("avx512", gemm_f32_avx512, gemm_runs_f32_avx512, matvec_f32_avx512,
                        vecmat_f32_avx512);
        check_isa_f64("avx512", gemm_f64_avx512, gemm_runs_f64_avx512, matvec_f64_avx512,
                        vecmat_f64_avx512);
#if LSTM_GATES_AVX512
        check_gates_avx512();
#endif
    } else {
        printf("skip avx512: this CPU has no AVX-512\n");
    }
#endif
    printf("%s: %d failure%s\n", failures ? "FAILED" : "PASSED", failures,
           failures == 1 ? "" : "s");
    return failures ? 1 : 0;
}
