"""Shared pytest fixtures. Tolerances live in tests/tolerances.py (``from tolerances import ...``)."""
import numpy as np
import pytest


@pytest.fixture
def rng():
    """A seeded generator, fresh for each test, so every test sees the same data on every run."""
    return np.random.default_rng(20241128)
