"""Which camera body took a file, and the shot facts: exifread first, exiftool when needed.

A body is normalised make + model + serial. exifread (pure Python, ~1 ms a
JPEG) reads EXIF and some maker notes; it finds no make/model at all in CR3,
CRW, RAF, MRW, X3F and HEIF, and no serial in Pentax, Panasonic, Sony and new
Olympus maker notes (see tests/test_exif.py for the per-maker table). For those
files the long-lived exiftool process (hotwatch.io.exiftool) is asked as well.

Serial sources are ranked, and the same ranking is applied to both readers so
that a JPEG read by exifread and a raw of the same body read by exiftool give
the same key:

1. EXIF BodySerialNumber (0xA431, EXIF IFD, or IFD0 as some Canons write it)
2. DNG CameraSerialNumber (0xC62F)
3. maker-note SerialNumber (Nikon 0x001D, Canon 0x000C, Olympus, Pentax, Sony...)
4. maker-note SerialNumber2 (Nikon 0x00A0, "NO= 20025585")
5. maker-note InternalSerialNumber (Fujifilm 0x0010, Canon 0x0096, Panasonic 0x0025)
6. XMP aux:SerialNumber / exifEX:BodySerialNumber (editor exports)

Makes are spelled as users know the brand: NIKON, CANON, SONY, FUJIFILM,
OLYMPUS, "OM SYSTEM" (bodies made by OM Digital Solutions: OM-1, OM-5; no body
ever carries both makes, so keys never split), PENTAX (also "RICOH IMAGING
COMPANY, LTD." for PENTAX models; its GR cameras are RICOH), PANASONIC, LEICA,
SIGMA, KODAK, APPLE, SAMSUNG, GOOGLE...; unknown makes are upper-cased with
corporate suffixes removed.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import re
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO

import exifread
from exifread.tags.makernote import nikon as _exifread_nikon

from hotwatch.core.dating import frame_time
from hotwatch.core.errors import HotwatchError, UnreadableFile, UnsupportedFile
from hotwatch.core.model import BodyId, CameraFile, ShotInfo
from hotwatch.io import guarded
from hotwatch.io.exiftool import ExifTool, ExifToolError

log = logging.getLogger(__name__)

# exifread logs a warning for every file without EXIF ("File format not
# recognized"); for a folder watcher that is noise, our own errors say it better.
logging.getLogger("exifread").setLevel(logging.ERROR)

# exifread names Nikon 0x001D and 0x00A0 both "SerialNumber", so the second
# overwrites the first. exiftool calls 0x00A0 "SerialNumber2"; do the same so
# both readers rank Nikon serials alike.
if _exifread_nikon.TAGS_NEW.get(0x00A0) == ("SerialNumber", None):
    _exifread_nikon.TAGS_NEW[0x00A0] = ("SerialNumber2", None)

# --------------------------------------------------------------------------
# normalisation
# --------------------------------------------------------------------------

# (pattern on the upper-cased make, brand). First match wins.
_MAKE_RULES: tuple[tuple[str, str], ...] = (
    (r"^NIKON", "NIKON"),
    (r"^CANON", "CANON"),
    (r"^SONY", "SONY"),
    (r"^FUJI", "FUJIFILM"),
    (r"^OLYMPUS", "OLYMPUS"),
    (r"^OM DIGITAL", "OM SYSTEM"),
    (r"^OM SYSTEM", "OM SYSTEM"),
    (r"^(PENTAX|ASAHI)", "PENTAX"),
    (r"^RICOH IMAGING", "PENTAX"),
    (r"^RICOH", "RICOH"),
    (r"^PANASONIC", "PANASONIC"),
    (r"^LEICA", "LEICA"),
    (r"^SIGMA", "SIGMA"),
    (r"(EASTMAN )?KODAK", "KODAK"),
    (r"^APPLE", "APPLE"),
    (r"^SAMSUNG", "SAMSUNG"),
    (r"^GOOGLE", "GOOGLE"),
    (r"^HASSELBLAD", "HASSELBLAD"),
    (r"^PHASE ONE", "PHASE ONE"),
    (r"^KONICA MINOLTA", "KONICA MINOLTA"),
    (r"^MINOLTA", "MINOLTA"),
    (r"^CASIO", "CASIO"),
    (r"^(SEIKO )?EPSON", "EPSON"),
    (r"^GOPRO", "GOPRO"),
    (r"^DJI", "DJI"),
    (r"^HUAWEI", "HUAWEI"),
    (r"^XIAOMI", "XIAOMI"),
    (r"^MOTOROLA", "MOTOROLA"),
)
_CORPORATE = re.compile(
    r"[\s,.]+(CORPORATION|CORP|CO|LTD|LIMITED|INC|COMPANY|GMBH|AG|S\.?A|IMAGING|CAMERA)\b\.?",
)
# Words a model may repeat from its make ("Canon EOS 5D", "NIKON D80").
_MODEL_PREFIXES: dict[str, tuple[str, ...]] = {
    "KODAK": ("EASTMAN KODAK COMPANY", "KODAK"),
    "FUJIFILM": ("FUJIFILM", "FUJI"),
    "OM SYSTEM": ("OM SYSTEM", "OM DIGITAL SOLUTIONS"),
    "PHASE ONE": ("PHASE ONE",),
    "KONICA MINOLTA": ("KONICA MINOLTA", "MINOLTA"),
}
_PLACEHOLDER_SERIALS = frozenset(
    {"", "NONE", "N/A", "NA", "UNKNOWN", "SERIAL", "SERIALNUMBER", "-", "X", "XXXXXXXX"}
)


def _clean_text(value: object) -> str:
    """Text up to the first NUL, with runs of blanks collapsed."""
    if isinstance(value, bytes | bytearray):
        value = bytes(value).split(b"\0", 1)[0].decode("utf-8", errors="replace")
    text = str(value).split("\0", 1)[0]
    return " ".join(text.split())


def normalise_make(make: str, model: str | None = None) -> str:
    """The brand as users know it: "NIKON CORPORATION" and "Nikon" -> "NIKON".

    ``model`` only settles "RICOH IMAGING COMPANY, LTD.", which made both
    PENTAX bodies (model "PENTAX K-3 Mark III") and RICOH GR cameras.
    """
    text = _clean_text(make).upper()
    for pattern, brand in _MAKE_RULES:
        if re.search(pattern, text):
            ricoh_model = model is not None and not _clean_text(model).upper().startswith("PENTAX")
            if brand == "PENTAX" and text.startswith("RICOH") and ricoh_model:
                return "RICOH"
            return brand
    stripped = _CORPORATE.sub("", text).strip(" ,.")
    return " ".join(stripped.split()) or text


def normalise_model(make: str, model: str) -> str:
    """Model without the make it repeats ("Canon EOS 5D" -> "EOS 5D"), blanks collapsed."""
    text = _clean_text(model)
    brand = normalise_make(make, model) if make else ""
    raw_make = _clean_text(make).upper()
    prefixes = {brand, raw_make, raw_make.split(" ")[0] if raw_make else ""}
    prefixes.update(_MODEL_PREFIXES.get(brand, ()))
    upper = text.upper()
    for prefix in sorted((p for p in prefixes if p), key=len, reverse=True):
        if upper.startswith(prefix) and len(text) > len(prefix):
            rest = text[len(prefix) :]
            if rest[0] == " ":  # "OM-1" keeps its "OM"
                rest = rest.lstrip(" ")
                if rest:
                    return rest
    return text


def normalise_serial(raw: object, make: str | None = None) -> str | None:
    """One spelling per body serial, or None for a placeholder.

    ``NO= 20025585`` -> ``20025585``; blanks, NULs and trailing ``^``/``_`` go;
    all-digit serials lose leading zeros (Canon writes ``012345678`` in DNG and
    ``12345678`` in JPEG); ``0``, all zeros, ``KFFFFFFF``, empty or byte junk
    give None. ``make`` is accepted for maker-specific rules (none needed yet:
    the generic ones cover the spellings measured in real files).
    """
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, float):
        if not math.isfinite(raw) or raw != int(raw):
            return None
        raw = int(raw)
    if isinstance(raw, int):
        return str(raw) if raw > 0 else None
    if isinstance(raw, str) and re.fullmatch(r"\d{1,3}(?: \d{1,3})+", raw.strip()):
        # exiftool -n prints an int8u[] tag as its byte values ("0 0 106 13 112 15",
        # Sony ILCE-1 InternalSerialNumber): judge the bytes, as for exifread's lists.
        values = [int(v) for v in raw.split()]
        raw = values if max(values) < 256 else raw
    if isinstance(raw, list | tuple):  # exifread values of a BYTE/UNDEFINED tag
        if not all(isinstance(v, int) and 0 <= v < 256 for v in raw):
            return None
        raw = bytes(raw)
    if isinstance(raw, bytes | bytearray):
        raw = bytes(raw).split(b"\0", 1)[0]
        try:
            raw = raw.decode("ascii")
        except UnicodeDecodeError:
            return None
    text = str(raw).split("\0", 1)[0].strip()
    if any(not (32 <= ord(c) < 127) for c in text):
        return None  # byte junk (e.g. Sony ILCE-1) or non-ASCII: not a serial
    text = re.sub(r"^NO\s*=\s*", "", text, flags=re.IGNORECASE)
    text = text.rstrip(" ^_")
    text = " ".join(text.split()).upper()
    if text.isdigit():
        text = text.lstrip("0")
    if text in _PLACEHOLDER_SERIALS or re.fullmatch(r"K?F+", text):
        return None
    return text


# --------------------------------------------------------------------------
# value parsing (never raises: a bad value is None)
# --------------------------------------------------------------------------

_DATE = re.compile(  # XMP may leave out the seconds ("2024-05-06T07:08+02:00")
    r"^\s*(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?"
    r"(?:\.(\d+))?\s*(Z|[+\-]\d{2}:?\d{2})?"
)
_OFFSET = re.compile(r"^\s*([+\-])(\d{2}):?(\d{2})\s*$")


def _parse_offset(text: object) -> timezone | None:
    if text is None:
        return None
    s = _clean_text(text)
    if s == "Z":
        return UTC
    m = _OFFSET.match(s)
    if not m:
        return None
    minutes = int(m.group(2)) * 60 + int(m.group(3))
    if minutes >= 24 * 60:
        return None
    return timezone(timedelta(minutes=-minutes if m.group(1) == "-" else minutes))


def parse_datetime(value: object, subsec: object = None, offset: object = None) -> datetime | None:
    """EXIF "YYYY:MM:DD HH:MM:SS" or XMP "YYYY-MM-DDTHH:MM[:SS]" (+ subseconds, + offset)
    -> datetime, or None.

    Aware when an offset is known (in the value or in OffsetTime*), naive
    otherwise. Blank or zero dates ("0000:00:00 00:00:00") are None.
    """
    if value is None:
        return None
    m = _DATE.match(_clean_text(value))
    if not m:
        return None
    try:
        dt = datetime(*(int(m.group(i) or 0) for i in range(1, 7)))
    except ValueError:
        return None
    digits = m.group(7) or ""
    if not digits and subsec is not None:
        digits = re.sub(r"\D", "", _clean_text(subsec))
    if digits:
        dt = dt.replace(microsecond=int((digits + "000000")[:6]))
    tz = _parse_offset(m.group(8)) if m.group(8) else _parse_offset(offset)
    return dt.replace(tzinfo=tz) if tz else dt


def _numbers(value: object) -> list[float]:
    """All numbers in an exifread value list, exiftool number or text ("0 200", "1/250")."""
    items: Iterable[object] = value if isinstance(value, list | tuple) else [value]
    out: list[float] = []
    for item in items:
        if item is None or isinstance(item, bool):
            continue
        if hasattr(item, "numerator") and hasattr(item, "denominator"):
            den = item.denominator
            if den:
                out.append(float(item.numerator) / float(den))
            continue
        if isinstance(item, int | float):
            out.append(float(item))
            continue
        for tok in re.findall(r"-?\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)?", _clean_text(item)):
            num, _, den = tok.partition("/")
            with contextlib.suppress(ValueError, ZeroDivisionError):
                out.append(float(num) / float(den) if den else float(num))
    return [v for v in out if math.isfinite(v)]


def parse_exposure(value: object) -> float | None:
    """Exposure time in seconds (a ratio, a number or "1/250"), None if not positive."""
    nums = _numbers(value)
    if not nums:
        return None
    if len(nums) == 2 and isinstance(value, str) and "/" not in value and " " in value.strip():
        nums = [nums[0] / nums[1]] if nums[1] else []  # "1 250": a ratio written as two numbers
    return nums[0] if nums and nums[0] > 0 else None


def parse_iso(value: object) -> float | None:
    """ISO; older Nikons give two numbers ("0 200"): take the first non-zero."""
    for v in _numbers(value):
        if v > 0:
            return v
    return None


def _positive_int(value: object) -> int | None:
    nums = _numbers(value)
    if not nums or nums[0] <= 0 or nums[0] != int(nums[0]):
        return None
    return int(nums[0])


def parse_orientation(value: object) -> int:
    """EXIF Orientation 1..8; anything else is 1."""
    n = _positive_int(value)
    return n if n is not None and 1 <= n <= 8 else 1


# --------------------------------------------------------------------------
# file sniffing
# --------------------------------------------------------------------------

_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "jpeg"),
    (0, b"II*\x00", "tiff"),
    (0, b"MM\x00*", "tiff"),
    (0, b"IIRO", "tiff"),  # Olympus ORF
    (0, b"IIRS", "tiff"),
    (0, b"MMOR", "tiff"),
    (0, b"IIU\x00", "tiff"),  # Panasonic RW2
    (0, b"II\x1a\x00\x00\x00HEAPCCDR", "crw"),
    (0, b"IIII", "iiq"),
    (0, b"FUJIFILMCCD-RAW", "raf"),
    (0, b"\x00MRM", "mrw"),
    (0, b"FOVb", "x3f"),
    (4, b"ftyp", "isobmff"),  # HEIC/HEIF/AVIF/CR3
    (0, b"\x89PNG\r\n\x1a\n", "png"),
    (0, b"\xff\x0a", "jxl"),
    (0, b"\x00\x00\x00\x0cJXL ", "jxl"),
)


# Containers in which exifread finds no make/model at all (measured on real files).
_EXIFTOOL_ONLY_FORMATS = frozenset({"crw", "iiq", "raf", "mrw", "x3f", "isobmff"})


def sniff_format(head: bytes) -> str | None:
    """Container format from the first bytes, or None if it is no image we know."""
    for offset, magic, name in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def _jpeg_looks_truncated(fh: BinaryIO) -> bool:
    """A JPEG whose last bytes hold no EOI marker was cut short (copy in progress, damage)."""
    fh.seek(0, 2)
    size = fh.tell()
    fh.seek(max(0, size - 1024))
    return b"\xff\xd9" not in fh.read()


# --------------------------------------------------------------------------
# serial candidates
# --------------------------------------------------------------------------

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
_JPEG_SHIFTED_SEGMENTS = (b"JFIF", b"JFXX", b"OLYM", b"Phot")

_XMP_SERIAL = re.compile(
    rb"(?:aux:SerialNumber|exifEX:BodySerialNumber)"
    rb"(?:\s*=\s*[\"']([^\"']*)[\"']|\s*>([^<]*)<)"
)


@dataclass(frozen=True)
class _Candidate:
    rank: int
    serial: str
    source: str


def _best(cands: Iterable[_Candidate]) -> _Candidate | None:
    return min(cands, key=lambda c: c.rank, default=None)


def _exifread_value(tag: Any) -> object:
    """The raw value of an exifread IfdTag (str for ASCII, else its value list)."""
    values = getattr(tag, "values", tag)
    if isinstance(values, list) and len(values) == 1 and isinstance(values[0], int):
        return values[0]
    return values


def _exifread_serials(tags: Mapping[str, Any], make: str) -> list[_Candidate]:
    out = []
    for key, rank in _EXIFREAD_SERIAL_KEYS:
        if key in tags:
            serial = normalise_serial(_exifread_value(tags[key]), make)
            if serial:
                out.append(_Candidate(rank, serial, f"exifread {key.strip()}"))
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


def _exiftool_serials(meta: Mapping[str, Any], make: str) -> list[_Candidate]:
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
            out.append(_Candidate(rank, serial, f"exiftool {key}"))
    return out


def _read_xmp_packet(fh: BinaryIO, tags: Mapping[str, Any], fmt: str) -> bytes:
    """The XMP packet bytes if cheaply found: in a TIFF-based file, tag 700 of IFD0 (where
    DNG writers and raw converters keep it); else the head of the file, where JPEGs keep
    it (an APP1 segment)."""
    tag = tags.get("Image ApplicationNotes")
    if fmt == "tiff" and tag is not None and getattr(tag, "field_length", 0):
        fh.seek(tag.field_offset)
        return fh.read(min(int(tag.field_length), _XMP_LIMIT))
    if fmt == "tiff":
        packet = _ifd0_blob(fh, 0x02BC)
        if packet:
            return packet
    fh.seek(0)
    return _xmp_only(fh.read(256 << 10))  # JPEG APP segments (XMP's among them) come first


def _xmp_only(data: bytes) -> bytes:
    """The XMP packet in ``data`` (b"" if none): the regular expressions that read it
    then search a few KB, not the whole head of a file."""
    start = data.find(b"<x:xmpmeta")
    if start < 0:
        start = data.find(b"<rdf:RDF")
    if start < 0:
        return b""
    end = data.find(b"</x:xmpmeta>", start)
    return data[start : end + 12] if end >= 0 else data[start:]


_XMP_LIMIT = 4 << 20
_TIFF_UNIT = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}


def _ifd0_blob(fh: BinaryIO, wanted: int) -> bytes:
    """The value bytes of one tag of a TIFF's IFD0 (b"" if absent): a dozen small reads,
    where exifread without maker notes skips the XMP tag (700) altogether."""
    fh.seek(0)
    head = fh.read(8)
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    if order is None or len(head) < 8:
        return b""
    fh.seek(struct.unpack(order + "I", head[4:8])[0])
    raw = fh.read(2)
    if len(raw) < 2:
        return b""
    count = min(struct.unpack(order + "H", raw)[0], 4096)
    table = fh.read(12 * count)
    for i in range(len(table) // 12):
        tag, kind, n, value = struct.unpack_from(order + "HHII", table, 12 * i)
        if tag != wanted:
            continue
        size = n * _TIFF_UNIT.get(kind, 1)
        if size <= 4:
            return table[12 * i + 8 : 12 * i + 8 + size]
        fh.seek(value)
        return fh.read(min(size, _XMP_LIMIT))
    return b""


def _xmp_serials(data: bytes, make: str) -> list[_Candidate]:
    out = []
    for m in _XMP_SERIAL.finditer(data):
        serial = normalise_serial(
            (m.group(1) or m.group(2) or b"").decode("utf-8", "replace"), make
        )
        if serial:
            out.append(_Candidate(XMP, serial, "xmp aux:SerialNumber"))
    return out


# --------------------------------------------------------------------------
# shot facts, wherever the file keeps them
# --------------------------------------------------------------------------

# Where a capture time sits, as exifread names it, best first: the EXIF IFD, or IFD0, as
# pidng (Raspberry Pi cameras) and other DNG writers put it. Each: date, subseconds, offset.
_EXIFREAD_WHEN = (
    (
        ("EXIF DateTimeOriginal", "Image DateTimeOriginal"),
        ("EXIF SubSecTimeOriginal", "Image SubSecTimeOriginal"),
        ("EXIF OffsetTimeOriginal", "Image OffsetTimeOriginal"),
    ),
    (
        ("EXIF DateTimeDigitized", "Image DateTimeDigitized"),
        ("EXIF SubSecTimeDigitized", "Image SubSecTimeDigitized"),
        ("EXIF OffsetTimeDigitized", "Image OffsetTimeDigitized"),
    ),
)
# IFD0 DateTime says when the file was last written: a camera's capture time, but a
# converter's or an editor's own time, so any capture date (XMP's, exiftool's) comes first.
_EXIFREAD_MODIFIED = (
    ("Image DateTime",),
    ("EXIF SubSecTime", "Image SubSecTime"),
    ("EXIF OffsetTime", "Image OffsetTime"),
)
_EXIFREAD_EXPOSURE = ("EXIF ExposureTime", "Image ExposureTime")
# 0x8827 (ISOSpeedRatings, renamed PhotographicSensitivity in EXIF 2.3), then Nikon's
# maker-note ISOSetting (when the maker-note pass ran)
_EXIFREAD_ISO = ("EXIF ISOSpeedRatings", "Image ISOSpeedRatings", "MakerNote ISOSetting")
_EXIFREAD_ISO_WIDE = (  # where the real value sits when 0x8827 overflowed (>= 65535)
    "EXIF ISOSpeed",
    "Image ISOSpeed",
    "EXIF RecommendedExposureIndex",
    "Image RecommendedExposureIndex",
)
# The same facts in an XMP packet (editor exports, raw converters, some DNG writers).
_XMP_WHEN = ("exif:DateTimeOriginal", "photoshop:DateCreated", "xmp:CreateDate")
_XMP_EXPOSURE = ("exif:ExposureTime",)
_XMP_ISO = (
    "exifEX:PhotographicSensitivity",
    "exif:ISOSpeedRatings",
    "exifEX:ISOSpeed",
    "exifEX:RecommendedExposureIndex",
)
#: exiftool tags that date a shot, for a reading of the date alone
_EXIFTOOL_DATE_TAGS = (
    "DateTimeOriginal",
    "CreateDate",
    "ModifyDate",
    "SubSecTimeOriginal",
    "SubSecTimeDigitized",
    "SubSecTime",
    "OffsetTimeOriginal",
    "OffsetTimeDigitized",
    "OffsetTime",
)


def _first(source: Mapping[str, Any], keys: Iterable[str]) -> object:
    for key in keys:
        if key in source:
            return _exifread_value(source[key])
    return None


def _exifread_time(tags: Mapping[str, Any], where: Iterable[tuple[str, ...]]) -> datetime | None:
    for dates, subsecs, offsets in where:  # type: ignore[misc]
        taken = parse_datetime(_first(tags, dates), _first(tags, subsecs), _first(tags, offsets))
        if taken is not None:
            return taken
    return None


def _shot_from_exifread(tags: Mapping[str, Any]) -> dict[str, Any]:
    """Shot facts from exifread tags, in the EXIF IFD or IFD0; missing or bad values are None.

    ``taken_at`` is a capture date; ``modified`` IFD0's DateTime, the last resort.
    """
    facts: dict[str, Any] = {
        "taken_at": _exifread_time(tags, _EXIFREAD_WHEN),
        "modified": _exifread_time(tags, [_EXIFREAD_MODIFIED]),
    }
    facts["exposure"] = parse_exposure(_first(tags, _EXIFREAD_EXPOSURE))
    iso = parse_iso(_first(tags, _EXIFREAD_ISO))
    if iso is None or iso >= 65535:  # 16-bit overflow: the real value is elsewhere
        iso = parse_iso(_first(tags, _EXIFREAD_ISO_WIDE)) or iso
    facts["iso"] = iso
    if "Image Orientation" in tags:
        facts["orientation"] = parse_orientation(_first(tags, ["Image Orientation"]))
    width = _positive_int(_first(tags, ["EXIF ExifImageWidth"]))
    height = _positive_int(_first(tags, ["EXIF ExifImageLength"]))
    if width is None or height is None:
        reduced = _positive_int(_first(tags, ["Image NewSubfileType"])) or 0
        if not reduced & 1:  # IFD0 of a DNG is often a preview: only trust a full image
            width = _positive_int(_first(tags, ["Image ImageWidth"]))
            height = _positive_int(_first(tags, ["Image ImageLength"]))
    facts["width"], facts["height"] = (width, height) if width and height else (None, None)
    return facts


@functools.cache
def _xmp_pattern(name: str) -> re.Pattern[bytes]:
    """An XMP property as an attribute (``exif:ExposureTime="1/250"``) or an element
    (``<exif:ISOSpeedRatings><rdf:Seq><rdf:li>400</rdf:li>...``)."""
    n = re.escape(name.encode())
    return re.compile(
        rb"[\s<]"
        + n
        + rb"\s*=\s*(?:\"([^\"]*)\"|'([^']*)')|<"
        + n
        + rb"\s*>(.*?)</"
        + n
        + rb"\s*>",
        re.S,
    )


def _xmp_value(packet: bytes, names: Iterable[str]) -> str | None:
    """The text of the first of ``names`` present in an XMP packet (markup stripped)."""
    for name in names:
        m = _xmp_pattern(name).search(packet)
        if m:
            raw = m.group(1) or m.group(2) or re.sub(rb"<[^>]*>", b" ", m.group(3) or b"")
            text = raw.decode("utf-8", "replace").strip()
            if text:
                return text
    return None


def _shot_from_xmp(packet: bytes) -> dict[str, Any]:
    """Capture date, exposure and ISO from an XMP packet (None where it has none)."""
    iso = None
    for name in _XMP_ISO:
        iso = parse_iso(_xmp_value(packet, [name]))
        if iso is not None and iso < 65535:
            break
    return {
        "taken_at": parse_datetime(_xmp_value(packet, _XMP_WHEN)),
        "exposure": parse_exposure(_xmp_value(packet, _XMP_EXPOSURE)),
        "iso": iso,
    }


def _fill(facts: dict[str, Any], more: Mapping[str, Any]) -> dict[str, Any]:
    """``facts`` with its gaps (None) filled from ``more``."""
    for name, value in more.items():
        if facts.get(name) is None and value is not None:
            facts[name] = value
    return facts


def _lacks(facts: Mapping[str, Any]) -> list[str]:
    """The shot facts worth asking another reader for: capture date, exposure, ISO."""
    return [name for name in ("taken_at", "exposure", "iso") if facts.get(name) is None]


def _pick(meta: Mapping[str, Any], name: str) -> object:
    """exiftool value of a tag by name, preferring the EXIF groups over maker notes."""
    found = [
        (k.rpartition(":")[0], v)
        for k, v in meta.items()
        if k.rpartition(":")[2].partition("#")[0] == name
    ]
    for group in ("ExifIFD", "IFD0"):
        for g, v in found:
            if g == group:
                return v
    return found[0][1] if found else None


def _shot_from_exiftool(meta: Mapping[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = {"taken_at": None}
    for date, sub, off in (
        ("DateTimeOriginal", "SubSecTimeOriginal", "OffsetTimeOriginal"),
        ("CreateDate", "SubSecTimeDigitized", "OffsetTimeDigitized"),
    ):
        taken = parse_datetime(_pick(meta, date), _pick(meta, sub), _pick(meta, off))
        if taken is not None:
            facts["taken_at"] = taken
            break
    facts["modified"] = parse_datetime(
        _pick(meta, "ModifyDate"), _pick(meta, "SubSecTime"), _pick(meta, "OffsetTime")
    )
    facts["exposure"] = parse_exposure(_pick(meta, "ExposureTime"))
    facts["iso"] = parse_iso(_pick(meta, "ISO")) or parse_iso(
        _pick(meta, "PhotographicSensitivity")
    )
    if _pick(meta, "Orientation") is not None:
        facts["orientation"] = parse_orientation(_pick(meta, "Orientation"))
    width = _positive_int(_pick(meta, "ExifImageWidth"))
    height = _positive_int(_pick(meta, "ExifImageHeight"))
    if width and height:
        facts["width"], facts["height"] = width, height
    return facts


def _when(primary: Mapping[str, Any], fallback: Mapping[str, Any]) -> datetime | None:
    """The capture time: a capture date from the file's own tags (EXIF IFD, IFD0, XMP),
    else exiftool's (maker notes, formats exifread cannot read), else when the file was
    last written (IFD0 DateTime), else None: the file keeps no date."""
    for facts, name in (
        (primary, "taken_at"),
        (fallback, "taken_at"),
        (primary, "modified"),
        (fallback, "modified"),
    ):
        if facts.get(name) is not None:
            return facts[name]
    return None


def _merge(primary: Mapping[str, Any], fallback: Mapping[str, Any]) -> ShotInfo:
    """ShotInfo from exifread's (and XMP's) facts, gaps filled from exiftool's."""

    def get(name: str) -> Any:
        value = primary.get(name)
        return fallback.get(name) if value is None else value

    width, height = get("width"), get("height")
    if primary.get("width") is None and fallback.get("width") is not None:
        width, height = fallback["width"], fallback["height"]
    return ShotInfo(
        taken_at=_when(primary, fallback),
        exposure=get("exposure"),
        iso=get("iso"),
        orientation=int(get("orientation") or 1),
        width=width,
        height=height,
    )


