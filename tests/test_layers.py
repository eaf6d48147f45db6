"""Linear: forward/backward against torch.nn.Linear and finite differences, init, state."""
import numpy as np
import pytest

from lstmcore.layers import Linear
from tolerances import (FINITE_DIFFERENCE_STEP, FINITE_DIFFERENCE_TOL, TOL, TOL_TORCH,
                        assert_close)

DTYPES = [np.float32, np.float64]
LEADING_SHAPES = [(), (1,), (7,), (5, 3)]
SIZES = [(1, 1), (4, 3), (17, 9)]


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _random_layer(rng, in_features, out_features, bias=True, dtype=np.float64):
    layer = Linear(in_features, out_features, bias=bias, dtype=dtype, seed=0)
    # Random (never zero) parameters, so no term of the gradient can hide behind a zero.
    layer.load_state_dict({name: rng.standard_normal(p.shape)
                           for name, p in layer.parameters().items()})
    return layer


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("leading", LEADING_SHAPES)
@pytest.mark.parametrize("in_features,out_features", SIZES)
@pytest.mark.parametrize("bias", [True, False])
def test_forward_and_backward_match_torch_linear(torch, rng, dtype, leading, in_features,
                                                 out_features, bias):
    layer = _random_layer(rng, in_features, out_features, bias, dtype)
    reference = torch.nn.Linear(in_features, out_features, bias=bias,
                                dtype=torch.float32 if dtype == np.float32 else torch.float64)
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    x = rng.standard_normal(leading + (in_features,)).astype(dtype)
    dy = rng.standard_normal(leading + (out_features,)).astype(dtype)

    y, cache = layer.forward(x)
    dx = layer.backward(dy, cache)

    x_t = torch.from_numpy(x).requires_grad_()
    y_t = reference(x_t)
    y_t.backward(torch.from_numpy(dy))
    assert y.dtype == dtype and dx.dtype == dtype
    assert_close(y, y_t.detach().numpy(), TOL_TORCH[dtype], "y")
    assert_close(dx, x_t.grad.numpy(), TOL_TORCH[dtype], "dx")
    for name, param in reference.named_parameters():
        assert_close(layer.grads[name], param.grad.numpy(), TOL_TORCH[dtype], f"d{name}")


