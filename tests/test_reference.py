"""The NumPy reference against finite differences, live PyTorch and the committed PyTorch fixtures."""
import itertools
import re
from typing import NamedTuple

import numpy as np
import pytest

from fixtures import fixture_params, grads as fixture_grads, params as fixture_params_of
from lstmcore import reference
from tolerances import (FINITE_DIFFERENCE_STEP, FINITE_DIFFERENCE_TOL, TOL, TOL_TORCH,
                        assert_close)

# Tiny sizes keep the finite differences fast; all differ so that a swapped axis shows.
T, B, I, H, PROJ = 4, 3, 2, 3, 2
# unsorted, with a length-1 and a full-length sequence
LENGTHS = [2, T, 1]
DROPOUT = 0.3


class Config(NamedTuple):
    num_layers: int
    bidirectional: bool
    proj_size: int
    bias: bool
    lengths: bool
    dropout: bool

    def __str__(self):
        return "-".join([f"L{self.num_layers}", "bi" if self.bidirectional else "uni",
                         f"proj{self.proj_size}", "bias" if self.bias else "nobias",
                         "lengths" if self.lengths else "full",
                         "dropout" if self.dropout else "nodropout"])


# dropout masks only exist between layers
CONFIGS = [Config(*options) for options in itertools.product(
    (1, 2), (False, True), (0, PROJ), (True, False), (False, True), (False, True))
    if options[0] > 1 or not options[-1]]


class Case(NamedTuple):
    """Random inputs for one config; loss = sum(y * dy) + sum(h_n * dh_n) + sum(c_n * dc_n)."""
    config: Config
    params: dict
    x: np.ndarray
    h0: np.ndarray
    c0: np.ndarray
    lengths: np.ndarray
    dropout_masks: list
    dy: np.ndarray
    dh_n: np.ndarray
    dc_n: np.ndarray


def random_case(rng, config, dtype=np.float64):
    L, D = config.num_layers, 2 if config.bidirectional else 1
    P = config.proj_size or H

    def random(*shape):
        return rng.standard_normal(shape).astype(dtype)

    params = {}
    for k, d in itertools.product(range(L), range(D)):
        suffix = f"_l{k}" + ("_reverse" if d else "")
        params["weight_ih" + suffix] = random(4 * H, I if k == 0 else D * P)
        params["weight_hh" + suffix] = random(4 * H, P)
        if config.bias:
            params["bias_ih" + suffix] = random(4 * H)
            params["bias_hh" + suffix] = random(4 * H)
        if config.proj_size:
            params["weight_hr" + suffix] = random(P, H)
    masks = None
    if config.dropout:
        masks = [((rng.random((T, B, D * P)) >= DROPOUT) / (1 - DROPOUT)).astype(dtype)
                 for _ in range(L - 1)]
    return Case(config, params, x=random(T, B, I), h0=random(L * D, B, P), c0=random(L * D, B, H),
                lengths=np.array(LENGTHS) if config.lengths else None, dropout_masks=masks,
                dy=random(T, B, D * P), dh_n=random(L * D, B, P), dc_n=random(L * D, B, H))


def reference_forward(case):
    config = case.config
    return reference.forward(case.params, case.x, case.h0, case.c0,
                             num_layers=config.num_layers, bidirectional=config.bidirectional,
                             proj_size=config.proj_size, lengths=case.lengths,
                             dropout_masks=case.dropout_masks)


def reference_gradients(case):
    """Forward and backward; returns {name: array} for y, h_n, c_n, x, h0, c0 and each param."""
    y, h_n, c_n, cache = reference_forward(case)
    dx, dh0, dc0, grads = reference.backward(cache, case.dy, case.dh_n, case.dc_n)
    return dict(grads, y=y, h_n=h_n, c_n=c_n, x=dx, h0=dh0, c0=dc0)


def numerical_gradient(loss, array):
    """Centred finite differences of loss() with respect to array, which is perturbed in place."""
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + FINITE_DIFFERENCE_STEP
        up = loss()
        array[index] = saved - FINITE_DIFFERENCE_STEP
        down = loss()
        array[index] = saved
        grad[index] = (up - down) / (2 * FINITE_DIFFERENCE_STEP)
    return grad


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_gradients_match_finite_differences(config, rng):
    case = random_case(rng, config)

    def loss():
        y, h_n, c_n, _ = reference_forward(case)
        return np.sum(y * case.dy) + np.sum(h_n * case.dh_n) + np.sum(c_n * case.dc_n)

    analytic = reference_gradients(case)
    assert set(case.params) <= set(analytic)
    for name, array in dict(case.params, x=case.x, h0=case.h0, c0=case.c0).items():
        assert_close(analytic[name], numerical_gradient(loss, array), FINITE_DIFFERENCE_TOL, name)


def _layer_of(name):
    return int(re.search(r"_l(\d+)", name).group(1))


def _shift_layer(name, offset):
    return re.sub(r"_l(\d+)", lambda match: f"_l{int(match.group(1)) + offset}", name)


