"""Thread control, and results that do not depend on the thread count."""
import numpy as np
import pytest

import lstmcore


def test_num_threads_context_sets_and_restores():
    before = lstmcore.get_num_threads()
    with lstmcore.num_threads(1):
        assert lstmcore.get_num_threads() == 1
    assert lstmcore.get_num_threads() == before


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_thread_count_must_be_a_positive_integer(bad):
    with pytest.raises((TypeError, ValueError), match="n must"):
        lstmcore.set_num_threads(bad)


# (10, 32, 1, 30), (20, 13, 48, 16) and (6, 9, 3, 5) split over the core's own threads (batch
# >= 8, small steps), the backward's weight gradients summed by row groups fixed by the sizes,
# added in group order: every sum is the core's, so the results are bitwise the same for any
# count. (6, 48, 64, 96) splits its loops and runs those products on BLAS, in fixed pieces on
# the core's threads with SciPy's OpenBLAS set to 1 thread for the call: bitwise too, wherever
# that BLAS is SciPy's own.
# (8, 1, 64, 256) splits its steps by hidden units (a batch under 8 rows, H >= 128; see
# below), its input projection and the backward's products in fixed pieces on that
# single-threaded OpenBLAS: bitwise too, with full lengths (with lengths it takes the path of
# (8, 1, 64, 96)). (8, 1, 64, 96) runs its products on BLAS's threads, and OpenBLAS's results
# are not always the same for every thread count (with its Haswell kernels, used on AVX2 CPUs
# without AVX-512, where a thread's share of a GEMM ends changes which kernel sums an element;
# seen in the last bits on this project's CI machine), so it is held to the reference's
# tolerances.
CORE_ONLY = [(10, 32, 1, 30), (20, 13, 48, 16), (6, 9, 3, 5)]
BLAS_PIECES = [(6, 48, 64, 96)]
UNIT_PIECES = [(8, 1, 64, 256)]
WITH_BLAS = [(8, 1, 64, 96)]
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}


def exact_for(shape, varlen):
    """Whether results must be the same bits for every thread count."""
    if shape in BLAS_PIECES or (shape in UNIT_PIECES and not varlen):
        from lstmcore._scipy_blas import scipy_openblas_controller
        return scipy_openblas_controller() is not None
    return shape in CORE_ONLY


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", CORE_ONLY + BLAS_PIECES + UNIT_PIECES + WITH_BLAS, ids=str)
@pytest.mark.parametrize("varlen", [False, True], ids=["full", "lengths"])
def test_results_do_not_depend_on_the_thread_count(rng, dtype, shape, varlen):
    T, B, I, H = shape
    x = rng.standard_normal((T, B, I)).astype(dtype)
    dy = rng.standard_normal((T, B, 2 * H)).astype(dtype)
    lengths = rng.integers(1, T + 1, B) if varlen else None
    runs = []
    for n in (1, 2, 3):
        model = lstmcore.LSTM(I, H, num_layers=2, bidirectional=True, dtype=dtype, seed=1)
        with lstmcore.num_threads(n):
            assert lstmcore.get_num_threads() == n
            y_inference, _ = model(x, lengths=lengths)
            y, (h_n, c_n), cache = model.forward(x, lengths=lengths)
            dx, _ = model.backward(dy, cache)
        runs.append([y_inference, y, h_n, c_n, dx, *model.grads.values()])
    exact = exact_for(shape, varlen)
    for one, *others in zip(*runs):
        for other in others:
            if exact:
                np.testing.assert_array_equal(one, other)
            else:
                scale = max(float(np.abs(one).max()), np.finfo(dtype).tiny)
                assert float(np.abs(one - other).max()) / scale <= TOLERANCE[dtype]


