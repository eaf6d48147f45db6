"""The benchmark cases of the pytest-benchmark suite: (shape, work, peer), with markers.

Markers select a quick run: ``quick`` the seed and medium shapes (issue 2), ``issue5`` the shapes
of the performance targets, ``layers`` two layers bidirectional and a variable-length batch beside
its padded equivalent (issue 3), ``deepbench`` the remaining DeepBench shapes.
"""
import pytest

from lstmcore.bench.peers import TRAINING_PEERS
from lstmcore.bench.shapes import SHAPES, WORKS

MARKERS = {
    "quick": "seed and (50, 64, 128, 128): the shapes of issue 2",
    "issue5": "the shapes of issue 5's performance targets",
    "layers": "2 layers bidirectional; a variable-length batch and its padded equivalent",
    "deepbench": "the other DeepBench training and batch-1 inference shapes",
}
_MARKS = {
    "seed": ("quick", "issue5"),
    "medium": ("quick",),
    "small": ("issue5",),
    "large": ("issue5",),
    "batch1-100": ("issue5",),
    "deepbench1": ("deepbench",),
    "deepbench2": ("deepbench",),
    "deepbench3": ("deepbench",),
    "batch1-150": ("deepbench",),
    "bidir2": ("layers",),
    "varlen": ("layers",),
    "padded": ("layers",),
}
PEERS = ("lstmcore", "reference", "torch", "onnxruntime")
# Past this many flops a call the NumPy reference takes seconds; it is left out there.
REFERENCE_MAX_FLOPS = 1e10


def _runs(shape, work, peer):
    if work == "training" and peer not in TRAINING_PEERS:
        return False
    return peer != "reference" or shape.flops(work) <= REFERENCE_MAX_FLOPS


CASES = [
    pytest.param(SHAPES[name], work, peer, id=f"{name}-{work}-{peer}",
                 marks=[getattr(pytest.mark, mark) for mark in marks])
    for name, marks in _MARKS.items()
    for work in WORKS
    for peer in PEERS
    if _runs(SHAPES[name], work, peer)
]
