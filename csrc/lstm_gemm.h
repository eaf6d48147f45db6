/*
 * lstmcore: the core's own GEMM for the small per-step products of the recurrence, where a
 * BLAS call costs more in overhead (argument checks, packing, thread hand-off) than in
 * arithmetic: at the seed shape (B = 32, H = 30) one step's h W_hh^T is 29k multiply-adds.
 * Included by lstm_impl.h once per dtype; lstm_gemm_kernel.h holds the kernel, compiled here
 * once per instruction set and picked at run time.
 */
#ifndef LSTM_GEMM_MACROS
#define LSTM_GEMM_MACROS
#if defined(__x86_64__) && defined(__GNUC__) && !defined(LSTM_NO_TARGET_CLONES)
#define LSTM_GEMM_X86 1
#include <immintrin.h> /* the lane sums of the AVX2 and AVX-512 kernels */
#else
#define LSTM_GEMM_X86 0
#endif
#endif


/* Packs W (rows, cols) row-major, or its transpose when transpose, into dst with rows of
 * lstm_gemm_padded(width) elements, zero past the width. */
static void FN(gemm_pack)(REAL *restrict dst, const REAL *restrict W, int rows, int cols,
                          int transpose)
{
    const int out_rows = transpose ? cols : rows, width = transpose ? rows : cols;
    const size_t ld = lstm_gemm_padded((size_t)width);
    for (int p = 0; p < out_rows; p++) {
        REAL *d = dst + (size_t)p * ld;
        if (transpose)
            for (int j = 0; j < width; j++) d[j] = W[(size_t)j * cols + p];
        else
            memcpy(d, W + (size_t)p * cols, (size_t)width * sizeof(REAL));
        for (size_t j = (size_t)width; j < ld; j++) d[j] = 0;
    }
}

#define GK_VBYTES 16
#define GK_ATTR
#define GK(name) LSTM_CAT(FN(name), base)
#include "lstm_gemm_kernel.h"
#undef GK
#undef GK_ATTR
#undef GK_VBYTES

#if LSTM_GEMM_X86
#define GK_VBYTES 32
#define GK_ATTR __attribute__((target("avx2,fma")))
#define GK(name) LSTM_CAT(FN(name), avx2)
#include "lstm_gemm_kernel.h"
#undef GK
#undef GK_ATTR
#undef GK_VBYTES

#define GK_VBYTES 64
#define GK_ATTR __attribute__((target("avx512f,avx2,fma")))
#define GK(name) LSTM_CAT(FN(name), avx512)
#include "lstm_gemm_kernel.h"
#undef GK
#undef GK_ATTR
#undef GK_VBYTES
#endif

/* Calls the instruction set's instance of kernel (gemm, matvec or vecmat) that this CPU runs
 * best: AVX-512, else AVX2 with FMA, else the baseline. Defined once for both dtypes: FN
 * expands where it is used. */
#ifndef LSTM_GEMM_DISPATCH
#if LSTM_GEMM_X86
/* Whether this CPU runs the AVX-512 kernels (AVX-512F with FMA), the gate passes' too. */
static inline int lstm_cpu_has_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
}
#define LSTM_GEMM_DISPATCH(kernel, ...)                                                          \
    do {                                                                                         \
        if (lstm_cpu_has_avx512())                                                               \
            LSTM_CAT(FN(kernel), avx512)(__VA_ARGS__);                                           \
        else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))                \
            LSTM_CAT(FN(kernel), avx2)(__VA_ARGS__);                                             \
        else                                                                                     \
            LSTM_CAT(FN(kernel), base)(__VA_ARGS__);                                             \
    } while (0)
#else
#define LSTM_GEMM_DISPATCH(kernel, ...) LSTM_CAT(FN(kernel), base)(__VA_ARGS__)
#endif
#endif

/* small_gemm on n columns of a wider packed B, rows ldb apart: the kernel's vector loads may
 * read past the n columns (never past the row's padding but for the last row, whose buffer
 * needs LSTM_GEMM_PAD more elements when the columns start off a multiple of it); what they
 * read there is not stored. */
static void FN(small_gemm_cols)(int m, int n, int k, const REAL *A, size_t ars, size_t acs,
                                const REAL *Bp, size_t ldb, REAL *C, size_t ldc, int accumulate)
{
    LSTM_GEMM_DISPATCH(gemm, m, n, k, A, ars, acs, Bp, ldb, C, ldc, accumulate);
}

/* C (m, n) = A (m, k) Bp (k, n), or += when accumulate; Bp packed by gemm_pack with ldb =
 * lstm_gemm_padded(n); A(i, p) = A[i * ars + p * acs]. */
static void FN(small_gemm)(int m, int n, int k, const REAL *A, size_t ars, size_t acs,
                           const REAL *Bp, REAL *C, size_t ldc, int accumulate)
{
    FN(small_gemm_cols)(m, n, k, A, ars, acs, Bp, lstm_gemm_padded((size_t)n), C, ldc,
                        accumulate);
}

/* small_gemm with k in runs (lstm_gemm_kernel.h, gemm_runs): run s is the next len[s] rows of
 * Bp, A's columns for them starting off[s] elements from A. */
static void FN(small_gemm_runs)(int m, int n, int runs, const int *len, const size_t *off,
                                const REAL *A, size_t ars, size_t acs, const REAL *Bp, REAL *C,
                                size_t ldc, int accumulate)
{
    LSTM_GEMM_DISPATCH(gemm_runs, m, n, runs, len, off, A, ars, acs, Bp,
                       lstm_gemm_padded((size_t)n), C, ldc, accumulate);
}

/* y (n) = W (n, k) x, or += when accumulate; W's rows ldw apart (lstm_gemm_kernel.h). */
static void FN(small_matvec)(int n, int k, const REAL *W, size_t ldw, const REAL *x, REAL *y,
                             int accumulate)
{
    LSTM_GEMM_DISPATCH(matvec, n, k, W, ldw, x, y, accumulate);
}

/* y (k) = x (n) W (n, k), or += when accumulate; W's rows ldw apart. */
static void FN(small_vecmat)(int n, int k, const REAL *W, size_t ldw, const REAL *x, REAL *y,
                             int accumulate)
{
    LSTM_GEMM_DISPATCH(vecmat, n, k, W, ldw, x, y, accumulate);
}
