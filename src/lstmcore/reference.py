"""The NumPy reference LSTM: the oracle that the C core and :class:`lstmcore.LSTM` are tested against.

Written to be read, never optimised: one loop over time, one line per equation, PyTorch's names,
shapes and gate order (i, f, g, o). Everything is computed in the dtype of ``x`` (float32 or
float64; any other input is computed in float64).

Letters: T time steps, B batch, I input size, H hidden size, P output size of one direction
(proj_size, or H without projection), D directions (1 or 2), L layers.

Per step t, for the rows whose sequence covers step t (t < length):

    a   = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh        (B, 4H), split into i, f, g, o
    i = sigmoid(a_i)   f = sigmoid(a_f)   g = tanh(a_g)   o = sigmoid(a_o)
    c_t = f * c_{t-1} + i * g
    r_t = o * tanh(c_t)
    h_t = r_t W_hr^T   with a projection (proj_size P > 0, PyTorch's LSTMP),   else h_t = r_t

Rows past their sequence's length keep their state and output zeros: PyTorch's packed-sequence
semantics. The reverse direction therefore starts each sequence at its own last valid step.
"""
import numpy as np
from scipy.special import expit as sigmoid

__all__ = ["layer_forward", "layer_backward", "forward", "backward"]


def layer_forward(x, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None, h0=None, c0=None,
                  lengths=None, reverse=False):
    """Run one layer in one direction.

    x (T, B, I); w_ih (4H, I); w_hh (4H, P); b_ih, b_hh (4H,) or both None; w_hr (P, H) or None
    (then P = H); h0 (B, P) and c0 (B, H) or None (zeros); lengths (B,) ints in [1, T], in any
    order, or None (all T). reverse=True runs each sequence from its own last valid step down
    to step 0.

    Returns y (T, B, P), zero past each length; h_n (B, P) and c_n (B, H), the state after each
    sequence's last processed step; and the cache that :func:`layer_backward` needs.
    """
    dtype = _float_dtype(x)
    x = np.asarray(x, dtype)
    if x.ndim != 3:
        raise ValueError(f"x must have shape (T, B, I), got shape {x.shape}")
    T, B, I = x.shape
    w_hh = np.asarray(w_hh, dtype)
    H = w_hh.shape[0] // 4
    P = H if w_hr is None else np.shape(w_hr)[0]
    w_ih = _checked("w_ih", w_ih, (4 * H, I), dtype)
    w_hh = _checked("w_hh", w_hh, (4 * H, P), dtype)
    if (b_ih is None) != (b_hh is None):
        raise ValueError("b_ih and b_hh must be given together or both be None")
    has_bias = b_ih is not None
    if has_bias:
        b_ih = _checked("b_ih", b_ih, (4 * H,), dtype)
        b_hh = _checked("b_hh", b_hh, (4 * H,), dtype)
    if w_hr is not None:
        w_hr = _checked("w_hr", w_hr, (P, H), dtype)
    h = np.zeros((B, P), dtype) if h0 is None else _checked("h0", h0, (B, P), dtype)
    c = np.zeros((B, H), dtype) if c0 is None else _checked("c0", c0, (B, H), dtype)
    lengths = _checked_lengths(lengths, T, B)

    y = np.zeros((T, B, P), dtype)
    steps = []  # what backward needs, one dict per processed step, in processing order
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        running = (t < lengths)[:, None]  # (B, 1) rows whose sequence covers step t
        a = x[t] @ w_ih.T + h @ w_hh.T
        if has_bias:
            a = a + b_ih + b_hh
        i = sigmoid(a[:, 0 * H:1 * H])
        f = sigmoid(a[:, 1 * H:2 * H])
        g = np.tanh(a[:, 2 * H:3 * H])
        o = sigmoid(a[:, 3 * H:4 * H])
        c_new = f * c + i * g
        tanh_c = np.tanh(c_new)
        r = o * tanh_c
        h_new = r if w_hr is None else r @ w_hr.T
        steps.append(dict(t=t, running=running, x=x[t], h_prev=h, c_prev=c,
                          i=i, f=f, g=g, o=o, tanh_c=tanh_c, r=r))
        h = np.where(running, h_new, h)
        c = np.where(running, c_new, c)
        y[t] = np.where(running, h_new, 0)

    cache = dict(w_ih=w_ih, w_hh=w_hh, w_hr=w_hr, has_bias=has_bias, shape=(T, B, I, H, P),
                 steps=steps)
    return y, h, c, cache


