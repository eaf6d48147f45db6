"""Optimizers and gradient clipping with PyTorch's argument names, defaults and update rules.

An optimizer holds the live parameter arrays of a model (``model.parameters()``, a dict
name -> array) and updates them in place, in each parameter's dtype, from the gradients passed
to :meth:`Optimizer.step`. The update rules are those of ``torch.optim`` (its single-tensor
path) operation by operation, so a float64 run follows PyTorch's to rounding.
"""
import math
import operator
from typing import NamedTuple

import numpy as np

from . import _core

_FLOAT_DTYPES = (np.float32, np.float64)
_C_TYPES = {np.float32: "float", np.float64: "double"}
_layout = operator.attrgetter("shape", "dtype")


def _fusable(p, grad, *state):
    """Whether a fused C update applies: one float dtype, every array contiguous, p and the
    state writable (anything else takes the NumPy expressions, whose bits it reproduces)."""
    dtype = p.dtype
    if dtype not in _FLOAT_DTYPES or grad.dtype != dtype:
        return False
    if not (p.flags.c_contiguous and p.flags.writeable and grad.flags.c_contiguous):
        return False
    return all(a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable for a in state)


class _ValidGrads(NamedTuple):
    """Grads that Optimizer._matched found valid, to pass them unchecked when they return."""
    keys: tuple  # the dict's keys in its order, or None for a sequence
    given: tuple  # the arrays as passed
    layouts: list  # (shape, dtype) of each when checked
    ordered: list  # the same arrays in the params' order
    cast: bool  # whether some array's dtype differs from its param's


class _AdagradPlan(NamedTuple):
    """Adagrad's work per parameter for one grads list, kept while its key holds."""
    grads: list  # the list from Optimizer._matched it was made for
    params: dict  # the optimizer's params dict
    key: list  # each param's "sum" buffer, then each param's flags.writeable
    entries: list  # (p, grad, state, fused, flat) per parameter, see Adagrad._plan


def _param_dict(params):
    """params (dict name -> array, or an iterable of arrays) as a dict of live float arrays."""
    if isinstance(params, np.ndarray):
        raise TypeError("params must be a dict name -> array or a list of arrays, "
                        "got a single array; wrap it in a list")
    items = list(params.items()) if isinstance(params, dict) else [
        (str(i), p) for i, p in enumerate(params)]
    if not items:
        raise ValueError("params must not be empty")
    seen = set()
    for name, p in items:
        if not isinstance(p, np.ndarray):
            raise TypeError(f"params[{name!r}] must be a NumPy array (it is updated in place), "
                            f"got {type(p).__name__}")
        if p.dtype not in _FLOAT_DTYPES:
            raise TypeError(f"params[{name!r}] must be float32 or float64, got {p.dtype}")
        if not p.flags.writeable:
            raise ValueError(f"params[{name!r}] is read-only; the optimizer updates it in place")
        if id(p) in seen:
            raise ValueError(f"params[{name!r}] appears more than once")
        seen.add(id(p))
    return dict(items)


def _like(current, value, name):
    """``value`` converted to the type of ``current`` (the hyperparameter's value, or ``value``
    itself when constructing): bool, a tuple of floats (betas) or a float."""
    if isinstance(current, (bool, np.bool_)):
        return bool(value)
    try:
        if isinstance(current, (tuple, list, np.ndarray)):
            converted = tuple(float(v) for v in np.asarray(value, dtype=float).reshape(-1))
        else:
            converted = float(value)
    except (TypeError, ValueError):
        kind = "numbers" if isinstance(current, (tuple, list, np.ndarray)) else "a number"
        raise TypeError(f"{name} must be {kind}, got {value!r}") from None
    if isinstance(converted, tuple) and len(converted) != len(current):
        raise ValueError(f"{name} must hold {len(current)} numbers, got {len(converted)}")
    return converted


def _non_negative(hyper, *names):
    for name in names:
        if not 0.0 <= hyper[name]:
            raise ValueError(f"{name} must be >= 0, got {hyper[name]}")


def _lerp_(start, end, weight):
    """start += weight * (end - start) in place, rounded as torch.lerp rounds it."""
    if abs(weight) < 0.5:
        start += weight * (end - start)
    else:
        start[...] = end - (end - start) * (1 - weight)


