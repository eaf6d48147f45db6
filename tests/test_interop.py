"""Keras, TF1 and PyTorch weight conversion: outputs agree with each framework's own equations,
round trips are exact, and bad weights are refused with errors that name them."""
import numpy as np
import pytest
from scipy.special import expit as sigmoid

from lstmcore import reference
from lstmcore.interop._keras import keras_state, state_to_keras, tf1_state

TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


def run_state(config, state, x):
    """y (T, B, D*P) of a config and state, time-major x, through the reference."""
    y, _, _, _ = reference.forward(state, x, num_layers=config["num_layers"],
                                   bidirectional=config["bidirectional"],
                                   proj_size=config["proj_size"])
    return y


def tf1_run(kernels, biases, x, forget_bias, projs=None):
    """Stacked TF1 LSTMCells (BasicLSTMCell without projections), written from TF1's equations."""
    for k, (kernel, bias) in enumerate(zip(kernels, biases)):
        hidden = kernel.shape[1] // 4
        proj = None if projs is None else projs[k]
        h = np.zeros((x.shape[1], hidden if proj is None else proj.shape[1]))
        c = np.zeros((x.shape[1], hidden))
        ys = []
        for x_t in x:
            i, j, f, o = np.split(np.concatenate([x_t, h], axis=1) @ kernel + bias, 4, axis=1)
            c = c * sigmoid(f + forget_bias) + sigmoid(i) * np.tanh(j)
            h = np.tanh(c) * sigmoid(o)
            if proj is not None:
                h = h @ proj
            ys.append(h)
        x = np.stack(ys)
    return x


