"""Forward and backward use the parameters and grads the model holds at the time of the call:
new values loaded or assigned in place, and arrays rebound in ``grads``, are seen by the next
call (the model keeps only their names between calls)."""
import pickle

import numpy as np
import pytest

import lstmcore

# (num_layers, bidirectional, proj_size, bias)
CONFIGS = [(1, False, 0, True), (2, True, 2, False), (2, False, 3, True)]


def make(config, seed):
    num_layers, bidirectional, proj_size, bias = config
    return lstmcore.LSTM(3, 5, num_layers=num_layers, bidirectional=bidirectional,
                         proj_size=proj_size, bias=bias, dtype=np.float64, seed=seed)


def run(model, x):
    """y and the grads of sum(y * w) after one training step from zeroed grads."""
    model.zero_grad()
    y, _, cache = model.forward(x)
    model.backward(np.linspace(-1, 1, y.size).reshape(y.shape), cache)
    return y, {name: g.copy() for name, g in model.grads.items()}


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_load_state_dict_between_calls_is_seen_by_the_next_call(rng, config):
    x = rng.standard_normal((4, 2, 3))
    model, other = make(config, seed=0), make(config, seed=1)
    run(model, x)
    model.load_state_dict(other.state_dict())
    y, grads = run(model, x)
    y_other, grads_other = run(other, x)
    np.testing.assert_array_equal(y, y_other)
    for name in grads:
        np.testing.assert_array_equal(grads[name], grads_other[name], err_msg=name)


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_parameters_assigned_in_place_are_seen_by_the_next_call(rng, config):
    x = rng.standard_normal((4, 2, 3))
    model, other = make(config, seed=0), make(config, seed=1)
    run(model, x)
    for name, p in model.parameters().items():
        p[...] = other.parameters()[name]
    np.testing.assert_array_equal(run(model, x)[0], run(other, x)[0])


def test_grads_rebound_in_the_dict_receive_the_next_backward(rng):
    x = rng.standard_normal((4, 2, 3))
    model = make(CONFIGS[1], seed=0)
    expected = run(model, x)[1]
    old = dict(model.grads)
    model.grads["weight_hh_l1_reverse"] = np.zeros_like(old["weight_hh_l1_reverse"])
    model.grads = dict(model.grads, weight_ih_l0=np.zeros_like(old["weight_ih_l0"]))
    y, _, cache = model.forward(x)
    model.backward(np.linspace(-1, 1, y.size).reshape(y.shape), cache)
    for name in ("weight_hh_l1_reverse", "weight_ih_l0"):
        assert model.grads[name] is not old[name]
        np.testing.assert_array_equal(model.grads[name], expected[name], err_msg=name)
        np.testing.assert_array_equal(old[name], expected[name], err_msg=name)  # untouched


def test_a_grad_taken_out_of_grads_is_not_accumulated(rng):
    x = rng.standard_normal((4, 2, 3))
    model = make(CONFIGS[0], seed=0)
    expected = run(model, x)[1]
    model.zero_grad()
    del model.grads["bias_hh_l0"]
    y, _, cache = model.forward(x)
    model.backward(np.linspace(-1, 1, y.size).reshape(y.shape), cache)
    assert "bias_hh_l0" not in model.grads
    for name, g in model.grads.items():
        np.testing.assert_array_equal(g, expected[name], err_msg=name)


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_an_unpickled_model_uses_its_own_arrays(rng, config):
    x = rng.standard_normal((4, 2, 3))
    model = make(config, seed=0)
    copy = pickle.loads(pickle.dumps(model))
    for p in copy.parameters().values():
        p *= 0.5
    y_model, grads_model = run(model, x)
    y_copy, grads_copy = run(copy, x)
    assert not np.array_equal(y_model, y_copy)
    assert not np.array_equal(grads_model["weight_ih_l0"], grads_copy["weight_ih_l0"])
    assert not any(np.shares_memory(copy.grads[n], model.grads[n]) for n in model.grads)
    model.load_state_dict(copy.state_dict())
    np.testing.assert_array_equal(run(model, x)[0], y_copy)
