"""ONNX export and import: ONNX Runtime runs an exported model with the model's outputs, files
round-trip exactly, torch.onnx.export files import, and bad files are refused by name."""
import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import helper, numpy_helper  # noqa: E402

from lstmcore.interop import from_onnx, to_onnx  # noqa: E402
from lstmcore.lstm import LSTM  # noqa: E402

ORT_TOL = dict(rtol=1e-5, atol=1e-5)  # the acceptance bound for ONNX Runtime vs lstmcore
T, B, I, H = 5, 3, 4, 6


def make_model(num_layers=1, bidirectional=False, bias=True, batch_first=False,
               dtype=np.float32, proj_size=0):
    return LSTM(I, H, num_layers=num_layers, bias=bias, batch_first=batch_first,
                bidirectional=bidirectional, proj_size=proj_size, dtype=dtype, seed=0)


def outputs(model, x, **kwargs):
    """(y, h_n, c_n) of ``model(x)``."""
    y, (h_n, c_n) = model(x, **kwargs)
    return y, h_n, c_n


def run_onnx(path, feeds):
    session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    return session.run(["Y", "Y_h", "Y_c"], feeds)


@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("initial_state", [False, True])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_onnx_runtime_outputs_equal_the_models(tmp_path, num_layers, bidirectional, bias,
                                               batch_first, initial_state, with_lengths):
    model = make_model(num_layers, bidirectional, bias, batch_first)
    path = tmp_path / "lstm.onnx"
    to_onnx(model, path, initial_state=initial_state, sequence_lens=with_lengths)
    rng = np.random.default_rng(1)
    LD = num_layers * (2 if bidirectional else 1)
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I)).astype(np.float32)
    feeds, hx, lengths = {"X": x}, None, None
    if initial_state:
        hx = tuple(rng.standard_normal((LD, B, H)).astype(np.float32) for _ in range(2))
        feeds.update(initial_h=hx[0], initial_c=hx[1])
    if with_lengths:
        lengths = np.array([T, 1, T - 2])
        feeds["sequence_lens"] = lengths.astype(np.int32)
    for got, want in zip(run_onnx(path, feeds), outputs(model, x, hx=hx, lengths=lengths)):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, **ORT_TOL)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("num_layers,bidirectional,bias,batch_first", [
    (1, False, True, False), (2, True, True, True), (3, True, False, False),
    (2, False, False, True),
])
def test_export_then_import_gives_the_same_model(tmp_path, dtype, num_layers, bidirectional,
                                                 bias, batch_first):
    model = make_model(num_layers, bidirectional, bias, batch_first, dtype)
    to_onnx(model, tmp_path / "lstm.onnx")
    back = from_onnx(tmp_path / "lstm.onnx")
    for key in ("input_size", "hidden_size", "num_layers", "bias", "batch_first",
                "bidirectional", "proj_size"):
        assert getattr(back, key) == getattr(model, key), key
    assert np.dtype(back.dtype) == np.dtype(dtype)
    want = model.state_dict()
    got = back.state_dict()
    assert got.keys() == want.keys()
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    x = np.random.default_rng(2).standard_normal((T, B, I)).astype(dtype)
    for a, b in zip(outputs(model, x), outputs(back, x)):
        np.testing.assert_array_equal(a, b)


def test_a_float64_model_exported_as_float32_runs_in_onnx_runtime(tmp_path):
    model = make_model(2, True, dtype=np.float64)
    to_onnx(model, tmp_path / "lstm.onnx", dtype=np.float32)
    x = np.random.default_rng(3).standard_normal((T, B, I))
    y, _, _ = run_onnx(tmp_path / "lstm.onnx", {"X": x.astype(np.float32)})
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, outputs(model, x)[0], **ORT_TOL)


def test_from_onnx_dtype_overrides_the_files(tmp_path):
    to_onnx(make_model(), tmp_path / "lstm.onnx")
    assert np.dtype(from_onnx(tmp_path / "lstm.onnx", dtype=np.float64).dtype) == np.float64


def test_export_leaves_only_the_finished_file(tmp_path):
    to_onnx(make_model(), tmp_path / "lstm.onnx")
    assert os.listdir(tmp_path) == ["lstm.onnx"]


