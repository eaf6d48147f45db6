"""Checkpoints: a model, its optimizer's state, a step count and extras in one file.

The file is an uncompressed ``.npz`` (a zip of ``.npy`` arrays, readable with ``np.load``):
``__meta__`` holds UTF-8 JSON with the magic string, the format version, the step, a SHA-256 of
every other member and the structure of the saved state; every array is a member of its own.
Saving writes a temporary file in the target's directory, fsyncs it and renames it over the
target, so a crash leaves either the old file or the new one, never half of one. Loading checks
the magic, the version, the checksum, and that the names, shapes and dtypes fit the model, and
raises ValueError naming what is wrong.

Optimizer state and ``extra`` may nest dicts, lists and tuples of arrays, NumPy scalars, ints,
floats, strings, bools and None; they come back with the same types and values, bit for bit.
"""
import hashlib
import io
import json
import os
import tempfile
import zipfile

import numpy as np

__all__ = ["FORMAT_VERSION", "load_checkpoint", "save_checkpoint"]

MAGIC = "lstmcore-checkpoint"
FORMAT_VERSION = 1
_META = "__meta__"


def save_checkpoint(path, model, optimizer=None, step=0, extra=None):
    """Write ``model.state_dict()``, ``optimizer.state_dict()``, ``step`` and ``extra`` to
    ``path`` atomically. ``extra`` is for anything else a resumed run needs, e.g.
    ``{"trainer": trainer.state_dict()}`` for the batch stream's position."""
    arrays = {}
    sections = {
        "model": _encode(model.state_dict(), "model", arrays),
        "optimizer": None if optimizer is None else _encode(optimizer.state_dict(), "optimizer",
                                                            arrays),
        "extra": _encode(extra, "extra", arrays),
    }
    meta = {"magic": MAGIC, "version": FORMAT_VERSION, "step": int(step),
            "sha256": _digest(arrays), **sections}
    arrays[_META] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)

    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".ckpt")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    _fsync_directory(directory)


def load_checkpoint(path, model=None, optimizer=None):
    """Read a checkpoint; load it into ``model`` and ``optimizer`` when they are given.

    Returns a dict with "step", "model" (the state dict), "optimizer" (its state dict, or None),
    "extra" and "version". Raises ValueError for a file that is truncated, corrupted, of another
    format or version, or that does not match ``model`` (names, shapes, dtypes) or has no
    optimizer state when ``optimizer`` is given.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except Exception as exc:  # whatever a damaged zip or .npy header raises, it is damaged
        raise ValueError(f"{path}: not a readable checkpoint (truncated or corrupted?): "
                         f"{type(exc).__name__}: {exc}") from None
    if _META not in arrays:
        raise ValueError(f"{path}: not an lstmcore checkpoint (no {_META} member)")
    try:
        meta = json.loads(arrays.pop(_META).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: corrupted checkpoint metadata: {exc}") from None
    if not isinstance(meta, dict) or meta.get("magic") != MAGIC:
        raise ValueError(f"{path}: not an lstmcore checkpoint (bad magic)")
    if meta.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: checkpoint format version {meta.get('version')!r}, this "
                         f"lstmcore reads version {FORMAT_VERSION}")
    if meta.get("sha256") != _digest(arrays):
        raise ValueError(f"{path}: checksum mismatch, the checkpoint is corrupted")

    try:
        state = _decode(meta["model"], arrays)
        opt_state = None if meta["optimizer"] is None else _decode(meta["optimizer"], arrays)
        extra = _decode(meta["extra"], arrays)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: corrupted checkpoint structure: {exc!r}") from None
    if model is not None:
        _check_fits(path, state, model.state_dict())
        model.load_state_dict(state)
    if optimizer is not None:
        if opt_state is None:
            raise ValueError(f"{path}: the checkpoint holds no optimizer state")
        try:
            optimizer.load_state_dict(opt_state)
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"{path}: optimizer state does not match the optimizer: "
                             f"{exc}") from None
    return {"step": meta["step"], "model": state, "optimizer": opt_state, "extra": extra,
            "version": meta["version"]}


def _check_fits(path, state, expected):
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [f"{name}: {np.shape(state[name])} {np.asarray(state[name]).dtype} in the file, "
             f"{value.shape} {value.dtype} in the model"
             for name, value in expected.items()
             if name in state and (np.shape(state[name]) != value.shape
                                   or np.asarray(state[name]).dtype != value.dtype)]
    if missing or unexpected or wrong:
        parts = [f"missing {missing}"] * bool(missing) + [f"unexpected {unexpected}"] * bool(
            unexpected) + wrong
        raise ValueError(f"{path}: checkpoint does not match the model: " + "; ".join(parts))


def _digest(arrays):
    """SHA-256 over every array's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _encode(value, key, arrays):
    """JSON-able description of ``value``; arrays (and NumPy scalars) go into ``arrays``."""
    if isinstance(value, (np.ndarray, np.generic)):
        if value.dtype.hasobject:
            raise TypeError(f"{key}: object arrays cannot be saved")
        name = key if key not in arrays and key != _META else f"{key}#{len(arrays)}"
        arrays[name] = np.asarray(value)
        return {"array": name, "scalar": isinstance(value, np.generic)}
    if value is None or isinstance(value, (bool, str)):
        return {"value": value}
    if isinstance(value, int):
        return {"int": str(value)}  # str: JSON readers may round integers past 2**53
    if isinstance(value, float):
        return {"float": value.hex()}  # hex: exact, and NaN/inf stay valid JSON
    if isinstance(value, dict):
        return {"dict": [[_encode(k, f"{key}/{i}.key", arrays),
                          _encode(v, f"{key}/{k if isinstance(k, str) else i}", arrays)]
                         for i, (k, v) in enumerate(value.items())]}
    if isinstance(value, (list, tuple)):
        kind = "list" if isinstance(value, list) else "tuple"
        return {kind: [_encode(v, f"{key}/{i}", arrays) for i, v in enumerate(value)]}
    raise TypeError(f"{key}: cannot save a {type(value).__name__}")


def _decode(node, arrays):
    (kind, value), *rest = node.items()
    if kind == "array":
        a = arrays[value]
        return a[()] if node["scalar"] else a
    if kind == "value":
        return value
    if kind == "int":
        return int(value)
    if kind == "float":
        return float.fromhex(value)
    if kind == "dict":
        return {_decode(k, arrays): _decode(v, arrays) for k, v in value}
    if kind == "list":
        return [_decode(v, arrays) for v in value]
    if kind == "tuple":
        return tuple(_decode(v, arrays) for v in value)
    raise ValueError(f"unknown node kind {kind!r}")


def _fsync_directory(directory):
    """Make the rename itself durable (POSIX); not possible, nor needed, on Windows."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
