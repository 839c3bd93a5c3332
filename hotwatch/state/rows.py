"""The catalogue's rows as frozen dataclasses, and their reading from SQLite rows.

Datetimes are stored as ISO 8601 text (``datetime.isoformat()``), which keeps the UTC
offset of aware values; these are read back here, and only here.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from hotwatch.core import events
from hotwatch.core.frame_map import FrameMap
from hotwatch.core.model import AccumulatorKey, BodyId, Defect, DefectKind, FileStatus, FrameKind


@dataclass(frozen=True)
class FileRow:
    """One file seen in a watched folder, and what became of it."""

    path: str
    size: int
    mtime_ns: int
    digest: str | None  #: XXH3-128 hex (SHA-256 in rows from before schema 2)
    status: FileStatus
    reason: str
    body_key: str | None
    acc_slug: str | None
    kind: FrameKind | None
    taken_at: datetime | None
    first_seen: datetime
    last_seen: datetime
    #: an ingested photo that keeps no capture date anywhere: it dates no defect
    undated: bool = False


@dataclass(frozen=True)
class BodyRow:
    """A camera body and how many frames of it were counted."""

    key: str
    make: str
    model: str
    serial: str | None
    first_seen: datetime
    last_photo: datetime | None
    frames_raw: int
    frames_jpeg: int
    #: the serial as the camera shows it (None: by exiftool's rules from ``serial``)
    serial_shown: str | None = None

    @property
    def body(self) -> BodyId:
        return BodyId(self.make, self.model, self.serial, self.serial_shown)

    @property
    def shown(self) -> str | None:
        """The serial as the camera and exiftool show it (``serial`` is the key's)."""
        return self.body.serial_shown

    @property
    def label(self) -> str:
        return self.body.label

    @property
    def frames(self) -> int:
        return self.frames_raw + self.frames_jpeg


@dataclass(frozen=True)
class AccumulatorRow:
    """One accumulator (body, frame kind, size) and the frames it absorbed."""

    slug: str
    body: BodyId
    kind: FrameKind
    width: int
    height: int
    frames: int
    first_taken: datetime | None
    last_taken: datetime | None

    @property
    def body_key(self) -> str:
        return self.body.key

    @property
    def key(self) -> AccumulatorKey:
        """The key to load this accumulator from the store."""
        return AccumulatorKey(self.body, self.kind, self.width, self.height)


@dataclass(frozen=True)
class DefectRow:
    """A stored defect, with the frame geometry of its accumulator."""

    id: int
    acc_slug: str
    body_key: str
    x: int
    y: int
    kind: DefectKind
    score: float
    onset: datetime | None
    confirmed: datetime | None
    status: str  # "active" or "gone"
    seen: bool
    updated: datetime
    frame_kind: FrameKind
    width: int
    height: int
    #: announced (a ``new_defect`` event written for it or for the defect it turned out to be)
    announced: bool = True

    def to_defect(self) -> Defect:
        return Defect(
            x=self.x,
            y=self.y,
            kind=self.kind,
            score=self.score,
            onset=self.onset,
            confirmed=self.confirmed,
        )


@dataclass(frozen=True)
class HistoryRow:
    """One step of a defect's history: found, kind or onset changed."""

    defect_id: int
    at: datetime
    kind: DefectKind
    score: float
    onset: datetime | None
    note: str


def from_iso(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def required_datetime(text: str) -> datetime:
    value = from_iso(text)
    assert value is not None
    return value


def file_row(r: sqlite3.Row) -> FileRow:
    return FileRow(
        path=r["path"],
        size=int(r["size"]),
        mtime_ns=int(r["mtime_ns"]),
        digest=r["digest"],
        status=FileStatus(r["status"]),
        reason=r["reason"],
        body_key=r["body_key"],
        acc_slug=r["acc_slug"],
        kind=None if r["kind"] is None else FrameKind(r["kind"]),
        taken_at=from_iso(r["taken_at"]),
        first_seen=required_datetime(r["first_seen"]),
        last_seen=required_datetime(r["last_seen"]),
        undated=bool(r["undated"]),
    )


def body_row(r: sqlite3.Row) -> BodyRow:
    return BodyRow(
        key=r["key"],
        make=r["make"],
        model=r["model"],
        serial=r["serial"],
        first_seen=required_datetime(r["first_seen"]),
        last_photo=from_iso(r["last_photo"]),
        frames_raw=int(r["frames_raw"]),
        frames_jpeg=int(r["frames_jpeg"]),
        serial_shown=r["serial_shown"],
    )


def accumulator_row(r: sqlite3.Row) -> AccumulatorRow:
    return AccumulatorRow(
        slug=r["slug"],
        body=BodyId(r["make"], r["model"], r["serial"], r["serial_shown"]),
        kind=FrameKind(r["kind"]),
        width=int(r["width"]),
        height=int(r["height"]),
        frames=int(r["frames"]),
        first_taken=from_iso(r["first_taken"]),
        last_taken=from_iso(r["last_taken"]),
    )


def defect_row(r: sqlite3.Row) -> DefectRow:
    return DefectRow(
        id=int(r["id"]),
        acc_slug=r["acc_slug"],
        body_key=r["body_key"],
        x=int(r["x"]),
        y=int(r["y"]),
        kind=DefectKind(r["kind"]),
        score=float(r["score"]),
        onset=from_iso(r["onset"]),
        confirmed=from_iso(r["confirmed"]),
        status=r["status"],
        seen=bool(r["seen"]),
        updated=required_datetime(r["updated"]),
        frame_kind=FrameKind(r["frame_kind"]),
        width=int(r["width"]),
        height=int(r["height"]),
        announced=bool(r["announced"]),
    )


LEARNING, KNOWN, FAILED = "learning", "known", "failed"


@dataclass(frozen=True)
class MapRow:
    """How one body's camera JPEG of one size sits on its raw photosites, and how that was
    learned (``status``: ``learning``, ``known`` or ``failed``)."""

    body_key: str
    raw_width: int
    raw_height: int
    jpeg_width: int
    jpeg_height: int
    status: str
    map: FrameMap | None  #: known: the map; otherwise None
    source: str  #: "registration", "defects", "model" (another body of the model)
    fits: tuple[tuple[float, ...], ...]  #: accepted fits: sx, tx, sy, ty, confidence, rms
    attempts: int  #: RAW+JPEG pairs registered
    tried_at_frames: int  #: the body's photo count at the last attempt
    note: str
    updated: datetime

    @property
    def raw_size(self) -> tuple[int, int]:
        return self.raw_width, self.raw_height

    @property
    def jpeg_size(self) -> tuple[int, int]:
        return self.jpeg_width, self.jpeg_height

    def fit_maps(self) -> list[FrameMap]:
        return [FrameMap.from_list(f[:4]) for f in self.fits]


def map_row(r: sqlite3.Row) -> MapRow:
    return MapRow(
        body_key=r["body_key"],
        raw_width=int(r["raw_width"]),
        raw_height=int(r["raw_height"]),
        jpeg_width=int(r["jpeg_width"]),
        jpeg_height=int(r["jpeg_height"]),
        status=r["status"],
        map=None if r["map"] is None else FrameMap.from_list(json.loads(r["map"])),
        source=r["source"],
        fits=tuple(tuple(float(v) for v in f) for f in json.loads(r["fits"])),
        attempts=int(r["attempts"]),
        tried_at_frames=int(r["tried_at_frames"]),
        note=r["note"],
        updated=required_datetime(r["updated"]),
    )


@dataclass(frozen=True)
class EventRow:
    """One row of the events table: when, and the typed event (see hotwatch.core.events)."""

    id: int
    created: datetime
    event: events.Event

    @property
    def type(self) -> str:
        return self.event.type

    @property
    def body_key(self) -> str:
        return self.event.body_key


def event_row(r: sqlite3.Row) -> EventRow:
    event = events.from_row(r["type"], r["body_key"] or "", json.loads(r["payload"]))
    return EventRow(id=int(r["id"]), created=required_datetime(r["created"]), event=event)
