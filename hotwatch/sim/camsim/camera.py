"""A simulated camera: the ground truth every detection test and benchmark is measured against.

Why it exists: hot, stuck and dead pixels can only be scored against a body whose defects are
known. This module renders camera rolls (real-photo scenes plus the awkward special cases that
fool detectors: clipped skies, lens-cap frames, star fields, fine texture, specular glints,
bursts and tripod runs) through a simple but physical sensor model, plants defects in the *raw*
domain, and writes what a real camera writes: a camera JPEG with EXIF and a CFA DNG.

Model, in order (all vectorised numpy, deterministic for a given seed):

1. Scene: a crop/flip/scale (rotated for portrait shots) of one of the bundled photos in
   ``hotwatch/scenes/`` (see SOURCES.md), decoded to linear light, or a synthetic special scene
   (``sky``, ``lenscap``, ``blown``, ``stars``, ``texture``, ``glints``). It is turned into
   camera colour (mixing matrix ``CAM_MIX`` and white point ``NEUTRAL``) at the photo's own
   resolution, then resampled straight onto each CFA sub-lattice, so a 10 MP frame never holds a
   full RGB scene.
2. Sensor (``SensorSpec``): scene value 1.0 x ``shot.brightness`` reaches the white level at
   any ISO (the camera auto-exposes); electrons = that fraction of the full well divided by the
   ISO gain, so high ISO means fewer electrons and more noise. Shot noise (Gaussian
   approximation, or Poisson), read noise in electrons, DN = black + gain x electrons, rounded
   and clipped to [0, white]. Optional margins (an optical-black border around the visible
   area) are written in the DNG as ActiveArea or DefaultCrop.
3. Defects (``PlantedDefect``), applied only from their ``onset_index`` on:
   ``hot`` adds dark current (strength in e-/s, scaled by the sensor's temperature in that
   shot) x (exposure + the dark charge of the readout), amplified by the ISO gain;
   ``partial`` adds a constant ``strength`` DN whatever the exposure; ``stuck`` reads
   black + strength x (white - black) exactly; ``dead`` reads the black level exactly.
4. Roll plan (``plan_roll``): sessions days apart; day, indoor and night shots with realistic
   ExposureTime/ISO; bursts (sub-second apart) and tripod time-lapses sharing one scene crop
   with only noise and tiny shifts; special frames; portrait shots (Orientation 6 or 8, pixels
   stored landscape).
5. Output (``Camera``): ``render_raw`` (the visible mosaic, what rawpy's ``raw_image_visible``
   returns), ``render_rgb`` (bilinear demosaic, white balance, colour matrix, sRGB, uint8),
   ``write_dng`` (16-bit CFA DNG through tifffile, uncompressed or in lossless-JPEG tiles,
   with an EXIF IFD appended),
   ``write_jpeg`` (Pillow, EXIF with the body serial). One shot's raw is rendered once and
   reused by every writer.

Coordinates: ``x`` to the right, ``y`` down, in the visible raw area, which is also the JPEG's
stored pixel grid (never rotated by Orientation). With DefaultCrop margins LibRaw ignores the
crop, so in rawpy's ``raw_image_visible`` a defect sits at ``(x, y) + Camera.rawpy_origin``.

API:

- ``SensorSpec(width, height, cfa, bits, black, white, full_well, read_noise, base_iso,
  margins, margin_tag, poisson)``; ``.pattern``, ``.gain(iso)``.
- ``PlantedDefect(x, y, kind, strength, onset_index)``, kind in hot/partial/stuck/dead;
  ``.onset_at(shots)``, ``.accepted_kinds`` (the ``DefectKind`` a detector may report).
- ``plant_defects(sensor, counts, late_fraction, seed, *, n_shots, onset_range, spacing,
  edge, strengths) -> list[PlantedDefect]``; ``ground_truth(defects, shots) -> list[dict]``.
- ``ShotSpec(index, taken_at, exposure, iso, scene, orientation, burst, scene_seed, shift,
  brightness, session)``; ``.shot_info(sensor) -> ShotInfo``.
- ``plan_roll(n, seed, *, start, bursts, timelapses, night, specials, portrait, scenes)``.
- ``Camera(sensor, defects, make, model, serial, seed, *, jpeg_quality, subsampling,
  dng_compression)``:
  ``render_raw(shot)`` (visible, read-only uint16), ``render_raw_full(shot)``,
  ``render_rgb(raw, shot)``, ``visibility(shot)``, ``write_dng(shot, path)``,
  ``write_jpeg(shot, path, quality)``, ``body``, ``rawpy_origin``, ``rawpy_visible(shot)``.
- ``write_roll(camera, shots, folder, formats=("jpeg", "dng")) -> list[Path]``.
- ``scene_mosaic(shot, width, height, pattern)``: the noise-free expected signal.

Typical use::

    sensor = SensorSpec(width=640, height=480, cfa="RGGB")
    shots = plan_roll(60, seed=1)
    defects = plant_defects(sensor, {"hot": 4, "stuck": 1, "dead": 1}, late_fraction=0.3,
                            seed=1, n_shots=len(shots))
    cam = Camera(sensor, defects, make="Simulated", model="HW-1", serial="1001", seed=1)
    paths = write_roll(cam, shots, folder)          # IMG_0000.JPG + IMG_0000.DNG, ...
    truth = ground_truth(defects, shots)            # x, y, kind, onset index and datetime
    vis = cam.visibility(shots[10])                 # per defect: excess / local noise (raw)
"""

from __future__ import annotations

import functools
import io
import math
import os
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, TiffImagePlugin

from hotwatch.core.model import BodyId, DefectKind, ShotInfo

__all__ = [
    "CAM_MIX",
    "CFA_PATTERNS",
    "DEFECT_KINDS",
    "NEUTRAL",
    "PHOTO_SCENES",
    "SPECIAL_SCENES",
    "XTRANS",
    "Camera",
    "PlantedDefect",
    "SensorSpec",
    "ShotSpec",
    "ground_truth",
    "plan_roll",
    "plant_defects",
    "scene_mosaic",
    "write_roll",
]

SCENE_DIR = Path(__file__).resolve().parents[1] / "scenes"
PHOTO_SCENES: tuple[str, ...] = tuple(sorted(p.stem for p in SCENE_DIR.glob("*.jpg")))
SPECIAL_SCENES: tuple[str, ...] = ("sky", "lenscap", "blown", "stars", "texture", "glints")

# The Fujifilm X-Trans 6x6 layout (dcraw's xtrans_abs), colour indices 0=R, 1=G, 2=B.
XTRANS = np.array(
    [
        [1, 1, 0, 1, 1, 2],
        [1, 1, 2, 1, 1, 0],
        [2, 0, 1, 0, 2, 1],
        [1, 1, 2, 1, 1, 0],
        [1, 1, 0, 1, 1, 2],
        [0, 2, 1, 2, 0, 1],
    ],
    dtype=np.uint8,
)
CFA_PATTERNS: dict[str, np.ndarray] = {
    "RGGB": np.array([[0, 1], [1, 2]], dtype=np.uint8),
    "BGGR": np.array([[2, 1], [1, 0]], dtype=np.uint8),
    "GRBG": np.array([[1, 0], [2, 1]], dtype=np.uint8),
    "GBRG": np.array([[1, 2], [0, 1]], dtype=np.uint8),
    "XTRANS": XTRANS,
}

# Camera colour: cam = NEUTRAL * (CAM_MIX @ linear_sRGB). Rows sum to 1 so white -> NEUTRAL
# (green clips first, as on real sensors); the overlap is why a camera JPEG must re-saturate.
CAM_MIX = np.array([[0.75, 0.20, 0.05], [0.10, 0.80, 0.10], [0.05, 0.25, 0.70]])
NEUTRAL = np.array([0.50, 1.00, 0.65])
_XYZ_FROM_SRGB = np.array(
    [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]
)
# DNG ColorMatrix1 maps XYZ (D65) to camera native: the same model, spelled the DNG way.
COLOR_MATRIX1 = np.diag(NEUTRAL) @ CAM_MIX @ np.linalg.inv(_XYZ_FROM_SRGB)
# White-balanced camera RGB -> linear sRGB for the JPEG engine (re-saturates the overlap).
_SRGB_FROM_WB = np.linalg.inv(CAM_MIX)

DEFECT_KINDS: tuple[str, ...] = ("hot", "partial", "stuck", "dead")
DNG_COMPRESSIONS: tuple[str, ...] = ("none", "ljpeg")
# What a detector must call each planted kind. A partially stuck photosite is a constant bright
# offset on top of the scene: it does not read one value whatever the scene, so it is hot
# (a bright excess, possibly constant), never stuck.
ACCEPTED_KINDS: dict[str, tuple[DefectKind, ...]] = {
    "hot": (DefectKind.HOT,),
    "partial": (DefectKind.HOT,),
    "stuck": (DefectKind.STUCK,),
    "dead": (DefectKind.DEAD,),
}


