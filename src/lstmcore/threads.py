"""Thread control over both kinds of compute threads lstmcore uses.

- The C core's own threads: at small and medium shapes (the per-step products on the core's
  own GEMM, batch >= 8, no projection) a call splits its time loop by batch rows, one hand-off
  per call, each thread running whole row groups fixed by the sizes (the same rows forward and
  backward). Each row's arithmetic is the same whichever thread runs it, and the backward's
  weight gradients are summed per group, the groups' sums added in group order, so results are
  bitwise the same for any count.
  A split backward whose products after the loop are too large for the core's GEMM runs them
  on BLAS in fixed pieces on these threads, with SciPy's OpenBLAS at 1 thread for the call
  (_scipy_blas.py): the same bits for any count too.
  A call with a batch under 8 rows (full lengths, no projection, H >= 128) splits each step
  by hidden units, forward and backward, the threads meeting at every step, its BLAS products
  in fixed pieces on that single-threaded OpenBLAS: the same bits for any count as well.
- BLAS's threads (SciPy's OpenBLAS, through threadpoolctl) for the large GEMMs of calls that
  do not split: steps of more than 2^23 multiply-adds, and batches under 8 rows that do not
  split by units. These
  results are BLAS's, and may differ in the last bits from one thread count to another:
  OpenBLAS splits a product's output among its threads, and with its Haswell kernels (AVX2
  CPUs without AVX-512) where a thread's share ends decides which kernel sums an element. On
  AVX-512 CPUs they have been the same for every count.

``set_num_threads(n)`` sets both. The core starts with as many threads as BLAS has when
lstmcore is imported.

Calls split by row groups are the small ones, where a split pays only while every thread
has its core: a worker whose core another process (or a virtual machine's host) has taken
makes the call wait. So each kind of such call (its sizes and work) runs split or in the
calling thread, whichever took less time lately, and tries the other way every 128th call;
the results are the same bits either way. ``set_adaptive_threads(False)`` makes them always
split, to measure the split itself.
"""
import contextlib

from threadpoolctl import threadpool_info, threadpool_limits

from . import _core
from ._checks import check_flag, check_int

__all__ = ["set_num_threads", "get_num_threads", "num_threads", "set_adaptive_threads"]


def _blas_threads():
    counts = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    return max(counts, default=1)


def _set_core_threads(n):
    """The core's own threads: at most 64 (lstm.h), whatever BLAS is given."""
    _core.set_core_threads(max(1, min(n, 64)))


def set_num_threads(n):
    """Use ``n`` threads from now on: the core's own and BLAS's (for every BLAS user in the
    process)."""
    n = check_int("n", n, minimum=1)
    threadpool_limits(limits=n, user_api="blas")
    _set_core_threads(n)


def set_adaptive_threads(on):
    """Whether calls split by row groups choose, by their recent times, between splitting and
    running in the calling thread (True, the default), or always split (False)."""
    _core.set_adaptive_threads(check_flag("on", on))


def get_num_threads():
    """The core's thread count in force (set_num_threads sets BLAS's to the same)."""
    return _core.get_core_threads()


@contextlib.contextmanager
def num_threads(n):
    """``with lstmcore.num_threads(1): ...`` runs the block with ``n`` threads (core and BLAS),
    then restores the previous counts."""
    n = check_int("n", n, minimum=1)
    before = _core.get_core_threads()
    with threadpool_limits(limits=n, user_api="blas"):
        _set_core_threads(n)
        try:
            yield
        finally:
            _core.set_core_threads(before)


_set_core_threads(_blas_threads())
