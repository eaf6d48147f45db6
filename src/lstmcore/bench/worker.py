"""One benchmark peer in a process of its own, driven by JSON lines on stdin and stdout.

``python -m lstmcore.bench.worker PEER`` imports the peer's library at once (so start-up
overlaps with the other workers'), then answers requests one line each:

- ``{"op": "setup", "peer", "shape", "work", "threads", "round_seconds"}`` builds the step,
  runs it once as a warm-up, then as many times as fill ``round_seconds`` to size a round
  (unless the first call took longer than an optional ``max_seconds``, an error); replies
  with ``first_s``, ``warm_s`` (the mean warm call), ``number`` (calls per round), the
  peak RSS of the first call and the BLAS libraries loaded. ``"peer": "gemm"`` with ``"n"``
  sets up the GEMM ceiling instead.
- ``{"op": "run_round"}`` runs one round and replies ``{"seconds": per-call time}``.

Peak memory: Linux's per-process high-water mark (VmHWM) is reset through
/proc/self/clear_refs after the libraries are imported and BLAS is warmed, the current RSS is
taken as the baseline, and the model, its inputs and the first call are then made; the reported
peak is VmHWM minus that baseline. It counts the pages actually touched: weights, gradients,
inputs, outputs, the training cache and any workspace, as the operating system sees them.
"""
import gc
import importlib
import json
import math
import os
import sys
import time

try:
    import resource
except ImportError:  # not on Windows
    resource = None

import numpy as np
from scipy.linalg import blas
from threadpoolctl import threadpool_info, threadpool_limits

from . import peers
from .shapes import Shape


def _status_kib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def _reset_peak_rss():
    """Resets VmHWM and returns the current RSS in bytes, or None where Linux's
    /proc interface is unavailable (then no peak is reported)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return _status_kib("VmRSS") * 1024
    except OSError:
        return None


def _warm_blas(threads):
    """Touches NumPy's and SciPy's BLAS once so their thread pools and buffers exist
    before the memory baseline: they belong to the libraries, not to the step."""
    threadpool_limits(limits=threads)
    a = np.ones((256, 256), dtype=np.float32)
    np.matmul(a, a)
    blas.sgemm(1.0, a, a)


def _libraries():
    return [{key: lib.get(key) for key in ("internal_api", "version", "num_threads", "filepath")}
            for lib in threadpool_info()]


def _timed(step, number):
    start = time.perf_counter()
    for _ in range(number):
        step()
    return (time.perf_counter() - start) / number


def _minor_faults():
    """Page faults the process has taken without reading a disk, or None where unknown."""
    if resource is None:
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


class Worker:
    """Holds the step function between requests."""

    def __init__(self):
        self.step = None
        self.number = 1

    def setup(self, request):
        threads = request["threads"]
        _warm_blas(threads)
        gc.collect()
        baseline = _reset_peak_rss()
        if request["peer"] == "gemm":
            self.step = peers.build_gemm(request["n"], threads)
        else:
            shape = Shape(**request["shape"])
            self.step = peers.build(request["peer"], shape, request["work"], threads)
        first = _timed(self.step, 1)
        peak = None if baseline is None else _status_kib("VmHWM") * 1024 - baseline
        if first > request.get("max_seconds", math.inf):
            raise TimeoutError(f"one call takes {first:.1f} s (> {request['max_seconds']:g} s)")
        # A round is as many calls as fill round_seconds once warm: one slow call (another
        # process taking the core) then shortens a round rather than making it single-call.
        self.number, start = 0, time.perf_counter()
        while self.number == 0 or time.perf_counter() - start < request["round_seconds"]:
            self.step()
            self.number += 1
        warm = (time.perf_counter() - start) / self.number
        return {"first_s": first, "warm_s": warm, "number": self.number,
                "peak_rss_bytes": peak, "libraries": _libraries()}

    def run_round(self, request):
        # Page faults a call: the pages of arrays that malloc took fresh from the system
        # (README). They may cost more than the arithmetic, and differ from one process to
        # the next.
        before = _minor_faults()
        seconds = _timed(self.step, self.number)
        after = _minor_faults()
        faults = None if before is None else (after - before) / self.number
        return {"seconds": seconds, "faults": faults}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    # Replies go to a private copy of stdout; whatever a library prints goes to stderr.
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    if argv and argv[0] in ("torch", "onnxruntime"):
        importlib.import_module(argv[0])
    worker = Worker()
    for line in sys.stdin:
        request = json.loads(line)
        try:
            reply = getattr(worker, request["op"])(request)
        except Exception as err:  # the parent records the reason and carries on
            reply = {"error": f"{type(err).__name__}: {err}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


if __name__ == "__main__":
    main()