# --------------------------------------------------------------------------
# the public entry points
# --------------------------------------------------------------------------


# Brands whose maker note exifread decodes correctly and with a serial in it.
# Others are not decoded at all: exifread finds no serial there, and it reads
# Sony's "SONY DSC " and new Olympus' "OLYMPUS\0II" headers as an IFD with
# ~20,000 junk entries (30 ms a file). Old Olympus notes (0x0404, early-2000s
# compacts) would work but cannot be told apart cheaply: exiftool reads them.
_EXIFREAD_MAKER_NOTE_BRANDS = frozenset({"NIKON", "CANON", "FUJIFILM"})


def _run_exifread(fh: BinaryIO, details: bool) -> tuple[dict[str, Any], Exception | None]:
    """exifread's tags (thumbnails skipped; maker notes if ``details``) and its error."""
    fh.seek(0)
    try:
        tags = exifread.process_file(fh, details=details, extract_thumbnail=False, strict=False)
        return dict(tags), None
    except Exception as err:  # exifread raises anything on damaged files
        return {}, err


def _tag_text(tags: Mapping[str, Any], key: str) -> str:
    value = tags.get(key)
    return _clean_text(_exifread_value(value)) if value is not None else ""


@dataclass
class _Reading:
    """What the file's own bytes say (exifread, XMP), before exiftool is asked."""

    fmt: str | None
    tags: dict[str, Any]
    error: Exception | None
    make: str
    model: str
    cands: list[_Candidate]
    facts: dict[str, Any]
    truncated: bool = False  #: a JPEG without its end marker (only looked at when unnamed)


