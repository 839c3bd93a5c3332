"""Plain helpers of the catalogue's queries: datetimes as stored, payloads, names, scores."""

from __future__ import annotations

import math
import sqlite3
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from hotwatch.core.errors import DamagedState
from hotwatch.io.exif.names import normalise_serial

from ..rows import (
    BodyRow,
    from_iso,
)

ACTIVE = "active"

DEFAULT_TIMEOUT = 15.0  # seconds a writer waits for another writer's lock

# SQLite primary result codes that mean the file itself is bad, not busy.
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _comparable(a: datetime, b: datetime) -> tuple[datetime, datetime]:
    """Naive and aware datetimes cannot be compared: fall back to wall-clock time."""
    if (a.tzinfo is None) != (b.tzinfo is None):
        return a.replace(tzinfo=None), b.replace(tzinfo=None)
    return a, b


def earliest(stored: str | None, new: datetime | None) -> str | None:
    old = from_iso(stored)
    if new is None or old is None:
        return iso(new if old is None else old)
    a, b = _comparable(old, new)
    return iso(new if b < a else old)


def latest(stored: str | None, new: datetime | None) -> str | None:
    old = from_iso(stored)
    if new is None or old is None:
        return iso(new if old is None else old)
    a, b = _comparable(old, new)
    return iso(new if b > a else old)


def json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in an event payload")


def folded(text: str) -> str:
    """Case- and space-insensitive form used to match body names; '#' is ignored."""
    return " ".join(text.replace("#", " ").casefold().split())


def is_damage(error: sqlite3.DatabaseError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(error)
    return "malformed" in text or "not a database" in text


def damaged(path: Path, detail: str) -> DamagedState:
    return DamagedState(
        f"catalogue {path} is damaged ({detail}); it was left untouched. "
        "Move it aside to start a new one (the accumulators are kept)."
    )


def stored_value(member: Enum | str | None) -> str | None:
    if member is None:
        return None
    return member.value if isinstance(member, Enum) else str(member)


def finite_score(score: float) -> float:
    value = float(score)
    if not math.isfinite(value):
        # SQLite would store NaN as NULL and fail the NOT NULL constraint obscurely.
        raise ValueError(f"score must be finite, got {score!r}")
    return value


def body_names(body: BodyRow) -> set[str]:
    serials = {body.serial or "", body.shown or ""}
    return {
        folded(f"{prefix}{serial}")
        for serial in serials
        for prefix in (f"{body.make} {body.model} ", f"{body.model} ")
    }


def same_serial(body: BodyRow, query: str) -> bool:
    """``query`` names this body's serial in one of its spellings: the key, the camera's,
    or one that normalises to either (``0830512345`` = ``830512345``)."""
    if body.serial is None or not query:
        return False
    spellings = {body.serial, body.shown or body.serial}
    folded = {s.casefold() for s in spellings}
    keys = {normalise_serial(s) for s in spellings}
    return query.casefold() in folded or normalise_serial(query) in keys
