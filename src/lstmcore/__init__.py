"""lstmcore: a fast CPU LSTM with PyTorch's names, NumPy arrays in and out.

The forward and backward passes over time run as compiled C loops calling BLAS (csrc/); the
NumPy reference in :mod:`lstmcore.reference` is the oracle they are tested against.
"""
from . import interop, layers, losses, optim, reference
from ._version import __version__
from .lstm import LSTM
from .memory import kept_memory, release_memory
from .regressor import LSTMRegressor
from .threads import get_num_threads, num_threads, set_adaptive_threads, set_num_threads

__all__ = ["LSTM", "LSTMRegressor", "interop", "layers", "losses", "optim", "reference",
           "set_num_threads", "get_num_threads", "num_threads", "set_adaptive_threads",
           "release_memory", "kept_memory", "__version__"]
