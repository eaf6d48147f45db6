"""Argument checks shared by the public API: each error names the argument and what it needs."""
import functools
import numbers
import os

import numpy as np

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

# The C core hands every size to BLAS as a 32-bit int (Fortran's INTEGER).
BLAS_INT_MAX = 2**31 - 1


def float_dtype(name, dtype):
    """np.float32 or np.float64 (anything else is refused, None too: NumPy reads it as float64)."""
    if dtype is None:
        raise TypeError(f"{name} must be np.float32 or np.float64, got None")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be np.float32 or np.float64, got {dtype!r}") from None
    if dt not in _FLOAT_DTYPES:
        raise TypeError(f"{name} must be np.float32 or np.float64, got {dt}")
    return dt.type


def _array_of(name, value, kinds, what, holds):
    """``value`` as an array whose dtype kind is in ``kinds``, not yet converted; a TypeError
    naming ``name`` otherwise (``what``/``holds`` describe the expected values)."""
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name} must be an array of {what}: {exc}") from None
    if arr.dtype.kind not in kinds:
        raise TypeError(f"{name} must hold {holds}, got dtype {arr.dtype}")
    return arr


def float_array(name, value):
    """``value`` as an array of floating-point values, not yet converted.

    Booleans, integers, complex numbers, strings and objects are refused with a TypeError,
    since silently reading them as floats hides bugs. Shapes can be checked on the result
    before a conversion copies it (a broadcast view may stand for more memory than exists).
    """
    return _array_of(name, value, "f", "floats", "floating-point values")


def real_array(name, value):
    """``value`` as an array of real numbers (floats or integers), not yet converted.

    Booleans, complex numbers, strings and objects are refused with a TypeError: converting
    them to floats would read a mask as numbers, drop an imaginary part or parse text.
    """
    return _array_of(name, value, "fiu", "real numbers", "real numbers (floats or integers)")


def integer_array(name, value):
    """``value`` as an array of integers (indices, counts); booleans, floats, complex numbers,
    strings and objects are refused with a TypeError."""
    return _array_of(name, value, "iu", "integers", "integers")


def check_int(name, value, minimum=None, maximum=None):
    """A Python or NumPy integer (not a bool) in [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_flag(name, value):
    """A bool (Python's or NumPy's, or the integers 0 and 1): a string like "no" is refused
    rather than read as True."""
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, numbers.Integral)
                                                and value in (0, 1)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r}")


def check_memory(what, nbytes, *args):
    """MemoryError when ``nbytes`` exceed the machine's memory, raised before allocating.

    NumPy reports one allocation that fails, but Linux grants large allocations lazily: a
    set of arrays that cannot fit together would be granted and the process killed later,
    while their pages are first written. With ``args``, ``what`` is a format string filled in
    only when raising: a check on every call then builds no message.
    """
    total = memory_size()
    if total is not None and nbytes > total:
        if args:
            what = what.format(*args)
        raise MemoryError(f"{what} would need {nbytes / 2**30:.3g} GiB, more than this "
                          f"machine's {total / 2**30:.3g} GiB of memory")


@functools.cache
def memory_size():
    """Bytes of RAM plus swap, or None where the system does not say (read once)."""
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return sum(int(info[key].split()[0]) * 1024 for key in ("MemTotal", "SwapTotal"))
    except (OSError, KeyError, ValueError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_lengths(name, lengths, count, steps, per="sequence"):
    """``lengths`` as an int64 array (count,) of true lengths in [1, steps]: a TypeError for
    what is not integers (booleans included), a ValueError for another shape or a length out
    of range, each naming ``name``; ``per`` says what each length belongs to."""
    try:
        array = np.asarray(lengths)
    except (ValueError, TypeError) as exc:  # ragged lists
        raise TypeError(f"{name} must be an array of integers: {exc}") from None
    if array.shape != (count,):
        raise ValueError(f"{name} must have shape ({count},), one per {per}, "
                         f"got shape {array.shape}")
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integers, got dtype {array.dtype}")
    if array.min() < 1 or array.max() > steps:
        raise ValueError(f"{name} must lie in [1, T={steps}], got min {array.min()} "
                         f"max {array.max()}")
    return array.astype(np.int64)
