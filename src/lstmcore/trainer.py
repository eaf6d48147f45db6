"""Mini-batch training of a :class:`~lstmcore.model.SequenceModel`.

Data given to the trainer has samples first: X (N, T, I), y (N, K) for output="last" or
(N, T, K) for output="all", whatever layout the model's LSTM uses inside.

Batches come from a seeded shuffled stream: a permutation of the N samples, read B at a time and
replaced by a fresh permutation when used up, so every batch has B samples and every sample is
seen once per pass. Training by ``epochs`` starts each epoch on a fresh permutation and lets the
last batch of an epoch be short. The stream's position is part of :meth:`Trainer.state_dict`, so
a run restored from a checkpoint draws the same batches it would have drawn.
"""
import math
import sys
from dataclasses import dataclass, field

import numpy as np

from ._checks import check_int, check_lengths, integer_array, real_array
from .losses import cross_entropy, mse_loss
from .model import SequenceModel

__all__ = ["EarlyStopping", "History", "Trainer", "predict"]


@dataclass
class History:
    """loss: training loss of every step; val_loss[j] was measured after val_step[j] steps."""
    loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_step: list = field(default_factory=list)
    best_step: int = None
    stopped_early: bool = False


@dataclass
class EarlyStopping:
    """Stop after ``patience`` validations without an improvement larger than ``min_delta``;
    ``restore_best`` puts back the parameters of the best validation."""
    patience: int = 5
    min_delta: float = 0.0
    restore_best: bool = True


# The losses by name; their dpred needs no checks before the model's backward.
_LOSSES = {"mse": mse_loss, "cross_entropy": cross_entropy}
_OWN_LOSSES = tuple(_LOSSES.values())
_STATE_KEYS = {"step", "rng", "order", "pos"}  # Trainer.state_dict()'s


def _resolve_loss(loss):
    if callable(loss):
        return loss
    if loss not in _LOSSES:
        raise ValueError(f"loss must be 'mse', 'cross_entropy' or a callable, got {loss!r}")
    return _LOSSES[loss]


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _as_samples(X, dtype, name):
    """X as a float array of ``dtype``, samples on axis 0."""
    X = real_array(name, X)
    if X.ndim != 3:
        raise ValueError(f"{name} must have shape (N, T, I), got {X.shape}")
    if len(X) == 0:  # the batch stream would wait forever for a sample, evaluate divide by 0
        raise ValueError(f"{name} must hold at least one sample, got shape {X.shape}")
    return X.astype(dtype, copy=False)


def _validation_pair(validation, lengths=False):
    """``validation`` checked to be an (X_val, y_val) pair or, with ``lengths``, also an
    (X_val, y_val, lengths_val) triple."""
    sizes = (2, 3) if lengths else (2,)
    if not isinstance(validation, (tuple, list)) or len(validation) not in sizes:
        got = (f"a {type(validation).__name__} of {len(validation)}"
               if isinstance(validation, (tuple, list)) else type(validation).__name__)
        expected = "a pair (X_val, y_val)" + (
            " or a triple (X_val, y_val, lengths_val)" if lengths else "")
        raise TypeError(f"validation must be {expected}, got {got}")
    return validation


def _check_lengths(lengths, X, name, x_name):
    """``lengths`` checked whole against samples-first X (N, T, I): integers (N,) in [1, T].

    The LSTM checks each batch's lengths too, but only when the batch is run: a wrong length
    would be found steps into training (a validation set's only at its first evaluation), or
    never, in a batch that does not hold it.
    """
    if lengths is None:
        return None
    return check_lengths(name, lengths, X.shape[0], X.shape[1], per=f"sample of {x_name}")


def _to_model_layout(model, a):
    """(B, T, ...) -> the LSTM's layout."""
    return a if model.batch_first else np.ascontiguousarray(a.swapaxes(0, 1))


def _from_model_layout(model, a):
    return a if model.batch_first else a.swapaxes(0, 1)


