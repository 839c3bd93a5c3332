"""Reading tag values, whoever read them (exifread's value lists, exiftool's numbers, XMP
text): dates with their subseconds and offsets, exposure, ISO, orientation. Nothing here
raises: a value that cannot be read is None."""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any


def clean_text(value: object) -> str:
    """Text up to the first NUL, with runs of blanks collapsed."""
    if isinstance(value, bytes | bytearray):
        value = bytes(value).split(b"\0", 1)[0].decode("utf-8", errors="replace")
    text = str(value).split("\0", 1)[0]
    return " ".join(text.split())


_DATE = re.compile(  # XMP may leave out the seconds ("2024-05-06T07:08+02:00")
    r"^\s*(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?"
    r"(?:\.(\d+))?\s*(Z|[+\-]\d{2}:?\d{2})?"
)


_OFFSET = re.compile(r"^\s*([+\-])(\d{2}):?(\d{2})\s*$")


def _parse_offset(text: object) -> timezone | None:
    if text is None:
        return None
    s = clean_text(text)
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
    m = _DATE.match(clean_text(value))
    if not m:
        return None
    try:
        dt = datetime(*(int(m.group(i) or 0) for i in range(1, 7)))
    except ValueError:
        return None
    digits = m.group(7) or ""
    if not digits and subsec is not None:
        digits = re.sub(r"\D", "", clean_text(subsec))
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
        for tok in re.findall(r"-?\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)?", clean_text(item)):
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


def positive_int(value: object) -> int | None:
    nums = _numbers(value)
    if not nums or nums[0] <= 0 or nums[0] != int(nums[0]):
        return None
    return int(nums[0])


def parse_orientation(value: object) -> int:
    """EXIF Orientation 1..8; anything else is 1."""
    n = positive_int(value)
    return n if n is not None and 1 <= n <= 8 else 1


def exifread_value(tag: Any) -> object:
    """The raw value of an exifread IfdTag (str for ASCII, else its value list)."""
    values = getattr(tag, "values", tag)
    if isinstance(values, list) and len(values) == 1 and isinstance(values[0], int):
        return values[0]
    return values