def _read_own(fh: BinaryIO, path: Path) -> _Reading:
    """exifread first, without maker notes (~0.2 ms); a second pass decodes the maker
    note only for NIKON, CANON and FUJIFILM files that have no EXIF/DNG serial or lack a
    shot fact (Nikon keeps the ISO there too); then an XMP packet, when that leaves no
    serial or a shot fact missing."""
    head = fh.read(32)
    if not head:
        raise UnreadableFile(f"{path.name}: empty file (0 bytes)")
    fmt = sniff_format(head)
    tags: dict[str, Any] = {}
    error: Exception | None = None
    if fmt is not None:
        tags, error = _run_exifread(fh, details=False)
    make = _tag_text(tags, "Image Make")
    model = _tag_text(tags, "Image Model")
    cands = _exifread_serials(tags, make)
    facts = _shot_from_exifread(tags)
    brand = normalise_make(make) if make else ""
    if (not cands or _lacks(facts)) and error is None and brand in _EXIFREAD_MAKER_NOTE_BRANDS:
        tags, error = _run_exifread(fh, details=True)  # decode the maker note
        cands = _exifread_serials(tags, make)
        facts = _shot_from_exifread(tags)
    if fmt == "jpeg" and "NIKON" in make.upper() and head[6:10] in _JPEG_SHIFTED_SEGMENTS:
        cands = [c for c in cands if c.rank < MAKER]
    if fmt is not None and make and (not cands or _lacks(facts)):
        packet = _read_xmp_packet(fh, tags, fmt)
        if not cands:
            cands = _xmp_serials(packet, make)
        if _lacks(facts):
            _fill(facts, _shot_from_xmp(packet))
    truncated = fmt == "jpeg" and not (make and model) and _jpeg_looks_truncated(fh)
    return _Reading(fmt, tags, error, make, model, cands, facts, truncated)