class Optimizer:
    """Base class: live parameters, hyperparameters, per-parameter buffers and a step count.

    Args:
        params: dict name -> live float array (preferred, e.g. ``model.parameters()``), or an
            iterable of arrays, then named "0", "1", ... in order.
        defaults: hyperparameters by name, e.g. {"lr": 1e-3, ...}.

    Subclasses define ``_validate(hyper)``, ``_new_state(p, hyper)`` (the buffers of one
    parameter) and ``_update(p, grad, state, step)``.
    """

    _cached_plan = None  # a subclass's per-parameter plan of its last step, see Adagrad

    def __init__(self, params, defaults):
        self.params = _param_dict(params)
        self._valid_grads = None
        self.defaults = {}
        self.defaults = self._checked(defaults)
        self.zero_state()

    def __getstate__(self):
        # The remembered grads and plan are only shortcuts: copies and pickles leave them out.
        return {**self.__dict__, "_valid_grads": None, "_cached_plan": None}

    def __repr__(self):
        hyper = ", ".join(f"{k}={v}" for k, v in self.defaults.items())
        return f"{type(self).__name__}({len(self.params)} params, {hyper})"

    @property
    def lr(self):
        """The learning rate; settable (e.g. by a schedule) between steps."""
        return self.defaults["lr"]

    @lr.setter
    def lr(self, value):
        self.defaults = self._checked({**self.defaults, "lr": value})

    def _checked(self, hyper):
        """Hyperparameters converted to the types they had at construction and validated."""
        reference = self.defaults or hyper
        hyper = {name: _like(reference[name], value, name) for name, value in hyper.items()}
        self._validate(hyper)
        return hyper

    def zero_state(self):
        """Forget all history: step count 0 and buffers as freshly constructed."""
        self.step_count = 0
        self.state = {name: self._new_state(p, self.defaults) for name, p in self.params.items()}

    def _matched(self, grads):
        """grads (dict with the params' keys, or a sequence in their order) as a list of arrays
        in the params' order and dtypes; every check is made before any parameter changes.

        Training passes the same gradient arrays at every step, so the last grads found valid
        are remembered (the arrays held, so that no other array can take their ids) and a call
        with the very same arrays, keys, shapes and dtypes is not checked again.
        """
        if isinstance(grads, dict):
            keys, given = tuple(grads), tuple(grads.values())
        else:
            keys, given = None, tuple(grads)
        last = self._valid_grads
        if (last is None or keys != last.keys or len(given) != len(last.given)
                or not all(map(operator.is_, given, last.given))
                or list(map(_layout, given)) != last.layouts):
            ordered = self._check_grads(keys, given)
            cast = any(g.dtype != p.dtype for g, p in zip(ordered, self.params.values()))
            if not all(isinstance(g, np.ndarray) for g in given):
                # np.asarray copied them: such grads are read and checked afresh at every step
                self._valid_grads = None
                return [g.astype(p.dtype, copy=False)
                        for g, p in zip(ordered, self.params.values())]
            last = _ValidGrads(keys, given, list(map(_layout, given)), ordered, cast)
            self._valid_grads = last
        if last.cast:
            return [g.astype(p.dtype) for g, p in zip(last.ordered, self.params.values())]
        return last.ordered

    def _check_grads(self, keys, given):
        """The grads (keys None for a sequence) as arrays in the params' order, each checked
        against its param."""
        names = list(self.params)
        if keys is not None:
            unexpected = [k for k in keys if k not in self.params]
            if unexpected:
                raise KeyError(f"grads has unexpected keys {unexpected}; params are {names}")
            by_name = dict(zip(keys, given))
            for name in names:
                if name not in by_name:
                    raise KeyError(f"grads is missing {name!r}")
            labelled = [(f"grads[{name!r}]", by_name[name]) for name in names]
        else:
            if len(given) != len(names):
                raise ValueError(f"grads must hold {len(names)} arrays, one per param, "
                                 f"got {len(given)}")
            labelled = [(f"grads[{i}]", g) for i, g in enumerate(given)]
        ordered = []
        for (label, grad), p in zip(labelled, self.params.values()):
            grad = np.asarray(grad)
            if grad.dtype.kind != "f":
                raise TypeError(f"{label} must be a float array, got dtype {grad.dtype}")
            if grad.shape != p.shape:
                raise ValueError(f"{label} must have its param's shape {p.shape}, "
                                 f"got {grad.shape}")
            ordered.append(grad)
        return ordered

    def step(self, grads):
        """Update every parameter in place from its gradient.

        Args:
            grads: dict with the same keys as params (e.g. ``model.grads``), or a sequence in
                the params' order; each array has its param's shape. Not modified.
        """
        grads = self._matched(grads)
        self.step_count += 1
        for (name, p), grad in zip(self.params.items(), grads):
            self._update(p, grad, self.state[name], self.step_count)

    def state_dict(self):
        """Flat dict of NumPy scalars and arrays (copies), savable with ``np.savez``.

        Keys: "step", each hyperparameter by name, and "<buffer>.<param name>" for buffers.
        """
        state = {"step": self.step_count}
        for name, value in self.defaults.items():
            state[name] = np.array(value) if isinstance(value, tuple) else value
        for param, buffers in self.state.items():
            for name, buffer in buffers.items():
                state[f"{name}.{param}"] = buffer.copy()
        return state

    def load_state_dict(self, state):
        """Restore a :meth:`state_dict` (also as loaded back by ``np.load``); stepping on
        continues exactly as the saved optimizer would have. Raises KeyError for a missing or
        unexpected key and ValueError for a buffer of the wrong shape."""
        expected = set(self.defaults) | {"step"}
        for name in ["step", *self.defaults]:
            if name not in state:
                raise KeyError(f"state is missing {name!r}")
        hyper = self._checked({name: state[name] for name in self.defaults})
        step = int(state["step"])
        if step < 0:
            raise ValueError(f"state['step'] must be >= 0, got {step}")
        buffers = {name: self._new_state(p, hyper) for name, p in self.params.items()}
        for param, named in buffers.items():
            for name, buffer in named.items():
                key = f"{name}.{param}"
                expected.add(key)
                if key not in state:
                    raise KeyError(f"state is missing {key!r}")
                value = np.asarray(state[key])
                if value.shape != buffer.shape:
                    raise ValueError(f"state[{key!r}] must have shape {buffer.shape}, "
                                     f"got {value.shape}")
                buffer[...] = value
        unexpected = sorted(set(state) - expected)
        if unexpected:
            raise KeyError(f"state has unexpected keys {unexpected}")
        self.defaults, self.state, self.step_count = hyper, buffers, step


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, as ``torch.optim.SGD``.

    g = grad + weight_decay*p;  b = momentum*b + (1-dampening)*g (b = g on the first step);
    g = g + momentum*b if nesterov else b;  p -= lr*g.   (maximize negates grad.)
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _validate(self, hyper):
        _non_negative(hyper, "lr", "momentum", "weight_decay")
        if hyper["nesterov"] and (hyper["momentum"] <= 0 or hyper["dampening"] != 0):
            raise ValueError("nesterov requires momentum > 0 and dampening == 0, got "
                             f"momentum={hyper['momentum']}, dampening={hyper['dampening']}")

    def _new_state(self, p, hyper):
        return {"momentum_buffer": np.zeros_like(p)} if hyper["momentum"] != 0 else {}

    def _update(self, p, grad, state, step):
        h = self.defaults
        if h["maximize"]:
            grad = -grad
        if h["weight_decay"] != 0:
            grad = grad + h["weight_decay"] * p
        if h["momentum"] != 0:
            buf = state["momentum_buffer"]
            if step == 1:
                buf[...] = grad
            else:
                buf *= h["momentum"]
                buf += (1 - h["dampening"]) * grad
            grad = grad + h["momentum"] * buf if h["nesterov"] else buf
        p -= h["lr"] * grad


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam`` (AMSGrad and decoupled weight decay included).

    g = grad + weight_decay*p (or p *= 1 - lr*weight_decay when decoupled);
    m = lerp(m, g, 1-beta1);  v = beta2*v + (1-beta2)*g*g;  vmax = max(vmax, v) if amsgrad;
    p -= lr/(1-beta1^t) * m / (sqrt(v)/sqrt(1-beta2^t) + eps).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, maximize=False, decoupled_weight_decay=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _validate(self, hyper):
        _non_negative(hyper, "lr", "eps", "weight_decay")
        if len(hyper["betas"]) != 2:
            raise ValueError(f"betas must hold 2 numbers, got {len(hyper['betas'])}")
        for i, beta in enumerate(hyper["betas"]):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"betas[{i}] must be in [0, 1), got {beta}")

    def _new_state(self, p, hyper):
        state = {"exp_avg": np.zeros_like(p), "exp_avg_sq": np.zeros_like(p)}
        if hyper["amsgrad"]:
            state["max_exp_avg_sq"] = np.zeros_like(p)
        return state

    def _update(self, p, grad, state, step):
        h = self.defaults
        beta1, beta2 = h["betas"]
        if h["maximize"]:
            grad = -grad
        if h["weight_decay"] != 0:
            if h["decoupled_weight_decay"]:
                p *= 1 - h["lr"] * h["weight_decay"]
            else:
                grad = grad + h["weight_decay"] * p
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        _lerp_(exp_avg, grad, 1 - beta1)
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * grad * grad
        step_size = h["lr"] / (1 - beta1**step)
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        if h["amsgrad"]:
            np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
            exp_avg_sq = state["max_exp_avg_sq"]
        denom = np.sqrt(exp_avg_sq) / bias_correction2_sqrt
        denom += h["eps"]
        p += -step_size * exp_avg / denom


