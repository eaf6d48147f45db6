"""Trainer: the seeded batch stream, epochs, validation, early stopping, clipping, stateful BPTT."""
import numpy as np
import pytest

from lstmcore.model import build_model
from lstmcore.optim import SGD, Adam, clip_grad_norm_
from lstmcore.trainer import EarlyStopping, Trainer, predict
from tolerances import TOL, assert_close

N, T, I = 10, 3, 2


def make_trainer(batch_size=4, seed=0, lr=0.01, output="last", batch_first=True, **kwargs):
    model = build_model(I, 4, output=output, batch_first=batch_first, seed=1)
    return Trainer(model, Adam(model.parameters(), lr=lr), batch_size=batch_size, seed=seed,
                   **kwargs)


def indexed_data(n=N):
    """X[i] is filled with i, so a batch tells which samples it holds."""
    X = np.repeat(np.arange(n, dtype=np.float32)[:, None, None], T, axis=1).repeat(I, axis=2)
    return X, np.ones((n, 1), np.float32)


def record_batches(trainer):
    seen = []
    forward = trainer.model.forward

    def recording(x, **kwargs):
        seen.append(x[:, 0, 0].astype(int))
        return forward(x, **kwargs)

    trainer.model.forward = recording
    return seen


def test_same_seed_gives_the_same_losses_and_another_seed_does_not(rng):
    X, y = rng.standard_normal((40, T, I)), rng.standard_normal((40, 1))
    runs = [make_trainer(seed=s).fit(X, y, steps=12).loss for s in (7, 7, 8)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_stream_sees_every_sample_once_per_pass():
    trainer = make_trainer(batch_size=4)
    seen = record_batches(trainer)
    trainer.fit(*indexed_data(), steps=5)
    assert [len(b) for b in seen] == [4] * 5
    order = np.concatenate(seen)
    assert sorted(order[:N]) == list(range(N))
    assert sorted(order[N:]) == list(range(N))
    assert list(order[:N]) != list(range(N)), "batches must be shuffled"


def test_stream_continues_across_fit_calls():
    whole, parts = make_trainer(), make_trainer()
    seen_whole, seen_parts = record_batches(whole), record_batches(parts)
    whole.fit(*indexed_data(), steps=7)
    parts.fit(*indexed_data(), steps=3)
    parts.fit(*indexed_data(), steps=4)
    assert parts.step == 7
    np.testing.assert_array_equal(np.concatenate(seen_whole), np.concatenate(seen_parts))


def test_state_dict_restores_the_stream():
    first, second = make_trainer(seed=0), make_trainer(seed=99)
    first.fit(*indexed_data(), steps=3)
    second.load_state_dict(first.state_dict())
    seen_first, seen_second = record_batches(first), record_batches(second)
    first.fit(*indexed_data(), steps=4)
    second.fit(*indexed_data(), steps=4)
    np.testing.assert_array_equal(np.concatenate(seen_first), np.concatenate(seen_second))
    assert second.step == 7


def stream_state(trainer):
    state = trainer.state_dict()
    order = None if state["order"] is None else state["order"].tolist()
    return state["step"], state["rng"], order, state["pos"]


# label: (make(good state, trainer), error, match): the ways a trainer's state can be wrong
BROKEN_STATES = {
    "not-a-mapping": (lambda good, t: list(good.values()), TypeError, "state must be a mapping"),
    "None": (lambda good, t: None, TypeError, "state must be a mapping"),
    "missing": (lambda good, t: {k: v for k, v in good.items() if k != "pos"}, KeyError,
                r"missing \['pos'\]"),
    "unexpected": (lambda good, t: good | {"lr": 0.1}, KeyError, r"unexpected \['lr'\]"),
    "optimizers": (lambda good, t: t.optimizer.state_dict(), KeyError, "missing.*'rng'"),
    "models": (lambda good, t: t.model.state_dict(), KeyError, "missing.*'step'"),
    "step-str": (lambda good, t: good | {"step": "3"}, TypeError, r"state\['step'\]"),
    "step-float": (lambda good, t: good | {"step": 3.0}, TypeError, r"state\['step'\]"),
    "step-negative": (lambda good, t: good | {"step": -1}, ValueError,
                      r"state\['step'\] must be >= 0"),
    "rng-not-a-dict": (lambda good, t: good | {"rng": 7}, TypeError,
                       r"state\['rng'\] must be a dict"),
    "rng-other-generator": (lambda good, t: good | {"rng": np.random.MT19937(0).state},
                            ValueError, r"state\['rng'\].*PCG64"),
    "rng-incomplete": (lambda good, t: good | {"rng": {"bit_generator": "PCG64"}}, ValueError,
                       r"state\['rng'\]"),
    "order-2D": (lambda good, t: good | {"order": good["order"].reshape(2, -1)}, ValueError,
                 r"state\['order'\] must be a permutation"),
    "order-repeats": (lambda good, t: good | {"order": np.zeros(N, int)}, ValueError,
                      r"state\['order'\] must be a permutation"),
    "order-floats": (lambda good, t: good | {"order": good["order"] + 0.0}, TypeError,
                     r"state\['order'\] must hold integers"),
    "order-str": (lambda good, t: good | {"order": "0123"}, TypeError, r"state\['order'\]"),
    "pos-past-order": (lambda good, t: good | {"pos": N + 1}, ValueError,
                       rf"state\['pos'\] must lie in \[0, {N}\]"),
    "pos-without-order": (lambda good, t: good | {"order": None, "pos": 3}, ValueError,
                          r"state\['pos'\] must lie in \[0, 0\]"),
    "pos-negative": (lambda good, t: good | {"pos": -1}, ValueError,
                     r"state\['pos'\] must be >= 0"),
}


@pytest.mark.parametrize("label", BROKEN_STATES)
def test_bad_state_dict_is_refused_and_loads_nothing(label):
    """Every entry is checked before any is set: no half-loaded trainer."""
    make, error, match = BROKEN_STATES[label]
    source = make_trainer(seed=5)
    source.fit(*indexed_data(), steps=3)
    trainer = make_trainer(seed=0)
    trainer.fit(*indexed_data(), steps=1)
    before = stream_state(trainer)
    with pytest.raises(error, match=match):
        trainer.load_state_dict(make(source.state_dict(), source))
    assert stream_state(trainer) == before, f"{label}: the trainer was changed"


def test_stream_wider_than_the_data_set_cycles_through_it():
    trainer = make_trainer(batch_size=25)
    seen = record_batches(trainer)
    trainer.fit(*indexed_data(), steps=2)
    counts = np.bincount(np.concatenate(seen), minlength=N)
    assert (counts == 5).all()


def test_epochs_cover_each_sample_once_with_a_short_last_batch():
    trainer = make_trainer(batch_size=4)
    seen = record_batches(trainer)
    history = trainer.fit(*indexed_data(), epochs=2)
    assert [len(b) for b in seen] == [4, 4, 2] * 2
    assert len(history.loss) == 6
    for epoch in (seen[:3], seen[3:]):
        assert sorted(np.concatenate(epoch)) == list(range(N))


def test_validation_runs_every_log_every_steps_and_after_the_last(rng):
    X, y = rng.standard_normal((N, T, I)), rng.standard_normal((N, 1))
    trainer = make_trainer()
    history = trainer.fit(X, y, steps=10, log_every=4, validation=(X[:5], y[:5]))
    assert history.val_step == [4, 8, 10]
    assert len(history.val_loss) == 3 and len(history.loss) == 10
    assert history.val_loss[-1] == trainer.evaluate(X[:5], y[:5])


def test_validation_runs_after_each_epoch(rng):
    X, y = rng.standard_normal((N, T, I)), rng.standard_normal((N, 1))
    history = make_trainer(batch_size=4).fit(X, y, epochs=3, validation=(X, y))
    assert history.val_step == [3, 6, 9]


@pytest.mark.parametrize("output", ["last", "all"])
def test_validation_evaluates_with_its_lengths(rng, output):
    X = rng.standard_normal((N, T, I))
    y = rng.standard_normal((N, T, 1) if output == "all" else (N, 1))
    lengths = np.arange(N) % T + 1
    trainer = make_trainer(output=output)
    history = trainer.fit(X, y, steps=4, log_every=2, lengths=lengths,
                          validation=(X[:5], y[:5], lengths[:5]))
    assert history.val_step == [2, 4]
    assert history.val_loss[-1] == trainer.evaluate(X[:5], y[:5], lengths[:5])
    assert history.val_loss[-1] != trainer.evaluate(X[:5], y[:5])


def test_validation_triple_with_no_lengths_is_the_pair(rng):
    X, y = rng.standard_normal((N, T, I)), rng.standard_normal((N, 1))
    runs = [make_trainer().fit(X, y, steps=2, validation=v).val_loss
            for v in ((X[:5], y[:5]), [X[:5], y[:5], None])]
    assert runs[0] == runs[1]


@pytest.mark.parametrize("lengths_val, error, match", [
    (np.full(4, T), ValueError, r"validation\[2\] must have shape \(5,\), one per sample of "
                                r"validation\[0\]"),
    (np.full(5, T + 1), ValueError, rf"validation\[2\] must lie in \[1, T={T}\]"),
    (np.zeros(5, int), ValueError, r"validation\[2\] must lie in"),
    (np.full(5, 2.0), TypeError, r"validation\[2\] must be integers"),
    (np.ones(5, bool), TypeError, r"validation\[2\] must be integers"),
    ([[1, 2], [3]], TypeError, r"validation\[2\] must be an array of integers"),
], ids=["short", "past-T", "zero", "float", "bool", "ragged"])
def test_bad_validation_lengths_are_refused_by_name_before_training(rng, lengths_val, error,
                                                                    match):
    X, y = rng.standard_normal((N, T, I)), rng.standard_normal((N, 1))
    trainer = make_trainer()
    with pytest.raises(error, match=match):
        trainer.fit(X, y, steps=2, validation=(X[:5], y[:5], lengths_val))
    assert trainer.step == 0


class DriftingOptimizer:
    """Moves the head's bias by +1 per step: the validation loss only grows after step 1."""

    def __init__(self, model):
        self.bias = model.head.bias

    def step(self, grads):
        self.bias += 1


@pytest.mark.parametrize("restore_best", [True, False])
def test_early_stopping_stops_and_restores_the_best_parameters(rng, restore_best):
    model = build_model(I, 4, seed=1)
    X = rng.standard_normal((N, T, I))
    y = model(X) + 1  # the validation loss is lowest after the first step
    trainer = Trainer(model, DriftingOptimizer(model), batch_size=4, seed=0)
    bias = model.head.bias.copy()
    history = trainer.fit(X, y, steps=100, log_every=1, validation=(X, y),
                          early_stopping=EarlyStopping(patience=3, restore_best=restore_best))
    assert history.stopped_early and history.best_step == 1
    assert len(history.loss) == 4
    np.testing.assert_array_equal(model.head.bias, bias + (1 if restore_best else 4))


def test_early_stopping_accepts_an_int_patience(rng):
    model = build_model(I, 4, seed=1)
    X = rng.standard_normal((N, T, I))
    trainer = Trainer(model, DriftingOptimizer(model), batch_size=4, seed=0)
    history = trainer.fit(X, model(X) + 1, steps=100, log_every=1, validation=(X, model(X) + 1),
                          early_stopping=2)
    assert history.stopped_early and len(history.loss) == 3


class RecordingSGD(SGD):
    def step(self, grads):
        self.norms = getattr(self, "norms", [])
        self.norms.append(clip_grad_norm_({k: g.copy() for k, g in grads.items()}, np.inf))
        super().step(grads)


def test_clip_norm_bounds_the_gradient_norm_the_optimizer_sees(rng):
    model = build_model(I, 4, seed=1)
    optimizer = RecordingSGD(model.parameters(), lr=0.01)
    X, y = rng.standard_normal((N, T, I)), 100 * rng.standard_normal((N, 1))
    Trainer(model, optimizer, clip_norm=0.5, seed=0).fit(X, y, steps=5)
    assert max(optimizer.norms) <= 0.5 * (1 + 1e-5)


def test_cross_entropy_trains_a_classifier(rng):
    model = build_model(I, 8, output_size=3, seed=1)
    X = rng.standard_normal((60, T, I)).astype(np.float32)
    labels = np.argmax(X[:, -1, :1] * [[-1, 0, 1]], axis=1)  # class from the last step's sign
    trainer = Trainer(model, Adam(model.parameters(), lr=0.05), loss="cross_entropy",
                      batch_size=20, seed=0)
    before = trainer.evaluate(X, labels)
    trainer.fit(X, labels, steps=60)
    assert trainer.evaluate(X, labels) < before / 2


def test_a_callable_loss_is_used(rng):
    calls = []

    def loss(pred, target):
        calls.append(pred.shape)
        return float(np.abs(pred - target).sum()), np.sign(pred - target)

    model = build_model(I, 4, seed=1)
    X, y = rng.standard_normal((N, T, I)), rng.standard_normal((N, 1))
    Trainer(model, SGD(model.parameters(), lr=0.01), loss=loss, batch_size=5).fit(X, y, steps=2)
    assert calls == [(5, 1), (5, 1)]


def test_callback_sees_the_global_step_and_its_loss(rng):
    X, y = rng.standard_normal((N, T, I)), rng.standard_normal((N, 1))
    trainer, calls = make_trainer(), []
    trainer.fit(X, y, steps=2)
    history = trainer.fit(X, y, steps=3, callback=lambda step, loss: calls.append((step, loss)))
    assert calls == list(zip([2, 3, 4], history.loss))


@pytest.mark.parametrize("progress, shown", [(False, False), (True, True), (None, False)])
def test_progress_bar_only_when_asked_or_on_a_terminal(rng, capsys, progress, shown):
    pytest.importorskip("tqdm")
    X, y = rng.standard_normal((N, T, I)), rng.standard_normal((N, 1))
    make_trainer(progress=progress).fit(X, y, steps=3)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert ("step" in captured.err) == shown  # under pytest stderr is not a terminal


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("output", ["last", "all"])
def test_samples_first_data_suits_either_lstm_layout(rng, output, batch_first):
    X = rng.standard_normal((N, T, I)).astype(np.float32)
    y = rng.standard_normal((N, T, 1) if output == "all" else (N, 1)).astype(np.float32)
    trainer = make_trainer(output=output, batch_first=batch_first)
    trainer.fit(X, y, steps=2)
    model = trainer.model
    pred = predict(model, X, batch_size=3)
    assert pred.shape == y.shape
    direct = model(X if batch_first else X.transpose(1, 0, 2))
    assert_close(pred, direct if batch_first or output == "last" else direct.transpose(1, 0, 2),
                 TOL[np.float32], "pred")
    assert np.isclose(trainer.evaluate(X, y, batch_size=3), trainer.evaluate(X, y), rtol=1e-5)


def test_lengths_are_passed_per_batch(rng):
    trainer = make_trainer(batch_size=4)
    seen = []
    forward = trainer.model.forward
    trainer.model.forward = lambda x, **kw: (seen.append((x[:, 0, 0], kw["lengths"])),
                                             forward(x, **kw))[1]
    X, y = indexed_data()
    trainer.fit(X, y, steps=3, lengths=np.arange(N) % T + 1)
    for samples, lengths in seen:
        np.testing.assert_array_equal(lengths, samples.astype(int) % T + 1)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"steps": None}, ValueError, "exactly one of steps and epochs"),
    ({"steps": 2, "epochs": 1}, ValueError, "exactly one of steps and epochs"),
    ({"steps": 0}, ValueError, "steps"),
    ({"steps": 2, "early_stopping": 3}, ValueError, "validation"),
    ({"steps": 2, "y": np.zeros((N - 1, 1))}, ValueError, "y"),
    ({"steps": 2, "X": np.zeros((N, T))}, ValueError, r"X must have shape \(N, T, I\)"),
    ({"steps": 2, "X": [["a"]]}, TypeError, "X"),
    ({"steps": 2, "lengths": np.ones(3)}, ValueError, "lengths"),
])
def test_bad_fit_arguments_are_refused_by_name(rng, kwargs, error, match):
    args = {"X": rng.standard_normal((N, T, I)), "y": rng.standard_normal((N, 1)), **kwargs}
    with pytest.raises(error, match=match):
        make_trainer().fit(**args)


