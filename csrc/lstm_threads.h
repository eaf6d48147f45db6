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

#endif /* LSTMCORE_LSTM_THREADS_H */
