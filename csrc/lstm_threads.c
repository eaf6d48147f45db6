/*
 * lstmcore: the core's own threads, for time loops split by batch rows (lstm_impl.h).
 *
 * A row of the batch never reads another row inside the time loop, so the loop splits into
 * row ranges that run with no synchronisation per step: one hand-off per call. BLAS threads
 * cannot do this: they split each step's small GEMM and meet at every step.
 *
 * Workers are created on the first parallel call and then wait for work, spinning briefly
 * (a training loop calls again within microseconds) before sleeping on a condition variable.
 * Parts are claimed from a shared counter by the caller and the workers alike, so a caller
 * whose workers are slow to wake (the other core busy) runs the parts itself instead of
 * waiting. One call at a time uses the pool; a concurrent call runs its parts in its own
 * thread. lstm_set_num_threads stops the workers when it lowers the count (they start again,
 * as many as the new count needs, on the next parallel call), so setting 1 leaves no thread
 * behind. After fork() the child has no workers: the pool is reset
 * there.
 */
#define _POSIX_C_SOURCE 200809L /* pthread_atfork, sched_yield, clock_gettime under -std=c11 */

#include "lstm_threads.h"

#include "lstm.h"

/* A stepped job in the calling thread: every chunk of a step, then the next step. */
static void steps_in_order(int steps, int chunks, lstm_step_fn fn, void *ctx)
{
    for (int s = 0; s < steps; s++)
        for (int c = 0; c < chunks; c++) fn(ctx, s, c);
}

#if defined(_WIN32) || defined(LSTM_NO_THREADS)

int lstm_set_num_threads(int n) { return n == 1 ? LSTM_OK : LSTM_ERR_BAD_SIZE; }
int lstm_get_num_threads(void) { return 1; }
void lstm_parallel_for(int parts, lstm_part_fn fn, void *ctx)
{
    for (int p = 0; p < parts; p++) fn(ctx, p);
}
void lstm_parallel_steps(int steps, int chunks, lstm_step_fn fn, void *ctx)
{
    steps_in_order(steps, chunks, fn, ctx);
}
int lstm_set_adaptive_threads(int on) { return on == 0 || on == 1 ? LSTM_OK : LSTM_ERR_BAD_SIZE; }
int lstm_adaptive_parts(unsigned long long key, int parts, lstm_adaptive *call)
{
    (void)key, (void)parts;
    call->slot = NULL;
    return 1;
}
int lstm_adaptive_follow(unsigned long long key, int parts, lstm_adaptive *call)
{
    return lstm_adaptive_parts(key, parts, call);
}
void lstm_adaptive_done(const lstm_adaptive *call) { (void)call; }

#else

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#define MAX_WORKERS (LSTM_MAX_THREADS - 1)
/* How long a worker polls for the next job before it sleeps. A training loop calls again
 * within tens of microseconds (Python, the optimizer); waking a sleeping thread costs about
 * as much as a small call. */
#define SPIN_NS 300000L

/* A job's parts are claimed through one 64-bit ticket: job number (24 bits), part count (20)
 * and next part (20). A claim is a compare-and-swap of the whole ticket, so a worker that
 * wakes late for a finished job can never claim a part of the next one with the old count. */
#define NEXT_BITS 20
#define PARTS_BITS 20
#define FIELD_MASK ((1ULL << NEXT_BITS) - 1)
#define MAX_PARTS ((int)FIELD_MASK)

/* A hint to the CPU that this is a spin loop (frees the core's resources for its sibling). */
#if defined(__x86_64__) || defined(__i386__)
#define SPIN_PAUSE() __builtin_ia32_pause()
#else
#define SPIN_PAUSE() ((void)0)
#endif

static long elapsed_ns(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - since->tv_sec) * 1000000000L + (now.tv_nsec - since->tv_nsec);
}

