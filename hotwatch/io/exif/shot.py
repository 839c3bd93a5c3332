"""The shot facts (capture time, exposure, ISO, orientation, size), wherever a file keeps
them: the EXIF IFD or IFD0 (as exifread names them), exiftool's groups, XMP; and how the
readers' facts are merged, the file's own tags first."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from hotwatch.core.model import ShotInfo

from .values import (
    exifread_value,
    parse_datetime,
    parse_exposure,
    parse_iso,
    parse_orientation,
    positive_int,
)

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


#: the key of a facts dict that says where each fact was read (fact name -> reader and tag,
#: "exifread EXIF ExposureTime", "exiftool ExifIFD:ISO", "xmp exif:DateTimeOriginal");
#: ``fill`` carries it along with the facts it fills
FROM = "from"


def _first_key(source: Mapping[str, Any], keys: Iterable[str]) -> str | None:
    return next((key for key in keys if key in source), None)


def _first(source: Mapping[str, Any], keys: Iterable[str]) -> object:
    key = _first_key(source, keys)
    return None if key is None else exifread_value(source[key])


def _exifread_label(key: str) -> str:
    """Where exifread found a tag: its maker-note decoding, or the file's EXIF/TIFF tags."""
    reader = "maker note (exifread)" if key.startswith("MakerNote") else "exifread"
    return f"{reader} {key}"


def _exifread_time(
    tags: Mapping[str, Any], where: Iterable[tuple[str, ...]]
) -> tuple[datetime | None, str | None]:
    for dates, subsecs, offsets in where:  # type: ignore[misc]
        taken = parse_datetime(_first(tags, dates), _first(tags, subsecs), _first(tags, offsets))
        if taken is not None:
            return taken, _first_key(tags, dates)
    return None, None


def shot_from_exifread(tags: Mapping[str, Any]) -> dict[str, Any]:
    """Shot facts from exifread tags, in the EXIF IFD or IFD0; missing or bad values are None.

    ``taken_at`` is a capture date; ``modified`` IFD0's DateTime, the last resort. ``FROM``
    says which tag gave each fact found.
    """
    found: dict[str, str | None] = {}
    taken, found["taken_at"] = _exifread_time(tags, _EXIFREAD_WHEN)
    modified, found["modified"] = _exifread_time(tags, [_EXIFREAD_MODIFIED])
    facts: dict[str, Any] = {"taken_at": taken, "modified": modified}
    facts["exposure"] = parse_exposure(_first(tags, _EXIFREAD_EXPOSURE))
    found["exposure"] = _first_key(tags, _EXIFREAD_EXPOSURE)
    iso = parse_iso(_first(tags, _EXIFREAD_ISO))
    found["iso"] = _first_key(tags, _EXIFREAD_ISO)
    if iso is None or iso >= 65535:  # 16-bit overflow: the real value is elsewhere
        wide = parse_iso(_first(tags, _EXIFREAD_ISO_WIDE))
        if wide:
            iso, found["iso"] = wide, _first_key(tags, _EXIFREAD_ISO_WIDE)
    facts["iso"] = iso
    if "Image Orientation" in tags:
        facts["orientation"] = parse_orientation(_first(tags, ["Image Orientation"]))
    width = positive_int(_first(tags, ["EXIF ExifImageWidth"]))
    height = positive_int(_first(tags, ["EXIF ExifImageLength"]))
    if width is None or height is None:
        reduced = positive_int(_first(tags, ["Image NewSubfileType"])) or 0
        if not reduced & 1:  # IFD0 of a DNG is often a preview: only trust a full image
            width = positive_int(_first(tags, ["Image ImageWidth"]))
            height = positive_int(_first(tags, ["Image ImageLength"]))
    facts["width"], facts["height"] = (width, height) if width and height else (None, None)
    facts[FROM] = {
        name: _exifread_label(key)
        for name, key in found.items()
        if key is not None and facts.get(name) is not None
    }
    return facts


def fill(facts: dict[str, Any], more: Mapping[str, Any]) -> dict[str, Any]:
    """``facts`` with its gaps (None) filled from ``more``, and where each filling came from."""
    where = facts.setdefault(FROM, {})
    for name, value in more.items():
        if name != FROM and facts.get(name) is None and value is not None:
            facts[name] = value
            if name in more.get(FROM, {}):
                where[name] = more[FROM][name]
    return facts


def lacks(facts: Mapping[str, Any]) -> list[str]:
    """The shot facts worth asking another reader for: capture date, exposure, ISO."""
    return [name for name in ("taken_at", "exposure", "iso") if facts.get(name) is None]


