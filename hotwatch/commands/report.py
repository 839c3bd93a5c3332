"""``hotwatch report``: the sensor health report."""

from __future__ import annotations

import argparse
from pathlib import Path

from hotwatch.commands.common import open_catalogue, pick_body
from hotwatch.core.errors import UserError
from hotwatch.outputs import report


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write the sensor health report (HTML)",
        description=(
            "Write one self-contained HTML file (no network, images inline) showing BODY's "
            "sensor (default: every body): a map of the defects, a close-up of each beside the "
            "same crop healed as the darktable plugin heals it, photos and defects over time "
            "with the growth rate, and what was skipped. Example: hotwatch report D80 --png"
        ),
    )
    p.add_argument("body", nargs="?", metavar="BODY", help="a serial or 'make model serial'")
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE.html",
        help="where to write (default: <home>/reports/<body>.html or all-bodies.html)",
    )
    p.add_argument(
        "--png",
        action="store_true",
        help="also write the sensor maps and the timeline as PNG files beside the HTML",
    )
    p.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    with open_catalogue(args.paths, readonly=True) as cat:
        if args.body:
            bodies = [pick_body(cat, args.body)]
        else:
            bodies = cat.bodies()
            if not bodies:
                raise UserError("no camera bodies yet: run hotwatch scan PATH first")
        one = bodies[0] if args.body else None
        output = args.output or report.default_output(args.paths, one)
        written = report.write_report(cat, output, bodies if args.body else None, png=args.png)
    for path in written:
        print(path)
    return 0
