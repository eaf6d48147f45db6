"""The Cython binding's own checks: every misshapen array it is handed is refused by name.

The public API never hands it a bad array, so these call ``_core`` directly with one argument
spoiled at a time.
"""
import numpy as np
import pytest

from lstmcore import _core

DTYPES = [np.float32, np.float64]
T, B, I, H, P = 5, 4, 3, 8, 6
N = T * B


def forward_args(dtype, rng, proj):
    Ph = P if proj else H
    a = lambda *shape: rng.standard_normal(shape).astype(dtype)  # noqa: E731
    return dict(x=a(N, I), y=np.empty((N, Ph), dtype), y_col=0, h_n=np.empty((B, Ph), dtype),
                c_n=np.empty((B, H), dtype), w_ih=a(4 * H, I), w_hh=a(4 * H, Ph), b_ih=a(4 * H),
                b_hh=a(4 * H), w_hr=a(P, H) if proj else None, h0=a(B, Ph), c0=a(B, H),
                batch_sizes=None, T=T, reverse=False, training=True)


def backward_args(dtype, rng, proj):
    f = forward_args(dtype, rng, proj)
    cache = _core.layer_forward(*f.values())
    Ph = P if proj else H
    a = lambda *shape: rng.standard_normal(shape).astype(dtype)  # noqa: E731
    return dict(dx=np.empty((N, I), dtype), accumulate_dx=False, dh0=np.empty((B, Ph), dtype),
                dc0=np.empty((B, H), dtype), dw_ih=np.zeros((4 * H, I), dtype),
                dw_hh=np.zeros((4 * H, Ph), dtype), db_ih=np.zeros(4 * H, dtype),
                db_hh=np.zeros(4 * H, dtype),
                dw_hr=np.zeros((P, H), dtype) if proj else None, dy=a(N, Ph), dy_col=0,
                dh_n=a(B, Ph), dc_n=a(B, H), cache=cache, y=f["y"], y_col=0, x=f["x"],
                h0=f["h0"], c0=f["c0"], w_ih=f["w_ih"], w_hh=f["w_hh"], w_hr=f["w_hr"],
                batch_sizes=None, T=T, reverse=False)


def grown(name, arr):
    """The array with one more element along one axis: the last for h_n, dh0 and w_hr, whose
    first axis sets a size (B or P) that the binding would then blame another argument for."""
    axis = 1 if name in ("h_n", "dh0", "w_hr") else 0
    return np.concatenate([arr, arr[:1] if axis == 0 else arr[:, :1]], axis=axis)