@pytest.mark.parametrize("leading", [(), (3,), (2, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_gradients_match_centred_finite_differences(rng, leading, bias):
    layer = _random_layer(rng, 4, 3, bias)
    x = rng.standard_normal(leading + (4,))
    weights = rng.standard_normal(leading + (3,))

    def loss():
        return float(np.sum(layer(x) * weights))

    y, cache = layer.forward(x)
    dx = layer.backward(weights, cache)

    def numeric(array):
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

    for name, param in layer.parameters().items():
        assert_close(layer.grads[name], numeric(param), FINITE_DIFFERENCE_TOL, f"d{name}")
    assert_close(dx, numeric(x), FINITE_DIFFERENCE_TOL, "dx")


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_adds_into_grads_until_zero_grad(rng, dtype):
    layer = _random_layer(rng, 3, 2, dtype=dtype)
    x = rng.standard_normal((4, 3))
    dy = rng.standard_normal((4, 2))
    layer.backward(dy, layer.forward(x)[1])
    once = {name: grad.copy() for name, grad in layer.grads.items()}
    grads = dict(layer.grads)
    layer.backward(dy, layer.forward(x)[1])
    for name, grad in layer.grads.items():
        assert grad is grads[name]
        assert_close(grad, 2 * once[name], TOL[dtype], f"d{name}")
    layer.zero_grad()
    for name, grad in layer.grads.items():
        assert grad is grads[name] and not grad.any()


@pytest.mark.parametrize("dtype", DTYPES)
def test_other_input_dtypes_are_converted_to_the_layer_dtype(rng, dtype):
    layer = _random_layer(rng, 3, 2, dtype=dtype)
    x = rng.integers(-3, 3, (4, 3))
    y, cache = layer.forward(x)
    assert y.dtype == dtype
    assert_close(y, x @ layer.weight.T + layer.bias, TOL[dtype], "y")
    assert layer.backward(np.ones((4, 2), np.float16), cache).dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_pytorch_init_draws_weight_and_bias_within_one_over_sqrt_fan_in(dtype):
    layer = Linear(400, 300, dtype=dtype, seed=1)
    bound = 1 / np.sqrt(400)
    for name, p in layer.parameters().items():
        assert p.dtype == dtype
        assert np.abs(p).max() <= bound
        # uniform on [-bound, bound]: the extremes are reached and the spread is bound/sqrt(3)
        assert np.abs(p).max() > 0.95 * bound, name
    assert abs(layer.weight.std() - bound / np.sqrt(3)) < 0.01 * bound


def test_xavier_init_is_glorot_uniform_with_zero_bias():
    layer = Linear(400, 200, init="xavier", seed=1)
    limit = np.sqrt(6 / 600)
    assert np.abs(layer.weight).max() <= limit
    assert np.abs(layer.weight).max() > 0.95 * limit
    assert not layer.bias.any()


def test_one_seed_gives_the_same_model_in_both_dtypes_and_runs():
    a = Linear(5, 4, dtype=np.float64, seed=3)
    b = Linear(5, 4, dtype=np.float32, seed=3)
    c = Linear(5, 4, dtype=np.float64, seed=3)
    np.testing.assert_array_equal(a.weight, c.weight)
    np.testing.assert_array_equal(a.weight.astype(np.float32), b.weight)
    assert not np.array_equal(a.weight, Linear(5, 4, dtype=np.float64, seed=4).weight)


def test_no_bias_layer_has_no_bias_parameter_or_grad():
    layer = Linear(3, 2, bias=False)
    assert layer.bias is None
    assert list(layer.parameters()) == ["weight"] == list(layer.grads)
    assert list(layer.state_dict()) == ["weight"]


def test_state_dict_returns_copies_and_load_writes_into_the_live_arrays(rng):
    layer = Linear(3, 2, seed=0)
    live = layer.parameters()
    state = layer.state_dict()
    state["weight"][...] = 7
    assert not (layer.weight == 7).any()
    new = {"weight": rng.standard_normal((2, 3)), "bias": rng.standard_normal(2)}
    layer.load_state_dict(new)
    for name, p in layer.parameters().items():
        assert p is live[name]
        assert_close(p, new[name], TOL[np.float32], name)


def test_load_state_dict_names_missing_unexpected_and_misshaped_keys():
    layer = Linear(3, 2)
    with pytest.raises(KeyError, match="bias"):
        layer.load_state_dict({"weight": np.zeros((2, 3))})
    with pytest.raises(KeyError, match="extra"):
        layer.load_state_dict({**layer.state_dict(), "extra": np.zeros(1)})
    with pytest.raises(ValueError, match=r"weight.*\(2, 3\)"):
        layer.load_state_dict({"weight": np.zeros((3, 2)), "bias": np.zeros(2)})


@pytest.mark.parametrize("bias, error", [(None, KeyError), (np.zeros(3), ValueError),
                                         (np.zeros(2, complex), TypeError),
                                         (np.ones(2, bool), TypeError),
                                         (np.ones(2, int), TypeError),
                                         (np.zeros(2, object), TypeError)],
                         ids=["missing", "misshapen", "complex", "bool", "int", "object"])
def test_bad_state_dict_loads_nothing(bias, error):
    layer = Linear(3, 2, seed=0)
    before = layer.state_dict()
    state = {"weight": before["weight"] + 1} | ({} if bias is None else {"bias": bias})
    with pytest.raises(error, match="bias"):
        layer.load_state_dict(state)
    for name, value in layer.state_dict().items():
        np.testing.assert_array_equal(value, before[name], err_msg=f"{name} was loaded")


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(in_features=0, out_features=2), ValueError, "in_features"),
    (dict(in_features=3, out_features=-1), ValueError, "out_features"),
    (dict(in_features=2.5, out_features=2), TypeError, "in_features"),
    (dict(in_features=3, out_features=2, dtype=np.int32), TypeError, "dtype"),
    (dict(in_features=3, out_features=2, init="orthogonal"), ValueError, "init"),
])
def test_bad_constructor_arguments_are_refused_by_name(kwargs, error, match):
    with pytest.raises(error, match=match):
        Linear(**kwargs)


def test_bad_inputs_are_refused_with_the_expected_shape():
    layer = Linear(3, 2)
    with pytest.raises(ValueError, match=r"x.*\(\.\.\., 3\)"):
        layer(np.zeros((4, 2)))
    with pytest.raises(TypeError, match="x"):
        layer(np.array(["a", "b", "c"]))
    y, cache = layer.forward(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"dy.*\(4, 2\)"):
        layer.backward(np.zeros((2, 4)), cache)


# Values NumPy would convert to floats while losing something: an imaginary part, a mask's
# meaning, text; objects may hold anything. (As tests/test_bad_input.py's NOT_REAL.)
NOT_REAL = {"complex": lambda a: a + 1j, "object": lambda a: a.astype(object),
            "bool": lambda a: a > 0, "str": lambda a: a.astype(str),
            "ragged": lambda a: [list(row) for row in a[:-1]] + [list(a[-1][:-1])]}


@pytest.mark.parametrize("spoil", NOT_REAL.values(), ids=NOT_REAL)
@pytest.mark.parametrize("argument", ["x", "dy"])
def test_inputs_that_are_not_real_numbers_are_refused_by_name(rng, argument, spoil):
    layer = Linear(3, 2, seed=0)
    x, dy = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    with pytest.raises(TypeError, match=f"{argument} must"):
        if argument == "x":
            layer.forward(spoil(x))
        else:
            layer.backward(spoil(dy), layer.forward(x)[1])
    assert not layer.grads["weight"].any()
