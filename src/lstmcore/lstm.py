"""class LSTM: PyTorch's ``torch.nn.LSTM`` on NumPy arrays, run by the C core.

Letters: T time steps, B batch, I input size, H hidden size, P output size of one direction
(proj_size, or H without projection), D directions (1 or 2), L layers, N packed rows.

Inside, sequences are packed time-major as PyTorch's PackedSequence (see csrc/lstm.h): with
``lengths`` the batch is sorted by decreasing length and the steps past each length are left
out, so no work is spent on padding. Layers hand packed arrays to each other; only the user's
arrays are padded.
"""
import numbers

import numpy as np

from . import _core
from ._checks import (BLAS_INT_MAX, check_flag, check_int, check_lengths, check_memory,
                      float_array, float_dtype, memory_size)

__all__ = ["LSTM", "LSTMCache"]

# Bytes of Python objects (arrays, names, dict slots) per parameter, for the memory check.
_PER_ARRAY_BYTES = 1024


class LSTMCache:
    """What :meth:`LSTM.backward` needs from one training forward. Consumed by one backward.

    Treat as opaque. It holds the packed inputs and outputs of every layer, the C core's saved
    gates and cells per layer and direction, the dropout masks and the batch's packing.
    """

    __slots__ = ("owner", "packing", "layers", "dropout_masks", "h0", "c0", "user_shape",
                 "consumed")

    def __init__(self, owner, packing, layers, masks, h0, c0, user_shape):
        self.owner = owner            # _token of the model that made it
        self.packing = packing        # _Packing of the batch
        self.layers = layers          # per layer: (x_in (N, I_k), y (N, D*P), [core caches])
        self.dropout_masks = masks    # per layer k>0: packed mask (N, D*P) or None
        self.h0, self.c0 = h0, c0     # packed-order initial states or None
        self.user_shape = user_shape  # (batched, batch_first) of the input
        self.consumed = False


class _Packing:
    """How a padded (T, B, ...) batch maps to packed rows, and back.

    Without lengths (or all full) the padded array is already packed: no copies are made.
    With lengths, the rows of step t are the ``batch_sizes[t]`` longest sequences, in ``order``
    (sequence indices by decreasing length, ties in batch order); the binding's pack_rows and
    unpack_rows copy between the layouts in one pass each.
    """

    __slots__ = ("T", "B", "batch_sizes", "packed", "rows", "order")

    def __init__(self, T, B, lengths):
        self.T, self.B = T, B
        self.batch_sizes = None
        self.packed = False
        self.rows = T * B
        packing = None if lengths is None else _core.packing_order(lengths, T)
        if packing is None:  # no lengths, or all full
            return
        self.packed = True
        self.order, self.batch_sizes, self.rows = packing

    def pack(self, a):
        """(T, B, X) -> (N, X), contiguous. ``a`` may be a transposed (B, T, X) array."""
        T, B, X = a.shape
        if not self.packed:
            return (a if a.flags.c_contiguous else np.ascontiguousarray(a)).reshape(self.rows, X)
        # The row of (t, b) is t * B + b time-major, b * T + t batch-major.
        if a.flags.c_contiguous:
            rows, strides = a.reshape(T * B, X), (B, 1)
        elif a.transpose(1, 0, 2).flags.c_contiguous:
            rows, strides = a.transpose(1, 0, 2).reshape(B * T, X), (1, T)
        else:
            rows, strides = np.ascontiguousarray(a).reshape(T * B, X), (B, 1)
        out = _core.empty((self.rows, X), a.dtype)
        _core.pack_rows(rows, out, *strides, self.order, self.batch_sizes)
        return out

    def unpack(self, rows, batch_major=False):
        """(N, X) -> (T, B, X), or (B, T, X) contiguous with ``batch_major``; zeros past each
        length."""
        T, B, X = self.T, self.B, rows.shape[1]
        if not self.packed:
            out = rows.reshape(T, B, X)
            return _contiguous(out.transpose(1, 0, 2)) if batch_major else out
        out = _core.empty((B, T, X) if batch_major else (T, B, X), rows.dtype)
        strides = (1, T) if batch_major else (B, 1)
        _core.unpack_rows(rows, out.reshape(T * B, X), *strides, self.order, self.batch_sizes)
        return out

    def sort_state(self, state):
        """(L*D, B, X) in the user's batch order -> packed order, contiguous."""
        if state is None or not self.packed:
            return state
        LD, B, X = state.shape
        out = np.empty(state.shape, state.dtype)
        _core.pack_rows(np.ascontiguousarray(state).reshape(LD * B, X), out.reshape(LD * B, X),
                        B, 1, self.order, None)
        return out

    def unsort_state(self, state):
        """The inverse of sort_state."""
        if not self.packed:
            return state
        LD, B, X = state.shape
        out = np.empty(state.shape, state.dtype)
        _core.unpack_rows(np.ascontiguousarray(state).reshape(LD * B, X), out.reshape(LD * B, X), B, 1, self.order,
                          None)
        return out