@pytest.mark.parametrize("kwargs, match", [({"batch_size": 0}, "batch_size"),
                                           ({"clip_norm": -1.0}, "clip_norm"),
                                           ({"loss": "hinge"}, "loss")])
def test_bad_trainer_arguments_are_refused_by_name(kwargs, match):
    model = build_model(I, 4)
    with pytest.raises(ValueError, match=match):
        Trainer(model, SGD(model.parameters()), **kwargs)


NOT_PAIRS = {"array": lambda X, y: X, "one": lambda X, y: (X,),
             "four": lambda X, y: (X, y, None, None), "dict": lambda X, y: {"X": X, "y": y},
             "str": lambda X, y: "val"}


@pytest.mark.parametrize("make", NOT_PAIRS.values(), ids=NOT_PAIRS)
def test_validation_that_is_not_a_pair_or_triple_is_a_type_error(rng, make):
    X, y = rng.standard_normal((N, T, I)), rng.standard_normal((N, 1))
    with pytest.raises(TypeError, match=r"validation must be a pair \(X_val, y_val\) or a "
                                        r"triple \(X_val, y_val, lengths_val\)"):
        make_trainer().fit(X, y, steps=1, validation=make(X, y))


def test_validation_pair_may_be_a_list(rng):
    X, y = rng.standard_normal((N, T, I)), rng.standard_normal((N, 1))
    history = make_trainer().fit(X, y, steps=1, validation=[X, y])
    assert len(history.val_loss) == 1


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
@pytest.mark.parametrize("call", ["evaluate", "predict"])
def test_bad_inference_batch_size_is_refused_by_name(rng, call, batch_size):
    trainer = make_trainer()
    X, y = rng.standard_normal((N, T, I)), rng.standard_normal((N, 1))
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        if call == "evaluate":
            trainer.evaluate(X, y, batch_size=batch_size)
        else:
            predict(trainer.model, X, batch_size=batch_size)


