"""Write a model to a file that C programs read: the format of examples/c/run_model.c.

A unidirectional float32 :class:`lstmcore.LSTM` of one or more layers, with or without biases
and projection, is stored as a 32-byte header and the weights in PyTorch's layout, everything
little-endian:

    offset  type        field
    0       8 bytes     MAGIC, b"lstmcore"
    8       uint32      FORMAT_VERSION
    12      uint32      L, num_layers (>= 1)
    16      uint32      I, input_size (>= 1)
    20      uint32      H, hidden_size (>= 1)
    24      uint32      P, proj_size (0: none)
    28      uint32      flags: bit 0 set if the model has biases; other bits 0
    32      float32     per layer k = 0 .. L-1, in this order:
                          weight_ih_l{k} (4H, I_k)  with I_0 = I and I_k = P or H for k > 0
                          weight_hh_l{k} (4H, P or H)
                          bias_ih_l{k} (4H), bias_hh_l{k} (4H)   if flags bit 0
                          weight_hr_l{k} (P, H)                  if P > 0

Matrices are row-major, gates in PyTorch's order i, f, g, o, so the arrays are exactly the
model's ``state_dict()`` entries. Dropout and ``batch_first`` are not stored: they do not
change the weights, and a C caller chooses its own layout.
"""
import os
import struct
import tempfile

import numpy as np

from .checkpoint import _fsync_directory
from .lstm import LSTM

__all__ = ["FORMAT_VERSION", "MAGIC", "save_c_model"]

MAGIC = b"lstmcore"
FORMAT_VERSION = 1
FLAG_BIAS = 1
_HEADER = struct.Struct("<8s6I")


def save_c_model(model, path):
    """Write ``model`` to ``path`` in the format above, atomically: the file is written next
    to its target, synced and renamed over it, so a reader sees the old file or the new one.

    Refuses, with a ValueError saying why, a model the format cannot hold: a bidirectional one
    (its reverse direction cannot stream) or a float64 one (C reads float32; make a float32
    copy with ``load_state_dict``).
    """
    if not isinstance(model, LSTM):
        raise TypeError(f"model must be an lstmcore.LSTM, got {type(model).__name__}")
    if model.bidirectional:
        raise ValueError("model is bidirectional: the C model format holds forward-direction "
                         "LSTMs only")
    if np.dtype(model.dtype) != np.float32:
        raise ValueError(f"model has dtype {np.dtype(model.dtype).name}: the C model format "
                         f"holds float32 only; copy the weights into a float32 LSTM with "
                         f"load_state_dict first")
    params = model.state_dict()
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, model.num_layers, model.input_size,
                          model.hidden_size, model.proj_size, FLAG_BIAS if model.bias else 0)
    names = []
    for k in range(model.num_layers):
        names += [f"weight_ih_l{k}", f"weight_hh_l{k}"]
        names += [f"bias_ih_l{k}", f"bias_hh_l{k}"] if model.bias else []
        names += [f"weight_hr_l{k}"] if model.proj_size else []

    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".lstm")
    try:
        # mkstemp makes the file private; a model is read by other programs and users.
        os.chmod(tmp, _mode_of(path))
        with os.fdopen(fd, "wb") as f:
            f.write(header)
            for name in names:
                f.write(np.ascontiguousarray(params[name], "<f4").tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _mode_of(path):
    """The permission bits of the file that path replaces, or rw-r--r-- for a new one."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        return 0o644
