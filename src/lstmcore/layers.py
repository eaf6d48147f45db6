"""Dense layers that sit on top of the LSTM: the output head of a sequence model.

Shapes: "..." = any leading dimensions (e.g. T, B), I = in_features, O = out_features.
Like :class:`lstmcore.LSTM`, a layer keeps live parameter arrays (optimizers update them in
place), accumulates gradients in ``grads`` (backward adds, ``zero_grad`` clears) and uses
PyTorch's names and layouts, so ``torch.nn.Linear(...).state_dict()`` loads as it is.
"""
import numpy as np

from ._checks import float_array, real_array

_DTYPES = (np.float32, np.float64)
_INITS = ("pytorch", "xavier")


class Linear:
    """``y = x @ weight.T + bias``, as ``torch.nn.Linear``.

    Args:
        in_features: I, size of the last dimension of the input.
        out_features: O, size of the last dimension of the output.
        bias: whether to learn an additive bias.
        dtype: np.float32 or np.float64, the dtype of parameters, grads and outputs.
        seed: seed (or np.random.Generator) for the initial weights.
        init: "pytorch" draws weight and bias from U(-1/sqrt(I), 1/sqrt(I)), torch.nn.Linear's
            default; "xavier" draws the weight from U(-sqrt(6/(I+O)), sqrt(6/(I+O))) with a zero
            bias, the Glorot-uniform head of Keras and TF1.

    Attributes:
        weight: (O, I) live array.
        bias: (O,) live array, or None when ``bias=False``.
        grads: {"weight": (O, I), "bias": (O,)} accumulated by :meth:`backward`.
    """

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32, seed=None,
                 init="pytorch"):
        for name, size in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
                raise TypeError(f"{name} must be an int, got {type(size).__name__}")
            if size < 1:
                raise ValueError(f"{name} must be >= 1, got {size}")
        dtype = np.dtype(dtype).type
        if dtype not in _DTYPES:
            raise TypeError(f"dtype must be np.float32 or np.float64, got {np.dtype(dtype)}")
        if init not in _INITS:
            raise ValueError(f"init must be one of {_INITS}, got {init!r}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.dtype = dtype

        rng = np.random.default_rng(seed)
        shape = (self.out_features, self.in_features)
        # Draw in float64 then round, so one seed gives the same model in either dtype.
        if init == "pytorch":
            bound = 1.0 / np.sqrt(self.in_features)
            self.weight = rng.uniform(-bound, bound, shape).astype(dtype)
            self.bias = (rng.uniform(-bound, bound, self.out_features).astype(dtype)
                         if bias else None)
        else:
            limit = np.sqrt(6.0 / (self.in_features + self.out_features))
            self.weight = rng.uniform(-limit, limit, shape).astype(dtype)
            self.bias = np.zeros(self.out_features, dtype) if bias else None
        self.grads = {name: np.zeros_like(p) for name, p in self.parameters().items()}

    def __repr__(self):
        return (f"Linear(in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, dtype={np.dtype(self.dtype).name})")

    def forward(self, x):
        """Apply the layer and keep what backward needs.

        Args:
            x: (..., I) array of floats or integers, converted to the layer's dtype (booleans,
                complex numbers, strings and objects are refused with a TypeError).

        Returns:
            y: (..., O) array.
            cache: opaque object to pass to :meth:`backward`.
        """
        x = real_array("x", x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"x must have shape (..., {self.in_features}), got {x.shape}")
        return self._forward(np.ascontiguousarray(x, dtype=self.dtype))

    def _forward(self, x):
        """:meth:`forward` of an x known to be contiguous, of the layer's dtype and shape
        (..., I): a sequence model's own features."""
        rows = x.reshape(-1, self.in_features)
        y = rows @ self.weight.T
        if self.bias is not None:
            y += self.bias
        return y.reshape(x.shape[:-1] + (self.out_features,)), (rows, x.shape[:-1])

    def __call__(self, x):
        """Inference: y (..., O) for x (..., I), keeping no cache."""
        return self.forward(x)[0]

    def backward(self, dy, cache):
        """Add the parameter gradients into ``grads`` and return the input gradient.

        Args:
            dy: (..., O) gradient of the loss with respect to y, same leading shape as x;
                floats or integers, as x.
            cache: the cache returned by :meth:`forward`.

        Returns:
            dx: (..., I) gradient of the loss with respect to x.
        """
        lead = cache[1]
        dy = real_array("dy", dy)
        if dy.shape != lead + (self.out_features,):
            raise ValueError(f"dy must have shape {lead + (self.out_features,)}, got {dy.shape}")
        return self._backward(np.ascontiguousarray(dy, dtype=self.dtype), cache)

    def _backward(self, dy, cache):
        """:meth:`backward` of a dy known to be contiguous, of the layer's dtype and y's shape:
        the gradient a trainer's own loss made."""
        rows, lead = cache
        drows = dy.reshape(-1, self.out_features)
        # y = x @ W.T + b
        self.grads["weight"] += drows.T @ rows
        if self.bias is not None:
            self.grads["bias"] += np.add.reduce(drows, axis=0)  # drows.sum(axis=0), unwrapped
        return (drows @ self.weight).reshape(lead + (self.in_features,))

    def parameters(self):
        """{"weight": (O, I), "bias": (O,)}: the live arrays an optimizer updates in place."""
        params = {"weight": self.weight}
        if self.bias is not None:
            params["bias"] = self.bias
        return params

    def zero_grad(self):
        """Set every gradient to zero in place (backward adds into them)."""
        for grad in self.grads.values():
            grad.fill(0)

    def state_dict(self):
        """Copies of the parameters, keyed as ``torch.nn.Linear.state_dict()``."""
        return {name: p.copy() for name, p in self.parameters().items()}

    def load_state_dict(self, state):
        """Copy ``state`` into the live parameter arrays (optimizers keep references to them).

        Raises KeyError for a missing or unexpected key, ValueError for a wrong shape and
        TypeError for an array that does not hold floats, as the LSTM's load_state_dict does;
        every entry is checked before any is written, so a refused state changes nothing.
        """
        params = self.parameters()
        unexpected = sorted(set(state) - set(params))
        if unexpected:
            raise KeyError(f"state has unexpected keys {unexpected}; expected {list(params)}")
        values = {}
        for name, p in params.items():
            if name not in state:
                raise KeyError(f"state is missing {name!r}")
            values[name] = float_array(f"state[{name!r}]", state[name])
            if values[name].shape != p.shape:
                raise ValueError(f"state[{name!r}] must have shape {p.shape}, "
                                 f"got {values[name].shape}")
        for name, p in params.items():
            p[...] = values[name]
