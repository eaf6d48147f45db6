"""Settings shared by the pytest-benchmark suite: markers and the thread count.

Every peer runs with LSTMCORE_BENCH_THREADS threads (default 2), as ``python -m lstmcore bench``.
"""
import os

import pytest
from shapes import MARKERS

from lstmcore.bench.run import wait_until_idle


def pytest_configure(config):
    for name, help_text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {help_text}")


@pytest.fixture(scope="session")
def threads():
    return int(os.environ.get("LSTMCORE_BENCH_THREADS", "2"))


@pytest.fixture(autouse=True)
def idle_threads():
    """Lets the previous case's BLAS and OpenMP threads stop spinning before this one is timed."""
    wait_until_idle(os.getpid())
