"""``hotwatch scan``: backfill files and folders, in capture order, on N cores.

Files are fed to the accumulators in capture order (onsets are dated from the
order of evidence), as the EXIF layer reads it (:func:`hotwatch.io.exif.capture_order`).
With one worker the next files are decoded on two threads while this one is
absorbed (:mod:`hotwatch.io.readahead`). With ``workers > 1`` the
costly half of ingest (hash, EXIF, decode, per-frame evidence) runs in a pool
of spawned processes while this process feeds their results, still in capture
order, into one set of accumulators: the result is the same as a
single-process scan.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hotwatch.core.events import NewDefect
from hotwatch.core.model import FileStatus
from hotwatch.io.exif import capture_order
from hotwatch.pipeline.ingest import Ingestor, Outcome, prepare, walk

log = logging.getLogger(__name__)


@dataclass
class ScanSummary:
    seen: int = 0
    unchanged: int = 0
    ignored: int = 0
    statuses: Counter = field(default_factory=Counter)
    per_body: Counter = field(default_factory=Counter)
    new_defects: list[NewDefect] = field(default_factory=list)
    errors: list = field(default_factory=list)

    @property
    def readable(self) -> int:
        return self.statuses[FileStatus.INGESTED] + self.unchanged


def _prepare_in_worker(path: Path):
    return prepare(path, _WORKER_EXIFTOOL)


_WORKER_EXIFTOOL = None


def _init_worker() -> None:
    """A worker's set-up: its own exiftool, closed as the worker ends (the pool is closed
    and joined, so each worker leaves through multiprocessing's finalizers)."""
    global _WORKER_EXIFTOOL
    from multiprocessing.util import Finalize

    from hotwatch.io import memory
    from hotwatch.io.exiftool import ExifTool

    memory.tune_for_frames()
    _WORKER_EXIFTOOL = ExifTool.find()
    if _WORKER_EXIFTOOL is not None:
        Finalize(None, _WORKER_EXIFTOOL.close, exitpriority=10)


def scan(
    ingestor: Ingestor,
    roots: Iterable[Path],
    *,
    workers: int = 1,
    progress: Callable[[int, int, Path], None] | None = None,
) -> ScanSummary:
    """Ingest every file under ``roots``; returns what happened."""
    summary = ScanSummary()

    def on_error(path: Path, reason: str) -> None:
        summary.errors.append((path, reason))
        log.warning("%s: %s", path, reason)

    todo: list[Path] = []
    for path in walk(roots, on_error):
        summary.seen += 1
        early = ingestor.triage(path)
        if early is None:
            todo.append(Path(os.path.abspath(path)))
        else:
            _count(summary, early)
    todo.sort(key=lambda p: (capture_order(p, ingestor.exiftool), str(p)))  # type: ignore[arg-type]
    total = len(todo)
    if workers > 1 and total > 1:
        ctx = multiprocessing.get_context("spawn")  # fork + OpenMP in LibRaw can deadlock
        with ctx.Pool(workers, initializer=_init_worker) as pool:
            results = pool.imap(_prepare_in_worker, todo, chunksize=1)
            for i, prep in enumerate(results, 1):
                _count(summary, ingestor.commit(prep))
                if progress:
                    progress(i, total, prep.path)
            pool.close()  # the workers end on their own, closing their exiftool
            pool.join()
    else:
        with contextlib.closing(ingestor.ingest_files(todo)) as outcomes:
            for i, out in enumerate(outcomes, 1):
                _count(summary, out)
                if progress:
                    progress(i, total, out.path)
    summary.new_defects += ingestor.checkpoint()
    return summary


def _count(summary: ScanSummary, out: Outcome) -> None:
    if out.status is None:
        if out.reason == "unchanged":
            summary.unchanged += 1
        else:
            summary.ignored += 1
        return
    summary.statuses[out.status] += 1
    if out.body is not None and out.status is FileStatus.INGESTED:
        summary.per_body[out.body.label] += 1


class ProgressBar:
    """A one-line progress bar on a terminal; silent otherwise."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self._last = 0.0

    def __call__(self, done: int, total: int, path: Path) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        width = 30
        filled = int(width * done / max(total, 1))
        name = path.name[-30:]
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {name:<30}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()
