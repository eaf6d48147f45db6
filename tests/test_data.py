"""Sliding windows and the seed experiment's cos data set."""
import numpy as np
import pytest

from lstmcore.data import cos_dataset, sliding_windows


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, window", [(12, 1), (12, 5), (7, 6)])
def test_windows_hold_consecutive_samples_labelled_with_the_next(dtype, n, window):
    series = np.arange(n, dtype=dtype) * 1.5
    X, y = sliding_windows(series, window)
    assert X.shape == (n - window, window, 1) and y.shape == (n - window, 1)
    assert X.dtype == dtype and y.dtype == dtype
    for i in range(n - window):
        np.testing.assert_array_equal(X[i, :, 0], series[i:i + window])
        assert y[i, 0] == series[i + window]


def test_multivariate_series_keeps_features_last():
    series = np.arange(20.0).reshape(10, 2)
    X, y = sliding_windows(series, 3)
    assert X.shape == (7, 3, 2) and y.shape == (7, 2)
    np.testing.assert_array_equal(X[4], series[4:7])
    np.testing.assert_array_equal(y[4], series[7])


def test_literal_layout_puts_the_window_on_the_feature_axis():
    series = np.arange(10.0)
    X, _ = sliding_windows(series, 4)
    X_literal, _ = sliding_windows(series, 4, layout="literal")
    assert X_literal.shape == (6, 1, 4)
    np.testing.assert_array_equal(X_literal, X.transpose(0, 2, 1))


def test_windows_are_fresh_arrays():
    series = np.arange(10.0)
    X, y = sliding_windows(series, 3)
    X[0, 0, 0] = y[0, 0] = -1
    assert series[0] == 0 and series[3] == 3


def test_integer_series_becomes_float64():
    X, y = sliding_windows([1, 2, 3, 4], 2)
    assert X.dtype == np.float64 and y.dtype == np.float64


@pytest.mark.parametrize("kwargs, match", [
    ({"series": np.arange(5.0), "window": 0}, "window"),
    ({"series": np.arange(5.0), "window": 2.0}, "window"),
    ({"series": np.arange(5.0), "window": 5}, "too short"),
    ({"series": np.zeros((4, 2, 2)), "window": 1}, "series"),
    ({"series": np.arange(5.0), "window": 2, "layout": "tf"}, "layout"),
])
def test_bad_arguments_are_refused_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sliding_windows(**kwargs)


def test_cos_dataset_has_the_tutorials_shapes_and_dtype():
    data = cos_dataset()
    assert data.X_train.shape == (10000, 10, 1) and data.y_train.shape == (10000, 1)
    assert data.X_test.shape == (1000, 10, 1) and data.y_test.shape == (1000, 1)
    assert data.t_test.shape == (1000,)
    assert all(a.dtype == np.float32 for a in data)


def test_cos_dataset_samples_cos_as_the_tutorial_does():
    data = cos_dataset()
    # the tutorial: np.linspace(0, test_start, TRAINING_EXAMPLES + TIMESTEPS, dtype=np.float32)
    train = np.cos(np.linspace(0, 100.1, 10010, dtype=np.float32))
    test = np.cos(np.linspace(100.1, 110.2, 1010, dtype=np.float32))
    np.testing.assert_array_equal(data.X_train[:, :, 0], np.stack(
        [train[i:i + 10] for i in range(10000)]))
    np.testing.assert_array_equal(data.y_train[:, 0], train[10:])
    np.testing.assert_array_equal(data.X_test[0, :, 0], test[:10])
    np.testing.assert_array_equal(data.y_test[:, 0], test[10:])


def test_cos_dataset_test_targets_follow_the_training_curve():
    data = cos_dataset()
    assert data.t_test[0] > 100.1 and data.t_test[-1] == np.float32(110.2)
    np.testing.assert_array_equal(data.y_test[:, 0], np.cos(data.t_test))


def test_cos_dataset_literal_layout_is_one_step_of_ten_features():
    data, literal = cos_dataset(), cos_dataset(layout="literal")
    assert literal.X_train.shape == (10000, 1, 10) and literal.X_test.shape == (1000, 1, 10)
    np.testing.assert_array_equal(literal.X_train, data.X_train.transpose(0, 2, 1))
    np.testing.assert_array_equal(literal.y_test, data.y_test)


def test_cos_dataset_can_sample_another_function_and_dtype():
    data = cos_dataset(window=5, train_examples=100, test_examples=20, fn=np.sin,
                       dtype=np.float64)
    assert data.X_train.shape == (100, 5, 1) and data.X_test.shape == (20, 5, 1)
    assert data.X_train.dtype == np.float64
    np.testing.assert_array_equal(data.y_test[:, 0], np.sin(data.t_test))
