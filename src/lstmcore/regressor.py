"""``LSTMRegressor``: an LSTM -> Linear regressor with scikit-learn's fit/predict/score.

It follows scikit-learn's estimator conventions without depending on it: ``__init__`` only
stores its arguments, ``get_params``/``set_params`` expose them (so ``sklearn.base.clone`` and
grid searches work), ``__sklearn_tags__`` declares it a regressor of 3-D X, and what ``fit``
learns ends in an underscore (which is how ``check_is_fitted`` tells a fitted one).
"""
import inspect

import numpy as np

from ._checks import float_dtype, real_array

__all__ = ["LSTMRegressor"]


class LSTMRegressor:
    """Regression from sequences: X (N, T, I) -> y (N,) or (N, K).

    Args:
        hidden_size: H, units per LSTM layer.
        num_layers: stacked LSTM layers.
        optimizer: None for TF1's Adagrad (lr 0.1, accumulator starting at 0.1, no epsilon), an
            ``lstmcore.optim`` optimizer to copy the class and hyperparameters of (its own
            parameters are ignored; fit builds one over the new model), or a callable
            params -> optimizer.
        batch_size: samples per step.
        steps: optimizer steps per fit (ignored when ``epochs`` is given).
        epochs: passes over the data instead of ``steps``.
        init: "pytorch", "keras" or "tf1" (see :func:`lstmcore.model.build_model`).
        seed: seeds the weights and the batch order; None draws fresh entropy.
        dtype: np.float32 or np.float64.
        bidirectional, dropout: as :class:`lstmcore.LSTM`.
        clip_norm: clip the gradients' global norm before each step, or None.
        progress: progress bar, as :class:`lstmcore.trainer.Trainer`.

    Attributes after fit: model_ (a SequenceModel), optimizer_, history_, n_features_in_.
    """

    def __init__(self, hidden_size=30, num_layers=1, optimizer=None, batch_size=32, steps=1000,
                 epochs=None, init="pytorch", seed=None, dtype=np.float32, bidirectional=False,
                 dropout=0.0, clip_norm=None, progress=None):
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.steps = steps
        self.epochs = epochs
        self.init = init
        self.seed = seed
        self.dtype = dtype
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.clip_norm = clip_norm
        self.progress = progress

    @classmethod
    def _param_names(cls):
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self, deep=True):
        """The constructor arguments, as scikit-learn's ``BaseEstimator.get_params``."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for LSTMRegressor; valid "
                                 f"parameters are {valid}")
            setattr(self, name, value)
        return self

    def __sklearn_tags__(self):
        """What scikit-learn (1.6 and later) reads through ``sklearn.utils.get_tags``."""
        # cross_val_score, GridSearchCV, is_regressor and check_is_fitted all call get_tags, which
        # has no defaults for an estimator that does not derive from BaseEstimator: without this
        # method they raise AttributeError. scikit-learn is imported here, not at the top, as
        # only scikit-learn calls this method and lstmcore does not depend on it.
        from sklearn.utils import InputTags, RegressorTags, Tags, TargetTags

        return Tags(estimator_type="regressor",
                    target_tags=TargetTags(required=True, multi_output=True),
                    regressor_tags=RegressorTags(),
                    input_tags=InputTags(two_d_array=False, three_d_array=True))

    def __repr__(self):
        changed = {k: v for k, v in self.get_params().items()
                   if v is not inspect.signature(type(self).__init__).parameters[k].default}
        return f"LSTMRegressor({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    def fit(self, X, y, validation=None, early_stopping=None, callback=None):
        """Build a fresh model and train it; returns self.

        X (N, T, I); y (N,) or (N, K). validation, early_stopping and callback are passed to
        :meth:`lstmcore.trainer.Trainer.fit`.
        """
        from .model import build_model
        from .trainer import Trainer, _as_samples, _validation_pair

        dtype = float_dtype("dtype", self.dtype)
        X = _as_samples(X, dtype, "X")
        y = self._targets(y, len(X), dtype, "y")
        y2 = y.reshape(len(y), -1)
        if validation is not None:
            X_val, y_val = _validation_pair(validation)
            X_val = _as_samples(X_val, dtype, "validation[0]")
            y_val = self._targets(y_val, len(X_val), dtype, "validation[1]")
            validation = (X_val, y_val.reshape(len(y_val), -1))
        model_seed, trainer_seed = (int(s.generate_state(1)[0])
                                    for s in np.random.SeedSequence(self.seed).spawn(2))
        model = build_model(X.shape[2], self.hidden_size, output_size=y2.shape[1],
                            num_layers=self.num_layers, init=self.init,
                            bidirectional=self.bidirectional, dropout=self.dropout,
                            batch_first=True, dtype=dtype, seed=model_seed)
        optimizer = self._make_optimizer(model.parameters())
        trainer = Trainer(model, optimizer, loss="mse", batch_size=self.batch_size,
                          seed=trainer_seed, clip_norm=self.clip_norm, progress=self.progress)
        if self.epochs is not None:
            length = {"epochs": self.epochs}
        else:
            length = {"steps": self.steps}
        history = trainer.fit(X, y2, validation=validation, early_stopping=early_stopping,
                              callback=callback, **length)
        # The fitted attributes are set only once fit has succeeded: check_is_fitted and
        # predict read their presence, and a fit that raised must not leave a half-made model
        # (or must leave the previous fit whole).
        self.model_, self.optimizer_, self.history_ = model, optimizer, history
        self.n_features_in_ = X.shape[2]
        self._y_1d = y.ndim == 1
        return self

    def predict(self, X):
        """pred (N,) or (N, K), as y was given to fit."""
        from .trainer import _as_samples, predict

        if not hasattr(self, "model_"):
            raise ValueError("this LSTMRegressor is not fitted yet; call fit first")
        X = _as_samples(X, self.model_.dtype, "X")
        if X.shape[2] != self.n_features_in_:
            raise ValueError(f"X must have {self.n_features_in_} features (shape (N, T, "
                             f"{self.n_features_in_})), got {X.shape}")
        pred = predict(self.model_, X)
        return pred[:, 0] if self._y_1d else pred

    def score(self, X, y):
        """Coefficient of determination R^2, averaged uniformly over outputs (as sklearn).

        y has the shape of the predictions for X, (N,) or (N, K); (N, 1) and (N,) are alike.
        """
        y = real_array("y", y)
        pred = np.asarray(self.predict(X), dtype=np.float64)
        n = len(pred)
        if y.ndim not in (1, 2) or len(y) != n or y.size != pred.size:
            raise ValueError(f"y must have shape {pred.shape}, that of the predictions for X, "
                             f"got {y.shape}")
        y2, p2 = y.reshape(n, -1).astype(np.float64), pred.reshape(n, -1)
        ss_res = ((y2 - p2) ** 2).sum(axis=0)
        ss_tot = ((y2 - y2.mean(axis=0)) ** 2).sum(axis=0)
        # sklearn's convention for a constant target: 1 if predicted exactly, else 0
        safe = ss_tot > 0
        r2 = np.where(safe, 1 - ss_res / np.where(safe, ss_tot, 1), np.where(ss_res == 0, 1.0, 0.0))
        return float(r2.mean())

    @staticmethod
    def _targets(y, n, dtype, name):
        """y (n,) or (n, K) as an array of ``dtype``."""
        y = real_array(name, y)
        if y.ndim not in (1, 2) or len(y) != n:
            raise ValueError(f"{name} must have shape ({n},) or ({n}, K), got {y.shape}")
        return y.astype(dtype, copy=False)

    def _make_optimizer(self, params):
        from . import optim

        spec = self.optimizer
        if spec is None:
            return optim.Adagrad(params, lr=0.1, initial_accumulator_value=0.1, eps=0.0)
        if isinstance(spec, optim.Optimizer):
            # An instance only names the algorithm and its settings: fit needs one bound to the
            # freshly built model's parameters.
            return type(spec)(params, **spec.defaults)
        if callable(spec):
            return spec(params)
        raise TypeError("optimizer must be None, an lstmcore.optim optimizer or a callable "
                        f"params -> optimizer, got {type(spec).__name__}")
