"""LSTMRegressor: scikit-learn's fit/predict/score conventions over the sequence model."""
import subprocess
import sys

import numpy as np
import pytest

from lstmcore import optim
from lstmcore.data import cos_dataset
from lstmcore.regressor import LSTMRegressor


@pytest.fixture(scope="module")
def cos():
    return cos_dataset(train_examples=2000, test_examples=200)


@pytest.mark.parametrize("init", ["pytorch", "keras", "tf1"])
def test_learns_the_cos_curve(cos, init):
    model = LSTMRegressor(hidden_size=16, steps=300, init=init, seed=0)
    model.fit(cos.X_train, cos.y_train[:, 0])
    assert model.score(cos.X_test, cos.y_test[:, 0]) > 0.95


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("targets", [1, 3], ids=["y (N,)", "y (N, 3)"])
def test_predictions_have_the_shape_and_dtype_of_the_targets(rng, dtype, targets):
    X = rng.standard_normal((20, 4, 2))
    y = rng.standard_normal(20) if targets == 1 else rng.standard_normal((20, targets))
    model = LSTMRegressor(hidden_size=4, steps=3, dtype=dtype, seed=0).fit(X, y)
    pred = model.predict(X[:7])
    assert pred.shape == (7,) + y.shape[1:] and pred.dtype == dtype
    assert model.n_features_in_ == 2
    assert model.model_.head.weight.shape == (targets, 4)


def test_score_is_r2_averaged_over_outputs(rng, monkeypatch):
    y = rng.standard_normal((30, 2))
    pred = y + 0.3 * rng.standard_normal((30, 2))
    model = LSTMRegressor()
    monkeypatch.setattr(model, "predict", lambda X: pred)
    expected = np.mean([1 - np.sum((y[:, k] - pred[:, k]) ** 2)
                        / np.sum((y[:, k] - y[:, k].mean()) ** 2) for k in range(2)])
    assert np.isclose(model.score(None, y), expected, rtol=1e-12)
    monkeypatch.setattr(model, "predict", lambda X: y[:, 0])
    assert model.score(None, y[:, 0]) == 1.0


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 3, 1))
    return X, LSTMRegressor(hidden_size=3, steps=1, seed=0).fit(X, rng.standard_normal(8))


@pytest.mark.parametrize("shape", [(7,), (9,), (16,), (8, 2), (8, 1, 1), (1, 8), ()], ids=str)
def test_score_refuses_y_of_another_shape_than_the_predictions(fitted, shape):
    X, model = fitted
    with pytest.raises(ValueError, match=r"y must have shape \(8,\), that of the predictions"):
        model.score(X, np.ones(shape))


@pytest.mark.parametrize("dtype", [complex, object, bool, str])
def test_score_refuses_y_that_is_not_real_numbers(fitted, dtype):
    X, model = fitted
    with pytest.raises(TypeError, match="y must hold real numbers"):
        model.score(X, np.ones(8).astype(dtype))


def test_score_takes_a_column_for_one_output(fitted, rng):
    X, model = fitted
    y = rng.standard_normal(8)
    assert model.score(X, y[:, None]) == model.score(X, y)


