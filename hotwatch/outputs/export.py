"""Defect maps in the formats other raw tools read, as plain text.

* dcraw / LibRaw ``-P``: ``col row unix_time`` per line, in ``raw_image_visible``
  coordinates; dcraw only fixes a pixel in photos taken after its time, so the
  onset goes there (clamped to a signed 32-bit integer, as dcraw reads it).
* RawTherapee: ``<Make> <Model> <serial>.badpixels`` in its dark-frame folder,
  ``x y`` per line in ``raw_image_visible`` coordinates (rtengine/dfmanager.cc).
* JSON: the same structure as ``hotwatch defects --json``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from hotwatch.core.model import BodyId, Defect

INT32_MAX = 2**31 - 1


def dcraw_lines(defects: Sequence[Defect]) -> str:
    """dcraw ``-P`` file text; unknown onsets get time 0 (always applied)."""
    rows = []
    for d in sorted(defects, key=lambda d: (d.y, d.x)):
        t = int(d.onset.timestamp()) if d.onset else 0
        rows.append(f"{d.x:5d} {d.y:5d} {max(0, min(t, INT32_MAX))}")
    return "".join(r + "\n" for r in rows)


#: RawTherapee matches the file name exactly, with dcraw's spelling of the maker.
DCRAW_MAKERS = (
    "AgfaPhoto",
    "Canon",
    "Casio",
    "Epson",
    "Fujifilm",
    "Mamiya",
    "Minolta",
    "Motorola",
    "Kodak",
    "Konica",
    "Leica",
    "Nikon",
    "Nokia",
    "Olympus",
    "Pentax",
    "Phase One",
    "Ricoh",
    "Samsung",
    "Sigma",
    "Sinar",
    "Sony",
)


def dcraw_maker(make: str, model: str = "") -> str:
    """The maker as dcraw/LibRaw (and so RawTherapee) spells it."""
    if model.upper().startswith("PENTAX"):
        return "Pentax"
    upper = make.upper()
    for name in DCRAW_MAKERS:
        if name.upper() in upper:
            return name
    return make.strip()


def rawtherapee_name(body: BodyId, exif_make: str | None = None) -> str:
    """RawTherapee looks for ``<Make> <Model>[ <serial>].badpixels`` (rtengine/dfmanager.cc).

    For makers dcraw does not know, it uses the file's own EXIF make as written,
    so pass ``exif_make`` (read from one of the body's raws) when you have it.
    """
    model = body.model
    maker = dcraw_maker(exif_make or body.make, model)
    if model.upper().startswith(maker.upper() + " "):
        model = model[len(maker) + 1 :]
    parts = [maker, model] + ([body.serial] if body.serial else [])
    return " ".join(parts) + ".badpixels"


def rawtherapee_lines(defects: Sequence[Defect]) -> str:
    return "".join(f"{d.x} {d.y}\n" for d in sorted(defects, key=lambda d: (d.y, d.x)))


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def camera_dict(
    body: BodyId, frame: str, width: int, height: int, frames: int, defects: Sequence[Defect]
) -> dict:
    return {
        "make": body.make,
        "model": body.model,
        "serial": body.serial,
        "frame": frame,
        "width": width,
        "height": height,
        "frames": frames,
        "defects": [d.to_dict() for d in defects],
    }


def to_json(cameras: Sequence[dict]) -> str:
    return json.dumps({"cameras": list(cameras)}, indent=2) + "\n"
