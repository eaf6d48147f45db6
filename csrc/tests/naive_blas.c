/* The naive sgemm_ and dgemm_ of naive_blas.h: one body (naive_gemm.h) compiled per dtype. */
#include "naive_blas.h"

#include <stdio.h>
#include <stdlib.h>

#define STR_(x) #x
#define STR(x) STR_(x)

/* 1 for 'T'/'C', 0 for 'N', -1 for anything else (either case, as BLAS accepts). */
static int naive_transposed(char trans)
{
    switch (trans) {
    case 'N': case 'n': return 0;
    case 'T': case 't': case 'C': case 'c': return 1;
    default: return -1;
    }
}

static void naive_xerbla(const char *name, int info)
{
    fprintf(stderr, "** On entry to %s parameter number %d had an illegal value\n", name, info);
    abort();
}

#define REAL float
#define NAME sgemm_
#include "naive_gemm.h"
#undef REAL
#undef NAME

#define REAL double
#define NAME dgemm_
#include "naive_gemm.h"
#undef REAL
#undef NAME