EMPTY_X, EMPTY_Y = np.zeros((0, T, I)), np.zeros((0, 1))


@pytest.mark.parametrize("call, name", [
    (lambda t: t.fit(EMPTY_X, EMPTY_Y, steps=1), "X"),
    (lambda t: t.fit(EMPTY_X, EMPTY_Y, epochs=1), "X"),
    (lambda t: t.fit(np.ones((N, T, I)), np.ones((N, 1)), steps=1,
                     validation=(EMPTY_X, EMPTY_Y)), r"validation\[0\]"),
    (lambda t: t.evaluate(EMPTY_X, EMPTY_Y), "X"),
    (lambda t: predict(t.model, EMPTY_X), "X"),
], ids=["fit-steps", "fit-epochs", "validation", "evaluate", "predict"])
def test_zero_samples_are_refused_by_name(call, name):
    """fit by steps used to wait forever for a batch from an empty stream."""
    trainer = make_trainer()
    with pytest.raises(ValueError, match=f"{name} must hold at least one sample"):
        call(trainer)
    assert trainer.step == 0


def stateful_trainer(lr, output="all", batch_first=True):
    model = build_model(I, 4, output=output, batch_first=batch_first, seed=1)
    return Trainer(model, SGD(model.parameters(), lr=lr), seed=0)


