"""The catalogue's events, which the tray and the daemon read in order."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from hotwatch.core.events import Event

from ..rows import (
    EventRow,
    event_row,
)
from .connection import Connection
from .values import iso, json_default, now_utc

log = logging.getLogger(__name__)


class Events(Connection):
    """The catalogue's events, which the tray and the daemon read in order."""

    # ------------------------------------------------------------------ events

    def add_event(self, event: Event) -> int:
        """Append an event (its payload as JSON; datetimes as ISO text); returns its id."""
        text = json.dumps(event.payload(), default=json_default, sort_keys=True)
        with self.atomic():
            cur = self._q(
                "INSERT INTO events (created, type, body_key, payload) VALUES (?, ?, ?, ?)",
                (iso(now_utc()), event.type, event.body_key or None, text),
            )
            log.debug("event %s %s %s", cur.lastrowid, event.type, event.body_key)
            return int(cur.lastrowid or 0)

    def events_since(
        self,
        last_id: int,
        types: Sequence[str | type[Event]] | None = None,
        limit: int | None = None,
    ) -> list[EventRow]:
        """Events with ``id > last_id``, oldest first (``limit`` pages through them);
        ``types`` keeps only those types (event classes, or type names).

        The ``body_key`` of an event not tied to a body is "".
        """
        sql = "SELECT * FROM events WHERE id > ?"
        params: list[Any] = [int(last_id)]
        if types is not None:
            names = [t if isinstance(t, str) else t.type for t in types]
            if not names:
                return []
            sql += " AND type IN (" + ", ".join("?" * len(names)) + ")"
            params.extend(names)
        sql += " ORDER BY id LIMIT ?"
        params.append(-1 if limit is None else int(limit))
        return [event_row(r) for r in self._q(sql, params).fetchall()]

    def last_event_id(self) -> int:
        """The newest event id (0 if none): where a new reader starts polling."""
        return int(self._q("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])
