"""``hotwatch scan PATH...``: backfill files and folders."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from hotwatch.commands.common import open_catalogue
from hotwatch.core.errors import CommandFailed
from hotwatch.core.model import FileStatus
from hotwatch.io.exiftool import optional_exiftool
from hotwatch.pipeline.ingest import Ingestor
from hotwatch.pipeline.rebuild import rebuild_outdated
from hotwatch.pipeline.reidentify import reidentify
from hotwatch.pipeline.scan import ProgressBar, scan
from hotwatch.state.runfiles import daemon_pid

log = logging.getLogger(__name__)


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
        default=1,
        metavar="N",
        help="decode on N processes (default 1; 0 = one per core)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    workers = args.workers if args.workers > 0 else (os.cpu_count() or 1)
    with open_catalogue(args.paths) as cat, optional_exiftool() as et:
        if daemon_pid(args.paths) is None:  # a running daemon did it when it started
            for rebuilt in rebuild_outdated(args.paths, cat, et, ProgressBar()):
                print(rebuilt.line)
            for migration in reidentify(args.paths, cat, et):
                print(migration.line)
        ingestor = Ingestor(args.paths, cat, exiftool=et)
        summary = scan(ingestor, args.targets, workers=workers, progress=ProgressBar())
        print_summary(summary, cat)
    s = summary.statuses
    tried = s[FileStatus.INGESTED] + s[FileStatus.SKIPPED] + s[FileStatus.FAILED]
    if summary.readable == 0 and (tried > 0 or summary.errors):
        raise CommandFailed("no photo could be read")
    return 0


def print_summary(summary, cat) -> None:
    s = summary.statuses
    print(
        f"{summary.seen} files: {s[FileStatus.INGESTED]} ingested, {summary.unchanged} unchanged, "
        f"{s[FileStatus.SKIPPED]} skipped, {s[FileStatus.FAILED]} failed"
        + (f", {summary.ignored} ignored (sidecars and the like)" if summary.ignored else "")
    )
    for body in cat.bodies():
        defects = cat.defects(body_key=body.key)
        counts = {}
        for d in defects:
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
