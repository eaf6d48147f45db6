"""Optimizers and clip_grad_norm_: step by step against torch, exact resumption, argument checks."""
import io
import pickle

import numpy as np
import pytest

from lstmcore import optim
from tolerances import TOL_TORCH, assert_close

DTYPES = [np.float32, np.float64]
SHAPES = {"weight": (4, 3), "bias": (4,), "scale": (1,)}
STEPS = 20

# (our class name, keyword arguments): every option of each optimizer, alone and combined.
CONFIGS = [
    ("SGD", {}),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, maximize=True)),
    ("SGD", dict(lr=0.05, momentum=0.5, weight_decay=0.01, nesterov=True, maximize=True)),
    ("Adam", {}),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("Adam", dict(lr=0.01, maximize=True)),
    ("Adam", dict(lr=0.01, betas=(0.0, 0.5), weight_decay=0.1, amsgrad=True, maximize=True)),
    ("AdamW", {}),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True)),
    ("Adagrad", {}),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.1, eps=0.0)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.2,
                     eps=1e-6, maximize=True)),
    ("RMSprop", {}),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, maximize=True)),
    ("RMSprop", dict(lr=0.01, alpha=0.5, momentum=0.5, centered=True, weight_decay=0.01,
                     maximize=True)),
]
CONFIG_IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}"
              for name, kw in CONFIGS]


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _params(rng, dtype):
    return {name: rng.standard_normal(shape).astype(dtype) for name, shape in SHAPES.items()}


def _grad_sequence(rng, steps, dtype):
    return [{name: rng.standard_normal(shape).astype(dtype) for name, shape in SHAPES.items()}
            for _ in range(steps)]


def _torch_optimizer(torch, name, kwargs, params):
    torch_class = getattr(torch.optim, name)
    # foreach=False: torch's single-tensor path, the one these update rules follow
    return torch_class(params, foreach=False, **kwargs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=CONFIG_IDS)
def test_steps_match_torch_optim_with_the_same_gradients(torch, rng, dtype, name, kwargs):
    params = _params(rng, dtype)
    torch_params = {k: torch.nn.Parameter(torch.from_numpy(p.copy())) for k, p in params.items()}
    ours = getattr(optim, name)(params, **kwargs)
    theirs = _torch_optimizer(torch, name, kwargs, list(torch_params.values()))
    live = dict(params)

    for step, grads in enumerate(_grad_sequence(rng, STEPS, dtype)):
        given = {k: g.copy() for k, g in grads.items()}
        ours.step(grads)
        for k, g in grads.items():
            torch_params[k].grad = torch.from_numpy(g.copy())
        theirs.step()
        for k, p in params.items():
            assert p is live[k] and p.dtype == dtype
            np.testing.assert_array_equal(grads[k], given[k], err_msg="step changed the grads")
            assert_close(p, torch_params[k].detach().numpy(), TOL_TORCH[dtype],
                         f"{k} after step {step + 1}")


def _state_round_trip(state):
    """state_dict -> np.savez -> np.load, as a trainer's checkpoint does."""
    buffer = io.BytesIO()
    np.savez(buffer, **state)
    buffer.seek(0)
    with np.load(buffer) as loaded:
        return dict(loaded)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=CONFIG_IDS)
def test_resuming_from_state_dict_continues_bit_identically(rng, dtype, name, kwargs):
    start = _params(rng, dtype)
    grads = _grad_sequence(rng, 12, dtype)
    params = {k: p.copy() for k, p in start.items()}
    uninterrupted = getattr(optim, name)(params, **kwargs)
    for g in grads:
        uninterrupted.step(g)

    interrupted_params = {k: p.copy() for k, p in start.items()}
    interrupted = getattr(optim, name)(interrupted_params, **kwargs)
    for g in grads[:5]:
        interrupted.step(g)
    saved_params = {k: p.copy() for k, p in interrupted_params.items()}
    checkpoint = _state_round_trip(interrupted.state_dict())
    for g in grads[5:7]:
        interrupted.step(g)  # must not reach the checkpoint: state_dict returns copies

    # hyperparameters, step count and buffers all come from the checkpoint
    resumed = getattr(optim, name)(saved_params, lr=0.5)
    resumed.load_state_dict(checkpoint)
    for g in grads[5:]:
        resumed.step(g)

    assert resumed.defaults == uninterrupted.defaults
    assert resumed.step_count == uninterrupted.step_count == 12
    for k, p in params.items():
        np.testing.assert_array_equal(saved_params[k], p, err_msg=k)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop"])
