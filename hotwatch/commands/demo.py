"""``hotwatch demo``: a simulated camera roll with known defects, scanned and reported.

The only command (and the only module of hotwatch outside ``hotwatch.sim``) that imports
the simulator.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import webbrowser
from pathlib import Path

from hotwatch.commands.common import open_catalogue, pick_body
from hotwatch.outputs import report
from hotwatch.pipeline.scan import ProgressBar
from hotwatch.sim import demo
from hotwatch.state.config import Paths, resolve_paths


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="scan a simulated camera roll with known defects and show the report",
        description=(
            "Write a small simulated camera roll (JPEG + DNG, a 640x480 body with known hot, "
            "stuck and dead pixels, one appearing part-way) into DIR (default: a new "
            "hotwatch-demo-* folder in the temporary directory), scan it with its own state in "
            "DIR/home (or --home if given), write the report and open it, and say how many of "
            "the simulated defects were found. Example: hotwatch demo --no-open"
        ),
    )
    p.add_argument("folder", nargs="?", type=Path, metavar="DIR")
    p.add_argument("--no-open", action="store_true", help="print the report's path only")
    p.set_defaults(func=run_demo)


_PRINTING = threading.Lock()  #: the warm-up's thread may print while the roll is written


def run_demo(args: argparse.Namespace) -> int:
    from hotwatch.commands import scan as scan_cmd

    started = time.monotonic()
    folder = demo.prepare_folder(args.folder)
    paths: Paths = args.paths if args.home else resolve_paths(folder / "home")
    print(f"writing a simulated camera roll into {folder / 'photos'} ...", flush=True)
    # On a first run the kernels are built while the roll is written (on the other core);
    # said at once, from the warm-up's thread: the roll takes seconds to write.
    building = threading.Event()

    def say_building() -> None:
        with _PRINTING:
            print(f"{scan_cmd.BUILDING} ...", flush=True)
        building.set()

    warm = scan_cmd.start_warmup(say_building)
    try:
        roll = demo.write_roll(folder)
    except BaseException:
        if warm is not None:
            warm.stop()
        raise
    with _PRINTING:
        print(f"{roll.files} files ({roll.shots} shots, JPEG + DNG); scanning ...", flush=True)
    status = scan_cmd.scan_paths(paths, [roll.photos], 1, ProgressBar(), warm, building.is_set())
    if status:
        return status
    with open_catalogue(paths, readonly=True) as cat:
        body = pick_body(cat, demo.SERIAL)
        output = report.default_output(paths, body)
        report.write_report(cat, output, [body])
        lines = demo.comparison_lines(roll.truth, cat, body.key)
    print("\n".join(lines))
    print(f"report: {output}")
    print(f"demo folder: {folder} ({time.monotonic() - started:.0f} s)")
    if not args.no_open:
        _open(output)
    return 0


def _open(path: Path) -> None:
    """Open the report in the user's browser if there is a display to show it on."""
    headless = sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
    if headless:
        print("no display: open the report above in a browser")
        return
    if not webbrowser.open(path.resolve().as_uri()):
        print("could not start a browser: open the report above yourself")
