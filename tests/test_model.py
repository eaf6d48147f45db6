"""SequenceModel (LSTM -> Linear): outputs, gradients, names, and build_model's initialisations."""
import numpy as np
import pytest

from lstmcore.layers import Linear
from lstmcore.lstm import LSTM
from lstmcore.model import SequenceModel, build_model
from tolerances import (FINITE_DIFFERENCE_STEP, FINITE_DIFFERENCE_TOL, TOL, TOL_TORCH,
                        assert_close)

T, B, I, H, K = 4, 3, 2, 3, 2
LENGTHS = np.array([4, 2, 1])
CONFIGS = {"1 layer": {"num_layers": 1}, "2 layers bidirectional": {"num_layers": 2,
                                                                    "bidirectional": True}}


def make_model(output="last", dtype=np.float64, batch_first=False, seed=0, **lstm_kwargs):
    lstm = LSTM(I, H, batch_first=batch_first, dtype=dtype, seed=seed, **lstm_kwargs)
    head = Linear(lstm.num_directions * lstm.output_size, K, dtype=dtype, seed=seed + 1)
    return SequenceModel(lstm, head, output=output)


def inputs(rng, batch_first, dtype=np.float64):
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I)).astype(dtype)
    return x


def weighted_loss(model, x, w, lengths):
    return float(np.sum(model(x, lengths=lengths) * w))


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
@pytest.mark.parametrize("output", ["last", "all"])
def test_gradients_match_finite_differences(rng, output, lengths, batch_first, config):
    model = make_model(output, batch_first=batch_first, **CONFIGS[config])
    x = inputs(rng, batch_first)
    pred, cache = model.forward(x, lengths=lengths)
    w = rng.standard_normal(pred.shape)
    model.zero_grad()
    dx, _ = model.backward(w, cache)
    eps = FINITE_DIFFERENCE_STEP

    def numeric(array):
        grad = np.zeros_like(array)
        for idx in np.ndindex(array.shape):
            keep = array[idx]
            array[idx] = keep + eps
            up = weighted_loss(model, x, w, lengths)
            array[idx] = keep - eps
            down = weighted_loss(model, x, w, lengths)
            array[idx] = keep
            grad[idx] = (up - down) / (2 * eps)
        return grad

    grads = model.grads()
    for name, param in model.parameters().items():
        assert_close(grads[name], numeric(param), FINITE_DIFFERENCE_TOL, name)
    assert_close(dx, numeric(x), FINITE_DIFFERENCE_TOL, "dx")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_last_output_is_the_head_of_the_final_hidden_state(rng, dtype):
    model = make_model("last", dtype=dtype, num_layers=2)
    x = inputs(rng, False, dtype)
    _, (h_n, _) = model.lstm(x)
    assert_close(model(x), model.head(h_n[-1]), TOL[dtype], "pred")


def test_last_output_concatenates_both_directions_of_the_final_layer(rng):
    model = make_model("last", num_layers=2, bidirectional=True)
    x = inputs(rng, False)
    _, (h_n, _) = model.lstm(x)
    assert_close(model(x), model.head(np.concatenate([h_n[-2], h_n[-1]], axis=1)), TOL[np.float64],
                 "pred")


@pytest.mark.parametrize("batch_first", [False, True])
def test_last_output_respects_lengths(rng, batch_first):
    model = make_model("last", batch_first=batch_first)
    x = inputs(rng, batch_first)
    pred = model(x, lengths=LENGTHS)
    for b, length in enumerate(LENGTHS):
        alone = x[b:b + 1, :length] if batch_first else x[:length, b:b + 1]
        assert_close(pred[b], model(alone)[0], TOL[np.float64], f"pred[{b}]")


@pytest.mark.parametrize("batch_first", [False, True])
def test_all_output_is_zero_past_each_length(rng, batch_first):
    model = make_model("all", batch_first=batch_first)
    x = inputs(rng, batch_first)
    pred = model(x, lengths=LENGTHS)
    assert pred.shape == ((B, T, K) if batch_first else (T, B, K))
    steps = pred if batch_first else pred.transpose(1, 0, 2)
    for b, length in enumerate(LENGTHS):
        assert not steps[b, length:].any()
        assert steps[b, :length].all()


