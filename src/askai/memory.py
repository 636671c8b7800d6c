"""Giving freed memory back to the operating system during long writes.

A long ingest frees as much native memory as it allocates: onnxruntime shrinks its arena after each
batch, and Chroma's writer frees each call's buffers. glibc's allocator keeps what was freed in its
heaps (one per thread that allocated), so the process's resident memory grows with the file
although what is in use does not: a 3 MB one-line file ended at 664 MB resident, 455 MB with
:func:`release_free_memory` after each written part (bench/long_line.py; README "Measured
numbers"). ``malloc_trim(0)`` returns the free pages of every heap.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (macOS, musl, Windows:
    their allocators give memory back on their own terms, and there is nothing to call)."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def can_release() -> bool:
    """Whether :func:`release_free_memory` does anything on this platform."""
    return _malloc_trim() is not None


def release_free_memory() -> None:
    """Return the C heap's free pages to the operating system (glibc); nothing elsewhere."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
