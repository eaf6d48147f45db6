"""lstmcore.LSTM (the C core through the binding) against the NumPy reference and PyTorch."""
import threading

import numpy as np
import pytest

import lstmcore
from fixtures import fixture_params, grads as fixture_grads, params as fixture_param_dict
from lstmcore import reference
from tolerances import TOL, TOL_TORCH, assert_close

DTYPES = [np.float32, np.float64]

# (T, B, I, H): ones, odd sizes, the seed shape, a batch larger than the hidden size.
SHAPES = [(1, 1, 1, 1), (1, 3, 2, 5), (4, 1, 3, 2), (3, 2, 1, 7), (7, 5, 3, 4),
          (10, 32, 1, 30), (6, 17, 9, 3), (2, 4, 13, 11)]

# (num_layers, bidirectional, proj_size, bias)
CONFIGS = [(1, False, 0, True), (1, True, 0, True), (2, False, 0, False), (2, True, 2, True),
           (3, True, 0, True), (1, False, 1, False), (3, False, 2, True)]


def random_state(rng, model, B, dtype):
    L, D = model.num_layers, model.num_directions
    h0 = rng.standard_normal((L * D, B, model.output_size)).astype(dtype)
    c0 = rng.standard_normal((L * D, B, model.hidden_size)).astype(dtype)
    return h0, c0


def run_both(model, x, h0, c0, lengths, dy, dh_n, dc_n):
    """Forward and backward through the model and the reference; returns (ours, theirs) dicts."""
    hx = None if h0 is None else (h0, c0)
    y, (h_n, c_n), cache = model.forward(x, hx, lengths=lengths)
    model.zero_grad()
    dx, (dh0, dc0) = model.backward(dy, cache, dh_n, dc_n)
    ours = dict(y=y, h_n=h_n, c_n=c_n, dx=dx, dh0=dh0, dc0=dc0, **model.grads)

    y_r, h_r, c_r, cache_r = reference.forward(
        model.state_dict(), x, h0, c0, num_layers=model.num_layers,
        bidirectional=model.bidirectional, proj_size=model.proj_size, lengths=lengths)
    dx_r, dh0_r, dc0_r, grads_r = reference.backward(cache_r, dy, dh_n, dc_n)
    theirs = dict(y=y_r, h_n=h_r, c_n=c_r, dx=dx_r, dh0=dh0_r, dc0=dc0_r, **grads_r)
    return ours, theirs