# A training cache is laid out by the sizes alone (row groups: csrc/lstm_impl.h,
# group_cache_row), so a backward run at another thread count than its forward reads it the
# same way: every pairing of counts gives the same bits.
@pytest.mark.parametrize("shape", [(10, 32, 1, 30), (7, 40, 3, 8)], ids=str)
@pytest.mark.parametrize("varlen", [False, True], ids=["full", "lengths"])
def test_a_backward_at_another_thread_count_than_its_forward(rng, shape, varlen):
    T, B, I, H = shape
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    dy = rng.standard_normal((T, B, 2 * H)).astype(np.float32)
    lengths = rng.integers(1, T + 1, B) if varlen else None
    runs = []
    for forward_threads, backward_threads in [(1, 1), (1, 2), (2, 1), (2, 3)]:
        model = lstmcore.LSTM(I, H, bidirectional=True, seed=2)
        with lstmcore.num_threads(forward_threads):
            y, _, cache = model.forward(x, lengths=lengths)
        with lstmcore.num_threads(backward_threads):
            dx, (dh0, dc0) = model.backward(dy, cache)
        runs.append([y, dx, dh0, dc0, *model.grads.values()])
    for first, *others in zip(*runs):
        for other in others:
            np.testing.assert_array_equal(first, other)


# Batches under 8 rows with H >= 128 and full lengths split each step by hidden units
# (unit_chunks in csrc/lstm.c), forward and backward, each chunk projecting its own input
# columns, and the backward's products after its loop running in fixed pieces, on SciPy's
# OpenBLAS set to 1 thread: the same bits for any count. (1, 1, 3, 128) with an initial state
# has one step, at which the chunks read h0 while others finish theirs: h_n is only written
# after the loop. Each count runs a few times, to give an ordering bug a chance to show.
UNIT_SPLIT = [(8, 1, 64, 256), (1, 1, 3, 128), (5, 3, 16, 200), (4, 6, 8, 130)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", UNIT_SPLIT, ids=str)
def test_a_call_split_by_hidden_units_does_not_depend_on_the_thread_count(rng, dtype, shape):
    from lstmcore import reference
    from lstmcore._scipy_blas import scipy_openblas_controller

    assert scipy_openblas_controller() is not None, "SciPy's wheels bundle OpenBLAS"
    T, B, I, H = shape
    x = rng.standard_normal((T, B, I)).astype(dtype)
    h0, c0, dh_n, dc_n = (rng.standard_normal((2, B, H)).astype(dtype) for _ in range(4))
    dy = rng.standard_normal((T, B, 2 * H)).astype(dtype)
    model = lstmcore.LSTM(I, H, bidirectional=True, dtype=dtype, seed=1)
    first = None
    for n in (1, 2, 3):
        with lstmcore.num_threads(n):
            for _ in range(5):
                y, (h_n, c_n) = model(x, (h0, c0))
                y_train, (h_train, c_train), cache = model.forward(x, (h0, c0))
                model.zero_grad()
                dx, (dh0, dc0) = model.backward(dy, cache, dh_n, dc_n)
                got = [a.copy() for a in (y, h_n, c_n, dx, dh0, dc0, *model.grads.values(),
                                          y_train, h_train, c_train)]
                first = got if first is None else first
                for expected, result in zip(first, got):
                    np.testing.assert_array_equal(expected, result)
    ref_y, ref_h, ref_c, ref_cache = reference.forward(model.state_dict(), x, h0, c0,
                                                       bidirectional=True)
    ref_dx, ref_dh0, ref_dc0, ref_grads = reference.backward(ref_cache, dy, dh_n, dc_n)
    wants = [ref_y, ref_h, ref_c, ref_dx, ref_dh0, ref_dc0, *map(ref_grads.get, model.grads)]
    for result, ref in zip(first, wants):
        assert float(np.abs(result - ref).max()) <= TOLERANCE[dtype] * float(np.abs(ref).max())


@pytest.mark.parametrize("adaptive", [True, False], ids=["adaptive", "always-split"])
def test_adaptive_split_keeps_every_result_the_same(rng, adaptive):
    """Row-group calls run split or in one thread by their recent times (set_adaptive_threads):
    a training step's 2nd call runs in one thread, then the faster way (the other every 128th),
    so 70 training steps take both ways; each gives the same bits."""
    T, B, I, H = 10, 32, 1, 30
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    dy = rng.standard_normal((T, B, H)).astype(np.float32)
    model = lstmcore.LSTM(I, H, seed=2)
    first = None
    try:
        lstmcore.set_adaptive_threads(adaptive)
        with lstmcore.num_threads(2):
            for _ in range(70):
                y, (h_n, c_n), cache = model.forward(x)
                model.zero_grad()
                dx, (dh0, dc0) = model.backward(dy, cache)
                got = [a.copy() for a in (model(x)[0], y, h_n, c_n, dx, dh0, dc0,
                                          *model.grads.values())]
                first = got if first is None else first
                for expected, result in zip(first, got):
                    np.testing.assert_array_equal(expected, result)
    finally:
        lstmcore.set_adaptive_threads(True)


def test_set_adaptive_threads_takes_a_flag():
    with pytest.raises(TypeError, match="on must be True or False"):
        lstmcore.set_adaptive_threads("no")


def test_set_num_threads_sets_the_core_and_blas():
    from threadpoolctl import threadpool_info

    before = lstmcore.get_num_threads()
    try:
        lstmcore.set_num_threads(2)
        assert lstmcore.get_num_threads() == 2
        assert all(lib["num_threads"] == 2 for lib in threadpool_info()
                   if lib["user_api"] == "blas")
        lstmcore.set_num_threads(1)
        assert lstmcore.get_num_threads() == 1
    finally:
        lstmcore.set_num_threads(before)


def test_core_splits_a_call_across_threads_and_keeps_the_gil_released():
    """With 2 core threads a split call still releases the GIL: another Python thread runs
    while it computes (the pool's worker must not need the GIL either)."""
    import threading
    import time

    import os

    from lstmcore.bench.run import wait_until_idle

    # With both cores taken by the call's two threads the ticker gets a core only when the
    # scheduler preempts one of them. A call of 8 ms (400 steps) sometimes ended before it
    # did, when OpenBLAS's threads were still spinning after an earlier test's NumPy products
    # (1 run in 5 of this file): they are let go idle first, and the call is 40 ms.
    wait_until_idle(os.getpid())
    model = lstmcore.LSTM(16, 32, seed=0)
    x = np.random.default_rng(0).standard_normal((2000, 64, 16)).astype(np.float32)
    ticks = []
    done = threading.Event()

    def ticker():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.0005)

    with lstmcore.num_threads(2):
        thread = threading.Thread(target=ticker)
        thread.start()
        start = time.perf_counter()
        model(x)
        end = time.perf_counter()
        done.set()
        thread.join()
    assert sum(start < t < end for t in ticks) >= 2


