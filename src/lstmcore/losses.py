"""Loss functions that return the loss and its gradient, with PyTorch's mean reduction.

Shapes: N = number of samples (rows), C = number of classes.
Each function returns ``(loss, dpred)``: the loss as a Python float and the gradient of that
loss with respect to the prediction, in the prediction's dtype, ready for a layer's backward.
"""
import numpy as np

from ._checks import integer_array, real_array


def _prediction(value, name):
    """``value`` as a float32/float64 array (integers and float16 become float64; booleans,
    complex numbers, strings and objects are refused with a TypeError)."""
    array = real_array(name, value)
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    if array.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {array.shape}")
    return array


def mse_loss(pred, target):
    """Mean squared error, as ``torch.nn.functional.mse_loss(pred, target)``.

    Args:
        pred: (...) array of floats (integers are read as float64).
        target: array of floats or integers of the same shape, converted to pred's dtype.

    Returns:
        loss: mean((pred - target)**2) as a float.
        dpred: (...) gradient with respect to pred, in pred's dtype.
    """
    pred = _prediction(pred, "pred")
    target = real_array("target", target)
    if target.shape != pred.shape:
        raise ValueError(f"target must have the shape of pred {pred.shape}, got {target.shape}")
    diff = pred - target.astype(pred.dtype, copy=False)
    total = np.add.reduce(diff * diff, axis=None)
    # np.mean's steps without its Python wrapper and NumPy scalar arithmetic: the sum in
    # pred's dtype, divided by the count in float64, rounded back to pred's dtype
    loss = float(total.dtype.type(float(total) / pred.size))
    diff *= 2.0 / pred.size  # dpred
    return loss, diff


def cross_entropy(logits, target):
    """Softmax cross-entropy over class indices, as ``torch.nn.functional.cross_entropy``.

    Args:
        logits: (N, C) array of unnormalised scores, floats (integers are read as float64).
        target: (N,) integer class indices in [0, C).

    Returns:
        loss: mean over the N rows of -log softmax(logits)[target] as a float.
        dlogits: (N, C) gradient with respect to logits, (softmax - onehot(target)) / N.
    """
    logits = _prediction(logits, "logits")
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (N, C), got {logits.shape}")
    n, c = logits.shape
    target = integer_array("target", target)
    if target.shape != (n,):
        raise ValueError(f"target must have shape ({n},), got {target.shape}")
    if target.min() < 0 or target.max() >= c:
        raise ValueError(f"target must hold class indices in [0, {c}), got values in "
                         f"[{target.min()}, {target.max()}]")
    # Subtracting the row maximum keeps exp() from overflowing; softmax is unchanged by it.
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    log_prob = shifted[rows, target] - np.log(total[:, 0])
    loss = -float(np.mean(log_prob))
    dlogits = exp / total
    dlogits[rows, target] -= 1
    dlogits *= 1.0 / n
    return loss, dlogits