def torch_gradients(case):
    """What reference_gradients returns, computed by torch.nn.LSTM in float64."""
    import torch
    from make_fixtures import run_torch_lstm

    config = case.config
    L, D = config.num_layers, 2 if config.bidirectional else 1
    leaves = {name: torch.tensor(getattr(case, name), requires_grad=True)
              for name in ("x", "h0", "c0")}
    # torch.nn.LSTM draws its own dropout masks, so with given masks every layer runs as its own
    # one-layer module and the masks are applied between them
    groups = [range(L)] if case.dropout_masks is None else [range(k, k + 1) for k in range(L)]
    output, h_n, c_n, modules = leaves["x"], [], [], []
    for layers in groups:
        first = layers[0]
        if first > 0:
            output = output * torch.tensor(case.dropout_masks[first - 1])
        module = torch.nn.LSTM(output.shape[2], H, num_layers=len(layers), bias=config.bias,
                               bidirectional=config.bidirectional, proj_size=config.proj_size,
                               dtype=torch.float64)
        module.load_state_dict({_shift_layer(name, -first): torch.tensor(value)
                                for name, value in case.params.items()
                                if _layer_of(name) in layers})
        rows = slice(first * D, (layers[-1] + 1) * D)
        output, h, c = run_torch_lstm(module, output, leaves["h0"][rows], leaves["c0"][rows],
                                      case.lengths)
        h_n.append(h)
        c_n.append(c)
        modules.append((first, module))
    h_n, c_n = torch.cat(h_n), torch.cat(c_n)
    loss = ((output * torch.tensor(case.dy)).sum() + (h_n * torch.tensor(case.dh_n)).sum()
            + (c_n * torch.tensor(case.dc_n)).sum())
    loss.backward()

    result = {name: leaf.grad.numpy() for name, leaf in leaves.items()}
    result.update(y=output.detach().numpy(), h_n=h_n.detach().numpy(),
                  c_n=c_n.detach().numpy())
    for first, module in modules:
        for name, param in module.named_parameters():
            result[_shift_layer(name, first)] = param.grad.numpy()
    return result


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_matches_torch_forward_and_gradients(config, rng):
    pytest.importorskip("torch")
    case = random_case(rng, config)
    expected = torch_gradients(case)
    actual = reference_gradients(case)
    assert set(actual) == set(expected)
    for name in expected:
        assert_close(actual[name], expected[name], TOL_TORCH[np.float64], name)


@pytest.mark.parametrize("fixture", fixture_params())
def test_reproduces_pytorch_fixture(fixture):
    config, arrays = fixture["config"], fixture["arrays"]
    y, h_n, c_n, cache = reference.forward(
        fixture_params_of(fixture), arrays["x"], arrays.get("h0"), arrays.get("c0"),
        num_layers=config["num_layers"], bidirectional=config["bidirectional"],
        proj_size=config["proj_size"], lengths=arrays.get("lengths"))
    dx, dh0, dc0, grads = reference.backward(cache, arrays["dy"], arrays["dh_n"], arrays["dc_n"])

    actual = dict(y=y, h_n=h_n, c_n=c_n, dx=dx, dh0=dh0, dc0=dc0,
                  **{"grad." + name: grad for name, grad in grads.items()})
    assert set(grads) == set(fixture_grads(fixture))
    for name, value in actual.items():
        if name in arrays:
            assert value.dtype == config["dtype"], name
            assert_close(value, arrays[name], TOL_TORCH[config["dtype"]], name)


