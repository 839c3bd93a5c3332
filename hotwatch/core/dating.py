"""When a frame counts, and which of an accumulator's times are known dates.

Why a module of its own: a photo that keeps no capture date anywhere must date nothing, in
every layer (the ingest that counts it, the EXIF reader that orders it, the catalogue and
report that mark it, the darktable bridge that heals it). The rule is stated once, here.
"""

from __future__ import annotations

from datetime import UTC, datetime

#: The time (Unix seconds) a frame counts at when neither it nor anything its accumulator
#: absorbed before it is dated. Whatever it dates (an onset, a confirmation) is unknown.
UNDATED = 1.0


def frame_time(taken_at: datetime | None, latest: float | None) -> float:
    """The time a frame counts at in its accumulator (an onset is the time of a frame).

    A dated frame counts at its capture time. A frame that keeps no date anywhere (see
    :func:`hotwatch.io.exif.read_camera_file`) takes no time of its own: not its file's
    modification time, which after a copy is "today" and would make every defect it shows
    look new, but ``latest``, the latest time its accumulator absorbed before it. An onset
    it supports is then never later than real dated evidence. With nothing dated before it,
    it counts at ``UNDATED``, which dates nothing: :func:`known_time` says "unknown", and
    an unknown onset repairs a pixel in every photo (dcraw's map, darktable).

    This is the one place that rule lives.
    """
    if taken_at is not None:
        return taken_at.timestamp()
    return max(UNDATED, latest) if latest is not None else UNDATED


def known_time(value: float | datetime | None) -> datetime | None:
    """A time an accumulator holds (Unix seconds or a datetime), None when it is unknown:
    absent, or no later than ``UNDATED`` (it came from frames that keep no date)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.timestamp() > UNDATED else None
    return datetime.fromtimestamp(value, UTC) if value > UNDATED else None