def keras_run(layers, x):
    """Stacked (optionally Bidirectional) Keras LSTM layers, written from Keras's equations."""
    def one_direction(kernel, recurrent, bias, xs):
        h = np.zeros((xs.shape[1], recurrent.shape[0]))
        c = np.zeros_like(h)
        ys = []
        for x_t in xs:
            i, f, cc, o = np.split(x_t @ kernel + h @ recurrent + bias, 4, axis=1)
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(cc)
            h = sigmoid(o) * np.tanh(c)
            ys.append(h)
        return np.stack(ys)

    for arrays in layers:
        per_dir = 3 if len(arrays) in (3, 6) else 2
        directions = [list(arrays[d * per_dir:(d + 1) * per_dir]) for d in
                      range(len(arrays) // per_dir)]
        outs = []
        for d, (kernel, recurrent, *bias) in enumerate(directions):
            bias = bias[0] if bias else 0.0
            if d == 0:
                outs.append(one_direction(kernel, recurrent, bias, x))
            else:
                outs.append(one_direction(kernel, recurrent, bias, x[::-1])[::-1])
        x = np.concatenate(outs, axis=2)
    return x


def random_tf1(rng, input_size, hidden, num_layers, proj_size=0):
    out = proj_size or hidden
    kernels = [rng.uniform(-0.5, 0.5, ((input_size if k == 0 else out) + out, 4 * hidden))
               for k in range(num_layers)]
    biases = [rng.uniform(-0.5, 0.5, 4 * hidden) for _ in range(num_layers)]
    projs = [rng.uniform(-0.5, 0.5, (hidden, proj_size)) for _ in range(num_layers)]
    return kernels, biases, (projs if proj_size else None)


def random_keras(rng, input_size, hidden, num_layers, bidirectional, bias):
    directions = 2 if bidirectional else 1
    layers = []
    for k in range(num_layers):
        arrays = []
        for _ in range(directions):
            arrays += [rng.uniform(-0.5, 0.5, (input_size if k == 0 else directions * hidden,
                                               4 * hidden)),
                       rng.uniform(-0.5, 0.5, (hidden, 4 * hidden))]
            if bias:
                arrays.append(rng.uniform(-0.5, 0.5, 4 * hidden))
        layers.append(arrays)
    return layers


@pytest.mark.parametrize("forget_bias", [0.0, 1.0, 2.5])
@pytest.mark.parametrize("input_size,hidden", [(1, 1), (3, 5), (7, 4)])
def test_tf1_cell_outputs_match_tf1_equations(forget_bias, input_size, hidden):
    rng = np.random.default_rng(0)
    (kernel,), (bias,), _ = random_tf1(rng, input_size, hidden, 1)
    x = rng.standard_normal((6, 3, input_size))
    config, state = tf1_state(kernel, bias, forget_bias)
    assert config == dict(input_size=input_size, hidden_size=hidden, num_layers=1, bias=True,
                          bidirectional=False, proj_size=0)
    np.testing.assert_allclose(run_state(config, state, x),
                               tf1_run([kernel], [bias], x, forget_bias), **TOL[np.float64])


@pytest.mark.parametrize("num_layers,proj_size", [(2, 0), (3, 0), (1, 2), (2, 3)])
def test_stacked_and_projected_tf1_cells_match_tf1_equations(num_layers, proj_size):
    rng = np.random.default_rng(1)
    kernels, biases, projs = random_tf1(rng, 4, 5, num_layers, proj_size)
    x = rng.standard_normal((5, 2, 4))
    config, state = tf1_state(kernels, biases, 1.0, projs)
    assert (config["num_layers"], config["proj_size"]) == (num_layers, proj_size)
    np.testing.assert_allclose(run_state(config, state, x),
                               tf1_run(kernels, biases, x, 1.0, projs), **TOL[np.float64])


def test_tf1_forget_bias_lands_in_the_forget_slot_of_bias_ih_only():
    hidden = 3
    config, state = tf1_state(np.zeros((2 + hidden, 4 * hidden)), np.zeros(4 * hidden), 1.5)
    expected = np.zeros(4 * hidden)
    expected[hidden:2 * hidden] = 1.5
    np.testing.assert_array_equal(state["bias_ih_l0"], expected)
    np.testing.assert_array_equal(state["bias_hh_l0"], np.zeros(4 * hidden))


@pytest.mark.parametrize("kernel,bias,proj,match", [
    (np.zeros((5, 8)), np.zeros(7), None, r"bias has shape \(7,\), expected \(8,\)"),
    (np.zeros((5, 6)), np.zeros(6), None, "kernel: gate dimension 6"),
    (np.zeros((2, 8)), np.zeros(8), None, "kernel has shape"),
    (np.zeros(8), np.zeros(8), None, "kernel must be 2-D"),
    (np.zeros((5, 8)), np.zeros(8), np.zeros((3, 1)), "proj_kernel has shape"),
    ([np.zeros((5, 8)), np.zeros((5, 8))], [np.zeros(8)] * 2, None, r"kernel\[1\] has shape"),
    ([np.zeros((5, 8))], [np.zeros(8)] * 2, None, "same number of layers"),
])
def test_bad_tf1_weights_raise_value_error_naming_them(kernel, bias, proj, match):
    with pytest.raises(ValueError, match=match):
        tf1_state(kernel, bias, 1.0, proj)


def test_non_numeric_tf1_kernel_raises_type_error():
    with pytest.raises(TypeError, match="kernel"):
        tf1_state(np.full((5, 8), "a"), np.zeros(8))


@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_keras_layers_outputs_match_keras_equations(num_layers, bidirectional, bias):
    rng = np.random.default_rng(2)
    layers = random_keras(rng, 3, 4, num_layers, bidirectional, bias)
    x = rng.standard_normal((5, 2, 3))
    config, state = keras_state(layers)
    assert config == dict(input_size=3, hidden_size=4, num_layers=num_layers, bias=bias,
                          bidirectional=bidirectional, proj_size=0)
    np.testing.assert_allclose(run_state(config, state, x), keras_run(layers, x),
                               **TOL[np.float64])


def test_one_keras_layer_may_be_given_without_the_outer_list():
    layers = random_keras(np.random.default_rng(3), 3, 2, 1, True, True)
    assert keras_state(layers[0])[0] == keras_state(layers)[0]


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_keras_export_then_import_keeps_weights_and_sums_biases(bidirectional, bias):
    layers = random_keras(np.random.default_rng(4), 3, 4, 2, bidirectional, bias)
    config, state = keras_state(layers)
    exported = state_to_keras(config, state)
    assert len(exported) == len(layers)
    for got, want in zip(exported, layers):
        assert len(got) == len(want)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
    assert keras_state(exported)[1].keys() == state.keys()


def test_keras_export_adds_both_pytorch_biases():
    layers = random_keras(np.random.default_rng(5), 2, 3, 1, False, True)
    config, state = keras_state(layers)
    state["bias_hh_l0"] = np.arange(12.0)
    np.testing.assert_array_equal(state_to_keras(config, state)[0][2],
                                  layers[0][2] + np.arange(12.0))


def test_keras_export_refuses_a_projection():
    kernels, biases, projs = random_tf1(np.random.default_rng(6), 2, 3, 1, proj_size=2)
    config, state = tf1_state(kernels, biases, 1.0, projs)
    with pytest.raises(ValueError, match="proj_size=2"):
        state_to_keras(config, state)


@pytest.mark.parametrize("weights,match", [
    ([], "non-empty list"),
    ([np.zeros((3, 8)), np.zeros((2, 8)), np.zeros(8), np.zeros(8)],
     r"weights\[2\] \(kernel, backward\) has shape \(8,\), expected \(3, 8\)"),
    ([np.zeros((3, 8)), np.zeros((2, 8)), np.zeros(7)], r"weights\[2\] \(bias, forward\)"),
    ([np.zeros((3, 8)), np.zeros((3, 8)), np.zeros(8)],
     r"weights\[1\] \(recurrent_kernel, forward\) has shape \(3, 8\), expected \(2, 8\)"),
    ([np.zeros((3, 8)), np.zeros((2, 8))] * 2 + [np.zeros(8)], "holds 5 arrays"),
    ([[np.zeros((3, 8)), np.zeros((2, 8)), np.zeros(8)],
      [np.zeros((3, 8)), np.zeros((2, 8)), np.zeros(8)]],
     r"weights\[1\]\[0\] \(kernel, forward\) has shape \(3, 8\), expected \(2, 8\)"),
    ([[np.zeros((3, 8)), np.zeros((2, 8)), np.zeros(8)], [np.zeros((2, 8)), np.zeros((2, 8))]],
     "same directions and bias"),
])
def test_bad_keras_weights_raise_value_error_naming_them(weights, match):
    with pytest.raises(ValueError, match=match):
        keras_state(weights)
