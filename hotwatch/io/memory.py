"""Keeping photo-sized buffers in the C heap while photos are read, and giving the
memory back when there are none left to read.

Why: every photo allocates and frees a few buffers of 10-60 MB (LibRaw's raw
buffer, the decoded frame, Pillow's pixels). glibc serves blocks that large
with fresh mappings from the kernel and, once the top of its heap holds more
free memory than its trim threshold, returns it: the next photo's buffers are
fresh pages again, each 4 KiB page faulted in and zeroed. Measured on a 10 MP
raw (``benchmarks/bench_core.py``): decoding alone took 51-70 ms per frame with
the defaults against 44-50 ms with the thresholds raised, and ingest gained
more, having more such buffers. So while hotwatch reads photos, blocks up to
the largest mmap threshold glibc allows (32 MiB on 64-bit) come from the heap
and freed memory stays there for the next photo; :func:`release` trims the
heap when the daemon's queue runs dry, so an idle daemon holds no more than its
accumulators.

Only glibc has these knobs; elsewhere both functions do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  #: glibc's ceiling for it on 64-bit systems
TRIM_THRESHOLD = 1 << 30


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt  # noqa: B018 - glibc only
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


@functools.cache
def tune_for_frames() -> bool:
    """Raise glibc's mmap and trim thresholds (once per process); whether it could."""
    libc = _libc()
    if libc is None:
        return False
    ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    ok &= bool(libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    log.debug("malloc thresholds for photo-sized buffers: %s", "set" if ok else "refused")
    return ok


def release() -> None:
    """Give the heap's free memory back to the system (an idle daemon needs none)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