def test_defaults_are_torchs(torch, name):
    ours = getattr(optim, name)([np.zeros(2)]).defaults
    theirs = getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)]).defaults
    for key, value in ours.items():
        expected = theirs.get(key, False)
        assert value == (tuple(expected) if isinstance(value, tuple) else expected), key


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=CONFIG_IDS)
def test_defaults_are_the_constructor_arguments(rng, name, kwargs):
    original = getattr(optim, name)({"p": np.ones(3)}, **kwargs)
    copy = type(original)({"p": np.ones(3)}, **original.defaults)
    assert copy.defaults == original.defaults


def test_list_params_take_grads_as_a_list_in_the_same_order(rng):
    params = [rng.standard_normal(3), rng.standard_normal((2, 2))]
    grads = [np.ones(3), np.full((2, 2), 2.0)]
    expected = [p - 0.1 * g for p, g in zip(params, grads)]
    optimizer = optim.SGD(params, lr=0.1)
    optimizer.step(grads)
    for p, e in zip(params, expected):
        np.testing.assert_array_equal(p, e)


def test_lr_is_settable_between_steps_and_validated():
    p = np.ones(2)
    optimizer = optim.SGD({"p": p}, lr=0.1)
    optimizer.lr = 1.0
    optimizer.step({"p": np.ones(2)})
    np.testing.assert_array_equal(p, np.zeros(2))
    assert optimizer.state_dict()["lr"] == 1.0
    with pytest.raises(ValueError, match="lr"):
        optimizer.lr = -1.0
    assert optimizer.lr == 1.0


def test_zero_state_forgets_history():
    p = np.ones(2)
    optimizer = optim.Adam({"p": p}, lr=0.1)
    optimizer.step({"p": np.ones(2)})
    optimizer.zero_state()
    fresh = optim.Adam({"p": np.ones(2)}, lr=0.1)
    assert optimizer.step_count == 0
    for key, value in fresh.state_dict().items():
        np.testing.assert_array_equal(optimizer.state_dict()[key], value, err_msg=key)


