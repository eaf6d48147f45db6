"""Load the PyTorch fixtures in tests/data, made by ``python tests/make_fixtures.py``.

Each fixture is one torch.nn.LSTM run forward and backward on a weighted-sum loss,
loss = sum(y * dy) + sum(h_n * dh_n) + sum(c_n * dc_n), saved as one .npz file.
"""
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"


def load_fixtures():
    """Return every fixture as a dict with keys:

    name: the file's stem, e.g. "L2-bi-proj3-bias-lengths-h0-float64".
    config: Python scalars input_size, hidden_size, num_layers, bias, bidirectional, proj_size,
        dtype ("float32" or "float64") and seed.
    arrays: x (T, B, I); lengths (B,) and h0, c0, dh0, dc0 only when the run had them; dy, dh_n,
        dc_n (the loss weights, i.e. the upstream gradients); y, h_n, c_n; dx; and every
        parameter and its gradient as param.<name> and grad.<name> with state_dict names.
    """
    fixtures = []
    for path in sorted(DATA.glob("*.npz")):
        with np.load(path) as npz:
            config = {key.removeprefix("config."): npz[key].item()
                      for key in npz.files if key.startswith("config.")}
            arrays = {key: npz[key] for key in npz.files if not key.startswith("config.")}
        fixtures.append(dict(name=path.stem, config=config, arrays=arrays))
    return fixtures


def params(fixture):
    """The fixture's parameters as a state_dict: {"weight_ih_l0": array, ...}."""
    return _with_prefix(fixture["arrays"], "param.")


def grads(fixture):
    """The fixture's parameter gradients, keyed like :func:`params`."""
    return _with_prefix(fixture["arrays"], "grad.")


def fixture_params():
    """Every fixture as a pytest.param with its name as id, for @pytest.mark.parametrize."""
    return [pytest.param(fixture, id=fixture["name"]) for fixture in load_fixtures()]


def _with_prefix(arrays, prefix):
    return {key[len(prefix):]: value for key, value in arrays.items() if key.startswith(prefix)}
