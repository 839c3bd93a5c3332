"""The catalogue's camera bodies and their accumulators: counted, found, migrated."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime

from hotwatch.core.events import NewBody
from hotwatch.core.model import AccumulatorKey, BodyId, FileStatus, FrameKind

from ..rows import (
    AccumulatorRow,
    BodyRow,
    FileRow,
    accumulator_row,
    body_row,
    file_row,
    from_iso,
)
from .events import Events
from .values import ACTIVE, body_names, earliest, folded, iso, latest, now_utc, same_serial


class Bodies(Events):
    """The catalogue's camera bodies and their accumulators: counted, found, migrated."""

    # ------------------------------------------------------------------ bodies

    def ensure_body(self, body: BodyId, seen_at: datetime) -> bool:
        """Add the body if it is new; then also write a ``new_body`` event. A known body
        read before its serial's spelling was kept gets it now."""
        with self.atomic():
            cur = self._q(
                """INSERT INTO bodies (key, make, model, serial, first_seen, serial_shown)
                   VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING""",
                (body.key, body.make, body.model, body.serial, iso(seen_at), body.shown),
            )
            if cur.rowcount == 0:
                if body.shown is not None:
                    self._q(
                        """UPDATE bodies SET serial_shown = ?
                           WHERE key = ? AND serial_shown IS NULL""",
                        (body.shown, body.key),
                    )
                return False
            self.add_event(
                NewBody(body.key, body.make, body.model, body.serial, body.label, body.shown)
            )
            return True

    def _ensure_accumulator(self, key: AccumulatorKey) -> None:
        self.ensure_body(key.body, now_utc())
        self._q(
            """INSERT INTO accumulators (slug, body_key, kind, width, height)
               VALUES (?, ?, ?, ?, ?) ON CONFLICT (slug) DO NOTHING""",
            (key.slug, key.body.key, FrameKind(key.kind).value, int(key.width), int(key.height)),
        )

    def count_frame(self, key: AccumulatorKey, taken_at: datetime | None) -> None:
        """One more frame absorbed by this accumulator: bump the counters and dates.

        Creates the body (with its ``new_body`` event) and the accumulator row
        if needed; call it in the same :meth:`atomic` block as :meth:`record_file`.
        """
        column = {FrameKind.RAW: "frames_raw", FrameKind.JPEG: "frames_jpeg"}[FrameKind(key.kind)]
        with self.atomic():
            self._ensure_accumulator(key)
            body = self._q(
                "SELECT last_photo FROM bodies WHERE key = ?", (key.body.key,)
            ).fetchone()
            # The column name comes from the fixed mapping above, never from input.
            self._q(
                f"UPDATE bodies SET {column} = {column} + 1, last_photo = ? WHERE key = ?",
                (latest(body["last_photo"], taken_at), key.body.key),
            )
            acc = self._q(
                "SELECT first_taken, last_taken FROM accumulators WHERE slug = ?", (key.slug,)
            ).fetchone()
            self._q(
                """UPDATE accumulators SET frames = frames + 1, first_taken = ?, last_taken = ?
                   WHERE slug = ?""",
                (
                    earliest(acc["first_taken"], taken_at),
                    latest(acc["last_taken"], taken_at),
                    key.slug,
                ),
            )

    def bodies(self) -> list[BodyRow]:
        rows = self._q("SELECT * FROM bodies ORDER BY make, model, serial").fetchall()
        return [body_row(r) for r in rows]

    def body(self, key: str) -> BodyRow | None:
        row = self._q("SELECT * FROM bodies WHERE key = ?", (key,)).fetchone()
        return None if row is None else body_row(row)

    def accumulators(self, body_key: str | None = None) -> list[AccumulatorRow]:
        rows = self._q(
            """SELECT a.*, b.make, b.model, b.serial, b.serial_shown FROM accumulators a
               JOIN bodies b ON b.key = a.body_key
               WHERE (? IS NULL OR a.body_key = ?)
               ORDER BY b.make, b.model, b.serial, a.kind, a.width, a.height""",
            (body_key, body_key),
        ).fetchall()
        return [accumulator_row(r) for r in rows]

    def files_of(self, acc_slug: str) -> list[FileRow]:
        """The ingested files of one accumulator, in capture order (unknown times last)."""
        rows = self._q(
            """SELECT * FROM files WHERE acc_slug = ? AND status = ?
               ORDER BY taken_at IS NULL, taken_at, path""",
            (acc_slug, FileStatus.INGESTED.value),
        ).fetchall()
        return [file_row(r) for r in rows]

    def clear_digests(self, acc_slug: str) -> None:
        """Forget the content digests of one accumulator's files: it is being rebuilt, and
        a row gets its digest back when its photo has been read again."""
        with self.atomic():
            self._q("UPDATE files SET digest = NULL WHERE acc_slug = ?", (acc_slug,))

    def forget_file(self, path: str) -> None:
        """Drop a file's row: if it turns up again, it is a new photo."""
        with self.atomic():
            self._q("DELETE FROM files WHERE path = ?", (str(path),))

    def reset_frames(self, acc_slug: str) -> None:
        """Zero one accumulator's frame counts (and its body's share of them), so that
        reading its photos again counts each once."""
        with self.atomic():
            acc = self._q(
                "SELECT body_key, kind, frames FROM accumulators WHERE slug = ?", (acc_slug,)
            ).fetchone()
            if acc is None:
                return
            column = {"raw": "frames_raw", "jpeg": "frames_jpeg"}[acc["kind"]]
            # The column name comes from the fixed mapping above, never from input.
            self._q(
                f"UPDATE bodies SET {column} = MAX(0, {column} - ?) WHERE key = ?",
                (int(acc["frames"]), acc["body_key"]),
            )
            self._q(
                """UPDATE accumulators SET frames = 0, first_taken = NULL, last_taken = NULL
                   WHERE slug = ?""",
                (acc_slug,),
            )

    def migrate_body(self, old_key: str, new: BodyId, slugs: dict[str, str]) -> int:
        """Move everything of body ``old_key`` under ``new`` (created, or merged into it).

        Why: a body keyed by a weaker reading (no serial before exiftool was
        installed, an old spelling of the make) must end up as one body, not two.
        ``slugs`` maps each old accumulator slug to its new one; the caller has
        already written the accumulator files under the new slugs. In one
        transaction: the body's counters are added to the target's (dates
        widened), accumulator rows renamed or added to the target's, defects
        moved (one at a position both had is kept once, with the earlier onset
        and both histories), files and events re-keyed, the old body deleted.
        Returns how many ingested files moved.
        """
        if new.key == old_key:
            raise ValueError(f"body {old_key!r} would migrate onto itself")
        with self.atomic():
            old = self._q("SELECT * FROM bodies WHERE key = ?", (old_key,)).fetchone()
            if old is None:
                raise ValueError(f"no body {old_key!r} in the catalogue")
            moved = int(
                self._q(
                    "SELECT COUNT(*) FROM files WHERE body_key = ? AND status = 'ingested'",
                    (old_key,),
                ).fetchone()[0]
            )
            target = self._q("SELECT * FROM bodies WHERE key = ?", (new.key,)).fetchone()
            if target is None:
                self._q(
                    """INSERT INTO bodies (key, make, model, serial, first_seen, last_photo,
                           frames_raw, frames_jpeg, serial_shown)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (
                        new.key,
                        new.make,
                        new.model,
                        new.serial,
                        old["first_seen"],
                        old["last_photo"],
                        old["frames_raw"],
                        old["frames_jpeg"],
                        new.shown,
                    ),
                )
            else:
                self._q(
                    """UPDATE bodies SET first_seen = ?, last_photo = ?,
                           frames_raw = frames_raw + ?, frames_jpeg = frames_jpeg + ?
                       WHERE key = ?""",
                    (
                        earliest(target["first_seen"], from_iso(old["first_seen"])),
                        latest(target["last_photo"], from_iso(old["last_photo"])),
                        old["frames_raw"],
                        old["frames_jpeg"],
                        new.key,
                    ),
                )
            accs = self._q("SELECT * FROM accumulators WHERE body_key = ?", (old_key,)).fetchall()
            for acc in accs:
                self._migrate_accumulator(acc, slugs[acc["slug"]], new.key)
            self._q("UPDATE files SET body_key = ? WHERE body_key = ?", (new.key, old_key))
            self._q("UPDATE defects SET body_key = ? WHERE body_key = ?", (new.key, old_key))
            self._q("UPDATE events SET body_key = ? WHERE body_key = ?", (new.key, old_key))
            # a map the target lacks moves with the body; one it has already stays its own
            self._q(
                "UPDATE OR IGNORE frame_maps SET body_key = ? WHERE body_key = ?",
                (new.key, old_key),
            )
            self._q("DELETE FROM frame_maps WHERE body_key = ?", (old_key,))
            self._q("DELETE FROM bodies WHERE key = ?", (old_key,))
        return moved

    def _migrate_accumulator(self, acc: sqlite3.Row, new_slug: str, new_key: str) -> None:
        """One accumulator row of a migrating body, with its defects and files."""
        target = self._q("SELECT * FROM accumulators WHERE slug = ?", (new_slug,)).fetchone()
        if target is None:
            self._q(
                """INSERT INTO accumulators (slug, body_key, kind, width, height, frames,
                       first_taken, last_taken) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    new_slug,
                    new_key,
                    acc["kind"],
                    acc["width"],
                    acc["height"],
                    acc["frames"],
                    acc["first_taken"],
                    acc["last_taken"],
                ),
            )
        else:
            self._q(
                """UPDATE accumulators SET frames = frames + ?, first_taken = ?, last_taken = ?
                   WHERE slug = ?""",
                (
                    acc["frames"],
                    earliest(target["first_taken"], from_iso(acc["first_taken"])),
                    latest(target["last_taken"], from_iso(acc["last_taken"])),
                    new_slug,
                ),
            )
        old_slug = acc["slug"]
        for d in self._q("SELECT * FROM defects WHERE acc_slug = ?", (old_slug,)).fetchall():
            kept = self._q(
                "SELECT * FROM defects WHERE acc_slug = ? AND x = ? AND y = ?",
                (new_slug, d["x"], d["y"]),
            ).fetchone()
            if kept is None:
                self._q(
                    "UPDATE defects SET acc_slug = ?, body_key = ? WHERE id = ?",
                    (new_slug, new_key, d["id"]),
                )
                continue
            # Both bodies knew this photosite: one defect, the earlier dates, the
            # active description if only one is active, unseen if either is.
            live = d if kept["status"] != ACTIVE and d["status"] == ACTIVE else kept
            self._q(
                """UPDATE defects SET kind = ?, score = ?, status = ?, onset = ?, confirmed = ?,
                       seen = ?, updated = ? WHERE id = ?""",
                (
                    live["kind"],
                    live["score"],
                    live["status"],
                    earliest(kept["onset"], from_iso(d["onset"])),
                    earliest(kept["confirmed"], from_iso(d["confirmed"])),
                    int(bool(kept["seen"]) and bool(d["seen"])),
                    latest(kept["updated"], from_iso(d["updated"])),
                    kept["id"],
                ),
            )
            self._q(
                "UPDATE defect_history SET defect_id = ? WHERE defect_id = ?",
                (kept["id"], d["id"]),
            )
            self._q("DELETE FROM defects WHERE id = ?", (d["id"],))
        self._q(
            "UPDATE files SET acc_slug = ?, body_key = ? WHERE acc_slug = ?",
            (new_slug, new_key, old_slug),
        )
        self._q("DELETE FROM accumulators WHERE slug = ?", (old_slug,))

    def find_bodies(self, query: str) -> list[BodyRow]:
        """Bodies the user means by ``query``; more than one means it is ambiguous.

        In order, the first rule that matches wins: the exact body key; the serial, in
        either spelling (the key's ``830512345`` or the camera's ``0830512345``, as
        normalised); the whole "make model serial" (or "model serial", case and spaces
        ignored, '#' allowed as in labels, the serial in either spelling); a prefix of it
        ending at a word ("canon eos r" is the R, not the R5); any prefix of it.
        """
        q = folded(query)
        if not q:
            return []
        everything = self.bodies()
        names = {b.key: body_names(b) for b in everything}
        serial = query.strip().lstrip("#").strip()
        rules: list[Callable[[BodyRow], bool]] = [
            lambda b: b.key == query,
            lambda b: same_serial(b, serial),
            lambda b: q in names[b.key],
            lambda b: any(n.startswith(q + " ") for n in names[b.key]),
            lambda b: any(n.startswith(q) for n in names[b.key]),
        ]
        for rule in rules:
            found = [b for b in everything if rule(b)]
            if found:
                return found
        return []