static struct {
    pthread_mutex_t lock;     /* guards sleeping, stop and worker creation */
    pthread_cond_t wake;
    pthread_mutex_t busy;     /* held by the call that owns the pool */
    atomic_int threads;       /* the count set by lstm_set_num_threads */
    int started;              /* workers running */
    int stop;                 /* set, with job bumped, to make the workers return */
    pthread_t ids[MAX_WORKERS];
    atomic_uint job;          /* bumped for every job: what the workers wait on */
    atomic_ullong ticket;     /* the current job's claims (see NEXT_BITS) */
    atomic_int done;          /* parts of the current job finished */
    lstm_part_fn fn;          /* the current job, written before its ticket */
    void *ctx;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER,
          .wake = PTHREAD_COND_INITIALIZER,
          .busy = PTHREAD_MUTEX_INITIALIZER,
          .threads = 1};

static void run_parts(void)
{
    unsigned long long t = atomic_load_explicit(&pool.ticket, memory_order_acquire);
    for (;;) {
        const int next = (int)(t & FIELD_MASK), parts = (int)((t >> NEXT_BITS) & FIELD_MASK);
        if (next >= parts) return;
        if (!atomic_compare_exchange_weak_explicit(&pool.ticket, &t, t + 1,
                                                   memory_order_acq_rel, memory_order_acquire))
            continue; /* t now holds the ticket as it is */
        pool.fn(pool.ctx, next);
        atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
        t = atomic_load_explicit(&pool.ticket, memory_order_acquire);
    }
}

/* arg: the job counter when the worker was created, so that a job (or a stop) posted before
 * the new thread first runs is still seen as new. */
static void *worker(void *arg)
{
    unsigned seen = (unsigned)(uintptr_t)arg;
    for (;;) {
        struct timespec idle_since;
        clock_gettime(CLOCK_MONOTONIC, &idle_since);
        unsigned polls = 0;
        while (atomic_load_explicit(&pool.job, memory_order_acquire) == seen) {
            SPIN_PAUSE();
            if (++polls % 64 != 0 || elapsed_ns(&idle_since) < SPIN_NS) continue;
            pthread_mutex_lock(&pool.lock);
            while (atomic_load(&pool.job) == seen) pthread_cond_wait(&pool.wake, &pool.lock);
            pthread_mutex_unlock(&pool.lock);
        }
        seen = atomic_load(&pool.job);
        pthread_mutex_lock(&pool.lock);
        int stop = pool.stop;
        pthread_mutex_unlock(&pool.lock);
        if (stop) return NULL;
        run_parts();
    }
}

static void reset_after_fork(void)
{
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pthread_mutex_init(&pool.busy, NULL);
    pool.started = 0;
    pool.stop = 0;
}

/* Stops and joins every worker; the caller holds pool.busy, so no job is running. */
static void stop_workers(void)
{
    pthread_mutex_lock(&pool.lock);
    int started = pool.started;
    pool.stop = 1;
    atomic_fetch_add(&pool.job, 1);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    for (int i = 0; i < started; i++) pthread_join(pool.ids[i], NULL);
    pthread_mutex_lock(&pool.lock);
    pool.started = 0;
    pool.stop = 0;
    pthread_mutex_unlock(&pool.lock);
}

/* Start workers up to count - 1; 0 if none could start (the caller then runs alone). */
static int ensure_workers(int count)
{
    static int atfork_registered;
    pthread_mutex_lock(&pool.lock);
    if (!atfork_registered) atfork_registered = pthread_atfork(NULL, NULL, reset_after_fork) == 0;
    while (pool.started < count - 1 && pool.started < MAX_WORKERS) {
        void *seen = (void *)(uintptr_t)atomic_load(&pool.job);
        if (pthread_create(&pool.ids[pool.started], NULL, worker, seen) != 0) break;
        pool.started++;
    }
    int started = pool.started;
    pthread_mutex_unlock(&pool.lock);
    return started;
}

