"""Weights in and out of PyTorch, Keras, TensorFlow 1 and ONNX.

NumPy arrays in and out. A framework is imported only inside the function that needs it, so
importing this package never imports torch, onnx or onnxruntime.

- :func:`from_torch` / :func:`to_torch`: ``torch.nn.LSTM`` modules, every option.
- :func:`from_keras` / :func:`to_keras`: the arrays of Keras ``LSTM`` (and ``Bidirectional``)
  layers' ``get_weights()``, one list per layer.
- :func:`from_tf1`: TensorFlow 1 ``BasicLSTMCell``/``LSTMCell`` kernels, ``forget_bias`` folded in.
- :func:`to_onnx` / :func:`from_onnx`: ONNX files with one ``LSTM`` node per layer.
"""
from ._keras import from_keras, from_tf1, to_keras
from ._onnx import from_onnx, to_onnx
from ._torch import from_torch, to_torch

__all__ = ["from_keras", "from_onnx", "from_tf1", "from_torch", "to_keras", "to_onnx", "to_torch"]
