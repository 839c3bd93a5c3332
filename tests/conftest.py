"""Shared fixtures: a simulated camera roll with known defects, and a hotwatch home."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def roll(tmp_path_factory) -> Roll:
    """120 frames, JPEG + DNG, 320x240, 9 planted defects (some appearing late)."""
    return make_roll(tmp_path_factory.mktemp("roll") / "DCIM")


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


def hotwatch(
    *args: str, home: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    """Run the real ``hotwatch`` command line in a subprocess."""
    cmd = [sys.executable, "-m", "hotwatch"]
    if home is not None:
        cmd += ["--home", str(home)]
    proc = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{cmd + list(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def with_format_version(blob: bytes, version: int) -> bytes:
    """An accumulator file as another format version would have written it."""
    import hashlib
    import struct

    from hotwatch.core.accumulator import MAGIC

    body = blob[:-32]
    (size,) = struct.unpack_from("<I", body, len(MAGIC))
    start = len(MAGIC) + 4
    meta = json.loads(body[start : start + size])
    meta["version"] = version
    head = json.dumps(meta, sort_keys=True).encode()
    body = MAGIC + struct.pack("<I", len(head)) + head + body[start + size :]
    return body + hashlib.sha256(body).digest()


def defects_json(home: Path) -> dict:
    return json.loads(hotwatch("defects", "--json", home=home).stdout)


def visible_truth(roll: Roll, min_fraction: float = 0.05) -> list[dict]:
    """Defects standing >= 3x above local noise in >= min_fraction of frames."""
    import numpy as np

    vis = np.array([roll.camera.visibility(s) for s in roll.shots])
    keep = (vis >= 3).mean(axis=0) >= min_fraction
    out = []
    for j, (t, k) in enumerate(zip(roll.truth, keep, strict=True)):
        if k:
            shows = np.flatnonzero(vis[:, j] >= 3)
            out.append({**t, "first_visible_index": int(shows[0])})
    return out
