"""LSTM.step: streaming inference one time step at a time equals the whole-sequence call."""
import numpy as np
import pytest

import lstmcore
from tolerances import TOL, assert_close

DTYPES = [np.float32, np.float64]

# (num_layers, proj_size, bias): every forward-only configuration the model has.
CONFIGS = [(1, 0, True), (1, 0, False), (1, 3, True), (2, 0, True), (2, 2, False),
           (3, 0, False), (3, 2, True)]

T, B, I, H = 6, 3, 2, 5


def make_model(config, dtype, batch_first=False, dropout=0.0):
    num_layers, proj_size, bias = config
    return lstmcore.LSTM(I, H, num_layers=num_layers, proj_size=proj_size, bias=bias,
                         batch_first=batch_first, dropout=dropout, dtype=dtype, seed=3)


def random_state(rng, model, dtype, batch=(B,)):
    L = model.num_layers
    return (rng.standard_normal((L, *batch, model.output_size)).astype(dtype),
            rng.standard_normal((L, *batch, model.hidden_size)).astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", CONFIGS, ids=str)
@pytest.mark.parametrize("initial", ["zeros", "h0c0"])
def test_steps_equal_whole_sequence(rng, dtype, config, initial):
    model = make_model(config, dtype)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    state = random_state(rng, model, dtype) if initial == "h0c0" else None
    y, (h_n, c_n) = model(x, state)

    ys = []
    for t in range(T):
        y_t, state = model.step(x[t], state)
        assert y_t.shape == (B, model.output_size) and y_t.dtype == dtype
        ys.append(y_t)
    assert_close(np.stack(ys), y, TOL[dtype], "y")
    assert_close(state[0], h_n, TOL[dtype], "h_n")
    assert_close(state[1], c_n, TOL[dtype], "c_n")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["batch_first", "unbatched"])
def test_steps_equal_whole_sequence_in_every_layout(rng, dtype, layout):
    """x_t is (B, I) whatever batch_first says, and (I,) for an unbatched stream."""
    model = make_model((2, 2, True), dtype, batch_first=layout == "batch_first")
    if layout == "batch_first":
        x = rng.standard_normal((B, T, I)).astype(dtype)
        steps = [x[:, t] for t in range(T)]
        state = random_state(rng, model, dtype)
        expected_shape, stack_axis = (B, model.output_size), 1
    else:
        x = rng.standard_normal((T, I)).astype(dtype)
        steps = list(x)
        state = random_state(rng, model, dtype, batch=())
        expected_shape, stack_axis = (model.output_size,), 0
    y, (h_n, c_n) = model(x, state)

    ys = []
    for x_t in steps:
        y_t, state = model.step(x_t, state)
        assert y_t.shape == expected_shape
        ys.append(y_t)
    assert_close(np.stack(ys, axis=stack_axis), y, TOL[dtype], "y")
    assert_close(state[0], h_n, TOL[dtype], "h_n")
    assert_close(state[1], c_n, TOL[dtype], "c_n")


def test_steps_continue_from_a_whole_sequence_call(rng):
    model = make_model((2, 0, True), np.float64)
    x = rng.standard_normal((T, B, I))
    y, _ = model(x)
    _, state = model(x[:4])
    for t in range(4, T):
        y_t, state = model.step(x[t], state)
    assert_close(y_t, y[-1], TOL[np.float64], "last y")


def test_step_is_inference_only(rng):
    """No dropout, no grads touched, the dropout generator not drawn from."""
    model = make_model((3, 0, True), np.float32, dropout=0.5)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    y, _ = model(x)
    rng_state = model._rng.bit_generator.state
    state, ys = None, []
    for t in range(T):
        y_t, state = model.step(x[t], state)
        ys.append(y_t)
    assert_close(np.stack(ys), y, TOL[np.float32], "y")
    assert all(not g.any() for g in model.grads.values())
    assert model._rng.bit_generator.state == rng_state


def test_step_converts_other_float_dtypes(rng):
    model = make_model((1, 0, True), np.float64)
    x_t = rng.standard_normal((B, I)).astype(np.float16)
    y16, _ = model.step(x_t)
    y64, _ = model.step(x_t.astype(np.float64))
    np.testing.assert_array_equal(y16, y64)


def test_bidirectional_model_refuses_to_step(rng):
    model = lstmcore.LSTM(I, H, bidirectional=True, seed=0)
    with pytest.raises(ValueError, match="bidirectional"):
        model.step(rng.standard_normal((B, I)).astype(np.float32))


@pytest.mark.parametrize("shape", [(B, T, I), (), (B, I + 1), (I + 1,), (0, I)], ids=str)
def test_step_refuses_x_t_of_wrong_shape(shape):
    model = make_model((1, 0, True), np.float32)
    with pytest.raises(ValueError, match="x_t"):
        model.step(np.zeros(shape, np.float32))


@pytest.mark.parametrize("x_t", [np.zeros((B, I), int), np.zeros((B, I), complex),
                                 np.array([["a"] * I] * B), [[None] * I] * B],
                         ids=["int", "complex", "str", "object"])
def test_step_refuses_x_t_that_is_not_float(x_t):
    model = make_model((1, 0, True), np.float32)
    with pytest.raises(TypeError, match="x_t"):
        model.step(x_t)


def test_step_refuses_a_mismatched_state(rng):
    model = make_model((2, 0, True), np.float32)
    h, c = random_state(rng, model, np.float32)
    x_t = rng.standard_normal((B, I)).astype(np.float32)
    with pytest.raises(ValueError, match=r"state\[0\] \(h0\)"):
        model.step(x_t, (h[:1], c))
    with pytest.raises(ValueError, match=r"state\[1\] \(c0\)"):
        model.step(x_t, (h, c[:, :2]))
    with pytest.raises(TypeError, match="state"):
        model.step(x_t, (h, None))
    with pytest.raises(TypeError, match="state"):
        model.step(x_t, h)
