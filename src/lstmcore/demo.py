"""The seed experiment: an LSTM learns to continue cos(x) (``python -m lstmcore demo``).

A TensorFlow 1 tutorial's setup, reproduced: windows of 10 samples of cos predict the next one
(:func:`lstmcore.data.cos_dataset`); one LSTM layer of 30 units initialised as TF1's
BasicLSTMCell, its last output into a Linear layer to 1 value; MSE; Adagrad with learning rate
0.1 as TF1 runs it (accumulator starting at 0.1, no epsilon); batches of 32 from a shuffled
stream; 1000 steps. It prints the test RMSE before and after training, the training loss every
100 steps and the training time, and plots the predictions against the real curve.
"""
import argparse
import os
import time
from typing import NamedTuple

import numpy as np

__all__ = ["DemoResult", "main", "make_optimizer", "run"]

HIDDEN_SIZE = 30
BATCH_SIZE = 32
LOG_EVERY = 100
# Learning rates for the other optimizers, picked so that each one fits the curve in 1000 steps.
OPTIMIZERS = {
    "adagrad": ("Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.1, "eps": 0.0}),
    "adam": ("Adam", {"lr": 0.01}),
    "sgd": ("SGD", {"lr": 0.1, "momentum": 0.9}),
    "rmsprop": ("RMSprop", {"lr": 0.01}),
}


class DemoResult(NamedTuple):
    rmse_before: float
    rmse_after: float
    train_seconds: float
    losses: list
    plot_path: str  # None when no plot was written


def make_optimizer(name, params):
    """An lstmcore.optim optimizer over ``params`` with the demo's settings for ``name``."""
    from . import optim

    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}")
    cls, kwargs = OPTIMIZERS[name]
    return getattr(optim, cls)(params, **kwargs)


def _rmse(pred, target):
    diff = np.asarray(pred, np.float64).reshape(-1) - np.asarray(target, np.float64).reshape(-1)
    return float(np.sqrt(np.mean(diff * diff)))


def run(steps=1000, seed=0, optimizer="adagrad", layout="comments", output="lstmcore_demo.png",
        threads=1, echo=print):
    """Runs the experiment with ``threads`` threads (core and BLAS), reporting through ``echo``;
    ``output=None`` skips the plot."""
    from .threads import num_threads

    with num_threads(threads):
        return _run(steps, seed, optimizer, layout, output, echo)


def _run(steps, seed, optimizer, layout, output, echo):
    from .data import cos_dataset
    from .model import build_model
    from .trainer import Trainer, predict

    data = cos_dataset(layout=layout)
    model = build_model(data.X_train.shape[2], HIDDEN_SIZE, output_size=1, init="tf1",
                        seed=seed)
    trainer = Trainer(model, make_optimizer(optimizer, model.parameters()), loss="mse",
                      batch_size=BATCH_SIZE, seed=seed, progress=False)

    before = predict(model, data.X_test)
    rmse_before = _rmse(before, data.y_test)
    echo(f"RMSE before training: {rmse_before:.6f}")
    snapshots = {}  # predictions after 100 steps, when training runs longer
    snapshot_seconds = [0.0]

    def report(step, loss):
        if step % LOG_EVERY == 0:
            echo(f"train step: {step}, loss {loss:.6f}")
        if step == LOG_EVERY - 1 and steps > LOG_EVERY:
            start = time.perf_counter()
            snapshots[step + 1] = predict(model, data.X_test)
            snapshot_seconds[0] += time.perf_counter() - start

    start = time.perf_counter()
    history = trainer.fit(data.X_train, data.y_train, steps=steps, callback=report)
    seconds = time.perf_counter() - start - snapshot_seconds[0]  # training alone
    after = predict(model, data.X_test)
    rmse_after = _rmse(after, data.y_test)
    echo(f"RMSE after training: {rmse_after:.6f}")
    echo(f"Training time: {seconds:.3f} s for {steps} steps ({1e6 * seconds / steps:.0f} us/step)")

    plot_path = None
    if output is not None:
        plot_path = _plot(output, data, before, snapshots, after, steps, history.loss,
                          rmse_before, rmse_after, optimizer, echo)
    return DemoResult(rmse_before, rmse_after, seconds, history.loss, plot_path)


