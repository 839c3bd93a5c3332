"""``hotwatch scan``: backfill files and folders, in capture order, on N cores.

Files are fed to the accumulators in capture order (onsets are dated from the
order of evidence), as the EXIF layer reads it (:func:`hotwatch.io.exif.capture_order`).
On up to two cores the next files are decoded on two threads while this one is
absorbed (:mod:`hotwatch.io.readahead`): decoding and the compiled kernels release
Python's lock, so that already keeps two cores busy, without copying any frame between
processes. On more cores the costly half of ingest (hash, EXIF, decode, per-frame
evidence) runs in a pool of ``cores - 1`` spawned processes while this process, the
last core, feeds their results, still in capture order, into one set of accumulators:
the result is the same as a single-process scan. Asking for two processes on a
two-core machine used to be slower than the threads (three busy processes on two
cores, and every frame's evidence pickled across), so it now takes the threads.
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


#: the cores the read-ahead threads keep busy: a pool pays only above this
THREADED_CORES = 2
#: memory one pool worker may hold at once (a 24 MP raw decoded, its evidence, the
#: compiled kernels' runtime): the default number of cores never asks for more than is free
WORKER_BYTES = 600 * 2**20


def usable_cores() -> int:
    """The cores this process may run on (a container's or taskset's limit included)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_workers() -> int:
    """Every usable core, as far as the free memory holds a worker for each."""
    cores = usable_cores()
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return cores
    return max(1, min(cores, free // WORKER_BYTES))


def cores_in_use(workers: int) -> int:
    """The cores a scan asked for ``workers`` keeps busy: the read-ahead threads' two (one
    on a one-core machine), or the pool's processes and this one."""
    if workers > THREADED_CORES:
        return min(workers, usable_cores())
    return min(THREADED_CORES, usable_cores())


#: the steps of a scan before its photos are read, as ``stage`` hears of them
FINDING, ORDERING, READING = "finding", "ordering", "reading"
STAGE_LABELS = {FINDING: "finding photos", ORDERING: "reading capture times"}


def scan(
    ingestor: Ingestor,
    roots: Iterable[Path],
    *,
    workers: int = 1,
    progress: Callable[[int, int, Path], None] | None = None,
    stage: Callable[[str, int, int], None] | None = None,
) -> ScanSummary:
    """Ingest every file under ``roots``; returns what happened.

    ``progress(done, total, path)`` follows the photos read; ``stage(step, done, total)``
    the steps before: ``FINDING`` (files found so far; total 0: not known yet),
    ``ORDERING`` (files whose capture time was read), and ``READING`` (0, photos to
    read) once, just before the first photo is read: a caller still building the
    compiled kernels waits for them there (:mod:`hotwatch.pipeline.warmup`).
    """
    summary = ScanSummary()
    step = stage or (lambda name, done, total: None)
    told = ingestor.on_new_defect  # every checkpoint of the scan, not only the last, tells

    def on_new_defect(event: NewDefect) -> None:
        summary.new_defects.append(event)
        if told is not None:
            told(event)

    ingestor.on_new_defect = on_new_defect
    try:
        return _scan(ingestor, roots, summary, workers, progress, step)
    finally:
        ingestor.on_new_defect = told


def _scan(
    ingestor: Ingestor,
    roots: Iterable[Path],
    summary: ScanSummary,
    workers: int,
    progress: Callable[[int, int, Path], None] | None,
    step: Callable[[str, int, int], None],
) -> ScanSummary:

    def on_error(path: Path, reason: str) -> None:
        summary.errors.append((path, reason))
        log.warning("%s: %s", path, reason)

    todo: list[Path] = []
    for path in walk(roots, on_error):
        summary.seen += 1
        step(FINDING, summary.seen, 0)
        early = ingestor.triage(path)
        if early is None:
            todo.append(Path(os.path.abspath(path)))
        else:
            _count(summary, early)
    order: dict[Path, tuple] = {}
    for i, path in enumerate(todo, 1):
        order[path] = (capture_order(path, ingestor.exiftool), str(path))  # type: ignore[arg-type]
        step(ORDERING, i, len(todo))
    todo.sort(key=order.__getitem__)
    total = len(todo)
    if total:
        step(READING, 0, total)
    if workers > THREADED_CORES and total > 1:
        ctx = multiprocessing.get_context("spawn")  # fork + OpenMP in LibRaw can deadlock
        # this process absorbs on the last core
        with ctx.Pool(workers - 1, initializer=_init_worker) as pool:
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
    ingestor.checkpoint()
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
    """A one-line progress display on a terminal; silent otherwise.

    Called as ``bar(done, total, path)`` for the photos read; ``stage`` for the steps
    before them; ``status(text)`` for anything else worth a line while it lasts (the
    kernels being built). Each redraws the same line, at most ten times a second.
    """

    def __init__(self, stream=None, cores: int | None = None) -> None:
        self.stream = stream or sys.stderr
        self.cores = cores  #: said in the photos' line: how many cores the scan keeps busy
        self.enabled = self.stream.isatty()
        self._last = 0.0

    def __call__(self, done: int, total: int, path: Path) -> None:
        if not self._due(done >= total):
            return
        name = path.name[-30:]
        on = f" on {self.cores} core{'s' if self.cores != 1 else ''}" if self.cores else ""
        self._draw(f"{self._bar(done, total)} {done}/{total}{on} {name:<30}", end=done >= total)

    def stage(self, name: str, done: int, total: int) -> None:
        label = STAGE_LABELS.get(name)
        if label is None or not self._due(total > 0 and done >= total):
            return
        if total <= 0:
            self._draw(f"{label}: {done} files")
        else:
            self._draw(f"{label} {self._bar(done, total)} {done}/{total}", end=done >= total)

    def status(self, text: str, end: bool = False) -> None:
        """``text`` in the progress line (``end``: and leave it there)."""
        if self._due(end):
            self._draw(text, end=end)

    def _due(self, last: bool) -> bool:
        if not self.enabled:
            return False
        now = time.monotonic()
        if not last and now - self._last < 0.1:
            return False
        self._last = now
        return True

    @staticmethod
    def _bar(done: int, total: int, width: int = 30) -> str:
        filled = int(width * done / max(total, 1))
        return f"[{'#' * filled}{'.' * (width - filled)}]"

    def _draw(self, text: str, end: bool = False) -> None:
        self.stream.write(f"\r\x1b[K{text}" + ("\n" if end else ""))
        self.stream.flush()