int lstm_set_num_threads(int n)
{
    if (n < 1 || n > LSTM_MAX_THREADS) return LSTM_ERR_BAD_SIZE;
    pthread_mutex_lock(&pool.busy); /* waits for a running job */
    atomic_store(&pool.threads, n);
    pthread_mutex_lock(&pool.lock);
    const int excess = pool.started > n - 1;
    pthread_mutex_unlock(&pool.lock);
    if (excess) stop_workers();
    pthread_mutex_unlock(&pool.busy);
    return LSTM_OK;
}

int lstm_get_num_threads(void) { return atomic_load(&pool.threads); }

void lstm_parallel_for(int parts, lstm_part_fn fn, void *ctx)
{
    if (parts <= 1 || parts > MAX_PARTS || atomic_load(&pool.threads) < 2
        || pthread_mutex_trylock(&pool.busy) != 0) {
        for (int p = 0; p < parts; p++) fn(ctx, p);
        return;
    }
    if (ensure_workers(atomic_load(&pool.threads)) == 0) {
        pthread_mutex_unlock(&pool.busy);
        for (int p = 0; p < parts; p++) fn(ctx, p);
        return;
    }
    static unsigned long long job_number;
    job_number = (job_number + 1) & ((1ULL << (64 - NEXT_BITS - PARTS_BITS)) - 1);
    pool.fn = fn;
    pool.ctx = ctx;
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    atomic_store_explicit(&pool.ticket,
                          job_number << (NEXT_BITS + PARTS_BITS) | (unsigned long long)parts << NEXT_BITS,
                          memory_order_release);
    pthread_mutex_lock(&pool.lock);
    atomic_fetch_add_explicit(&pool.job, 1, memory_order_release);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    run_parts();
    /* The workers' last parts are in flight: poll, yielding now and then in case a worker
     * lost its core to another process. */
    for (unsigned polls = 1; atomic_load_explicit(&pool.done, memory_order_acquire) < parts; polls++) {
        SPIN_PAUSE();
        if (polls % 1024 == 0) sched_yield();
    }
    pthread_mutex_unlock(&pool.busy);
}

/* The most chunks a step of lstm_parallel_steps may have. */
#define MAX_STEP_CHUNKS 64

/* Each thread's claims and counts on cache lines of their own: a thread touches its own
 * chunks' claims and its own count at every step, and a line shared by both threads travelled
 * between the cores several times a step. */
typedef struct {
    _Alignas(64) atomic_int step; /* the first step of this chunk that nobody has claimed */
} chunk_claim;
typedef struct {
    _Alignas(64) atomic_llong items; /* (step, chunk) items this thread has finished */
} part_count;

typedef struct {
    int steps, chunks, parts;
    lstm_step_fn fn;
    void *ctx;
    chunk_claim claimed[MAX_STEP_CHUNKS];
    part_count done[LSTM_MAX_THREADS];
    atomic_int joined; /* threads that have started their share */
} steps_job;

/* Items finished over all threads: each count only grows, so the sum of the values read is
 * at most the true total, and reaching n means that n items are finished. */
static long long items_done(steps_job *job)
{
    long long total = 0;
    for (int p = 0; p < job->parts; p++)
        total += atomic_load_explicit(&job->done[p].items, memory_order_acquire);
    return total;
}

static int claim_and_run(steps_job *job, int s, int c)
{
    int expected = s;
    if (!atomic_compare_exchange_strong_explicit(&job->claimed[c].step, &expected, s + 1,
                                                 memory_order_acq_rel, memory_order_relaxed))
        return 0;
    job->fn(job->ctx, s, c);
    return 1;
}

/* One thread's share of a stepped job. It runs its own chunks of a step, then waits for the
 * others' chunks, taking over those still unclaimed once their owner seems to be away: at
 * once while a thread of the job has not yet started (or never will: the pool was busy), else
 * after STEAL_POLLS polls. The wait always ends: a thread that claims a chunk runs it without
 * waiting on anything, and every chunk is claimed by someone, since the waiting thread claims
 * what is left. No thread runs a chunk of step s + 1 before every chunk of step s is
 * finished: the first to do so saw (s + 1) * chunks items finished, all of steps up to s. */
#define STEAL_POLLS 512

