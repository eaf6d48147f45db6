"""Losses: values and gradients against torch.nn.functional, stability, argument checks."""
import numpy as np
import pytest

from lstmcore.losses import cross_entropy, mse_loss
from tolerances import (FINITE_DIFFERENCE_STEP, FINITE_DIFFERENCE_TOL, TOL, TOL_TORCH,
                        assert_close)

DTYPES = [np.float32, np.float64]


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _torch_loss_and_grad(torch, function, pred, *args):
    pred_t = torch.from_numpy(pred).requires_grad_()
    loss = function(pred_t, *args)
    loss.backward()
    return loss.item(), pred_t.grad.numpy()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (7,), (4, 3), (5, 2, 3)])
def test_mse_loss_matches_torch(torch, rng, dtype, shape):
    pred = rng.standard_normal(shape).astype(dtype)
    target = rng.standard_normal(shape).astype(dtype)

    loss, dpred = mse_loss(pred, target)

    expected, expected_grad = _torch_loss_and_grad(
        torch, torch.nn.functional.mse_loss, pred, torch.from_numpy(target))
    assert isinstance(loss, float)
    assert dpred.dtype == dtype and dpred.shape == shape
    assert_close(loss, expected, TOL_TORCH[dtype], "loss")
    assert_close(dpred, expected_grad, TOL_TORCH[dtype], "dpred")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,c", [(1, 1), (1, 5), (8, 3), (16, 10)])
@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_cross_entropy_matches_torch(torch, rng, dtype, n, c, scale):
    logits = (scale * rng.standard_normal((n, c))).astype(dtype)
    target = rng.integers(0, c, n)

    loss, dlogits = cross_entropy(logits, target)

    expected, expected_grad = _torch_loss_and_grad(
        torch, torch.nn.functional.cross_entropy, logits, torch.from_numpy(target))
    assert isinstance(loss, float)
    assert dlogits.dtype == dtype and dlogits.shape == (n, c)
    assert_close(loss, expected, TOL_TORCH[dtype], "loss")
    assert_close(dlogits, expected_grad, TOL_TORCH[dtype], "dlogits")


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_stays_finite_for_logits_that_overflow_exp(dtype):
    logits = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 1e4]], dtype)
    loss, dlogits = cross_entropy(logits, np.array([0, 2]))
    assert np.isfinite(loss) and np.isfinite(dlogits).all()
    assert_close(loss, np.log(2) / 2, TOL[dtype], "loss")


@pytest.mark.parametrize("loss_function", ["mse", "cross_entropy"])
def test_gradients_match_centred_finite_differences(rng, loss_function):
    if loss_function == "mse":
        pred, target = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
        function = mse_loss
    else:
        pred, target = rng.standard_normal((3, 4)), rng.integers(0, 4, 3)
        function = cross_entropy
    _, grad = function(pred, target)
    numeric = np.zeros_like(pred)
    for index in np.ndindex(pred.shape):
        step = np.zeros_like(pred)
        step[index] = FINITE_DIFFERENCE_STEP
        numeric[index] = (function(pred + step, target)[0]
                          - function(pred - step, target)[0]) / (2 * FINITE_DIFFERENCE_STEP)
    assert_close(grad, numeric, FINITE_DIFFERENCE_TOL, "dpred")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (1,), (32, 1), (7, 3), (33, 5, 2), (4097,)])
def test_mse_loss_gives_np_means_bits(rng, dtype, shape):
    """mse_loss computes np.mean's steps itself: the same bits as the NumPy expressions."""
    for scale in (1e-20, 1.0, 1e15):
        pred = np.asarray(rng.standard_normal(shape), dtype)
        target = np.asarray(scale * rng.standard_normal(shape), dtype)
        diff = pred - target
        loss, dpred = mse_loss(pred, target)
        assert loss == float(np.mean(diff * diff))
        expected = diff * (2.0 / pred.size)
        assert np.asarray(dpred).dtype == dtype and np.shape(dpred) == shape
        assert np.asarray(dpred).tobytes() == np.asarray(expected).tobytes()


def test_mse_loss_converts_target_to_the_prediction_dtype(rng):
    pred = rng.standard_normal(5).astype(np.float32)
    loss, dpred = mse_loss(pred, np.arange(5))
    assert dpred.dtype == np.float32
    assert_close(loss, np.mean((pred - np.arange(5)) ** 2), TOL[np.float32], "loss")


@pytest.mark.parametrize("pred,target,error,match", [
    (np.zeros((2, 3)), np.zeros((3, 2)), ValueError, r"target.*\(2, 3\)"),
    (np.zeros(0), np.zeros(0), ValueError, "pred"),
    (np.array(["a"]), np.zeros(1), TypeError, "pred"),
    (np.zeros(1), np.array(["a"]), TypeError, "target"),
    (np.ones(2, bool), np.zeros(2), TypeError, "pred must hold real numbers"),
    (np.zeros(2), np.ones(2, bool), TypeError, "target must hold real numbers"),
    (np.zeros(2, complex), np.zeros(2), TypeError, "pred must hold real numbers"),
    (np.zeros(2), np.zeros(2, object), TypeError, "target must hold real numbers"),
    ([[1.0], [1.0, 2.0]], np.zeros(3), TypeError, "pred must be an array"),
    (np.zeros(2), [[1.0], [1.0, 2.0]], TypeError, "target must be an array"),
])
def test_mse_loss_refuses_bad_arguments_by_name(pred, target, error, match):
    with pytest.raises(error, match=match):
        mse_loss(pred, target)


@pytest.mark.parametrize("logits,target,error,match", [
    (np.zeros(3), np.zeros(3, int), ValueError, r"logits.*\(N, C\)"),
    (np.zeros((2, 3)), np.zeros(3, int), ValueError, r"target.*\(2,\)"),
    (np.zeros((2, 3)), np.zeros(2), TypeError, "target.*integer"),
    (np.zeros((2, 3)), np.array([0, 3]), ValueError, r"target.*\[0, 3\)"),
    (np.zeros((2, 3)), np.array([-1, 0]), ValueError, "target"),
    (np.ones((2, 3), bool), np.array([0, 1]), TypeError, "logits must hold real numbers"),
    (np.zeros((2, 3), complex), np.array([0, 1]), TypeError, "logits must hold real numbers"),
    (np.zeros((2, 3)), np.array([True, False]), TypeError, "target.*integer"),
    (np.zeros((2, 3)), [[0], [1, 2]], TypeError, "target must be an array of integers"),
])
def test_cross_entropy_refuses_bad_arguments_by_name(logits, target, error, match):
    with pytest.raises(error, match=match):
        cross_entropy(logits, target)


def test_integer_predictions_are_read_as_float64():
    loss, dpred = mse_loss(np.array([1, 2]), np.array([0.0, 0.0]))
    assert dpred.dtype == np.float64 and loss == 2.5
    loss, dlogits = cross_entropy(np.array([[0, 0]]), np.array([1]))
    assert dlogits.dtype == np.float64 and np.isclose(loss, np.log(2))