# The legacy exporter (the one that needs no onnxscript) warns about itself and its tracing.
@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("num_layers,bidirectional,bias,batch_first", [
    (1, False, True, False), (2, True, True, True), (3, False, False, False),
])
def test_files_from_torch_onnx_export_import_with_torchs_outputs(tmp_path, num_layers,
                                                                 bidirectional, bias, batch_first):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = torch.nn.LSTM(I, H, num_layers, bias=bias, batch_first=batch_first,
                           bidirectional=bidirectional)
    x = torch.randn((B, T, I) if batch_first else (T, B, I))
    torch.onnx.export(module, (x,), tmp_path / "torch.onnx", dynamo=False)
    model = from_onnx(tmp_path / "torch.onnx")
    assert (model.num_layers, model.bidirectional, model.bias, model.batch_first) == (
        num_layers, bidirectional, bias, batch_first)
    with torch.no_grad():
        want, (h_n, c_n) = module(x)
    for a, b in zip(outputs(model, x.numpy()), (want, h_n, c_n)):
        np.testing.assert_allclose(a, b.numpy(), rtol=2e-5, atol=2e-6)


def test_export_refuses_a_projection(tmp_path):
    with pytest.raises(ValueError, match="proj_size=2"):
        to_onnx(make_model(proj_size=2), tmp_path / "lstm.onnx")
    assert not os.listdir(tmp_path)


def test_a_file_without_lstm_nodes_is_refused(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Relu", ["X"], ["Y"])], "relu",
        [helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, [2])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]),
              tmp_path / "relu.onnx")
    with pytest.raises(ValueError, match="contains no LSTM node"):
        from_onnx(tmp_path / "relu.onnx")


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.9])
def test_a_truncated_file_is_refused(tmp_path, keep):
    to_onnx(make_model(2), tmp_path / "lstm.onnx")
    data = (tmp_path / "lstm.onnx").read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(ValueError, match="cut.onnx"):
        from_onnx(tmp_path / "cut.onnx")


def _edit_first_lstm(tmp_path, edit):
    """Export a 2-layer model, apply ``edit(graph, lstm_node)``, save, return the new path."""
    to_onnx(make_model(2), tmp_path / "lstm.onnx")
    model = onnx.load(tmp_path / "lstm.onnx")
    edit(model.graph, next(n for n in model.graph.node if n.op_type == "LSTM"))
    onnx.save(model, tmp_path / "edited.onnx")
    return tmp_path / "edited.onnx"


def _set_attribute(name, value):
    def edit(graph, node):
        kept = [a for a in node.attribute if a.name != name]
        del node.attribute[:]
        node.attribute.extend(kept + [helper.make_attribute(name, value)])
    return edit


def _add_peepholes(graph, node):
    graph.initializer.append(numpy_helper.from_array(np.ones((1, 3 * H), np.float32), "P"))
    node.input.extend([""] * (7 - len(node.input)) + ["P"])


def _weights_as_graph_input(graph, node):
    w = next(t for t in graph.initializer if t.name == node.input[1])
    graph.initializer.remove(w)
    graph.input.append(helper.make_tensor_value_info(w.name, w.data_type, list(w.dims)))


def _shrink_recurrent_weights(graph, node):
    r = next(t for t in graph.initializer if t.name == node.input[2])
    r.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(r)[:, :, :-1], r.name))


def _drop_first_layers_biases(graph, node):
    node.input[3] = ""


def _feed_layer_two_from_the_input(graph, node):
    second = [n for n in graph.node if n.op_type == "LSTM"][1]
    second.input[0] = node.input[0]


@pytest.mark.parametrize("edit,match", [
    (_set_attribute("direction", "reverse"), "direction 'reverse'"),
    (_set_attribute("clip", 3.0), "'clip'"),
    (_set_attribute("input_forget", 1), "input_forget=1"),
    (_set_attribute("activations", ["Relu", "Tanh", "Tanh"]), "activations"),
    (_set_attribute("hidden_size", H + 1), f"hidden_size={H + 1}"),
    (_add_peepholes, "peephole"),
    (_weights_as_graph_input, "W .* is not a constant"),
    (_shrink_recurrent_weights, r"R has shape \(1, 24, 5\), expected \(1, 24, 6\)"),
    (_drop_first_layers_biases, "LSTM node 1 .* has biases B but LSTM node 0 has no"),
    (_feed_layer_two_from_the_input, "LSTM node 1 .* is not the Y output of LSTM node 0"),
])
def test_lstm_nodes_lstmcore_cannot_express_are_refused(tmp_path, edit, match):
    with pytest.raises(ValueError, match=match):
        from_onnx(_edit_first_lstm(tmp_path, edit))