def layer_backward(dy, cache, dh_n=None, dc_n=None):
    """Backward of :func:`layer_forward`.

    dy (T, B, P), entries past a length are ignored; dh_n (B, P) and dc_n (B, H) or None (zeros).

    Returns dx (T, B, I), zero past each length; dh0 (B, P); dc0 (B, H); and grads, a dict with
    'weight_ih', 'weight_hh', 'bias_ih' and 'bias_hh' (only when the forward had biases) and
    'weight_hr' (only when it had a projection).
    """
    w_ih, w_hh, w_hr = cache["w_ih"], cache["w_hh"], cache["w_hr"]
    T, B, I, H, P = cache["shape"]
    dtype = w_ih.dtype
    dy = _checked("dy", dy, (T, B, P), dtype)
    dh = np.zeros((B, P), dtype) if dh_n is None else _checked("dh_n", dh_n, (B, P), dtype)
    dc = np.zeros((B, H), dtype) if dc_n is None else _checked("dc_n", dc_n, (B, H), dtype)

    dx = np.zeros((T, B, I), dtype)
    grads = {"weight_ih": np.zeros_like(w_ih), "weight_hh": np.zeros_like(w_hh)}
    if cache["has_bias"]:
        grads["bias_ih"] = np.zeros(4 * H, dtype)
        grads["bias_hh"] = np.zeros(4 * H, dtype)
    if w_hr is not None:
        grads["weight_hr"] = np.zeros_like(w_hr)

    for s in reversed(cache["steps"]):
        t, running = s["t"], s["running"]
        i, f, g, o, tanh_c = s["i"], s["f"], s["g"], s["o"], s["tanh_c"]
        # h = where(running, h_new, h_prev);  c = where(running, c_new, c_prev);
        # y_t = where(running, h_new, 0)
        dh_new = np.where(running, dh + dy[t], 0)
        dc_new = np.where(running, dc, 0)
        # h_t = r_t W_hr^T  (or h_t = r_t)
        if w_hr is None:
            dr = dh_new
        else:
            dr = dh_new @ w_hr
            grads["weight_hr"] += dh_new.T @ s["r"]
        # r_t = o * tanh(c_t)
        do = dr * tanh_c
        dc_new = dc_new + dr * o * (1 - tanh_c * tanh_c)
        # c_t = f * c_{t-1} + i * g
        di = dc_new * g
        df = dc_new * s["c_prev"]
        dg = dc_new * i
        dc_prev = dc_new * f
        # i = sigmoid(a_i)  f = sigmoid(a_f)  g = tanh(a_g)  o = sigmoid(a_o)
        da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g * g),
                             do * o * (1 - o)], axis=1)
        # a = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh
        dx[t] = da @ w_ih
        grads["weight_ih"] += da.T @ s["x"]
        grads["weight_hh"] += da.T @ s["h_prev"]
        if cache["has_bias"]:
            grads["bias_ih"] += da.sum(axis=0)
            grads["bias_hh"] += da.sum(axis=0)
        dh_prev = da @ w_hh
        # rows that did not run kept their state, so their gradient passes straight through
        dh = dh_prev + np.where(running, 0, dh)
        dc = dc_prev + np.where(running, 0, dc)
    return dx, dh, dc, grads


