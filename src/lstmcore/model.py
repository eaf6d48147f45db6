"""A sequence model that chains an LSTM into a Linear head, and the initialisation schemes.

``SequenceModel(lstm, head, output="last")`` feeds the head the final layer's last hidden state
(h_n of both directions, so it respects ``lengths``); ``output="all"`` feeds it every step.
:func:`build_model` makes one with PyTorch's, Keras's or TF1's initialisation.
"""
import functools
from itertools import chain
from typing import NamedTuple

import numpy as np

from ._checks import float_array, real_array
from .layers import Linear

__all__ = ["ModelCache", "SequenceModel", "build_model"]

OUTPUTS = ("last", "all")
INITS = ("pytorch", "keras", "tf1")


class ModelCache(NamedTuple):
    """What :meth:`SequenceModel.backward` needs from a forward pass.

    ``state`` is the LSTM's final (h_n, c_n): stateful training carries it into the next chunk.
    """
    lstm: object
    head: object
    state: tuple
    y_shape: tuple
    mask: object  # (T, B, 1) or (B, T, 1) 0/1 steps within `lengths` for output="all", or None


class SequenceModel:
    """LSTM -> Linear.

    x is in the LSTM's layout: (T, B, I), or (B, T, I) when ``lstm.batch_first``.
    output="last": pred (B, K) from the final layer's h_n, directions concatenated (B, D*Hout).
    output="all":  pred (T, B, K) (or (B, T, K)) from every step of y; with ``lengths``, pred is
    zero past each sequence's length and those steps send no gradient back.
    """

    def __init__(self, lstm, head, output="last"):
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        self.lstm = lstm
        self.head = head
        self.output = output

    @property
    def dtype(self):
        return self.lstm.dtype

    @property
    def batch_first(self):
        return self.lstm.batch_first

    def __call__(self, x, hx=None, lengths=None):
        """Inference: pred only, no cache kept."""
        y, (h_n, _) = self.lstm(x, hx=hx, lengths=lengths)
        pred, _ = self._head_forward(y, h_n, lengths)
        return pred

    def forward(self, x, hx=None, lengths=None, training=True):
        """Returns (pred, cache); ``cache.state`` is the LSTM's (h_n, c_n)."""
        y, state, lstm_cache = self.lstm.forward(x, hx=hx, lengths=lengths, training=training)
        pred, (head_cache, mask) = self._head_forward(y, state[0], lengths)
        return pred, ModelCache(lstm_cache, head_cache, state, y.shape, mask)

    def backward(self, dpred, cache):
        """Adds into the LSTM's and the head's grads; returns the LSTM's (dx, (dh0, dc0)).

        dpred has pred's shape; integers are read as floats, other dtypes are refused.
        """
        return self._backward(real_array("dpred", dpred), cache, self.head.backward)

    def _backward(self, dpred, cache, head_backward=None):
        """:meth:`backward` of a dpred known to be a contiguous array of pred's dtype and
        shape (a trainer's own loss made it) unless ``head_backward`` is the head's checking
        backward."""
        if head_backward is None:
            head_backward = (self.head._backward if type(self.head) is Linear
                             else self.head.backward)
        if self.output == "last":
            dfeat = head_backward(dpred, cache.head)
            h_n = cache.state[0]
            d = self.lstm.num_directions
            if len(h_n) == d == 1 and getattr(dfeat, "dtype", None) == h_n.dtype:
                # one layer, one direction: dh_n is all dfeat, no zeros to fill in
                dh_n = dfeat.reshape(h_n.shape)
            else:
                dh_n = np.zeros_like(h_n)
                p = h_n.shape[2]
                for j in range(d):  # feat[:, j*P:(j+1)*P] is h_n[-d + j]
                    dh_n[j - d] = dfeat[:, j * p:(j + 1) * p]
            return self.lstm.backward(None, cache.lstm, dh_n=dh_n)
        if cache.mask is not None:
            dpred = dpred * cache.mask
        dy = head_backward(dpred.reshape(-1, dpred.shape[-1]), cache.head)
        return self.lstm.backward(dy.reshape(cache.y_shape), cache.lstm)

    def _head_forward(self, y, h_n, lengths):
        if self.output == "last":
            d = self.lstm.num_directions
            feat = h_n[-d:].transpose(1, 0, 2).reshape(h_n.shape[1], -1)
            pred, head_cache = self._head_of(feat)
            return pred, (head_cache, None)
        flat, head_cache = self._head_of(y.reshape(-1, y.shape[-1]))
        pred = flat.reshape(y.shape[:-1] + flat.shape[-1:])
        mask = None
        if lengths is not None:
            t_axis = 1 if self.batch_first else 0
            steps = np.arange(y.shape[t_axis])
            valid = steps[None, :] < np.asarray(lengths)[:, None]  # (B, T)
            mask = (valid if self.batch_first else valid.T)[..., None].astype(pred.dtype)
            pred *= mask
        return pred, (head_cache, mask)

    def _head_of(self, feat):
        """The head's forward of the LSTM's features, unchecked when the head is a Linear (not
        a subclass, which may override forward) and the features are already laid out as it
        takes them."""
        head = self.head
        if (type(head) is Linear and feat.dtype == head.dtype and feat.flags.c_contiguous
                and feat.shape[-1] == head.in_features):
            return head._forward(feat)
        return head.forward(feat)

    def parameters(self):
        """name -> live array, names prefixed "lstm." and "head."."""
        return self._prefixed(self.lstm.parameters(), self.head.parameters())

    def grads(self):
        """name -> live gradient array, same names as :meth:`parameters`."""
        return self._prefixed(self.lstm.grads, self.head.grads)

    def zero_grad(self):
        self.lstm.zero_grad()
        self.head.zero_grad()

    def state_dict(self):
        """name -> copy of each parameter."""
        return self._prefixed(self.lstm.state_dict(), self.head.state_dict())

    def load_state_dict(self, state):
        """Writes ``state`` (names as :meth:`state_dict`) into the live parameters.

        Every entry is checked before any is written, so a refused state leaves the model as
        it was: KeyError names missing and unexpected keys, ValueError an array of the wrong
        shape, TypeError one that does not hold floats.
        """
        if not hasattr(state, "keys") or not hasattr(state, "__getitem__"):
            raise TypeError(f"state must be a mapping of names to arrays, "
                            f"got {type(state).__name__}")
        params = self.parameters()
        missing = sorted(set(params) - set(state))
        unexpected = sorted(set(state) - set(params))
        if missing or unexpected:
            raise KeyError(f"state does not match the model: missing {missing}, "
                           f"unexpected {unexpected}")
        parts = {"lstm": {}, "head": {}}
        for name, p in params.items():
            value = float_array(f"state[{name!r}]", state[name])
            if value.shape != p.shape:
                raise ValueError(f"state[{name!r}] must have shape {p.shape}, got {value.shape}")
            part, _, key = name.partition(".")
            parts[part][key] = value
        # The parts check what was checked above, so the head cannot refuse after the LSTM
        # has loaded.
        self.lstm.load_state_dict(parts["lstm"])
        self.head.load_state_dict(parts["head"])

    @staticmethod
    def _prefixed(lstm_part, head_part):
        names = _prefixed_names(tuple(lstm_part), tuple(head_part))
        return dict(zip(names, chain(lstm_part.values(), head_part.values())))