FORWARD_ARRAYS = ["x", "y", "h_n", "c_n", "w_ih", "w_hh", "b_ih", "b_hh", "w_hr", "h0", "c0"]
BACKWARD_ARRAYS = ["dx", "dh0", "dc0", "dw_ih", "dw_hh", "db_ih", "db_hh", "dw_hr", "dy",
                   "dh_n", "dc_n", "cache", "y", "x", "h0", "c0", "w_ih", "w_hh", "w_hr"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_binding_runs_the_unspoiled_calls(rng, dtype):
    for proj in (False, True):
        _core.layer_backward(*backward_args(dtype, rng, proj).values())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", FORWARD_ARRAYS)
def test_forward_binding_refuses_a_misshapen_array_by_name(rng, dtype, name):
    args = forward_args(dtype, rng, proj=name == "w_hr")
    args[name] = grown(name, args[name])
    with pytest.raises(ValueError, match=rf"^{name} must have "):
        _core.layer_forward(*args.values())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", BACKWARD_ARRAYS)
def test_backward_binding_refuses_a_misshapen_array_by_name(rng, dtype, name):
    args = backward_args(dtype, rng, proj=name in ("w_hr", "dw_hr"))
    args[name] = grown(name, args[name])
    with pytest.raises(ValueError, match=rf"^{name} must have "):
        _core.layer_backward(*args.values())


def test_binding_quotes_expected_and_given_shapes(rng):
    args = forward_args(np.float32, rng, proj=False)
    args["c0"] = np.zeros((B, H + 1), np.float32)
    with pytest.raises(ValueError, match=rf"^c0 must have shape \({B}, {H}\), "
                                         rf"got \({B}, {H + 1}\)$"):
        _core.layer_forward(*args.values())
    args = backward_args(np.float64, rng, proj=False)
    args["db_hh"] = np.zeros(4 * H - 1)
    with pytest.raises(ValueError, match=rf"^db_hh must have shape \({4 * H},\), "
                                         rf"got \({4 * H - 1},\)$"):
        _core.layer_backward(*args.values())


@pytest.mark.parametrize("dtype", DTYPES)
def test_binding_quotes_the_2d_shape_of_a_narrow_output(rng, dtype):
    args = forward_args(dtype, rng, proj=False)
    args["y"] = np.empty((N, H - 1), dtype)
    with pytest.raises(ValueError, match=rf"got shape \({N}, {H - 1}\)$"):
        _core.layer_forward(*args.values())
    args = backward_args(dtype, rng, proj=False)
    args["dy"] = np.empty((N, H - 1), dtype)
    with pytest.raises(ValueError, match=rf"got shape \({N}, {H - 1}\)$"):
        _core.layer_backward(*args.values())


@pytest.mark.parametrize("name", ["x", "w_ih", "b_ih", "h0"])
def test_forward_binding_refuses_a_mixed_dtype_or_strided_array(rng, name):
    args = forward_args(np.float32, rng, proj=False)
    spoiled = dict(args, **{name: args[name].astype(np.float64)})
    with pytest.raises((TypeError, ValueError)):
        _core.layer_forward(*spoiled.values())
    if args[name].ndim == 2:
        strided = dict(args, **{name: np.asfortranarray(args[name])})
        if not strided[name].flags.c_contiguous:
            with pytest.raises((TypeError, ValueError)):
                _core.layer_forward(*strided.values())


@pytest.mark.parametrize("name", ["y", "h_n", "c_n"])
def test_forward_binding_refuses_a_read_only_output_by_name(rng, name):
    args = forward_args(np.float32, rng, proj=False)
    args[name].flags.writeable = False
    with pytest.raises(ValueError, match=rf"^{name} must be writable"):
        _core.layer_forward(*args.values())


@pytest.mark.parametrize("name", ["x", "y", "w_hh", "cache", "dh0"])
def test_backward_binding_refuses_a_required_none_a_list_or_a_wrong_ndim_by_name(rng, name):
    args = backward_args(np.float64, rng, proj=False)
    if name != "x":  # x sets the call's dtype: its own messages are checked below
        with pytest.raises(TypeError, match=rf"^{name} must be an array, got None"):
            _core.layer_backward(*dict(args, **{name: None}).values())
    with pytest.raises(TypeError, match=rf"^{name} must be a NumPy array, got list"):
        _core.layer_backward(*dict(args, **{name: args[name].tolist()}).values())
    with pytest.raises(ValueError, match=rf"^{name} must be {args[name].ndim}-D"):
        _core.layer_backward(*dict(args, **{name: args[name][..., None]}).values())


def test_binding_takes_the_dtype_from_x_and_names_the_array_that_differs(rng):
    args = forward_args(np.float32, rng, proj=False)
    with pytest.raises(TypeError, match=r"^w_hh must have dtype float32, got float64$"):
        _core.layer_forward(*dict(args, w_hh=args["w_hh"].astype(np.float64)).values())
    with pytest.raises(TypeError, match=r"^x must have dtype float32 or float64, got int64$"):
        _core.layer_forward(*dict(args, x=args["x"].astype(np.int64)).values())
    with pytest.raises(TypeError, match=r"^batch_sizes must have dtype int32, got int64$"):
        _core.layer_forward(*dict(args, batch_sizes=np.full(T, B)).values())


# ---- packing helpers ------------------------------------------------------------------------
def test_packing_order_is_none_when_every_sequence_is_full():
    assert _core.packing_order(np.full(4, 3), 3) is None
    assert _core.packing_order(np.ones(1, np.int64), 1) is None


@pytest.mark.parametrize("T,B", [(2, 1), (5, 7), (50, 64), (9, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_packing_matches_numpy_indexing(T, B, dtype):
    rng = np.random.default_rng(T * 100 + B)
    lengths = rng.integers(1, T + 1, B)
    lengths[0] = 1  # never all full
    order, batch_sizes, rows = _core.packing_order(lengths, T)
    assert rows == lengths.sum()
    np.testing.assert_array_equal(order, np.argsort(-lengths, kind="stable"))
    np.testing.assert_array_equal(batch_sizes, (lengths[None, :] > np.arange(T)[:, None]).sum(1))
    # The packed rows, as the numpy expression of the packed-sequence layout gives them.
    valid = np.arange(T)[:, None] < lengths[order][None, :]  # (T, B) in sorted order
    x = rng.standard_normal((T, B, 6)).astype(dtype)
    expected = x[:, order][valid]
    for padded, strides in ((x.reshape(T * B, 6), (B, 1)),
                            (np.ascontiguousarray(x.transpose(1, 0, 2)).reshape(B * T, 6), (1, T))):
        packed = np.empty((valid.sum(), 6), dtype)
        _core.pack_rows(padded, packed, *strides, order, batch_sizes)
        np.testing.assert_array_equal(packed, expected)
        back = np.full_like(padded, np.nan)
        _core.unpack_rows(packed, back, *strides, order, batch_sizes)
        mask = (np.arange(T)[:, None] < lengths[None, :])[..., None]
        want = np.where(mask, x, 0)
        want = want if strides == (B, 1) else want.transpose(1, 0, 2)
        np.testing.assert_array_equal(back, want.reshape(T * B, 6))
    # batch_sizes None: whole steps, the rows of each put in order and back (a state's).
    state = rng.standard_normal((3, B, 4)).astype(dtype)
    sorted_state = np.empty_like(state)
    _core.pack_rows(state.reshape(3 * B, 4), sorted_state.reshape(3 * B, 4), B, 1, order, None)
    np.testing.assert_array_equal(sorted_state, state[:, order])
    back = np.empty_like(state)
    _core.unpack_rows(sorted_state.reshape(3 * B, 4), back.reshape(3 * B, 4), B, 1, order, None)
    np.testing.assert_array_equal(back, state)


def test_packing_helpers_refuse_mismatched_arguments():
    with pytest.raises(ValueError, match="lengths must lie in"):
        _core.packing_order(np.array([3, 0]), 3)
    with pytest.raises(ValueError, match="lengths must lie in"):
        _core.packing_order(np.array([4, 1]), 3)
    order, sizes, _ = _core.packing_order(np.array([2, 1]), 2)
    padded = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="packed must have sum"):
        _core.pack_rows(padded, np.zeros((2, 3), np.float32), 2, 1, order, sizes)
    with pytest.raises(ValueError, match="padded must hold"):
        _core.pack_rows(padded[:3], np.zeros((3, 3), np.float32), 2, 1, order, sizes)
    with pytest.raises(ValueError, match="strides"):
        _core.unpack_rows(np.zeros((3, 3), np.float32), padded, 3, 1, order, sizes)
    with pytest.raises(ValueError, match="columns"):
        _core.unpack_rows(np.zeros((3, 2), np.float32), padded, 2, 1, order, sizes)
    with pytest.raises(ValueError, match="order must hold"):
        _core.pack_rows(padded, np.zeros((3, 3), np.float32), 2, 1, np.array([0, 5]), sizes)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_packing_split_over_threads_copies_every_row(threads):
    import lstmcore

    rng = np.random.default_rng(threads)
    T, B = 300, 37
    lengths = rng.integers(1, T + 1, B)
    order, batch_sizes, rows = _core.packing_order(lengths, T)
    valid = np.arange(T)[:, None] < lengths[order][None, :]
    x = rng.standard_normal((T, B, 5))
    with lstmcore.num_threads(threads):
        packed = np.full((rows, 5), np.nan)
        _core.pack_rows(x.reshape(T * B, 5), packed, B, 1, order, batch_sizes)
        back = np.full((T * B, 5), np.nan)
        _core.unpack_rows(packed, back, B, 1, order, batch_sizes)
    np.testing.assert_array_equal(packed, x[:, order][valid])
    mask = (np.arange(T)[:, None] < lengths[None, :])[..., None]
    np.testing.assert_array_equal(back.reshape(T, B, 5), np.where(mask, x, 0))


# The usual call of a one-layer, one-direction model (C-contiguous time-major x of the model's
# dtype, no lengths, no initial state) runs in _core.single_forward and single_backward; any
# other call takes the general path through layer_forward and layer_backward. Both must give
# the same bits, and a call the single path declines must leave everything as it was.
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(10, 32, 1, 30), (3, 5, 4, 7), (1, 1, 1, 1)], ids=str)
def test_the_single_path_and_the_general_path_give_the_same_bits(rng, dtype, shape):
    import lstmcore
    T, B, I, H = shape
    x = rng.standard_normal((T, B, I)).astype(dtype)
    dy = rng.standard_normal((T, B, H)).astype(dtype)
    results = []
    for x_in, dy_in in [(x, dy), (np.asfortranarray(x), np.asfortranarray(dy))]:
        # a Fortran-ordered copy (for T, B > 1) is not what the single path reads
        model = lstmcore.LSTM(I, H, dtype=dtype, seed=3)
        y, (h_n, c_n), cache = model.forward(x_in)
        dx, (dh0, dc0) = model.backward(dy_in, cache)
        results.append([y, h_n, c_n, dx, dh0, dc0, *model.grads.values()])
    for ours, general in zip(*results):
        assert ours.shape == general.shape
        np.testing.assert_array_equal(ours, general)


def test_the_single_path_declines_before_writing_and_consumes_the_cache(rng):
    import lstmcore
    model = lstmcore.LSTM(2, 6, seed=0)
    x = rng.standard_normal((4, 3, 2)).astype(np.float32)
    _, _, cache = model.forward(x)
    core_cache = cache.layers[0][2][0].copy()
    dy_strided = rng.standard_normal((4, 3, 12)).astype(np.float32)[:, :, ::2]
    layer_in, y, (saved,) = cache.layers[0]
    grads = [model.grads[n] for n in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")]
    params = [model.parameters()[n] for n in ("weight_ih_l0", "weight_hh_l0")]
    # a strided dy is declined: nothing written, the cache not consumed
    assert _core.single_backward(dy_strided, layer_in, y, saved, *grads, *params, cache) is None
    assert not cache.consumed and np.array_equal(saved, core_cache)
    assert all(not g.any() for g in grads)
    # the model then takes the general path with the same dy, and the cache is used up
    model.backward(dy_strided, cache)
    with pytest.raises(ValueError, match="already used"):
        model.backward(np.ascontiguousarray(dy_strided), cache)
    # the single path marks its cache consumed too
    _, _, cache = model.forward(x)
    model.backward(np.ascontiguousarray(dy_strided), cache)
    assert cache.consumed
    with pytest.raises(ValueError, match="already used"):
        model.backward(np.ascontiguousarray(dy_strided), cache)
