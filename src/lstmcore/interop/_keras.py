"""Keras LSTM and TensorFlow 1 LSTM-cell weights to and from lstmcore.

Keras (``layer.get_weights()`` of ``keras.layers.LSTM``): ``kernel`` (I, 4H), ``recurrent_kernel``
(H, 4H) and, with ``use_bias``, one ``bias`` (4H,); gates i, f, c, o, which is PyTorch's i, f, g, o,
so only transposes and the bias are converted. A ``keras.layers.Bidirectional`` layer's
get_weights() is the forward layer's list followed by the backward layer's. Keras has one bias
where PyTorch has two: import puts it in ``bias_ih`` and zeros ``bias_hh``; export sums them.
Keras's default activations (sigmoid recurrent activation, tanh) are assumed; Keras has no
projection.

TensorFlow 1 (``tf.nn.rnn_cell.BasicLSTMCell``/``LSTMCell``): one ``kernel`` (I + P, 4H) applied to
``concat([x, h])``, one ``bias`` (4H,), gates i, j (= g), f, o, and ``forget_bias`` added to the
forget gate at run time but never stored, so import folds it into the bias. ``LSTMCell(num_proj=P)``
adds a ``projection/kernel`` (H, P). Peepholes and clipping have no PyTorch equivalent.
"""
import numbers

import numpy as np

from ._common import (as_float, build_model, check_shape, gate_size, model_config, param_name,
                      reorder_gates)

# Where PyTorch's i, f, g, o sit in TF1's i, j, f, o (the permutation is its own inverse).
TF1_TO_TORCH = (0, 2, 1, 3)
DIRECTION_NAMES = ("forward", "backward")


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def tf1_state(kernel, bias, forget_bias=1.0, proj_kernel=None):
    """Config and PyTorch-named state (float64) of TF1 cells; see :func:`from_tf1`."""
    if isinstance(forget_bias, (bool, np.bool_)) or not isinstance(forget_bias, numbers.Real):
        raise TypeError(f"forget_bias must be a number, got {forget_bias!r}")
    kernels, biases = _as_list(kernel), _as_list(bias)
    projs = None if proj_kernel is None else _as_list(proj_kernel)
    if not kernels:
        raise ValueError("kernel must be an array or a non-empty list of arrays")
    if len(biases) != len(kernels) or (projs is not None and len(projs) != len(kernels)):
        raise ValueError(f"kernel, bias and proj_kernel must list the same number of layers, got "
                         f"{len(kernels)}, {len(biases)}"
                         + ("" if projs is None else f" and {len(projs)}"))
    stacked = isinstance(kernel, (list, tuple))
    state = {}
    for k, kern in enumerate(kernels):
        suffix = f"[{k}]" if stacked else ""
        kern = as_float("kernel" + suffix, kern)
        if kern.ndim != 2:
            raise ValueError(f"kernel{suffix} must be 2-D (I + H, 4H), got shape {kern.shape}")
        hidden = gate_size("kernel" + suffix, kern.shape[1])
        proj_size = 0
        if projs is not None:
            proj = as_float("proj_kernel" + suffix, projs[k])
            if proj.ndim != 2 or proj.shape[0] != hidden or proj.shape[1] == 0:
                raise ValueError(f"proj_kernel{suffix} has shape {proj.shape}, expected "
                                 f"({hidden}, P)")
            proj_size = proj.shape[1]
            state[param_name("weight_hr", k, False)] = proj.T
        out_size = proj_size or hidden
        if k == 0:
            first = (hidden, proj_size)
            input_size = in_size = kern.shape[0] - out_size
            if in_size <= 0:
                raise ValueError(f"kernel{suffix} has shape {kern.shape}: its rows are input "
                                 f"size + {out_size}, so it needs more than {out_size}")
        elif (hidden, proj_size) != first:
            raise ValueError(f"kernel{suffix}: every layer must have hidden size {first[0]} and "
                             f"projection size {first[1]}, got {hidden} and {proj_size}")
        else:
            in_size = out_size
            check_shape("kernel" + suffix, kern, (2 * out_size, 4 * hidden))
        b = as_float("bias" + suffix, biases[k])
        check_shape("bias" + suffix, b, (4 * hidden,))
        w = reorder_gates(kern.T, TF1_TO_TORCH)
        b = reorder_gates(b, TF1_TO_TORCH)
        b[hidden:2 * hidden] += forget_bias
        state[param_name("weight_ih", k, False)] = w[:, :in_size]
        state[param_name("weight_hh", k, False)] = w[:, in_size:]
        state[param_name("bias_ih", k, False)] = b
        state[param_name("bias_hh", k, False)] = np.zeros_like(b)
    config = dict(input_size=input_size, hidden_size=first[0], num_layers=len(kernels), bias=True,
                  bidirectional=False, proj_size=first[1])
    return config, state


def from_tf1(kernel, bias, forget_bias=1.0, *, proj_kernel=None, batch_first=False,
             dtype=np.float32):
    """An :class:`lstmcore.LSTM` with the weights of TensorFlow 1 LSTM cells.

    Args:
        kernel: (I + P, 4H) ``.../kernel`` of a ``BasicLSTMCell`` or ``LSTMCell`` (P = H without
            projection), rows for x then h, gate columns i, j, f, o; or a list of them, one per
            layer, for a ``MultiRNNCell`` (layer k > 0 then has I = P).
        bias: (4H,) ``.../bias``, or a list matching ``kernel``.
        forget_bias: the cell's ``forget_bias`` (1.0 in TF1 by default), folded into the bias.
        proj_kernel: (H, P) ``.../projection/kernel`` of ``LSTMCell(num_proj=P)``, or a list.
        batch_first: the model's layout; ``tf.nn.dynamic_rnn`` is batch-major unless
            ``time_major=True``.
        dtype: the model's dtype, float32 or float64.
    """
    config, state = tf1_state(kernel, bias, forget_bias, proj_kernel)
    return build_model(config, state, batch_first=batch_first, dtype=dtype)


