/*
 * lstmcore: the core's own thread pool (lstm_threads.c). Internal; lstm.h declares the
 * public lstm_set_num_threads and lstm_get_num_threads.
 */
#ifndef LSTMCORE_LSTM_THREADS_H
#define LSTMCORE_LSTM_THREADS_H

/* The most threads lstm_set_num_threads accepts. */
#define LSTM_MAX_THREADS 64

typedef void (*lstm_part_fn)(void *ctx, int part);

/* Runs fn(ctx, p) for p in [0, parts), on the calling thread and up to lstm_get_num_threads()
 * - 1 workers, and returns when every part is done. Parts must be independent. */
void lstm_parallel_for(int parts, lstm_part_fn fn, void *ctx);

typedef void (*lstm_step_fn)(void *ctx, int step, int chunk);

/* Runs fn(ctx, s, c) for every step s in [0, steps) and chunk c in [0, chunks), every chunk of
 * a step after every chunk of the step before, on the calling thread and up to chunks - 1
 * workers. Chunks of one step must be independent. Each thread takes its own chunks of a step
 * first (thread p of n owns chunks [p * chunks / n, (p + 1) * chunks / n)), so that a chunk's
 * data stays in one core's cache from step to step, and then any chunk still unclaimed: a
 * thread that is late, or never starts, leaves its chunks to the others instead of stalling
 * them. */
void lstm_parallel_steps(int steps, int chunks, lstm_step_fn fn, void *ctx);

/* The choice, for calls of one kind, between splitting over the threads and running in the
 * calling thread, by the time each took lately (lstm_threads.c). lstm_adaptive_parts returns
 * `parts` or 1 for a call of that kind (key: its sizes, lstm_impl.h) and starts its clock in
 * *call; lstm_adaptive_done records the call's time. A backward follows the way of the
 * training forward it belongs to (lstm_adaptive_follow with that forward's key): its time is
 * added to the forward's, so a training step is chosen, and timed, as one. */
/* A kind runs the way it did not choose for 2 calls in every LSTM_ADAPT_PROBE. */
#define LSTM_ADAPT_PROBE 128

typedef struct {
    void *slot; /* NULL: nothing to record */
    unsigned long long key;
    int split;
    int sample; /* the follower's: which of the chooser's times it adds to; -1 for a chooser */
    long long start_ns;
} lstm_adaptive;
int lstm_adaptive_parts(unsigned long long key, int parts, lstm_adaptive *call);
int lstm_adaptive_follow(unsigned long long key, int parts, lstm_adaptive *call);
void lstm_adaptive_done(const lstm_adaptive *call);

#endif /* LSTMCORE_LSTM_THREADS_H */