def test_call_matches_forward(rng):
    model = make_model("all")
    x = inputs(rng, False)
    pred, cache = model.forward(x)
    np.testing.assert_array_equal(model(x), pred)
    h_n, c_n = cache.state
    assert h_n.shape == (1, B, H) and c_n.shape == (1, B, H)


def test_parameters_and_grads_are_prefixed_live_arrays():
    model = make_model()
    params = model.parameters()
    assert set(params) == {"lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0",
                           "lstm.bias_hh_l0", "head.weight", "head.bias"}
    assert params["head.weight"] is model.head.weight
    grads = model.grads()
    assert set(grads) == set(params)
    assert all(grads[n].shape == p.shape for n, p in params.items())


def test_zero_grad_clears_both_parts(rng):
    model = make_model()
    pred, cache = model.forward(inputs(rng, False))
    model.backward(np.ones_like(pred), cache)
    assert all(g.any() for g in model.grads().values())
    model.zero_grad()
    assert not any(g.any() for g in model.grads().values())


def test_state_dict_round_trips_into_another_model(rng):
    source, target = make_model(seed=0), make_model(seed=5)
    target.load_state_dict(source.state_dict())
    x = inputs(rng, False)
    np.testing.assert_array_equal(target(x), source(x))
    state = source.state_dict()
    state["head.bias"][...] = 7
    assert not (source.head.bias == 7).any(), "state_dict must return copies"


def test_load_state_dict_names_missing_and_unexpected_keys():
    model = make_model()
    state = model.state_dict()
    del state["head.bias"]
    state["head.extra"] = np.zeros(1)
    with pytest.raises(KeyError, match=r"missing \['head.bias'\].*unexpected \['head.extra'\]"):
        model.load_state_dict(state)


def broken_state_dicts(model):
    """label -> (state dict, error, match); every entry differs from the model's, so a partial
    load would show."""
    good = {name: value + 1 for name, value in model.state_dict().items()}

    def edited(name, value):
        state = dict(good)
        if value is None:
            del state[name]
        else:
            state[name] = value
        return state

    return {
        "lstm-missing": (edited("lstm.bias_hh_l0", None), KeyError, "lstm.bias_hh_l0"),
        "head-missing": (edited("head.bias", None), KeyError, "head.bias"),
        "head-unexpected": (edited("head.extra", np.zeros(1)), KeyError, "head.extra"),
        "lstm-misshapen": (edited("lstm.weight_hh_l0", good["lstm.weight_hh_l0"].T), ValueError,
                           r"state\['lstm.weight_hh_l0'\] must have shape \(12, 3\)"),
        "head-misshapen": (edited("head.bias", np.zeros(K + 1)), ValueError,
                           r"state\['head.bias'\] must have shape \(2,\)"),
        "head-complex": (edited("head.weight", good["head.weight"] + 1j), TypeError,
                         "head.weight"),
        "not-a-mapping": (list(good.values()), TypeError, "state must be a mapping"),
    }


@pytest.mark.parametrize("label", broken_state_dicts(make_model()))
def test_bad_state_dict_is_refused_and_loads_nothing(label):
    model = make_model()
    state, error, match = broken_state_dicts(model)[label]
    before = model.state_dict()
    with pytest.raises(error, match=match):
        model.load_state_dict(state)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name], err_msg=f"{name} was loaded")


@pytest.mark.parametrize("dtype", [complex, object, bool, str])
@pytest.mark.parametrize("output", ["last", "all"])
def test_backward_refuses_dpred_that_is_not_real_numbers(rng, output, dtype):
    model = make_model(output)
    pred, cache = model.forward(inputs(rng, False))
    with pytest.raises(TypeError, match="dpred must hold real numbers"):
        model.backward(np.ones_like(pred).astype(dtype), cache)
    assert not any(g.any() for g in model.grads().values())


def test_unknown_output_is_refused():
    with pytest.raises(ValueError, match="output"):
        SequenceModel(LSTM(1, 2), Linear(2, 1), output="first")


