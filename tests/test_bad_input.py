"""Bad input anywhere in the public API gets an exception that names the argument, never a crash.

Also the choices documented on :class:`lstmcore.LSTM`: empty input (T = 0 or B = 0) is a
ValueError, and NaN/Inf propagate as IEEE arithmetic says (checked against the reference).
"""
import re

import numpy as np
import pytest

import lstmcore
from lstmcore import reference
from lstmcore.interop import from_keras, from_onnx, from_tf1, to_keras, to_onnx, to_torch
from tolerances import TOL, assert_close

DTYPES = [np.float32, np.float64]
T, B, I, H = 4, 3, 2, 5


def small_model(dtype=np.float32, **kwargs):
    return lstmcore.LSTM(I, H, dtype=dtype, seed=0, **kwargs)


def forward_with_cache(model, rng, T=T, B=B):
    x = rng.standard_normal((T, B, I)).astype(model.dtype)
    y, state, cache = model.forward(x)
    return x, y, cache


# ---- constructor ---------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,error,match", [
    (dict(input_size=0), ValueError, "input_size"),
    (dict(input_size=-3), ValueError, "input_size"),
    (dict(input_size=2.0), TypeError, "input_size"),
    (dict(input_size=True), TypeError, "input_size"),
    (dict(input_size="2"), TypeError, "input_size"),
    (dict(hidden_size=0), ValueError, "hidden_size"),
    (dict(hidden_size=5.5), TypeError, "hidden_size"),
    (dict(hidden_size=False), TypeError, "hidden_size"),
    (dict(num_layers=0), ValueError, "num_layers"),
    (dict(num_layers=1.0), TypeError, "num_layers"),
    (dict(proj_size=-1), ValueError, "proj_size"),
    (dict(proj_size=H), ValueError, "proj_size"),
    (dict(proj_size=H + 1), ValueError, "proj_size"),
    (dict(proj_size=True), TypeError, "proj_size"),
    (dict(dropout=-0.1), ValueError, "dropout"),
    (dict(dropout=1.5), ValueError, "dropout"),
    (dict(dropout=float("nan")), ValueError, "dropout"),
    (dict(dropout="0.5"), TypeError, "dropout"),
    (dict(dropout=True), TypeError, "dropout"),
    (dict(dropout=None), TypeError, "dropout"),
    (dict(dtype=np.float16), TypeError, "dtype"),
    (dict(dtype=np.int32), TypeError, "dtype"),
    (dict(dtype=np.complex64), TypeError, "dtype"),
    (dict(dtype="not a dtype"), TypeError, "dtype"),
    (dict(dtype=None), TypeError, "dtype"),
    (dict(bias="no"), TypeError, "bias"),
    (dict(batch_first=2), TypeError, "batch_first"),
    (dict(bidirectional="yes"), TypeError, "bidirectional"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(seed="abc"), TypeError, "seed"),
])
def test_bad_constructor_arguments_are_refused_by_name(kwargs, error, match):
    args = dict(input_size=I, hidden_size=H) | kwargs
    with pytest.raises(error, match=match):
        lstmcore.LSTM(**args)


def test_constructor_accepts_numpy_integers_and_bools():
    model = lstmcore.LSTM(np.int64(I), np.int32(H), num_layers=np.uint8(2), proj_size=np.int16(2),
                          bias=np.bool_(False), bidirectional=1, dropout=np.float32(0.25),
                          dtype="float64")
    assert (model.input_size, model.hidden_size, model.num_layers, model.proj_size) == (I, H, 2, 2)
    assert model.bias is False and model.bidirectional is True and model.dtype is np.float64


def test_hidden_size_past_blas_ints_is_a_value_error():
    with pytest.raises(ValueError, match="hidden_size.*32-bit"):
        lstmcore.LSTM(10**9, 10**9)


def test_input_size_past_blas_ints_is_a_value_error():
    with pytest.raises(ValueError, match="input_size"):
        lstmcore.LSTM(2**31, 4)


