"""When a queued file is complete: the daemon reads a photo only once its copy is done.

Owned by the daemon's worker thread. A file is ready once its size and mtime have not
changed for ``settle_seconds`` and it can be opened; an empty file or a JPEG that does not
end with its end-of-image marker waits longer, since a slow copy may stall for a while.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from hotwatch.core.errors import HotwatchError
from hotwatch.io import guarded

#: How long a file that looks incomplete (empty, JPEG without its end marker) may stay
#: unchanged before it is ingested anyway (and then recorded as skipped or failed).
INCOMPLETE_GRACE_SECONDS = 60.0


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float  #: monotonic time the file was last seen to change (or first seen)


class Settler:
    """Decides when a queued file is complete; owned by the worker thread.

    A file is ready once its size and mtime have not changed for
    ``settle_seconds`` and it can be opened; an empty file or a JPEG that does
    not end with its end-of-image marker waits longer (``grace``), since a slow
    copy may stall for a while. Anything but a regular file (a named pipe, a
    device) is ready at once and never opened: the ingest skips it with one line.
    Paths are kept in order of arrival.
    """

    def __init__(self, settle_seconds: float, grace: float = INCOMPLETE_GRACE_SECONDS) -> None:
        self.settle = max(0.0, settle_seconds)
        self.grace = max(grace, self.settle)
        self._seen: dict[Path, _Seen | None] = {}

    def add(self, path: Path) -> None:
        self._seen.setdefault(_key(path), None)

    def forget(self, path: Path) -> None:
        self._seen.pop(_key(path), None)

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, (str, Path)) and _key(path) in self._seen

    def ready(self, now: float) -> tuple[list[Path], float | None]:
        """Files complete now, and in how many seconds the next one may be (None: nothing left)."""
        done: list[Path] = []
        wait: float | None = None
        for path in list(self._seen):
            try:
                st = path.stat()
            except OSError:  # gone (renamed, deleted): its new name comes as its own event
                del self._seen[path]
                continue
            if guarded.not_regular(st.st_mode):
                done.append(path)
                continue
            seen = self._seen[path]
            if seen is None or (seen.size, seen.mtime_ns) != (st.st_size, st.st_mtime_ns):
                self._seen[path] = _Seen(st.st_size, st.st_mtime_ns, now)
                left = self.settle
            else:
                quiet = now - seen.since
                needed = self.settle
                if quiet >= self.settle and not _looks_complete(path, st.st_size):
                    needed = self.grace
                left = needed - quiet
            if left <= 0:
                done.append(path)
            else:
                wait = left if wait is None else min(wait, left)
        return done, wait


def _key(path: str | Path) -> Path:
    """One spelling per file (``DCIM/sub/../a.jpg`` is ``DCIM/a.jpg``), as the ingest
    reports it: a file is forgotten under the name it was queued by."""
    return Path(os.path.abspath(path))


def _looks_complete(path: Path, size: int) -> bool:
    """Cheap signs that a copy has finished: not empty, openable, a JPEG ends with FFD9.

    Opened under guard (:mod:`hotwatch.io.guarded`): a file whose read stalls counts as
    complete, so that the ingest tries it and says why it cannot be read.
    """
    if size == 0:
        return False
    try:
        return guarded.with_file(path, lambda fh: _ends_whole(path, fh, size))
    except guarded.ReadStalled:
        return True
    except (OSError, HotwatchError):
        return False


def _ends_whole(path: Path, fh: BinaryIO, size: int) -> bool:
    if path.suffix.lower() not in (".jpg", ".jpeg"):
        return True
    fh.seek(max(0, size - 4096))
    return b"\xff\xd9" in fh.read()  # cameras may pad after the marker
