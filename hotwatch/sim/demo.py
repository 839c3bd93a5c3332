"""``hotwatch demo``: a simulated camera roll with known defects, scanned and reported.

Why it exists: a new user should see everything work in under a minute, before pointing
hotwatch at their own photos. The roll comes from :mod:`hotwatch.sim.camsim` (the simulator the
tests use): a 640x480 body shooting about ten months of day, indoor and night sessions as
RAW+JPEG pairs, with hot, stuck and dead pixels planted in the raw photosites, one hot
pixel appearing part-way. Like a real camera it writes its JPEGs as a crop of the photosites
a few photosites in from the corner (``JPEG_CROP``), and for the last sessions at M size
(``M_SIZE``, the same crop scaled by 2/3), so that the demo shows one defect list per body:
hotwatch learns where each JPEG size sits on the raw from the pairs and reports each
physical defect once. Because the truth is known, the demo ends by saying how many of the
simulated defects hotwatch found (RAW: the exact photosite; JPEG: within 1 px of where the
photosite lands in that JPEG, since a JPEG smears one photosite over its neighbours).

The folder holds ``photos/`` (the roll), ``truth.json`` (camsim's ground truth) and, unless a
``--home`` was given, ``home/`` (hotwatch's state for the demo, so the user's own catalogue is
never touched). Default folder: a new ``hotwatch-demo-*`` folder in the system's temporary
directory, printed at the end: the demo never litters the current directory with ~110 MB of
photos, and the report stays there to open.
"""

from __future__ import annotations

import itertools
import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

from hotwatch.core.errors import UserError
from hotwatch.core.frame_map import FrameMap
from hotwatch.core.model import FrameKind
from hotwatch.core.sensor import Geometry
from hotwatch.sim import camsim, scoring
from hotwatch.state import sensors
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.rows import DefectRow

MARKER = ".hotwatch-demo"  #: a folder holding this file was made by the demo and may be redone
SERIAL = "DEMO0001"
MAKE, MODEL = "Simulated", "HW-1"
N_SHOTS = 160
JPEG_CROP = (10, 6, 624, 464)  #: left, top, width, height of the photosites the JPEGs keep
M_SIZE = (416, 309)  #: the M-size JPEGs: the same crop, scaled by 2/3
M_FROM = 120  #: shots from this one on are RAW + M-size JPEG
SEED = 5
SESSION_STRETCH = 5.0  # days between sessions x this: ~10 months of history instead of ~2
COUNTS = {"hot": 3, "stuck": 2, "dead": 2}
LATE_AT = 0.6  # the late hot pixel appears at this fraction of the roll
# Clearly visible strengths, so the demo shows detection working rather than its limits:
# hot at 2000-6000 e-/s shows in indoor and night frames (not in 1/1000 s daylight ones).
STRENGTHS = {"hot": (4000.0, 10000.0), "stuck": (0.5, 1.0)}


@dataclass(frozen=True)
class DemoRoll:
    folder: Path
    photos: Path
    truth: list[dict]
    shots: int
    files: int


@dataclass(frozen=True)
class Match:
    """How one frame geometry's defects compare with the planted ones."""

    kind: str  #: the geometry ("raw 640x480", "jpeg 624x464")
    planted: int
    found: int  # planted defects with a report at the right place
    kind_right: int  # ... of which the reported kind is one camsim accepts
    extra: int  # reports matching no planted defect
    missed: list[dict]
    spurious: list[tuple[int, int, str]]
    tolerance: int  # pixels


def prepare_folder(folder: Path | None) -> Path:
    """The demo folder: new (temporary by default), empty, or an earlier demo's (redone).

    Refuses a non-empty folder the demo did not make, so it never deletes the user's files.
    """
    if folder is None:
        made = Path(tempfile.mkdtemp(prefix="hotwatch-demo-"))
        (made / MARKER).write_text("made by hotwatch demo\n", encoding="utf-8")
        return made
    folder = folder.expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{folder} is not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        if not (folder / MARKER).is_file():
            raise UserError(f"{folder} is not empty; give a new or empty folder for the demo")
        for name in ("photos", "home", "truth.json"):  # only what an earlier demo wrote
            target = folder / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("made by hotwatch demo\n", encoding="utf-8")
    return folder


def stretch_sessions(shots: Sequence[camsim.ShotSpec], factor: float) -> list[camsim.ShotSpec]:
    """Spread the sessions ``factor`` times further apart, keeping each session's own timing.

    Gaps over six hours are between sessions; only those grow, so bursts and time-lapses stay
    as shot and the timeline covers months, enough for a growth rate.
    """
    if not shots:
        return []
    out = [shots[0]]
    shift = timedelta(0)
    for prev, shot in itertools.pairwise(shots):
        gap = shot.taken_at - prev.taken_at
        if gap > timedelta(hours=6):
            shift += gap * (factor - 1.0)
        out.append(replace(shot, taken_at=shot.taken_at + shift))
    return out


def plant(sensor: camsim.SensorSpec, n_shots: int, seed: int) -> list[camsim.PlantedDefect]:
    """The demo's defects: ``COUNTS`` of each kind, the first hot pixel appearing part-way."""
    defects = camsim.plant_defects(
        sensor, COUNTS, 0.0, seed, n_shots=n_shots, strengths=STRENGTHS, edge=24, spacing=16
    )
    late = next(i for i, d in enumerate(defects) if d.kind == "hot")
    defects[late] = replace(defects[late], onset_index=int(LATE_AT * n_shots))
    return defects


