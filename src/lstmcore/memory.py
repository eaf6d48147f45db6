"""Memory that lstmcore keeps between calls.

The large arrays of a call (256 KB and up: packed copies, layer outputs, the saved gates, the
C core's workspace, and the arrays a call returns) live on blocks that the process keeps when
they are freed, for the next call to reuse: fresh memory costs a page fault per 4 KB page at
first touch, and glibc gives large freed blocks back to the kernel, so a training loop took
every fault again at each step (a third of a step's time at (50, 64, 128, 128) with lengths).
At most 32 blocks and 1 GiB are kept, the oldest freed first; a request takes a kept block
only if it is at most twice the size asked for.
"""
from . import _core

__all__ = ["kept_memory", "release_memory"]


def release_memory():
    """Free every block kept for reuse (arrays still in use keep theirs until they go)."""
    _core.release_memory()


def kept_memory():
    """(blocks, bytes) kept for reuse right now."""
    return _core.kept_memory()
