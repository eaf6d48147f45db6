"""pytest-benchmark: the seed experiment's 1000 training steps, lstmcore beside a PyTorch replica.

Both train the same model from the same weights on the same batches: one LSTM layer of 30 units
(TF1 initialisation), its last hidden state into a Linear layer to 1 value, MSE, TF1-style
Adagrad (lr 0.1, accumulator from 0.1, no epsilon), batches of 32 from the same seeded shuffled
stream of the 10,000 cos windows. Only the training loop is timed. Each records the test RMSE it
reached in ``extra_info``. Run: ``python -m pytest benchmarks/bench_demo.py``; the issue's
target is lstmcore at least 10x faster than the replica.
"""
import numpy as np
import pytest

pytest.importorskip("lstmcore.lstm")

import lstmcore  # noqa: E402
from lstmcore.data import cos_dataset  # noqa: E402
from lstmcore.demo import BATCH_SIZE, HIDDEN_SIZE, make_optimizer  # noqa: E402
from lstmcore.model import build_model  # noqa: E402
from lstmcore.trainer import Trainer, predict  # noqa: E402

STEPS = 1000
SEED = 0
GROUP = "seed experiment: 1000 training steps (T=10, B=32, I=1, H=30)"


@pytest.fixture(scope="module")
def data():
    return cos_dataset()


def rmse(pred, target):
    return float(np.sqrt(np.mean((np.float64(pred).ravel() - np.float64(target).ravel()) ** 2)))


def batch_stream(n, seed):
    """The Trainer's stream: seeded permutations read 32 at a time, spanning their ends."""
    rng = np.random.default_rng(seed)
    order, pos = rng.permutation(n), 0
    while True:
        take = order[pos:pos + BATCH_SIZE]
        pos += BATCH_SIZE
        if len(take) < BATCH_SIZE:
            order = rng.permutation(n)
            pos = BATCH_SIZE - len(take)
            take = np.concatenate([take, order[:pos]])
        yield take


def test_lstmcore_demo_training(benchmark, threads, data):
    def setup():
        model = build_model(1, HIDDEN_SIZE, init="tf1", seed=SEED)
        trainer = Trainer(model, make_optimizer("adagrad", model.parameters()),
                          batch_size=BATCH_SIZE, seed=SEED, progress=False)
        return (trainer,), {}

    def train(trainer):
        with lstmcore.num_threads(threads):  # the core's own threads and BLAS's
            trainer.fit(data.X_train, data.y_train, steps=STEPS)
        return trainer.model

    benchmark.group = GROUP
    model = benchmark.pedantic(train, setup=setup, rounds=3, iterations=1)
    benchmark.extra_info["test_rmse"] = rmse(predict(model, data.X_test), data.y_test)


def test_torch_replica_training(benchmark, threads, data):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(threads)
    X, y = torch.from_numpy(data.X_train), torch.from_numpy(data.y_train)

    def setup():
        # The same TF1-initialised weights as lstmcore's run, loaded into torch modules.
        state = build_model(1, HIDDEN_SIZE, init="tf1", seed=SEED).state_dict()
        lstm = torch.nn.LSTM(1, HIDDEN_SIZE, batch_first=True)
        head = torch.nn.Linear(HIDDEN_SIZE, 1)
        for prefix, module in (("lstm.", lstm), ("head.", head)):
            module.load_state_dict({k[len(prefix):]: torch.from_numpy(v)
                                    for k, v in state.items() if k.startswith(prefix)})
        params = [*lstm.parameters(), *head.parameters()]
        optimizer = torch.optim.Adagrad(params, lr=0.1, initial_accumulator_value=0.1, eps=0.0)
        return (lstm, head, optimizer), {}

    def train(lstm, head, optimizer):
        batches = batch_stream(len(X), SEED)
        for _ in range(STEPS):
            idx = torch.from_numpy(next(batches))
            optimizer.zero_grad()
            _, (h_n, _) = lstm(X[idx])
            loss = torch.nn.functional.mse_loss(head(h_n[-1]), y[idx])
            loss.backward()
            optimizer.step()
        return lstm, head

    benchmark.group = GROUP
    lstm, head = benchmark.pedantic(train, setup=setup, rounds=3, iterations=1)
    with torch.no_grad():
        _, (h_n, _) = lstm(torch.from_numpy(data.X_test))
        benchmark.extra_info["test_rmse"] = rmse(head(h_n[-1]).numpy(), data.y_test)