def pick_key(meta: Mapping[str, Any], name: str) -> str | None:
    """The exiftool key ("ExifIFD:ISO") of a tag by name, preferring the EXIF groups over
    maker notes; None when absent."""
    found = [k for k in meta if k.rpartition(":")[2].partition("#")[0] == name]
    for group in ("ExifIFD", "IFD0"):
        for key in found:
            if key.rpartition(":")[0] == group:
                return key
    return found[0] if found else None


def pick(meta: Mapping[str, Any], name: str) -> object:
    """exiftool value of a tag by name, preferring the EXIF groups over maker notes."""
    key = pick_key(meta, name)
    return None if key is None else meta[key]


def shot_from_exiftool(meta: Mapping[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = {"taken_at": None}
    found: dict[str, str | None] = {}
    for date, sub, off in (
        ("DateTimeOriginal", "SubSecTimeOriginal", "OffsetTimeOriginal"),
        ("CreateDate", "SubSecTimeDigitized", "OffsetTimeDigitized"),
    ):
        taken = parse_datetime(pick(meta, date), pick(meta, sub), pick(meta, off))
        if taken is not None:
            facts["taken_at"], found["taken_at"] = taken, pick_key(meta, date)
            break
    facts["modified"] = parse_datetime(
        pick(meta, "ModifyDate"), pick(meta, "SubSecTime"), pick(meta, "OffsetTime")
    )
    found["modified"] = pick_key(meta, "ModifyDate")
    facts["exposure"] = parse_exposure(pick(meta, "ExposureTime"))
    found["exposure"] = pick_key(meta, "ExposureTime")
    iso_name = "ISO" if parse_iso(pick(meta, "ISO")) else "PhotographicSensitivity"
    facts["iso"] = parse_iso(pick(meta, iso_name))
    found["iso"] = pick_key(meta, iso_name)
    if pick(meta, "Orientation") is not None:
        facts["orientation"] = parse_orientation(pick(meta, "Orientation"))
    width = positive_int(pick(meta, "ExifImageWidth"))
    height = positive_int(pick(meta, "ExifImageHeight"))
    if width and height:
        facts["width"], facts["height"] = width, height
    facts[FROM] = {
        name: f"exiftool {key}"
        for name, key in found.items()
        if key is not None and facts.get(name) is not None
    }
    return facts


def _dated(
    primary: Mapping[str, Any], fallback: Mapping[str, Any]
) -> tuple[Mapping[str, Any], str] | None:
    """Which facts give the capture time, and under which name: a capture date from the
    file's own tags (EXIF IFD, IFD0, XMP), else exiftool's (maker notes, formats exifread
    cannot read), else when the file was last written (IFD0 DateTime), else None: the file
    keeps no date."""
    for name in ("taken_at", "modified"):
        for facts in (primary, fallback):
            if facts.get(name) is not None:
                return facts, name
    return None


def when(primary: Mapping[str, Any], fallback: Mapping[str, Any]) -> datetime | None:
    """The capture time (see :func:`_dated` for which)."""
    found = _dated(primary, fallback)
    return None if found is None else found[0][found[1]]


def merge(primary: Mapping[str, Any], fallback: Mapping[str, Any]) -> ShotInfo:
    """ShotInfo from exifread's (and XMP's) facts, gaps filled from exiftool's."""

    def get(name: str) -> Any:
        value = primary.get(name)
        return fallback.get(name) if value is None else value

    width, height = get("width"), get("height")
    if primary.get("width") is None and fallback.get("width") is not None:
        width, height = fallback["width"], fallback["height"]
    return ShotInfo(
        taken_at=when(primary, fallback),
        exposure=get("exposure"),
        iso=get("iso"),
        orientation=int(get("orientation") or 1),
        width=width,
        height=height,
    )


def sources(primary: Mapping[str, Any], fallback: Mapping[str, Any]) -> dict[str, str]:
    """Where :func:`merge` took each of the capture time, exposure and ISO from (absent: found
    nowhere). A capture time that is only the file's last write (IFD0 DateTime) says so."""
    out: dict[str, str] = {}
    found = _dated(primary, fallback)
    if found is not None:
        facts, name = found
        where = facts.get(FROM, {}).get(name, "?")
        out["taken_at"] = where if name == "taken_at" else f"{where} (when last written)"
    for name in ("exposure", "iso"):
        for facts in (primary, fallback):
            if facts.get(name) is not None:
                out[name] = facts.get(FROM, {}).get(name, "?")
                break
    return out