def _plot(path, data, before, snapshots, after, steps, losses, rmse_before, rmse_after,
          optimizer, echo):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        echo("matplotlib is not installed: no plot (pip install matplotlib)")
        return None
    t, real = data.t_test, data.y_test[:, 0]
    fig, (top, middle, bottom) = plt.subplots(
        3, 1, figsize=(10, 10), gridspec_kw={"height_ratios": [3, 1.5, 2]})
    top.plot(t, real, color="black", lw=3, alpha=0.35, label="real cos(x)")
    top.plot(t, before[:, 0], color="tab:red", ls=":", lw=1.5,
             label=f"before training (RMSE {rmse_before:.3f})")
    for step, pred in snapshots.items():
        top.plot(t, pred[:, 0], color="tab:orange", ls="--", lw=1.5,
                 label=f"after {step} steps (RMSE {_rmse(pred, real):.3f})")
        middle.plot(t, pred[:, 0] - real, color="tab:orange", ls="--", lw=1.2,
                    label=f"after {step} steps")
        bottom.axvline(step, color="tab:orange", ls="--", lw=1,
                       label=f"step {step}: the dashed curves above")
    top.plot(t, after[:, 0], color="tab:blue", lw=1.5,
             label=f"after {steps} steps (RMSE {rmse_after:.3f})")
    top.set_title("Test set: next-sample predictions of cos(x) from the 10 samples before")
    top.set_ylabel("cos(x)")
    top.legend(loc="lower left", fontsize=9, framealpha=0.9)
    top.grid(alpha=0.3)

    # The trained curves sit on the real one at the top's scale: show their errors enlarged.
    middle.plot(t, after[:, 0] - real, color="tab:blue", lw=1.2, label=f"after {steps} steps")
    middle.axhline(0, color="black", lw=0.8)
    middle.set_title("Prediction error on the test set (prediction - real)")
    middle.set_xlabel("x")
    middle.set_ylabel("error")
    middle.legend(loc="lower left", fontsize=9, framealpha=0.9)
    middle.grid(alpha=0.3)

    bottom.semilogy(np.arange(len(losses)), losses, color="tab:blue", lw=0.8)
    bottom.set_title(f"Training loss (MSE per batch of {BATCH_SIZE}, {optimizer})")
    bottom.set_xlabel("training step")
    bottom.set_ylabel("loss (log scale)")
    bottom.grid(alpha=0.3, which="both")
    if snapshots:
        bottom.legend(loc="upper right", fontsize=9, framealpha=0.9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    path = os.path.abspath(path)
    echo(f"Plot saved to {path}")
    return path


def _parser():
    parser = argparse.ArgumentParser(
        prog="lstmcore demo", description="Train an LSTM to continue cos(x), the seed experiment.")
    parser.add_argument("--steps", type=int, default=1000, help="training steps (default 1000)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed for the weights and the batch order (default 0)")
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adagrad",
                        help="default adagrad: TF1's Adagrad, lr 0.1")
    parser.add_argument("--layout", choices=("comments", "literal"), default="comments",
                        help="windows as (N, 10, 1), as the tutorial's comments say (default), "
                             "or (N, 1, 10), as its code builds them")
    parser.add_argument("--output", default="lstmcore_demo.png",
                        help="where to save the PNG (default lstmcore_demo.png)")
    # Measured on 2 cores: 1 thread 0.36-0.40 s for the 1000 steps, 2 threads 0.48 s (the
    # core's second thread and NumPy's BLAS threads for the head and the optimizer take turns
    # on the cores); BLAS-only threads were 2-15 s when the other core was busy.
    parser.add_argument("--threads", type=int, default=1,
                        help="threads, the core's own and BLAS's (default 1: at batch 32 a "
                             "second one saves little and competes with NumPy's)")
    return parser


def main(argv=None):
    """``lstmcore demo``; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    for name in ("steps", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    run(steps=args.steps, seed=args.seed, optimizer=args.optimizer, layout=args.layout,
        output=args.output, threads=args.threads)
    return 0