def _read_guarded(path: Path, read: Callable[[BinaryIO], Any]) -> Any:
    """``read(fh)`` on the file under :mod:`hotwatch.io.guarded` (no hang, regular files only)."""
    try:
        return guarded.with_file(path, read)
    except OSError as err:
        raise UnreadableFile(f"cannot open {path.name}: {err.strerror or err}") from err


def read_camera_file(
    path: Path, exiftool: ExifTool | None = None, *, data: bytes | bytearray | None = None
) -> CameraFile:
    """The body (make, model, serial) and shot facts of one image file.

    ``data`` is the file's content when the caller has read it already (the ingest
    reads each photo once); otherwise only the parts the readers need are read, under
    guard (:mod:`hotwatch.io.guarded`). exifread first (see ``_read_own``), then exiftool
    (if given) when that leaves no make, no model or no serial ranked above
    InternalSerialNumber, or no capture date, exposure or ISO: the best-ranked serial of
    both readers wins, and exiftool fills the shot facts the file's own tags lack. A
    file with no capture date anywhere has ``shot.taken_at`` None (see
    :func:`hotwatch.core.dating.frame_time` for the time it counts at). Raises
    UnsupportedFile when the file is no image or has no camera make/model (a scan, a
    screenshot, an export that dropped EXIF), UnreadableFile when it is empty or cannot be
    parsed (truncated, damaged).
    """
    path = Path(path)
    if data is not None:
        own = _read_own(guarded.MemoryFile(data), path)
    else:
        own = _read_guarded(path, lambda fh: _read_own(fh, path))
    make, model, best = own.make, own.model, _best(own.cands)
    meta: dict[str, Any] = {}
    exiftool_error: str | None = None
    need_exiftool = (
        not make or not model or best is None or best.rank >= INTERNAL or bool(_lacks(own.facts))
    )
    if exiftool is not None and need_exiftool:
        try:
            meta = exiftool.read(path)
        except ExifToolError as err:
            exiftool_error = str(err)
            log.warning("exiftool failed on %s: %s", path, err)
        exiftool_error = exiftool_error or _clean_text(meta.get("ExifTool:Error") or "") or None
        make = make or _clean_text(_pick(meta, "Make") or "")
        model = model or _clean_text(_pick(meta, "Model") or "")
        best = _best([*own.cands, *_exiftool_serials(meta, make)])

    if not make or not model:
        fmt = own.fmt
        if fmt is None:
            raise UnsupportedFile(f"{path.name}: not an image (unrecognised file format)")
        damaged = (
            own.error is not None
            or (exiftool is not None and exiftool_error is not None)
            or own.truncated
            or (fmt == "tiff" and not own.tags)  # a TIFF always has an IFD0 with tags
        )
        if damaged:
            why = own.error or exiftool_error or "truncated"
            raise UnreadableFile(f"{path.name}: cannot parse metadata ({why})")
        if exiftool is None and fmt in _EXIFTOOL_ONLY_FORMATS:
            raise UnsupportedFile(
                f"{path.name}: no camera make/model ({fmt} needs exiftool, not found)"
            )
        raise UnsupportedFile(f"{path.name}: no camera make/model in EXIF")

    brand = normalise_make(make, model)
    body = BodyId(
        make=brand,
        model=normalise_model(make, model),
        serial=best.serial if best else None,
    )
    shot = _merge(own.facts, _shot_from_exiftool(meta) if meta else {})
    log.debug("%s: %s (serial from %s)", path.name, body.label, best.source if best else "-")
    if shot.taken_at is None:
        log.debug("%s: no capture date in any tag", path.name)
    return CameraFile(body=body, shot=shot)