@pytest.mark.parametrize("kwargs", [dict(input_size=100_000, hidden_size=100_000),
                                    dict(input_size=1, hidden_size=1, num_layers=10**9),
                                    dict(input_size=1, hidden_size=40_000, num_layers=10**4)],
                         ids=["wide", "deep", "both"])
def test_model_larger_than_memory_is_a_memory_error_before_allocating(kwargs):
    with pytest.raises(MemoryError, match="parameters and gradients"):
        lstmcore.LSTM(**kwargs)


# ---- x -------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(), (I,), (T, B, I, 1), (T, B, I + 1), (T, I + 1)], ids=str)
def test_x_of_wrong_ndim_or_size_is_a_value_error(shape):
    with pytest.raises(ValueError, match="x must"):
        small_model()(np.zeros(shape, np.float32))


@pytest.mark.parametrize("x", [np.zeros((T, B, I), np.int64), np.zeros((T, B, I), bool),
                               np.zeros((T, B, I), np.complex128), np.full((T, B, I), "1.0"),
                               np.zeros((T, B, I), object), [[[1.0, None]] * B] * T,
                               [[1.0, 2.0], [3.0]], "text", None],
                         ids=["int", "bool", "complex", "str", "object", "None-in-list",
                              "ragged", "a-string", "None"])
def test_x_that_is_not_float_is_a_type_error(x):
    with pytest.raises(TypeError, match="x must"):
        small_model()(x)


@pytest.mark.parametrize("shape", [(0, B, I), (T, 0, I), (0, I)], ids=str)
@pytest.mark.parametrize("batch_first", [False, True])
def test_empty_x_is_a_value_error(shape, batch_first):
    """The documented choice: as PyTorch, no empty sequences or batches. The message quotes
    the shape as given, not the model's time-major view of it."""
    with pytest.raises(ValueError, match="at least one time step and one sequence") as error:
        small_model(batch_first=batch_first).forward(np.zeros(shape, np.float32))
    assert f"got shape {shape}" in str(error.value)


def test_x_with_more_rows_than_blas_ints_is_refused_before_conversion():
    """A broadcast float16 view costs no memory; converting it would need 48 GiB."""
    x = np.broadcast_to(np.zeros((1, 1, I), np.float16), (2**16, 2**15 + 1, I))
    with pytest.raises(ValueError, match=r"T \* B"):
        small_model()(x)


@pytest.mark.parametrize("training", [False, True])
def test_call_larger_than_memory_is_a_memory_error_before_allocating(training):
    x = np.broadcast_to(np.zeros((1, 1, I), np.float32), (2**15, 2**15, I))
    model = lstmcore.LSTM(I, 256, num_layers=2)
    with pytest.raises(MemoryError, match="rows"):
        model.forward(x, training=training)


# ---- NaN and Inf ---------------------------------------------------------------------------

