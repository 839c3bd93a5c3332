"""The tray's model: what it shows, independent of pystray, so it can be tested and drawn by
any toolkit (pystray's menu, or the Tk popup for backends without one).

A :class:`Snapshot` is read at one moment from the catalogue and the daemon's run files;
from it come the icon's :class:`TrayState` (most important first: a new defect the user has
not seen; the daemon not running; watching paused; all well), its tooltip, and the menu as
a tree of :class:`Item`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from hotwatch.core.sensor import SensorDefect
from hotwatch.state import runfiles, sensors
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.config import Paths


class TrayState(StrEnum):
    """What the icon shows, most important first."""

    NEW_DEFECT = "new_defect"
    STOPPED = "stopped"  # the daemon is not running
    PAUSED = "paused"
    OK = "ok"


@dataclass(frozen=True)
class BodySummary:
    """What the menu shows about one body."""

    key: str
    label: str
    make: str
    model: str
    serial: str | None  #: as the camera shows it
    frames_raw: int
    frames_jpeg: int
    defects: int  # active defects, one per physical defect of the sensor
    unseen: int
    last_photo: datetime | None
    #: one line per physical defect ("stuck at 121,101 (RAW, JPEG), since 2024-03-02")
    lines: tuple[str, ...] = ()

    @property
    def query(self) -> str:
        """How to name this body on the command line (``make model serial``)."""
        return " ".join(p for p in (self.make, self.model, self.serial) if p)


@dataclass(frozen=True)
class Snapshot:
    """Everything the icon and the menu show, read at one moment."""

    bodies: tuple[BodySummary, ...] = ()
    daemon: bool = False
    paused: bool = False
    catalogue: bool = False  # a catalogue exists
    status: dict = field(default_factory=dict)

    @property
    def unseen(self) -> int:
        return sum(b.unseen for b in self.bodies)

    @property
    def state(self) -> TrayState:
        if self.unseen:
            return TrayState.NEW_DEFECT
        if not self.daemon:
            return TrayState.STOPPED
        if self.paused:
            return TrayState.PAUSED
        return TrayState.OK


def read_snapshot(paths: Paths, cat: Catalogue | None) -> Snapshot:
    """Read the catalogue (if any) and the daemon's files."""
    bodies: list[BodySummary] = []
    if cat is not None:
        with cat.snapshot():
            for b in cat.bodies():
                view = sensors.sensor_view(cat, b)
                bodies.append(
                    BodySummary(
                        key=b.key,
                        label=b.label,
                        make=b.make,
                        model=b.model,
                        serial=b.shown,
                        frames_raw=b.frames_raw,
                        frames_jpeg=b.frames_jpeg,
                        defects=len(view.defects),
                        unseen=sum(1 for d in view.defects if d.announced and not d.seen),
                        last_photo=b.last_photo,
                        lines=tuple(defect_line(d) for d in view.defects),
                    )
                )
    return Snapshot(
        bodies=tuple(bodies),
        daemon=runfiles.daemon_running(paths),
        paused=runfiles.is_paused(paths),
        catalogue=cat is not None,
        status=runfiles.published_status(paths),
    )


