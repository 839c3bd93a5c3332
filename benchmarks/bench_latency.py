"""A new defect on an old body: how many photos until hotwatch announces it.

``bench_core`` dates each emerging defect (the onset a report gives), and its rolls are
short: every defect appears on a young body. The tray's promise is different: a defect
that appears on a body with thousands of photos behind it is announced within a few
photos, as on a new one. So this builds two bodies that end with the same photos: a
young one, whose roll is those photos alone, and an old one, which took ``--history``
other photos in the years before (sessions by day and night, bursts, tripod runs,
lens-cap, blown and star frames). Both grow the same defects at the same photos of the
shared stretch (the same scenes and exposures, the sensor noise drawn anew; the hot,
stuck, dead and partially stuck photosites of ``camsim.plant_hard_cases`` that appear
part-way, and the later defect of each of its pairs, here alone). Their DNGs and JPEGs
are scanned apart with ``hotwatch scan`` as a user runs it, and the ``new_defect``
events of the catalogue give, per defect, the photos from its onset to the photo that
confirmed it (the photos of a burst or tripod run count one by one, as a user counts
them), young beside old: what the body's age costs.

It prints them per frame kind, with how many of those photos showed the defect (at 3x its
local noise or more, RAW visibility), the defects never announced, and any announcement
that matches no planted defect (a false alarm) or one announced twice.

Usage, from the repository root:
``python -m benchmarks.bench_latency [--size 640x480] [--recent 500] [--history 1500]
[--seed 5] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from hotwatch.core.events import NewDefect
from hotwatch.sim import camsim
from hotwatch.state.catalogue import Catalogue

ROOT = Path(__file__).resolve().parents[1]
ONSETS = (0.02, 0.3)  #: where in the shared stretch the defects appear
FRAME_KINDS = (("raw", "*.DNG", 0), ("jpeg", "*.JPG", 1))  #: kind, files, tolerance (px)


@dataclass(frozen=True)
class Roll:
    """One body's roll with its defects, and what each showed in which photo."""

    folder: Path
    defects: list[camsim.PlantedDefect]
    times: np.ndarray  #: capture time of each photo (Unix seconds)
    shown: np.ndarray  #: (photos, defects): the photo shows the defect at 3x its noise


def plans(recent: int, history: int, seed: int) -> tuple[list, list]:
    """The shared stretch, and the old body's years of other photos before it."""
    shared = camsim.plan_roll(recent, seed=seed)
    before = camsim.plan_roll(history, seed=seed + 1000, start=shared[0].taken_at)
    span = before[-1].taken_at - before[0].taken_at + timedelta(days=30)
    return shared, [dataclasses.replace(s, taken_at=s.taken_at - span) for s in before]


