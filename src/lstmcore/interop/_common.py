"""Pieces every converter shares: gate reordering, array checks, and building the model.

Every converter works in two steps: a framework's arrays become a *config* (the keyword
arguments of :class:`lstmcore.LSTM` that describe its shape) and a *state* (a dict with the keys
and shapes of ``LSTM.state_dict()``), then :func:`build_model` makes the model. Exporters go the
other way from :func:`model_config` and ``model.state_dict()``.

Letters: I = input size, H = hidden size, P = projection size (H when there is none),
D = directions, L = layers, G = 4H.
"""
import numpy as np

CONFIG_KEYS = ("input_size", "hidden_size", "num_layers", "bias", "bidirectional", "proj_size")


def param_name(kind, layer, reverse):
    """PyTorch's parameter name: ``param_name("weight_ih", 1, True)`` is weight_ih_l1_reverse."""
    return f"{kind}_l{layer}" + ("_reverse" if reverse else "")


def reorder_gates(a, order, axis=0):
    """Split ``a`` into its 4 gate blocks along ``axis`` and put them back in ``order``.

    ``order[k]`` is the index of the source block that becomes block k, so converting from
    a layout to PyTorch's i, f, g, o takes the source position of i, f, g and o in that layout.
    """
    blocks = np.split(a, 4, axis=axis)
    return np.concatenate([blocks[k] for k in order], axis=axis)


def resolve_dtype(dtype, argname="dtype"):
    """Return np.float32 or np.float64 for ``dtype``; anything else is refused."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{argname} must be float32 or float64, got {dtype!r}") from None
    if dt not in (np.float32, np.float64):
        raise ValueError(f"{argname} must be float32 or float64, got {dt}")
    return dt.type


def as_float(name, a, dtype=np.float64):
    """``a`` as a ``dtype`` array; TypeError naming ``name`` if it holds no real numbers."""
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of real numbers: {exc}") from None
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be an array of real numbers, got dtype {arr.dtype}")
    return arr.astype(dtype)


def check_shape(name, a, shape):
    """ValueError naming ``name`` unless ``a.shape == shape``."""
    if a.shape != tuple(shape):
        raise ValueError(f"{name} has shape {a.shape}, expected {tuple(shape)}")


def gate_size(name, n):
    """H from a gate dimension of length ``n`` = 4H; ValueError if ``n`` is not a positive
    multiple of 4."""
    if n <= 0 or n % 4:
        raise ValueError(f"{name}: gate dimension {n} is not a positive multiple of 4 (4 * hidden)")
    return n // 4


def model_config(model):
    """The shape-describing constructor arguments of ``model`` as a dict (see CONFIG_KEYS)."""
    from ..lstm import LSTM

    if not isinstance(model, LSTM):
        raise TypeError(f"model must be an lstmcore.LSTM, got {type(model).__name__}")
    return {key: getattr(model, key) for key in CONFIG_KEYS}


def build_model(config, state, *, batch_first=False, dropout=0.0, dtype=np.float32):
    """An :class:`lstmcore.LSTM` with ``config`` and parameters ``state``, cast to ``dtype``."""
    from ..lstm import LSTM

    dtype = resolve_dtype(dtype)
    model = LSTM(**config, batch_first=batch_first, dropout=dropout, dtype=dtype)
    model.load_state_dict({k: np.asarray(v, dtype=dtype) for k, v in state.items()})
    return model
