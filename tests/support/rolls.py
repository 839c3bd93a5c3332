"""Simulated camera rolls with known defects, and the defects a detector can be asked to
find in them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from hotwatch.sim import camsim


@dataclass
class Roll:
    folder: Path
    shots: list
    truth: list[dict]
    camera: camsim.Camera

    @property
    def times(self) -> list[datetime]:
        return [s.taken_at for s in self.shots]


def make_roll(
    folder: Path,
    n: int = 120,
    seed: int = 5,
    *,
    width: int = 320,
    height: int = 240,
    counts: dict | None = None,
    serial: str | None = "012345678",
    make: str = "Canon",
    model: str = "Canon EOS 5D",
    formats: tuple[str, ...] = ("jpeg", "dng"),
    **plan,
) -> Roll:
    """``n`` shots of a simulated body (RGGB, defects planted, some appearing late) written
    to ``folder`` as JPEG and DNG."""
    sensor = camsim.SensorSpec(width=width, height=height, cfa="RGGB")
    shots = camsim.plan_roll(n, seed=seed, **plan)
    if counts is None:
        counts = {"hot": 3, "partial": 2, "stuck": 2, "dead": 2}
    defects = (
        camsim.plant_defects(sensor, counts, late_fraction=0.3, seed=seed, n_shots=n)
        if counts
        else []
    )
    cam = camsim.Camera(sensor, defects, make=make, model=model, serial=serial, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    camsim.write_roll(cam, shots, folder, formats=formats)
    return Roll(folder, shots, camsim.ground_truth(defects, shots), cam)


def visible_truth(roll: Roll, min_fraction: float = 0.05) -> list[dict]:
    """Defects standing >= 3x above local noise in >= min_fraction of frames."""
    vis = np.array([roll.camera.visibility(s) for s in roll.shots])
    keep = (vis >= 3).mean(axis=0) >= min_fraction
    out = []
    for j, (t, k) in enumerate(zip(roll.truth, keep, strict=True)):
        if k:
            shows = np.flatnonzero(vis[:, j] >= 3)
            out.append({**t, "first_visible_index": int(shows[0])})
    return out
