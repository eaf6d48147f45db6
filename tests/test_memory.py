"""The blocks the binding keeps for reuse (_core.empty, lstmcore.memory)."""
import threading

import numpy as np
import pytest

import lstmcore
from lstmcore import _core

MIN_BYTES = 1 << 18  # _core's POOL_MIN_BYTES: smaller arrays are NumPy's own
BIG = (512, 256)     # 512 KB of float32


@pytest.fixture(autouse=True)
def empty_pool():
    lstmcore.release_memory()
    yield
    lstmcore.release_memory()


def address(a):
    return a.__array_interface__["data"][0]


@pytest.mark.parametrize("shape", [BIG, (3, 1000, 100), 100_000, (0, 70_000)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_empty_is_an_ordinary_writable_array(shape, dtype):
    a = _core.empty(shape, dtype)
    expected = (shape,) if isinstance(shape, int) else shape
    assert a.shape == expected and a.dtype == dtype
    assert a.flags.c_contiguous and a.flags.writeable
    a[...] = 7
    assert np.all(a == 7)


@pytest.mark.parametrize("shape", [(), 1, (3, 5), (7, 9, 11), BIG, (0, 4), 100_000])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, np.dtype(">f4")])
def test_empty_starts_on_a_cache_line(shape, dtype):
    """64-byte aligned at every size, so that the core's threads never write one line."""
    arrays = [_core.empty(shape, dtype) for _ in range(20)]  # several addresses from malloc
    for a in arrays:
        assert address(a) % 64 == 0 and a.dtype == dtype and a.flags.c_contiguous


def test_the_arrays_of_a_training_step_start_on_cache_lines():
    """What the core's threads write: y, the states, the saved gates and the gradients."""
    rng = np.random.default_rng(0)
    model = lstmcore.LSTM(1, 30, seed=0)
    x = rng.standard_normal((10, 32, 1), dtype=np.float32)
    for _ in range(5):
        y, (h_n, c_n), cache = model.forward(x)
        saved = cache.layers[0][2][0]
        dx, (dh0, dc0) = model.backward(np.ones_like(y), cache)
        for a in (y, h_n, c_n, saved, dx, dh0, dc0):
            assert address(a) % 64 == 0


def test_small_arrays_are_not_kept():
    a = _core.empty((10, 10), np.float32)
    del a
    assert lstmcore.kept_memory() == (0, 0)


def test_a_freed_block_is_reused_and_live_ones_never_shared():
    a = _core.empty(BIG, np.float32)
    first = address(a)
    b = _core.empty(BIG, np.float32)
    assert not np.shares_memory(a, b)
    b[...] = 2
    del a
    assert lstmcore.kept_memory() == (1, BIG[0] * BIG[1] * 4)
    c = _core.empty(BIG, np.float32)
    assert address(c) == first and lstmcore.kept_memory() == (0, 0)
    c[...] = 3
    assert np.all(b == 2)


def test_a_block_more_than_twice_the_request_is_not_taken():
    big = _core.empty((4 * MIN_BYTES,), np.uint8)
    big_address = address(big)
    del big
    small = _core.empty((MIN_BYTES,), np.uint8)
    assert address(small) != big_address
    assert lstmcore.kept_memory()[0] == 1  # the large block is still kept


def test_at_most_32_blocks_are_kept_and_release_frees_them():
    arrays = [_core.empty((MIN_BYTES,), np.uint8) for _ in range(40)]
    del arrays
    blocks, nbytes = lstmcore.kept_memory()
    assert blocks == 32 and nbytes == 32 * MIN_BYTES
    lstmcore.release_memory()
    assert lstmcore.kept_memory() == (0, 0)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="negative"):
        _core.empty((-1, 5), np.float32)
    with pytest.raises(MemoryError, match="cannot allocate"):  # 2**80 elements: no wrap-around
        _core.empty((2**40, 2**40), np.float32)


def test_threads_allocating_at_once_each_keep_their_own_data():
    errors = []

    def work(k):
        for _ in range(200):
            a = _core.empty(BIG, np.float64)
            a[...] = k
            b = _core.empty((MIN_BYTES // 8 + k,), np.float64)
            b[...] = -k
            if not (np.all(a == k) and np.all(b == -k)):
                errors.append(k)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_a_training_loop_takes_its_arrays_from_kept_blocks():
    """After the first step, every large array of a step is a kept block: the blocks kept
    between steps stay the same, and the model's results do not change with reuse."""
    rng = np.random.default_rng(0)
    model = lstmcore.LSTM(32, 64, seed=0)
    x = rng.standard_normal((40, 32, 32), dtype=np.float32)
    dy = rng.standard_normal((40, 32, 64), dtype=np.float32)
    lengths = rng.integers(1, 41, 32)
    results = []
    kept = []
    for _ in range(3):
        model.zero_grad()
        y, _, cache = model.forward(x, lengths=lengths)
        dx, _ = model.backward(dy, cache)
        results.append((y.copy(), dx.copy(), model.grads["weight_hh_l0"].copy()))
        del y, dx, cache
        kept.append(lstmcore.kept_memory())
    assert kept[0][0] > 0 and kept[1] == kept[0] == kept[2]
    for later in results[1:]:
        for a, b in zip(results[0], later):
            np.testing.assert_array_equal(a, b)
