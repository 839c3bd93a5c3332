"""Reading the next photos on threads while this one is absorbed.

Why: decoding a photo (LibRaw, libjpeg-turbo) and extracting its evidence
(the compiled kernels) release the GIL. On a machine with two cores, decoding
the next photos on threads while this one is absorbed hides most of
hotwatch's own work behind the decoder's: a backfill or a card import takes
little longer than decoding its photos would.

The threads take turns at the GIL for their Python parts (EXIF, bookkeeping),
and a thread coming back from LibRaw or the kernels waits for another to drop
it: up to the interpreter's switch interval (5 ms) every time, which measured
made a decode beside a busy Python thread take 70 ms instead of 43. While
reading ahead, the switch interval is 0.5 ms (measured: 41 ms).

Results come back in the order of the items (photos are absorbed in capture
order), whichever thread read them and however long each took. At most
``depth`` items are read ahead, so memory stays bounded by a few decoded
frames; when the consumer stops early (the daemon's SIGTERM), the
reads not yet begun are cancelled and those under way are waited for.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

SWITCH_INTERVAL = 0.0005  #: seconds a thread may hold the GIL while the other waits


def read_ahead(
    items: Iterable[T], read: Callable[[T], R], depth: int = 1, threads: int = 1
) -> Iterator[R]:
    """``read(item)`` for each item, in order, up to ``depth`` items read ahead on
    ``threads`` threads."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, SWITCH_INTERVAL))
    pending: deque[Future[R]] = deque()
    try:
        with ThreadPoolExecutor(threads, thread_name_prefix="hotwatch-read") as pool:
            try:
                for item in items:
                    pending.append(pool.submit(read, item))
                    if len(pending) > depth:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:
                for future in pending:
                    future.cancel()
    finally:  # once the reads under way are done
        sys.setswitchinterval(interval)
