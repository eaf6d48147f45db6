"""Make csrc/tests/reference.bin, the expected values of the C tests: run by hand from the
repository root, ``PYTHONPATH=src python csrc/tests/make_reference.py``.

Each case is one layer in one direction, computed by ``lstmcore.reference.layer_forward`` and
``layer_backward`` in float64 from inputs drawn in the case's dtype (so a float32 case's
expected values carry no float32 rounding of their own), then stored in the case's dtype.
Sequence data is packed as csrc/lstm.h says: sequences sorted by decreasing length, time-major,
the rows of step t being the batch_sizes[t] longest sequences.

File format, little-endian:
    magic   8 bytes  b"LSTMREF\\0"
    version u32      FORMAT_VERSION
    cases   u32      number of cases
    then per case:
        header  12 x i32: dtype bytes (4 or 8), T, B, I, H, P, reverse, has_bias, has_state
                (h0/c0 given), has_lengths (batch_sizes given), has_dstate (dh_n/dc_n given),
                dy_null (dy is zero and the C test passes NULL)
        tensors in the order of ``case_tensors``, present as the flags say, each as
                name (16 bytes, NUL-padded ASCII), count (u32), count values (the case's dtype;
                int32 for batch_sizes)
"""
import struct
import sys
from pathlib import Path

import numpy as np

from lstmcore.reference import layer_backward, layer_forward

OUTPUT = Path(__file__).parent / "reference.bin"
MAGIC = b"LSTMREF\0"
FORMAT_VERSION = 1

# (T, B, I, H, P, reverse, bias, state, lengths, dstate, dy_null); lengths are sorted
# decreasing, and a max length below T leaves steps with no rows at the end.
CASES = [
    (1, 1, 1, 1, 0, False, True, False, None, False, False),
    (1, 1, 1, 1, 0, True, True, True, None, True, False),
    (5, 3, 7, 9, 0, False, True, True, None, True, False),
    (4, 2, 3, 5, 3, False, True, True, None, True, False),
    (6, 4, 5, 17, 0, True, True, True, None, False, False),
    (3, 1, 2, 33, 0, False, True, True, None, True, False),
    (2, 6, 4, 16, 0, False, True, False, None, True, False),
    (3, 2, 4, 3, 0, False, False, True, None, True, True),
    (3, 2, 4, 3, 2, True, False, False, None, True, True),
    (7, 5, 4, 6, 0, False, True, True, [7, 5, 5, 2, 1], True, False),
    (7, 5, 4, 6, 0, True, True, True, [7, 5, 5, 2, 1], True, False),
    (6, 4, 3, 8, 5, False, True, True, [6, 4, 3, 1], False, False),
    (6, 4, 3, 8, 5, True, True, False, [6, 4, 3, 1], True, False),
    (5, 3, 2, 4, 0, False, True, True, [3, 2, 2], True, False),
    (5, 3, 2, 4, 0, True, True, True, [3, 2, 2], True, False),
    (4, 3, 3, 19, 7, False, True, True, [4, 4, 1], True, False),
    # batches of 8 or more: with several threads the core splits these by rows
    (5, 9, 3, 6, 0, False, True, True, None, True, False),
    (5, 9, 3, 6, 0, True, True, False, [5, 5, 4, 4, 3, 2, 2, 1, 1], True, False),
    (4, 12, 2, 17, 0, False, True, True, [4, 4, 4, 4, 4, 3, 3, 3, 2, 2, 1, 1], True, False),
    (3, 16, 70, 5, 0, True, False, True, None, True, False),
    (6, 16, 48, 16, 0, False, True, False, None, False, False),  # GEMMs in several pieces
]


def case_tensors(T, B, I, H, P, reverse, bias, state, lengths, dstate, dy_null, dtype, rng):
    """The named tensors of one case, packed, in file order."""
    Ph, G = P or H, 4 * H

    def draw(*shape, scale=1.0):
        # drawn in the case's dtype, then widened: the reference computes in float64
        return rng.uniform(-scale, scale, shape).astype(dtype).astype(np.float64)

    x = draw(T, B, I)
    w_ih, w_hh = draw(G, I, scale=0.5), draw(G, Ph, scale=0.5)
    b_ih, b_hh = (draw(G, scale=0.5), draw(G, scale=0.5)) if bias else (None, None)
    w_hr = draw(P, H, scale=0.5) if P else None
    h0, c0 = (draw(B, Ph), draw(B, H)) if state else (None, None)
    dy = np.zeros((T, B, Ph)) if dy_null else draw(T, B, Ph)
    dh_n, dc_n = (draw(B, Ph), draw(B, H)) if dstate else (None, None)

    lengths = None if lengths is None else np.array(lengths)
    y, h_n, c_n, cache = layer_forward(x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, lengths=lengths,
                                       reverse=reverse)
    dx, dh0, dc0, grads = layer_backward(dy, cache, dh_n, dc_n)

    if lengths is None:
        batch_sizes = np.full(T, B)
    else:
        batch_sizes = (lengths[None, :] > np.arange(T)[:, None]).sum(axis=1)
    time_index, batch_index = np.nonzero(np.arange(B)[None, :] < batch_sizes[:, None])

    def pack(a):
        return a[time_index, batch_index]

    tensors = [("batch_sizes", batch_sizes.astype(np.int32))] if lengths is not None else []
    tensors += [("x", pack(x)), ("w_ih", w_ih), ("w_hh", w_hh)]
    tensors += [("b_ih", b_ih), ("b_hh", b_hh)] if bias else []
    tensors += [("w_hr", w_hr)] if P else []
    tensors += [("h0", h0), ("c0", c0)] if state else []
    tensors += [("y", pack(y)), ("h_n", h_n), ("c_n", c_n)]
    tensors += [] if dy_null else [("dy", pack(dy))]
    tensors += [("dh_n", dh_n), ("dc_n", dc_n)] if dstate else []
    tensors += [("dx", pack(dx)), ("dh0", dh0), ("dc0", dc0), ("dw_ih", grads["weight_ih"]),
                ("dw_hh", grads["weight_hh"])]
    tensors += [("db_ih", grads["bias_ih"]), ("db_hh", grads["bias_hh"])] if bias else []
    tensors += [("dw_hr", grads["weight_hr"])] if P else []
    return tensors


def write_tensor(f, name, array, dtype):
    stored = "<i4" if array.dtype.kind == "i" else np.dtype(dtype).newbyteorder("<")
    array = np.ascontiguousarray(array, stored)
    f.write(struct.pack("<16sI", name.encode("ascii"), array.size))
    f.write(array.tobytes())


def main(path=OUTPUT):
    rng = np.random.default_rng(20261128)
    with open(path, "wb") as f:
        f.write(MAGIC + struct.pack("<II", FORMAT_VERSION, 2 * len(CASES)))
        for dtype in (np.float32, np.float64):
            for case in CASES:
                T, B, I, H, P, reverse, bias, state, lengths, dstate, dy_null = case
                header = (np.dtype(dtype).itemsize, T, B, I, H, P, reverse, bias, state,
                          lengths is not None, dstate, dy_null)
                f.write(struct.pack("<12i", *map(int, header)))
                for name, array in case_tensors(*case, dtype, rng):
                    write_tensor(f, name, array, dtype)
    print(f"wrote {path}: {2 * len(CASES)} cases, {Path(path).stat().st_size} bytes")


if __name__ == "__main__":
    main(*sys.argv[1:])
