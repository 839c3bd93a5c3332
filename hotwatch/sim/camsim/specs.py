"""The simulated sensor, its planted defects and its shots, as specifications.

The colour model is stated here once: scene light in linear sRGB becomes camera colour
``NEUTRAL * (CAM_MIX @ rgb)`` (rows of ``CAM_MIX`` sum to 1, so white reaches ``NEUTRAL``:
green clips first, as on real sensors); the DNG writer spells the same model as
``COLOR_MATRIX1`` and the camera's JPEG engine undoes the overlap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from hotwatch.core.model import DefectKind, ShotInfo

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
SRGB_FROM_WB = np.linalg.inv(CAM_MIX)
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
    """One defective photosite, (x, y) in visible-raw coordinates (in a JPEG: where
    ``Camera.jpeg_map`` puts them).

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
