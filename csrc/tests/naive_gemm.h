/*
 * The body of the naive GEMM, written once for both dtypes: naive_blas.c includes this file
 * twice, with REAL and NAME defined.
 *
 * Column-major C (m, n) = alpha op(A) op(B) + beta C, op(X) = X or X^T as transa/transb say
 * ('N' or 'T'; 'C' is 'T' for real data). A is (lda, k) if op(A) = A, else (lda, m); B is
 * (ldb, n) if op(B) = B, else (ldb, k). beta == 0 sets C without reading it: C may hold NaN.
 */
void NAME(char *transa, char *transb, int *m, int *n, int *k, REAL *alpha, REAL *a, int *lda,
          REAL *b, int *ldb, REAL *beta, REAL *c, int *ldc)
{
    const int ta = naive_transposed(*transa), tb = naive_transposed(*transb);
    const int rows_a = ta ? *k : *m, rows_b = tb ? *n : *k;
    /* The reference BLAS's checks, in its order; info is the bad argument's position. */
    int info = 0;
    if (ta < 0) info = 1;
    else if (tb < 0) info = 2;
    else if (*m < 0) info = 3;
    else if (*n < 0) info = 4;
    else if (*k < 0) info = 5;
    else if (*lda < (rows_a > 1 ? rows_a : 1)) info = 8;
    else if (*ldb < (rows_b > 1 ? rows_b : 1)) info = 10;
    else if (*ldc < (*m > 1 ? *m : 1)) info = 13;
    if (info) naive_xerbla(STR(NAME), info);

    for (int j = 0; j < *n; j++) {
        for (int i = 0; i < *m; i++) {
            /* Summed in double: the expected values are float64, and the tests should measure
             * the core's rounding, not this GEMM's. */
            double sum = 0;
            for (int p = 0; p < *k; p++) {
                double av = ta ? a[p + (size_t)i * *lda] : a[i + (size_t)p * *lda];
                double bv = tb ? b[j + (size_t)p * *ldb] : b[p + (size_t)j * *ldb];
                sum += av * bv;
            }
            REAL *cij = c + i + (size_t)j * *ldc;
            *cij = (REAL)(*alpha * sum) + (*beta == 0 ? 0 : *beta * *cij);
        }
    }
}