def assert_same_ieee(actual, expected, tol, name):
    """NaN and +-Inf in the same places; the finite rest within tol."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, name
    for kind, test in (("NaN", np.isnan), ("+Inf", np.isposinf), ("-Inf", np.isneginf)):
        np.testing.assert_array_equal(test(actual), test(expected), err_msg=f"{name}: {kind}")
    finite = np.isfinite(expected)
    assert_close(actual[finite], expected[finite], tol, name)


def run_against_reference(model, x, dy, h0=None, c0=None):
    y, (h_n, c_n), cache = model.forward(x, None if h0 is None else (h0, c0))
    model.zero_grad()
    dx, (dh0, dc0) = model.backward(dy, cache)
    ours = dict(y=y, h_n=h_n, c_n=c_n, dx=dx, dh0=dh0, dc0=dc0, **model.grads)
    with np.errstate(invalid="ignore", over="ignore"):  # NaN and Inf are what this is about
        y_r, h_r, c_r, cache_r = reference.forward(
            model.state_dict(), x, h0, c0, num_layers=model.num_layers,
            bidirectional=model.bidirectional, proj_size=model.proj_size)
        dx_r, dh0_r, dc0_r, grads_r = reference.backward(cache_r, dy)
    theirs = dict(y=y_r, h_n=h_r, c_n=c_r, dx=dx_r, dh0=dh0_r, dc0=dc0_r, **grads_r)
    return ours, theirs


@pytest.mark.parametrize("dtype,value", [
    (np.float32, np.nan), (np.float32, np.inf), (np.float32, -np.inf),
    (np.float32, 1e30), (np.float32, -1e30),
    (np.float64, np.nan), (np.float64, np.inf), (np.float64, -np.inf), (np.float64, 1e300)],
    ids=lambda v: np.dtype(v).name if isinstance(v, type) else str(v))
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_nan_and_inf_in_x_propagate_as_ieee_says(rng, dtype, value, bidirectional):
    model = lstmcore.LSTM(1, H, num_layers=2, bidirectional=bidirectional, proj_size=2,
                          dtype=dtype, seed=1)
    x = rng.standard_normal((T, B, 1)).astype(dtype)
    x[1, 1, 0] = value
    dy = rng.standard_normal((T, B, model.num_directions * 2)).astype(dtype)
    ours, theirs = run_against_reference(model, x, dy)
    for name in theirs:
        assert_same_ieee(ours[name], theirs[name], TOL[dtype], name)
    # the other sequences of the batch are untouched
    clean = np.delete(x, 1, axis=1)
    y_clean, _ = model(clean)
    assert_close(np.delete(ours["y"], 1, axis=1), y_clean, TOL[dtype], "other rows")


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_in_weights_and_gradients_propagates_as_ieee_says(rng, dtype):
    """With a given (non-zero) initial state: with hx=None the core skips the step-0
    recurrent GEMM on zeros, so a NaN in weight_hh does not reach step 0 as 0 * NaN would."""
    model = small_model(dtype)
    state = model.state_dict()
    state["weight_hh_l0"][3, 1] = np.nan
    model.load_state_dict(state)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    h0, c0 = (rng.standard_normal(s.shape).astype(dtype) for s in good_state(model))
    dy = rng.standard_normal((T, B, H)).astype(dtype)
    dy[2, 0, 1] = np.inf
    ours, theirs = run_against_reference(model, x, dy, h0, c0)
    assert np.isnan(ours["y"][-1]).any()
    for name in theirs:
        assert_same_ieee(ours[name], theirs[name], TOL[dtype], name)


# ---- lengths -------------------------------------------------------------------------------

@pytest.mark.parametrize("lengths,error,match", [
    ([T, 2, 0], ValueError, r"lengths must lie in \[1, T=4\]"),
    ([T, -1, 2], ValueError, r"lengths must lie in \[1, T=4\]"),
    ([T, T + 1, 2], ValueError, r"lengths must lie in \[1, T=4\]"),
    ([T, 2.0, 1], TypeError, "lengths must be integers"),
    (np.array([T, 2, 1], np.float32), TypeError, "lengths must be integers"),
    ([True, True, True], TypeError, "lengths must be integers"),
    ([T, 2], ValueError, r"lengths must have shape \(3,\)"),
    ([[T, 2, 1]], ValueError, r"lengths must have shape \(3,\)"),
    (T, ValueError, r"lengths must have shape \(3,\)"),
    ([T, 2**70, 1], TypeError, "lengths must be integers"),
    (["4", "2", "1"], TypeError, "lengths must be integers"),
    (np.array([T, 2, 1], np.uint64) + np.uint64(2**63), ValueError, "lengths must lie"),
], ids=["zero", "negative", "past-T", "float-in-list", "float32", "bool", "short", "2-D",
        "scalar", "huge", "str", "uint64"])
def test_bad_lengths_are_refused_by_name(rng, lengths, error, match):
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    with pytest.raises(error, match=match):
        small_model().forward(x, lengths=lengths)


def test_lengths_with_unbatched_x_are_refused(rng):
    with pytest.raises(ValueError, match="lengths applies to batched input only"):
        small_model()(rng.standard_normal((T, I)).astype(np.float32), lengths=[T])


# ---- hx ------------------------------------------------------------------------------------

def good_state(model, batch=(B,)):
    L = model.num_layers * model.num_directions
    return (np.zeros((L, *batch, model.output_size), model.dtype),
            np.zeros((L, *batch, model.hidden_size), model.dtype))


@pytest.mark.parametrize("make_hx,error,match", [
    (lambda h, c: h, TypeError, "hx must be a tuple"),
    (lambda h, c: (h,), TypeError, "hx must be a tuple.*of 1"),
    (lambda h, c: (h, c, c), TypeError, "hx must be a tuple.*of 3"),
    (lambda h, c: np.stack([h, h]), TypeError, "hx must be a tuple"),
    (lambda h, c: (h, None), TypeError, "got None for c0"),
    (lambda h, c: (None, c), TypeError, "got None for h0"),
    (lambda h, c: (h[:1], c), ValueError, r"hx\[0\] \(h0\) must have shape \(2, 3, 3\)"),
    (lambda h, c: (h, c[:, :2]), ValueError, r"hx\[1\] \(c0\) must have shape \(2, 3, 5\)"),
    (lambda h, c: (c, c), ValueError, r"hx\[0\] \(h0\)"),
    (lambda h, c: (h[:, 0], c[:, 0]), ValueError, r"hx\[0\] \(h0\)"),
    (lambda h, c: (h.astype(int), c), TypeError, r"hx\[0\] \(h0\) must hold floating-point"),
    (lambda h, c: (h, c.astype(complex)), TypeError, r"hx\[1\] \(c0\) must hold floating"),
    (lambda h, c: ("h", c), TypeError, r"hx\[0\] \(h0\)"),
], ids=["array", "one", "three", "stacked", "c0-None", "h0-None", "h0-layers", "c0-batch",
        "swapped", "unbatched-for-batched", "int", "complex", "str"])
def test_mismatched_hx_is_refused_by_name(rng, make_hx, error, match):
    model = lstmcore.LSTM(I, H, num_layers=2, proj_size=3, seed=0)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    with pytest.raises(error, match=match):
        model(x, make_hx(*good_state(model)))


def test_batched_hx_for_unbatched_x_is_refused(rng):
    model = small_model()
    with pytest.raises(ValueError, match=r"hx\[0\] \(h0\) must have shape \(1, 5\)"):
        model(rng.standard_normal((T, I)).astype(np.float32), good_state(model))


def test_hx_of_another_float_dtype_is_converted(rng):
    model = small_model(np.float64)
    x = rng.standard_normal((T, B, I))
    h, c = (s + 0.5 for s in good_state(model))
    y64, _ = model(x, (h, c))
    y16, _ = model(x, (h.astype(np.float16), c.astype(np.float32)))
    np.testing.assert_array_equal(y16, y64)


# ---- caches and backward -------------------------------------------------------------------

def test_cache_from_another_model_is_refused(rng):
    model, other = small_model(), small_model()
    _, y, cache = forward_with_cache(other, rng)
    with pytest.raises(ValueError, match="cache was made by another model"):
        model.backward(np.ones_like(y), cache)


@pytest.mark.parametrize("cache", [None, {}, (), "cache", object()], ids=repr)
def test_made_up_cache_is_a_type_error(cache):
    with pytest.raises(TypeError, match="cache must be the LSTMCache"):
        small_model().backward(np.zeros((T, B, H), np.float32), cache)


def test_backward_twice_on_one_cache_is_refused(rng):
    model = small_model()
    _, y, cache = forward_with_cache(model, rng)
    model.backward(np.ones_like(y), cache)
    grads = {k: g.copy() for k, g in model.grads.items()}
    with pytest.raises(ValueError, match="already used"):
        model.backward(np.ones_like(y), cache)
    for k, g in model.grads.items():
        np.testing.assert_array_equal(g, grads[k], err_msg=k)


def test_inference_forward_has_no_cache(rng):
    model = small_model()
    y, _, cache = model.forward(rng.standard_normal((T, B, I)), training=False)
    assert cache is None
    with pytest.raises(TypeError, match="cache must be the LSTMCache"):
        model.backward(np.ones_like(y), cache)


def test_dy_for_another_calls_cache_is_refused_and_leaves_the_cache_usable(rng):
    model = small_model()
    _, y_long, _ = forward_with_cache(model, rng, T=T + 2)
    _, y, cache = forward_with_cache(model, rng)
    with pytest.raises(ValueError, match=r"dy must have shape \(4, 3, 5\) like y"):
        model.backward(np.ones_like(y_long), cache)
    model.backward(np.ones_like(y), cache)  # the refused call did not consume it


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(dy=np.ones((T, B, H + 1))), ValueError, "dy must have shape"),
    (dict(dy=np.ones((B, T, H))), ValueError, "dy must have shape"),
    (dict(dy=np.ones((T, H))), ValueError, "dy must have shape"),
    (dict(dy=np.ones((T, B, H), int)), TypeError, "dy must hold floating-point"),
    (dict(dy=np.ones((T, B, H), complex)), TypeError, "dy must hold floating-point"),
    (dict(dy="dy"), TypeError, "dy must hold floating-point"),
    (dict(dh_n=np.ones((2, B, H))), ValueError, "dh_n must have shape"),
    (dict(dc_n=np.ones((1, B, H + 1))), ValueError, "dc_n must have shape"),
    (dict(dh_n=np.ones((1, B, H), object)), TypeError, "dh_n must hold floating-point"),
], ids=["features", "batch-first", "unbatched", "int", "complex", "str", "dh_n-layers",
        "dc_n-size", "dh_n-object"])
def test_bad_gradients_are_refused_by_name(rng, kwargs, error, match):
    model = small_model()
    _, y, cache = forward_with_cache(model, rng)
    args = dict(dy=np.ones_like(y)) | kwargs
    with pytest.raises(error, match=match):
        model.backward(args.pop("dy"), cache, **args)


def test_backward_with_only_state_gradients_or_none_at_all(rng):
    model = small_model(np.float64)
    _, y, cache = forward_with_cache(model, rng)
    dx, (dh0, dc0) = model.backward(None, cache, dh_n=np.ones((1, B, H)))
    assert dx.shape == (T, B, I) and np.any(dx)
    _, y, cache = forward_with_cache(model, rng)
    model.zero_grad()
    dx, (dh0, dc0) = model.backward(None, cache)
    assert not dx.any() and not dh0.any() and not dc0.any()
    assert all(not g.any() for g in model.grads.values())


# ---- state dicts ---------------------------------------------------------------------------

def broken_state_dicts(model):
    """(label, state_dict, error, match) for every way a state dict can be wrong."""
    good = model.state_dict()

    def edited(**changes):
        d = {k: v + 1 for k, v in good.items()}  # every entry differs, to see a partial load
        for k, v in changes.items():
            if v is None:
                del d[k]
            else:
                d[k] = v
        return d

    last = "weight_hh_l1"
    return [
        ("missing", edited(bias_hh_l1=None), KeyError, "missing.*bias_hh_l1"),
        ("extra", edited(weight_hr_l0=np.zeros((2, H))), KeyError, "unexpected.*weight_hr_l0"),
        ("renamed", {k + "_x": v for k, v in good.items()}, KeyError, "missing"),
        ("misshapen", edited(**{last: good[last].T}), ValueError,
         r"state_dict\['weight_hh_l1'\] must have shape \(20, 5\)"),
        ("flattened", edited(**{last: good[last].ravel()}), ValueError, "weight_hh_l1"),
        ("int", edited(**{last: good[last].astype(int)}), TypeError, "weight_hh_l1"),
        ("complex", edited(**{last: good[last].astype(complex)}), TypeError, "weight_hh_l1"),
        ("str", edited(**{last: "weights"}), TypeError, "weight_hh_l1"),
        ("None", {k: None for k in good}, TypeError, "state_dict"),
        ("object", edited(**{last: good[last].astype(object)}), TypeError, "weight_hh_l1"),
        ("list", list(good.values()), TypeError, "state_dict must be a mapping"),
        ("array", good["weight_ih_l0"], TypeError, "state_dict must be a mapping"),
    ]


@pytest.mark.parametrize("case", range(12))
def test_bad_state_dict_is_refused_and_loads_nothing(case):
    model = lstmcore.LSTM(I, H, num_layers=2, seed=0)
    label, state_dict, error, match = broken_state_dicts(model)[case]
    before = model.state_dict()
    with pytest.raises(error, match=match):
        model.load_state_dict(state_dict)
    for name, p in model.state_dict().items():
        np.testing.assert_array_equal(p, before[name], err_msg=f"{label}: {name} was loaded")


def test_state_dict_of_another_float_dtype_loads_converted():
    model = small_model(np.float32)
    state = {k: v.astype(np.float16) for k, v in small_model(np.float64).state_dict().items()}
    model.load_state_dict(state)
    for k, v in model.state_dict().items():
        assert v.dtype == np.float32
        np.testing.assert_array_equal(v, state[k].astype(np.float32))


# ---- interop -------------------------------------------------------------------------------

KERAS = [np.zeros((I, 4 * H)), np.zeros((H, 4 * H)), np.zeros(4 * H)]


@pytest.mark.parametrize("call,error,match", [
    (lambda: from_keras([KERAS[0].astype(complex)] + KERAS[1:]), TypeError, r"weights\[0\]"),
    (lambda: from_keras([KERAS[0].astype(object)] + KERAS[1:]), TypeError, r"weights\[0\]"),
    (lambda: from_keras(KERAS[:1]), ValueError, "holds 1 arrays"),
    (lambda: from_keras(KERAS[0]), ValueError, "weights must be a non-empty list"),
    (lambda: from_keras(KERAS, dtype=np.float16), ValueError, "dtype"),
    (lambda: from_keras(KERAS, dtype="junk"), TypeError, "dtype"),
    (lambda: from_tf1(np.zeros((I + H, 4 * H)), np.zeros(4 * H), "1.0"), TypeError,
     "forget_bias"),
    (lambda: from_tf1(np.zeros((I + H, 4 * H)), np.zeros(4 * H + 1)), ValueError, "bias"),
    (lambda: to_keras(None), TypeError, "model must be an lstmcore.LSTM"),
    (lambda: to_keras(lstmcore.LSTM(I, H, proj_size=2)), ValueError, "proj_size=2"),
    (lambda: to_onnx("model", "unused.onnx"), TypeError, "model must be an lstmcore.LSTM"),
    (lambda: to_torch({}), TypeError, "model must be an lstmcore.LSTM"),
], ids=["keras-complex", "keras-object", "keras-one-array", "keras-not-a-list",
        "keras-float16", "keras-junk-dtype", "tf1-forget-bias", "tf1-bias", "to_keras-None",
        "to_keras-proj", "to_onnx-str", "to_torch-dict"])
def test_bad_interop_input_is_refused_by_name(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_from_onnx_refuses_a_file_that_is_not_onnx(tmp_path):
    pytest.importorskip("onnx")
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"\x00junk\xff" * 10)
    with pytest.raises(ValueError, match="junk.onnx"):
        from_onnx(path)
    with pytest.raises(FileNotFoundError):
        from_onnx(tmp_path / "missing.onnx")


# ---- trainer, regressor, checkpoints (their bad input reaches the LSTM's checks or theirs) ---

@pytest.fixture
def trainer():
    from lstmcore.model import build_model
    from lstmcore.optim import Adam
    from lstmcore.trainer import Trainer

    model = build_model(I, H, output_size=2, seed=0)
    return Trainer(model, Adam(model.parameters()), batch_size=4, seed=0)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(X=np.zeros((8, T, I + 1))), ValueError, "input_size"),
    (dict(X=np.zeros((8, I))), ValueError, "X must have shape"),
    (dict(X=np.full((8, T, I), "a")), TypeError, "X"),
    (dict(y=np.zeros((3, 2))), ValueError, "y must have one target per sample"),
    (dict(y=np.zeros((8, 3))), ValueError, "target must have the shape of pred"),
    (dict(y=np.zeros((8, 2), complex)), TypeError, "y must hold real numbers"),
    (dict(lengths=np.full(8, T + 1)), ValueError, "lengths must lie"),
    (dict(lengths=np.full(8, 2.0)), TypeError, "lengths must be integers"),
    (dict(lengths=np.full(7, 2)), ValueError, r"lengths must have shape \(8,\)"),
    (dict(steps=0), ValueError, "steps"),
    (dict(steps=1, epochs=1), ValueError, "steps and epochs"),
    (dict(validation=(np.zeros((2, T, I + 1)), np.zeros((2, 2)))), ValueError, "input_size"),
], ids=["X-features", "X-2D", "X-str", "y-count", "y-width", "y-complex", "lengths-past-T",
        "lengths-float", "lengths-short", "steps-0", "steps-and-epochs", "validation"])
def test_trainer_refuses_bad_data_by_name(rng, trainer, kwargs, error, match):
    args = dict(X=rng.standard_normal((8, T, I)), y=rng.standard_normal((8, 2)), steps=1) | kwargs
    if "epochs" in kwargs:
        args["steps"] = 1
    with pytest.raises(error, match=match):
        trainer.fit(**args)


# Values NumPy would convert to floats while losing something: an imaginary part, a mask's
# meaning, text; objects may hold anything.
NOT_REAL = {"complex": lambda a: a + 1j, "object": lambda a: a.astype(object),
            "bool": lambda a: a > 0, "str": lambda a: a.astype(str)}


@pytest.mark.parametrize("spoil", NOT_REAL.values(), ids=NOT_REAL)
@pytest.mark.parametrize("argument", ["X", "y", "validation[0]", "validation[1]"])
def test_trainer_refuses_data_that_is_not_real_numbers_by_name(rng, trainer, argument, spoil):
    data = {"X": rng.standard_normal((8, T, I)), "y": rng.standard_normal((8, 2))}
    val = {"validation[0]": data["X"][:3], "validation[1]": data["y"][:3]}
    (data if argument in data else val)[argument] = spoil((data | val)[argument])
    args = dict(data, validation=(val["validation[0]"], val["validation[1]"]))
    with pytest.raises(TypeError, match=rf"{re.escape(argument)} must hold real numbers"):
        trainer.fit(steps=1, **args)
    assert trainer.step == 0


@pytest.mark.parametrize("spoil", NOT_REAL.values(), ids=NOT_REAL)
@pytest.mark.parametrize("call", ["evaluate-X", "evaluate-y", "predict", "fit_stateful"])
def test_trainer_inference_refuses_data_that_is_not_real_numbers_by_name(rng, trainer, call,
                                                                          spoil):
    from lstmcore.trainer import predict

    X, y = rng.standard_normal((8, T, I)), rng.standard_normal((8, 2))
    with pytest.raises(TypeError, match=f"{'y' if call == 'evaluate-y' else 'X'} must hold real"):
        if call == "evaluate-X":
            trainer.evaluate(spoil(X), y)
        elif call == "evaluate-y":
            trainer.evaluate(X, spoil(y))
        elif call == "predict":
            predict(trainer.model, spoil(X))
        else:
            trainer.fit_stateful(spoil(X), np.zeros((8, T, 2)), chunk=2)


def test_trainer_accepts_integer_data(rng, trainer):
    X, y = rng.integers(-3, 3, (8, T, I)), rng.integers(-3, 3, (8, 2))
    loss = trainer.evaluate(X, y)
    assert loss == trainer.evaluate(X.astype(np.float32), y.astype(np.float32))


def test_trainer_propagates_nan_into_the_loss(rng, trainer):
    X = rng.standard_normal((8, T, I))
    X[0, 1, 0] = np.nan
    history = trainer.fit(X, rng.standard_normal((8, 2)), epochs=1)
    assert np.isnan(history.loss).any()


@pytest.mark.parametrize("make,error,match", [
    (lambda r: r.fit(np.zeros((T, I)), np.zeros(T)), ValueError, "X must have shape"),
    (lambda r: r.fit(np.zeros((8, T, I)), np.zeros(3)), ValueError, "y must have shape"),
    (lambda r: r.fit(np.full((8, T, I), "a"), np.zeros(8)), TypeError, "X"),
    (lambda r: r.set_params(hidden_size=0).fit(np.zeros((8, T, I)), np.zeros(8)), ValueError,
     "hidden_size"),
    (lambda r: r.set_params(dtype=np.float16).fit(np.zeros((8, T, I)), np.zeros(8)), TypeError,
     "dtype"),
    (lambda r: r.set_params(steps=0).fit(np.zeros((8, T, I)), np.zeros(8)), ValueError, "steps"),
    (lambda r: r.set_params(bogus=1), ValueError, "bogus"),
    (lambda r: r.predict(np.zeros((8, T, I))), ValueError, "not fitted"),
    (lambda r: r.fit(np.zeros((8, T, I)), np.zeros(8)).predict(np.zeros((8, T, I + 1))),
     ValueError, "features"),
], ids=["X-2D", "y-count", "X-str", "hidden-0", "float16", "steps-0", "unknown-param",
        "unfitted", "predict-features"])
def test_regressor_refuses_bad_input_by_name(make, error, match):
    from lstmcore.regressor import LSTMRegressor

    with pytest.raises(error, match=match):
        make(LSTMRegressor(hidden_size=3, steps=1, seed=0))


@pytest.mark.parametrize("spoil", NOT_REAL.values(), ids=NOT_REAL)
@pytest.mark.parametrize("argument", ["X", "y", "validation[0]", "validation[1]", "predict X"])
def test_regressor_refuses_data_that_is_not_real_numbers_by_name(rng, argument, spoil):
    from lstmcore.regressor import LSTMRegressor

    data = {"X": rng.standard_normal((8, T, I)), "y": rng.standard_normal(8)}
    val = {"validation[0]": data["X"][:3], "validation[1]": data["y"][:3]}
    model = LSTMRegressor(hidden_size=3, steps=1, seed=0)
    if argument == "predict X":
        model.fit(data["X"], data["y"])
        call, argument = (lambda: model.predict(spoil(data["X"]))), "X"
    else:
        (data if argument in data else val)[argument] = spoil((data | val)[argument])
        validation = (val["validation[0]"], val["validation[1]"])
        call = lambda: model.fit(data["X"], data["y"], validation=validation)  # noqa: E731
    with pytest.raises(TypeError, match=rf"{re.escape(argument)} must hold real numbers"):
        call()


def test_checkpoint_of_another_model_is_refused_and_loads_nothing(tmp_path):
    from lstmcore.checkpoint import load_checkpoint, save_checkpoint

    path = tmp_path / "m.ckpt"
    save_checkpoint(path, lstmcore.LSTM(I, H, seed=1))
    for other in (lstmcore.LSTM(I, H + 1, seed=2), lstmcore.LSTM(I, H, dtype=np.float64, seed=2),
                  lstmcore.LSTM(I, H, num_layers=2, seed=2)):
        before = other.state_dict()
        with pytest.raises(ValueError, match="does not match the model"):
            load_checkpoint(path, other)
        for name, p in other.state_dict().items():
            np.testing.assert_array_equal(p, before[name])
    (tmp_path / "junk.ckpt").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.ckpt")