@pytest.mark.parametrize("batch_first", [False, True])
def test_stateful_training_carries_the_state_from_chunk_to_chunk(rng, batch_first):
    trainer = stateful_trainer(lr=0.05, batch_first=batch_first)
    calls = []
    forward = trainer.model.forward

    def recording(x, hx=None, **kwargs):
        pred, cache = forward(x, hx=hx, **kwargs)
        calls.append((hx, cache.state))
        return pred, cache

    trainer.model.forward = recording
    X, y = rng.standard_normal((3, 10, I)), rng.standard_normal((3, 10, 1))
    history = trainer.fit_stateful(X, y, chunk=4, epochs=2)
    assert len(history.loss) == 6 and trainer.step == 6
    assert calls[0][0] is None and calls[3][0] is None, "each epoch starts from zeros"
    for (_, state), (hx, _) in [(calls[0], calls[1]), (calls[1], calls[2]), (calls[3], calls[4])]:
        np.testing.assert_array_equal(hx[0], state[0])
        np.testing.assert_array_equal(hx[1], state[1])


def test_stateful_chunks_without_updates_equal_one_pass(rng):
    trainer = stateful_trainer(lr=0.0)
    X, y = rng.standard_normal((3, 10, I)), rng.standard_normal((3, 10, 1))
    history = trainer.fit_stateful(X, y, chunk=3)
    pred = trainer.model(X)
    # with the weights fixed, the chunk losses are the whole-sequence loss in pieces
    sizes = np.array([3, 3, 3, 1])
    whole = float(np.mean((pred - y) ** 2))
    assert np.isclose(np.dot(history.loss, sizes) / sizes.sum(), whole, rtol=1e-5)