static void steps_part(void *arg, int part)
{
    steps_job *job = arg;
    const int chunks = job->chunks;
    const int own = (int)((long long)part * chunks / job->parts);
    const int own_end = (int)((long long)(part + 1) * chunks / job->parts);
    atomic_fetch_add_explicit(&job->joined, 1, memory_order_acq_rel);
    for (int s = 0; s < job->steps; s++) {
        int ran = 0;
        for (int c = own; c < own_end; c++) ran += claim_and_run(job, s, c);
        if (ran) atomic_fetch_add_explicit(&job->done[part].items, ran, memory_order_release);
        const long long after = (long long)(s + 1) * chunks;
        for (unsigned polls = 1; items_done(job) < after; polls++) {
            if (polls >= STEAL_POLLS
                || atomic_load_explicit(&job->joined, memory_order_relaxed) < job->parts)
                for (int c = 0; c < chunks; c++)
                    if ((c < own || c >= own_end) && claim_and_run(job, s, c))
                        atomic_fetch_add_explicit(&job->done[part].items, 1, memory_order_release);
            SPIN_PAUSE();
            if (polls % 1024 == 0) sched_yield(); /* the thread we wait for lost its core */
        }
    }
}

void lstm_parallel_steps(int steps, int chunks, lstm_step_fn fn, void *ctx)
{
    if (chunks > MAX_STEP_CHUNKS) { /* not a size the core asks for: run it in order */
        steps_in_order(steps, chunks, fn, ctx);
        return;
    }
    steps_job job = {.steps = steps, .chunks = chunks, .fn = fn, .ctx = ctx};
    const int threads = atomic_load(&pool.threads);
    job.parts = threads < chunks ? threads : chunks;
    if (job.parts < 1) job.parts = 1;
    for (int c = 0; c < chunks; c++) atomic_init(&job.claimed[c].step, 0);
    for (int p = 0; p < job.parts; p++) atomic_init(&job.done[p].items, 0);
    atomic_init(&job.joined, 0);
    lstm_parallel_for(job.parts, steps_part, &job);
}


/* The adaptive split (lstm_adaptive_parts). A split call is faster than a serial one only
 * while the other threads get their cores: when another process, or the virtual machine's
 * host, takes a worker's core for a while, the call waits for it, and on the 2-vCPU VM this
 * project is measured on a 2-thread seed-shape forward then took 100 us instead of 42, against
 * 52 in one thread, for seconds at a time. So each kind of call keeps the times of its last
 * ADAPT_KEEP calls each way, runs the way whose fastest of them is faster, and runs the other
 * every LSTM_ADAPT_PROBE-th call to follow the machine (a probe costs the slower way once:
 * at 32 that was 3-5% of a seed training loop's time while splitting was the faster). The fastest, not an average: a single slow
 * call (a worker woken from sleep after an idle spell, a preemption) says nothing of the next,
 * and an average over it had sent whole rounds of calls to the slower way. The results are
 * the same bits either way (lstm.h). Kinds live in a small table indexed by their key, the
 * newest in a slot wins; the slots are read and written with relaxed atomics, since
 * overlapping calls at worst blur the timings. */
#define ADAPT_SLOTS 16
#define ADAPT_KEEP 4

typedef struct {
    atomic_ullong key;
    atomic_uint ns[2][ADAPT_KEEP]; /* last times of a serial [0] and a split [1] call, 0: none */
    atomic_uint next[2];           /* where each way's next time goes */
    atomic_uint last;              /* the latest chooser's time: way * ADAPT_KEEP + index + 1 */
    atomic_uint calls;
} adapt_slot;

static adapt_slot adapt_table[ADAPT_SLOTS];
static atomic_int adapt_on = 1;

int lstm_set_adaptive_threads(int on)
{
    if (on != 0 && on != 1) return LSTM_ERR_BAD_SIZE;
    atomic_store(&adapt_on, on);
    return LSTM_OK;
}

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* The fastest of a way's kept times, 0 when it has none. */
static unsigned fastest(adapt_slot *slot, int way)
{
    unsigned best = 0;
    for (int i = 0; i < ADAPT_KEEP; i++) {
        const unsigned t = atomic_load_explicit(&slot->ns[way][i], memory_order_relaxed);
        if (t > 0 && (best == 0 || t < best)) best = t;
    }
    return best;
}

