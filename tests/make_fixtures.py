"""Make the PyTorch fixtures in tests/data: run by hand, ``python tests/make_fixtures.py``.

Each fixture is a torch.nn.LSTM with a fixed seed run forward and backward on a weighted-sum loss,
loss = sum(y * dy) + sum(h_n * dh_n) + sum(c_n * dc_n), so dy, dh_n and dc_n are the upstream
gradients. tests/fixtures.py loads them and documents the keys.

The grid: for 1, 2 and 3 layers, the half of the 2**5 combinations of (bidirectional, proj_size,
bias, lengths, h0/c0) with an even number of options switched on. Every pair of options still
meets in all four combinations, at half the disk space. Each config is saved in float32 and in
float64 with the same weights and data. One more fixture has the seed shape
(T, B, I, H) = (10, 32, 1, 30) in float32.
"""
import itertools
from pathlib import Path

import numpy as np
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

DATA = Path(__file__).parent / "data"

SMALL_SHAPE = dict(seq_len=5, batch=3, input_size=4, hidden_size=5)
SEED_SHAPE = dict(seq_len=10, batch=32, input_size=1, hidden_size=30)
PROJ_SIZE = 3
# unsorted, with a length-1 and a full-length sequence
LENGTHS = [2, 5, 1]


def run_torch_lstm(module, x, h0=None, c0=None, lengths=None):
    """Run a torch.nn.LSTM on time-major tensors, packing by lengths when given.

    x (T, B, I); h0, c0 or None; lengths (B,) or None. Returns y (T, B, D*P), zero past each
    length, h_n and c_n.
    """
    hx = None if h0 is None else (h0, c0)
    if lengths is None:
        y, (h_n, c_n) = module(x, hx)
        return y, h_n, c_n
    packed = pack_padded_sequence(x, torch.as_tensor(lengths, dtype=torch.int64),
                                  enforce_sorted=False)
    y, (h_n, c_n) = module(packed, hx)
    y, _ = pad_packed_sequence(y, total_length=x.shape[0])
    return y, h_n, c_n


def fixture_name(num_layers, bidirectional, proj_size, bias, lengths, initial_state, dtype):
    return "-".join([f"L{num_layers}", "bi" if bidirectional else "uni", f"proj{proj_size}",
                     "bias" if bias else "nobias", "lengths" if lengths else "full",
                     "h0" if initial_state else "zeros", np.dtype(dtype).name])


def configs():
    """Yield (name, config, seq_len, batch, with_lengths, with_h0) for every fixture."""
    seed = 0
    for num_layers in (1, 2, 3):
        for options in itertools.product((False, True), repeat=5):
            if sum(options) % 2:
                continue
            bidirectional, proj, bias, with_lengths, with_h0 = options
            seed += 1
            for dtype in ("float32", "float64"):
                config = dict(input_size=SMALL_SHAPE["input_size"],
                              hidden_size=SMALL_SHAPE["hidden_size"], num_layers=num_layers,
                              bias=bias, bidirectional=bidirectional,
                              proj_size=PROJ_SIZE if proj else 0, dtype=dtype, seed=seed)
                name = fixture_name(num_layers, bidirectional, config["proj_size"], bias,
                                    with_lengths, with_h0, dtype)
                yield (name, config, SMALL_SHAPE["seq_len"], SMALL_SHAPE["batch"],
                       with_lengths, with_h0)
    config = dict(input_size=SEED_SHAPE["input_size"], hidden_size=SEED_SHAPE["hidden_size"],
                  num_layers=1, bias=True, bidirectional=False, proj_size=0, dtype="float32",
                  seed=seed + 1)
    yield ("seed-T10-B32-I1-H30-float32", config, SEED_SHAPE["seq_len"], SEED_SHAPE["batch"],
           False, False)


def make_fixture(config, seq_len, batch, with_lengths, with_h0):
    """Run one config through torch and return the arrays to save, keyed as in tests/fixtures.py."""
    torch.manual_seed(config["seed"])
    # made in float64 and cast, so the float32 and float64 copies share weights and data
    module = torch.nn.LSTM(config["input_size"], config["hidden_size"],
                           num_layers=config["num_layers"], bias=config["bias"],
                           bidirectional=config["bidirectional"], proj_size=config["proj_size"],
                           dtype=torch.float64)
    module = module.to(getattr(torch, config["dtype"]))
    rng = np.random.default_rng(config["seed"])
    D = 2 if config["bidirectional"] else 1
    L, H = config["num_layers"], config["hidden_size"]
    P = config["proj_size"] or H

    def random(*shape):
        return rng.standard_normal(shape).astype(config["dtype"])

    arrays = dict(x=random(seq_len, batch, config["input_size"]))
    if with_lengths:
        arrays["lengths"] = np.array(LENGTHS, dtype=np.int64)
    if with_h0:
        arrays["h0"] = random(L * D, batch, P)
        arrays["c0"] = random(L * D, batch, H)
    arrays.update(dy=random(seq_len, batch, D * P), dh_n=random(L * D, batch, P),
                  dc_n=random(L * D, batch, H))

    x = torch.tensor(arrays["x"], requires_grad=True)
    h0 = torch.tensor(arrays["h0"], requires_grad=True) if with_h0 else None
    c0 = torch.tensor(arrays["c0"], requires_grad=True) if with_h0 else None
    y, h_n, c_n = run_torch_lstm(module, x, h0, c0, arrays.get("lengths"))
    loss = ((y * torch.tensor(arrays["dy"])).sum() + (h_n * torch.tensor(arrays["dh_n"])).sum()
            + (c_n * torch.tensor(arrays["dc_n"])).sum())
    loss.backward()

    arrays.update(y=y.detach().numpy(), h_n=h_n.detach().numpy(), c_n=c_n.detach().numpy(),
                  dx=x.grad.numpy())
    if with_h0:
        arrays.update(dh0=h0.grad.numpy(), dc0=c0.grad.numpy())
    for name, param in module.named_parameters():
        arrays["param." + name] = param.detach().numpy()
        arrays["grad." + name] = param.grad.numpy()
    return arrays


def main():
    DATA.mkdir(exist_ok=True)
    for old in DATA.glob("*.npz"):
        old.unlink()
    total = 0
    for name, config, seq_len, batch, with_lengths, with_h0 in configs():
        arrays = make_fixture(config, seq_len, batch, with_lengths, with_h0)
        path = DATA / f"{name}.npz"
        np.savez_compressed(path, **{f"config.{key}": value for key, value in config.items()},
                            **arrays)
        total += path.stat().st_size
    print(f"wrote {len(list(DATA.glob('*.npz')))} fixtures, {total / 1e6:.2f} MB, to {DATA}")


if __name__ == "__main__":
    main()
