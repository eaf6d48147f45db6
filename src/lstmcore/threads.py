"""Thread control: lstmcore's compute threads are the BLAS library's (SciPy's OpenBLAS).

The C core runs its time loop in the calling thread and hands every matrix product to BLAS, so
the BLAS thread count is the one knob. threadpoolctl sets it; the results do not depend on it
(BLAS splits the output matrix among threads, never a sum).
"""
import contextlib

from threadpoolctl import threadpool_info, threadpool_limits

from ._checks import check_int

__all__ = ["set_num_threads", "get_num_threads", "num_threads"]


def set_num_threads(n):
    """Use ``n`` BLAS threads from now on (for lstmcore and every BLAS in the process)."""
    threadpool_limits(limits=check_int("n", n, minimum=1), user_api="blas")


def get_num_threads():
    """The BLAS thread count in force (the largest among the loaded BLAS libraries)."""
    counts = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    return max(counts, default=1)


@contextlib.contextmanager
def num_threads(n):
    """``with lstmcore.num_threads(1): ...`` runs the block with ``n`` BLAS threads, then
    restores the previous counts."""
    with threadpool_limits(limits=check_int("n", n, minimum=1), user_api="blas"):
        yield