def _keras_layout(n, where):
    """(directions, has_bias) from the number of arrays of one Keras layer."""
    layouts = {2: (1, False), 3: (1, True), 4: (2, False), 6: (2, True)}
    if n not in layouts:
        raise ValueError(f"{where} holds {n} arrays; a Keras LSTM layer has 3 (kernel, "
                         f"recurrent_kernel, bias), or 2 without bias, and a Bidirectional one "
                         f"twice that")
    return layouts[n]


def keras_state(weights):
    """Config and PyTorch-named state (float64) of Keras LSTM weights; see :func:`from_keras`."""
    if not isinstance(weights, (list, tuple)) or not weights:
        raise ValueError("weights must be a non-empty list: one layer's get_weights(), or a list "
                         "of them")
    nested = isinstance(weights[0], (list, tuple))
    layers = list(weights) if nested else [weights]
    state, config = {}, None
    for k, arrays in enumerate(layers):
        where = f"weights[{k}]" if nested else "weights"
        if not isinstance(arrays, (list, tuple)):
            raise ValueError(f"{where} must be a list of arrays (one layer's get_weights())")
        directions, has_bias = _keras_layout(len(arrays), where)
        per_dir = len(arrays) // directions
        if config is None:
            kern0 = as_float(f"{where}[0]", arrays[0])
            if kern0.ndim != 2:
                raise ValueError(f"{where}[0] (kernel) must be 2-D (I, 4H), got shape "
                                 f"{kern0.shape}")
            hidden = gate_size(f"{where}[0] (kernel)", kern0.shape[1])
            config = dict(input_size=kern0.shape[0], hidden_size=hidden, bias=has_bias,
                          bidirectional=directions == 2, proj_size=0)
        elif (directions == 2, has_bias) != (config["bidirectional"], config["bias"]):
            raise ValueError(f"{where} holds {len(arrays)} arrays but weights[0] holds "
                             f"{len(layers[0])}: every layer needs the same directions and bias")
        hidden = config["hidden_size"]
        in_size = config["input_size"] if k == 0 else directions * hidden
        for d in range(directions):
            names = ("kernel", "recurrent_kernel", "bias")[:per_dir]
            shapes = ((in_size, 4 * hidden), (hidden, 4 * hidden), (4 * hidden,))
            got = {}
            for j, (name, shape) in enumerate(zip(names, shapes)):
                label = f"{where}[{d * per_dir + j}] ({name}, {DIRECTION_NAMES[d]})"
                got[name] = as_float(label, arrays[d * per_dir + j])
                check_shape(label, got[name], shape)
            reverse = d == 1
            state[param_name("weight_ih", k, reverse)] = got["kernel"].T
            state[param_name("weight_hh", k, reverse)] = got["recurrent_kernel"].T
            if has_bias:
                state[param_name("bias_ih", k, reverse)] = got["bias"]
                state[param_name("bias_hh", k, reverse)] = np.zeros_like(got["bias"])
    config["num_layers"] = len(layers)
    return config, state


def from_keras(weights, *, batch_first=False, dtype=np.float32):
    """An :class:`lstmcore.LSTM` with the weights of Keras LSTM layers.

    Args:
        weights: one layer's ``get_weights()`` — ``[kernel (I, 4H), recurrent_kernel (H, 4H),
            bias (4H,)]``, without bias if ``use_bias=False``, forward then backward for a
            ``Bidirectional`` layer — or a list of those, one per stacked layer (layer k > 0 then
            has I = D * H). This is what :func:`to_keras` returns.
        batch_first: the model's layout; Keras itself is batch-major, so pass True to feed the
            model Keras's (B, T, I) arrays.
        dtype: the model's dtype, float32 or float64.
    """
    config, state = keras_state(weights)
    return build_model(config, state, batch_first=batch_first, dtype=dtype)


def state_to_keras(config, state):
    """Keras weights of a config and state; see :func:`to_keras`."""
    if config["proj_size"]:
        raise ValueError(f"Keras's LSTM has no projection: cannot export a model with "
                         f"proj_size={config['proj_size']}")
    layers = []
    for k in range(config["num_layers"]):
        arrays = []
        for reverse in (False, True)[:1 + config["bidirectional"]]:
            arrays += [state[param_name("weight_ih", k, reverse)].T.copy(),
                       state[param_name("weight_hh", k, reverse)].T.copy()]
            if config["bias"]:
                arrays.append(state[param_name("bias_ih", k, reverse)]
                              + state[param_name("bias_hh", k, reverse)])
        layers.append(arrays)
    return layers


def to_keras(model):
    """The model's weights as Keras LSTM layers take them, one list per layer.

    Returns a list with one entry per layer, each ready for that Keras layer's
    ``set_weights()``: ``[kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,)]`` (bias left out
    when ``model.bias`` is False), and for a bidirectional model the forward layer's arrays then
    the backward layer's, as ``keras.layers.Bidirectional`` orders them. The bias is
    ``bias_ih + bias_hh``. Raises ValueError for ``proj_size > 0``, which Keras cannot express.
    """
    return state_to_keras(model_config(model), model.state_dict())
