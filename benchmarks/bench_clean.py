"""Never crying wolf, over many bodies: clean simulated bodies, each a roll of its own.

``bench_core``'s clean body is one long roll. A false report can hide in one roll's
particular photos instead (a star field on a tripod at ISO 4000, a subject shot again
from the same place), so this sweeps many short rolls: each seed plans another roll
(sessions by day and night, bursts, tripod runs, lens-cap, blown and star frames) of a
body without defects, written as JPEG and DNG for a Bayer and an X-Trans sensor, and
scanned with ``hotwatch scan`` as a user runs it. Every report is a false alarm. It
prints each roll's reports and closest call (the highest score any pixel reached,
against the bar), then how many rolls reported anything.

Small frames are the hard case, not a shortcut: a thumbnail of few pixels is noisy (a
tripod run is harder to recognise), and the frame's edge, judged against one-sided
neighbours, is a larger share of it.

Usage, from the repository root:
``python -m benchmarks.bench_clean [--size 324x246] [--seeds 1-30] [--frames 150]
[--cfa RGGB,XTRANS] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks.bench_core import scan_clean
from hotwatch.sim import camsim


def roll(
    work: Path, cfa: str, size: str, seed: int, frames: int, jpeg: tuple[int, str] = (92, "4:2:2")
) -> Path:
    """A clean body's roll (written once, then kept under ``work``); ``jpeg``: its camera
    JPEGs' quality and chroma subsampling."""
    width, height = (int(v) for v in size.split("x"))
    quality, subsampling = jpeg
    folder = work / f"clean-{cfa}-{size}-{frames}-{seed}-q{quality}-{subsampling.replace(':', '')}"
    if not (folder / "complete").exists():
        sensor = camsim.SensorSpec(width=width, height=height, cfa=cfa)
        cam = camsim.Camera(
            sensor, (), "Canon", "Canon EOS 7D", str(seed), seed,
            jpeg_quality=quality, subsampling=subsampling,
        )  # fmt: skip
        camsim.write_roll(cam, camsim.plan_roll(frames, seed=seed), folder / "photos")
        (folder / "complete").write_text("")
    return folder


def seeds(text: str) -> list[int]:
    """``"1-30"`` or ``"3,5,8"``."""
    if "-" in text:
        first, last = (int(v) for v in text.split("-"))
        return list(range(first, last + 1))
    return [int(v) for v in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="324x246")
    parser.add_argument("--seeds", type=seeds, default=seeds("1-30"))
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--cfa", default="RGGB,XTRANS", help="sensor patterns, comma-separated")
    parser.add_argument("--keep", type=Path, help="write (and reuse) the rolls here")
    parser.add_argument(
        "--jpeg-quality",
        type=int,
        default=92,
        help="the camera JPEGs' quality (92: fine; 80: normal)",
    )
    parser.add_argument("--subsampling", choices=("4:4:4", "4:2:2", "4:2:0"), default="4:2:2")
    args = parser.parse_args()
    jpeg = (args.jpeg_quality, args.subsampling)
    with tempfile.TemporaryDirectory(prefix="bench-clean-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        rolls = alarms = 0
        for cfa in args.cfa.split(","):
            for seed in args.seeds:
                folder = roll(work, cfa, args.size, seed, args.frames, jpeg)
                took, reports, calls = scan_clean(folder / "photos", folder / "home")
                rolls += 1
                alarms += any(reports.values())
                found = "  ".join(f"{k}: {len(v)} {v[:3] if v else ''}" for k, v in reports.items())
                close = "  ".join(f"{k} {top:.1f}/{bar:.1f}" for k, (top, bar) in calls.items())
                print(
                    f"{cfa:<6} seed {seed:>3}  {found}  closest {close}  ({took:.0f} s)", flush=True
                )
        print(
            f"\n{rolls} clean bodies of {args.frames} photos of {args.size} (JPEG at quality "
            f"{args.jpeg_quality}, {args.subsampling}, and DNG): {alarms} with any report"
        )


if __name__ == "__main__":
    main()
