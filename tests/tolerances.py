"""Every tolerance the tests use, one table per dtype, and the comparison that applies them.

Errors are relative to the tensor's scale, max|actual - expected| / max|expected|, so one number
per dtype serves tensors of any size and magnitude.
"""
import numpy as np


class _PerDtype(dict):
    """A dict keyed by float type that accepts np.float32, np.dtype("float32") or "float32"."""

    def __getitem__(self, dtype):
        return super().__getitem__(np.dtype(dtype).type)


# The same algorithm in the same dtype (e.g. the C core against the reference): only the order of
# rounding differs.
TOL = _PerDtype({np.float32: 1e-5, np.float64: 1e-12})

# Against PyTorch, an independent implementation with its own kernels and summation order.
TOL_TORCH = _PerDtype({np.float32: 2e-5, np.float64: 1e-10})

# Centred finite differences in float64 with step FINITE_DIFFERENCE_STEP: truncation error
# ~step**2 and rounding error ~1e-16 * |loss| / step, both far below this.
FINITE_DIFFERENCE_STEP = 1e-6
FINITE_DIFFERENCE_TOL = 1e-6


def relative_error(actual, expected):
    """max|actual - expected| / max|expected| (the absolute error when expected is all zeros)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    if expected.size == 0:
        return 0.0
    error = float(np.max(np.abs(actual - expected)))
    scale = float(np.max(np.abs(expected)))
    return error / scale if scale > 0 else error


def assert_close(actual, expected, tol, name):
    """Assert that actual matches expected in shape and to tol relative error, naming the tensor."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (
        f"{name}: shape {actual.shape}, expected {expected.shape}")
    error = relative_error(actual, expected)
    # written so that a NaN error fails too
    assert error <= tol, f"{name}: max|diff|/max|ref| = {error:.3g} > {tol:.3g}"
