"""Keras, TF1 and PyTorch weight conversion: models agree with each framework's own equations
(or with torch itself), round trips are exact, and bad weights are refused with errors that name
them."""
import subprocess
import sys

import numpy as np
import pytest
from scipy.special import expit as sigmoid

from lstmcore.interop import from_keras, from_tf1, from_torch, to_keras, to_torch
from lstmcore.lstm import LSTM

# Against another implementation of the same equations: the acceptance bounds of issue 3.
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}
DTYPES = [np.float32, np.float64]
OPTIONS = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "bidirectional",
           "proj_size")


def outputs(model, x, **kwargs):
    """(y, h_n, c_n) of ``model(x)``."""
    y, (h_n, c_n) = model(x, **kwargs)
    return y, h_n, c_n


def assert_same_state(got, want):
    assert got.keys() == want.keys()
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def tf1_run(kernels, biases, x, forget_bias, projs=None):
    """y of stacked TF1 LSTMCells on time-major x, written from TF1's equations."""
    for k, (kernel, bias) in enumerate(zip(kernels, biases)):
        proj = None if projs is None else projs[k]
        h = np.zeros((x.shape[1], kernel.shape[0] - x.shape[2]))
        c = np.zeros((x.shape[1], kernel.shape[1] // 4))
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
    """y of stacked (optionally Bidirectional) Keras LSTM layers on time-major x, written from
    Keras's equations."""
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
        per_direction = 3 if len(arrays) in (3, 6) else 2
        outs = []
        for d in range(len(arrays) // per_direction):
            kernel, recurrent, *bias = arrays[d * per_direction:(d + 1) * per_direction]
            bias = bias[0] if bias else 0.0
            xs = x if d == 0 else x[::-1]
            y = one_direction(kernel, recurrent, bias, xs)
            outs.append(y if d == 0 else y[::-1])
        x = np.concatenate(outs, axis=2)
    return x


def random_tf1(rng, input_size, hidden, num_layers, proj_size=0, dtype=np.float64):
    out = proj_size or hidden
    kernels = [rng.uniform(-0.5, 0.5, ((input_size if k == 0 else out) + out, 4 * hidden))
               for k in range(num_layers)]
    biases = [rng.uniform(-0.5, 0.5, 4 * hidden) for _ in range(num_layers)]
    projs = [rng.uniform(-0.5, 0.5, (hidden, proj_size)) for _ in range(num_layers)]
    cast = [[a.astype(dtype) for a in arrays] for arrays in (kernels, biases, projs)]
    return cast[0], cast[1], (cast[2] if proj_size else None)


def random_keras(rng, input_size, hidden, num_layers, bidirectional, bias, dtype=np.float64):
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
        layers.append([a.astype(dtype) for a in arrays])
    return layers


def test_importing_interop_imports_no_framework():
    code = ("import sys, lstmcore.interop; "
            "print([m for m in ('torch', 'onnx', 'onnxruntime') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- TensorFlow 1 ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("forget_bias", [0.0, 1.0, 2.5])
@pytest.mark.parametrize("input_size,hidden", [(1, 1), (3, 5), (7, 4)])
def test_tf1_cell_model_matches_tf1_equations(dtype, forget_bias, input_size, hidden):
    rng = np.random.default_rng(0)
    kernels, biases, _ = random_tf1(rng, input_size, hidden, 1, dtype=dtype)
    x = rng.standard_normal((6, 3, input_size)).astype(dtype)
    model = from_tf1(kernels[0], biases[0], forget_bias, dtype=dtype)
    assert (model.input_size, model.hidden_size, model.num_layers) == (input_size, hidden, 1)
    assert np.dtype(model.dtype) == np.dtype(dtype)
    np.testing.assert_allclose(outputs(model, x)[0],
                               tf1_run(kernels, biases, x.astype(np.float64), forget_bias),
                               **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("num_layers,proj_size", [(2, 0), (3, 0), (1, 2), (2, 3)])
def test_stacked_and_projected_tf1_cells_match_tf1_equations(dtype, num_layers, proj_size):
    rng = np.random.default_rng(1)
    kernels, biases, projs = random_tf1(rng, 4, 5, num_layers, proj_size, dtype)
    x = rng.standard_normal((5, 2, 4)).astype(dtype)
    model = from_tf1(kernels, biases, 1.0, proj_kernel=projs, dtype=dtype)
    assert (model.num_layers, model.proj_size) == (num_layers, proj_size)
    np.testing.assert_allclose(outputs(model, x)[0],
                               tf1_run(kernels, biases, x.astype(np.float64), 1.0, projs),
                               **TOL[dtype])


def test_tf1_model_is_batch_first_when_asked():
    rng = np.random.default_rng(2)
    kernels, biases, _ = random_tf1(rng, 3, 4, 1)
    x = rng.standard_normal((5, 2, 3))
    model = from_tf1(kernels[0], biases[0], batch_first=True, dtype=np.float64)
    assert model.batch_first
    np.testing.assert_allclose(outputs(model, x.transpose(1, 0, 2))[0].transpose(1, 0, 2),
                               tf1_run(kernels, biases, x, 1.0), **TOL[np.float64])


def test_tf1_forget_bias_lands_in_the_forget_slot_of_bias_ih_only():
    hidden = 3
    state = from_tf1(np.zeros((2 + hidden, 4 * hidden)), np.zeros(4 * hidden), 1.5).state_dict()
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
    ([np.zeros((5, 8)), np.zeros((6, 12))], [np.zeros(8)] * 2, None,
     r"kernel\[1\]: every layer must have hidden size 2"),
    ([np.zeros((5, 8))], [np.zeros(8)] * 2, None, "same number of layers"),
])
def test_bad_tf1_weights_raise_value_error_naming_them(kernel, bias, proj, match):
    with pytest.raises(ValueError, match=match):
        from_tf1(kernel, bias, 1.0, proj_kernel=proj)


def test_non_numeric_tf1_kernel_raises_type_error():
    with pytest.raises(TypeError, match="kernel"):
        from_tf1(np.full((5, 8), "a"), np.zeros(8))


# --- Keras ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_keras_layers_model_matches_keras_equations(dtype, num_layers, bidirectional, bias):
    rng = np.random.default_rng(3)
    layers = random_keras(rng, 3, 4, num_layers, bidirectional, bias, dtype)
    x = rng.standard_normal((5, 2, 3)).astype(dtype)
    model = from_keras(layers, dtype=dtype)
    assert (model.num_layers, model.bidirectional, model.bias) == (num_layers, bidirectional,
                                                                    bias)
    np.testing.assert_allclose(outputs(model, x)[0], keras_run(layers, x.astype(np.float64)),
                               **TOL[dtype])


def test_one_keras_layer_may_be_given_without_the_outer_list():
    layers = random_keras(np.random.default_rng(4), 3, 2, 1, True, True)
    assert_same_state(from_keras(layers[0]).state_dict(), from_keras(layers).state_dict())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_keras_import_then_export_returns_the_same_arrays(dtype, bidirectional, bias):
    layers = random_keras(np.random.default_rng(5), 3, 4, 2, bidirectional, bias, dtype)
    exported = to_keras(from_keras(layers, dtype=dtype))
    assert [len(arrays) for arrays in exported] == [len(arrays) for arrays in layers]
    for got, want in zip(exported, layers):
        for a, b in zip(got, want):
            assert a.dtype == dtype
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_keras_export_then_import_gives_the_same_outputs(dtype):
    model = LSTM(3, 4, num_layers=2, bidirectional=True, dtype=dtype, seed=6)
    back = from_keras(to_keras(model), dtype=dtype)
    x = np.random.default_rng(6).standard_normal((5, 2, 3)).astype(dtype)
    for a, b in zip(outputs(model, x), outputs(back, x)):
        np.testing.assert_allclose(a, b, **TOL[dtype])


def test_keras_export_adds_both_pytorch_biases():
    model = LSTM(2, 3, dtype=np.float64, seed=7)
    state = model.state_dict()
    assert np.any(state["bias_hh_l0"])
    np.testing.assert_array_equal(to_keras(model)[0][2], state["bias_ih_l0"] + state["bias_hh_l0"])


def test_keras_export_refuses_a_projection():
    with pytest.raises(ValueError, match="proj_size=2"):
        to_keras(LSTM(3, 4, proj_size=2, seed=8))


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
        from_keras(weights)


# --- PyTorch --------------------------------------------------------------------------------

def torch_outputs(module, x, hx=None, lengths=None):
    """(y, h_n, c_n) of a torch.nn.LSTM as numpy, packing the batch when lengths are given."""
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    x = torch.from_numpy(x)
    hx = None if hx is None else tuple(torch.from_numpy(a) for a in hx)
    with torch.no_grad():
        if lengths is None:
            y, (h_n, c_n) = module(x, hx)
        else:
            packed = pack_padded_sequence(x, torch.from_numpy(lengths), module.batch_first,
                                          enforce_sorted=False)
            y, (h_n, c_n) = module(packed, hx)
            y, _ = pad_packed_sequence(y, module.batch_first, total_length=x.shape[
                1 if module.batch_first else 0])
    return y.numpy(), h_n.numpy(), c_n.numpy()


def torch_case(torch, rng, dtype, num_layers, bidirectional, proj_size, bias, batch_first):
    """A seeded torch.nn.LSTM and matching x, (h0, c0) and lengths."""
    T, B, I, H = 5, 3, 4, 6
    torch.manual_seed(int(rng.integers(1 << 30)))
    module = torch.nn.LSTM(I, H, num_layers, bias=bias, batch_first=batch_first,
                           bidirectional=bidirectional, proj_size=proj_size,
                           dtype=torch.float64 if dtype == np.float64 else torch.float32)
    LD = num_layers * (2 if bidirectional else 1)
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I)).astype(dtype)
    hx = (rng.standard_normal((LD, B, proj_size or H)).astype(dtype),
          rng.standard_normal((LD, B, H)).astype(dtype))
    return module, x, hx, np.array([T, 2, 4])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("proj_size", [0, 2])
@pytest.mark.parametrize("bias,batch_first", [(True, False), (False, True)])
@pytest.mark.parametrize("with_state,with_lengths", [(False, False), (True, True)])
@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
def test_from_torch_model_outputs_equal_torchs(dtype, num_layers, bidirectional, proj_size,
                                               bias, batch_first, with_state, with_lengths):
    torch = pytest.importorskip("torch")
    module, x, hx, lengths = torch_case(torch, np.random.default_rng(9), dtype, num_layers,
                                        bidirectional, proj_size, bias, batch_first)
    hx, lengths = (hx if with_state else None), (lengths if with_lengths else None)
    model = from_torch(module)
    assert np.dtype(model.dtype) == np.dtype(dtype)
    for key in OPTIONS:
        assert getattr(model, key) == getattr(module, key), key
    for got, want in zip(outputs(model, x, hx=hx, lengths=lengths),
                         torch_outputs(module, x, hx, lengths)):
        np.testing.assert_allclose(got, want, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("num_layers,bidirectional,proj_size,bias,batch_first", [
    (1, False, 0, True, False), (2, True, 3, True, True), (3, True, 0, False, False),
])
@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
def test_to_torch_module_outputs_equal_the_models(dtype, num_layers, bidirectional, proj_size,
                                                  bias, batch_first):
    torch = pytest.importorskip("torch")
    model = LSTM(4, 6, num_layers=num_layers, bias=bias, batch_first=batch_first,
                 bidirectional=bidirectional, proj_size=proj_size, dtype=dtype, seed=10)
    module = to_torch(model)
    assert module.weight_ih_l0.dtype == (torch.float64 if dtype == np.float64 else torch.float32)
    for key in OPTIONS:
        assert getattr(module, key) == getattr(model, key), key
    x = np.random.default_rng(10).standard_normal((3, 5, 4) if batch_first else (5, 3, 4))
    x = x.astype(dtype)
    for got, want in zip(torch_outputs(module, x), outputs(model, x)):
        np.testing.assert_allclose(got, want, **TOL[dtype])


def test_torch_round_trip_keeps_weights_and_options():
    torch = pytest.importorskip("torch")
    module = torch.nn.LSTM(3, 5, 2, bidirectional=True, proj_size=2, dropout=0.25)
    back = to_torch(from_torch(module))
    assert back.dropout == 0.25
    for key in OPTIONS:
        assert getattr(back, key) == getattr(module, key), key
    assert_same_state({k: v.numpy() for k, v in back.state_dict().items()},
                      {k: v.detach().numpy() for k, v in module.state_dict().items()})


def test_from_torch_dtype_overrides_the_modules():
    torch = pytest.importorskip("torch")
    model = from_torch(torch.nn.LSTM(3, 5), dtype=np.float64)
    assert np.dtype(model.dtype) == np.float64


def test_from_torch_refuses_other_modules():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="module must be a torch.nn.LSTM, got GRU"):
        from_torch(torch.nn.GRU(3, 5))
