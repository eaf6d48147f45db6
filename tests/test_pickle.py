"""Models pickle and deep-copy with their weights, grads and options; a copy is its own model."""
import copy
import pickle

import numpy as np
import pytest

import lstmcore

DTYPES = [np.float32, np.float64]

# (num_layers, bidirectional, proj_size, bias, batch_first)
CONFIGS = [(1, False, 0, True, False), (2, True, 2, False, True), (3, False, 3, True, False)]


def pickle_round_trip(model):
    return pickle.loads(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))


COPIERS = {"pickle": pickle_round_trip, "deepcopy": copy.deepcopy}


def trained_model(rng, config, dtype):
    """A model with non-zero grads and weights moved away from their initial values."""
    num_layers, bidirectional, proj_size, bias, batch_first = config
    model = lstmcore.LSTM(3, 5, num_layers=num_layers, bidirectional=bidirectional,
                          proj_size=proj_size, bias=bias, batch_first=batch_first,
                          dropout=0.3, dtype=dtype, seed=1)
    x = rng.standard_normal((4, 2, 3)).astype(dtype)
    for _ in range(2):
        y, _, cache = model.forward(x)
        model.backward(np.ones_like(y), cache)
        for name, p in model.parameters().items():
            p -= 0.1 * model.grads[name]
    return model, x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", CONFIGS, ids=str)
@pytest.mark.parametrize("how", COPIERS)
def test_copy_gives_identical_outputs_weights_and_grads(rng, dtype, config, how):
    model, x = trained_model(rng, config, dtype)
    clone = COPIERS[how](model)
    assert repr(clone) == repr(model)
    for name, p in model.state_dict().items():
        np.testing.assert_array_equal(clone.state_dict()[name], p, err_msg=name)
        np.testing.assert_array_equal(clone.grads[name], model.grads[name], err_msg=name)
        assert clone.state_dict()[name].dtype == dtype
    y, (h_n, c_n) = model(x)
    y2, (h2, c2) = clone(x)
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_array_equal(h2, h_n)
    np.testing.assert_array_equal(c2, c_n)


@pytest.mark.parametrize("how", COPIERS)
def test_copy_continues_training_exactly_as_the_original(rng, how):
    """The dropout generator's state travels too, so the next training step is the same."""
    model, x = trained_model(rng, (2, True, 0, True, False), np.float64)
    clone = COPIERS[how](model)
    for m in (model, clone):
        y, _, cache = m.forward(x)
        m.backward(np.ones_like(y), cache)
    for name, g in model.grads.items():
        np.testing.assert_array_equal(clone.grads[name], g, err_msg=name)


@pytest.mark.parametrize("how", COPIERS)
def test_copy_owns_its_arrays(rng, how):
    model, x = trained_model(rng, CONFIGS[0], np.float32)
    clone = COPIERS[how](model)
    clone.parameters()["weight_ih_l0"][:] = 0
    clone.zero_grad()
    assert model.parameters()["weight_ih_l0"].any()
    assert model.grads["weight_ih_l0"].any()


@pytest.mark.parametrize("how", COPIERS)
def test_copy_refuses_the_originals_cache_and_the_original_refuses_its(rng, how):
    model, x = trained_model(rng, CONFIGS[0], np.float32)
    clone = COPIERS[how](model)
    y, _, cache = model.forward(x)
    with pytest.raises(ValueError, match="another model"):
        clone.backward(np.ones_like(y), cache)
    y, _, clone_cache = clone.forward(x)
    with pytest.raises(ValueError, match="another model"):
        model.backward(np.ones_like(y), clone_cache)
    clone.backward(np.ones_like(y), clone_cache)


def test_pickled_cache_is_refused_by_every_model(rng):
    """A cache that went through pickle no longer belongs to the model that made it."""
    model, x = trained_model(rng, CONFIGS[0], np.float32)
    y, _, cache = model.forward(x)
    with pytest.raises(ValueError, match="another model"):
        model.backward(np.ones_like(y), pickle_round_trip(cache))
    model.backward(np.ones_like(y), cache)


def test_models_travel_to_a_worker_process(rng):
    """What multiprocessing does with a model: pickle it into another interpreter."""
    import concurrent.futures
    import multiprocessing

    model, x = trained_model(rng, CONFIGS[1], np.float32)
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        y_remote, _ = pool.submit(model, x).result(timeout=60)
    np.testing.assert_array_equal(y_remote, model(x)[0])