def _split_call_in_child(queue):
    model = lstmcore.LSTM(3, 8, seed=0)
    x = np.ones((5, 16, 3), np.float32)
    result = model(x)[0].sum()
    lstmcore.set_num_threads(1)  # joins the pool's threads: the child's own, not the parent's
    queue.put(result)


def test_a_forked_child_runs_split_calls_with_a_fresh_pool():
    """After the parent's pool has started threads, a child made by fork() has none of them:
    its first split call must start its own, and stopping them must not wait for (join) the
    parent's (pthread_atfork resets the pool)."""
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("this platform has no fork()")
    model = lstmcore.LSTM(3, 8, seed=0)
    x = np.ones((5, 16, 3), np.float32)
    with lstmcore.num_threads(2):
        expected = model(x)[0].sum()  # the parent's workers now exist
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=_split_call_in_child, args=(queue,))
        child.start()
        child.join(timeout=60)
        assert child.exitcode == 0, "the child hung or died"
        assert queue.get(timeout=5) == expected


def test_a_backward_that_limits_scipys_blas_puts_its_threads_back(rng):
    """(6, 48, 64, 96)'s backward sets SciPy's OpenBLAS to 1 thread while it runs, from
    several Python threads at once too: afterwards the count is what it was."""
    import threading

    from lstmcore._scipy_blas import scipy_openblas_controller

    controller = scipy_openblas_controller()
    assert controller is not None, "SciPy's wheels bundle OpenBLAS; CI installs them"
    x = rng.standard_normal((6, 48, 64)).astype(np.float32)
    dy = rng.standard_normal((6, 48, 96)).astype(np.float32)
    models = [lstmcore.LSTM(64, 96, seed=k) for k in range(3)]

    def train(model):
        for _ in range(5):
            _, _, cache = model.forward(x)
            model.backward(dy, cache)

    with lstmcore.num_threads(2):
        train(models[0])
        assert controller.get_num_threads() == 2
        threads = [threading.Thread(target=train, args=(m,)) for m in models]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert controller.get_num_threads() == 2
