"""Where a body serial sits, and which one wins when a file holds several.

Serial sources are ranked, and the same ranking is applied to both readers so that a JPEG
read by exifread and a raw of the same body read by exiftool give the same key:

1. EXIF BodySerialNumber (0xA431, EXIF IFD, or IFD0 as some Canons write it)
2. DNG CameraSerialNumber (0xC62F)
3. maker-note SerialNumber (Nikon 0x001D, Canon 0x000C, Olympus, Pentax, Sony...)
4. maker-note SerialNumber2 (Nikon 0x00A0, "NO= 20025585")
5. maker-note InternalSerialNumber (Fujifilm 0x0010, Canon 0x0096, Panasonic 0x0025)
6. XMP aux:SerialNumber / exifEX:BodySerialNumber (editor exports)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from exifread.tags.makernote import nikon as _exifread_nikon

from .names import normalise_serial
from .values import exifread_value

# exifread names Nikon 0x001D and 0x00A0 both "SerialNumber", so the second
# overwrites the first. exiftool calls 0x00A0 "SerialNumber2"; do the same so
# both readers rank Nikon serials alike.
if _exifread_nikon.TAGS_NEW.get(0x00A0) == ("SerialNumber", None):
    _exifread_nikon.TAGS_NEW[0x00A0] = ("SerialNumber2", None)

# Ranks (lower is better); see the module docstring.
BODY, DNG, MAKER, MAKER2, INTERNAL, XMP = range(6)


_EXIFREAD_SERIAL_KEYS: tuple[tuple[str, int], ...] = (
    ("EXIF BodySerialNumber", BODY),
    ("EXIF Tag 0xA431", BODY),
    ("Image BodySerialNumber", BODY),
    ("Image Tag 0xA431", BODY),
    ("Image CameraSerialNumber", DNG),
    ("Image Tag 0xC62F", DNG),
    ("MakerNote SerialNumber", MAKER),
    ("MakerNote SerialNumber2", MAKER2),
    ("MakerNote InternalSerialNumber", INTERNAL),
    # Canon 0x0096 ("MakerNote InternalSerialNumber ", with a blank) is left out on
    # purpose: exiftool reads only part of it (a SerialInfo structure on some
    # models), so the two readers would disagree; Canon files lacking 0x000C go
    # to exiftool instead.
)


# exifread adds 18 to Nikon type-3 maker-note offsets when a JFIF (or similar)
# segment precedes the EXIF one (re-saved JPEGs): the serial it returns is then
# read from the wrong bytes ("85" instead of "20025585"). Distrust it there.
JPEG_SHIFTED_SEGMENTS = (b"JFIF", b"JFXX", b"OLYM", b"Phot")


@dataclass(frozen=True)
class Candidate:
    """A serial found in a file: its rank, normalised key, where it was read and, for a text
    tag, the text as written (the camera's spelling: leading zeros, case)."""

    rank: int
    serial: str
    source: str
    written: str | None = None


def _written(value: object) -> str | None:
    """The text of a text-valued tag (None for numbers and byte lists: no spelling to keep)."""
    return value if isinstance(value, str) else None


def best_serial(cands: Iterable[Candidate]) -> Candidate | None:
    return min(cands, key=lambda c: c.rank, default=None)


def exifread_serials(tags: Mapping[str, Any], make: str) -> list[Candidate]:
    out = []
    for key, rank in _EXIFREAD_SERIAL_KEYS:
        if key in tags:
            value = exifread_value(tags[key])
            serial = normalise_serial(value, make)
            if serial:
                where = "maker note (exifread)" if key.startswith("MakerNote") else "exifread"
                out.append(Candidate(rank, serial, f"{where} {key.strip()}", _written(value)))
    return out


_EXIFTOOL_SERIAL_NAMES = frozenset(
    {
        "SerialNumber",
        "SerialNumber2",
        "InternalSerialNumber",
        "CameraSerialNumber",
        "BodySerialNumber",
    }
)


def exiftool_serials(meta: Mapping[str, Any], make: str) -> list[Candidate]:
    out = []
    for key, value in meta.items():
        group, _, name = key.rpartition(":")
        if name.partition("#")[0] not in _EXIFTOOL_SERIAL_NAMES:
            continue
        if group.startswith("XMP"):
            rank = XMP
        elif name.startswith("CameraSerialNumber"):
            rank = DNG
        elif group in {"ExifIFD", "IFD0"} and name.partition("#")[0] in {
            "SerialNumber",
            "BodySerialNumber",
        }:
            rank = BODY
        elif name in ("SerialNumber2", "SerialNumber#0x00a0"):  # Nikon 0x00A0 "NO= ..."
            rank = MAKER2
        elif name.startswith("InternalSerialNumber"):
            rank = INTERNAL
        else:
            rank = MAKER
        serial = normalise_serial(value, make)
        if serial:
            out.append(Candidate(rank, serial, f"exiftool {key}", _written(value)))
    return out
