"""ONNX files to and from lstmcore: one ONNX ``LSTM`` node per layer.

ONNX's LSTM holds both directions of a layer in one node: W (D, 4H, I), R (D, 4H, H) and
B (D, 8H) = [input biases; recurrent biases], gates i, o, f, c (PyTorch's i, o, f, g), and
outputs Y (T, D, B, H), Y_h and Y_c (D, B, H). The exported graph adds what PyTorch's layout
needs: Transpose + Reshape after every layer, (T, D, B, H) -> (T, B, D*H), a Transpose at either
end with ``batch_first``, Slice of the (L*D, B, H) initial state per layer and Concat of the
final states, so its inputs and outputs have ``torch.nn.LSTM``'s shapes. onnx is imported only
when these functions run.
"""
import os
import tempfile

import numpy as np

from ._common import build_model, model_config, param_name, reorder_gates, resolve_dtype

TORCH_TO_ONNX = (0, 3, 1, 2)  # ONNX's i, o, f, c as positions in PyTorch's i, f, g, o
ONNX_TO_TORCH = (0, 2, 3, 1)  # PyTorch's i, f, g, o as positions in ONNX's i, o, f, c
DEFAULT_ACTIVATIONS = ("Sigmoid", "Tanh", "Tanh")
# Ops that only move or rename data between torch.onnx.export's and to_onnx's LSTM nodes.
LAYOUT_OPS = {"Transpose", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Cast"}


def to_onnx(model, path, *, initial_state=False, sequence_lens=False, dtype=None,
            opset=14):
    """Write the model as an ONNX file that ONNX Runtime runs with the model's outputs.

    Graph inputs: ``X`` (T, B, I), or (B, T, I) with ``model.batch_first``; with
    ``initial_state`` also ``initial_h`` and ``initial_c`` (L*D, B, H), the model's h0/c0; with
    ``sequence_lens`` also ``sequence_lens`` (B,) int32, the model's ``lengths``. Outputs ``Y``
    (T, B, D*H) (or batch-first), ``Y_h`` and ``Y_c`` (L*D, B, H): the model's y, h_n, c_n.
    T and B are symbolic.

    ``dtype`` is the file's float32 or float64, the model's when None; ONNX Runtime's LSTM runs
    float32 only. ``opset`` is the ONNX opset version. The file is written under a temporary
    name and then renamed, so ``path`` never holds a partial model. Raises ValueError for
    ``proj_size > 0``: ONNX's LSTM has no projection.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    config = model_config(model)
    if config["proj_size"]:
        raise ValueError(f"ONNX's LSTM has no projection: cannot export a model with "
                         f"proj_size={config['proj_size']}")
    state = model.state_dict()
    dtype = np.dtype(resolve_dtype(model.dtype if dtype is None else dtype))
    elem = TensorProto.DOUBLE if dtype == np.float64 else TensorProto.FLOAT
    H, L = config["hidden_size"], config["num_layers"]
    D = 2 if config["bidirectional"] else 1
    directions = (False, True)[:D]
    time_batch = ["batch", "seq"] if model.batch_first else ["seq", "batch"]

    inputs = [helper.make_tensor_value_info("X", elem, time_batch + [config["input_size"]])]
    nodes, inits = [], []

    def const(name, array):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    x = "X"
    if model.batch_first:
        nodes.append(helper.make_node("Transpose", ["X"], ["X_time_major"], perm=[1, 0, 2]))
        x = "X_time_major"
    if sequence_lens:
        inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32,
                                                    ["batch"]))
    if initial_state:
        for name in ("initial_h", "initial_c"):
            inputs.append(helper.make_tensor_value_info(name, elem, [L * D, "batch", H]))

    for k in range(L):
        w, r = (np.stack([reorder_gates(state[param_name(kind, k, rev)], TORCH_TO_ONNX)
                          for rev in directions]) for kind in ("weight_ih", "weight_hh"))
        lstm_in = [x, const(f"W_l{k}", w.astype(dtype)), const(f"R_l{k}", r.astype(dtype)), "",
                   "sequence_lens" if sequence_lens else "", "", ""]
        if config["bias"]:
            b = np.stack([np.concatenate([
                reorder_gates(state[param_name("bias_ih", k, rev)], TORCH_TO_ONNX),
                reorder_gates(state[param_name("bias_hh", k, rev)], TORCH_TO_ONNX)])
                for rev in directions])
            lstm_in[3] = const(f"B_l{k}", b.astype(dtype))
        if initial_state:
            bounds = [const(f"state_start_l{k}", np.array([k * D], np.int64)),
                      const(f"state_end_l{k}", np.array([(k + 1) * D], np.int64))]
            for j, name in ((5, "initial_h"), (6, "initial_c")):
                nodes.append(helper.make_node("Slice", [name] + bounds, [f"{name}_l{k}"]))
                lstm_in[j] = f"{name}_l{k}"
        while not lstm_in[-1]:
            lstm_in.pop()
        nodes.append(helper.make_node(
            "LSTM", lstm_in, [f"Y_l{k}", f"Y_h_l{k}", f"Y_c_l{k}"], name=f"lstm_l{k}",
            hidden_size=H, direction="bidirectional" if D == 2 else "forward"))
        # (T, D, B, H) -> (T, B, D, H) -> (T, B, D*H): PyTorch's concatenated directions.
        nodes.append(helper.make_node("Transpose", [f"Y_l{k}"], [f"Y_tbdh_l{k}"],
                                      perm=[0, 2, 1, 3]))
        x = f"Y_tbh_l{k}" if k < L - 1 or model.batch_first else "Y"
        nodes.append(helper.make_node("Reshape", [f"Y_tbdh_l{k}", const(
            f"Y_shape_l{k}", np.array([0, 0, D * H], np.int64))], [x]))
    if model.batch_first:
        nodes.append(helper.make_node("Transpose", [x], ["Y"], perm=[1, 0, 2]))
    for name in ("Y_h", "Y_c"):
        nodes.append(helper.make_node("Concat", [f"{name}_l{k}" for k in range(L)], [name],
                                      axis=0))
    outputs = [helper.make_tensor_value_info("Y", elem, time_batch + [D * H])]
    outputs += [helper.make_tensor_value_info(name, elem, [L * D, "batch", H])
                for name in ("Y_h", "Y_c")]
    graph = helper.make_graph(nodes, "lstmcore", inputs, outputs, initializer=inits)
    onnx_model = helper.make_model(graph, producer_name="lstmcore",
                                   opset_imports=[helper.make_opsetid("", opset)])
    onnx_model.ir_version = 8
    onnx.checker.check_model(onnx_model)
    _write_atomically(path, onnx_model.SerializeToString())


def _write_atomically(path, data):
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)),
                               prefix=os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _load(path):
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(os.fspath(path))
        onnx.checker.check_model(model)
    except (DecodeError, onnx.checker.ValidationError, RuntimeError) as exc:
        raise ValueError(f"{os.fspath(path)!r} is not a valid ONNX model: {exc}") from None
    return model


def _constants(graph):
    """Arrays of the graph's initializers and Constant nodes, by tensor name."""
    from onnx import helper, numpy_helper

    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute:
            value = helper.get_attribute_value(node.attribute[0])
            if hasattr(value, "dims"):
                values[node.output[0]] = numpy_helper.to_array(value)
    return values


def _source(graph, tensor):
    """Follow ``tensor`` back through layout ops to the LSTM node or graph input it comes from.

    Returns (node or None, name of the tensor reached, ops passed through).
    """
    producers = {out: node for node in graph.node for out in node.output}
    passed = []
    while tensor in producers and producers[tensor].op_type in LAYOUT_OPS:
        passed.append(producers[tensor])
        tensor = producers[tensor].input[0]
    node = producers.get(tensor)
    return (node if node is not None and node.op_type == "LSTM" else None), tensor, passed


def _perm(node):
    from onnx import helper

    return next((list(helper.get_attribute_value(a)) for a in node.attribute if a.name == "perm"),
                None)


def _lstm_attributes(node, where):
    from onnx import helper

    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    direction = attrs.get("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    if direction not in ("forward", "bidirectional"):
        raise ValueError(f"{where} has direction {direction!r}; only 'forward' and "
                         f"'bidirectional' exist in PyTorch")
    D = 2 if direction == "bidirectional" else 1
    activations = [a.decode() if isinstance(a, bytes) else a
                   for a in attrs.get("activations", DEFAULT_ACTIVATIONS * D)]
    if [a.lower() for a in activations] != [a.lower() for a in DEFAULT_ACTIVATIONS * D]:
        raise ValueError(f"{where} uses activations {activations}; only sigmoid, tanh, tanh "
                         f"are supported")
    for name in ("clip", "activation_alpha", "activation_beta"):
        if name in attrs:
            raise ValueError(f"{where} sets {name!r}, which lstmcore does not support")
    for name in ("input_forget", "layout"):
        if attrs.get(name, 0) != 0:
            raise ValueError(f"{where} sets {name}={attrs[name]}; only 0 is supported")
    return D, attrs.get("hidden_size")


def onnx_state(path):
    """Config, PyTorch-named state, batch_first and weight dtype of an ONNX file's LSTM nodes;
    see :func:`from_onnx`."""
    graph = _load(path).graph
    lstms = [n for n in graph.node if n.op_type == "LSTM" and n.domain in ("", "ai.onnx")]
    if not lstms:
        raise ValueError(f"{os.fspath(path)!r} contains no LSTM node")
    values = _constants(graph)
    graph_inputs = {i.name for i in graph.input} - {t.name for t in graph.initializer}
    state, config, batch_first = {}, None, False
    for k, node in enumerate(lstms):
        where = f"LSTM node {k} ({node.name or node.output[0]!r})"
        D, hidden_attr = _lstm_attributes(node, where)
        source, reached, passed = _source(graph, node.input[0])
        if k == 0:
            if source is not None or reached not in graph_inputs:
                raise ValueError(f"{where}: its input X does not come from a graph input")
            batch_first = any(n.op_type == "Transpose" and _perm(n) == [1, 0, 2] for n in passed)
        elif source is not lstms[k - 1] or reached != lstms[k - 1].output[0]:
            raise ValueError(f"{where}: its input X is not the Y output of LSTM node {k - 1}; "
                             f"only a chain of LSTM layers can be imported")
        arrays = {}
        for j, name in ((1, "W"), (2, "R"), (3, "B"), (7, "P")):
            if len(node.input) > j and node.input[j]:
                if node.input[j] not in values:
                    raise ValueError(f"{where}: input {name} ({node.input[j]!r}) is not a "
                                     f"constant initializer")
                arrays[name] = values[node.input[j]]
        if "P" in arrays and np.any(arrays["P"]):
            raise ValueError(f"{where} has peephole weights P, which lstmcore does not support")
        w, r = arrays["W"], arrays["R"]
        if w.ndim != 3 or w.shape[0] != D or w.shape[1] % 4 or w.shape[1] == 0:
            raise ValueError(f"{where}: W has shape {w.shape}, expected ({D}, 4H, I)")
        H = w.shape[1] // 4
        if hidden_attr is not None and hidden_attr != H:
            raise ValueError(f"{where}: hidden_size={hidden_attr} but W has shape {w.shape}")
        if r.shape != (D, 4 * H, H):
            raise ValueError(f"{where}: R has shape {r.shape}, expected {(D, 4 * H, H)}")
        if config is None:
            config = dict(input_size=w.shape[2], hidden_size=H, bias="B" in arrays,
                          bidirectional=D == 2, proj_size=0)
            dtype = w.dtype
        elif (H, D) != (config["hidden_size"], 1 + config["bidirectional"]):
            raise ValueError(f"{where} has hidden size {H} and {D} direction(s); LSTM node 0 has "
                             f"{config['hidden_size']} and {1 + config['bidirectional']}")
        elif w.shape[2] != D * H:
            raise ValueError(f"{where}: W has shape {w.shape}, expected {(D, 4 * H, D * H)}")
        elif ("B" in arrays) != config["bias"]:
            raise ValueError(f"{where} {'has' if 'B' in arrays else 'has no'} biases B but "
                             f"LSTM node 0 {'has' if config['bias'] else 'has no'}; every layer "
                             f"needs the same bias setting")
        if "B" in arrays and arrays["B"].shape != (D, 8 * H):
            raise ValueError(f"{where}: B has shape {arrays['B'].shape}, expected {(D, 8 * H)}")
        for d in range(D):
            reverse = d == 1
            state[param_name("weight_ih", k, reverse)] = reorder_gates(w[d], ONNX_TO_TORCH)
            state[param_name("weight_hh", k, reverse)] = reorder_gates(r[d], ONNX_TO_TORCH)
            if config["bias"]:
                b = arrays["B"][d]
                state[param_name("bias_ih", k, reverse)] = reorder_gates(b[:4 * H], ONNX_TO_TORCH)
                state[param_name("bias_hh", k, reverse)] = reorder_gates(b[4 * H:], ONNX_TO_TORCH)
    config["num_layers"] = len(lstms)
    return config, state, batch_first, dtype


def from_onnx(path, dtype=None):
    """An :class:`lstmcore.LSTM` from the LSTM nodes of an ONNX file.

    Reads the files :func:`to_onnx` writes and those ``torch.onnx.export`` makes of a
    ``torch.nn.LSTM``: a chain of ONNX LSTM nodes (forward or bidirectional, default
    activations, no peepholes, clip or coupled input-forget gate), each taking the previous one's
    Y through layout ops. ``batch_first`` is set when the graph transposes its input before the
    first LSTM. ``dtype`` None takes the weights' dtype (float64 stays float64, else float32).
    Raises ValueError when the file cannot be read or holds anything else.
    """
    config, state, batch_first, weight_dtype = onnx_state(path)
    if dtype is None:
        dtype = np.float64 if weight_dtype == np.float64 else np.float32
    return build_model(config, state, batch_first=batch_first, dtype=dtype)
