"""``hotwatch scan PATH...``: backfill files and folders.

On a terminal it shows what it does from its first second: finding the files, reading
their capture times, reading the photos; and on a first run (numba's cache has not the
compiled kernels yet) that the kernels are being built in the background, which the scan
waits for only before its first photo (:mod:`hotwatch.pipeline.warmup`).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from hotwatch.commands.common import open_catalogue
from hotwatch.core.errors import CommandFailed
from hotwatch.core.model import FileStatus
from hotwatch.io.exiftool import optional_exiftool
from hotwatch.pipeline import warmup
from hotwatch.pipeline.ingest import Ingestor
from hotwatch.pipeline.rebuild import rebuild_outdated
from hotwatch.pipeline.reidentify import reidentify
from hotwatch.pipeline.scan import (
    READING,
    ProgressBar,
    ScanSummary,
    cores_in_use,
    default_workers,
    scan,
    usable_cores,
)
from hotwatch.state import sensors
from hotwatch.state.config import Paths
from hotwatch.state.runfiles import daemon_pid

log = logging.getLogger(__name__)

BUILDING = "first run: compiling hotwatch's detection kernels in the background (once)"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "scan",
        help="ingest photos from files and folders (recursive)",
        description="Read every photo under PATH (camera JPEG, TIFF/PNG, and RAW), in capture "
        "order, into its camera body's accumulator; report new defects. Files already "
        "seen (same path and size and time, or same content elsewhere) are not read again. "
        "Example: hotwatch scan ~/Pictures",
    )
    p.add_argument("targets", nargs="+", type=Path, metavar="PATH")
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="the cores to use (default 0: every core this process may use, as far as free "
        "memory holds a worker for each; never more than there are); on up to 2 the next "
        "photos are decoded on two threads, on more N-1 processes decode and this one absorbs",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # more processes than cores would only take turns: never slower than the default
    workers = min(args.workers, usable_cores()) if args.workers > 0 else default_workers()
    bar = ProgressBar(cores=cores_in_use(workers))
    return scan_paths(args.paths, args.targets, workers, bar, start_warmup())


def start_warmup(on_build: Callable[[], None] | None = None) -> warmup.Warmup | None:
    """Start making the compiled kernels ready in the background (see
    :mod:`hotwatch.pipeline.warmup`); ``on_build`` is called (on another thread) if they
    are being built."""
    return warmup.start(on_build)


class KernelNews:
    """Says, once, that the kernels are being built, and waits for them when needed.

    ``said``: the caller already said so (the demo does, while it writes its roll).
    """

    def __init__(self, warm: warmup.Warmup | None, bar: ProgressBar, said: bool = False) -> None:
        self.warm = warm
        self.bar = bar
        self.said = said

    def poll(self) -> None:
        """Say that the build began, if it did (called often: cheap)."""
        if self.warm is not None and self.warm.building and not self.said:
            self.said = True
            if self.bar.enabled:
                self.bar.status(f"{BUILDING} ...", end=True)
            else:
                log.info("%s ...", BUILDING)

    def wait(self) -> None:
        """Wait until the kernels are ready, saying so each second (on a terminal)."""
        warm = self.warm
        if warm is None or warm.finished is not None:
            return
        while not warm.done_within(1.0 if self.said else 0.2):
            self.poll()
            if self.said:
                self.bar.status(f"waiting for the kernels' build: {warm.elapsed():.0f} s ...")
        self.poll()
        seconds = warm.wait()
        if warm.failure:
            log.warning("hotwatch's kernels could not be built ahead (%s)", warm.failure)
        elif not warm.building:
            return
        elif self.bar.enabled:
            self.bar.status(f"compiled hotwatch's detection kernels in {seconds:.0f} s", end=True)
        else:
            log.info("compiled hotwatch's detection kernels in %.0f s", seconds)

    def stop(self) -> None:
        if self.warm is not None and self.warm.finished is None:
            self.warm.stop()


def scan_paths(
    paths: Paths,
    targets: Sequence[Path],
    workers: int,
    bar: ProgressBar,
    warm: warmup.Warmup | None,
    said: bool = False,
) -> int:
    """Scan ``targets`` into ``paths``'s catalogue, print the summary; the exit status.

    ``warm``: the kernels being made ready in the background; waited for before anything
    runs them (and stopped if nothing does). ``said``: the caller said they are being built.
    """
    news = KernelNews(warm, bar, said)

    def stage(name: str, done: int, total: int) -> None:
        news.poll()
        if name == READING:
            news.wait()
        bar.stage(name, done, total)

    try:
        with open_catalogue(paths) as cat, optional_exiftool() as et:
            if daemon_pid(paths) is None:  # a running daemon did it when it started
                if cat.bodies():  # rebuilding or re-identifying may run the kernels
                    news.wait()
                for rebuilt in rebuild_outdated(paths, cat, et, bar):
                    print(rebuilt.line)
                for migration in reidentify(paths, cat, et):
                    print(migration.line)
            ingestor = Ingestor(paths, cat, exiftool=et)
            summary = scan(ingestor, targets, workers=workers, progress=bar, stage=stage)
            print_summary(summary, cat)
    finally:
        news.stop()  # no photo needed the kernels: the next scan builds them
    s = summary.statuses
    tried = s[FileStatus.INGESTED] + s[FileStatus.SKIPPED] + s[FileStatus.FAILED]
    if summary.readable == 0 and (tried > 0 or summary.errors):
        raise CommandFailed("no photo could be read")
    return 0


def print_summary(summary: ScanSummary, cat) -> None:
    s = summary.statuses
    print(
        f"{summary.seen} files: {s[FileStatus.INGESTED]} ingested, {summary.unchanged} unchanged, "
        f"{s[FileStatus.SKIPPED]} skipped, {s[FileStatus.FAILED]} failed"
        + (f", {summary.ignored} ignored (sidecars and the like)" if summary.ignored else "")
    )
    for body in cat.bodies():
        counts: dict[str, int] = {}
        for d in sensors.sensor_view(cat, body).defects:  # one per physical defect
            counts[d.kind.value] = counts.get(d.kind.value, 0) + 1
        text = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no defects"
        added = summary.per_body.get(body.label, 0)
        warn = "  (no serial: several bodies of this model may be mixed)" if not body.serial else ""
        print(f"  {body.label}: {body.frames} photos ({added} new), {text}{warn}")
        undated = cat.undated_count(body.key)
        if undated:
            print(f"    {undated} of its photos keep no capture date: they date no defect")
    for d in summary.new_defects:
        onset = d.onset.date().isoformat() if d.onset else "unknown"
        print(
            f"  NEW {d.kind.value} pixel on {d.body} at {d.x},{d.y} "
            f"({d.frame_kind.value}), first seen {onset}"
        )
