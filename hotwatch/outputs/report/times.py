"""The report's reading of times: ordering, days and calendar months.

Everything the catalogue stores is a timezone-aware capture time; a naive one is taken as
UTC so that ordering never fails.
"""

from __future__ import annotations

from datetime import UTC, datetime


def ts(value: datetime) -> float:
    """Seconds for ordering; a naive time is taken as UTC (hotwatch stores aware ones)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def day(value: datetime | None) -> str:
    return value.date().isoformat() if value is not None else "unknown"


def month_key(value: datetime) -> str:
    return f"{value.year:04d}-{value.month:02d}"


def month_range(first: str, last: str) -> list[str]:
    y, m = int(first[:4]), int(first[5:7])
    out = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def month_start(key: str) -> float:
    return datetime(int(key[:4]), int(key[5:7]), 1, tzinfo=UTC).timestamp()


def month_end(key: str) -> float:
    y, m = int(key[:4]), int(key[5:7])
    y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return datetime(y, m, 1, tzinfo=UTC).timestamp()
