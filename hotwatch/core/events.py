"""The events hotwatch records, one frozen dataclass per type.

Why: the catalogue's ``events`` table is how the parts of hotwatch that never meet tell each
other what happened (the daemon writes; the tray, a scan's summary and the log read). A row
holds a type name, a body key and a JSON payload. Each type below owns its name and the
spelling of its payload: :meth:`payload` writes it and :meth:`from_payload` reads it back, so
a writer and its readers can no longer disagree about a field (a defect's kind once travelled
as a string that the tray compared against another spelling, and no dead pixel ever got a
critical notification).

A row whose type this hotwatch does not know (written by a newer one), or whose payload lacks
what its type needs, reads as :class:`OtherEvent`: readers skip it, none fails on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from .model import DefectKind, FrameKind


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _when(text: object) -> datetime | None:
    return None if text is None else datetime.fromisoformat(str(text))


@dataclass(frozen=True)
class NewDefect:
    """A defect the catalogue did not hold (or held as gone) was confirmed."""

    type: ClassVar[str] = "new_defect"

    body_key: str
    body: str  #: the body's label ("NIKON D80 #3012345")
    defect_id: int
    acc_slug: str
    x: int
    y: int
    kind: DefectKind
    onset: datetime | None
    confirmed: datetime | None
    score: float
    frame_kind: FrameKind
    width: int
    height: int
    #: the defect's position in every frame geometry of its body where it is known (seen
    #: there, or mapped through the body's JPEG <-> raw map): "raw 640x480" -> (x, y)
    positions: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {
            "positions": {k: [int(x), int(y)] for k, (x, y) in self.positions.items()},
            "defect_id": int(self.defect_id),
            "acc_slug": self.acc_slug,
            "x": int(self.x),
            "y": int(self.y),
            "kind": DefectKind(self.kind).value,
            "onset": _iso(self.onset),
            "confirmed": _iso(self.confirmed),
            "score": float(self.score),
            "frame_kind": FrameKind(self.frame_kind).value,
            "width": int(self.width),
            "height": int(self.height),
            "body": self.body,
        }

    @classmethod
    def from_payload(cls, body_key: str, payload: Mapping[str, Any]) -> NewDefect:
        return cls(
            body_key=body_key,
            body=str(payload.get("body") or body_key),
            defect_id=int(payload["defect_id"]),
            acc_slug=str(payload["acc_slug"]),
            x=int(payload["x"]),
            y=int(payload["y"]),
            kind=DefectKind(payload["kind"]),
            onset=_when(payload.get("onset")),
            confirmed=_when(payload.get("confirmed")),
            score=float(payload["score"]),
            frame_kind=FrameKind(payload["frame_kind"]),
            width=int(payload["width"]),
            height=int(payload["height"]),
            positions={
                str(k): (int(v[0]), int(v[1])) for k, v in (payload.get("positions") or {}).items()
            },
        )

    @property
    def others(self) -> dict[str, tuple[int, int]]:
        """Its positions in the body's other frame geometries (not the one that showed it)."""
        here = geometry_label(self.frame_kind, self.width, self.height)
        return {k: v for k, v in self.positions.items() if k != here}


def geometry_label(kind: FrameKind | str, width: int, height: int) -> str:
    """How a frame geometry is named wherever hotwatch names one: ``raw 640x480``."""
    return f"{FrameKind(kind).value} {int(width)}x{int(height)}"


@dataclass(frozen=True)
class NewBody:
    """A camera body was seen for the first time."""

    type: ClassVar[str] = "new_body"

    body_key: str
    make: str
    model: str
    serial: str | None  #: the key's spelling
    body: str  #: its label
    shown: str | None = None  #: the serial as the camera shows it

    def payload(self) -> dict[str, Any]:
        return {
            "make": self.make,
            "model": self.model,
            "serial": self.serial,
            "body": self.body,
            "shown": self.shown,
        }

    @classmethod
    def from_payload(cls, body_key: str, payload: Mapping[str, Any]) -> NewBody:
        return cls(
            body_key=body_key,
            make=str(payload["make"]),
            model=str(payload["model"]),
            serial=payload.get("serial"),
            body=str(payload.get("body") or body_key),
            shown=payload.get("shown"),
        )