# --------------------------------------------------------------------------------------------
# Sensor
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SensorSpec:
    """Geometry, colour filter and noise of a sensor.

    ``margins`` = (left, top, right, bottom) photosites of optical-black border around the
    visible area; they must be multiples of the CFA period so the visible area starts on the
    pattern's origin. ``margin_tag`` says how the DNG describes them: ``"activearea"`` (DNG
    ActiveArea) or ``"defaultcrop"`` (DefaultCropOrigin/Size); darktable maps coordinates
    through the uncropped buffer in both cases.
    """

    width: int = 320
    height: int = 240
    cfa: str = "RGGB"
    bits: int = 14
    black: int | None = None  # default 512 (14-bit) / 128 (12-bit)
    white: int | None = None  # default 2**bits - 1
    full_well: float = 30000.0  # electrons that reach the white level at base ISO
    read_noise: float = 3.0  # electrons rms
    base_iso: float = 100.0
    margins: tuple[int, int, int, int] = (0, 0, 0, 0)
    margin_tag: str = "activearea"
    poisson: bool = False  # exact Poisson shot noise (slower) instead of its Gaussian form
    #: seconds of dark charge a photosite collects besides the exposure (while the sensor is
    #: read out): a real CCD (Canon PowerShot S40) showed 0.06-0.37 s, which makes strong
    #: hot pixels stand out even in 1/100 s daylight frames
    readout_dark: float = 0.1

    def __post_init__(self) -> None:
        if self.cfa not in CFA_PATTERNS:
            raise ValueError(f"cfa must be one of {sorted(CFA_PATTERNS)}, got {self.cfa!r}")
        if self.bits not in (12, 14, 16):
            raise ValueError(f"bits must be 12, 14 or 16, got {self.bits}")
        if self.width < 8 or self.height < 8:
            raise ValueError(f"sensor too small: {self.width}x{self.height}")
        n = self.period
        if any(m < 0 or m % n for m in self.margins):
            raise ValueError(f"margins must be non-negative multiples of {n}: {self.margins}")
        if self.margin_tag not in ("activearea", "defaultcrop"):
            raise ValueError(f"margin_tag must be 'activearea' or 'defaultcrop': {self.margin_tag}")
        if not 0 <= self.black_level < self.white_level < 2**self.bits:
            raise ValueError("need 0 <= black < white < 2**bits")

    @property
    def pattern(self) -> np.ndarray:
        """(n, n) colour indices 0=R, 1=G, 2=B; ``pattern[y % n, x % n]`` in visible coords."""
        return CFA_PATTERNS[self.cfa]

    @property
    def period(self) -> int:
        return int(self.pattern.shape[0])

    @property
    def black_level(self) -> int:
        if self.black is not None:
            return int(self.black)
        return {12: 128, 14: 512, 16: 2048}[self.bits]

    @property
    def white_level(self) -> int:
        return int(self.white) if self.white is not None else 2**self.bits - 1

    @property
    def raw_width(self) -> int:
        return self.width + self.margins[0] + self.margins[2]

    @property
    def raw_height(self) -> int:
        return self.height + self.margins[1] + self.margins[3]

    def gain(self, iso: float) -> float:
        """DN per electron at this ISO: the full range maps to fewer electrons as ISO rises."""
        return (self.white_level - self.black_level) / self.full_well * iso / self.base_iso

    def electrons_at_white(self, iso: float) -> float:
        return self.full_well * self.base_iso / iso

    def dark_seconds(self, shot: ShotSpec) -> float:
        """How long a hot photosite's dark current acts in this shot, scaled by the
        sensor's temperature then (``shot.dark_scale``)."""
        return (shot.exposure + self.readout_dark) * shot.dark_scale


@dataclass(frozen=True)
class PlantedDefect:
    """One defective photosite, (x, y) in visible-raw = stored JPEG coordinates.

    ``strength`` units by kind: hot = dark current in e-/s; partial = DN added; stuck = level
    read as a fraction of (white - black) (0.5 mid, 1.0 high); dead = unused.
    """

    x: int
    y: int
    kind: str
    strength: float
    onset_index: int = 0
    #: what makes it hard to find, for benchmarks that report by category ("border",
    #: "pair", "weak", "emerging", ...); empty for an ordinary defect
    category: str = ""

    def __post_init__(self) -> None:
        if self.kind not in DEFECT_KINDS:
            raise ValueError(f"kind must be one of {DEFECT_KINDS}, got {self.kind!r}")

    def active(self, index: int) -> bool:
        return index >= self.onset_index

    @property
    def accepted_kinds(self) -> tuple[DefectKind, ...]:
        """The ``DefectKind`` values a detector may report for it."""
        return ACCEPTED_KINDS[self.kind]

    def onset_at(self, shots: Sequence[ShotSpec]) -> datetime | None:
        """Capture time of the shot where it first appears (None if after the roll)."""
        for s in shots:
            if s.index >= self.onset_index:
                return s.taken_at
        return None


@dataclass(frozen=True)
class ShotSpec:
    """One exposure of the roll.

    ``burst`` is the id of the burst or tripod run the shot belongs to (None for a single
    shot); shots of one run share ``scene`` and ``scene_seed`` (same crop) and differ only by
    noise, ``shift`` (pixels) and a little ``brightness``. ``brightness`` is the fraction of
    the white level a scene value of 1.0 reaches (about 1 for a normal exposure, lower for
    night shots, much higher for blown ones). ``session`` is day, indoor or night.
    """

    index: int
    taken_at: datetime
    exposure: float
    iso: int
    scene: str
    orientation: int = 1
    burst: int | None = None
    scene_seed: int = 0
    shift: tuple[float, float] = (0.0, 0.0)
    brightness: float = 1.0
    session: str = "day"
    #: dark current relative to its nominal rate: the sensor's temperature (it doubles every
    #: 6-8 degrees: sessions differ, and a sensor warms up as it shoots)
    dark_scale: float = 1.0

    @property
    def exposure_index(self) -> float:
        return self.exposure * self.iso

    def shot_info(self, sensor: SensorSpec | None = None) -> ShotInfo:
        """The EXIF facts a reader should recover from this shot's files."""
        return ShotInfo(
            taken_at=self.taken_at,
            exposure=self.exposure,
            iso=float(self.iso),
            orientation=self.orientation,
            width=sensor.width if sensor else None,
            height=sensor.height if sensor else None,
        )


# --------------------------------------------------------------------------------------------
# Defects
# --------------------------------------------------------------------------------------------

_DEFAULT_STRENGTHS: dict[str, tuple[float, float]] = {
    "hot": (10.0, 10000.0),  # e-/s, log-uniform: from night-only to visible in daylight
    "partial": (0.01, 0.10),  # fraction of (white - black), log-uniform, stored as DN
    "stuck": (0.5, 1.0),  # one of the two ends: mid or high
    "dead": (0.0, 0.0),
}


def plant_defects(
    sensor: SensorSpec,
    counts: dict[str, int],
    late_fraction: float = 0.0,
    seed: int = 0,
    *,
    n_shots: int = 100,
    onset_range: tuple[float, float] = (0.5, 0.8),
    spacing: int = 8,
    edge: int = 4,
    strengths: dict[str, tuple[float, float]] | None = None,
    avoid: Sequence[tuple[int, int]] = (),
) -> list[PlantedDefect]:
    """Plant ``counts[kind]`` defects at random positions at least ``spacing`` px apart.

    A ``late_fraction`` of them (rounded, over all kinds) appear part-way, at an onset index
    drawn in ``onset_range`` x ``n_shots``; the rest are present from shot 0. Positions keep
    ``edge`` px from the frame border (0: anywhere, the outermost rows included) and
    ``spacing`` px from every position in ``avoid`` (defects planted otherwise).
    """
    unknown = set(counts) - set(DEFECT_KINDS)
    if unknown:
        raise ValueError(f"unknown defect kinds: {sorted(unknown)}")
    if not 0.0 <= late_fraction <= 1.0:
        raise ValueError(f"late_fraction must be in [0, 1], got {late_fraction}")
    rng = np.random.default_rng([seed, 0xDEFEC7])
    ranges = {**_DEFAULT_STRENGTHS, **(strengths or {})}
    kinds = [k for k in DEFECT_KINDS for _ in range(int(counts.get(k, 0)))]
    positions = _spaced_positions(
        rng, len(kinds), sensor.width, sensor.height, spacing, edge, avoid
    )
    n_late = round(len(kinds) * late_fraction)
    late = set(rng.choice(len(kinds), size=n_late, replace=False).tolist()) if n_late else set()
    lo = max(1, int(onset_range[0] * n_shots))
    hi = max(lo + 1, int(onset_range[1] * n_shots))
    out = []
    for i, (kind, (x, y)) in enumerate(zip(kinds, positions, strict=True)):
        onset = int(rng.integers(lo, hi)) if i in late else 0
        out.append(PlantedDefect(int(x), int(y), kind, _strength(rng, kind, ranges, sensor), onset))
    return out