@dataclass(frozen=True)
class Item:
    """One menu entry, independent of pystray (so it can be tested and shown by Tk).

    ``action`` is a string the tray dispatches: ``pause``, ``resume``,
    ``rescan``, ``quit``, ``seen:`` (all bodies), ``seen:KEY``, ``report:KEY``.
    An item with neither action nor children is information; ``text == "-"``
    is a separator.
    """

    text: str
    action: str | None = None
    children: tuple[Item, ...] = ()
    enabled: bool = True

    def to_json(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Item:
        return Item(
            text=str(data["text"]),
            action=data.get("action"),
            children=tuple(Item.from_json(c) for c in data.get("children", ())),
            enabled=bool(data.get("enabled", True)),
        )


SEPARATOR = Item("-")
MENU_DEFECTS = 20  #: defects listed in a body's menu (the report lists them all)


def _date(value: datetime | None) -> str:
    return value.date().isoformat() if value else "never"


def defect_line(d: SensorDefect) -> str:
    """One physical defect in a menu: ``stuck at 121,101 (RAW, JPEG), since 2024-03-02``;
    the photosite when a raw showed it, else its position in the largest JPEG."""
    if d.exact and d.photosite is not None:
        x, y = d.photosite
    else:
        g = d.shown_in[0]
        x, y = d.positions[g]
    g = d.shown_in[0]
    where = "" if d.exact else f" in {g.kind.value.upper()} {g.width}x{g.height}"
    kinds = ", ".join(k.value.upper() for k in d.kinds)
    since = f", since {d.onset.date().isoformat()}" if d.onset else ""
    return f"{d.kind.value} at {x},{y}{where} ({kinds}){since}"


def headline(snap: Snapshot) -> str:
    """One line that says the state, also used as the icon's tooltip's first line."""
    n = snap.unseen
    if n:
        return f"hotwatch: {n} new defect{'s' if n != 1 else ''}"
    if not snap.daemon:
        return "hotwatch: the watcher is not running"
    if snap.paused:
        return "hotwatch: watching paused"
    return "hotwatch: all well"


def tooltip(snap: Snapshot) -> str:
    """The icon's title (tooltip; the X11 window name): one line, the headline and new counts.

    One line because the XEmbed backend uses it as the window name.
    """
    news = [f"{b.label}: {b.unseen} new" for b in snap.bodies if b.unseen]
    return headline(snap) + (f" ({'; '.join(news)})" if news else "")


def body_item(b: BodySummary) -> Item:
    """A body's submenu: its facts, then "open report" and "mark as seen"."""
    new = f" ({b.unseen} new)" if b.unseen else ""
    facts = (
        Item(f"Make: {b.make}"),
        Item(f"Model: {b.model}"),
        Item(f"Serial: {b.serial or 'unknown'}"),
        Item(f"Photos: {b.frames_raw} raw, {b.frames_jpeg} jpeg"),
        Item(f"Defects: {b.defects}{new}"),
        Item(f"Last photo: {_date(b.last_photo)}"),
    )
    actions = (
        Item("Open report", f"report:{b.key}"),
        Item("Mark defects as seen", f"seen:{b.key}", enabled=b.unseen > 0),
    )
    text = f"{b.label}: {b.defects} defect{'s' if b.defects != 1 else ''}{new}"
    each: tuple[Item, ...] = ()
    if b.lines:
        shown = tuple(Item(line, enabled=False) for line in b.lines[:MENU_DEFECTS])
        more = len(b.lines) - MENU_DEFECTS
        tail = (Item(f"... and {more} more (see the report)", enabled=False),) if more > 0 else ()
        each = (SEPARATOR, Item("Each defect", children=shown + tail))
    return Item(text, children=(*facts, SEPARATOR, *actions, *each))


def build_menu(snap: Snapshot) -> tuple[Item, ...]:
    """The whole menu, from a snapshot."""
    items: list[Item] = [Item(headline(snap), enabled=False)]
    folders = snap.status.get("folders")
    if snap.daemon and isinstance(folders, list):
        queue_len = snap.status.get("queue", 0)
        items.append(Item(f"Watching {len(folders)} folder(s), {queue_len} queued", enabled=False))
    items.append(SEPARATOR)
    if snap.bodies:
        items.extend(body_item(b) for b in snap.bodies)
    else:
        items.append(Item("No camera bodies yet", enabled=False))
    items.append(SEPARATOR)
    items.append(Item("Mark all defects as seen", "seen:", enabled=snap.unseen > 0))
    items.append(
        Item("Resume watching", "resume") if snap.paused else Item("Pause watching", "pause")
    )
    items.append(Item("Rescan now", "rescan"))
    items.append(Item("Quit", "quit"))
    return tuple(items)


def menu_texts(items: Iterable[Item], depth: int = 0) -> list[str]:
    """The menu's entries as indented lines (for logs and tests)."""
    out: list[str] = []
    for item in items:
        out.append("  " * depth + item.text)
        out.extend(menu_texts(item.children, depth + 1))
    return out