@pytest.mark.parametrize("name,kwargs,match", [
    ("SGD", dict(lr=-0.1), "lr"),
    ("SGD", dict(lr=float("nan")), "lr"),
    ("SGD", dict(momentum=-0.1), "momentum"),
    ("SGD", dict(weight_decay=-1), "weight_decay"),
    ("SGD", dict(nesterov=True), "nesterov"),
    ("SGD", dict(momentum=0.9, dampening=0.1, nesterov=True), "nesterov"),
    ("Adam", dict(lr=-1e-3), "lr"),
    ("Adam", dict(eps=-1.0), "eps"),
    ("Adam", dict(betas=(1.0, 0.9)), r"betas\[0\]"),
    ("Adam", dict(betas=(0.9, -0.1)), r"betas\[1\]"),
    ("Adam", dict(betas=(0.9,)), "betas"),
    ("Adam", dict(weight_decay=-1), "weight_decay"),
    ("AdamW", dict(lr=-1), "lr"),
    ("Adagrad", dict(lr=-1), "lr"),
    ("Adagrad", dict(lr_decay=-1), "lr_decay"),
    ("Adagrad", dict(initial_accumulator_value=-1), "initial_accumulator_value"),
    ("Adagrad", dict(eps=-1), "eps"),
    ("RMSprop", dict(lr=-1), "lr"),
    ("RMSprop", dict(alpha=-1), "alpha"),
    ("RMSprop", dict(momentum=-1), "momentum"),
    ("RMSprop", dict(eps=-1), "eps"),
])
def test_invalid_hyperparameters_raise_value_error_naming_them(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        getattr(optim, name)({"p": np.zeros(2)}, **kwargs)


def test_non_numeric_hyperparameters_raise_type_error_naming_them():
    with pytest.raises(TypeError, match="lr"):
        optim.SGD({"p": np.zeros(2)}, lr="fast")


@pytest.mark.parametrize("params,error,match", [
    ({}, ValueError, "params"),
    ([], ValueError, "params"),
    (np.zeros(3), TypeError, "params"),
    ({"w": [1.0, 2.0]}, TypeError, "'w'"),
    ({"w": np.zeros(2, np.int64)}, TypeError, "'w'"),
    ({"w": np.broadcast_to(np.zeros(1), (3,))}, ValueError, "'w'.*read-only"),
])
def test_bad_params_are_refused_by_name(params, error, match):
    with pytest.raises(error, match=match):
        optim.SGD(params)


@pytest.mark.parametrize("grads,error,match", [
    ({"w": np.zeros((2, 3))}, KeyError, "'b'"),
    ({"w": np.zeros((2, 3)), "b": np.zeros(3), "x": np.zeros(1)}, KeyError, "'x'"),
    ({"w": np.zeros((3, 2)), "b": np.zeros(3)}, ValueError, r"'w'.*\(2, 3\)"),
    ({"w": np.zeros((2, 3)), "b": np.zeros(3, int)}, TypeError, "'b'"),
    ([np.zeros((2, 3))], ValueError, "2 arrays"),
])
def test_grads_that_do_not_match_params_are_refused_before_any_update(grads, error, match):
    params = {"w": np.ones((2, 3)), "b": np.ones(3)}
    optimizer = optim.SGD(params, lr=1.0)
    with pytest.raises(error, match=match):
        optimizer.step(grads)
    assert optimizer.step_count == 0
    assert all((p == 1).all() for p in params.values())


def _counting_checks(optimizer):
    """Wraps the optimizer's full check of grads; returns the list its calls are counted in."""
    calls = []
    check = optimizer._check_grads
    optimizer._check_grads = lambda *args: (calls.append(1), check(*args))[1]
    return calls


@pytest.mark.parametrize("as_list", [False, True], ids=["dict", "list"])
def test_the_same_grad_arrays_are_checked_once(rng, as_list):
    """Training passes the same arrays every step (in a fresh dict from model.grads())."""
    params = _params(rng, np.float32)
    grads = {name: np.ones_like(p) for name, p in params.items()}
    optimizer = optim.Adagrad(params)
    calls = _counting_checks(optimizer)
    for _ in range(3):
        optimizer.step(list(grads.values()) if as_list else dict(grads))
    assert len(calls) == 1
    optimizer.step({name: g.copy() for name, g in grads.items()})
    assert len(calls) == 2


def _changed_grads(grads):
    """label -> grads edited after a valid step, the error and its match."""
    w, b, s = grads["weight"], grads["bias"], grads["scale"]

    def reshaped():
        w.shape = (3, 4)
        return grads

    def retyped():
        b.dtype = np.int32 if b.dtype == np.float32 else np.int64
        return grads

    return {
        "array-reshaped-in-place": (reshaped, ValueError, r"grads\['weight'\].*\(4, 3\)"),
        "dtype-set-in-place": (retyped, TypeError, r"grads\['bias'\].*int"),
        "new-array-misshapen": (lambda: grads | {"weight": w.T}, ValueError, r"grads\['weight'\]"),
        "new-array-int": (lambda: grads | {"scale": np.ones(1, int)}, TypeError, "'scale'"),
        "key-missing": (lambda: {"weight": w, "bias": b}, KeyError, "'scale'"),
        "key-added": (lambda: grads | {"x": s}, KeyError, "'x'"),
        "keys-renamed": (lambda: {"weight": w, "bias": b, "scal": s}, KeyError, "scal"),
        "list-short": (lambda: [w, b], ValueError, "3 arrays"),
        "list-reordered": (lambda: [b, w, s], ValueError, r"grads\[0\]"),
    }


@pytest.mark.parametrize("label", _changed_grads(dict.fromkeys(SHAPES)))
@pytest.mark.parametrize("dtype", DTYPES)
def test_grads_changed_after_a_step_are_checked_again(rng, dtype, label):
    params = _params(rng, dtype)
    grads = {name: np.ones_like(p) for name, p in params.items()}
    optimizer = optim.SGD(params, lr=0.5)
    optimizer.step(grads)
    optimizer.step(list(grads.values()))
    before = {name: p.copy() for name, p in params.items()}
    change, error, match = _changed_grads(grads)[label]
    with pytest.raises(error, match=match):
        optimizer.step(change())
    assert optimizer.step_count == 2
    for name, p in params.items():
        np.testing.assert_array_equal(p, before[name], err_msg=name)


def test_grads_of_another_float_dtype_are_converted_at_every_step(rng):
    params = {"w": np.zeros(3, np.float32)}
    grad = np.ones(3)
    optimizer = optim.SGD(params, lr=1.0)
    optimizer.step({"w": grad})
    grad[...] = 2.0
    optimizer.step({"w": grad})
    np.testing.assert_array_equal(params["w"], [-3.0, -3.0, -3.0])
    assert params["w"].dtype == np.float32


def test_pickles_leave_the_last_grads_out_and_step_on_as_the_original(rng):
    params = _params(rng, np.float64)
    grads = {name: rng.standard_normal(p.shape) for name, p in params.items()}
    optimizer = optim.SGD(params, lr=0.1)
    size = len(pickle.dumps(optimizer))
    optimizer.step(grads)
    saved = pickle.dumps(optimizer)
    assert len(saved) == size
    twin = pickle.loads(saved)
    optimizer.step(grads)
    twin.step(grads)
    for name, p in params.items():
        np.testing.assert_array_equal(twin.params[name], p, err_msg=name)


def test_load_state_dict_names_missing_unexpected_and_misshaped_entries():
    optimizer = optim.Adam({"w": np.zeros(3)})
    state = optimizer.state_dict()
    with pytest.raises(KeyError, match="exp_avg.w"):
        optimizer.load_state_dict({k: v for k, v in state.items() if k != "exp_avg.w"})
    with pytest.raises(KeyError, match="betas"):
        optimizer.load_state_dict({k: v for k, v in state.items() if k != "betas"})
    with pytest.raises(KeyError, match="stray"):
        optimizer.load_state_dict({**state, "stray": 1})
    with pytest.raises(ValueError, match=r"exp_avg_sq.w.*\(3,\)"):
        optimizer.load_state_dict({**state, "exp_avg_sq.w": np.zeros(4)})
    with pytest.raises(ValueError, match="lr"):
        optimizer.load_state_dict({**state, "lr": -1.0})


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf"), 3.0])
@pytest.mark.parametrize("clips", [True, False])
def test_clip_grad_norm_matches_torch(torch, rng, dtype, norm_type, clips):
    grads = {name: rng.standard_normal(shape).astype(dtype) for name, shape in SHAPES.items()}
    tensors = [torch.nn.Parameter(torch.zeros(shape, dtype=getattr(torch, np.dtype(dtype).name)))
               for shape in SHAPES.values()]
    for t, g in zip(tensors, grads.values()):
        t.grad = torch.from_numpy(g.copy())
    norm = np.linalg.norm(np.concatenate([g.ravel() for g in grads.values()]), norm_type)
    max_norm = 0.5 * norm if clips else 2.0 * norm
    before = {k: g.copy() for k, g in grads.items()}

    total = optim.clip_grad_norm_(grads, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(tensors, max_norm, norm_type, foreach=False)

    assert isinstance(total, float)
    assert_close(total, expected.item(), TOL_TORCH[dtype], "total_norm")
    for t, (k, g) in zip(tensors, grads.items()):
        assert g.dtype == dtype
        assert_close(g, t.grad.numpy(), TOL_TORCH[dtype], k)
        if not clips:
            np.testing.assert_array_equal(g, before[k])


def test_clip_grad_norm_accepts_a_list_or_one_array():
    grads = [np.array([3.0, 0.0]), np.array([[4.0]])]
    assert optim.clip_grad_norm_(grads, 1.0) == 5.0
    assert_close(grads[0], [0.6, 0.0], 1e-6, "grads[0]")
    single = np.array([0.0, 2.0])
    assert optim.clip_grad_norm_(single, 1.0, norm_type="inf") == 2.0
    assert_close(single, [0.0, 1.0], 1e-6, "single")
    assert optim.clip_grad_norm_([], 1.0) == 0.0


def test_clip_grad_norm_with_a_non_finite_norm_raises_only_when_asked():
    grads = {"w": np.array([np.inf, 1.0])}
    with pytest.raises(RuntimeError, match="non-finite|inf"):
        optim.clip_grad_norm_(grads, 1.0, error_if_nonfinite=True)
    with np.errstate(invalid="ignore"):
        assert optim.clip_grad_norm_(grads, 1.0) == np.inf
    # as torch: scaling by max_norm / inf zeroes finite entries and makes inf entries NaN
    assert np.isnan(grads["w"][0]) and grads["w"][1] == 0.0


def test_clip_grad_norm_refuses_bad_arguments_by_name():
    with pytest.raises(ValueError, match="max_norm"):
        optim.clip_grad_norm_([np.ones(2)], -1.0)
    with pytest.raises(TypeError, match=r"grads\[0\]"):
        optim.clip_grad_norm_([[1.0, 2.0]], 1.0)
    with pytest.raises(TypeError, match=r"grads\['w'\]"):
        optim.clip_grad_norm_({"w": np.ones(2, int)}, 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs", [dict(lr=0.1, initial_accumulator_value=0.1, eps=0),
                                    dict(lr=0.05, lr_decay=0.01, weight_decay=0.1, eps=1e-10,
                                         maximize=True)], ids=["tf1", "all-options"])
def test_adagrads_fused_update_gives_the_numpy_expressions_bits(rng, monkeypatch, dtype, kwargs):
    """optim.Adagrad runs contiguous same-dtype arrays through _core.adagrad_update; it must
    compute exactly what the NumPy expressions it replaces compute (they remain the path for
    every other layout)."""
    fused = {"w": rng.standard_normal((7, 5)).astype(dtype),
             "b": rng.standard_normal(9).astype(dtype)}
    plain = {k: v.copy() for k, v in fused.items()}
    opt_fused, opt_plain = optim.Adagrad(fused, **kwargs), optim.Adagrad(plain, **kwargs)
    calls = []
    real_update = optim._core.adagrad_update
    monkeypatch.setattr(optim._core, "adagrad_update",
                        lambda *a: (calls.append(1), real_update(*a))[1])
    for _ in range(25):
        grads = {k: rng.standard_normal(v.shape).astype(dtype) for k, v in fused.items()}
        opt_fused.step(grads)
        with monkeypatch.context() as m:
            m.setattr(optim, "_fusable", lambda *arrays: False)
            opt_plain.step(grads)
    assert len(calls) == 25 * 2  # the fused path did run
    for k in fused:
        np.testing.assert_array_equal(fused[k], plain[k])
        np.testing.assert_array_equal(opt_fused.state[k]["sum"], opt_plain.state[k]["sum"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adagrads_fused_update_divides_zero_by_zero_as_numpy_does(dtype):
    """With no initial accumulator and eps=0, a zero gradient divides 0 by 0: NaN, as in the
    NumPy expressions and torch.optim.Adagrad, not an exception part-way through the update."""
    kwargs = dict(lr=0.1, initial_accumulator_value=0, eps=0)
    fused, plain = {"w": np.ones(6, dtype)}, {"w": np.ones(6, dtype)}
    grads = {"w": np.array([0, 1, 0, 2, 0, 3], dtype)}
    optim.Adagrad(fused, **kwargs).step(grads)
    assert optim._fusable(fused["w"], grads["w"], np.zeros_like(fused["w"]))
    with np.errstate(invalid="ignore"):
        opt_plain = optim.Adagrad(plain, **kwargs)
        with pytest.MonkeyPatch.context() as m:
            m.setattr(optim, "_fusable", lambda *arrays: False)
            opt_plain.step(grads)
    np.testing.assert_array_equal(fused["w"], plain["w"])
    assert np.isnan(fused["w"][::2]).all() and np.isfinite(fused["w"][1::2]).all()


def test_adagrad_takes_the_numpy_path_for_non_contiguous_grads(rng):
    p = {"w": rng.standard_normal((6, 4)).astype(np.float32)}
    q = {"w": p["w"].copy()}
    grad = np.asfortranarray(rng.standard_normal((6, 4)).astype(np.float32))
    assert not optim._fusable(q["w"], grad, np.zeros_like(q["w"]))
    optim.Adagrad(p).step({"w": np.ascontiguousarray(grad)})
    optim.Adagrad(q).step({"w": grad})
    np.testing.assert_array_equal(p["w"], q["w"])


def _adagrad_pair(rng, dtype=np.float32):
    params = {"w": rng.standard_normal((6, 4)).astype(dtype),
              "b": rng.standard_normal(5).astype(dtype)}
    grads = {k: rng.standard_normal(v.shape).astype(dtype) for k, v in params.items()}
    return params, grads


def test_adagrads_kept_plan_follows_a_replaced_buffer(rng):
    """The same grad arrays at every step keep Adagrad's plan; a 'sum' buffer replaced in
    opt.state between steps is the one updated from then on."""
    params, grads = _adagrad_pair(rng)
    reference = {k: v.copy() for k, v in params.items()}
    opt, ref = optim.Adagrad(params, lr=0.1), optim.Adagrad(reference, lr=0.1)
    for step in range(4):
        if step == 2:
            for o in (opt, ref):
                o.state["w"]["sum"] = np.full((6, 4), 3.0, np.float32)
        opt.step(grads)  # the same arrays: the plan is kept
        ref.step({k: g.copy() for k, g in grads.items()})  # new arrays: a new plan each step
    for k in params:
        np.testing.assert_array_equal(params[k], reference[k])
        np.testing.assert_array_equal(opt.state[k]["sum"], ref.state[k]["sum"])


def test_adagrads_kept_plan_follows_load_state_dict_and_zero_state(rng):
    """Both replace the buffers: steps with the same grad arrays must use the new ones."""
    params, grads = _adagrad_pair(rng)
    start = {k: v.copy() for k, v in params.items()}
    opt = optim.Adagrad(params, lr=0.1)
    opt.step(grads)
    saved, after_one = opt.state_dict(), {k: v.copy() for k, v in params.items()}
    opt.step(grads)
    after_two = {k: v.copy() for k, v in params.items()}
    for restore, state, expected in ((after_one, saved, after_two), (start, None, after_one)):
        for k in params:
            params[k][...] = restore[k]
        if state is None:
            opt.zero_state()
        else:
            opt.load_state_dict(state)
        opt.step(grads)
        for k in params:
            np.testing.assert_array_equal(params[k], expected[k])


def test_adagrad_refuses_a_param_made_read_only_after_a_step(rng):
    params, grads = _adagrad_pair(rng)
    opt = optim.Adagrad(params, lr=0.1)
    opt.step(grads)
    params["w"].flags.writeable = False
    before = params["w"].copy()
    with pytest.raises(ValueError, match="read-only"):
        opt.step(grads)
    np.testing.assert_array_equal(params["w"], before)
