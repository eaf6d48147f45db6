"""The seed experiment demo: its output lines, its plot, its options, and its accuracy."""
import re
import sys

import numpy as np
import pytest

from lstmcore import demo

FLOAT = r"[0-9]+\.[0-9]+"


def run_quietly(**kwargs):
    lines = []
    result = demo.run(echo=lines.append, **kwargs)
    return result, lines


def test_prints_rmse_losses_and_time_and_saves_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "demo.png"
    result, lines = run_quietly(steps=120, output=str(path))
    assert re.fullmatch(f"RMSE before training: {FLOAT}", lines[0])
    assert re.fullmatch(f"train step: 0, loss {FLOAT}", lines[1])
    assert re.fullmatch(f"train step: 100, loss {FLOAT}", lines[2])
    assert re.fullmatch(f"RMSE after training: {FLOAT}", lines[3])
    assert re.fullmatch(rf"Training time: {FLOAT} s for 120 steps \([0-9]+ us/step\)", lines[4])
    assert lines[5] == f"Plot saved to {path}" and len(lines) == 6
    assert float(lines[0].split(": ")[1]) == pytest.approx(result.rmse_before, abs=1e-6)
    assert result.rmse_after < result.rmse_before
    assert len(result.losses) == 120 and result.plot_path == str(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000


def test_without_matplotlib_it_says_so_and_skips_the_plot(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result, lines = run_quietly(steps=2, output=str(tmp_path / "demo.png"))
    assert "matplotlib is not installed" in lines[-1]
    assert result.plot_path is None and not (tmp_path / "demo.png").exists()


@pytest.mark.parametrize("optimizer", ["adagrad", "adam", "sgd", "rmsprop"])
@pytest.mark.parametrize("layout", ["comments", "literal"])
def test_every_optimizer_and_layout_trains(optimizer, layout):
    result, _ = run_quietly(steps=30, optimizer=optimizer, layout=layout, output=None)
    assert np.isfinite(result.losses).all()
    assert result.rmse_after < result.rmse_before


def test_the_seed_is_the_only_source_of_randomness():
    runs = [run_quietly(steps=5, seed=s, output=None)[0].losses for s in (4, 4, 5)]
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_defaults_reach_the_tutorials_accuracy():
    """The acceptance bar: test RMSE <= 0.03 after the default 1000 steps."""
    result, lines = run_quietly(output=None)
    assert sum(line.startswith("train step:") for line in lines) == 10
    assert result.rmse_after <= 0.03


def test_main_parses_the_options(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "out.png"
    assert demo.main(["--steps", "3", "--seed", "1", "--optimizer", "adam", "--layout",
                      "literal", "--threads", "2", "--output", str(path)]) == 0
    out = capsys.readouterr().out
    assert "RMSE after training" in out and path.exists()


def test_runs_with_the_asked_blas_threads_and_restores_them(monkeypatch):
    import lstmcore

    before = lstmcore.get_num_threads()
    seen = []
    monkeypatch.setattr(demo, "_run", lambda *args: seen.append(lstmcore.get_num_threads()))
    demo.run(threads=1)
    assert seen == [1] and lstmcore.get_num_threads() == before


@pytest.mark.parametrize("argv", [["--steps", "0"], ["--optimizer", "lbfgs"],
                                  ["--layout", "wide"], ["--threads", "0"]])
def test_main_refuses_bad_options(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        demo.main(argv)
    assert exit_info.value.code == 2
    assert argv[0] in capsys.readouterr().err


def test_make_optimizer_refuses_unknown_names():
    with pytest.raises(ValueError, match="optimizer"):
        demo.make_optimizer("lbfgs", {"w": np.zeros(2)})


@pytest.fixture
def torch_one_thread():
    """torch at one thread: a second one only adds waiting at these sizes."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(threads)


def test_training_follows_a_torch_replica_step_by_step(torch_one_thread):
    """Model, trainer, loss and Adagrad together against PyTorch, on the demo's batches."""
    torch = torch_one_thread
    from lstmcore.data import cos_dataset
    from lstmcore.model import build_model
    from lstmcore.trainer import Trainer
    from tolerances import TOL_TORCH

    data = cos_dataset(train_examples=200)
    model = build_model(1, demo.HIDDEN_SIZE, init="tf1", seed=0, dtype=np.float64)
    trainer = Trainer(model, demo.make_optimizer("adagrad", model.parameters()),
                      batch_size=demo.BATCH_SIZE, seed=0)
    batches = []
    forward = model.forward
    model.forward = lambda x, **kw: (batches.append(x.copy()), forward(x, **kw))[1]

    lstm = torch.nn.LSTM(1, demo.HIDDEN_SIZE, batch_first=True).double()
    head = torch.nn.Linear(demo.HIDDEN_SIZE, 1).double()
    state = model.state_dict()
    lstm.load_state_dict({k[5:]: torch.tensor(v) for k, v in state.items() if k[:5] == "lstm."})
    head.load_state_dict({k[5:]: torch.tensor(v) for k, v in state.items() if k[:5] == "head."})
    optimizer = torch.optim.Adagrad([*lstm.parameters(), *head.parameters()], lr=0.1,
                                    initial_accumulator_value=0.1, eps=0.0)
    losses = trainer.fit(data.X_train, data.y_train, steps=30).loss

    by_window = {x.tobytes(): i for i, x in enumerate(data.X_train.astype(np.float64))}
    for step, xb in enumerate(batches):
        idx = [by_window[x.tobytes()] for x in xb]
        optimizer.zero_grad()
        _, (h_n, _) = lstm(torch.tensor(xb))
        loss = torch.nn.functional.mse_loss(head(h_n[-1]), torch.tensor(
            data.y_train[idx], dtype=torch.float64))
        loss.backward()
        optimizer.step()
        assert losses[step] == pytest.approx(loss.item(), rel=TOL_TORCH[np.float64])
    for name, p in [*lstm.named_parameters(prefix="lstm"), *head.named_parameters(prefix="head")]:
        np.testing.assert_allclose(model.parameters()[name], p.detach().numpy(), rtol=1e-7,
                                   atol=1e-9, err_msg=name)