def _strength(
    rng: np.random.Generator, kind: str, ranges: dict[str, tuple[float, float]], s: SensorSpec
) -> float:
    lo, hi = ranges[kind]
    if kind == "stuck":
        return float(rng.choice([lo, hi]))
    if kind == "dead":
        return 0.0
    value = float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if lo > 0 else float(hi)
    if kind == "partial":
        return round(value * (s.white_level - s.black_level), 1)
    return round(value, 2)


def _spaced_positions(
    rng: np.random.Generator,
    n: int,
    width: int,
    height: int,
    spacing: int,
    edge: int,
    avoid: Sequence[tuple[int, int]] = (),
) -> list[tuple[int, int]]:
    """Rejection sampling on a grid hash: O(n) and plenty for the few hundred defects used."""
    if n == 0:
        return []
    if width - 2 * edge <= 0 or height - 2 * edge <= 0:
        raise ValueError("frame too small for the edge margin")
    taken: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for x, y in avoid:
        taken.setdefault((x // spacing, y // spacing), []).append((x, y))
    out: list[tuple[int, int]] = []
    for _ in range(200):
        xs = rng.integers(edge, width - edge, size=4 * n + 16)
        ys = rng.integers(edge, height - edge, size=4 * n + 16)
        for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
            cx, cy = x // spacing, y // spacing
            near = (
                p
                for gx in (cx - 1, cx, cx + 1)
                for gy in (cy - 1, cy, cy + 1)
                for p in taken.get((gx, gy), ())
            )
            if any(max(abs(px - x), abs(py - y)) < spacing for px, py in near):
                continue
            taken.setdefault((cx, cy), []).append((x, y))
            out.append((x, y))
            if len(out) == n:
                return out
    raise ValueError(f"cannot place {n} defects {spacing} px apart in {width}x{height}")


#: Neighbouring defects planted by :func:`plant_hard_cases`: (dx, dy) from the first to the
#: second, their kinds, and whether the second appears later. On a Bayer sensor one step
#: apart is always another colour (a diagonal step on a green site: the other green), two
#: steps in a line the same colour, a knight's move another colour.
PAIRS: tuple[tuple[int, int, str, str, bool], ...] = (
    (1, 0, "hot", "hot", False),
    (1, 0, "hot", "dead", False),  # a hot photosite directly beside a dead one
    (0, 1, "stuck", "hot", True),
    (1, 1, "hot", "hot", True),  # diagonal: the two greens when planted on a green site
    (2, 0, "hot", "dead", False),  # two steps: same colour, each in the other's neighbourhood
    (2, 0, "hot", "hot", True),
    (0, 2, "partial", "hot", False),
    (2, 1, "stuck", "dead", False),
)
_WEAK_HOT = (30.0, 150.0)  #: e-/s: shows only in long night exposures
_STRONG_HOT = (400.0, 5000.0)
_BORDER_KINDS = ("hot", "stuck", "dead", "partial", "hot", "dead", "partial", "hot", "stuck", "hot")


def plant_hard_cases(
    sensor: SensorSpec,
    seed: int = 0,
    *,
    n_shots: int = 100,
    onset_range: tuple[float, float] = (0.3, 0.7),
    spacing: int = 12,
    plain: int = 4,
) -> list[PlantedDefect]:
    """The defects that real sensors have and simple detectors miss, one category each.

    * ``border``: on the frame's first and last two rows and columns, and in two corners;
    * ``pair``: the :data:`PAIRS`, one and two photosites apart, of the same and of
      different colours, with the same and with different onsets;
    * ``weak``: hot photosites that stand out only in long night exposures (RAW finds them);
    * ``emerging``: hot, stuck, dead and partially stuck photosites appearing part-way;
    * ``hot``, ``partial``, ``stuck``, ``dead``: ``plain`` ordinary ones of each kind.

    Every group keeps ``spacing`` px from every other; late onsets fall in ``onset_range``
    x ``n_shots``.
    """
    rng = np.random.default_rng([seed, 0x4A2D])
    w, h = sensor.width, sensor.height
    lo, hi = max(1, int(onset_range[0] * n_shots)), max(2, int(onset_range[1] * n_shots))
    out: list[PlantedDefect] = []

    def add(x: int, y: int, kind: str, category: str, late: bool = False, **k: float) -> None:
        strength = _hard_strength(rng, kind, sensor, **k)
        onset = int(rng.integers(lo, hi)) if late else 0
        out.append(PlantedDefect(int(x), int(y), kind, strength, onset, category))

    # along each side, away from the corners (planted there too) and from each other
    along_x = [x + spacing for x, _ in _spaced_positions(rng, 4, w - 2 * spacing, 1, spacing, 0)]
    along_y = [y + spacing for _, y in _spaced_positions(rng, 4, 1, h - 2 * spacing, spacing, 0)]
    sides = [(0, along_y[0]), (1, along_y[1]), (w - 1, along_y[2]), (w - 2, along_y[3])]
    sides += [(along_x[0], 0), (along_x[1], 1), (along_x[2], h - 1), (along_x[3], h - 2)]
    sides += [(0, 0), (w - 1, h - 1)]
    for (x, y), kind in zip(sides, _BORDER_KINDS, strict=True):
        add(x, y, kind, "border")
    anchors = _spaced_positions(rng, len(PAIRS), w, h, spacing, spacing, _xy(out))
    for (x, y), (dx, dy, first, second, later) in zip(anchors, PAIRS, strict=True):
        if dx and dy and sensor.period == 2 and (x + y) % 2 == 0:
            x += 1  # the diagonal pair on a green site: the two greens
        add(x, y, first, "pair")
        add(x + dx, y + dy, second, "pair", later)
    for x, y in _spaced_positions(rng, 4, w, h, spacing, spacing, _xy(out)):
        add(x, y, "hot", "weak", rate=_WEAK_HOT)
    late_kinds = ("hot", "stuck", "dead", "partial", "hot", "hot")
    for (x, y), kind in zip(
        _spaced_positions(rng, len(late_kinds), w, h, spacing, spacing, _xy(out)),
        late_kinds,
        strict=True,
    ):
        add(x, y, kind, "emerging", True)
    for kind in ("hot", "partial", "stuck", "dead"):
        for x, y in _spaced_positions(rng, plain, w, h, spacing, spacing, _xy(out)):
            add(x, y, kind, kind)
    return out


def _xy(defects: Iterable[PlantedDefect]) -> list[tuple[int, int]]:
    return [(d.x, d.y) for d in defects]


def _hard_strength(
    rng: np.random.Generator,
    kind: str,
    s: SensorSpec,
    rate: tuple[float, float] = _STRONG_HOT,
) -> float:
    if kind == "hot":
        return _strength(rng, kind, {"hot": rate}, s)
    return _strength(rng, kind, _DEFAULT_STRENGTHS, s)


def ground_truth(defects: Iterable[PlantedDefect], shots: Sequence[ShotSpec]) -> list[dict]:
    """JSON-friendly truth: x, y, kind, accepted DefectKinds, strength, onset index and time,
    and the category a benchmark reports it under (its kind when it has none)."""
    out = []
    for d in defects:
        onset = d.onset_at(shots)
        out.append(
            {
                "x": d.x,
                "y": d.y,
                "kind": d.kind,
                "accepted_kinds": [k.value for k in d.accepted_kinds],
                "strength": d.strength,
                "onset_index": d.onset_index,
                "onset": onset.isoformat() if onset else None,
                "category": d.category or d.kind,
            }
        )
    return out


# --------------------------------------------------------------------------------------------
# Roll plan
# --------------------------------------------------------------------------------------------

_DAY_EXPOSURES = (1 / 1000, 1 / 800, 1 / 640, 1 / 500, 1 / 400, 1 / 320, 1 / 250, 1 / 200)
_DAY_EXPOSURES += (1 / 160, 1 / 125, 1 / 100, 1 / 80, 1 / 60)
_DAY_ISOS = (100, 125, 160, 200, 250, 320, 400)
_INDOOR_EXPOSURES = (1 / 125, 1 / 100, 1 / 80, 1 / 60, 1 / 50, 1 / 40, 1 / 30, 1 / 25, 1 / 20)
_INDOOR_EXPOSURES += (1 / 15,)
_INDOOR_ISOS = (800, 1000, 1250, 1600, 2000, 2500, 3200)
_NIGHT_EXPOSURES = (1.0, 1.3, 1.6, 2.0, 2.5, 3.2, 4.0, 5.0, 6.0, 8.0, 10.0, 13.0, 15.0, 20.0)
_NIGHT_EXPOSURES += (25.0, 30.0)
_NIGHT_ISOS = (800, 1000, 1250, 1600, 2000, 2500, 3200, 4000, 5000, 6400)
_DEFAULT_START = datetime(2024, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=1)))