class AdamW(Adam):
    """Adam with decoupled weight decay, as ``torch.optim.AdamW`` (weight_decay=1e-2).

    ``decoupled_weight_decay`` is accepted so that, as for every optimizer here,
    ``type(opt)(params, **opt.defaults)`` builds a copy.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, maximize=False, decoupled_weight_decay=True):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize,
                         decoupled_weight_decay=decoupled_weight_decay)


class Adagrad(Optimizer):
    """Adagrad, as ``torch.optim.Adagrad``; with initial_accumulator_value=0.1 and eps=0 it is
    TF1's ``AdagradOptimizer``.

    g = grad + weight_decay*p;  s += g*g;  p -= lr/(1 + (t-1)*lr_decay) * g / (sqrt(s) + eps).
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, maximize=False):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize))

    def _validate(self, hyper):
        _non_negative(hyper, "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def _new_state(self, p, hyper):
        return {"sum": np.full_like(p, hyper["initial_accumulator_value"])}

    def step(self, grads):
        """Update every parameter in place from its gradient (see :meth:`Optimizer.step`)."""
        grads = self._matched(grads)
        self.step_count += 1
        h = self.defaults
        clr = h["lr"] / (1 + (self.step_count - 1) * h["lr_decay"])
        eps, weight_decay, maximize = h["eps"], h["weight_decay"], h["maximize"]
        for p, grad, state, fused, flat in self._plan(grads):
            if fused is None:
                self._update(p, grad, state, self.step_count)
            else:
                # the same arithmetic in one C pass over the elements (_core.adagrad_update)
                fused(*flat, clr, eps, weight_decay, maximize)

    def _plan(self, grads):
        """(p, grad, state, fused, flat) per parameter: fused the C update for p's dtype and
        flat the 1-D views (p, grad, sum) it takes, or None and None when it does not apply.
        The dtype's own version of the Cython function, picked here, skips the lookup by
        argument types that the function does at every call.

        Training passes the same grads list (Optimizer._matched) at every step: the plan made
        for it is kept while the params, their buffers and read-write flags stay the same,
        instead of testing every array's layout at every step.
        """
        states = list(map(self.state.__getitem__, self.params))
        key = [state["sum"] for state in states]
        key += [p.flags.writeable for p in self.params.values()]
        cached = self._cached_plan
        if (cached is not None and cached.grads is grads and cached.params is self.params
                and len(cached.key) == len(key) and all(map(operator.is_, cached.key, key))):
            return cached.entries
        update = _core.adagrad_update
        versions = getattr(update, "__signatures__", {})  # {"float": ..., "double": ...}
        plan = []
        for p, grad, state in zip(self.params.values(), grads, states):
            acc = state["sum"]
            if _fusable(p, grad, acc):
                fused = versions.get(_C_TYPES[p.dtype.type], update)
                plan.append((p, grad, state, fused,
                             (p.reshape(-1), grad.reshape(-1), acc.reshape(-1))))
            else:
                plan.append((p, grad, state, None, None))
        self._cached_plan = _AdagradPlan(grads, self.params, key, plan)
        return plan

    def _update(self, p, grad, state, step):
        h = self.defaults
        clr = h["lr"] / (1 + (step - 1) * h["lr_decay"])
        acc = state["sum"]
        if h["maximize"]:
            grad = -grad
        if h["weight_decay"] != 0:
            grad = grad + h["weight_decay"] * p
        acc += grad * grad
        std = np.sqrt(acc)
        std += h["eps"]
        p += -clr * grad / std


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop``.

    g = grad + weight_decay*p;  v = alpha*v + (1-alpha)*g*g;  a = sqrt(v) + eps, or with
    centered a = sqrt(v - m*m) + eps where m = lerp(m, g, 1-alpha);
    b = momentum*b + g/a, p -= lr*b if momentum > 0, else p -= lr*g/a.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, maximize=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _validate(self, hyper):
        _non_negative(hyper, "lr", "eps", "momentum", "weight_decay", "alpha")

    def _new_state(self, p, hyper):
        state = {"square_avg": np.zeros_like(p)}
        if hyper["momentum"] > 0:
            state["momentum_buffer"] = np.zeros_like(p)
        if hyper["centered"]:
            state["grad_avg"] = np.zeros_like(p)
        return state

    def _update(self, p, grad, state, step):
        h = self.defaults
        if h["maximize"]:
            grad = -grad
        if h["weight_decay"] != 0:
            grad = grad + h["weight_decay"] * p
        square_avg = state["square_avg"]
        square_avg *= h["alpha"]
        square_avg += (1 - h["alpha"]) * grad * grad
        if h["centered"]:
            grad_avg = state["grad_avg"]
            _lerp_(grad_avg, grad, 1 - h["alpha"])
            avg = np.sqrt(square_avg - grad_avg * grad_avg)
        else:
            avg = np.sqrt(square_avg)
        avg += h["eps"]
        if h["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf *= h["momentum"]
            buf += grad / avg
            p -= h["lr"] * buf
        else:
            p += -h["lr"] * grad / avg


def clip_grad_norm_(grads, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale gradients in place so their joint norm is at most max_norm, as
    ``torch.nn.utils.clip_grad_norm_``.

    The total norm is the norm_type-norm of all gradients seen as one vector; when
    clip_coef = max_norm / (total_norm + 1e-6) is below 1 every gradient is multiplied by it.

    Args:
        grads: dict name -> float array (e.g. ``model.grads``), a list of them, or one array.
        max_norm: the largest allowed total norm, >= 0.
        norm_type: p of the p-norm; ``float("inf")`` (or "inf") for the largest absolute value.
        error_if_nonfinite: raise RuntimeError (as torch) if the total norm is NaN or infinite
            instead of scaling by it.

    Returns:
        The total norm before clipping, as a float.
    """
    if isinstance(grads, np.ndarray):
        grads = [grads]
    labelled = grads.items() if isinstance(grads, dict) else enumerate(grads)
    arrays = []
    for key, grad in labelled:
        if not isinstance(grad, np.ndarray) or grad.dtype.kind != "f":
            raise TypeError(f"grads[{key!r}] must be a float NumPy array (it is scaled in "
                            f"place), got {type(grad).__name__}")
        arrays.append(grad)
    max_norm = float(max_norm)
    if not 0.0 <= max_norm:
        raise ValueError(f"max_norm must be >= 0, got {max_norm}")
    norm_type = float(norm_type)
    if not arrays:
        return 0.0
    # Norm of the per-array norms: the norm of the concatenation, without concatenating.
    norms = np.array([np.linalg.norm(g.ravel(), norm_type) if g.size else 0.0 for g in arrays])
    total_norm = float(np.linalg.norm(norms, norm_type))
    if error_if_nonfinite and not math.isfinite(total_norm):
        raise RuntimeError(f"the total norm of order {norm_type} of grads is {total_norm}, so "
                           "it cannot be clipped; pass error_if_nonfinite=False to scale anyway")
    clip_coef = max_norm / (total_norm + 1e-6)
    # NaN compares false: like torch, a NaN norm is passed on to the gradients.
    if not clip_coef >= 1.0:
        for grad in arrays:
            np.multiply(grad, clip_coef, out=grad)
    return total_norm