def build(work: Path, name: str, size: tuple[int, int], seed: int, shared, before) -> Roll:
    """A body whose roll is ``before`` then ``shared``, with the late defects appearing
    at the same photos of ``shared`` (written once, then kept under ``work``)."""
    width, height = size
    sensor = camsim.SensorSpec(width=width, height=height, cfa="RGGB")
    planted = camsim.plant_hard_cases(sensor, seed, n_shots=len(shared), onset_range=ONSETS)
    late = [
        dataclasses.replace(d, onset_index=d.onset_index + len(before))
        for d in planted
        if d.onset_index > 0
    ]
    shots = [dataclasses.replace(s, index=i) for i, s in enumerate([*before, *shared])]
    cam = camsim.Camera(sensor, late, "NIKON CORPORATION", "NIKON D80", "3012345", seed)
    folder = work / f"latency-{width}x{height}-{len(shared)}-{seed}-{name}-{len(before)}"
    if not (folder / "complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        camsim.write_roll(cam, shots, folder / "photos")
        (folder / "complete").write_text("")
    times = np.array([s.taken_at.timestamp() for s in shots])
    shown = np.array([cam.visibility(s) for s in shots]) >= 3
    return Roll(folder, late, times, shown)


def announced(roll: Roll, kind: str, pattern: str) -> list[NewDefect]:
    """``hotwatch scan`` of the roll's files of one kind into a fresh home; its
    ``new_defect`` events."""
    home = roll.folder / f"home-{kind}"
    shutil.rmtree(home, ignore_errors=True)
    files = sorted(str(p) for p in (roll.folder / "photos").glob(pattern))
    run = [sys.executable, "-m", "hotwatch", "--home", str(home), "scan", *files]
    subprocess.run(run, check=True, cwd=ROOT, capture_output=True)
    cat = Catalogue(home / "catalogue.sqlite")
    try:
        return [r.event for r in cat.events_since(0, [NewDefect])]  # type: ignore[misc]
    finally:
        cat.close()


def photo_of(roll: Roll, when: datetime | None) -> int | None:
    """The index of the photo taken at ``when``."""
    if when is None:
        return None
    return int(np.argmin(np.abs(roll.times - when.timestamp())))


@dataclass(frozen=True)
class Waits:
    """Per defect, (photos from its onset to its announcement, photos that showed it
    meanwhile), None when never announced; the events no defect explains; the defects
    announced twice."""

    per: list[tuple[int, int] | None]
    false: list[tuple[int, int, str]]
    twice: int


def waits(roll: Roll, events: list[NewDefect], tolerance: int) -> Waits:
    per: list[tuple[int, int] | None] = []
    used: set[int] = set()
    twice = 0
    for j, d in enumerate(roll.defects):
        mine = [
            e
            for e in events
            if max(abs(e.x - d.x), abs(e.y - d.y)) <= tolerance and e.defect_id not in used
        ]
        used.update(e.defect_id for e in mine)
        twice += len(mine) > 1
        at = [a for a in (photo_of(roll, e.confirmed) for e in mine) if a is not None]
        if not at:
            per.append(None)
            continue
        first = min(at)
        per.append((first - d.onset_index, int(roll.shown[d.onset_index : first + 1, j].sum())))
    false = [(e.x, e.y, e.kind.value) for e in events if e.defect_id not in used]
    return Waits(per, false, twice)


def summary(label: str, w: Waits) -> str:
    photos = [p[0] for p in w.per if p is not None]
    median = f"{np.median(photos):.0f}" if photos else "-"
    worst = f"{max(photos)}" if photos else "-"
    return (
        f"  {label}: announced {len(photos)}/{len(w.per)}, photos from onset median {median},"
        f" worst {worst}; false {len(w.false)}{' ' + str(w.false) if w.false else ''},"
        f" twice {w.twice}"
    )


def show(defects: list[camsim.PlantedDefect], young: Waits, old: Waits) -> None:
    print(summary("young body", young))
    print(summary("old body  ", old))
    print("    defect                          photos from onset (showed it): young   old")
    for d, a, b in zip(defects, young.per, old.per, strict=True):
        cells = [f"{p[0]:>4} ({p[1]:>3})" if p else "   never  " for p in (a, b)]
        what = f"{d.kind}/{d.category or d.kind}"
        print(f"    {what:<18} ({d.x:>4},{d.y:>4})           {cells[0]}  {cells[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--recent", type=int, default=500, help="photos both bodies took")
    parser.add_argument("--history", type=int, default=1500, help="the old body's before")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="write (and reuse) the rolls here")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        shared, before = plans(args.recent, args.history, args.seed)
        young = build(work, "young", size, args.seed, shared, [])
        old = build(work, "old", size, args.seed, shared, before)
        print(
            f"{args.size}, seed {args.seed}: {args.recent} photos, and the old body's "
            f"{args.history} before them; {len(young.defects)} defects appear between photos "
            f"{int(ONSETS[0] * args.recent)} and {int(ONSETS[1] * args.recent)} of the "
            f"{args.recent}"
        )
        for kind, pattern, tolerance in FRAME_KINDS:
            print(f"\n[{kind}]")
            got = [waits(r, announced(r, kind, pattern), tolerance) for r in (young, old)]
            show(young.defects, *got)


if __name__ == "__main__":
    main()