def test_stateful_last_output_trains_on_each_chunks_last_step(rng):
    trainer = stateful_trainer(lr=0.0, output="last")
    seen = []
    trainer.loss_fn = lambda pred, target: (seen.append(target.copy()), (0.0, pred * 0))[1]
    X, y = rng.standard_normal((3, 10, I)), rng.standard_normal((3, 10, 1))
    trainer.fit_stateful(X, y, chunk=4)
    for target, end in zip(seen, [3, 7, 9]):
        np.testing.assert_array_equal(target, y[:, end].astype(np.float32))


def test_stateful_refuses_targets_of_another_length(rng):
    with pytest.raises(ValueError, match="y must have shape"):
        stateful_trainer(0.1).fit_stateful(rng.standard_normal((3, 10, I)),
                                           rng.standard_normal((3, 9, 1)), chunk=4)


@pytest.mark.parametrize("lengths", [[3, 2], [3, 2, 1, 3], [[3, 2, 1]]], ids=str)
def test_predict_refuses_lengths_that_are_not_one_per_sample(lengths):
    model = build_model(2, 4, seed=0)
    X = np.ones((3, 3, 2), np.float32)
    with pytest.raises(ValueError, match=r"lengths must have shape \(3,\)"):
        predict(model, X, lengths=lengths, batch_size=2)


