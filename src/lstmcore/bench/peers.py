"""The implementations timed side by side, each built as a zero-argument step function.

T = time steps, B = batch, I = input size, H = hidden size, L = layers, D = directions, G = 4H.

Every peer runs the same LSTM: the same weights (PyTorch's names and gate order, made by
:func:`init_params`), the same input and, for training, the same upstream gradient. An inference
step returns y (T, B, D·H) so tests can check the peers agree; a training step runs forward and
backward, giving dx and every weight gradient, and returns nothing.
"""
import importlib.util

import numpy as np
from threadpoolctl import threadpool_limits

PEERS = ("lstmcore", "reference", "torch", "onnxruntime")
# ONNX Runtime's LSTM operator has no backward: it is an inference peer only.
TRAINING_PEERS = ("lstmcore", "reference", "torch")
_MODULES = {"lstmcore": "lstmcore", "reference": "lstmcore.reference", "torch": "torch",
            "onnxruntime": "onnxruntime"}


def missing_reason(peer):
    """Why ``peer`` cannot run in this environment, or None when it can."""
    if peer not in PEERS:
        return f"unknown peer {peer!r}; expected one of {', '.join(PEERS)}"
    if peer == "lstmcore":
        try:
            import lstmcore
        except ImportError as err:
            return f"lstmcore does not import: {err}"
        if not hasattr(lstmcore, "LSTM"):
            return "lstmcore.LSTM is not available yet"
        return None
    if peer == "onnxruntime" and importlib.util.find_spec("onnx") is None:
        return "onnx is not installed (needed to build the graph)"
    try:
        found = importlib.util.find_spec(_MODULES[peer]) is not None
    except ImportError:
        found = False
    return None if found else f"{_MODULES[peer]} is not installed"


def init_params(shape, seed=0):
    """Weights in PyTorch's names and shapes, U(-1/sqrt(H), 1/sqrt(H)), float32.

    weight_ih_l{k}[_reverse] (G, I_l), weight_hh_l{k}[_reverse] (G, H), bias_ih/bias_hh (G,),
    where I_l is I for layer 0 and D·H above it.
    """
    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(shape.H)
    G = 4 * shape.H
    params = {}
    for layer in range(shape.num_layers):
        in_size = shape.I if layer == 0 else shape.directions * shape.H
        for suffix in ("", "_reverse")[: shape.directions]:
            sizes = {"weight_ih": (G, in_size), "weight_hh": (G, shape.H),
                     "bias_ih": (G,), "bias_hh": (G,)}
            for name, size in sizes.items():
                params[f"{name}_l{layer}{suffix}"] = rng.uniform(-bound, bound, size).astype(
                    np.float32)
    return params


def make_inputs(shape, seed=0):
    """x (T, B, I) and dy (T, B, D·H), float32 standard normal; padding steps of a
    variable-length batch are zero in both, as a packed batch would give them."""
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((shape.T, shape.B, shape.I), dtype=np.float32)
    dy = rng.standard_normal((shape.T, shape.B, shape.directions * shape.H), dtype=np.float32)
    lengths = shape.lengths()
    if lengths is not None:
        pad = np.arange(shape.T)[:, None] >= lengths[None, :]
        x[pad] = 0.0
        dy[pad] = 0.0
    return x, dy


def build(peer, shape, work, threads, seed=0):
    """The step function of ``peer`` for ``shape`` and ``work``, with its threads set."""
    if work == "training" and peer not in TRAINING_PEERS:
        raise ValueError(f"peer {peer!r} has no training step")
    builders = {"lstmcore": _lstmcore, "reference": _reference, "torch": _torch,
                "onnxruntime": _onnxruntime}
    if peer not in builders:
        raise ValueError(f"peer must be one of {', '.join(PEERS)}, got {peer!r}")
    return builders[peer](shape, work, threads, seed)


def build_gemm(n, threads):
    """The ceiling: float32 C = A @ B on (n, n) matrices through NumPy; 2·n³ flops a call."""
    threadpool_limits(limits=threads)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    return lambda: np.matmul(a, b, out=out)


def _lstmcore(shape, work, threads, seed):
    import lstmcore

    # SciPy's BLAS, which the C core calls, follows threadpoolctl; set_num_threads also covers
    # any threads of lstmcore's own.
    threadpool_limits(limits=threads)
    if hasattr(lstmcore, "set_num_threads"):
        lstmcore.set_num_threads(threads)
    model = lstmcore.LSTM(shape.I, shape.H, num_layers=shape.num_layers,
                          bidirectional=shape.bidirectional, dtype=np.float32, seed=seed)
    model.load_state_dict(init_params(shape, seed))
    x, dy = make_inputs(shape, seed)
    lengths = shape.lengths()
    if work == "inference":
        return lambda: model(x, lengths=lengths)[0]

    def step():
        _, _, cache = model.forward(x, lengths=lengths, training=True)
        model.backward(dy, cache)
    return step