def camera(defects: Sequence[camsim.PlantedDefect] = (), seed: int = SEED) -> camsim.Camera:
    """The demo's body: 640x480 RGGB, its JPEGs cropped (``JPEG_CROP``), M size ``M_SIZE``."""
    sensor = camsim.SensorSpec(width=640, height=480, cfa="RGGB")
    return camsim.Camera(
        sensor,
        defects,
        make=MAKE,
        model=MODEL,
        serial=SERIAL,
        seed=seed,
        jpeg_crop=JPEG_CROP,
        m_size=M_SIZE,
    )


def write_roll(folder: Path, n_shots: int = N_SHOTS, seed: int = SEED) -> DemoRoll:
    """Write the simulated roll (a DNG and a JPEG per shot: L size, then M size from shot
    ``M_FROM`` on) and ``truth.json`` into ``folder``."""
    shots = stretch_sessions(camsim.plan_roll(n_shots, seed=seed), SESSION_STRETCH)
    cam = camera(seed=seed)
    defects = plant(cam.sensor, n_shots, seed)
    cam = camera(defects, seed)
    photos = folder / "photos"
    paths = camsim.write_roll(cam, shots[:M_FROM], photos)
    paths += camsim.write_roll(cam, shots[M_FROM:], photos, ("jpeg-m", "dng"))
    truth = camsim.ground_truth(defects, shots)
    (folder / "truth.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    return DemoRoll(folder, photos, truth, len(shots), len(paths))


def compare(
    truth: Sequence[dict], found: Sequence[DefectRow], geometry: Geometry, fmap: FrameMap | None
) -> Match:
    """Planted vs reported defects of one accumulator (RAW exact; a JPEG within 1 px of
    where the photosite lands in it, through the camera's true ``fmap``), matched as the
    benchmarks match them (:func:`hotwatch.sim.scoring.match`)."""
    raw = geometry.kind is FrameKind.RAW
    tol = 0 if raw else 1
    rows = [
        d
        for d in found
        if (d.frame_kind, d.width, d.height) == (geometry.kind, geometry.width, geometry.height)
        and d.status == "active"
    ]
    placed = [dict(t, **_mapped(t, fmap)) for t in truth] if fmap is not None else list(truth)
    pairs = scoring.match([{"x": d.x, "y": d.y} for d in rows], placed, tol)
    reports = {i for i, _ in pairs}
    planted = {j for _, j in pairs}
    kind_right = sum(rows[i].kind.value in truth[j]["accepted_kinds"] for i, j in pairs)
    missed = [t for j, t in enumerate(truth) if j not in planted]
    spurious = [(d.x, d.y, d.kind.value) for i, d in enumerate(rows) if i not in reports]
    return Match(
        geometry.label, len(truth), len(pairs), kind_right, len(spurious), missed, spurious, tol
    )


def _mapped(t: dict, fmap: FrameMap) -> dict:
    m, n = fmap.to_jpeg(t["x"], t["y"])
    return {"x": round(m), "y": round(n)}


def comparison_lines(truth: Sequence[dict], cat: Catalogue, body_key: str) -> list[str]:
    """What the demo prints after the report: one entry per simulated defect on the sensor,
    how each frame size saw them, and where hotwatch placed each JPEG size on the raw."""
    body = cat.body(body_key)
    assert body is not None
    view = sensors.sensor_view(cat, body)
    cam = camera()
    entries = [d for d in view.defects if d.exact and d.photosite is not None]
    pairs = scoring.match([{"x": d.photosite[0], "y": d.photosite[1]} for d in entries], truth, 0)  # type: ignore[index]
    right = sum(entries[i].kind.value in truth[j]["accepted_kinds"] for i, j in pairs)
    others = len(view.defects) - len(pairs)
    lines = [
        f"found {len(pairs)} of {len(truth)} simulated defects, one entry each on the sensor "
        f"(kind right for {right}); {others} other entr{'y' if others == 1 else 'ies'}"
    ]
    found = cat.defects(body_key=body_key)
    for g in view.geometries:
        true_map = None if g.kind is FrameKind.RAW else cam.jpeg_map((g.width, g.height))
        m = compare(truth, found, g, true_map)
        where = "at the exact photosite" if m.tolerance == 0 else f"within {m.tolerance} px"
        lines.append(
            f"  {g.kind.value.upper()} {g.width}x{g.height}: {m.found} of {m.planted} seen "
            f"{where}, kind right for "
            f"{m.kind_right}; {m.extra} other report(s)"
        )
        for t in m.missed:
            lines.append(f"    not seen: {t['kind']} at photosite x={t['x']} y={t['y']}")
        for x, y, k in m.spurious:
            lines.append(f"    not simulated: {k} at x={x} y={y}")
        if true_map is not None:
            lines.append("    " + _placement(view.maps.get(g), true_map))
    for t in truth:
        if t["onset_index"] > 0:
            dated = [d for d in entries if d.photosite == (t["x"], t["y"]) and d.onset]
            when = dated[0].onset.date().isoformat() if dated and dated[0].onset else "not found"
            planted = (t["onset"] or "")[:10]
            lines.append(
                f"  the {t['kind']} pixel at x={t['x']} y={t['y']} appeared on {planted} "
                f"(photo {t['onset_index']}); hotwatch dates it {when}"
            )
    return lines


def _placement(learned: FrameMap | None, true_map: FrameMap) -> str:
    """Where hotwatch placed a JPEG size on the raw, against where the camera put it."""
    tx, ty = true_map.crop_origin()
    if learned is None:
        return f"not placed on the sensor yet (the camera crops from {tx:.0f},{ty:.0f})"
    ox, oy = learned.crop_origin()
    return (
        f"placed from photosite {ox:.2f},{oy:.2f}, scale {learned.scale:.4f} (the camera's: "
        f"{tx:.0f},{ty:.0f}, scale {true_map.scale:.4f})"
    )


def load_truth(folder: Path) -> list[dict]:
    return json.loads((folder / "truth.json").read_text(encoding="utf-8"))
