"""The shapes lstmcore is benchmarked at, their flop counts, and the parser for ``--shapes``.

T = time steps, B = batch, I = input size, H = hidden size, L = layers, D = directions (1 or 2).
"""
import re
from dataclasses import dataclass

import numpy as np

WORKS = ("inference", "training")


@dataclass(frozen=True)
class Shape:
    """One benchmark case: an LSTM of L layers and D directions run on an input x (T, B, I).

    ``varlen`` gives the batch lengths spread evenly over 1..T (about half of B·T valid steps)
    instead of all T, so it can be timed beside its padded equivalent.
    """

    name: str
    T: int
    B: int
    I: int
    H: int
    num_layers: int = 1
    bidirectional: bool = False
    varlen: bool = False

    @property
    def directions(self):
        return 2 if self.bidirectional else 1

    def lengths(self):
        """Sequence lengths (B,) int64, longest first, or None when every sequence has T steps."""
        if not self.varlen:
            return None
        return np.rint(np.linspace(self.T, 1, self.B)).astype(np.int64)

    def valid_steps(self):
        """How many (time, batch) rows carry data: B·T, or the sum of the lengths."""
        lengths = self.lengths()
        return self.T * self.B if lengths is None else int(lengths.sum())

    def flops(self, work):
        """Useful flops of one call: 2·rows·(I_l + H)·4H per layer and direction forward, where
        I_l is I for layer 0 and D·H above it; a training step (forward + backward) is 3x that.
        Padding steps of a variable-length batch are not counted: they are no useful work."""
        if work not in WORKS:
            raise ValueError(f"work must be one of {WORKS}, got {work!r}")
        D, H, rows = self.directions, self.H, self.valid_steps()
        forward = sum(D * 2 * rows * ((self.I if layer == 0 else D * H) + H) * 4 * H
                      for layer in range(self.num_layers))
        return forward if work == "inference" else 3 * forward

    def describe(self):
        """A short label such as ``(50, 64, 128, 128) L2 bidir varlen``."""
        parts = [f"({self.T}, {self.B}, {self.I}, {self.H})"]
        if self.num_layers > 1:
            parts.append(f"L{self.num_layers}")
        if self.bidirectional:
            parts.append("bidir")
        if self.varlen:
            parts.append("varlen")
        return " ".join(parts)


_NAMED = [
    Shape("seed", 10, 32, 1, 30),
    Shape("small", 50, 16, 32, 64),
    Shape("medium", 50, 64, 128, 128),
    Shape("large", 100, 64, 512, 512),
    Shape("deepbench1", 25, 64, 512, 512),
    Shape("deepbench2", 25, 32, 1024, 1024),
    Shape("deepbench3", 150, 16, 256, 256),
    Shape("batch1-100", 100, 1, 128, 256),
    Shape("batch1-150", 150, 1, 256, 256),
    Shape("bidir2", 50, 64, 128, 128, num_layers=2, bidirectional=True),
    Shape("varlen", 50, 64, 128, 128, varlen=True),
    Shape("padded", 50, 64, 128, 128),
]
SHAPES = {shape.name: shape for shape in _NAMED}

# The default run covers issue 5's targets (plus medium) and stays at seconds per shape.
DEFAULT = ("seed", "small", "medium", "large", "batch1-100")

_TUPLE = re.compile(r"^\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*$")


def parse_shape(text):
    """A shape from a name in SHAPES or from ``T,B,I,H``; ValueError names what was wrong."""
    if text in SHAPES:
        return SHAPES[text]
    match = _TUPLE.match(text)
    if match is None:
        raise ValueError(
            f"shape {text!r} is neither a name ({', '.join(SHAPES)}) nor T,B,I,H"
        )
    T, B, I, H = (int(v) for v in match.groups())
    if min(T, B, I, H) < 1:
        raise ValueError(f"shape {text!r}: T, B, I and H must all be >= 1")
    return Shape(f"{T},{B},{I},{H}", T, B, I, H)


def parse_shapes(items):
    """Shapes from command-line items; each item may hold several, comma- or space-separated
    names, ``all`` or ``default``; a T,B,I,H tuple stays one item."""
    shapes = []
    for item in items:
        words = [item] if _TUPLE.match(item) else item.replace(",", " ").split()
        for word in words:
            if word == "all":
                shapes.extend(SHAPES.values())
            elif word == "default":
                shapes.extend(SHAPES[name] for name in DEFAULT)
            else:
                shapes.append(parse_shape(word))
    if not shapes:
        raise ValueError("shapes: no shape given")
    return list(dict.fromkeys(shapes))


def minimum_training_bytes(shape, itemsize=4):
    """The least memory a training step can use: weights and their gradients, x, y, dy and dx,
    and the saved activations, taken as the activated gates and cell states (T, B, 5H) of each
    layer and direction plus every lower layer's output (T, B, D·H), which the layer above takes
    as input; padding steps count, since the arrays hold them."""
    T, B, I, H, L, D = shape.T, shape.B, shape.I, shape.H, shape.num_layers, shape.directions
    weights = sum(D * 4 * H * ((I if layer == 0 else D * H) + H + 2) for layer in range(L))
    inputs_outputs = 2 * T * B * I + 2 * T * B * D * H
    saved = L * D * T * B * 5 * H + (L - 1) * T * B * D * H
    return itemsize * (2 * weights + inputs_outputs + saved)