def _reference(shape, work, threads, seed):
    from lstmcore import reference

    threadpool_limits(limits=threads)
    params = init_params(shape, seed)
    x, dy = make_inputs(shape, seed)
    options = {"num_layers": shape.num_layers, "bidirectional": shape.bidirectional,
               "lengths": shape.lengths()}
    if work == "inference":
        return lambda: reference.forward(params, x, **options)[0]

    def step():
        cache = reference.forward(params, x, **options)[-1]
        reference.backward(cache, dy)
    return step


def _torch(shape, work, threads, seed):
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    torch.set_num_threads(threads)
    module = torch.nn.LSTM(shape.I, shape.H, num_layers=shape.num_layers,
                           bidirectional=shape.bidirectional)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in init_params(shape, seed).items()})
    x_np, dy_np = make_inputs(shape, seed)
    x, dy = torch.from_numpy(x_np), torch.from_numpy(dy_np)
    lengths = shape.lengths()

    def run(inp):
        if lengths is None:
            return module(inp)[0]
        # Packing is part of the work: it is how PyTorch skips the padding.
        packed = pack_padded_sequence(inp, torch.from_numpy(lengths), enforce_sorted=False)
        return pad_packed_sequence(module(packed)[0], total_length=shape.T)[0]

    if work == "inference":
        def infer():
            with torch.no_grad():
                return run(x).numpy()
        return infer

    x.requires_grad_(True)
    return lambda: run(x).backward(dy)


def _onnxruntime(shape, work, threads, seed):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    graph = _onnx_graph(shape, init_params(shape, seed))
    session = ort.InferenceSession(graph.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    x, _ = make_inputs(shape, seed)
    feeds = {"x": x}
    if shape.varlen:
        feeds["sequence_lens"] = shape.lengths().astype(np.int32)
    return lambda: session.run(["y"], feeds)[0]


def _onnx_graph(shape, params):
    """An ONNX model of L LSTM nodes (one per layer, both directions in a node), each
    followed by the reshape of Y (T, D, B, H) into the next input (T, B, D·H)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    T, B, H, D = shape.T, shape.B, shape.H, shape.directions
    # PyTorch's gate blocks i, f, g, o become ONNX's i, o, f, c.
    order = [0, 3, 1, 2]

    def onnx_gates(w):
        return np.concatenate([w[k * H:(k + 1) * H] for k in order])

    nodes, initializers = [], []
    inp = "x"
    for layer in range(shape.num_layers):
        suffixes = ("", "_reverse")[:D]
        w = np.stack([onnx_gates(params[f"weight_ih_l{layer}{s}"]) for s in suffixes])
        r = np.stack([onnx_gates(params[f"weight_hh_l{layer}{s}"]) for s in suffixes])
        b = np.stack([np.concatenate([onnx_gates(params[f"bias_ih_l{layer}{s}"]),
                                      onnx_gates(params[f"bias_hh_l{layer}{s}"])])
                      for s in suffixes])
        names = [f"W{layer}", f"R{layer}", f"B{layer}"]
        initializers += [numpy_helper.from_array(a, n) for a, n in zip((w, r, b), names)]
        lstm_inputs = [inp] + names + (["sequence_lens"] if shape.varlen else [])
        nodes.append(helper.make_node(
            "LSTM", lstm_inputs, [f"Y{layer}"], hidden_size=H,
            direction="bidirectional" if D == 2 else "forward"))
        out = "y" if layer == shape.num_layers - 1 else f"x{layer + 1}"
        y_in = f"Y{layer}"
        if D == 2:
            nodes.append(helper.make_node("Transpose", [y_in], [f"Yt{layer}"], perm=[0, 2, 1, 3]))
            y_in = f"Yt{layer}"
        initializers.append(numpy_helper.from_array(np.array([T, B, D * H], np.int64), f"S{layer}"))
        nodes.append(helper.make_node("Reshape", [y_in, f"S{layer}"], [out]))
        inp = out

    graph_inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [T, B, shape.I])]
    if shape.varlen:
        graph_inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, [B]))
    graph = helper.make_graph(
        nodes, "lstm", graph_inputs,
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [T, B, D * H])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
