"""Argument checks shared by the public API: each error names the argument and what it needs."""
import numbers

import numpy as np

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def float_dtype(name, dtype):
    """np.float32 or np.float64 (anything else is refused)."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be np.float32 or np.float64, got {dtype!r}") from None
    if dt not in _FLOAT_DTYPES:
        raise TypeError(f"{name} must be np.float32 or np.float64, got {dt}")
    return dt.type


def as_float_array(name, value, dtype):
    """An array of floating-point values converted to ``dtype``.

    Float16/32/64 input is converted; booleans, integers, complex numbers, strings and
    objects are refused with a TypeError, since silently reading them as floats hides bugs.
    """
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name} must be an array of floats: {exc}") from None
    if arr.dtype.kind != "f":
        raise TypeError(f"{name} must hold floating-point values, got dtype {arr.dtype}")
    return arr.astype(dtype, copy=False)


def check_int(name, value, minimum=None):
    """A Python or NumPy integer (not a bool) no smaller than ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value