def random_layer(rng, dtype):
    """Weights of one layer with bias and projection: (w_ih, w_hh, b_ih, b_hh, w_hr)."""
    shapes = [(4 * H, I), (4 * H, PROJ), (4 * H,), (4 * H,), (PROJ, H)]
    return [rng.standard_normal(shape).astype(dtype) for shape in shapes]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_layer_step_by_step_equals_whole_sequence(reverse, dtype, rng):
    weights = random_layer(rng, dtype)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    dy = rng.standard_normal((T, B, PROJ)).astype(dtype)
    h0, dh_n = rng.standard_normal((2, B, PROJ)).astype(dtype)
    c0, dc_n = rng.standard_normal((2, B, H)).astype(dtype)

    y, h_n, c_n, cache = reference.layer_forward(x, *weights, h0, c0, reverse=reverse)
    dx, dh0, dc0, grads = reference.layer_backward(dy, cache, dh_n, dc_n)

    order = range(T - 1, -1, -1) if reverse else range(T)
    h, c, caches = h0, c0, {}
    for t in order:
        y_t, h, c, caches[t] = reference.layer_forward(x[t:t + 1], *weights, h, c)
        assert_close(y_t[0], y[t], TOL[dtype], f"y[{t}]")
    assert_close(h, h_n, TOL[dtype], "h_n")
    assert_close(c, c_n, TOL[dtype], "c_n")

    dh, dc, step_grads = dh_n, dc_n, {name: 0 for name in grads}
    for t in reversed(order):
        dx_t, dh, dc, grads_t = reference.layer_backward(dy[t:t + 1], caches[t], dh, dc)
        assert_close(dx_t[0], dx[t], TOL[dtype], f"dx[{t}]")
        step_grads = {name: step_grads[name] + grads_t[name] for name in grads}
    assert_close(dh, dh0, TOL[dtype], "dh0")
    assert_close(dc, dc0, TOL[dtype], "dc0")
    for name in grads:
        assert_close(step_grads[name], grads[name], TOL[dtype], name)


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_each_sequence_runs_as_if_alone_in_its_own_length(reverse, rng):
    weights = random_layer(rng, np.float64)
    x = rng.standard_normal((T, B, I))
    dy = rng.standard_normal((T, B, PROJ))
    h0, dh_n = rng.standard_normal((2, B, PROJ))
    c0, dc_n = rng.standard_normal((2, B, H))

    y, h_n, c_n, cache = reference.layer_forward(x, *weights, h0, c0, lengths=LENGTHS,
                                                 reverse=reverse)
    dx, dh0, dc0, grads = reference.layer_backward(dy, cache, dh_n, dc_n)

    summed = {name: 0 for name in grads}
    for b, n in enumerate(LENGTHS):
        alone = np.s_[:n, b:b + 1]
        y_b, h_b, c_b, cache_b = reference.layer_forward(x[alone], *weights, h0[b:b + 1],
                                                         c0[b:b + 1], reverse=reverse)
        dx_b, dh0_b, dc0_b, grads_b = reference.layer_backward(dy[alone], cache_b,
                                                               dh_n[b:b + 1], dc_n[b:b + 1])
        for name, actual, expected in [("y", y[alone], y_b), ("h_n", h_n[b], h_b[0]),
                                       ("c_n", c_n[b], c_b[0]), ("dx", dx[alone], dx_b),
                                       ("dh0", dh0[b], dh0_b[0]), ("dc0", dc0[b], dc0_b[0])]:
            assert_close(actual, expected, TOL[np.float64], f"{name} of sequence {b}")
        assert not y[n:, b].any(), f"y past the length of sequence {b}"
        assert not dx[n:, b].any(), f"dx past the length of sequence {b}"
        summed = {name: summed[name] + grads_b[name] for name in grads}
    for name in grads:
        assert_close(grads[name], summed[name], TOL[np.float64], name)


@pytest.mark.parametrize("x_dtype, dtype", [(np.float32, np.float32), (np.float64, np.float64),
                                            (np.float16, np.float64)])
def test_computes_in_the_dtype_of_x(x_dtype, dtype, rng):
    case = random_case(rng, Config(2, True, PROJ, True, True, True))
    case = case._replace(x=case.x.astype(x_dtype))
    for name, value in reference_gradients(case).items():
        assert value.dtype == dtype, name


def _forward_kwargs(rng):
    case = random_case(rng, Config(2, False, PROJ, True, False, True))
    return dict(params=case.params, x=case.x, h0=case.h0, c0=case.c0, num_layers=2,
                proj_size=PROJ, dropout_masks=case.dropout_masks)


@pytest.mark.parametrize("change, error, argument", [
    pytest.param(dict(lengths=[2, 0, 1]), ValueError, "lengths", id="length-zero"),
    pytest.param(dict(lengths=[2, T + 1, 1]), ValueError, "lengths", id="length-past-T"),
    pytest.param(dict(lengths=[2, 1]), ValueError, "lengths", id="lengths-not-one-per-row"),
    pytest.param(dict(lengths=[2.0, 1.0, 1.0]), TypeError, "lengths", id="lengths-not-integers"),
    pytest.param(dict(x=np.zeros((T, I))), ValueError, "x", id="x-not-3d"),
    pytest.param(dict(h0=np.zeros((2, B, H))), ValueError, "h0", id="h0-of-size-H-with-projection"),
    pytest.param(dict(c0=np.zeros((2, B, PROJ))), ValueError, "c0", id="c0-of-size-P"),
    pytest.param(dict(dropout_masks=[]), ValueError, "dropout_masks", id="too-few-dropout-masks"),
    pytest.param(dict(proj_size=0), ValueError, "h0", id="proj-size-disagrees-with-h0"),
    pytest.param(dict(params={}), ValueError, "weight_hh_l0", id="missing-weights"),
])
def test_rejects_bad_input_naming_the_argument(change, error, argument, rng):
    kwargs = _forward_kwargs(rng)
    kwargs.update(change)
    with pytest.raises(error, match=argument):
        reference.forward(**kwargs)


def test_rejects_a_missing_projection_weight(rng):
    kwargs = _forward_kwargs(rng)
    del kwargs["params"]["weight_hr_l1"]
    with pytest.raises(ValueError, match="weight_hr_l1"):
        reference.forward(**kwargs)


def test_rejects_one_bias_without_the_other(rng):
    w_ih, w_hh, b_ih, _, w_hr = random_layer(rng, np.float64)
    with pytest.raises(ValueError, match="b_hh"):
        reference.layer_forward(np.zeros((T, B, I)), w_ih, w_hh, b_ih, None, w_hr)