class LSTM:
    """A multi-layer LSTM with the arguments, weights and shapes of ``torch.nn.LSTM``.

    Parameters (PyTorch's names, shapes and gate order i, f, g, o; k is the layer):
        weight_ih_l{k} (4H, I for k=0 else D*P), weight_hh_l{k} (4H, P), bias_ih_l{k} and
        bias_hh_l{k} (4H,) when ``bias``, weight_hr_l{k} (P, H) when ``proj_size`` > 0; the
        backward direction's carry the suffix ``_reverse``. All start as U(-1/sqrt(H),
        1/sqrt(H)), as PyTorch's, drawn from ``seed``.

    Shapes: x (T, B, I), or (B, T, I) with ``batch_first``, or unbatched (T, I); hx = (h0, c0)
    with h0 (L*D, B, P) and c0 (L*D, B, H) (no B axis when unbatched); y (T, B, D*P) (batch
    first with ``batch_first``); h_n, c_n as h0, c0. ``lengths`` (B,) gives each sequence's
    true length with PyTorch's packed-sequence semantics.

    ``dropout`` zeroes outputs of every layer but the last in training forwards, with masks
    drawn from the model's generator (seeded by ``seed``); inference never drops.

    Empty input (T = 0 or B = 0) and zero lengths are refused with a ValueError, as PyTorch
    refuses empty sequences. Inputs of another float dtype are converted; booleans, integers,
    complex numbers and objects are refused with a TypeError. NaN and Inf propagate as IEEE
    arithmetic says. Sizes the C core cannot index with BLAS's 32-bit ints (4H or T*B past
    2**31 - 1) raise ValueError, and models or calls that need more than the machine's memory
    raise MemoryError before anything is allocated.

    Inference calls may run from many threads at once (they release the GIL and share only
    the weights); training calls use per-model gradient buffers and belong to one thread.
    Models pickle and deep-copy; a copy is a separate model, so a cache made by the original
    is refused by the copy.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, dtype=np.float32, seed=None):
        self.input_size = check_int("input_size", input_size, minimum=1, maximum=BLAS_INT_MAX)
        self.hidden_size = check_int("hidden_size", hidden_size, minimum=1)
        if 4 * self.hidden_size > BLAS_INT_MAX:
            raise ValueError(f"hidden_size must be at most {BLAS_INT_MAX // 4}, so that 4 * "
                             f"hidden_size fits BLAS's 32-bit sizes, got {hidden_size}")
        self.num_layers = check_int("num_layers", num_layers, minimum=1)
        self.proj_size = check_int("proj_size", proj_size, minimum=0)
        if self.proj_size >= self.hidden_size:
            raise ValueError(f"proj_size must be smaller than hidden_size={hidden_size}, "
                             f"got {proj_size}")
        if isinstance(dropout, (bool, np.bool_)) or not isinstance(dropout, numbers.Real):
            raise TypeError(f"dropout must be a number in [0, 1], got {dropout!r}")
        if not 0 <= dropout <= 1:
            raise ValueError(f"dropout must be a number in [0, 1], got {dropout!r}")
        self.dropout = float(dropout)
        self.bias = check_flag("bias", bias)
        self.batch_first = check_flag("batch_first", batch_first)
        self.bidirectional = check_flag("bidirectional", bidirectional)
        self.dtype = float_dtype("dtype", dtype)
        try:
            self._rng = np.random.default_rng(seed)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"seed must be None, a non-negative integer or a "
                            f"numpy.random.Generator, got {seed!r}: {exc}") from None
        self._token = object()  # identifies this model's caches; copies get their own
        self._check_model_memory()

        bound = 1.0 / np.sqrt(self.hidden_size)
        self._params = {name: self._rng.uniform(-bound, bound, shape).astype(self.dtype)
                        for name, shape in self._param_shapes().items()}
        self.grads = {name: np.zeros_like(p) for name, p in self._params.items()}
        self._derive()

    # ---- structure ------------------------------------------------------------------------
    @property
    def num_directions(self):
        return 2 if self.bidirectional else 1

    @property
    def output_size(self):
        """P: the size of h in one direction (proj_size, or hidden_size without projection)."""
        return self.proj_size or self.hidden_size

    def _check_model_memory(self):
        """MemoryError, before allocating, for parameters and grads past the machine's memory.

        Counted from the sizes, not from ``_param_shapes``: with an absurd num_layers even the
        dict of shapes would not fit.
        """
        L, D, I = self.num_layers, self.num_directions, self.input_size
        H, P, G = self.hidden_size, self.output_size, 4 * self.hidden_size
        per_layer = G * P + (2 * G if self.bias else 0) + (P * H if self.proj_size else 0)
        count = D * (G * I + (L - 1) * G * D * P + L * per_layer)
        arrays = 2 * L * D * (2 + 2 * self.bias + (self.proj_size > 0))
        # params and grads, plus the float64 draw of the largest weight before its conversion
        nbytes = (2 * count * np.dtype(self.dtype).itemsize + 8 * G * max(I, D * P)
                  + arrays * _PER_ARRAY_BYTES)
        check_memory(f"{self!r}'s parameters and gradients", nbytes)

    def _param_shapes(self):
        """Parameter names and shapes in PyTorch's order."""
        H, P, G = self.hidden_size, self.output_size, 4 * self.hidden_size
        shapes = {}
        for k in range(self.num_layers):
            layer_input = self.input_size if k == 0 else self.num_directions * P
            for d in range(self.num_directions):
                sfx = _suffix(k, d)
                shapes["weight_ih" + sfx] = (G, layer_input)
                shapes["weight_hh" + sfx] = (G, P)
                if self.bias:
                    shapes["bias_ih" + sfx] = (G,)
                    shapes["bias_hh" + sfx] = (G,)
                if self.proj_size:
                    shapes["weight_hr" + sfx] = (P, H)
        return shapes

    def _names_by_layer(self):
        """Per layer and direction (index k*D + d): the names of w_ih, w_hh, b_ih, b_hh, w_hr,
        None where the model has no such parameter.

        Forward and backward look arrays up by these names on every call, ``map(arrays.get,
        names)``, rather than keeping the arrays: a parameter or grad rebound in its dict is
        then seen by the next call. ``get`` gives None for a None name, and for a grad taken out
        of ``grads``, which is then not accumulated.
        """
        optional = {"bias_ih": self.bias, "bias_hh": self.bias, "weight_hr": self.proj_size > 0}
        return [tuple(name + _suffix(k, d) if optional.get(name, True) else None
                      for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"))
                for k in range(self.num_layers) for d in range(self.num_directions)]

    def __repr__(self):
        extra = "".join(f", {name}={getattr(self, name)!r}" for name, default in (
            ("num_layers", 1), ("bias", True), ("batch_first", False), ("dropout", 0.0),
            ("bidirectional", False), ("proj_size", 0)) if getattr(self, name) != default)
        return (f"LSTM({self.input_size}, {self.hidden_size}{extra}, "
                f"dtype={np.dtype(self.dtype).name})")

    # ---- parameters -----------------------------------------------------------------------
    def parameters(self):
        """Name -> the live parameter arrays (an optimizer updates them in place)."""
        return dict(self._params)

    def state_dict(self):
        """Name -> a copy of each parameter, as ``torch.nn.LSTM.state_dict()``."""
        return {name: p.copy() for name, p in self._params.items()}

    def load_state_dict(self, state_dict):
        """Copy parameters in (converted to the model's dtype), checking names and shapes.

        Accepts a ``torch.nn.LSTM`` state dict with tensors turned into arrays (``.numpy()``).
        """
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"state_dict must be a mapping of names to arrays, "
                            f"got {type(state_dict).__name__}")
        missing = sorted(set(self._params) - set(state_dict))
        unexpected = sorted(set(state_dict) - set(self._params))
        if missing or unexpected:
            raise KeyError(f"state_dict does not match this model: missing {missing}, "
                           f"unexpected {unexpected}")
        converted = {}
        for name, p in self._params.items():
            value = float_array(f"state_dict[{name!r}]", state_dict[name])
            if value.shape != p.shape:
                raise ValueError(f"state_dict[{name!r}] must have shape {p.shape}, "
                                 f"got {value.shape}")
            converted[name] = value.astype(self.dtype, copy=False)
        for name, value in converted.items():  # all checked first: no half-loaded model
            np.copyto(self._params[name], value)

    def zero_grad(self):
        for g in self.grads.values():
            g.fill(0)

    # ---- forward --------------------------------------------------------------------------
    def __call__(self, x, hx=None, lengths=None):
        """Inference: returns ``y, (h_n, c_n)`` and keeps nothing for backward."""
        y, state, _ = self._forward(x, hx, lengths, training=False)
        return y, state

    def forward(self, x, hx=None, lengths=None, training=True):
        """Returns ``y, (h_n, c_n), cache``; the cache (None when not training) feeds backward.

        Training mode applies dropout and saves the activated gates and cell states of every
        layer. The returned ``y`` may share memory with the cache: modify a copy of it.
        """
        return self._forward(x, hx, lengths, training=bool(training))

    def step(self, x_t, state=None):
        """Advance one time step for streaming inference: returns ``y_t, (h, c)``.

        x_t (B, I), or unbatched (I,), whatever ``batch_first``; state (h, c) with h_n's and
        c_n's shapes, as returned by the previous step or call, or None for zeros; y_t (B, P),
        or (P,) unbatched. Feeding a sequence one step at a time gives the outputs and final
        state of the whole-sequence call. Inference only: no dropout, nothing kept for
        backward. Bidirectional models are refused: their reverse direction starts from the
        end of the sequence.
        """
        if self.bidirectional:
            raise ValueError("step() needs a unidirectional model: the reverse direction of a "
                             "bidirectional LSTM reads each sequence from its last step, so it "
                             "cannot advance one step at a time; call the model on the whole "
                             "sequence instead")
        x_t = float_array("x_t", x_t)
        if x_t.ndim not in (1, 2) or x_t.shape[-1] != self.input_size or x_t.size == 0:
            raise ValueError(f"x_t must be 2-D (B, I) with B >= 1 or unbatched 1-D (I,), with "
                             f"I = input_size = {self.input_size}, got shape {x_t.shape}")
        # One time step in the layout the model reads: (1, I), (1, B, I) or (B, 1, I).
        time_axis = 1 if x_t.ndim == 2 and self.batch_first else 0
        y, state, _ = self._forward(np.expand_dims(x_t, time_axis), state, None, False,
                                    hx_name="state")
        return np.squeeze(y, time_axis), state

    def _forward(self, x, hx, lengths, training, hx_name="hx"):
        if self._single and lengths is None and hx is None and not self.batch_first:
            # The usual call in one step (_core.single_forward), when x is already what the
            # core reads; None sends anything else through the general path below.
            w_ih, w_hh, b_ih, b_hh, _ = map(self._params.get, self._layer_names[0])
            out = _core.single_forward(x, w_ih, w_hh, b_ih, b_hh, self._row_bytes[training],
                                       memory_size(), training)
            if out is not None:
                y, h_n, c_n, core_cache = out
                cache = None
                if training:
                    T, B, I = x.shape
                    cache = LSTMCache(self._token, _Packing(T, B, None),
                                      [(x.reshape(T * B, I), y.reshape(T * B, -1), [core_cache])],
                                      [None], None, None, (True, False))
                return y, (h_n, c_n), cache
        x, batched = self._input(x, training)
        T, B = x.shape[0], x.shape[1]
        if lengths is None and hx is None:  # the usual call: nothing to check or sort
            h0 = c0 = None
            packing = _Packing(T, B, None)
        else:
            lengths = _check_lengths(lengths, T, B, batched)
            h0, c0 = self._initial_state(hx, B, batched, hx_name)
            packing = _Packing(T, B, lengths)
            h0, c0 = packing.sort_state(h0), packing.sort_state(c0)

        L, D, P, H = self.num_layers, self.num_directions, self.output_size, self.hidden_size
        h_n = _core.empty((L * D, B, P), self.dtype)
        c_n = _core.empty((L * D, B, H), self.dtype)
        layer_in = packing.pack(x)
        layers, masks = [], []
        for k in range(L):
            mask = None
            if k > 0 and training and self.dropout > 0:
                mask = packing.pack(self._dropout_mask(T, B))
                layer_in = layer_in * mask
            masks.append(mask)
            y = _core.empty((packing.rows, D * P), self.dtype)
            core_caches = []
            for d in range(D):
                index = k * D + d
                w_ih, w_hh, b_ih, b_hh, w_hr = map(self._params.get, self._layer_names[index])
                core_caches.append(_core.layer_forward(
                    layer_in, y, d * P, h_n[index], c_n[index], w_ih, w_hh, b_ih, b_hh, w_hr,
                    None if h0 is None else h0[index], None if c0 is None else c0[index],
                    packing.batch_sizes, T, d == 1, training))
            layers.append((layer_in, y, core_caches))
            layer_in = y

        y = packing.unpack(layer_in, batch_major=batched and self.batch_first)
        if packing.packed:
            h_n, c_n = packing.unsort_state(h_n), packing.unsort_state(c_n)
        if not batched:
            y, h_n, c_n = y[:, 0], h_n[:, 0], c_n[:, 0]
        cache = None
        if training:
            cache = LSTMCache(self._token, packing, layers, masks, h0, c0,
                              (batched, self.batch_first))
        return y, (h_n, c_n), cache

    def _dropout_mask(self, T, B):
        """(T, B, D*P) inverted-dropout mask, drawn in the padded layout so that it does not
        depend on how the batch is packed."""
        keep = self._rng.random((T, B, self.num_directions * self.output_size)) >= self.dropout
        scale = 0.0 if self.dropout == 1 else 1.0 / (1.0 - self.dropout)
        return (keep * scale).astype(self.dtype)

    # ---- backward -------------------------------------------------------------------------
    def backward(self, dy, cache, dh_n=None, dc_n=None):
        """Backpropagate through one training forward; adds into ``self.grads``.

        dy has y's shape (or None when only dh_n/dc_n carry gradient); dh_n, dc_n have
        h_n's and c_n's shapes or are None. Returns ``dx, (dh0, dc0)`` with x's and h0's, c0's
        shapes. Uses the current weights: call it before an optimizer changes them.
        """
        if not isinstance(cache, LSTMCache):
            raise TypeError(f"cache must be the LSTMCache returned by forward(training=True), "
                            f"got {type(cache).__name__}")
        if cache.owner is not self._token:
            raise ValueError("cache was made by another model's forward (a copy or an unpickled "
                             "model is another model)")
        if cache.consumed:
            raise ValueError("cache was already used by a backward: run forward again")
        packing = cache.packing
        if (self._single and dh_n is None and dc_n is None and cache.h0 is None
                and not packing.packed and cache.user_shape == (True, False)):
            # The usual call in one step (_core.single_backward), when dy is already what the
            # core reads; None (nothing written) sends anything else through the general path.
            layer_in, y, core_caches = cache.layers[0]
            names = self._layer_names[0]
            w_ih, w_hh, _, _, _ = map(self._params.get, names)
            dw_ih, dw_hh, db_ih, db_hh, _ = map(self.grads.get, names)
            out = _core.single_backward(dy, layer_in, y, core_caches[0], dw_ih, dw_hh, db_ih,
                                        db_hh, w_ih, w_hh, cache)
            if out is not None:
                dx, dh0, dc0 = out
                return dx, (dh0, dc0)
        T, B = packing.T, packing.B
        L, D, P, H = self.num_layers, self.num_directions, self.output_size, self.hidden_size
        batched, batch_first = cache.user_shape

        d_out = None
        if dy is not None:
            dy = self._user_grad("dy", dy, (T, B, D * P), batched, batch_first)
            d_out = packing.pack(dy)
        if dh_n is not None or dc_n is not None:
            dh_n = packing.sort_state(self._state_grad("dh_n", dh_n, (L * D, B, P), batched))
            dc_n = packing.sort_state(self._state_grad("dc_n", dc_n, (L * D, B, H), batched))

        cache.consumed = True  # the C core overwrites the saved gates from here on
        dh0 = _core.empty((L * D, B, P), self.dtype)
        dc0 = _core.empty((L * D, B, H), self.dtype)
        for k in reversed(range(L)):
            layer_in, y, core_caches = cache.layers[k]
            d_in = _core.empty(layer_in.shape, self.dtype)
            for d in range(D):
                index = k * D + d
                names = self._layer_names[index]
                w_ih, w_hh, _, _, w_hr = map(self._params.get, names)
                _core.layer_backward(
                    d_in, d == 1, dh0[index], dc0[index], *map(self.grads.get, names),
                    d_out, d * P,
                    None if dh_n is None else dh_n[index], None if dc_n is None else dc_n[index],
                    core_caches[d], y, d * P, layer_in,
                    None if cache.h0 is None else cache.h0[index],
                    None if cache.c0 is None else cache.c0[index],
                    w_ih, w_hh, w_hr, packing.batch_sizes, T, d == 1)
            if cache.dropout_masks[k] is not None:
                d_in *= cache.dropout_masks[k]
            d_out = d_in

        dx = packing.unpack(d_out, batch_major=batched and batch_first)
        if packing.packed:
            dh0, dc0 = packing.unsort_state(dh0), packing.unsort_state(dc0)
        if not batched:
            dx, dh0, dc0 = dx[:, 0], dh0[:, 0], dc0[:, 0]
        return dx, (dh0, dc0)

    # ---- copies ---------------------------------------------------------------------------
    def __getstate__(self):
        state = self.__dict__.copy()
        del state["_token"]
        for name in self._DERIVED:  # made anew by _derive
            del state[name]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._token = object()  # a copy is another model: the original's caches do not fit it
        self._derive()

    _DERIVED = ("_layer_names", "_row_bytes", "_single")

    def _derive(self):
        """The attributes worked out from the configuration (_DERIVED), at construction and
        when unpickled: pickles leave them out."""
        self._layer_names = self._names_by_layer()
        self._row_bytes = self._call_row_bytes()
        # one layer, one direction, no projection: the usual call runs in _core's single_*
        self._single = self.num_layers == 1 and not self.bidirectional and not self.proj_size

    # ---- argument handling ----------------------------------------------------------------
    def _input(self, x, training):
        """x -> time-major (T, B, I) contiguous in the model's dtype, and whether batched.

        Every size is checked before x is converted: a broadcast view may stand for an array
        larger than memory.
        """
        x = float_array("x", x)
        given_shape = x.shape  # errors quote the shape as the caller gave it
        if x.ndim == 2:
            batched = False
            x = x[:, None, :]
        elif x.ndim == 3:
            batched = True
            if self.batch_first:
                x = x.transpose(1, 0, 2)
        else:
            layout = "(B, T, I)" if self.batch_first else "(T, B, I)"
            raise ValueError(f"x must be 3-D {layout} or unbatched 2-D (T, I), "
                             f"got shape {x.shape}")
        T, B, I = x.shape
        if I != self.input_size:
            raise ValueError(f"x must have input_size={self.input_size} features in its last "
                             f"axis, got shape {given_shape}")
        if T == 0 or B == 0:
            raise ValueError(f"x must hold at least one time step and one sequence, "
                             f"got shape {given_shape}")
        if T * B > BLAS_INT_MAX:
            raise ValueError(f"x holds T * B = {T * B} rows, more than the {BLAS_INT_MAX} "
                             f"that BLAS's 32-bit sizes can index; split the batch")
        self._check_call_memory(T * B, training)
        return _contiguous(x, self.dtype), batched

    def _check_call_memory(self, rows, training):
        """MemoryError, before allocating, for a call on ``rows`` = T * B rows past memory."""
        check_memory("a call on x with T * B = {} rows", rows * self._row_bytes[training], rows)

    def _call_row_bytes(self):
        """Bytes a call needs per row of x (T * B rows), (inference, training): for the
        memory check of every call, worked out once.

        Counts x's copy, each layer's output (all kept for backward in training, two at a
        time in inference) and, in training, the core's saved gates and cells and the dropout
        masks with their float64 draws.
        """
        L, D, P, H = self.num_layers, self.num_directions, self.output_size, self.hidden_size
        itemsize = np.dtype(self.dtype).itemsize
        row_bytes = []
        for training in (False, True):
            kept_outputs = L if training else 2
            per_row = self.input_size + (kept_outputs + 2) * D * P
            if training:
                per_row += L * D * 5 * H
            nbytes = per_row * itemsize
            if training and self.dropout > 0 and L > 1:
                nbytes += D * P * (8 + 1)
            row_bytes.append(nbytes)
        return tuple(row_bytes)

    def _initial_state(self, hx, B, batched, name):
        if hx is None:
            return None, None
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            got = (f"a {type(hx).__name__} of {len(hx)}" if isinstance(hx, (tuple, list))
                   else type(hx).__name__)
            raise TypeError(f"{name} must be a tuple (h0, c0) of arrays or None, got {got}")
        if hx[0] is None or hx[1] is None:
            raise TypeError(f"{name} must hold both h0 and c0, got None for "
                            f"{'h0' if hx[0] is None else 'c0'}; pass {name}=None for zeros")
        L, D = self.num_layers, self.num_directions
        h0 = self._state_grad(f"{name}[0] (h0)", hx[0], (L * D, B, self.output_size), batched)
        c0 = self._state_grad(f"{name}[1] (c0)", hx[1], (L * D, B, self.hidden_size), batched)
        return h0, c0

    def _state_grad(self, name, value, shape, batched):
        """A state or state gradient (L*D, B, X), or (L*D, X) unbatched, made contiguous."""
        if value is None:
            return None
        value = float_array(name, value)
        expected = shape if batched else (shape[0], shape[2])
        if value.shape != expected:
            raise ValueError(f"{name} must have shape {expected}, got {value.shape}")
        return np.ascontiguousarray(value if batched else value[:, None, :], dtype=self.dtype)

    def _user_grad(self, name, value, shape, batched, batch_first):
        """dy in the user's layout -> time-major (T, B, D*P)."""
        value = float_array(name, value)
        T, B, F = shape
        expected = ((B, T, F) if batch_first else shape) if batched else (T, F)
        if value.shape != expected:
            raise ValueError(f"{name} must have shape {expected} like y, got {value.shape}")
        value = value.astype(self.dtype, copy=False)
        if not batched:
            return value[:, None, :]
        return value.transpose(1, 0, 2) if batch_first else value


def _contiguous(a, dtype=None):
    """``a`` as a C-contiguous array of ``dtype`` (a's own by default): np.ascontiguousarray,
    whose copy of a large array goes on memory the binding keeps for reuse (_core.empty)."""
    if a.nbytes < _core.KEEP_MIN_BYTES or (
            a.flags.c_contiguous and (dtype is None or a.dtype == dtype)):
        return np.ascontiguousarray(a, dtype=dtype)  # a itself when it already is one
    out = _core.empty(a.shape, a.dtype if dtype is None else dtype)
    out[...] = a
    return out


def _suffix(layer, direction):
    return f"_l{layer}" + ("_reverse" if direction == 1 else "")


def _check_lengths(lengths, T, B, batched):
    """lengths -> int64 array (B,) in [1, T], or None."""
    if lengths is None:
        return None
    if not batched:
        raise ValueError("lengths applies to batched input only; x is unbatched (T, I)")
    return check_lengths("lengths", lengths, B, T)
