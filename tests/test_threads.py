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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(10, 32, 1, 30), (6, 48, 64, 96), (8, 1, 64, 256)],
                         ids=str)
def test_results_identical_for_one_and_two_threads(rng, dtype, shape):
    T, B, I, H = shape
    x = rng.standard_normal((T, B, I)).astype(dtype)
    dy = rng.standard_normal((T, B, 2 * H)).astype(dtype)
    runs = []
    for n in (1, 2):
        model = lstmcore.LSTM(I, H, num_layers=2, bidirectional=True, dtype=dtype, seed=1)
        with lstmcore.num_threads(n):
            y, (h_n, c_n), cache = model.forward(x)
            dx, _ = model.backward(dy, cache)
        runs.append([y, h_n, c_n, dx, *model.grads.values()])
    for one, two in zip(*runs):
        np.testing.assert_array_equal(one, two)