int lstm_adaptive_parts(unsigned long long key, int parts, lstm_adaptive *call)
{
    call->slot = NULL;
    if (parts <= 1 || !atomic_load_explicit(&adapt_on, memory_order_relaxed)) return parts;
    adapt_slot *slot = &adapt_table[(key * 0x9E3779B97F4A7C15ULL) >> 60];
    if (atomic_load_explicit(&slot->key, memory_order_relaxed) != key) {
        for (int way = 0; way < 2; way++) {
            for (int i = 0; i < ADAPT_KEEP; i++)
                atomic_store_explicit(&slot->ns[way][i], 0, memory_order_relaxed);
            atomic_store_explicit(&slot->next[way], 0, memory_order_relaxed);
        }
        atomic_store_explicit(&slot->last, 0, memory_order_relaxed);
        atomic_store_explicit(&slot->calls, 0, memory_order_relaxed);
        atomic_store_explicit(&slot->key, key, memory_order_relaxed);
    }
    /* Two split calls first (the first starts the workers), one serial, then the faster way,
     * the other for two calls in a row every LSTM_ADAPT_PROBE: after a serial spell the
     * workers sleep, and the first split call pays to wake them. */
    int split;
    if (atomic_load_explicit(&slot->next[1], memory_order_relaxed) < 2)
        split = 1;
    else if (atomic_load_explicit(&slot->next[0], memory_order_relaxed) < 1)
        split = 0;
    else {
        split = fastest(slot, 1) <= fastest(slot, 0);
        if (atomic_fetch_add_explicit(&slot->calls, 1, memory_order_relaxed) % LSTM_ADAPT_PROBE
            >= LSTM_ADAPT_PROBE - 2)
            split = !split;
    }
    call->slot = slot;
    call->key = key;
    call->split = split;
    call->sample = -1;
    call->start_ns = now_ns();
    return split ? parts : 1;
}

int lstm_adaptive_follow(unsigned long long key, int parts, lstm_adaptive *call)
{
    call->slot = NULL;
    if (parts <= 1 || !atomic_load_explicit(&adapt_on, memory_order_relaxed)) return parts;
    adapt_slot *slot = &adapt_table[(key * 0x9E3779B97F4A7C15ULL) >> 60];
    const unsigned last = atomic_load_explicit(&slot->last, memory_order_relaxed);
    if (atomic_load_explicit(&slot->key, memory_order_relaxed) != key || last == 0)
        return parts; /* no chooser of this kind lately: split, untimed */
    call->slot = slot;
    call->key = key;
    call->split = (int)((last - 1) / ADAPT_KEEP);
    call->sample = (int)((last - 1) % ADAPT_KEEP);
    call->start_ns = now_ns();
    return call->split ? parts : 1;
}

void lstm_adaptive_done(const lstm_adaptive *call)
{
    adapt_slot *slot = call->slot;
    if (!slot || atomic_load_explicit(&slot->key, memory_order_relaxed) != call->key) return;
    long long t = now_ns() - call->start_ns;
    t = t < 1 ? 1 : t > 2000000000LL ? 2000000000LL : t;
    const int way = call->split;
    if (call->sample >= 0) { /* a follower: its time joins its chooser's */
        atomic_fetch_add_explicit(&slot->ns[way][call->sample], (unsigned)t, memory_order_relaxed);
        return;
    }
    const unsigned i =
        atomic_fetch_add_explicit(&slot->next[way], 1, memory_order_relaxed) % ADAPT_KEEP;
    atomic_store_explicit(&slot->ns[way][i], (unsigned)t, memory_order_relaxed);
    atomic_store_explicit(&slot->last, (unsigned)(way * ADAPT_KEEP) + i + 1, memory_order_relaxed);
}

#endif
