"""Data helpers: sliding windows over a series, and the cos data set of the seed experiment.

The seed experiment is a TensorFlow 1 tutorial that predicts the next sample of a curve from the
10 samples before it. Its data code, reproduced here:

    test_start = (TRAINING_EXAMPLES + TIMESTEPS) * SAMPLE_GAP          # 100.1
    test_end = test_start + (TESTING_EXAMPLES + TIMESTEPS) * SAMPLE_GAP # 110.2
    train = f(np.linspace(0, test_start, TRAINING_EXAMPLES + TIMESTEPS, dtype=np.float32))
    test = f(np.linspace(test_start, test_end, TESTING_EXAMPLES + TIMESTEPS, dtype=np.float32))
    for i in range(len(seq) - TIMESTEPS):
        X.append([seq[i: i + TIMESTEPS]])     # note the extra brackets: shape (N, 1, TIMESTEPS)
        y.append([seq[i + TIMESTEPS]])

`linspace` includes its end point, so the true sample gap is 100.1 / 10009, a hair over 0.01, and
the test curve starts on the training curve's last sample; both are kept as the tutorial has them.
The tutorial's comments describe windows of TIMESTEPS steps of one feature, (N, TIMESTEPS, 1),
while the extra brackets in its code build one step of TIMESTEPS features, (N, 1, TIMESTEPS).
``layout="comments"`` (the default) follows the comments, ``layout="literal"`` the code.
"""
from typing import NamedTuple

import numpy as np

__all__ = ["CosDataset", "cos_dataset", "sliding_windows"]

LAYOUTS = ("comments", "literal")


def sliding_windows(series, window, layout="comments"):
    """Windows of ``window`` consecutive samples, each labelled with the sample that follows it.

    series: (N,) or (N, F) samples in time order.
    Returns ``X`` (N - window, window, F) and ``y`` (N - window, F), with
    ``X[i] = series[i:i + window]`` and ``y[i] = series[i + window]``; a 1-D series has F = 1.
    ``layout="literal"`` returns X as (N - window, F, window) instead, the tutorial's code layout
    (for F = 1, one time step whose features are the window).
    X and y are fresh arrays of the series' dtype (floats kept, anything else made float64).
    """
    series = np.asarray(series)
    if not np.issubdtype(series.dtype, np.floating):
        series = series.astype(np.float64)
    if series.ndim == 1:
        series = series[:, None]
    if series.ndim != 2:
        raise ValueError(f"series must have shape (N,) or (N, F), got {series.shape}")
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"window must be a positive integer, got {window!r}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    n = len(series) - window
    if n < 1:
        raise ValueError(f"series of length {len(series)} is too short for window={window}")
    # (n, F, window) view: axis 0 slides the window start, the last axis walks inside a window.
    view = np.lib.stride_tricks.sliding_window_view(series[:-1], window, axis=0)[:n]
    X = view.copy() if layout == "literal" else view.transpose(0, 2, 1).copy()
    return X, series[window:].copy()


class CosDataset(NamedTuple):
    """The seed experiment's data: windows over cos, and the sample times for plotting.

    X_train (10000, 10, 1), y_train (10000, 1), X_test (1000, 10, 1), y_test (1000, 1) with the
    default arguments; t_test (1000,) is the time of each test target.
    """
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    t_test: np.ndarray


def cos_dataset(window=10, train_examples=10000, test_examples=1000, sample_gap=0.01,
                layout="comments", fn=np.cos, dtype=np.float32):
    """The tutorial's data set: train on cos over [0, 100.1], test on the next 1,000 windows.

    The training curve is ``train_examples + window`` samples from 0 to
    ``(train_examples + window) * sample_gap`` (10,010 samples over [0, 100.1] by default); the
    test curve continues it with ``test_examples + window`` samples up to 110.2. Samples are
    computed in ``dtype`` as the tutorial does (float32). ``fn`` replaces cos (the tutorial's
    book version uses sin). See :func:`sliding_windows` for the layouts.
    """
    dtype = np.dtype(dtype)
    test_start = (train_examples + window) * sample_gap
    test_end = test_start + (test_examples + window) * sample_gap
    t_train = np.linspace(0, test_start, train_examples + window, dtype=dtype)
    t_test = np.linspace(test_start, test_end, test_examples + window, dtype=dtype)
    X_train, y_train = sliding_windows(fn(t_train), window, layout)
    X_test, y_test = sliding_windows(fn(t_test), window, layout)
    return CosDataset(X_train, y_train, X_test, y_test, t_test[window:])
