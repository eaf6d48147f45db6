"""pytest-benchmark: lstmcore beside the NumPy reference, PyTorch and ONNX Runtime.

One group per shape and work. Each case records its flops and GFLOP/s in ``extra_info``.
Run all: ``python -m pytest benchmarks``; a quick run: ``-m quick``; issue 5's shapes:
``-m issue5``; one shape: ``-k seed``.
"""
import pytest
from shapes import CASES

from lstmcore.bench import peers

pytest.importorskip("lstmcore.lstm")

_OPTIONAL = {"torch": "torch", "onnxruntime": "onnxruntime"}


@pytest.mark.parametrize("shape, work, peer", CASES)
def test_lstm(benchmark, threads, shape, work, peer):
    if peer in _OPTIONAL:
        pytest.importorskip(_OPTIONAL[peer])
    step = peers.build(peer, shape, work, threads)
    step()  # the first call pays for one-time set-up, which is not what is measured
    benchmark.group = f"{shape.name} {shape.describe()} {work}"
    benchmark.extra_info["flops"] = shape.flops(work)
    benchmark(step)
    benchmark.extra_info["gflops_median"] = shape.flops(work) / benchmark.stats.stats.median / 1e9


@pytest.mark.issue5
def test_gemm_ceiling(benchmark, threads):
    """The ceiling every LSTM number is read against: float32 2048x2048 GEMM through NumPy."""
    n = 2048
    benchmark.group = "ceiling: float32 GEMM 2048x2048"
    benchmark.extra_info["flops"] = 2 * n**3
    benchmark(peers.build_gemm(n, threads))
    benchmark.extra_info["gflops_median"] = 2 * n**3 / benchmark.stats.stats.median / 1e9