@pytest.mark.parametrize("loss, output_size, output", [("mse", 2, "last"), ("mse", 2, "all"),
                                                        ("cross_entropy", 3, "last")])
def test_a_named_loss_trains_as_the_same_function_passed_as_a_callable(rng, loss, output_size,
                                                                       output):
    """A named loss's dpred skips the model's checks; a callable's is checked. Same bits."""
    from lstmcore import losses

    X = rng.standard_normal((N, T, I)).astype(np.float32)
    if loss == "mse":
        y = rng.standard_normal((N, T, output_size) if output == "all" else (N, output_size))
    else:
        y = rng.integers(0, output_size, N)
    function = {"mse": losses.mse_loss, "cross_entropy": losses.cross_entropy}[loss]
    runs = []
    for given in (loss, lambda pred, target: function(pred, target)):
        model = build_model(I, 4, output_size=output_size, output=output, seed=1)
        history = Trainer(model, Adam(model.parameters(), lr=0.01), loss=given, batch_size=4,
                          seed=0).fit(X, y, steps=6)
        runs.append((history.loss, model.state_dict()))
    assert runs[0][0] == runs[1][0]
    for name, value in runs[0][1].items():
        np.testing.assert_array_equal(value, runs[1][1][name])


def test_a_backward_patched_onto_the_model_is_called_with_a_named_loss(rng):
    trainer = make_trainer()
    model, calls = trainer.model, []
    backward = model.backward
    model.backward = lambda dpred, cache: (calls.append(dpred.shape), backward(dpred, cache))[1]
    trainer.fit(rng.standard_normal((N, T, I)), rng.standard_normal((N, 1)), steps=3)
    assert calls == [(4, 1)] * 3


@pytest.mark.parametrize("y_val_shape", [(3, 2), (3,), (3, 1, 1)], ids=str)
def test_validation_targets_of_another_shape_are_refused_before_training(y_val_shape):
    """y (N, 1): a validation y of another width or number of axes is named up front, not at
    the first evaluation log_every steps later."""
    rng = np.random.default_rng(0)
    model = build_model(2, 4, seed=1)
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1), seed=0)
    X, y = rng.standard_normal((5, 3, 2)), rng.standard_normal((5, 1))
    validation = (rng.standard_normal((3, 3, 2)), rng.standard_normal(y_val_shape))
    with pytest.raises(ValueError, match=r"validation\[1\] must be targets like y's"):
        trainer.fit(X, y, steps=3, validation=validation)
    assert trainer.step == 0