def forward(params, x, h0=None, c0=None, *, num_layers=1, bidirectional=False, proj_size=0,
            lengths=None, dropout_masks=None):
    """Run a stacked, optionally bidirectional LSTM.

    params: dict with PyTorch's state_dict names: weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k},
    bias_hh_l{k} (absent without bias), weight_hr_l{k} (when proj_size > 0), each with the suffix
    _reverse for the backward direction. x (T, B, I), time-major. h0 (L*D, B, P), c0 (L*D, B, H)
    or None, indexed layer * D + direction, forward direction first. lengths (B,) or None.
    dropout_masks: None, or a list of L-1 arrays (T, B, D*P), already scaled by 1/(1-p), each
    multiplied into layer k's output before it feeds layer k+1.

    Returns y (T, B, D*P), h_n (L*D, B, P), c_n (L*D, B, H) and the cache for :func:`backward`.
    """
    dtype = _float_dtype(x)
    x = np.asarray(x, dtype)
    if x.ndim != 3:
        raise ValueError(f"x must have shape (T, B, I), got shape {x.shape}")
    T, B, _ = x.shape
    L, D = num_layers, 2 if bidirectional else 1
    H = np.shape(_param(params, "weight_hh_l0"))[0] // 4
    P = proj_size if proj_size > 0 else H
    if h0 is not None:
        h0 = _checked("h0", h0, (L * D, B, P), dtype)
    if c0 is not None:
        c0 = _checked("c0", c0, (L * D, B, H), dtype)
    if dropout_masks is not None:
        if len(dropout_masks) != L - 1:
            raise ValueError(f"dropout_masks must hold num_layers - 1 = {L - 1} arrays, "
                             f"got {len(dropout_masks)}")
        dropout_masks = [_checked(f"dropout_masks[{k}]", m, (T, B, D * P), dtype)
                         for k, m in enumerate(dropout_masks)]

    layer_input = x
    h_n, c_n, layers = [], [], []
    for k in range(L):
        if k > 0 and dropout_masks is not None:
            layer_input = layer_input * dropout_masks[k - 1]
        outputs, directions = [], []
        for d in range(D):
            suffix = _suffix(k, d)
            index = k * D + d
            y_d, h_d, c_d, cache_d = layer_forward(
                layer_input, _param(params, "weight_ih" + suffix),
                _param(params, "weight_hh" + suffix),
                params.get("bias_ih" + suffix), params.get("bias_hh" + suffix),
                _param(params, "weight_hr" + suffix) if proj_size > 0 else None,
                None if h0 is None else h0[index], None if c0 is None else c0[index],
                lengths=lengths, reverse=d == 1)
            outputs.append(y_d)
            h_n.append(h_d)
            c_n.append(c_d)
            directions.append(cache_d)
        layer_input = np.concatenate(outputs, axis=2)
        layers.append(directions)

    cache = dict(layers=layers, dropout_masks=dropout_masks, shape=(T, B, L, D, H, P))
    return layer_input, np.stack(h_n), np.stack(c_n), cache


def backward(cache, dy, dh_n=None, dc_n=None):
    """Backward of :func:`forward`.

    dy (T, B, D*P); dh_n (L*D, B, P) and dc_n (L*D, B, H) or None (zeros).

    Returns dx (T, B, I), dh0 (L*D, B, P), dc0 (L*D, B, H) and grads, a dict keyed like params.
    """
    T, B, L, D, H, P = cache["shape"]
    dtype = cache["layers"][0][0]["w_ih"].dtype
    dy = _checked("dy", dy, (T, B, D * P), dtype)
    if dh_n is not None:
        dh_n = _checked("dh_n", dh_n, (L * D, B, P), dtype)
    if dc_n is not None:
        dc_n = _checked("dc_n", dc_n, (L * D, B, H), dtype)

    dh0 = np.zeros((L * D, B, P), dtype)
    dc0 = np.zeros((L * D, B, H), dtype)
    grads = {}
    d_output = dy
    for k in reversed(range(L)):
        d_input = 0
        for d in range(D):
            index = k * D + d
            dx_d, dh0[index], dc0[index], layer_grads = layer_backward(
                d_output[:, :, d * P:(d + 1) * P], cache["layers"][k][d],
                None if dh_n is None else dh_n[index], None if dc_n is None else dc_n[index])
            for name, grad in layer_grads.items():
                grads[name + _suffix(k, d)] = grad
            d_input = d_input + dx_d
        if k > 0 and cache["dropout_masks"] is not None:
            d_input = d_input * cache["dropout_masks"][k - 1]
        d_output = d_input
    return d_output, dh0, dc0, grads


def _suffix(layer, direction):
    return f"_l{layer}" + ("_reverse" if direction == 1 else "")


def _param(params, name):
    if name not in params:
        raise ValueError(f"params is missing {name!r}")
    return params[name]


def _float_dtype(x):
    dtype = np.asarray(x).dtype
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


def _checked(name, array, shape, dtype):
    array = np.asarray(array, dtype)
    if array.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got shape {array.shape}")
    return array


def _checked_lengths(lengths, T, B):
    if lengths is None:
        return np.full(B, T)
    lengths = np.asarray(lengths)
    if lengths.shape != (B,):
        raise ValueError(f"lengths must have shape ({B},), got shape {lengths.shape}")
    if not np.issubdtype(lengths.dtype, np.integer):
        raise TypeError(f"lengths must hold integers, got dtype {lengths.dtype}")
    if lengths.min() < 1 or lengths.max() > T:
        raise ValueError(f"lengths must lie in [1, T={T}], got {lengths.tolist()}")
    return lengths
