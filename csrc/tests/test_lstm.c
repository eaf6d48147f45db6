/*
 * The C core's tests, without Python: forward (inference and training) and backward of every
 * case in reference.bin (made by make_reference.py from lstmcore.reference), step-by-step
 * streaming, and the status codes of bad calls, in float32 and float64.
 *
 * Usage: test_lstm reference.bin. Prints the max relative difference of every tensor,
 * max|actual - expected| / max|expected|, and exits 1 if any exceeds the dtype's tolerance (or
 * any status is unexpected), 0 otherwise.
 *
 * T time steps, B batch, I input, H hidden, P projection (0: none), Ph = P or H, G = 4H,
 * N packed rows. Every buffer gets its own allocation of exactly the size the API asks for, so
 * that AddressSanitizer and valgrind see any access past it.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "lstm.h"
#include "lstm_threads.h" /* the adaptive split's policy, checked on its own */
#include "naive_blas.h"

/* Tolerances of the same algorithm in the same dtype, as tests/tolerances.py's TOL. */
#define TOL_F32 1e-5
#define TOL_F64 1e-12

static const char MAGIC[8] = "LSTMREF";
enum { FORMAT_VERSION = 1, NAME_BYTES = 16, HEADER_INTS = 12 };

#define STR_(x) #x
#define STR(x) STR_(x)

static int failures; /* tensors or status codes that did not match */

/* One case's header in reference.bin. */
typedef struct case_header {
    int dtype_bytes, T, B, I, H, P, reverse, has_bias, has_state, has_lengths, has_dstate,
        dy_null;
} case_header;
_Static_assert(sizeof(case_header) == HEADER_INTS * sizeof(int), "case_header is read whole");

/* Every allocation of a case, freed together at its end. */
typedef struct pool {
    void *blocks[64];
    int count;
} pool;

static void *pool_alloc(pool *p, size_t bytes)
{
    if (p->count == (int)(sizeof p->blocks / sizeof p->blocks[0])) {
        fprintf(stderr, "test_lstm: pool full\n");
        exit(2);
    }
    void *block = malloc(bytes ? bytes : 1);
    if (!block) {
        fprintf(stderr, "test_lstm: out of memory\n");
        exit(2);
    }
    p->blocks[p->count++] = block;
    return block;
}

static void pool_free(pool *p)
{
    for (int i = 0; i < p->count; i++) free(p->blocks[i]);
    p->count = 0;
}

/* Reads the next tensor, which must be `name` with `count` elements of `elem_bytes`. */
static void read_tensor(FILE *f, const char *name, size_t count, size_t elem_bytes, void *dst)
{
    char stored[NAME_BYTES + 1] = {0};
    uint32_t stored_count;
    if (fread(stored, 1, NAME_BYTES, f) != NAME_BYTES || fread(&stored_count, 4, 1, f) != 1) {
        fprintf(stderr, "test_lstm: reference file ends before tensor %s\n", name);
        exit(2);
    }
    if (strcmp(stored, name) != 0 || stored_count != count) {
        fprintf(stderr, "test_lstm: expected tensor %s of %zu elements, found %s of %u\n", name,
                count, stored, (unsigned)stored_count);
        exit(2);
    }
    if (fread(dst, elem_bytes, count, f) != count) {
        fprintf(stderr, "test_lstm: reference file ends inside tensor %s\n", name);
        exit(2);
    }
}

static void expect_status(const char *what, int actual, int expected)
{
    if (actual == expected) return;
    printf("FAIL %s: status %d (%s), expected %d (%s)\n", what, actual, lstm_strerror(actual),
           expected, lstm_strerror(expected));
    failures++;
}

/* Status codes and strerror are dtype-free: checked once. */
static void check_strerror(void)
{
    const int codes[] = {LSTM_OK, LSTM_ERR_NULL_ARGUMENT, LSTM_ERR_BAD_SIZE,
                         LSTM_ERR_BAD_BATCH_SIZES, LSTM_ERR_BAD_LEADING_DIM, LSTM_ERR_NO_BLAS};
    const int n = (int)(sizeof codes / sizeof codes[0]);
    const char *unknown = lstm_strerror(-1);
    int bad = !unknown || !*unknown || lstm_strerror(n) != unknown;
    for (int i = 0; i < n; i++) {
        const char *text = lstm_strerror(codes[i]);
        bad |= !text || !*text || text == unknown;
        for (int j = 0; j < i; j++) bad |= strcmp(text, lstm_strerror(codes[j])) == 0;
    }
    printf("%-4s lstm_strerror: a distinct text per status, one text for unknown codes\n",
           bad ? "FAIL" : "ok");
    failures += bad;
}