def plan_roll(
    n: int,
    seed: int = 0,
    *,
    start: datetime = _DEFAULT_START,
    bursts: bool = True,
    timelapses: bool = True,
    night: bool = True,
    specials: bool = True,
    portrait: bool = True,
    scenes: Sequence[str] | None = None,
) -> list[ShotSpec]:
    """A realistic sequence of ``n`` shots, in capture order with increasing times.

    Sessions are days apart (day, indoor or night); inside a session shots are seconds to
    minutes apart, bursts 0.1-0.3 s apart, tripod time-lapses 5-50 frames of one scene. With
    every switch off, the roll is ``n`` single daylight photo shots (the simple test case).
    ``scenes`` restricts the photos used (default: all bundled ones).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    photos = tuple(scenes) if scenes else PHOTO_SCENES
    for s in photos:
        if s not in PHOTO_SCENES and s not in SPECIAL_SCENES:
            raise ValueError(f"unknown scene {s!r}")
    rng = np.random.default_rng([seed, 0x5071])
    plan = _Planner(rng, photos, bursts, timelapses, night, specials, portrait)
    warmth = np.random.default_rng([seed, 0x7E4])  # apart: the plan stays as it was
    shots: list[ShotSpec] = []
    t = start
    while len(shots) < n:
        session = plan.session_kind(shots)
        t = plan.session_start(t, session, first=not shots)
        length = min(n - len(shots), int(rng.integers(4, 30)))
        first = len(shots)
        t = plan.session(shots, t, session, length, n)
        _warm_up(shots, first, float(warmth.uniform(0.5, 1.5)))
    return shots


def _warm_up(shots: list[ShotSpec], first: int, start: float) -> None:
    """The sensor's temperature over one session, as the dark current's scale: ``start``
    (days differ by a factor of two or so), rising 1% a shot up to 40% (measured on a
    real CCD: +34-43% over a couple of minutes of shooting)."""
    for k in range(first, len(shots)):
        rise = min(0.4, 0.01 * (k - first))
        shots[k] = replace(shots[k], dark_scale=round(start * (1.0 + rise), 4))


@dataclass
class _Planner:
    rng: np.random.Generator
    photos: tuple[str, ...]
    bursts: bool
    timelapses: bool
    night: bool
    specials: bool
    portrait: bool
    next_run: int = field(default=0)

    def session_kind(self, shots: list[ShotSpec]) -> str:
        """Night sessions steer the roll towards 10-20% night frames, as real rolls have."""
        r = self.rng.random()
        if self.night:
            share = sum(s.session == "night" for s in shots) / max(1, len(shots))
            p_night = 0.5 if share < 0.10 else 0.0 if share > 0.18 else 0.12
            if r < p_night:
                return "night"
        return "indoor" if self.rng.random() < 0.2 else "day"

    def session_start(self, t: datetime, session: str, first: bool) -> datetime:
        days = 0 if first else int(self.rng.integers(1, 12))
        hour = {"day": (8, 16), "indoor": (17, 21), "night": (20, 23)}[session]
        day = (t + timedelta(days=days)).replace(
            hour=int(self.rng.integers(*hour)),
            minute=int(self.rng.integers(0, 60)),
            second=int(self.rng.integers(0, 60)),
            microsecond=0,
        )
        return max(day, t + timedelta(hours=1))

    def exposure(self, session: str) -> tuple[float, int, float]:
        """(seconds, ISO, brightness) for one shot of this session."""
        table = {
            "day": (_DAY_EXPOSURES, _DAY_ISOS, (0.8, 1.2)),
            "indoor": (_INDOOR_EXPOSURES, _INDOOR_ISOS, (0.6, 1.0)),
            "night": (_NIGHT_EXPOSURES, _NIGHT_ISOS, (0.12, 0.5)),
        }
        exposures, isos, (blo, bhi) = table[session]
        return (
            float(self.rng.choice(exposures)),
            int(self.rng.choice(isos)),
            float(self.rng.uniform(blo, bhi)),
        )

    def scene(self, session: str) -> str:
        r = self.rng.random()
        if self.specials:
            if session == "night":
                if r < 0.45:
                    return "stars"
                if r < 0.65:
                    return "glints"
            else:
                for name, p in (("sky", 0.10), ("texture", 0.16), ("glints", 0.21)):
                    if r < p and (name != "sky" or session == "day"):
                        return name
        return str(self.rng.choice(self.photos))

    def orientation(self) -> int:
        if self.portrait and self.rng.random() < 0.15:
            return int(self.rng.choice([6, 8]))
        return 1

    def session(
        self, shots: list[ShotSpec], t: datetime, session: str, length: int, total: int
    ) -> datetime:
        """``length`` shots, or more when a time-lapse runs on (never past ``total``)."""
        end = len(shots) + length
        while len(shots) < end:
            left = end - len(shots)
            r = self.rng.random()
            if self.timelapses and r < 0.012 and total - len(shots) >= 5:
                count = min(total - len(shots), int(self.rng.integers(5, 51)))
                t = self._run(shots, t, session, count, True)
            elif self.bursts and session != "night" and r < 0.07 and left >= 3:
                t = self._run(shots, t, session, min(left, int(self.rng.integers(3, 11))), False)
            else:
                t = self._single(shots, t, session)
            t += timedelta(seconds=float(self.rng.uniform(5, 600)))
        return t

    def _single(self, shots: list[ShotSpec], t: datetime, session: str) -> datetime:
        exposure, iso, brightness = self.exposure(session)
        scene = self.scene(session)
        orientation = self.orientation()
        if self.specials:
            r = self.rng.random()
            if r < 0.025:  # lens cap left on: auto exposure opens up as far as it can
                scene, exposure, iso = "lenscap", 1 / 30, 6400
                brightness, orientation = 1.0, 1
            elif r < 0.05:
                scene, brightness = "blown", float(self.rng.uniform(4.0, 12.0))
        shots.append(
            ShotSpec(
                index=len(shots),
                taken_at=t,
                exposure=exposure,
                iso=iso,
                scene=scene,
                orientation=orientation,
                scene_seed=int(self.rng.integers(2**31)),
                brightness=brightness,
                session=session,
            )
        )
        return t + timedelta(seconds=exposure)

    def _run(
        self, shots: list[ShotSpec], t: datetime, session: str, count: int, tripod: bool
    ) -> datetime:
        """A burst (hand-held, 0.1-0.3 s apart) or a tripod time-lapse of one scene."""
        run = self.next_run
        self.next_run += 1
        exposure, iso, brightness = self.exposure(session)
        scene = self.scene(session) if tripod else str(self.rng.choice(self.photos))
        scene_seed = int(self.rng.integers(2**31))
        orientation = 1 if tripod else self.orientation()
        interval = exposure + (self.rng.uniform(2, 30) if tripod else self.rng.uniform(0.1, 0.3))
        jitter = 0.05 if tripod else 0.4
        for _ in range(count):
            shift = tuple(float(v) for v in self.rng.normal(0, jitter, 2))
            drift = 1.0 + float(self.rng.normal(0, 0.01))
            shots.append(
                ShotSpec(
                    index=len(shots),
                    taken_at=t,
                    exposure=exposure,
                    iso=iso,
                    scene=scene,
                    orientation=orientation,
                    burst=run,
                    scene_seed=scene_seed,
                    shift=(shift[0], shift[1]),
                    brightness=brightness * drift,
                    session=session,
                )
            )
            t += timedelta(seconds=float(interval))
        return t


# --------------------------------------------------------------------------------------------
# Scenes: expected signal per photosite, in scene units (1.0 = white at brightness 1)
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _photo_camera_rgb(name: str) -> np.ndarray:
    """A bundled photo in linear light, converted to camera native colour, (H, W, 3) float32."""
    path = SCENE_DIR / f"{name}.jpg"
    if not path.exists():
        raise ValueError(f"unknown scene {name!r}; photos: {PHOTO_SCENES}")
    with Image.open(path) as im:
        srgb = np.asarray(im.convert("RGB"))
    lut = _srgb_to_linear_lut()
    lin = lut[srgb]
    cam = lin @ (np.diag(NEUTRAL) @ CAM_MIX).T.astype(np.float32)
    cam.setflags(write=False)
    return cam


@functools.lru_cache(maxsize=1)
def _srgb_to_linear_lut() -> np.ndarray:
    v = np.arange(256, dtype=np.float64) / 255.0
    lin = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    return lin.astype(np.float32)


@functools.lru_cache(maxsize=1)
def _linear_to_srgb_lut() -> np.ndarray:
    """4096-entry LUT: linear [0, 1] -> sRGB uint8; fast and accurate enough for a JPEG."""
    v = np.arange(4096, dtype=np.float64) / 4095.0
    s = np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)
    return np.clip(np.round(s * 255.0), 0, 255).astype(np.uint8)


def _camera_colour(rgb_linear: np.ndarray) -> np.ndarray:
    """Linear sRGB (..., 3) -> camera native, as the photos are converted."""
    return rgb_linear @ (np.diag(NEUTRAL) @ CAM_MIX).T


def _base_image(shot: ShotSpec, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """The shot's scene at the photo's own resolution, cropped to the frame's aspect ratio.

    Returns (h, w, 3) float32 camera colour, already flipped and rotated for portrait shots so
    that resampling to (height, width) gives the stored landscape frame.
    """
    scene = shot.scene
    # special scenes are built on a daylight photo; the deep-field one is too dark for that
    daylight = [p for p in PHOTO_SCENES if p != "hubble_deep_field"] or list(PHOTO_SCENES)
    photo_name = scene if scene in PHOTO_SCENES else str(rng.choice(daylight))
    src = _photo_camera_rgb(photo_name)
    portrait = shot.orientation in (5, 6, 7, 8)
    aspect = (height / width) if not portrait else (width / height)  # crop h / crop w
    sh, sw = src.shape[:2]
    cw = min(float(sw), sh / aspect)
    cw *= rng.uniform(0.55, 1.0)
    ch = cw * aspect
    x0 = int(rng.uniform(0, sw - cw + 1e-9))
    y0 = int(rng.uniform(0, sh - ch + 1e-9))
    crop = src[y0 : y0 + max(2, round(ch)), x0 : x0 + max(2, round(cw))]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    if portrait:
        crop = np.rot90(crop, 1 if shot.orientation in (6, 7) else -1)
    base = np.array(crop, dtype=np.float32)
    if scene == "sky":
        base = _add_sky(base, rng)
    elif scene == "blown":
        base = base * 1.5 + 0.3
    elif scene == "stars":
        base = _night_sky(base, rng)
    elif scene == "lenscap":
        base = np.zeros_like(base)
    elif scene == "glints":
        base = base * 0.6
    return base


def _add_sky(base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Replace the top 30-65% with a clipped bright sky over an irregular horizon."""
    h, w = base.shape[:2]
    yy = np.arange(h, dtype=np.float32)[:, None] / h
    xx = np.arange(w, dtype=np.float32)[None, :] / w
    level = rng.uniform(0.3, 0.65)
    horizon = level + 0.05 * np.sin(2 * np.pi * (xx * rng.uniform(1, 4) + rng.random()))
    sky = np.clip((horizon - yy) / 0.04, 0.0, 1.0)[..., None]
    glow = _camera_colour(np.array([1.0, 1.0, 1.05])).astype(np.float32)
    value = (1.6 + 1.5 * (1.0 - yy))[..., None] * glow  # >1 everywhere: clips after WB
    return (base * (1 - sky) + value * sky).astype(np.float32)