def _read_date(fh: BinaryIO) -> dict[str, Any]:
    """The dates of a file from its own tags (EXIF IFD, IFD0, XMP), nothing else."""
    fmt = sniff_format(fh.read(32))
    if fmt is None:
        return {}
    tags, _ = _run_exifread(fh, details=False)
    facts = _shot_from_exifread(tags)
    if facts["taken_at"] is None:
        facts["taken_at"] = _shot_from_xmp(_read_xmp_packet(fh, tags, fmt))["taken_at"]
    return facts


def capture_time(path: Path, exiftool: ExifTool | None = None) -> datetime | None:
    """When a photo was taken, as :func:`read_camera_file` reads it (the same tags, in the
    same order: EXIF IFD or IFD0, XMP, exiftool if given, IFD0 DateTime), or None when the
    file keeps no date or cannot be read. Cheap (no maker notes, no body serial): for
    putting files in capture order before they are read."""
    path = Path(path)
    try:
        own = guarded.with_file(path, _read_date)
    except (OSError, HotwatchError):
        return None
    more: dict[str, Any] = {}
    if own.get("taken_at") is None and exiftool is not None:
        with contextlib.suppress(ExifToolError):
            more = _shot_from_exiftool(exiftool.read(path, _EXIFTOOL_DATE_TAGS))
    return _when(own, more)


def capture_order(path: Path, exiftool: ExifTool | None = None) -> float:
    """A photo's place in capture order: its capture time, as
    :func:`hotwatch.core.dating.frame_time` counts it.

    A file that keeps no date takes its place by its modification time (the camera's
    write time, when a card import kept it): a place in the order only, never a date;
    the time it counts at is ``frame_time``'s.
    """
    taken = capture_time(path, exiftool)
    if taken is not None:
        return frame_time(taken, None)
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def written_make(path: Path) -> str | None:
    """The EXIF make exactly as the file writes it ("NIKON CORPORATION"), None if absent or
    unreadable: RawTherapee matches its file names on this spelling."""

    def read(fh: BinaryIO) -> str:
        if sniff_format(fh.read(32)) is None:
            return ""
        tags, _ = _run_exifread(fh, details=False)
        return _tag_text(tags, "Image Make")

    try:
        return guarded.with_file(path, read) or None
    except (OSError, HotwatchError):
        return None
