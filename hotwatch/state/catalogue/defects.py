"""The catalogue's defects: synchronised with what detection found, their history, seen marks."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from hotwatch.core.events import DefectGone, NewDefect
from hotwatch.core.model import AccumulatorKey, Defect, DefectKind, FrameKind

from ..rows import (
    DefectRow,
    HistoryRow,
    defect_row,
    from_iso,
    required_datetime,
)
from .bodies import Bodies
from .values import ACTIVE, finite_score, iso


class Defects(Bodies):
    """The catalogue's defects: synchronised with what detection found, their history, and
    the seen marks."""

    # ------------------------------------------------------------------ defects

    def sync_defects(
        self,
        key: AccumulatorKey,
        found: Sequence[Defect],
        at: datetime,
        *,
        announce: bool = True,
        announced: Collection[tuple[int, int]] = (),
    ) -> list[NewDefect]:
        """Merge a detection result into the stored defects of one accumulator.

        A new position is inserted (with its own ``confirmed``: the capture time of
        the frame that confirmed it, None when no frame of it keeps a date; never the
        time of this call, which would make it look recent) with a history row and
        one ``new_defect`` event (with ``announce=False`` no event: it is marked not yet
        announced, for :mod:`hotwatch.state.sensors` to announce once per physical defect,
        whichever kind of frame shows it); a known one gets its score,
        kind and onset updated, with a history row when kind or onset changes (a
        detection without an onset keeps the stored one). Defects not found this
        time stay active: a defect does not heal itself, and detection near the
        threshold fluctuates. ``announced``: positions new here whose defect was announced
        at another (a JPEG blob's centre that moved): inserted as announced, without an
        event. Returns the ``new_defect`` events written, in the order of ``found``.
        """
        positions = [(d.x, d.y) for d in found]
        if len(set(positions)) != len(positions):
            raise ValueError("found: a position is reported twice")
        new: list[NewDefect] = []
        with self.atomic():
            self._ensure_accumulator(key)
            stored = {(r.x, r.y): r for r in self.defects(acc_slug=key.slug, status=None)}
            for defect in found:
                row = stored.get((defect.x, defect.y))
                if row is None or row.status != ACTIVE:
                    known = (defect.x, defect.y) in announced
                    event = self._insert_defect(
                        key, defect, at, row, announce and not known, announce or known
                    )
                    if event is not None:
                        new.append(event)
                else:
                    self._update_defect(row, defect, at)
        return new

    def _insert_defect(
        self,
        key: AccumulatorKey,
        defect: Defect,
        at: datetime,
        gone: DefectRow | None,
        announce: bool = True,
        announced: bool = True,
    ) -> NewDefect | None:
        """A defect at a new position, or again at the position of a gone one; its event
        with ``announce``; marked ``announced`` (when not, its announcement is left to
        :mod:`hotwatch.state.sensors`)."""
        values = (
            DefectKind(defect.kind).value,
            finite_score(defect.score),
            iso(defect.onset),
            iso(defect.confirmed),
            iso(at),
        )
        if gone is None:
            defect_id = self._q(
                """INSERT INTO defects (acc_slug, body_key, x, y, kind, score, onset,
                       confirmed, updated, announced) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (key.slug, key.body.key, int(defect.x), int(defect.y), *values, int(announced)),
            ).lastrowid
            note = "found"
        else:
            defect_id = gone.id
            self._q(
                """UPDATE defects SET kind = ?, score = ?, onset = ?, confirmed = ?,
                       updated = ?, status = 'active', seen = 0, announced = ? WHERE id = ?""",
                (*values, int(announced), defect_id),
            )
            note = "found again"
        assert defect_id is not None
        self._history(defect_id, at, defect.kind, defect.score, defect.onset, note)
        if not announce:
            return None
        event = NewDefect(
            body_key=key.body.key,
            body=key.body.label,
            defect_id=defect_id,
            acc_slug=key.slug,
            x=int(defect.x),
            y=int(defect.y),
            kind=DefectKind(defect.kind),
            onset=defect.onset,
            confirmed=defect.confirmed,
            score=float(defect.score),
            frame_kind=FrameKind(key.kind),
            width=int(key.width),
            height=int(key.height),
        )
        self.add_event(event)
        return event

    def _update_defect(self, row: DefectRow, defect: Defect, at: datetime) -> None:
        kind = DefectKind(defect.kind)
        onset = defect.onset if defect.onset is not None else row.onset
        changes = []
        if kind != row.kind:
            changes.append(f"kind {row.kind.value} -> {kind.value}")
        if onset != row.onset:
            changes.append(f"onset {iso(row.onset)} -> {iso(onset)}")
        confirmed = defect.confirmed if defect.confirmed is not None else row.confirmed
        self._q(
            """UPDATE defects SET kind = ?, score = ?, onset = ?, confirmed = ?, updated = ?
               WHERE id = ?""",
            (kind.value, finite_score(defect.score), iso(onset), iso(confirmed), iso(at), row.id),
        )
        if changes:
            self._history(row.id, at, kind, defect.score, onset, "; ".join(changes))

    def retire_defects(
        self, key: AccumulatorKey, positions: Sequence[tuple[int, int]], at: datetime, note: str
    ) -> int:
        """Mark defects gone (e.g. a JPEG echo that detection has since merged
        into its blob), with a history row and a ``defect_gone`` event each."""
        count = 0
        with self.atomic():
            stored = {(r.x, r.y): r for r in self.defects(acc_slug=key.slug)}
            for pos in positions:
                row = stored.get(pos)
                if row is None:
                    continue
                self._q(
                    "UPDATE defects SET status = ?, updated = ? WHERE id = ?",
                    ("gone", iso(at), row.id),
                )
                self._history(row.id, at, row.kind, row.score, row.onset, note)
                self.add_event(DefectGone(key.body.key, row.x, row.y, row.kind, note))
                count += 1
        return count

    def _history(
        self,
        defect_id: int,
        at: datetime,
        kind: DefectKind,
        score: float,
        onset: datetime | None,
        note: str,
    ) -> None:
        self._q(
            """INSERT INTO defect_history (defect_id, at, kind, score, onset, note)
               VALUES (?, ?, ?, ?, ?, ?)""",
            (defect_id, iso(at), DefectKind(kind).value, finite_score(score), iso(onset), note),
        )

    def defects(
        self,
        acc_slug: str | None = None,
        body_key: str | None = None,
        status: str | None = "active",
    ) -> list[DefectRow]:
        """Stored defects (active ones unless ``status``; None: all), by body, accumulator, y, x."""
        rows = self._q(
            """SELECT d.*, a.kind AS frame_kind, a.width, a.height FROM defects d
               JOIN accumulators a ON a.slug = d.acc_slug
               WHERE (? IS NULL OR d.acc_slug = ?) AND (? IS NULL OR d.body_key = ?)
                 AND (? IS NULL OR d.status = ?)
               ORDER BY d.body_key, d.acc_slug, d.y, d.x""",
            (acc_slug, acc_slug, body_key, body_key, status, status),
        ).fetchall()
        return [defect_row(r) for r in rows]

    def defect_history(self, defect_id: int) -> list[HistoryRow]:
        rows = self._q(
            "SELECT * FROM defect_history WHERE defect_id = ? ORDER BY id", (int(defect_id),)
        ).fetchall()
        return [
            HistoryRow(
                defect_id=r["defect_id"],
                at=required_datetime(r["at"]),
                kind=DefectKind(r["kind"]),
                score=float(r["score"]),
                onset=from_iso(r["onset"]),
                note=r["note"],
            )
            for r in rows
        ]

    def mark_seen(self, body_key: str | None = None) -> int:
        """The tray's "mark as seen": returns how many announced active defect rows were
        unseen. A row held back while a map is learned (not announced yet) stays unseen:
        once announced it is new."""
        with self.atomic():
            cur = self._q(
                """UPDATE defects SET seen = 1
                   WHERE seen = 0 AND status = 'active' AND announced = 1
                     AND (? IS NULL OR body_key = ?)""",
                (body_key, body_key),
            )
            return int(cur.rowcount)

    def unseen_defects(self, body_key: str | None = None) -> int:
        row = self._q(
            """SELECT COUNT(*) FROM defects
               WHERE seen = 0 AND status = 'active' AND (? IS NULL OR body_key = ?)""",
            (body_key, body_key),
        ).fetchone()
        return int(row[0])

    def settle_announcements(self, ids: Sequence[int], *, seen: bool | None = None) -> None:
        """Mark defects announced (their physical defect was, or is being, announced);
        ``seen`` also sets their seen mark (a sighting of a defect the user has seen)."""
        with self.atomic():
            for defect_id in ids:
                self._q("UPDATE defects SET announced = 1 WHERE id = ?", (int(defect_id),))
                if seen is not None:
                    self._q("UPDATE defects SET seen = ? WHERE id = ?", (int(seen), int(defect_id)))