def assert_all_close(ours, theirs, tol):
    assert set(ours) == set(theirs)
    for name in theirs:
        assert_close(ours[name], theirs[name], tol, name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("with_state", [False, True], ids=["zeros", "h0c0"])
def test_single_layer_matches_reference(rng, dtype, shape, with_state):
    T, B, I, H = shape
    model = lstmcore.LSTM(I, H, dtype=dtype, seed=int(rng.integers(1 << 30)))
    x = rng.standard_normal((T, B, I)).astype(dtype)
    h0, c0 = random_state(rng, model, B, dtype) if with_state else (None, None)
    dy = rng.standard_normal((T, B, H)).astype(dtype)
    dh_n, dc_n = random_state(rng, model, B, dtype) if with_state else (None, None)
    ours, theirs = run_both(model, x, h0, c0, None, dy, dh_n, dc_n)
    assert_all_close(ours, theirs, TOL[dtype])


# The core runs the per-step recurrent GEMMs on its own kernel for a batch of at least 4 rows
# and at most 2^23 multiply-adds a step (csrc/lstm.c), on BLAS otherwise; batches of 8 or more
# split over threads, and up to 2^19 a step the backward's weight gradients are summed by row
# groups inside its loop: a shape for each case.
RECURRENCE_SHAPES = {"own-gemm": (6, 5, 3, 4), "own-gemm-split": (4, 9, 3, 4),
                     "blas-batch<4": (5, 3, 3, 4),
                     # the recurrence split over the threads, the products after the backward's
                     # loop on BLAS in one call each (tail_pieces, row_groups in csrc/lstm.c)
                     "own-gemm-blas-tail": (3, 20, 5, 128),
                     "blas-large": (2, 40, 3, 256)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", CONFIGS, ids=str)
@pytest.mark.parametrize("varlen", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("recurrence", sorted(RECURRENCE_SHAPES))
def test_layer_features_match_reference(rng, dtype, config, varlen, recurrence):
    num_layers, bidirectional, proj_size, bias = config
    T, B, I, H = RECURRENCE_SHAPES[recurrence]
    model = lstmcore.LSTM(I, H, num_layers=num_layers, bidirectional=bidirectional,
                          proj_size=proj_size, bias=bias, dtype=dtype, seed=7)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    # lengths from 1 to T, the longest at T (a packed batch starts full)
    lengths = rng.permutation(np.r_[T, rng.integers(1, T + 1, B - 1)]) if varlen else None
    h0, c0 = random_state(rng, model, B, dtype)
    dy = rng.standard_normal((T, B, model.num_directions * model.output_size)).astype(dtype)
    dh_n, dc_n = random_state(rng, model, B, dtype)
    ours, theirs = run_both(model, x, h0, c0, lengths, dy, dh_n, dc_n)
    assert_all_close(ours, theirs, TOL[dtype])


# Without a projection the backward reads tanh(c_t) back from y as h_t / o (csrc/lstm_impl.h,
# backward_block): units whose output gate is exactly 0 (a pre-activation past exp's range)
# take another branch there. Shapes: H = 30's partial block, row groups, unit chunks (B < 8).
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(10, 32, 1, 30), (4, 9, 3, 20), (5, 5, 2, 17)], ids=str)
def test_closed_output_gates_match_reference(rng, dtype, shape):
    T, B, I, H = shape
    model = lstmcore.LSTM(I, H, dtype=dtype, seed=3)
    params = model.parameters()
    closed = rng.permutation(H)[:H // 2]
    params["bias_ih_l0"][3 * H + closed] = -1000  # sigmoid is 0.0 in both dtypes
    x = rng.standard_normal((T, B, I)).astype(dtype)
    h0, c0 = random_state(rng, model, B, dtype)
    dy = rng.standard_normal((T, B, H)).astype(dtype)
    with np.errstate(over="ignore"):  # the reference's exp(1000)
        ours, theirs = run_both(model, x, h0, c0, None, dy, None, None)
    assert (theirs["y"][:, :, closed] == 0).all()
    assert_all_close(ours, theirs, TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("where", ["x", "c0"])
def test_nan_reaches_the_gradients_the_reference_gives_nan(rng, dtype, where):
    """NaN in x, or in c0 under closed output gates, where tanh(c_t) = NaN meets o = 0: one
    step, so that no later step's NaN hides what that one gives."""
    T, B, I, H = (6, 9, 2, 20) if where == "x" else (1, 9, 2, 20)
    model = lstmcore.LSTM(I, H, dtype=dtype, seed=4)
    model.parameters()["bias_ih_l0"][3 * H:3 * H + 5] = -1000  # closed output gates
    x = rng.standard_normal((T, B, I)).astype(dtype)
    h0, c0 = random_state(rng, model, B, dtype)
    if where == "x":
        x[2, 4, 1] = np.nan
    else:
        c0[0, 4, :8] = np.nan  # units 0-4 closed, 5-7 open
    dy = rng.standard_normal((T, B, H)).astype(dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        ours, theirs = run_both(model, x, h0, c0, None, dy, None, None)
    for name in theirs:
        np.testing.assert_array_equal(np.isnan(ours[name]), np.isnan(theirs[name]), name)
    assert np.isnan(theirs["dc0"]).any() and np.isnan(theirs["weight_hh_l0"]).any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, bidirectional, varlen",
                         [((10, 32, 1, 30), False, False), ((10, 32, 1, 30), True, True),
                          ((4, 9, 3, 20), False, False), ((6, 12, 1, 8), True, False)], ids=str)
def test_inf_at_the_first_step_reaches_dw_hh_as_nan(rng, dtype, shape, bidirectional, varlen):
    """Without h0 the first step's h_{t-1} is zeros, whose products the backward leaves out of
    dW_hh when they add nothing (csrc/lstm_impl.h, group_step): with an Inf in that step's dy
    they are 0 * Inf = NaN in the reference, and must be NaN here too."""
    T, B, I, H = shape
    model = lstmcore.LSTM(I, H, bidirectional=bidirectional, dtype=dtype, seed=5)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    lengths = rng.permutation(np.r_[T, rng.integers(1, T + 1, B - 1)]) if varlen else None
    dy = rng.standard_normal((T, B, model.num_directions * H)).astype(dtype)
    dy[0, 3, 2] = np.inf  # the first step of the forward direction
    if bidirectional:  # and of the reverse one: the last valid step of sequence 5
        dy[(lengths[5] if varlen else T) - 1, 5, H + 1] = -np.inf
    with np.errstate(over="ignore", invalid="ignore"):
        ours, theirs = run_both(model, x, None, None, lengths, dy, None, None)
    for name in theirs:
        np.testing.assert_array_equal(np.isnan(ours[name]), np.isnan(theirs[name]), name)
    assert np.isnan(theirs["weight_hh_l0"]).any()
    if bidirectional:
        assert np.isnan(theirs["weight_hh_l0_reverse"]).any()


def test_outputs_past_each_length_are_zero(rng):
    model = lstmcore.LSTM(2, 3, bidirectional=True, seed=0)
    lengths = np.array([2, 5, 1])
    y, _ = model(rng.standard_normal((5, 3, 2)), lengths=lengths)
    for b, n in enumerate(lengths):
        assert np.all(y[n:, b] == 0)
        assert np.all(y[:n, b] != 0)


@pytest.mark.parametrize("batch_first", [False, True], ids=["tmajor", "bfirst"])
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided"])
def test_backward_with_lengths_reads_dy_in_any_memory_layout(rng, batch_first, layout):
    """Packing dy with lengths takes rows from a time-major or a batch-major array, or from
    one that is neither: the gradients are the same."""
    T, B, I, H = 5, 4, 3, 6
    model = lstmcore.LSTM(I, H, bidirectional=True, batch_first=batch_first, seed=0)
    lengths = np.array([3, 5, 1, 4])
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I))
    dy = rng.standard_normal(x.shape[:2] + (2 * H,)).astype(np.float32)
    spoiled = {"contiguous": dy,
               "transposed": np.ascontiguousarray(dy.transpose(1, 0, 2)).transpose(1, 0, 2),
               "strided": np.repeat(dy, 2, axis=2)[:, :, ::2]}[layout]
    assert np.array_equal(spoiled, dy)
    results = []
    for grad in (dy, spoiled):
        model.zero_grad()
        y, _, cache = model.forward(x, lengths=lengths)
        dx, (dh0, dc0) = model.backward(grad, cache)
        results.append((dx, dh0, dc0, {n: g.copy() for n, g in model.grads.items()}))
    (dx, dh0, dc0, grads), (dx_s, dh0_s, dc0_s, grads_s) = results
    np.testing.assert_array_equal(dx, dx_s)
    np.testing.assert_array_equal(dh0, dh0_s)
    np.testing.assert_array_equal(dc0, dc0_s)
    for name in grads:
        np.testing.assert_array_equal(grads[name], grads_s[name], err_msg=name)
    for b, n in enumerate(lengths):
        assert np.all((dx[b, n:] if batch_first else dx[n:, b]) == 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_masks_match_reference(rng, dtype):
    model = lstmcore.LSTM(3, 4, num_layers=3, bidirectional=True, dropout=0.4, dtype=dtype,
                          seed=3)
    x = rng.standard_normal((5, 2, 3)).astype(dtype)
    y, (h_n, c_n), cache = model.forward(x)
    masks = [model_mask for model_mask in cache.dropout_masks[1:]]
    padded = [cache.packing.unpack(m) for m in masks]
    assert all(np.any(m == 0) for m in padded)
    y_r, h_r, c_r, _ = reference.forward(model.state_dict(), x, num_layers=3,
                                         bidirectional=True, dropout_masks=padded)
    assert_close(y, y_r, TOL[dtype], "y")
    # inference never drops: two calls agree and differ from the training output
    y1, _ = model(x)
    y2, _ = model(x)
    np.testing.assert_array_equal(y1, y2)
    assert not np.allclose(y1, y)


def test_dropout_is_reproducible_from_seed(rng):
    x = rng.standard_normal((4, 3, 2))
    outs = [lstmcore.LSTM(2, 3, num_layers=2, dropout=0.5, seed=11).forward(x)[0]
            for _ in range(2)]
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", [(1, 0), (2, 0), (3, 2)], ids=str)
def test_whole_sequence_equals_step_by_step(rng, dtype, config):
    """T calls with T=1, carrying (h, c), give the same outputs and gradients."""
    num_layers, proj_size = config
    T, B, I, H = 5, 3, 2, 4
    model = lstmcore.LSTM(I, H, num_layers=num_layers, proj_size=proj_size, dtype=dtype, seed=5)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    dy = rng.standard_normal((T, B, model.output_size)).astype(dtype)
    y, (h_n, c_n), cache = model.forward(x)
    dx, (dh0, dc0) = model.backward(dy, cache)
    whole_grads = {k: g.copy() for k, g in model.grads.items()}

    model.zero_grad()
    state, caches, ys = None, [], []
    for t in range(T):
        y_t, state, cache_t = model.forward(x[t:t + 1], state)
        ys.append(y_t)
        caches.append(cache_t)
    assert_close(np.concatenate(ys), y, TOL[dtype], "y")
    assert_close(state[0], h_n, TOL[dtype], "h_n")
    assert_close(state[1], c_n, TOL[dtype], "c_n")
    dh, dc, dxs = None, None, []
    for t in reversed(range(T)):
        dx_t, (dh, dc) = model.backward(dy[t:t + 1], caches[t], dh, dc)
        dxs.append(dx_t)
    assert_close(np.concatenate(dxs[::-1]), dx, TOL[dtype], "dx")
    for name, g in whole_grads.items():
        assert_close(model.grads[name], g, TOL[dtype], name)


@pytest.mark.parametrize("layout", ["batch_first", "unbatched"])
def test_layouts_match_time_major(rng, layout):
    T, B, I, H = 4, 3, 2, 5
    x = rng.standard_normal((T, B, I))
    base = lstmcore.LSTM(I, H, num_layers=2, bidirectional=True, dtype=np.float64, seed=9)
    y, (h_n, c_n) = base(x)
    if layout == "batch_first":
        model = lstmcore.LSTM(I, H, num_layers=2, bidirectional=True, batch_first=True,
                              dtype=np.float64, seed=9)
        y_b, (h_b, c_b) = model(x.transpose(1, 0, 2))
        np.testing.assert_allclose(y_b.transpose(1, 0, 2), y, rtol=1e-12)
        np.testing.assert_allclose(h_b, h_n, rtol=1e-12)
        dx, _ = model.backward(np.ones_like(y_b), model.forward(x.transpose(1, 0, 2))[2])
        assert dx.shape == (B, T, I)
    else:
        y_u, (h_u, c_u) = base(x[:, 1])
        np.testing.assert_allclose(y_u, y[:, 1], rtol=1e-12)
        np.testing.assert_allclose(h_u, h_n[:, 1], rtol=1e-12)
        _, _, cache = base.forward(x[:, 1])
        dx, (dh0, dc0) = base.backward(np.ones_like(y_u), cache)
        assert dx.shape == (T, I) and dh0.shape == (4, H)


def test_backward_adds_into_grads(rng):
    model = lstmcore.LSTM(2, 3, seed=0)
    x = rng.standard_normal((3, 2, 2))
    dy = rng.standard_normal((3, 2, 3))
    model.backward(dy, model.forward(x)[2])
    once = {k: g.copy() for k, g in model.grads.items()}
    model.backward(dy, model.forward(x)[2])
    for k, g in model.grads.items():
        np.testing.assert_allclose(g, 2 * once[k], rtol=1e-6)
    model.zero_grad()
    assert all(not g.any() for g in model.grads.values())


def test_init_is_pytorch_uniform_and_seeded():
    a = lstmcore.LSTM(3, 16, num_layers=2, seed=4)
    b = lstmcore.LSTM(3, 16, num_layers=2, seed=4)
    c = lstmcore.LSTM(3, 16, num_layers=2, seed=5)
    bound = 1 / np.sqrt(16)
    for name, p in a.state_dict().items():
        assert p.dtype == np.float32
        assert np.abs(p).max() <= bound and np.abs(p).max() > 0.8 * bound
        np.testing.assert_array_equal(p, b.state_dict()[name])
        assert not np.array_equal(p, c.state_dict()[name])


def test_state_dict_returns_copies_and_loads_in_place():
    model = lstmcore.LSTM(2, 3, seed=0)
    live = model.parameters()["weight_ih_l0"]
    sd = model.state_dict()
    sd["weight_ih_l0"][:] = 1.0
    assert not np.all(live == 1.0)
    model.load_state_dict(sd)
    assert np.all(live == 1.0), "load_state_dict must write into the live arrays"


# ---- PyTorch -------------------------------------------------------------------------------

@pytest.mark.parametrize("fixture", fixture_params())
def test_matches_pytorch_fixture(fixture):
    """Committed fixtures made by tests/make_fixtures.py from torch.nn.LSTM."""
    cfg, arrays = fixture["config"], fixture["arrays"]
    dtype = np.dtype(cfg["dtype"]).type
    model = lstmcore.LSTM(cfg["input_size"], cfg["hidden_size"], num_layers=cfg["num_layers"],
                          bias=cfg["bias"], bidirectional=cfg["bidirectional"],
                          proj_size=cfg["proj_size"], dtype=dtype)
    model.load_state_dict(fixture_param_dict(fixture))
    hx = (arrays["h0"], arrays["c0"]) if "h0" in arrays else None
    y, (h_n, c_n), cache = model.forward(arrays["x"], hx, lengths=arrays.get("lengths"))
    dx, (dh0, dc0) = model.backward(arrays["dy"], cache, arrays["dh_n"], arrays["dc_n"])
    tol = TOL_TORCH[dtype]
    for name, value in dict(y=y, h_n=h_n, c_n=c_n, dx=dx).items():
        assert_close(value, arrays[name], tol, name)
    if "dh0" in arrays:
        assert_close(dh0, arrays["dh0"], tol, "dh0")
        assert_close(dc0, arrays["dc0"], tol, "dc0")
    for name, g in fixture_grads(fixture).items():
        assert_close(model.grads[name], g, tol, name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", CONFIGS, ids=str)
@pytest.mark.parametrize("varlen", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["tmajor", "bfirst"])
def test_matches_pytorch_live(rng, dtype, config, varlen, batch_first):
    torch = pytest.importorskip("torch")
    num_layers, bidirectional, proj_size, bias = config
    T, B, I, H = 6, 4, 3, 5
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    torch.manual_seed(0)
    ref = torch.nn.LSTM(I, H, num_layers=num_layers, bias=bias, batch_first=batch_first,
                        bidirectional=bidirectional, proj_size=proj_size).to(tdtype)
    model = lstmcore.LSTM(I, H, num_layers=num_layers, bias=bias, batch_first=batch_first,
                          bidirectional=bidirectional, proj_size=proj_size, dtype=dtype)
    model.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})

    D, P = model.num_directions, model.output_size
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I)).astype(dtype)
    h0 = rng.standard_normal((num_layers * D, B, P)).astype(dtype)
    c0 = rng.standard_normal((num_layers * D, B, H)).astype(dtype)
    lengths = np.array([3, T, 1, 5]) if varlen else None
    dy = rng.standard_normal((B, T, D * P) if batch_first else (T, B, D * P)).astype(dtype)
    dh_n = rng.standard_normal(h0.shape).astype(dtype)
    dc_n = rng.standard_normal(c0.shape).astype(dtype)

    tx = torch.tensor(x, requires_grad=True)
    th0 = torch.tensor(h0, requires_grad=True)
    tc0 = torch.tensor(c0, requires_grad=True)
    if varlen:
        packed = torch.nn.utils.rnn.pack_padded_sequence(tx, torch.tensor(lengths),
                                                         batch_first=batch_first,
                                                         enforce_sorted=False)
        out, (th_n, tc_n) = ref(packed, (th0, tc0))
        ty, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=batch_first,
                                                       total_length=T)
    else:
        ty, (th_n, tc_n) = ref(tx, (th0, tc0))
    loss = ((ty * torch.tensor(dy)).sum() + (th_n * torch.tensor(dh_n)).sum()
            + (tc_n * torch.tensor(dc_n)).sum())
    loss.backward()

    y, (h_n, c_n), cache = model.forward(x, (h0, c0), lengths=lengths)
    dx, (dh0, dc0) = model.backward(dy, cache, dh_n, dc_n)
    tol = TOL_TORCH[dtype]
    expected = dict(y=ty, h_n=th_n, c_n=tc_n, dx=tx.grad, dh0=th0.grad, dc0=tc0.grad)
    ours = dict(y=y, h_n=h_n, c_n=c_n, dx=dx, dh0=dh0, dc0=dc0)
    for name in expected:
        assert_close(ours[name], expected[name].detach().numpy(), tol, name)
    for name, p in ref.named_parameters():
        assert_close(model.grads[name], p.grad.numpy(), tol, "grad " + name)


# ---- threads -------------------------------------------------------------------------------

def test_one_model_from_many_threads_matches_serial(rng):
    model = lstmcore.LSTM(8, 16, num_layers=2, bidirectional=True, seed=0)
    inputs = [rng.standard_normal((12, 4, 8)).astype(np.float32) for _ in range(8)]
    serial = [model(x)[0] for x in inputs]
    results = [None] * len(inputs)

    def work(i):
        for _ in range(5):
            results[i] = model(inputs[i])[0]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, expected in zip(results, serial):
        np.testing.assert_array_equal(got, expected)