def predict(model, X, lengths=None, batch_size=4096):
    """Inference over samples-first X (N, T, I) in batches; pred (N, K) or (N, T, K)."""
    X = _as_samples(X, model.dtype, "X")
    batch_size = _positive_int(batch_size, "batch_size")
    lengths = _check_lengths(lengths, X, "lengths", "X")
    out = []
    for s in range(0, len(X), batch_size):
        lb = None if lengths is None else lengths[s:s + batch_size]
        pred = model(_to_model_layout(model, X[s:s + batch_size]), lengths=lb)
        out.append(_from_model_layout(model, pred) if model.output == "all" else pred)
    return np.concatenate(out)


class Trainer:
    """Trains ``model`` with ``optimizer`` (built over ``model.parameters()``).

    loss: "mse", "cross_entropy" or a callable (pred, target) -> (loss, dpred).
    clip_norm: clip the gradients' global norm before each step (PyTorch's clip_grad_norm_).
    progress: a tqdm bar on stderr; None shows it only when stderr is a terminal and tqdm is
    installed, True asks for it (still silent without tqdm), False never shows it.
    """

    def __init__(self, model, optimizer, loss="mse", batch_size=32, seed=None, clip_norm=None,
                 progress=None):
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = _resolve_loss(loss)
        self.batch_size = _positive_int(batch_size, "batch_size")
        if clip_norm is not None and not clip_norm > 0:
            raise ValueError(f"clip_norm must be positive or None, got {clip_norm!r}")
        self.clip_norm = clip_norm
        self.progress = progress
        self.step = 0  # optimizer steps taken so far, across fit calls
        self._rng = np.random.default_rng(seed)
        self._order = None  # the current permutation of the stream
        self._pos = 0  # next unread position in it
        if clip_norm is not None:
            from .optim import clip_grad_norm_

            self._clip = clip_grad_norm_

    def state_dict(self):
        """Step count and the batch stream's position, for checkpoints."""
        return {"step": self.step, "rng": self._rng.bit_generator.state,
                "order": None if self._order is None else self._order.copy(), "pos": self._pos}

    def load_state_dict(self, state):
        """Restore a :meth:`state_dict`: the step count and the batch stream's position.

        Every entry is checked before any is set, so a refused state leaves the trainer as it
        was. As the model's and the optimizer's load_state_dict, KeyError names missing and
        unexpected keys (another object's state dict, say the optimizer's); TypeError is an
        entry of the wrong type and ValueError one of the wrong value: a negative step, a
        generator state of another kind, an order that is not a permutation of range(N), a
        position outside it.
        """
        if not hasattr(state, "keys") or not hasattr(state, "__getitem__"):
            raise TypeError(f"state must be a mapping as Trainer.state_dict() returns, "
                            f"got {type(state).__name__}")
        missing = sorted(_STATE_KEYS - set(state))
        unexpected = sorted(set(state) - _STATE_KEYS, key=str)
        if missing or unexpected:
            raise KeyError(f"state does not match a Trainer's state_dict(): missing "
                           f"{missing}, unexpected {unexpected}")
        step = check_int("state['step']", state["step"], minimum=0)
        rng = state["rng"]
        generator = type(self._rng.bit_generator)
        try:  # a spare generator takes the state first: a refused one must not touch ours
            generator().state = rng
        except (TypeError, ValueError, KeyError, OverflowError) as exc:
            if not isinstance(rng, dict):
                raise TypeError(f"state['rng'] must be a dict as a generator's "
                                f"bit_generator.state, got {type(rng).__name__}") from None
            raise ValueError(f"state['rng'] is not the state of a {generator.__name__} "
                             f"generator, as this trainer's: {type(exc).__name__}: "
                             f"{exc}") from None
        order = state["order"]
        if order is not None:
            order = np.array(integer_array("state['order']", order))
            if order.ndim != 1 or not np.array_equal(np.sort(order), np.arange(len(order))):
                raise ValueError(f"state['order'] must be a permutation of range(N), the "
                                 f"stream's order of N samples, got shape {order.shape}")
        pos = check_int("state['pos']", state["pos"], minimum=0)
        end = 0 if order is None else len(order)
        if pos > end:
            raise ValueError(f"state['pos'] must lie in [0, {end}], positions in "
                             f"state['order'] of length {end}, got {pos}")
        self._rng.bit_generator.state = rng
        self.step, self._order, self._pos = step, order, pos

    def fit(self, X, y, steps=None, epochs=None, validation=None, early_stopping=None,
            callback=None, log_every=100, lengths=None):
        """Train for ``steps`` batches or ``epochs`` passes; returns a :class:`History`.

        X (N, T, I); y (N, K), (N,) class indices for cross-entropy, or (N, T, K) for
        output="all"; lengths (N,) optional true lengths. validation: (X_val, y_val), or
        (X_val, y_val, lengths_val) with the validation samples' true lengths (M,), evaluated
        as :meth:`evaluate` every ``log_every`` steps (at each epoch's end when training by
        epochs) and after the last step. early_stopping: an :class:`EarlyStopping` or an int
        patience; needs validation. callback(step, loss) runs after every step with its
        0-based global index.
        """
        if (steps is None) == (epochs is None):
            raise ValueError("give exactly one of steps and epochs")
        X, y, lengths = self._check_data(X, y, lengths)
        n = len(X)
        per_epoch = math.ceil(n / self.batch_size)
        total = _positive_int(steps, "steps") if steps is not None else (
            _positive_int(epochs, "epochs") * per_epoch)
        log_every = _positive_int(log_every, "log_every")
        if isinstance(early_stopping, (int, np.integer)) and not isinstance(early_stopping, bool):
            early_stopping = EarlyStopping(patience=_positive_int(early_stopping, "early_stopping"))
        if early_stopping is not None and validation is None:
            raise ValueError("early_stopping needs a validation set")
        if validation is not None:
            validation = _validation_pair(validation, lengths=True)
            X_val, y_val, lengths_val = self._check_data(
                validation[0], validation[1], validation[2] if len(validation) == 3 else None,
                names=("validation[0]", "validation[1]", "validation[2]"))
            # Targets of another kind would only fail at the first evaluation, log_every steps
            # into training: the same number of axes, and the same width (K) where there is one
            # (the time axis of output="all" may differ between the sets).
            if y_val.ndim != y.ndim or (y.ndim > 1 and y_val.shape[-1] != y.shape[-1]):
                raise ValueError(f"validation[1] must be targets like y's, {y.ndim}-D"
                                 + (f" with {y.shape[-1]} per row" if y.ndim > 1 else "")
                                 + f": y has shape {y.shape}, validation[1] {y_val.shape}")

        history = History()
        best, best_state, waited = math.inf, None, 0
        every = per_epoch if epochs is not None else log_every
        bar = self._progress_bar(total)
        for k in range(total):
            if epochs is not None:
                idx = self._epoch_batch(n, k % per_epoch)
            else:
                idx = self._stream_batch(n)
            # take() gathers rows several times faster than fancy indexing at batch sizes
            loss = self._train_step(X.take(idx, axis=0), y.take(idx, axis=0),
                                    None if lengths is None else lengths.take(idx))
            history.loss.append(loss)
            if callback is not None:
                callback(self.step - 1, loss)
            if bar is not None:
                bar.update()
            if (k + 1) % every and k + 1 != total:
                continue
            if bar is not None:
                bar.set_postfix(loss=f"{loss:.4g}")
            if validation is None:
                continue
            val = self.evaluate(X_val, y_val, lengths_val)
            history.val_loss.append(val)
            history.val_step.append(self.step)
            if early_stopping is None:
                continue
            if val < best - early_stopping.min_delta:
                best, waited, history.best_step = val, 0, self.step
                if early_stopping.restore_best:
                    best_state = self.model.state_dict()
            else:
                waited += 1
                if waited >= early_stopping.patience:
                    history.stopped_early = True
                    break
        if bar is not None:
            bar.close()
        if best_state is not None and history.best_step != self.step:
            self.model.load_state_dict(best_state)
        return history

    def fit_stateful(self, X, y, chunk, epochs=1, hx=None, callback=None):
        """Truncated BPTT over long sequences, carrying (h, c) from chunk to chunk.

        X (B, L, I): B parallel streams, each in time order. Each step trains on the next
        ``chunk`` time steps of all streams, starting from the final (h_n, c_n) of the previous
        chunk (``hx`` or zeros at each epoch's start); no gradient flows back across a chunk
        boundary. y (B, L, K) per-step targets: output="all" is trained on every step of a chunk,
        output="last" on the chunk's last step. Returns a :class:`History`.
        """
        chunk = _positive_int(chunk, "chunk")
        epochs = _positive_int(epochs, "epochs")
        X, y, _ = self._check_data(X, y, None)
        if y.ndim != 3 or y.shape[1] != X.shape[1]:
            raise ValueError(f"y must have shape (B, L, K) = ({len(X)}, {X.shape[1]}, K), "
                             f"got {y.shape}")
        length = X.shape[1]
        history = History()
        for _ in range(epochs):
            state = hx
            for s in range(0, length, chunk):
                e = min(s + chunk, length)
                yb = y[:, s:e] if self.model.output == "all" else y[:, e - 1]
                loss, state = self._train_step(X[:, s:e], yb, None, hx=state, keep_state=True)
                state = tuple(a.copy() for a in state)
                history.loss.append(loss)
                if callback is not None:
                    callback(self.step - 1, loss)
        return history

    def evaluate(self, X, y, lengths=None, batch_size=4096):
        """Mean loss over (X, y), computed in batches without training; lengths (N,) optional
        true lengths."""
        X, y, lengths = self._check_data(X, y, lengths)
        batch_size = _positive_int(batch_size, "batch_size")
        total = 0.0
        for s in range(0, len(X), batch_size):
            lb = None if lengths is None else lengths[s:s + batch_size]
            pred = self.model(_to_model_layout(self.model, X[s:s + batch_size]), lengths=lb)
            loss, _ = self.loss_fn(pred, self._target_layout(y[s:s + batch_size]))
            total += float(loss) * min(batch_size, len(X) - s)
        return total / len(X)

    def _train_step(self, xb, yb, lb, hx=None, keep_state=False):
        model = self.model
        model.zero_grad()
        pred, cache = model.forward(_to_model_layout(model, xb), hx=hx, lengths=lb)
        loss, dpred = self.loss_fn(pred, self._target_layout(yb))
        backward = model.backward
        if (self.loss_fn in _OWN_LOSSES
                and getattr(backward, "__func__", None) is SequenceModel.backward):
            model._backward(dpred, cache)  # dpred: a new array of pred's dtype and shape
        else:  # another loss's dpred is checked, an overridden backward is called
            backward(dpred, cache)
        grads = model.grads()
        if self.clip_norm is not None:
            self._clip(grads, self.clip_norm)
        self.optimizer.step(grads)
        self.step += 1
        return (float(loss), cache.state) if keep_state else float(loss)

    def _target_layout(self, yb):
        if self.model.output == "all" and yb.ndim == 3:
            return _to_model_layout(self.model, yb)
        return yb

    def _check_data(self, X, y, lengths, names=("X", "y", "lengths")):
        X = _as_samples(X, self.model.dtype, names[0])
        y = real_array(names[1], y)  # integers stay: cross-entropy takes class indices
        if y.dtype.kind == "f":
            y = y.astype(self.model.dtype)
        if y.shape[:1] != X.shape[:1]:
            raise ValueError(f"{names[1]} must have one target per sample of {names[0]}: "
                             f"{len(X)} samples, {names[1]} of shape {y.shape}")
        return X, y, _check_lengths(lengths, X, names[2], names[0])

    def _stream_batch(self, n):
        b = self.batch_size
        if self._order is None or len(self._order) != n:
            self._order, self._pos = self._rng.permutation(n), 0
        if self._pos + b <= n:
            self._pos += b
            return self._order[self._pos - b:self._pos]
        parts, need = [self._order[self._pos:]], b - (n - self._pos)
        while need > 0:
            self._order = self._rng.permutation(n)
            self._pos = min(need, n)
            parts.append(self._order[:self._pos])
            need -= self._pos
        return np.concatenate(parts)

    def _epoch_batch(self, n, k):
        if k == 0:
            self._order, self._pos = self._rng.permutation(n), 0
        self._pos = min(self._pos + self.batch_size, n)
        return self._order[k * self.batch_size:self._pos]

    def _progress_bar(self, total):
        show = self.progress
        if show is None:
            show = sys.stderr is not None and sys.stderr.isatty()
        if not show:
            return None
        try:
            from tqdm import tqdm
        except ImportError:
            return None
        return tqdm(total=total, file=sys.stderr, leave=False, unit="step")