@functools.lru_cache(maxsize=64)
def _prefixed_names(lstm_names, head_names):
    """The names of SequenceModel.parameters(), made once per model shape: the trainer asks
    for the grads at every step."""
    return tuple(f"lstm.{k}" for k in lstm_names) + tuple(f"head.{k}" for k in head_names)


def build_model(input_size, hidden_size, output_size=1, num_layers=1, output="last",
                init="pytorch", bidirectional=False, dropout=0.0, batch_first=True,
                dtype=np.float32, seed=None):
    """A :class:`SequenceModel` initialised as PyTorch, Keras or TF1 would.

    init="pytorch": the LSTM's and Linear's own default (uniform +-1/sqrt(fan)).
    init="keras":   kernel (I, 4H) glorot-uniform, recurrent kernel (H, 4H) orthogonal, bias zero
                    but 1 on the forget gate (unit_forget_bias); head xavier-uniform, bias zero.
    init="tf1":     BasicLSTMCell: one glorot-uniform kernel over the joint [x, h] input
                    (I + H, 4H), zero bias, forget_bias=1.0 folded into the forget gate's bias;
                    head xavier-uniform, bias zero (tf.contrib.layers.fully_connected).
    """
    from .layers import Linear
    from .lstm import LSTM

    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    lstm_seed, head_seed, init_seed = (int(s.generate_state(1)[0])
                                       for s in np.random.SeedSequence(seed).spawn(3))
    lstm = LSTM(input_size, hidden_size, num_layers=num_layers, batch_first=batch_first,
                dropout=dropout, bidirectional=bidirectional, dtype=dtype, seed=lstm_seed)
    head_init = "pytorch" if init == "pytorch" else "xavier"
    head = Linear(lstm.num_directions * hidden_size, output_size, dtype=dtype, seed=head_seed,
                  init=head_init)
    if init != "pytorch":
        rng = np.random.default_rng(init_seed)
        make = _tf1_layer if init == "tf1" else _keras_layer
        state = {}
        for layer in range(num_layers):
            fan_in = input_size if layer == 0 else lstm.num_directions * hidden_size
            for suffix in ("", "_reverse")[:lstm.num_directions]:
                for name, value in make(rng, fan_in, hidden_size, dtype).items():
                    state[f"{name}_l{layer}{suffix}"] = value
        lstm.load_state_dict(state)
        head_state = head.state_dict()
        head_state["bias"] = np.zeros_like(head_state["bias"])
        head.load_state_dict(head_state)
    return SequenceModel(lstm, head, output=output)


def _glorot_uniform(rng, fan_in, fan_out):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_in, fan_out))


def _tf1_layer(rng, input_size, hidden_size, dtype):
    """One direction of one layer, from a TF1 BasicLSTMCell kernel (gates i, j, f, o)."""
    from .interop import from_tf1

    kernel = _glorot_uniform(rng, input_size + hidden_size, 4 * hidden_size)
    bias = np.zeros(4 * hidden_size)
    cell = from_tf1(kernel, bias, forget_bias=1.0, dtype=dtype)
    return {name[:-len("_l0")]: value for name, value in cell.state_dict().items()}


def _keras_layer(rng, input_size, hidden_size, dtype):
    """One direction of one layer as keras.layers.LSTM initialises it (gates i, f, c, o)."""
    h = hidden_size
    kernel = _glorot_uniform(rng, input_size, 4 * h)
    # keras.initializers.Orthogonal for (H, 4H): QR of a (4H, H) normal matrix, signs fixed by
    # diag(R), transposed so the H rows are orthonormal.
    q, r = np.linalg.qr(rng.standard_normal((4 * h, h)))
    recurrent_kernel = (q * np.sign(np.diag(r))).T
    bias = np.zeros(4 * h)
    bias[h:2 * h] = 1.0
    return {"weight_ih": kernel.T.astype(dtype), "weight_hh": recurrent_kernel.T.astype(dtype),
            "bias_ih": bias.astype(dtype), "bias_hh": np.zeros(4 * h, dtype)}
