/*
 * A naive column-major GEMM with the Fortran BLAS signatures of lstm.h (lstm_sgemm_fn,
 * lstm_dgemm_fn), so that the C tests and the example need no BLAS library. It checks its
 * arguments as the reference BLAS does and aborts on a bad one (the reference BLAS's xerbla
 * stops the program too), so a test catches a core that passes an invalid size or leading
 * dimension. Slow: for tests and small models only.
 */
#ifndef LSTMCORE_NAIVE_BLAS_H
#define LSTMCORE_NAIVE_BLAS_H

#include "lstm.h"

lstm_sgemm_fn sgemm_;
lstm_dgemm_fn dgemm_;

#endif /* LSTMCORE_NAIVE_BLAS_H */
