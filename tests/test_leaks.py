"""Memory stays flat over many calls: nothing the C core, the binding or the model allocates
per call outlives the call (caches die with their last reference)."""
import gc
import os

import numpy as np
import pytest

import lstmcore
from lstmcore import _core

CALLS = 10_000
WARM_UP = 500
# Growth allowed after the warm-up: allocator noise (tens of KiB seen). Leaking even one small
# NumPy array (~130 bytes with its data) per call exceeds it; every buffer of a call is larger.
SLACK_BYTES = 2**20


def resident_bytes():
    """The process's resident set size now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"),
                                reason="reads the resident set size from /proc")


def assert_flat(step, calls=CALLS):
    for _ in range(WARM_UP):
        step()
    gc.collect()
    before = resident_bytes()
    for _ in range(calls):
        step()
    gc.collect()
    grown = resident_bytes() - before
    assert grown < SLACK_BYTES, f"RSS grew by {grown / 2**20:.1f} MiB over {calls} calls"


def test_forward_backward_keep_memory_flat(rng):
    """Every path a training step takes: lengths (packing), states, dropout, backward."""
    model = lstmcore.LSTM(3, 8, num_layers=2, bidirectional=True, proj_size=4, dropout=0.1,
                          seed=0)
    x = rng.standard_normal((5, 4, 3)).astype(np.float32)
    hx = (np.zeros((4, 4, 4), np.float32), np.zeros((4, 4, 8), np.float32))
    lengths = np.array([5, 2, 4, 1])
    dy = np.ones((5, 4, 8), np.float32)

    def step():
        _, (h_n, _), cache = model.forward(x, hx, lengths=lengths)
        model.backward(dy, cache, dh_n=h_n)

    assert_flat(step)


def test_inference_and_streaming_keep_memory_flat(rng):
    model = lstmcore.LSTM(3, 8, num_layers=2, dtype=np.float64, seed=0)
    x = rng.standard_normal((5, 4, 3))
    state = None

    def step():
        nonlocal state
        model(x)
        _, state = model.step(x[0], state)

    assert_flat(step)


def test_refused_calls_keep_memory_flat(rng):
    """Errors raised in the model's checks and in the binding, after it took buffers."""
    model = lstmcore.LSTM(3, 8, seed=0)
    x = rng.standard_normal((5, 4, 3)).astype(np.float32)
    w_ih, w_hh = model.parameters()["weight_ih_l0"], model.parameters()["weight_hh_l0"]
    h_n, c_n = np.empty((4, 8), np.float32), np.empty((4, 7), np.float32)  # c_n misshapen
    y = np.empty((20, 8), np.float32)

    def step():
        for call in (lambda: model(x, lengths=[5, 5, 5, 9]),
                     lambda: model(x, (np.zeros((1, 4, 8)), None)),
                     lambda: _core.layer_forward(x.reshape(20, 3), y, 0, h_n, c_n, w_ih, w_hh,
                                                 None, None, None, None, None, None, 5, False,
                                                 True)):
            try:
                call()
            except (ValueError, TypeError):
                pass
            else:
                raise AssertionError("the bad call was accepted")

    assert_flat(step, calls=CALLS // 3)