def test_same_seed_same_model(rng):
    X, y = rng.standard_normal((40, 5, 1)), rng.standard_normal(40)
    a, b, c = (LSTMRegressor(hidden_size=4, steps=5, seed=s).fit(X, y) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert not np.array_equal(a.predict(X), c.predict(X))


def test_default_optimizer_is_tf1_adagrad(rng):
    model = LSTMRegressor(steps=1, hidden_size=3).fit(rng.standard_normal((4, 2, 1)), np.ones(4))
    assert type(model.optimizer_) is optim.Adagrad
    assert model.optimizer_.defaults["lr"] == 0.1
    assert model.optimizer_.defaults["initial_accumulator_value"] == 0.1
    assert model.optimizer_.defaults["eps"] == 0.0


def test_an_optimizer_instance_gives_its_class_and_settings(rng):
    given = optim.RMSprop([np.zeros(1)], lr=0.003, alpha=0.9)
    model = LSTMRegressor(optimizer=given, steps=2, hidden_size=3)
    model.fit(rng.standard_normal((4, 2, 1)), np.ones(4))
    assert type(model.optimizer_) is optim.RMSprop and model.optimizer_ is not given
    assert model.optimizer_.defaults == given.defaults
    assert model.optimizer_.params.keys() == model.model_.parameters().keys()


def test_a_callable_optimizer_is_called_with_the_parameters(rng):
    model = LSTMRegressor(optimizer=lambda params: optim.SGD(params, lr=0.5), steps=2,
                          hidden_size=3)
    model.fit(rng.standard_normal((4, 2, 1)), np.ones(4))
    assert type(model.optimizer_) is optim.SGD and model.optimizer_.lr == 0.5


def test_a_fit_that_fails_leaves_no_fitted_model_behind(rng):
    """Fitted attributes appear only once fit succeeds: predict and scikit-learn's
    check_is_fitted read their presence."""
    X = rng.standard_normal((4, 2, 1))
    model = LSTMRegressor(optimizer="adam", steps=2, hidden_size=3)
    with pytest.raises(TypeError, match="optimizer must be"):
        model.fit(X, np.ones(4))
    assert not any(hasattr(model, name) for name in ("model_", "optimizer_", "history_"))
    with pytest.raises(ValueError, match="not fitted"):
        model.predict(X)
    # a failed refit keeps the previous fit whole
    model.set_params(optimizer=None).fit(X, np.ones(4))
    before = model.model_
    model.set_params(optimizer="adam")
    with pytest.raises(TypeError, match="optimizer must be"):
        model.fit(X, np.ones((4, 2)))
    assert model.model_ is before and model.predict(X).shape == (4,)


def test_epochs_replace_steps(rng):
    model = LSTMRegressor(hidden_size=3, epochs=2, batch_size=4, steps=999)
    model.fit(rng.standard_normal((10, 2, 1)), np.ones(10))
    assert len(model.history_.loss) == 6


def test_params_follow_the_scikit_learn_protocol():
    model = LSTMRegressor(hidden_size=8, seed=3)
    params = model.get_params()
    assert params["hidden_size"] == 8 and params["seed"] == 3 and params["steps"] == 1000
    assert model.set_params(steps=5, init="keras") is model
    assert model.steps == 5 and model.init == "keras"
    assert repr(model) == "LSTMRegressor(hidden_size=8, steps=5, init='keras', seed=3)"
    with pytest.raises(ValueError, match="invalid parameter 'hidden'"):
        model.set_params(hidden=3)


def test_clone_with_scikit_learn():
    base = pytest.importorskip("sklearn.base")
    model = LSTMRegressor(hidden_size=8, seed=3)
    assert base.clone(model).get_params() == model.get_params()


def test_clone_of_a_fitted_model_is_unfitted_with_the_same_params(rng):
    base = pytest.importorskip("sklearn.base")
    validation = pytest.importorskip("sklearn.utils.validation")
    def make_sgd(params):
        return optim.SGD(params, lr=0.5)

    model = LSTMRegressor(hidden_size=3, steps=2, optimizer=make_sgd, dtype=np.float64, seed=3)
    model.fit(rng.standard_normal((6, 2, 1)), np.ones(6))
    copy = base.clone(model)
    assert copy is not model and copy.get_params() == model.get_params()
    assert copy.optimizer is make_sgd and copy.dtype is np.float64
    validation.check_is_fitted(model)
    with pytest.raises(validation.NotFittedError):
        validation.check_is_fitted(copy)


def test_scikit_learn_sees_a_regressor():
    base = pytest.importorskip("sklearn.base")
    model = LSTMRegressor()
    assert base.is_regressor(model) and not base.is_classifier(model)


@pytest.mark.parametrize("targets", [1, 2], ids=["y (N,)", "y (N, 2)"])
def test_cross_val_score_scores_each_fold_as_fit_and_score_do(rng, targets):
    model_selection = pytest.importorskip("sklearn.model_selection")
    X = rng.standard_normal((24, 4, 2))
    y = X.mean(axis=1) if targets == 2 else X.mean(axis=(1, 2))
    model = LSTMRegressor(hidden_size=4, steps=20, batch_size=8, seed=0)
    scores = model_selection.cross_val_score(model, X, y, cv=3, error_score="raise")
    expected = [LSTMRegressor(**model.get_params()).fit(X[train], y[train]).score(X[test], y[test])
                for train, test in model_selection.KFold(3).split(X)]
    np.testing.assert_array_equal(scores, expected)
    assert not hasattr(model, "model_")


def test_importing_lstmcore_imports_no_scikit_learn():
    code = "import sys, lstmcore; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_predict_before_fit_is_refused():
    with pytest.raises(ValueError, match="not fitted"):
        LSTMRegressor().predict(np.zeros((1, 2, 1)))


@pytest.mark.parametrize("X, y, match", [
    (np.zeros((4, 2)), np.zeros(4), r"X must have shape \(N, T, I\)"),
    (np.zeros((4, 2, 1)), np.zeros(3), r"y must have shape \(4,\) or \(4, K\)"),
    (np.zeros((4, 2, 1)), np.zeros((4, 1, 1)), "y must have shape"),
])
def test_bad_fit_data_is_refused_by_name(X, y, match):
    with pytest.raises(ValueError, match=match):
        LSTMRegressor(steps=1).fit(X, y)


@pytest.mark.parametrize("validation", ["val", (np.zeros((2, 2, 1)),), np.zeros((2, 2, 1))],
                         ids=["str", "one", "array"])
def test_validation_that_is_not_a_pair_is_a_type_error(rng, validation):
    X, y = rng.standard_normal((4, 2, 1)), np.ones(4)
    with pytest.raises(TypeError, match=r"validation must be a pair \(X_val, y_val\)"):
        LSTMRegressor(steps=1, hidden_size=3).fit(X, y, validation=validation)


def test_predict_refuses_another_feature_count(rng):
    model = LSTMRegressor(steps=1, hidden_size=3).fit(rng.standard_normal((4, 2, 1)), np.ones(4))
    with pytest.raises(ValueError, match="1 features"):
        model.predict(np.zeros((2, 2, 3)))


def test_bad_optimizer_and_init_are_refused(rng):
    X, y = rng.standard_normal((4, 2, 1)), np.ones(4)
    with pytest.raises(TypeError, match="optimizer"):
        LSTMRegressor(optimizer="adam", steps=1).fit(X, y)
    with pytest.raises(ValueError, match="init"):
        LSTMRegressor(init="he", steps=1).fit(X, y)
