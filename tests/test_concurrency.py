"""Threads: one model serves many threads at once, separate models train in parallel, and every
call into the C core releases the GIL."""
import threading
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import lstmcore

N_THREADS = 8


def run_in_threads(work, n=N_THREADS):
    """Run work(i) for i in range(n) in n threads released together; return their results."""
    results, errors = [None] * n, []
    barrier = threading.Barrier(n)

    def target(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def assert_threads_match_serial(calls, rounds=3):
    """calls(i) -> a list of (y, (h, c)); run from N_THREADS threads at once, ``rounds`` times,
    each result must be the bits of calls(i) run in turn."""
    serial = [calls(i) for i in range(N_THREADS)]
    for _ in range(rounds):
        for got, expected in zip(run_in_threads(calls), serial):
            for (y, (h, c)), (y_s, (h_s, c_s)) in zip(got, expected):
                np.testing.assert_array_equal(y, y_s)
                np.testing.assert_array_equal(h, h_s)
                np.testing.assert_array_equal(c, c_s)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_model_serves_eight_threads_as_it_serves_one(rng, dtype):
    """Every call kind, with and without lengths and states, from 8 threads at once."""
    model = lstmcore.LSTM(6, 12, num_layers=2, bidirectional=True, proj_size=5, dtype=dtype,
                          seed=0)
    stream = lstmcore.LSTM(6, 12, num_layers=2, proj_size=5, dtype=dtype, seed=1)
    T, B = 9, 4
    inputs = [rng.standard_normal((T, B, 6)).astype(dtype) for _ in range(N_THREADS)]
    lengths = [rng.integers(1, T + 1, B) for _ in range(N_THREADS)]
    states = [(rng.standard_normal((4, B, 5)).astype(dtype),
               rng.standard_normal((4, B, 12)).astype(dtype)) for _ in range(N_THREADS)]

    def calls(i):
        out = [model(inputs[i]), model(inputs[i], states[i], lengths=lengths[i]),
               model.forward(inputs[i], lengths=lengths[i], training=False)[:2]]
        state = None
        for x_t in inputs[i]:
            y_t, state = stream.step(x_t, state)
        out.append((y_t, state))
        return out

    assert_threads_match_serial(calls)


def test_forwards_split_by_hidden_units_serve_eight_threads_as_one(rng):
    """Batches under 8 rows with H >= 128 split each step by hidden units over the
    core's threads (csrc/lstm.c, unit_chunks). From 8 Python threads at once, one call holds
    the core's pool and the others run every chunk in their own thread: the same bits."""
    model = lstmcore.LSTM(16, 128, bidirectional=True, seed=0)
    T, B = 12, 2
    inputs = [rng.standard_normal((T, B, 16)).astype(np.float32) for _ in range(N_THREADS)]
    states = [(rng.standard_normal((2, B, 128)).astype(np.float32),
               rng.standard_normal((2, B, 128)).astype(np.float32)) for _ in range(N_THREADS)]

    def calls(i):
        return [model(inputs[i]), model(inputs[i], states[i]),
                model.forward(inputs[i], states[i])[:2]]

    with lstmcore.num_threads(2):
        assert_threads_match_serial(calls)


def train(seed, dtype, steps=15):
    """Train a fresh model by plain SGD; return its weights and last gradients."""
    rng = np.random.default_rng(seed)
    model = lstmcore.LSTM(4, 8, num_layers=2, bidirectional=seed % 2 == 0, dropout=0.2,
                          dtype=dtype, seed=seed)
    for _ in range(steps):
        x = rng.standard_normal((7, 3, 4)).astype(dtype)
        y, (h_n, c_n), cache = model.forward(x, lengths=rng.integers(1, 8, 3))
        model.zero_grad()
        model.backward(y - 0.5, cache, dh_n=h_n)
        for name, p in model.parameters().items():
            p -= 0.05 * model.grads[name]
    return model.state_dict(), {k: g.copy() for k, g in model.grads.items()}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_separate_models_train_in_parallel_as_in_series(dtype):
    serial = [train(i, dtype) for i in range(N_THREADS)]
    parallel = run_in_threads(lambda i: train(i, dtype))
    for (weights, grads), (weights_s, grads_s) in zip(parallel, serial):
        for name in weights_s:
            np.testing.assert_array_equal(weights[name], weights_s[name], err_msg=name)
            np.testing.assert_array_equal(grads[name], grads_s[name], err_msg=name)


# ---- the GIL -------------------------------------------------------------------------------

CALL_SECONDS = 0.25  # how long the C call under test should run


def make_call(kind, dtype, T):
    """A zero-argument function making one long call of ``kind`` into the C core.

    One layer in one direction, so the time goes to a single C call.
    """
    model = lstmcore.LSTM(64, 256, dtype=dtype, seed=0)
    x = np.random.default_rng(0).standard_normal((T, 1, 64)).astype(dtype)
    if kind == "inference":
        return lambda: model(x)
    if kind == "training forward":
        return lambda: model.forward(x)
    if kind == "backward":
        y, _, _ = model.forward(x)
        dy = np.ones_like(y)

        def backward():  # a fresh cache each time; its forward runs outside the timed call
            cache = model.forward(x)[2]
            start = time.perf_counter()
            model.backward(dy, cache)
            return start
        return backward
    raise ValueError(kind)


def timed(call):
    """(start, end) of the C call: a call may return its own start when it has a prologue."""
    start = time.perf_counter()
    own_start = call()
    return (own_start if isinstance(own_start, float) else start), time.perf_counter()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["inference", "training forward", "backward"])
def test_c_calls_release_the_gil(kind, dtype):
    """While one thread is inside a long C call, another Python thread keeps running.

    The other thread notes every pause in its loop longer than a millisecond. Were the GIL
    held, it would pause for the whole call; released, its pauses are scheduler noise. The
    bound is half the call's own duration, so a slow, loaded machine stretches both alike.
    """
    with threadpool_limits(limits=1):  # BLAS on one core: the loop below gets the other
        T = 64
        start, end = timed(make_call(kind, dtype, T))
        T = int(min(20_000, max(T, T * CALL_SECONDS / max(end - start, 1e-6))))
        call = make_call(kind, dtype, T)

        window, done = [], threading.Event()

        def worker():
            time.sleep(0.02)  # let the loop below get going first
            window.extend(timed(call))
            done.set()

        thread = threading.Thread(target=worker)
        pauses, iterations = [], 0
        thread.start()
        last = time.perf_counter()
        while not done.is_set():
            now = time.perf_counter()
            if now - last > 1e-3:
                pauses.append((last, now))
            last = now
            iterations += 1
        thread.join()

    start, end = window
    duration = end - start
    overlapping = [min(b, end) - max(a, start) for a, b in pauses if b > start and a < end]
    longest = max(overlapping, default=0.0)
    assert longest < 0.5 * duration, (
        f"the other thread stood still for {longest * 1e3:.0f} ms of a "
        f"{duration * 1e3:.0f} ms {kind} call: the GIL was held")
    assert iterations > 1000
