"""The tray's announcement policy: which events become desktop notifications, and when.

Announcements are *at most once*: the id of the last event announced is stored in the
catalogue (``meta`` key ``tray.last_event``) *before* the notification is sent, so neither a
restart nor a SIGKILL of the tray or the daemon can repeat one (a notification server that
is down at that moment loses it; the defect stays "new" in the icon and the menu until
marked seen). On the very first start (no cursor yet) the tray starts at the newest event
and announces nothing from the past; events written while the tray was not running are
announced when it starts again (as one summary if there are many). A dead pixel's
notification is critical: it spoils every photo from now on.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from hotwatch.core.events import NewDefect
from hotwatch.core.model import DefectKind
from hotwatch.outputs.notify import CRITICAL, NORMAL, Notification, NotificationError
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.rows import EventRow

log = logging.getLogger(__name__)

STATE_KEY = "tray.last_event"  # catalogue meta key: id of the last event announced
BURST = 3  # more new defects than this in one poll -> one summary notification


def describe_defect(event: NewDefect) -> Notification:
    """``NIKON D80 #3012345: new hot pixel at 1203,877, first seen 2024-05-02``; a dead
    pixel's is critical (it spoils every photo from now on), any other's normal. One per
    physical defect (whichever kind of file showed it first: the event says where, and
    its body lists where else it sits, in the body's other frame sizes)."""
    first = event.onset or event.confirmed
    first_text = first.date().isoformat() if first else "an unknown date"
    summary = (
        f"{event.body}: new {event.kind.value} pixel at {event.x},{event.y}, "
        f"first seen {first_text}"
    )
    frames = f"{event.frame_kind.value.upper()} {event.width}x{event.height} frames"
    also = [f"{x},{y} in {_shown(label)}" for label, (x, y) in event.others.items()]
    where = f"; also at {', '.join(also)}" if also else ""
    body = f"{frames}{where}. Open the hotwatch tray menu for the report."
    urgency = CRITICAL if event.kind is DefectKind.DEAD else NORMAL
    return Notification(summary=summary, body=body, urgency=urgency)


def compose(rows: Sequence[EventRow], burst: int = BURST) -> list[Notification]:
    """One notification per new defect, or one summary if there are more than ``burst``."""
    defects = [r.event for r in rows if isinstance(r.event, NewDefect)]
    if len(defects) <= burst:
        return [describe_defect(e) for e in defects]
    per_body = Counter(e.body or e.body_key for e in defects)
    lines = [f"{label}: {n} new" for label, n in sorted(per_body.items())]
    n_bodies = len(per_body)
    summary = (
        f"hotwatch: {len(defects)} new defects on {n_bodies} camera bod"
        f"{'ies' if n_bodies != 1 else 'y'}"
    )
    return [Notification(summary=summary, body="\n".join(lines))]


class Announcer:
    """Turns new events into notifications, each at most once across restarts and crashes."""

    def __init__(
        self, cat: Catalogue, send: Callable[[Notification], Any], burst: int = BURST
    ) -> None:
        self.cat = cat
        self.send = send
        self.burst = burst

    def cursor(self) -> int:
        """The last event id announced; on the first ever start, the newest event id."""
        value = self.cat.get_state(STATE_KEY)
        if value is None:
            start = self.cat.last_event_id()
            self.cat.set_state(STATE_KEY, str(start))
            log.debug("tray: first start, announcing events after id %d", start)
            return start
        return int(value)

    def poll(self) -> list[Notification]:
        """Announce the events since the cursor; returns the notifications sent."""
        sent: list[Notification] = []
        last = self.cursor()
        while True:
            events = self.cat.events_since(last, limit=5000)
            if not events:
                return sent
            last = events[-1].id
            # Persist before sending: a crash between the two loses a notification
            # instead of repeating it ("never repeated" is the promise).
            self.cat.set_state(STATE_KEY, str(last))
            for note in compose(events, self.burst):
                try:
                    self.send(note)
                    sent.append(note)
                except NotificationError as exc:
                    log.warning("tray: could not show a notification (%s): %s", exc, note.summary)


def _shown(label: str) -> str:
    """A geometry's label as a message shows it: ``jpeg 624x464`` -> ``JPEG 624x464``."""
    kind, _, size = label.partition(" ")
    return f"{kind.upper()} {size}".strip()