/* The size queries return 0 for dims that lstm_check_dims refuses, and say why there. */
static void check_sizes(void)
{
    static const int increasing[2] = {1, 2};
    const lstm_dims bad[] = {{0, 1, 1, 1, 0, 0, NULL}, {1, 1, 1, 1, -1, 0, NULL},
                             {2, 2, 1, 1, 0, 0, increasing}};
    const int codes[] = {LSTM_ERR_BAD_SIZE, LSTM_ERR_BAD_SIZE, LSTM_ERR_BAD_BATCH_SIZES};
    int bad_count = lstm_check_dims(NULL) != LSTM_ERR_NULL_ARGUMENT || lstm_rows(NULL) != 0;
    bad_count += lstm_cache_size(NULL) != 0 || lstm_forward_workspace_size(NULL, 0) != 0;
    bad_count += lstm_backward_workspace_size(NULL) != 0;
    for (int i = 0; i < (int)(sizeof bad / sizeof bad[0]); i++) {
        bad_count += lstm_check_dims(&bad[i]) != codes[i];
        bad_count += lstm_rows(&bad[i]) != 0 || lstm_cache_size(&bad[i]) != 0;
        bad_count += lstm_forward_workspace_size(&bad[i], 0) != 0;
        bad_count += lstm_forward_workspace_size(&bad[i], 1) != 0;
        bad_count += lstm_backward_workspace_size(&bad[i]) != 0;
    }
    printf("%-4s size queries: 0 for invalid dims, lstm_check_dims names the problem\n",
           bad_count ? "FAIL" : "ok");
    failures += bad_count;
}

/* The dtype instances of the case runner and the error checks. */
#define REAL float
#define SUFFIX f32
#define GEMM_FIELD sgemm
#define TOL TOL_F32
#include "test_case.h"
#undef REAL
#undef SUFFIX
#undef GEMM_FIELD
#undef TOL

#define REAL double
#define SUFFIX f64
#define GEMM_FIELD dgemm
#define TOL TOL_F64
#include "test_case.h"
#undef REAL
#undef SUFFIX
#undef GEMM_FIELD
#undef TOL

/* Keeps the CPU busy for ms milliseconds of its time. */
static void spend_ms(double ms)
{
    const clock_t end = clock() + (clock_t)(ms * CLOCKS_PER_SEC / 1000);
    while (clock() < end) {
    }
}

/* The adaptive split's policy (lstm_threads.c): a kind's first two calls split, the third
 * runs in one thread, then the faster way runs and the other for two calls in a row every
 * LSTM_ADAPT_PROBE calls. The calls here only take time: 3 ms of CPU in the slow way, none in the other, but for one
 * fast-way call that takes 20 ms (a worker woken from sleep): the way keeps the fastest of its
 * last 4 times, so the choice stays (an average weighting it 1/4 would have flipped it). */
