"""Plain data shared by every part of hotwatch.

Everything here is a frozen dataclass or an enum so that values can be passed
through the pipeline (identify -> decode -> accumulate -> detect -> record)
without hidden state, hashed, and compared in tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import numpy as np

from .serial_display import display_serial


class FrameKind(StrEnum):
    """What kind of pixels an accumulator holds; RAW and JPEG never mix."""

    JPEG = "jpeg"  # any demosaiced 8/16-bit image read through Pillow (JPEG, TIFF, PNG)
    RAW = "raw"  # undemosaiced photosites read through rawpy


class DefectKind(StrEnum):
    HOT = "hot"
    STUCK = "stuck"
    DEAD = "dead"


class FileStatus(StrEnum):
    INGESTED = "ingested"
    SKIPPED = "skipped"  # not a photo hotwatch can use (unsupported, too small, duplicate...)
    FAILED = "failed"  # looked like a photo but could not be read (truncated, corrupt)


@dataclass(frozen=True)
class BodyId:
    """A camera body: normalised make and model, and the body serial if any.

    ``serial`` is the normalised serial, part of the key; None when no serial could be read:
    several bodies of that model may then be mixed in one accumulator, and the user is told
    so. ``shown`` is the serial as the camera and exiftool spell it (``0830512345`` for a
    Canon EOS 40D whose key is ``830512345``; see :mod:`hotwatch.core.serial_display`): it
    names the body to people and never takes part in its identity (equality, hash, key).
    """

    make: str
    model: str
    serial: str | None = None
    shown: str | None = field(default=None, compare=False)

    @property
    def serial_shown(self) -> str | None:
        """The serial as the camera shows it: the spelling read, else exiftool's rule."""
        if self.serial is None:
            return None
        return self.shown or display_serial(self.make, self.model, self.serial)

    @property
    def label(self) -> str:
        """Human label, e.g. ``NIKON D80 #3012345`` (the serial as the camera shows it)."""
        tail = f" #{self.serial_shown}" if self.serial else " (no serial)"
        return f"{self.make} {self.model}{tail}"

    @property
    def key(self) -> str:
        """Stable text key, unique per body: ``make|model|serial``."""
        return f"{self.make}|{self.model}|{self.serial or ''}"

    def fields(self) -> dict[str, str | None]:
        """The body as JSON names it: the serial as shown, beside its key's spelling."""
        return {
            "make": self.make,
            "model": self.model,
            "serial": self.serial_shown,
            "serial_key": self.serial,
            "key": self.key,
            "label": self.label,
        }


@dataclass(frozen=True)
class ShotInfo:
    """Per-shot EXIF facts that detection and the catalogue need."""

    taken_at: datetime | None = None  # timezone-aware when the file says its offset
    exposure: float | None = None  # seconds
    iso: float | None = None
    orientation: int = 1  # EXIF Orientation, informative only: pixels are never rotated
    width: int | None = None  # EXIF/raw size if known (informative)
    height: int | None = None

    @property
    def exposure_index(self) -> float | None:
        """Exposure time x ISO: how strongly dark current and gain can show."""
        if self.exposure is None or self.iso is None:
            return None
        return float(self.exposure) * float(self.iso)


@dataclass(frozen=True)
class CameraFile:
    """What reading a file's metadata tells: its body and its shot facts."""

    body: BodyId
    shot: ShotInfo


@dataclass(frozen=True, eq=False)
class Frame:
    """A decoded image in its stored pixel order (never rotated by Orientation).

    RAW: ``data`` is the (H, W) uint16 array of ``raw_image_visible``; ``cfa`` is
    the colour pattern (2x2 Bayer or 6x6 X-Trans) of colour indices 0=R, 1=G,
    2=B (3 = second green, if the reader distinguishes it), aligned so that
    ``cfa[y % n, x % n]`` is the colour of photosite (y, x); ``black`` and
    ``white`` are the levels. The margins tell where the visible area sits in
    the full sensor buffer (darktable's coordinates).

    JPEG: ``data`` is (H, W, 3) uint8 (or uint16), ``cfa`` is None, black 0,
    white 255 (65535).
    """

    kind: FrameKind
    data: np.ndarray
    black: float
    white: float
    cfa: np.ndarray | None = None
    black_per_channel: tuple[float, ...] | None = None  # RAW: per cfa colour index
    left_margin: int = 0
    top_margin: int = 0
    raw_width: int | None = None  # full sensor buffer size, RAW only
    raw_height: int | None = None
    #: JPEG: pixels per chroma sample (across, down): (2, 1) for 4:2:2, (2, 2) for 4:2:0.
    #: The pixels of one chroma cell share their colour, so one bad photosite may stand out
    #: at either of them.
    chroma: tuple[int, int] = (1, 1)

    @property
    def width(self) -> int:
        return int(self.data.shape[1])

    @property
    def height(self) -> int:
        return int(self.data.shape[0])


@dataclass(frozen=True)
class Defect:
    """One defective photosite (RAW) or pixel (JPEG), reported once at its centre.

    x to the right, y down, from the top-left of the stored frame.
    """

    x: int
    y: int
    kind: DefectKind
    score: float
    onset: datetime | None  # capture time of the first frame in which it was present
    confirmed: datetime | None = None  # capture time of the frame that confirmed it

    def to_dict(self) -> dict:
        """The JSON spelling of a defect, wherever hotwatch prints one (``defects --json``,
        ``export --format json``, ``darktable info``)."""
        return {
            "x": self.x,
            "y": self.y,
            "kind": self.kind.value,
            "score": self.score,
            "onset": self.onset.isoformat() if self.onset else None,
            "confirmed": self.confirmed.isoformat() if self.confirmed else None,
        }


@dataclass(frozen=True)
class AccumulatorKey:
    """One accumulator per (body, kind of frame, width x height)."""

    body: BodyId
    kind: FrameKind
    width: int
    height: int

    @property
    def slug(self) -> str:
        """A file-name-safe identifier for this accumulator."""
        import hashlib

        digest = hashlib.sha1(self.body.key.encode("utf-8")).hexdigest()[:12]
        return f"{digest}-{self.kind.value}-{self.width}x{self.height}"