@pytest.mark.parametrize("output", ["last", "all"])
def test_matches_torch_lstm_and_linear(rng, output):
    torch = pytest.importorskip("torch")
    model = make_model(output, num_layers=2)
    net = torch.nn.LSTM(I, H, num_layers=2).double()
    lin = torch.nn.Linear(H, K).double()
    state = model.state_dict()
    net.load_state_dict({k[5:]: torch.tensor(v) for k, v in state.items() if k[:5] == "lstm."})
    lin.load_state_dict({k[5:]: torch.tensor(v) for k, v in state.items() if k[:5] == "head."})
    x = inputs(rng, False)
    pred, cache = model.forward(x)
    w = rng.standard_normal(pred.shape)
    model.zero_grad()
    model.backward(w, cache)
    y, (h_n, _) = net(torch.tensor(x))
    expected = lin(h_n[-1] if output == "last" else y)
    (expected * torch.tensor(w)).sum().backward()
    assert_close(pred, expected.detach().numpy(), TOL_TORCH[np.float64], "pred")
    grads = model.grads()
    for name, p in [*net.named_parameters(prefix="lstm"), *lin.named_parameters(prefix="head")]:
        assert_close(grads[name], p.grad.numpy(), TOL_TORCH[np.float64], name)


def test_build_model_tf1_init_is_basic_lstm_cell():
    model = build_model(I, H, output_size=K, init="tf1", seed=0)
    state = model.lstm.state_dict()
    limit = np.sqrt(6.0 / (I + H + 4 * H))
    for name in ("weight_ih_l0", "weight_hh_l0"):
        assert np.abs(state[name]).max() <= limit
    bias = state["bias_ih_l0"] + state["bias_hh_l0"]
    np.testing.assert_array_equal(bias, np.repeat([0.0, 1.0, 0.0, 0.0], H))  # i, f, g, o
    assert np.abs(model.head.weight).max() <= np.sqrt(6.0 / (H + K))
    assert not model.head.bias.any()


def test_build_model_keras_init_has_orthogonal_recurrent_kernel():
    model = build_model(I, H, init="keras", seed=0, dtype=np.float64)
    state = model.lstm.state_dict()
    w_hh = state["weight_hh_l0"]  # (4H, H): Keras's recurrent_kernel (H, 4H) transposed
    assert_close(w_hh.T @ w_hh, np.eye(H), TOL[np.float64], "recurrent_kernel rows")
    assert np.abs(state["weight_ih_l0"]).max() <= np.sqrt(6.0 / (I + 4 * H))
    bias = state["bias_ih_l0"] + state["bias_hh_l0"]
    np.testing.assert_array_equal(bias, np.repeat([0.0, 1.0, 0.0, 0.0], H))
    assert not model.head.bias.any()


@pytest.mark.parametrize("init", ["pytorch", "keras", "tf1"])
def test_build_model_is_seeded(rng, init):
    x = rng.standard_normal((B, T, I))
    same = [build_model(I, H, num_layers=2, init=init, seed=3)(x) for _ in range(2)]
    other = build_model(I, H, num_layers=2, init=init, seed=4)(x)
    np.testing.assert_array_equal(same[0], same[1])
    assert not np.array_equal(same[0], other)


@pytest.mark.parametrize("init", ["keras", "tf1"])
def test_build_model_initialises_every_layer_and_direction(init):
    model = build_model(I, H, num_layers=2, bidirectional=True, init=init, seed=0)
    state = model.lstm.state_dict()
    assert len({v.tobytes() for k, v in state.items() if k.startswith("weight")}) == 8
    assert state["weight_ih_l1_reverse"].shape == (4 * H, 2 * H)
    assert model.head.weight.shape == (1, 2 * H)


def test_build_model_refuses_unknown_init():
    with pytest.raises(ValueError, match="init"):
        build_model(I, H, init="glorot")


@pytest.mark.parametrize("output", ["last", "all"])
def test_training_lowers_the_loss(rng, output):
    from lstmcore.optim import Adam
    from lstmcore.trainer import Trainer

    model = build_model(1, 8, output=output, seed=0)
    t = np.linspace(0, 20, 64 * 11).reshape(64, 11)
    X, y = np.sin(t[:, :10, None]), np.sin(t[:, 1:, None]) if output == "all" else np.sin(t[:, 10:])
    trainer = Trainer(model, Adam(model.parameters(), lr=0.02), batch_size=16, seed=0)
    before = trainer.evaluate(X, y)
    trainer.fit(X, y, steps=150)
    assert trainer.evaluate(X, y) < before / 5