static void check_adaptive(void)
{
#if !defined(_WIN32) && !defined(LSTM_NO_THREADS)
    for (int slow_split = 0; slow_split < 2; slow_split++) {
        const unsigned long long key = 0xADA97ULL + (unsigned)slow_split;
        int bad = 0;
        for (int i = 0; i < 2 * LSTM_ADAPT_PROBE + 10; i++) {
            lstm_adaptive call;
            const int split = lstm_adaptive_parts(key, 3, &call) == 3;
            if (split == slow_split) spend_ms(3);
            else if (i == 40) spend_ms(20);
            lstm_adaptive_done(&call);
            const int probe = i >= 3 && (i - 3) % LSTM_ADAPT_PROBE >= LSTM_ADAPT_PROBE - 2;
            const int want = i < 2 ? 1 : i == 2 ? 0 : probe ? slow_split : !slow_split;
            bad += split != want;
        }
        printf("%-4s adaptive split, %s split calls: the faster way, the other now and then\n",
               bad ? "FAIL" : "ok", slow_split ? "slow" : "fast");
        failures += bad != 0;
    }
    /* Splitting slow (3 ms) for 100 calls, then fast but for a call that follows a serial one
     * (the workers slept: 3 ms to wake them), against 1 ms serial: the probe's second call
     * finds splitting fast again, and the split is chosen from then on. */
    {
        int bad = 0, was_split = 1;
        for (int i = 0; i < 150; i++) {
            lstm_adaptive call;
            const int split = lstm_adaptive_parts(0xADA9BULL, 2, &call) == 2;
            spend_ms(!split ? 1 : i < 100 || !was_split ? 3 : 0);
            lstm_adaptive_done(&call);
            was_split = split;
            if (i >= 3 + LSTM_ADAPT_PROBE) bad += !split;
        }
        printf("%-4s adaptive split: back to splitting once a probe finds it fast again\n",
               bad ? "FAIL" : "ok");
        failures += bad != 0;
    }
    /* A follower (a backward) takes the way of the latest chooser of its key (its training
     * forward) and adds its time to that call's: a step whose split backward takes 3 ms makes
     * the next steps run in one thread. */
    int bad = 0;
    for (int i = 0; i < 8; i++) {
        lstm_adaptive forward, backward;
        const int split = lstm_adaptive_parts(0xADA99ULL, 2, &forward) == 2;
        lstm_adaptive_done(&forward);
        bad += (lstm_adaptive_follow(0xADA99ULL, 2, &backward) == 2) != split;
        if (split) spend_ms(3);
        lstm_adaptive_done(&backward);
        bad += split != (i < 2);
    }
    lstm_adaptive call;
    bad += lstm_adaptive_follow(0xADA9AULL, 2, &call) != 2 || call.slot != NULL; /* no chooser */
    printf("%-4s adaptive split: a backward follows its forward's way, timed with it\n",
           bad ? "FAIL" : "ok");
    failures += bad != 0;
    bad = lstm_adaptive_parts(0xADA97ULL, 1, &call) != 1 || call.slot != NULL;
    bad += lstm_set_adaptive_threads(2) != LSTM_ERR_BAD_SIZE;
    bad += lstm_set_adaptive_threads(0) != LSTM_OK;
    for (int i = 0; i < 40; i++) { /* off: always split, though splitting was the slow way */
        bad += lstm_adaptive_parts(0xADA98ULL, 3, &call) != 3;
        lstm_adaptive_done(&call);
    }
    bad += lstm_set_adaptive_threads(1) != LSTM_OK;
    printf("%-4s adaptive split: one part left alone, switched off always splits\n",
           bad ? "FAIL" : "ok");
    failures += bad != 0;
#endif
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s reference.bin\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    char magic[8];
    uint32_t version, cases;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, MAGIC, 8) != 0 || fread(&version, 4, 1, f) != 1
        || version != FORMAT_VERSION || fread(&cases, 4, 1, f) != 1) {
        fprintf(stderr, "%s: not a version %d reference file (make_reference.py writes one)\n",
                argv[1], FORMAT_VERSION);
        fclose(f);
        return 2;
    }
    /* Every case with the core's own threads off, then with 3 of them (batches of 8 or more
     * split their time loop; the results must not change). */
    const long first_case = ftell(f);
    for (int threads = 1; threads <= 3; threads += 2) {
        if (lstm_set_num_threads(threads) != LSTM_OK || lstm_get_num_threads() != threads) {
            printf("FAIL lstm_set_num_threads(%d)\n", threads);
            failures++;
        }
        fseek(f, first_case, SEEK_SET);
        for (uint32_t i = 0; i < cases; i++) {
            case_header h;
            if (fread(&h, sizeof(int), HEADER_INTS, f) != HEADER_INTS) {
                fprintf(stderr, "%s: ends before case %u of %u\n", argv[1], (unsigned)i,
                        (unsigned)cases);
                fclose(f);
                return 2;
            }
            printf("case %2u: %s T=%d B=%d I=%d H=%d P=%d%s%s%s%s%s%s, %d thread%s\n",
                   (unsigned)i, h.dtype_bytes == 4 ? "f32" : "f64", h.T, h.B, h.I, h.H, h.P,
                   h.reverse ? " reverse" : "", h.has_bias ? "" : " no-bias",
                   h.has_state ? " h0/c0" : "", h.has_lengths ? " lengths" : "",
                   h.has_dstate ? " dh_n/dc_n" : "", h.dy_null ? " dy=NULL" : "", threads,
                   threads == 1 ? "" : "s");
            if (h.dtype_bytes == 4) run_case_f32(f, &h);
            else run_case_f64(f, &h);
        }
    }
    /* Back to 1: joins the workers, so that valgrind and LeakSanitizer see no thread left. */
    if (lstm_set_num_threads(1) != LSTM_OK || lstm_set_num_threads(0) != LSTM_ERR_BAD_SIZE
        || lstm_set_num_threads(65) != LSTM_ERR_BAD_SIZE) {
        printf("FAIL lstm_set_num_threads: 1 accepted, 0 and 65 refused\n");
        failures++;
    }
    fclose(f);
    check_strerror();
    check_sizes();
    check_errors_f32();
    check_errors_f64();
    check_unit_split_f32();
    check_unit_split_f64();
    check_adaptive();
    printf("%s: %d failure%s\n", failures ? "FAILED" : "PASSED", failures,
           failures == 1 ? "" : "s");
    return failures ? 1 : 0;
}