def _night_sky(base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A dark gradient sky with a black foreground silhouette from the photo's lower part."""
    h = base.shape[0]
    yy = np.arange(h, dtype=np.float32)[:, None, None] / h
    sky = (0.01 + 0.03 * yy) * _camera_colour(np.array([0.8, 0.9, 1.2])).astype(np.float32)
    ground = base * 0.01
    fg = (yy > rng.uniform(0.75, 0.95)).astype(np.float32)
    return (sky * (1 - fg) + ground * fg).astype(np.float32)


def _resample_to_mosaic(
    base: np.ndarray, pattern: np.ndarray, width: int, height: int, shift: tuple[float, float]
) -> np.ndarray:
    """Resample a (h, w, 3) image onto each CFA sub-lattice of a (height, width) mosaic.

    Each sub-lattice (offset oy, ox, step n) needs one colour only, so Pillow resizes that one
    plane straight to the sub-lattice's grid with the right sub-pixel box: total work is one
    value per photosite, not three.
    """
    bh, bw = base.shape[:2]
    n = pattern.shape[0]
    sx, sy = bw / width, bh / height  # source px per frame px
    dx, dy = shift[0] * sx, shift[1] * sy
    pad = math.ceil(max(n * max(sx, sy), 1.0)) + 2
    yi = np.clip(np.arange(-pad, bh + pad), 0, bh - 1)
    xi = np.clip(np.arange(-pad, bw + pad), 0, bw - 1)
    padded = base[yi][:, xi]
    planes = [Image.fromarray(np.ascontiguousarray(padded[..., c])) for c in range(3)]
    out = np.empty((height, width), dtype=np.float32)
    for oy in range(n):
        oh = len(range(oy, height, n))
        by0 = pad + dy + (oy + 0.5 - 0.5 * n) * sy
        for ox in range(n):
            ow = len(range(ox, width, n))
            bx0 = pad + dx + (ox + 0.5 - 0.5 * n) * sx
            box = (bx0, by0, bx0 + n * sx * ow, by0 + n * sy * oh)
            img = planes[int(pattern[oy, ox])].resize((ow, oh), Image.Resampling.BILINEAR, box)
            out[oy::n, ox::n] = np.asarray(img)
    return out


def _point_sources(
    mosaic: np.ndarray,
    pattern: np.ndarray,
    rng: np.random.Generator,
    count: int,
    flux: tuple[float, float],
    single_fraction: float,
    tint_spread: float,
) -> None:
    """Add stars or specular glints in place: single-photosite points and small 3x3 PSFs."""
    h, w = mosaic.shape
    n = pattern.shape[0]
    if count <= 0:
        return
    xs = rng.integers(1, w - 1, size=count)
    ys = rng.integers(1, h - 1, size=count)
    amp = np.exp(rng.uniform(np.log(flux[0]), np.log(flux[1]), size=count)).astype(np.float32)
    tint = np.clip(1.0 + rng.normal(0, tint_spread, size=(count, 3)), 0.3, 2.0)
    cam = _camera_colour(tint).astype(np.float32) * amp[:, None]
    single = rng.random(count) < single_fraction
    # single-photosite points: the whole flux on one site of its own colour
    sx, sy = xs[single], ys[single]
    ci = pattern[sy % n, sx % n]
    np.add.at(mosaic, (sy, sx), cam[single, ci])
    # PSF points: a 3x3 Gaussian with sigma ~0.7 px, each site taking its own colour
    k1 = np.array([0.25, 1.0, 0.25], dtype=np.float32)
    kern = np.outer(k1, k1) / np.outer(k1, k1).sum()
    px, py, pc = xs[~single], ys[~single], cam[~single]
    for ky in (-1, 0, 1):
        for kx in (-1, 0, 1):
            yy, xx = py + ky, px + kx
            c = pattern[yy % n, xx % n]
            np.add.at(mosaic, (yy, xx), pc[np.arange(len(px)), c] * kern[ky + 1, kx + 1])


def _texture(mosaic: np.ndarray, rng: np.random.Generator) -> None:
    """Multiply in place by fine fabric-like detail: gratings near Nyquist plus pixel noise."""
    h, w = mosaic.shape
    y = np.arange(h, dtype=np.float32)[:, None]
    x = np.arange(w, dtype=np.float32)[None, :]
    t = np.zeros((h, w), dtype=np.float32)
    for _ in range(2):
        period = rng.uniform(2.2, 4.0)
        angle = rng.uniform(0, np.pi)
        k = np.float32(2 * np.pi / period)
        t += np.sin(k * np.float32(np.cos(angle)) * x + k * np.float32(np.sin(angle)) * y)
    t *= np.float32(0.25)
    t += rng.uniform(-0.3, 0.3, size=(h, w)).astype(np.float32)
    t += np.float32(1.0)
    np.clip(t, 0.05, None, out=t)
    mosaic *= t


def scene_mosaic(shot: ShotSpec, width: int, height: int, pattern: np.ndarray) -> np.ndarray:
    """Expected (noise-free) signal of every photosite, scene units, (height, width) float32.

    Deterministic in ``shot.scene_seed``: shots of a burst share the crop and the point sources
    and differ only by ``shot.shift``.
    """
    if shot.scene not in PHOTO_SCENES and shot.scene not in SPECIAL_SCENES:
        raise ValueError(f"unknown scene {shot.scene!r}")
    rng = np.random.default_rng([shot.scene_seed, 0x5CE4E])
    base = _base_image(shot, width, height, rng)
    if shot.scene == "lenscap":
        return np.zeros((height, width), dtype=np.float32)
    mosaic = _resample_to_mosaic(base, pattern, width, height, shot.shift)
    area = width * height
    if shot.scene == "stars":
        count = max(20, area // 300)
        _point_sources(mosaic, pattern, rng, count, (0.02, 4.0), 0.4, 0.15)
    elif shot.scene == "glints":
        count = max(10, area // 2500)
        _point_sources(mosaic, pattern, rng, count, (1.0, 30.0), 0.3, 0.05)
    elif shot.scene == "texture":
        _texture(mosaic, rng)
    return mosaic


# --------------------------------------------------------------------------------------------
# The camera
# --------------------------------------------------------------------------------------------


class Camera:
    """A camera body: a sensor with planted defects, a name, and a JPEG engine.

    Two bodies of one model differ by ``serial``; ``serial=None`` writes no serial at all.
    ``dng_shot_tags="ifd0"`` writes DNGs as pidng (Raspberry Pi camera software) does: the
    capture time, exposure and ISO in IFD0, and no EXIF IFD.
    ``seed`` drives the noise; shot ``i`` always gets the same noise, whatever order shots are
    rendered in.
    """

    def __init__(
        self,
        sensor: SensorSpec,
        defects: Sequence[PlantedDefect] = (),
        make: str = "Simulated",
        model: str = "HW-1",
        serial: str | None = "1000001",
        seed: int = 0,
        *,
        jpeg_quality: int = 92,
        subsampling: str = "4:2:2",
        dng_compression: str = "none",
        dng_shot_tags: str = "exif",
    ) -> None:
        for d in defects:
            if not (0 <= d.x < sensor.width and 0 <= d.y < sensor.height):
                raise ValueError(f"defect outside the {sensor.width}x{sensor.height} frame: {d}")
        if dng_compression not in DNG_COMPRESSIONS:
            raise ValueError(f"dng_compression must be one of {DNG_COMPRESSIONS}")
        if dng_shot_tags not in ("exif", "ifd0"):
            raise ValueError(f"dng_shot_tags must be 'exif' or 'ifd0': {dng_shot_tags!r}")
        if subsampling not in ("4:4:4", "4:2:2", "4:2:0"):
            raise ValueError(f"subsampling must be 4:4:4, 4:2:2 or 4:2:0: {subsampling!r}")
        self.sensor = sensor
        self.defects = tuple(defects)
        self.make = make
        self.model = model
        self.serial = serial
        self.seed = seed
        self.jpeg_quality = jpeg_quality
        self.subsampling = subsampling
        self.dng_compression = dng_compression
        self.dng_shot_tags = dng_shot_tags
        self._scene_cache: tuple[ShotSpec, np.ndarray] | None = None
        self._raw_cache: tuple[ShotSpec, np.ndarray] | None = None
        self._defect_xy = (
            np.array([d.y for d in self.defects], dtype=np.intp),
            np.array([d.x for d in self.defects], dtype=np.intp),
        )

    @property
    def body(self) -> BodyId:
        return BodyId(self.make, self.model, self.serial)

    @property
    def rawpy_origin(self) -> tuple[int, int]:
        """(x, y) of the visible area's top-left in rawpy's ``raw_image_visible``.

        (0, 0) without margins or with ActiveArea. With DefaultCrop, LibRaw 0.22 ignores the
        crop: rawpy's visible image is the whole buffer, so truth (x, y) is at
        (x + left, y + top) there, while the JPEG and darktable's output are cropped.
        """
        s = self.sensor
        if s.margin_tag == "defaultcrop":
            return s.margins[0], s.margins[1]
        return 0, 0

    def rawpy_visible(self, shot: ShotSpec) -> np.ndarray:
        """What rawpy's ``raw_image_visible`` returns for this shot's DNG."""
        if self.sensor.margin_tag == "defaultcrop":
            return self.render_raw_full(shot)
        return self.render_raw(shot)

    # ---- raw -----------------------------------------------------------------------------

    def scene(self, shot: ShotSpec) -> np.ndarray:
        """Expected signal per visible photosite (scene units); cached for the last shot."""
        if self._scene_cache is None or self._scene_cache[0] != shot:
            s = self.sensor
            mosaic = scene_mosaic(shot, s.width, s.height, s.pattern)
            mosaic.setflags(write=False)
            self._scene_cache = (shot, mosaic)
        return self._scene_cache[1]

    def render_raw_full(self, shot: ShotSpec) -> np.ndarray:
        """The whole sensor buffer (visible area plus margins), uint16; cached for the shot."""
        if self._raw_cache is not None and self._raw_cache[0] == shot:
            return self._raw_cache[1]
        s = self.sensor
        rng = np.random.default_rng([self.seed, shot.index, 0xA0])
        gain = np.float32(s.gain(shot.iso))
        black = np.float32(s.black_level)
        electrons = self.scene(shot) * np.float32(shot.brightness * s.electrons_at_white(shot.iso))
        active = [i for i, d in enumerate(self.defects) if d.active(shot.index)]
        hot = [i for i in active if self.defects[i].kind == "hot"]
        if hot:
            ys, xs = self._defect_xy[0][hot], self._defect_xy[1][hot]
            rate = np.array([self.defects[i].strength for i in hot], dtype=np.float32)
            electrons[ys, xs] += rate * np.float32(s.dark_seconds(shot))
        np.maximum(electrons, 0.0, out=electrons)
        if s.poisson:
            signal = rng.poisson(electrons).astype(np.float32)
            signal += rng.standard_normal(electrons.shape, dtype=np.float32) * np.float32(
                s.read_noise
            )
        else:
            sd = electrons + np.float32(s.read_noise**2)
            np.sqrt(sd, out=sd)
            sd *= rng.standard_normal(electrons.shape, dtype=np.float32)
            signal = electrons
            signal += sd
        signal *= gain
        signal += black + np.float32(0.5)  # +0.5: the cast below truncates, so this rounds
        for i in active:
            d = self.defects[i]
            if d.kind == "partial":
                signal[d.y, d.x] += np.float32(d.strength)
        np.clip(signal, 0, s.white_level, out=signal)
        visible = signal.astype(np.uint16)
        for i in active:
            d = self.defects[i]
            if d.kind == "stuck":
                visible[d.y, d.x] = round(
                    s.black_level + d.strength * (s.white_level - s.black_level)
                )
            elif d.kind == "dead":
                visible[d.y, d.x] = s.black_level
        full = self._with_margins(visible, rng, float(gain))
        full.setflags(write=False)  # shared by every writer of this shot: copy to modify
        self._raw_cache = (shot, full)
        return full

    def _with_margins(
        self, visible: np.ndarray, rng: np.random.Generator, gain: float
    ) -> np.ndarray:
        s = self.sensor
        left, top, _, _ = s.margins
        if not any(s.margins):
            return visible
        border = s.black_level + gain * s.read_noise * rng.standard_normal(
            (s.raw_height, s.raw_width), dtype=np.float32
        )
        full = np.clip(np.round(border), 0, s.white_level).astype(np.uint16)
        full[top : top + s.height, left : left + s.width] = visible
        return full

    def render_raw(self, shot: ShotSpec) -> np.ndarray:
        """The visible mosaic (rawpy's ``raw_image_visible``), (height, width) uint16 view."""
        s = self.sensor
        left, top, _, _ = s.margins
        return self.render_raw_full(shot)[top : top + s.height, left : left + s.width]

    # ---- JPEG engine -----------------------------------------------------------------------

    def render_rgb(self, raw: np.ndarray, shot: ShotSpec | None = None) -> np.ndarray:
        """What the camera's JPEG engine makes of a visible mosaic: (H, W, 3) uint8 sRGB.

        Bilinear demosaic (a bad photosite smears into a ~3x3 blob centred on it, as in a
        real camera), white balance, colour matrix, sRGB gamma. ``shot`` is accepted for
        symmetry; the rendering depends on the pixels only.
        """
        s = self.sensor
        norm = raw.astype(np.float32)
        norm -= np.float32(s.black_level)
        norm *= np.float32(1.0 / (s.white_level - s.black_level))
        planes = _demosaic_wb(norm, s.pattern)
        for plane in planes:  # clipped in the raw -> white after white balance, not pink
            np.minimum(plane, np.float32(1.0), out=plane)
        m = (_SRGB_FROM_WB * 4095.0).astype(np.float32)
        lut = _linear_to_srgb_lut()
        out = np.empty((*raw.shape, 3), dtype=np.uint8)
        acc, tmp = np.empty_like(planes[0]), np.empty_like(planes[0])
        idx = np.empty(raw.shape, dtype=np.uint16)
        for c in range(3):  # preallocated temporaries: this loop is most of a 10 MP JPEG
            np.multiply(planes[0], m[c, 0], out=acc)
            np.multiply(planes[1], m[c, 1], out=tmp)
            acc += tmp
            np.multiply(planes[2], m[c, 2], out=tmp)
            acc += tmp
            np.clip(acc, 0.0, 4095.0, out=acc)
            idx[...] = acc
            np.take(lut, idx, out=out[..., c])
        return out

    # ---- visibility ----------------------------------------------------------------------

    def visibility(self, shot: ShotSpec) -> np.ndarray:
        """Per defect: |defective - clean| over local noise, in the raw domain (0 before onset).

        Local noise = the photosite's own noise (shot + read, in DN) combined with the spread
        of the clean signal over its same-colour neighbours within 2 px (scene texture): what
        a same-colour residual detector has to beat. Clipping is applied to both values, so a
        hot photosite in a clipped sky scores 0.
        """
        if not self.defects:
            return np.zeros(0)
        s = self.sensor
        gain = s.gain(shot.iso)
        scene = self.scene(shot)
        h, w = scene.shape
        ys, xs = self._defect_xy
        off = np.arange(-2, 3)
        wy = np.clip(ys[:, None, None] + off[None, :, None], 0, h - 1)
        wx = np.clip(xs[:, None, None] + off[None, None, :], 0, w - 1)
        pat, n = s.pattern, s.period
        same = pat[wy % n, wx % n] == pat[ys % n, xs % n][:, None, None]
        same[:, 2, 2] = False
        e_white = shot.brightness * s.electrons_at_white(shot.iso)
        window_e = np.maximum(scene[wy, wx].astype(np.float64) * e_white, 0.0)
        top = float(s.white_level - s.black_level)
        window_dn = np.minimum(window_e * gain, top)
        neigh = np.where(same, window_dn, np.nan).reshape(len(ys), -1)
        med = np.nanmedian(neigh, axis=1)
        spread = 1.4826 * np.nanmedian(np.abs(neigh - med[:, None]), axis=1)
        clean_e = window_e[:, 2, 2]
        clean_dn = np.minimum(clean_e * gain, top)
        out = np.zeros(len(self.defects))
        for i, d in enumerate(self.defects):
            if not d.active(shot.index):
                continue
            dark_e = d.strength * s.dark_seconds(shot) if d.kind == "hot" else 0.0
            noise = math.hypot(gain * math.sqrt(clean_e[i] + dark_e + s.read_noise**2), spread[i])
            if d.kind == "hot":
                bad = min((clean_e[i] + dark_e) * gain, top)
            elif d.kind == "partial":
                bad = min(clean_dn[i] + d.strength, top)
            elif d.kind == "stuck":
                bad = d.strength * top
            else:
                bad = 0.0
            out[i] = abs(bad - clean_dn[i]) / max(noise, 1e-9)
        return out

    def jpeg_visibility(self, shot: ShotSpec) -> np.ndarray:
        """Per defect: how far it moves its pixel in this shot's camera JPEG, over the JPEG's
        local noise (0 before onset).

        What a JPEG detector can be asked to see: the raw-domain ``visibility`` overstates a
        faint defect that gamma, the colour matrix and compression flatten (a 3% offset in
        a bright day frame moves a JPEG pixel by a level or two). Measured on the defect's
        neighbourhood, encoded twice as the camera encodes it: with the defect, and with
        the same noise but a healthy photosite (a twin camera without defects). The crop
        starts on a multiple of 48 px (16 px JPEG MCUs, 2 and 6 px colour patterns), so it
        compresses as it does in the whole frame. Each defect is measured by what it adds to
        the JPEG where the others are (a neighbouring defect's smear is not its doing, and
        a strong one beside it may hide it). Noise per channel: 1.2533 x the mean
        |residual| against the middle two of the pixels two away, on the healthy crop, as
        hotwatch measures it; the largest channel's ratio counts.
        """
        out = np.zeros(len(self.defects))
        active = [i for i, d in enumerate(self.defects) if d.active(shot.index)]
        if not active:
            return out
        raw = self.render_raw(shot)
        clean = Camera(
            self.sensor,
            (),
            seed=self.seed,
            jpeg_quality=self.jpeg_quality,
            subsampling=self.subsampling,
        ).render_raw(shot)
        h, w = raw.shape
        for i in active:
            d = self.defects[i]
            y0, x0 = max(0, d.y // 48 * 48 - 48), max(0, d.x // 48 * 48 - 48)
            y1, x1 = min(h, y0 + 144), min(w, x0 + 144)
            # what this defect adds, its neighbours there or not: a neighbour's smear is
            # not this one's doing, and may hide it
            without = raw[y0:y1, x0:x1].copy()
            without[d.y - y0, d.x - x0] = clean[d.y, d.x]
            good = self._jpeg_crop(without).astype(np.float64)
            bad = self._jpeg_crop(raw[y0:y1, x0:x1]).astype(np.float64)
            diff = np.abs(bad[d.y - y0, d.x - x0] - good[d.y - y0, d.x - x0])
            noise = _jpeg_noise(self._jpeg_crop(clean[y0:y1, x0:x1]).astype(np.float64))
            out[i] = float(np.max(diff / noise))
        return out

    def _jpeg_crop(self, raw: np.ndarray) -> np.ndarray:
        """A raw crop through this camera's JPEG engine and back (encode, decode)."""
        sub = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}[self.subsampling]
        buf = io.BytesIO()
        Image.fromarray(self.render_rgb(raw)).save(
            buf, "JPEG", quality=self.jpeg_quality, subsampling=sub
        )
        with Image.open(buf) as im:
            return np.asarray(im.convert("RGB"))

    # ---- files -----------------------------------------------------------------------------

    def write_dng(self, shot: ShotSpec, path: str | os.PathLike[str]) -> Path:
        """A 16-bit CFA DNG with the DNG colour/level tags and an EXIF IFD: uncompressed, or
        with ``dng_compression="ljpeg"`` in lossless-JPEG tiles as cameras and Adobe's
        converter write them (needs the imagecodecs package)."""
        path = Path(path)
        _write_dng(self, shot, self.render_raw_full(shot), path)
        return path

    def write_jpeg(
        self, shot: ShotSpec, path: str | os.PathLike[str], quality: int | None = None
    ) -> Path:
        """The camera JPEG (stored landscape) with IFD0 + EXIF sub-IFD written by Pillow."""
        path = Path(path)
        rgb = self.render_rgb(self.render_raw(shot), shot)
        img = Image.fromarray(rgb)
        sub = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}[self.subsampling]
        img.save(
            path,
            "JPEG",
            quality=quality or self.jpeg_quality,
            subsampling=sub,
            exif=self._jpeg_exif(shot).tobytes(),
        )
        return path

    def _jpeg_exif(self, shot: ShotSpec) -> Image.Exif:
        exif = Image.Exif()
        stamp, subsec, offset = _exif_time(shot.taken_at)
        exif[0x010F] = self.make
        exif[0x0110] = self.model
        exif[0x0112] = shot.orientation
        exif[0x0132] = stamp
        exif[0x0131] = "hotwatch camsim"
        ifd = exif.get_ifd(0x8769)
        num, den = _exposure_fraction(shot.exposure)
        ifd[0x829A] = TiffImagePlugin.IFDRational(num, den)
        ifd[0x8827] = int(min(shot.iso, 65535))
        ifd[0x9000] = b"0231"
        ifd[0x9003] = stamp
        ifd[0x9004] = stamp
        ifd[0x9291] = subsec
        ifd[0x9011] = offset
        ifd[0xA002] = self.sensor.width
        ifd[0xA003] = self.sensor.height
        if self.serial is not None:
            ifd[0xA431] = self.serial
        return exif


def _jpeg_noise(rgb: np.ndarray) -> np.ndarray:
    """Per channel: 1.2533 x mean |pixel - middle two of the pixels two away| (floor 0.5)."""
    c = rgb[2:-2, 2:-2]
    n = np.stack([rgb[:-4, 2:-2], rgb[4:, 2:-2], rgb[2:-2, :-4], rgb[2:-2, 4:]])
    n.sort(axis=0)
    resid = np.abs(c - (n[1] + n[2]) / 2)
    return np.maximum(1.2533 * resid.mean(axis=(0, 1)), 0.5)


def _pad_phase(a: np.ndarray, n: int) -> np.ndarray:
    """Pad by one photosite with copies from one CFA period inward: colours stay in phase."""
    h, w = a.shape
    p = np.empty((h + 2, w + 2), dtype=a.dtype)
    p[1:-1, 1:-1] = a
    p[0, 1:-1] = a[n - 1]
    p[-1, 1:-1] = a[h - n]
    p[:, 0] = p[:, n]
    p[:, -1] = p[:, w + 1 - n]
    return p


def _demosaic_wb(norm: np.ndarray, pattern: np.ndarray) -> list[np.ndarray]:
    """Normalised-convolution bilinear demosaic for any CFA, white balanced: [R, G, B] planes.

    Each missing value is the [1 2 1] x [1 2 1] weighted mean of the same-colour sites in its
    3x3 neighbourhood (every 3x3 window of Bayer and X-Trans holds all three colours);
    measured sites keep their value. Masks and weights depend only on the CFA phase, so they
    are applied per row phase as broadcast row vectors: contiguous, about ten passes per
    colour whatever the CFA.
    """
    w = norm.shape[1]
    n = pattern.shape[0]
    padded = _pad_phase(norm, n)
    k = np.array([1.0, 2.0, 1.0])
    kern = np.outer(k, k)
    reps = -(-(w + 2) // n) + 1
    planes = []
    for c in range(3):
        # row vectors per phase: mask of colour c in padded coordinates, and for the output
        # the interpolation weight (0 at own sites) and the own-site pass-through
        pad_mask = np.tile(np.roll(pattern, (1, 1), axis=(0, 1)) == c, (1, reps))
        weight = np.zeros((n, n), dtype=np.float32)
        own = np.zeros((n, n), dtype=np.float32)
        wb = 1.0 / NEUTRAL[c]
        for oy in range(n):
            for ox in range(n):
                if pattern[oy, ox] == c:
                    own[oy, ox] = wb
                else:
                    win = pattern[(oy + np.arange(-1, 2)) % n][:, (ox + np.arange(-1, 2)) % n]
                    weight[oy, ox] = wb / float((kern * (win == c)).sum())
        weight_rows = np.tile(weight, (1, reps))[:, :w]
        own_rows = np.tile(own, (1, reps))[:, :w]
        masked = np.empty_like(padded)
        for a in range(n):
            np.multiply(padded[a::n], pad_mask[a, : w + 2], out=masked[a::n])
        hsum = masked[:, :-2] + masked[:, 2:]
        hsum += masked[:, 1:-1]
        hsum += masked[:, 1:-1]
        del masked
        plane = hsum[:-2] + hsum[2:]
        plane += hsum[1:-1]
        plane += hsum[1:-1]
        del hsum
        for oy in range(n):
            rows = plane[oy::n]
            rows *= weight_rows[oy]
            if own_rows[oy].any():
                rows += norm[oy::n] * own_rows[oy]
        planes.append(plane)
    return planes


def _exif_time(t: datetime) -> tuple[str, str, str]:
    """EXIF DateTime text, SubSec (milliseconds) and OffsetTime (+HH:MM) of an aware time."""
    stamp = t.strftime("%Y:%m:%d %H:%M:%S")
    subsec = f"{t.microsecond // 1000:03d}"
    off = t.utcoffset() or timedelta(0)
    minutes = int(off.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    offset = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return stamp, subsec, offset


def _exposure_fraction(seconds: float) -> tuple[int, int]:
    """1/250 s -> (1, 250); 1.3 s -> (13, 10): the way cameras spell ExposureTime."""
    if seconds < 1:
        return 1, round(1 / seconds)
    frac = Fraction(seconds).limit_denominator(10)
    return frac.numerator, frac.denominator


# --------------------------------------------------------------------------------------------
# DNG writing
# --------------------------------------------------------------------------------------------

_EXIF_PLACEHOLDER = 0xFFFFFFF0
_EXIF_STANDIN = 34664  # unassigned tag just below ExifIFD (34665), which tifffile refuses


def _rationals(values: Iterable[float], denominator: int = 10000) -> tuple[int, ...]:
    out: list[int] = []
    for v in values:
        out += [round(v * denominator), denominator]
    return tuple(out)


def _write_dng(cam: Camera, shot: ShotSpec, full: np.ndarray, path: Path) -> None:
    """tifffile writes IFD0 (image + DNG tags); the EXIF IFD is appended and linked after.

    tifffile cannot write an EXIF sub-IFD and refuses tag 34665, so IFD0 gets a stand-in tag
    34664 (same sort position) holding a placeholder; the EXIF IFD is appended to the file and
    the stand-in entry is rewritten as ExifIFD (34665, LONG) pointing at it.
    """
    import tifffile  # a heavy import only the DNG writer needs

    s = cam.sensor
    stamp, _, _ = _exif_time(shot.taken_at)
    pat = s.pattern
    left, top = s.margins[:2]
    unique = f"{cam.make} {cam.model}"
    tags: list[tuple[int, int | str, int, object, bool]] = [
        (271, "s", 0, cam.make, True),
        (272, "s", 0, cam.model, True),
        (274, "H", 1, shot.orientation, True),
        (306, "s", 0, stamp, True),
        (33421, "H", 2, (pat.shape[0], pat.shape[1]), True),
        (33422, "B", pat.size, tuple(int(v) for v in pat.ravel()), True),
        (_EXIF_STANDIN, "I", 1, _EXIF_PLACEHOLDER, True),
        (50706, "B", 4, (1, 4, 0, 0), True),
        (50707, "B", 4, (1, 1, 0, 0), True),
        (50708, "s", 0, unique, True),
        (50710, "B", 3, (0, 1, 2), True),
        (50711, "H", 1, 1, True),
        (50713, "H", 2, (1, 1), True),
        (50714, "I", 1, s.black_level, True),
        (50717, "I", 1, s.white_level, True),
        (50721, "2i", 9, _rationals(COLOR_MATRIX1.ravel()), True),
        (50728, "2I", 3, _rationals(NEUTRAL), True),
        (50778, "H", 1, 21, True),  # CalibrationIlluminant1 = D65
    ]
    if cam.serial is not None:
        tags.append((50735, "s", 0, cam.serial, True))
    if cam.dng_shot_tags == "ifd0":  # pidng's layout: no EXIF IFD at all
        tags = [t for t in tags if t[0] not in (_EXIF_STANDIN, 306)]
        tags += [
            (33434, "2I", 1, _exposure_fraction(shot.exposure), True),
            (34855, "H", 1, int(min(shot.iso, 65535)), True),
            (36867, "s", 0, stamp, True),
        ]
    if any(s.margins):
        if s.margin_tag == "activearea":
            tags.append((50829, "I", 4, (top, left, top + s.height, left + s.width), True))
        else:
            tags.append((50719, "I", 2, (left, top), True))
            tags.append((50720, "I", 2, (s.width, s.height), True))
    tags.sort(key=lambda t: t[0])
    packing: dict[str, object] = {"compression": None}
    if cam.dng_compression == "ljpeg":  # lossless JPEG (SOF3) in 256x256 tiles
        packing = {
            "compression": "jpeg",
            "compressionargs": {"lossless": True, "bitspersample": s.bits},
            "tile": (256, 256),
        }
    tifffile.imwrite(
        path,
        full,
        photometric=32803,
        planarconfig=None,
        subfiletype=0,
        software="hotwatch camsim",
        metadata=None,
        extratags=tags,
        **packing,
    )
    if cam.dng_shot_tags == "exif":
        _append_exif_ifd(path, cam, shot)


def _ifd_bytes(entries: list[tuple[int, int, int, bytes]], base: int) -> bytes:
    """A little-endian classic TIFF IFD (entries: tag, type, count, packed value) at ``base``."""
    entries = sorted(entries)
    head = struct.pack("<H", len(entries))
    data_start = base + 2 + 12 * len(entries) + 4
    body, data = b"", b""
    for tag, typ, count, value in entries:
        if len(value) <= 4:
            body += struct.pack("<HHI", tag, typ, count) + value.ljust(4, b"\0")
        else:
            offset = data_start + len(data)
            body += struct.pack("<HHII", tag, typ, count, offset)
            data += value + (b"\0" if len(value) % 2 else b"")
    return head + body + struct.pack("<I", 0) + data


def _ascii(text: str) -> tuple[int, bytes]:
    raw = text.encode("ascii", "replace") + b"\0"
    return len(raw), raw


def _append_exif_ifd(path: Path, cam: Camera, shot: ShotSpec) -> None:
    stamp, subsec, offset = _exif_time(shot.taken_at)
    num, den = _exposure_fraction(shot.exposure)
    entries: list[tuple[int, int, int, bytes]] = [
        (33434, 5, 1, struct.pack("<II", num, den)),
        (34855, 3, 1, struct.pack("<H", int(min(shot.iso, 65535)))),
        (36864, 7, 4, b"0231"),
    ]
    for tag, text in ((36867, stamp), (36868, stamp), (36881, offset), (37521, subsec)):
        count, raw = _ascii(text)
        entries.append((tag, 2, count, raw))
    if cam.serial is not None:
        count, raw = _ascii(cam.serial)
        entries.append((42033, 2, count, raw))
    with open(path, "r+b") as f:
        header = f.read(8)
        if header[:4] != b"II*\0":
            raise ValueError("tifffile wrote an unexpected TIFF header")
        ifd0 = struct.unpack("<I", header[4:8])[0]
        f.seek(ifd0)
        (count,) = struct.unpack("<H", f.read(2))
        entry_pos = None
        for i in range(count):
            tag, _typ, _cnt, val = struct.unpack("<HHII", f.read(12))
            if tag == _EXIF_STANDIN and val == _EXIF_PLACEHOLDER:
                entry_pos = ifd0 + 2 + 12 * i
        if entry_pos is None:
            raise ValueError("ExifIFD placeholder not found in IFD0")
        end = f.seek(0, os.SEEK_END)
        end += end % 2  # IFDs start on a word boundary
        f.seek(end)
        f.write(_ifd_bytes(entries, end))
        f.seek(entry_pos)
        f.write(struct.pack("<HHII", 34665, 4, 1, end))


# --------------------------------------------------------------------------------------------
# Rolls
# --------------------------------------------------------------------------------------------


def write_roll(
    camera: Camera,
    shots: Sequence[ShotSpec],
    folder: str | os.PathLike[str],
    formats: Sequence[str] = ("jpeg", "dng"),
    *,
    prefix: str = "IMG_",
    set_mtime: bool = True,
) -> list[Path]:
    """Write every shot as ``IMG_0000.JPG`` / ``IMG_0000.DNG`` (RAW+JPEG pairs share a stem).

    Each shot's raw is rendered once for all formats. With ``set_mtime`` the files' times are
    the capture times, as after a card import.
    """
    bad = set(formats) - {"jpeg", "dng"}
    if bad:
        raise ValueError(f"unknown formats: {sorted(bad)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for shot in shots:
        stem = folder / f"{prefix}{shot.index:04d}"
        written = []
        if "jpeg" in formats:
            written.append(camera.write_jpeg(shot, stem.with_suffix(".JPG")))
        if "dng" in formats:
            written.append(camera.write_dng(shot, stem.with_suffix(".DNG")))
        if set_mtime:
            ts = shot.taken_at.timestamp()
            for p in written:
                os.utime(p, (ts, ts))
        paths += written
    return paths
