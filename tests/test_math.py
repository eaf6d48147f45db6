"""The C core's own float32 sigmoid and tanh (csrc/lstm_math.h): accurate to a few ulp, and
NaN/Inf behave as IEEE says."""
import numpy as np
import pytest
from scipy.special import expit

from lstmcore import _core

EXACT = {"sigmoid": expit, "tanh": np.tanh}
MAX_ULP = 3.0


def every_kth_float32(lo, hi, k=97):
    """Float32 values in [lo, hi], stepping through the bit patterns (both signs)."""
    bits = np.arange(0, 0x7F800000, k, dtype=np.uint32)
    pos = bits.view(np.float32)
    values = np.concatenate([pos, -pos])
    return values[(values >= lo) & (values <= hi)]


@pytest.mark.parametrize("name", sorted(EXACT))
def test_within_a_few_ulp_of_float64(name):
    v = every_kth_float32(-100, 100)
    ours = _core.gate_math_f32(v, name).astype(np.float64)
    exact = EXACT[name](v.astype(np.float64))
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    normal = np.abs(exact) >= np.finfo(np.float32).tiny  # below it, flushing is fine
    err = np.abs(ours - exact)[normal] / ulp[normal]
    assert err.max() <= MAX_ULP, f"{name}: {err.max():.2f} ulp at {v[normal][err.argmax()]}"
    # below the normal range the result stays absolutely tiny
    assert np.abs(ours - exact)[~normal].max() <= np.finfo(np.float32).tiny


@pytest.mark.parametrize("name", sorted(EXACT))
def test_nan_propagates_and_inf_saturates(name):
    v = np.array([np.nan, np.inf, -np.inf, 0.0], np.float32)
    out = _core.gate_math_f32(v, name)
    assert np.isnan(out[0])
    assert out[1] == 1.0
    assert out[2] == (-1.0 if name == "tanh" else 0.0)
    assert out[3] == (0.0 if name == "tanh" else 0.5)
    if name == "tanh":  # odd, down to the sign of zero
        assert np.signbit(_core.gate_math_f32(np.array([-0.0], np.float32), name)[0])


def test_nan_input_gives_nan_output_not_a_crash():
    import lstmcore
    model = lstmcore.LSTM(2, 3, seed=0)
    x = np.ones((4, 2, 2), np.float32)
    x[1, 0, 0] = np.nan
    y, (h_n, c_n) = model(x)
    assert np.isnan(y[1:, 0]).all()          # NaN flows on through the recurrence
    assert np.isfinite(y[:, 1]).all()        # the other sequence is untouched
    x[1, 0, 0] = np.inf
    y, _ = model(x)
    assert np.isfinite(y[0]).all()
