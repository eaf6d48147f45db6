"""Benchmarks of lstmcore against the NumPy reference, PyTorch and ONNX Runtime.

:func:`main` is ``python -m lstmcore bench``; :mod:`.shapes` holds the benchmark shapes and
their flop counts, :mod:`.peers` the step function of each implementation, :mod:`.worker` the
process a peer runs in, :mod:`.report` the tables and the JSON file.
"""
from .run import main

__all__ = ["main"]