@dataclass(frozen=True)
class DefectGone:
    """A stored defect is no longer confirmed (a JPEG blob's centre that moved)."""

    type: ClassVar[str] = "defect_gone"

    body_key: str
    x: int
    y: int
    kind: DefectKind
    note: str

    def payload(self) -> dict[str, Any]:
        kind = DefectKind(self.kind).value
        return {"x": int(self.x), "y": int(self.y), "kind": kind, "note": self.note}

    @classmethod
    def from_payload(cls, body_key: str, payload: Mapping[str, Any]) -> DefectGone:
        return cls(
            body_key=body_key,
            x=int(payload["x"]),
            y=int(payload["y"]),
            kind=DefectKind(payload["kind"]),
            note=str(payload.get("note", "")),
        )


@dataclass(frozen=True)
class StateDamaged:
    """An accumulator file failed its checks and was set aside (its evidence is lost)."""

    type: ClassVar[str] = "damaged_state"

    body_key: str
    message: str

    def payload(self) -> dict[str, Any]:
        return {"message": self.message}

    @classmethod
    def from_payload(cls, body_key: str, payload: Mapping[str, Any]) -> StateDamaged:
        return cls(body_key=body_key, message=str(payload["message"]))


@dataclass(frozen=True)
class BodyMigrated:
    """A body read under a weaker key moved to its right one (renamed, or merged into it);
    ``body_key`` is the new key."""

    type: ClassVar[str] = "body_migrated"

    body_key: str
    from_key: str
    from_body: str  #: the old body's label
    body: str  #: the new body's label
    merged: bool  #: into a body that existed already
    photos: int  #: ingested files moved
    accumulators: dict[str, str] = field(default_factory=dict)  #: old slug -> new slug

    def payload(self) -> dict[str, Any]:
        return {
            "from": self.from_key,
            "to": self.body_key,
            "from_body": self.from_body,
            "body": self.body,
            "merged": bool(self.merged),
            "photos": int(self.photos),
            "accumulators": dict(self.accumulators),
        }

    @classmethod
    def from_payload(cls, body_key: str, payload: Mapping[str, Any]) -> BodyMigrated:
        return cls(
            body_key=str(payload.get("to") or body_key),
            from_key=str(payload["from"]),
            from_body=str(payload.get("from_body", "")),
            body=str(payload.get("body", "")),
            merged=bool(payload.get("merged", False)),
            photos=int(payload.get("photos", 0)),
            accumulators={str(k): str(v) for k, v in payload.get("accumulators", {}).items()},
        )


@dataclass(frozen=True)
class OtherEvent:
    """A row of a type this hotwatch does not know, or that it cannot read: kept as it is."""

    type: str
    body_key: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return dict(self.data)


Event = NewDefect | NewBody | DefectGone | StateDamaged | BodyMigrated | OtherEvent
#: the types hotwatch writes, by name
KNOWN: dict[str, type[NewDefect | NewBody | DefectGone | StateDamaged | BodyMigrated]] = {
    cls.type: cls for cls in (NewDefect, NewBody, DefectGone, StateDamaged, BodyMigrated)
}


def from_row(type_name: str, body_key: str, payload: Mapping[str, Any]) -> Event:
    """The typed event of a stored row (type, body key, decoded payload)."""
    cls = KNOWN.get(type_name)
    if cls is not None:
        try:
            return cls.from_payload(body_key, payload)
        except (KeyError, TypeError, ValueError):
            pass  # a payload this version cannot read: kept, not fatal
    return OtherEvent(type_name, body_key, dict(payload))
