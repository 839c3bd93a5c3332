"""XMP packets: where a file keeps one (a TIFF's IFD0 tag 700, a JPEG's APP1 segment), and
the serial, capture date, exposure and ISO editors and raw converters write there."""

from __future__ import annotations

import functools
import re
import struct
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO

from .names import normalise_serial
from .serials import XMP, Candidate
from .shot import FROM
from .values import parse_datetime, parse_exposure, parse_iso

_XMP_SERIAL = re.compile(
    rb"(?:aux:SerialNumber|exifEX:BodySerialNumber)"
    rb"(?:\s*=\s*[\"']([^\"']*)[\"']|\s*>([^<]*)<)"
)


def read_xmp_packet(fh: BinaryIO, tags: Mapping[str, Any], fmt: str) -> bytes:
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


def xmp_serials(data: bytes, make: str) -> list[Candidate]:
    out = []
    for m in _XMP_SERIAL.finditer(data):
        text = (m.group(1) or m.group(2) or b"").decode("utf-8", "replace")
        serial = normalise_serial(text, make)
        if serial:
            out.append(Candidate(XMP, serial, "xmp aux:SerialNumber", text))
    return out


# The same facts in an XMP packet (editor exports, raw converters, some DNG writers).
_XMP_WHEN = ("exif:DateTimeOriginal", "photoshop:DateCreated", "xmp:CreateDate")


_XMP_EXPOSURE = ("exif:ExposureTime",)


_XMP_ISO = (
    "exifEX:PhotographicSensitivity",
    "exif:ISOSpeedRatings",
    "exifEX:ISOSpeed",
    "exifEX:RecommendedExposureIndex",
)


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


def _xmp_name(packet: bytes, names: Iterable[str]) -> str | None:
    """The first of ``names`` that holds a value in the packet."""
    return next((name for name in names if _xmp_value(packet, [name]) is not None), None)


def shot_from_xmp(packet: bytes) -> dict[str, Any]:
    """Capture date, exposure and ISO from an XMP packet (None where it has none), with
    the property each was read from (``FROM``)."""
    iso, iso_name = None, None
    for name in _XMP_ISO:
        iso, iso_name = parse_iso(_xmp_value(packet, [name])), name
        if iso is not None and iso < 65535:
            break
    facts: dict[str, Any] = {
        "taken_at": parse_datetime(_xmp_value(packet, _XMP_WHEN)),
        "exposure": parse_exposure(_xmp_value(packet, _XMP_EXPOSURE)),
        "iso": iso,
    }
    names = {
        "taken_at": _xmp_name(packet, _XMP_WHEN),
        "exposure": _xmp_name(packet, _XMP_EXPOSURE),
        "iso": iso_name,
    }
    facts[FROM] = {k: f"xmp {v}" for k, v in names.items() if v and facts[k] is not None}
    return facts
