"""The SQLite catalogue: which files were seen, which bodies exist, which defects were found.

Several processes use one catalogue file at once: the daemon (or ``hotwatch
scan``) writes, while the tray, the report, the CLI and the darktable plugin
read, and the tray also writes "seen" marks. Hence:

* WAL journal, so readers never block the writer and see only committed data;
* a busy timeout, so two writers queue instead of failing with "database is
  locked";
* short transactions, all opened by one context manager, :meth:`Catalogue.atomic`,
  with ``BEGIN IMMEDIATE`` (take the write lock up front: a deferred transaction
  that upgrades from read to write can fail with SQLITE_BUSY without waiting);
* a schema versioned with ``PRAGMA user_version``, migrated step by step
  (:mod:`hotwatch.state.schema`), each step in its own transaction together with
  its version bump, so a failed step stays pending and is retried next time;
* ``PRAGMA quick_check`` on open: a damaged catalogue raises
  :class:`~hotwatch.core.errors.DamagedState` and is never written to.

Every value goes through ``?`` parameters. Datetimes are stored as ISO 8601 text
(``datetime.isoformat()``), which keeps the UTC offset of aware values; rows come back as
the dataclasses of :mod:`hotwatch.state.rows`, events as the typed events of
:mod:`hotwatch.core.events`.

A :class:`Catalogue` (a ``sqlite3`` connection) belongs to the thread that opened
it; open one per thread.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from hotwatch.core.errors import DamagedState, UserError
from hotwatch.core.events import DefectGone, Event, NewBody, NewDefect
from hotwatch.core.frame_map import FrameMap
from hotwatch.core.model import AccumulatorKey, BodyId, Defect, DefectKind, FileStatus, FrameKind
from hotwatch.io.exif.names import normalise_serial

from .rows import (
    AccumulatorRow,
    BodyRow,
    DefectRow,
    EventRow,
    FileRow,
    HistoryRow,
    MapRow,
    accumulator_row,
    body_row,
    defect_row,
    event_row,
    file_row,
    from_iso,
    map_row,
    required_datetime,
)
from .schema import SCHEMA_VERSION, apply_migrations, schema_version

log = logging.getLogger(__name__)

ACTIVE = "active"
GONE = "gone"

DEFAULT_TIMEOUT = 15.0  # seconds a writer waits for another writer's lock

# SQLite primary result codes that mean the file itself is bad, not busy.
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26


# --------------------------------------------------------------------------- schema


# --------------------------------------------------------------------------- rows


# --------------------------------------------------------------------------- helpers


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _comparable(a: datetime, b: datetime) -> tuple[datetime, datetime]:
    """Naive and aware datetimes cannot be compared: fall back to wall-clock time."""
    if (a.tzinfo is None) != (b.tzinfo is None):
        return a.replace(tzinfo=None), b.replace(tzinfo=None)
    return a, b


def _earliest(stored: str | None, new: datetime | None) -> str | None:
    old = from_iso(stored)
    if new is None or old is None:
        return _iso(new if old is None else old)
    a, b = _comparable(old, new)
    return _iso(new if b < a else old)


def _latest(stored: str | None, new: datetime | None) -> str | None:
    old = from_iso(stored)
    if new is None or old is None:
        return _iso(new if old is None else old)
    a, b = _comparable(old, new)
    return _iso(new if b > a else old)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in an event payload")


def _norm(text: str) -> str:
    """Case- and space-insensitive form used to match body names; '#' is ignored."""
    return " ".join(text.replace("#", " ").casefold().split())


def _is_damage(error: sqlite3.DatabaseError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(error)
    return "malformed" in text or "not a database" in text


def _damaged(path: Path, detail: str) -> DamagedState:
    return DamagedState(
        f"catalogue {path} is damaged ({detail}); it was left untouched. "
        "Move it aside to start a new one (the accumulators are kept)."
    )


# --------------------------------------------------------------------------- catalogue


class Catalogue:
    """hotwatch's catalogue in one SQLite file.

    ``readonly=True`` opens the file with ``mode=ro`` and ``query_only`` (for
    the report, the plugin and other readers): it must already exist at the
    current schema version, and every write raises :class:`PermissionError`.
    """

    def __init__(
        self, path: Path, *, readonly: bool = False, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        if readonly:
            if not self.path.exists():
                raise UserError(f"no catalogue at {self.path} yet: run `hotwatch scan` first")
            uri = self.path.resolve().as_uri() + "?mode=ro"
            conn = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        self._conn = conn
        try:
            self._open()
        except BaseException:
            conn.close()
            raise

    def _open(self) -> None:
        conn = self._conn
        conn.row_factory = sqlite3.Row
        self._check()  # before anything that could write to the file
        if self.readonly:
            conn.execute("PRAGMA query_only = ON")
            version = schema_version(conn)
            if version != SCHEMA_VERSION:
                raise UserError(
                    f"catalogue {self.path} has schema version {version}, this hotwatch "
                    f"reads version {SCHEMA_VERSION}: run `hotwatch scan` to upgrade it"
                )
        else:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("catalogue %s: journal mode is %s, not WAL", self.path, mode)
            # In WAL mode NORMAL is crash-safe (consistent) and skips an fsync per commit.
            conn.execute("PRAGMA synchronous = NORMAL")
            version = schema_version(conn)
            if version > SCHEMA_VERSION:
                raise UserError(
                    f"catalogue {self.path} was written by a newer hotwatch "
                    f"(schema {version} > {SCHEMA_VERSION})"
                )
            apply_migrations(conn)
        conn.execute("PRAGMA foreign_keys = ON")

    def _check(self) -> None:
        """``PRAGMA quick_check``; anything but "ok" is a damaged catalogue."""
        try:
            rows = self._conn.execute("PRAGMA quick_check").fetchall()
        except sqlite3.OperationalError:
            raise  # busy, I/O error, cannot open: not proof of damage
        except sqlite3.DatabaseError as e:
            raise _damaged(self.path, str(e)) from e
        problems = [str(r[0]) for r in rows if r[0] != "ok"]
        if problems:
            raise _damaged(self.path, "; ".join(problems[:3]))

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _q(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run one statement; corruption found later still becomes DamagedState."""
        try:
            return self._conn.execute(sql, params)
        except sqlite3.DatabaseError as e:
            if _is_damage(e):
                raise _damaged(self.path, str(e)) from e
            raise

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """One write transaction: all of the block is committed, or none of it.

        The outermost block runs ``BEGIN IMMEDIATE`` (it waits up to the busy
        timeout for the write lock, then holds it: keep blocks short); a nested
        block is a savepoint, so an exception inside it undoes only the inner
        block if the outer one catches it. Any exception, including
        KeyboardInterrupt, rolls back.
        """
        if self.readonly:
            raise PermissionError(f"catalogue {self.path} is open read-only")
        conn = self._conn
        if conn.in_transaction:
            # Savepoints with one name nest: ROLLBACK TO/RELEASE act on the innermost.
            conn.execute("SAVEPOINT hotwatch_nested")
            try:
                yield
            except BaseException:
                # The outer transaction may already be gone (SQLite rolls back on
                # some errors such as SQLITE_FULL); only undo what still exists.
                if conn.in_transaction:
                    conn.execute("ROLLBACK TO hotwatch_nested")
                    conn.execute("RELEASE hotwatch_nested")
                raise
            conn.execute("RELEASE hotwatch_nested")
            return
        self._q("BEGIN IMMEDIATE")
        try:
            yield
            self._q("COMMIT")
        except BaseException:
            # COMMIT itself may fail (disk full); the transaction is then still
            # open and must be rolled back, unless SQLite already did.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Several reads from one consistent state (a read transaction).

        Without it each query sees the latest commit, so two counts taken one
        after the other may straddle a write of the daemon.
        """
        conn = self._conn
        if conn.in_transaction:
            yield
            return
        self._q("BEGIN")
        try:
            yield
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    # ------------------------------------------------------------------ files

    def file_by_path(self, path: str) -> FileRow | None:
        row = self._q("SELECT * FROM files WHERE path = ?", (str(path),)).fetchone()
        return None if row is None else file_row(row)

    def file_by_digest(
        self, digest: str, status: FileStatus | None = FileStatus.INGESTED
    ) -> FileRow | None:
        """The first file recorded with this content (and status; None for any).

        With the default status this answers "was this content already
        counted?", so a copy of a photo under another name is not counted twice.
        """
        if status is None:
            row = self._q(
                "SELECT * FROM files WHERE digest = ? ORDER BY id LIMIT 1", (digest,)
            ).fetchone()
        else:
            row = self._q(
                "SELECT * FROM files WHERE digest = ? AND status = ? ORDER BY id LIMIT 1",
                (digest, FileStatus(status).value),
            ).fetchone()
        return None if row is None else file_row(row)

    def record_file(
        self,
        *,
        path: str,
        size: int,
        mtime_ns: int,
        digest: str | None,
        status: FileStatus,
        reason: str = "",
        body_key: str | None = None,
        acc_slug: str | None = None,
        kind: FrameKind | None = None,
        taken_at: datetime | None = None,
        seen_at: datetime | None = None,
        undated: bool = False,
    ) -> None:
        """Insert or update the row of ``path``; ``first_seen`` is kept on update.

        ``undated``: an ingested photo that keeps no capture date anywhere.
        """
        seen = _iso(seen_at or _now())
        with self.atomic():
            self._q(
                """INSERT INTO files (path, size, mtime_ns, digest, body_key, acc_slug, kind,
                       taken_at, status, reason, first_seen, last_seen, undated)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (path) DO UPDATE SET
                       size = excluded.size, mtime_ns = excluded.mtime_ns,
                       digest = excluded.digest, body_key = excluded.body_key,
                       acc_slug = excluded.acc_slug, kind = excluded.kind,
                       taken_at = excluded.taken_at, status = excluded.status,
                       reason = excluded.reason, last_seen = excluded.last_seen,
                       undated = excluded.undated""",
                (
                    str(path),
                    int(size),
                    int(mtime_ns),
                    digest,
                    body_key,
                    acc_slug,
                    None if kind is None else FrameKind(kind).value,
                    _iso(taken_at),
                    FileStatus(status).value,
                    reason,
                    seen,
                    seen,
                    int(bool(undated)),
                ),
            )

    def files(self, status: FileStatus | None = None, body_key: str | None = None) -> list[FileRow]:
        """Files, by path; optionally only one status and/or one body."""
        rows = self._q(
            """SELECT * FROM files
               WHERE (? IS NULL OR status = ?) AND (? IS NULL OR body_key = ?)
               ORDER BY path""",
            (_value(status), _value(status), body_key, body_key),
        ).fetchall()
        return [file_row(r) for r in rows]

    def undated_count(self, body_key: str | None = None) -> int:
        """How many ingested photos (of one body, or all) keep no capture date."""
        row = self._q(
            """SELECT COUNT(*) FROM files
               WHERE undated = 1 AND status = ? AND (? IS NULL OR body_key = ?)""",
            (FileStatus.INGESTED.value, body_key, body_key),
        ).fetchone()
        return int(row[0])

    def status_counts(self, body_key: str | None = None) -> dict[str, dict[str, int]]:
        """``{status: {reason: count}}`` with every status present, for summaries."""
        counts: dict[str, dict[str, int]] = {s.value: {} for s in FileStatus}
        rows = self._q(
            """SELECT status, reason, COUNT(*) FROM files WHERE (? IS NULL OR body_key = ?)
               GROUP BY status, reason ORDER BY status, COUNT(*) DESC, reason""",
            (body_key, body_key),
        ).fetchall()
        for status, reason, n in rows:
            counts.setdefault(status, {})[reason] = int(n)
        return counts

    # ------------------------------------------------------------------ bodies

    def ensure_body(self, body: BodyId, seen_at: datetime) -> bool:
        """Add the body if it is new; then also write a ``new_body`` event. A known body
        read before its serial's spelling was kept gets it now."""
        with self.atomic():
            cur = self._q(
                """INSERT INTO bodies (key, make, model, serial, first_seen, serial_shown)
                   VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING""",
                (body.key, body.make, body.model, body.serial, _iso(seen_at), body.shown),
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
        self.ensure_body(key.body, _now())
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
                (_latest(body["last_photo"], taken_at), key.body.key),
            )
            acc = self._q(
                "SELECT first_taken, last_taken FROM accumulators WHERE slug = ?", (key.slug,)
            ).fetchone()
            self._q(
                """UPDATE accumulators SET frames = frames + 1, first_taken = ?, last_taken = ?
                   WHERE slug = ?""",
                (
                    _earliest(acc["first_taken"], taken_at),
                    _latest(acc["last_taken"], taken_at),
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
                        _earliest(target["first_seen"], from_iso(old["first_seen"])),
                        _latest(target["last_photo"], from_iso(old["last_photo"])),
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
                    _earliest(target["first_taken"], from_iso(acc["first_taken"])),
                    _latest(target["last_taken"], from_iso(acc["last_taken"])),
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
                    _earliest(kept["onset"], from_iso(d["onset"])),
                    _earliest(kept["confirmed"], from_iso(d["confirmed"])),
                    int(bool(kept["seen"]) and bool(d["seen"])),
                    _latest(kept["updated"], from_iso(d["updated"])),
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
        q = _norm(query)
        if not q:
            return []
        everything = self.bodies()
        names = {b.key: _names(b) for b in everything}
        serial = query.strip().lstrip("#").strip()
        rules: list[Callable[[BodyRow], bool]] = [
            lambda b: b.key == query,
            lambda b: _same_serial(b, serial),
            lambda b: q in names[b.key],
            lambda b: any(n.startswith(q + " ") for n in names[b.key]),
            lambda b: any(n.startswith(q) for n in names[b.key]),
        ]
        for rule in rules:
            found = [b for b in everything if rule(b)]
            if found:
                return found
        return []

    # ------------------------------------------------------------------ defects

    def sync_defects(
        self, key: AccumulatorKey, found: Sequence[Defect], at: datetime, *, announce: bool = True
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
        threshold fluctuates. Returns the ``new_defect`` events written, in the order of
        ``found``.
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
                    event = self._insert_defect(key, defect, at, row, announce)
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
    ) -> NewDefect | None:
        """A defect at a new position, or again at the position of a gone one; its event,
        unless its announcement is left to :mod:`hotwatch.state.sensors`."""
        values = (
            DefectKind(defect.kind).value,
            _score(defect.score),
            _iso(defect.onset),
            _iso(defect.confirmed),
            _iso(at),
        )
        if gone is None:
            defect_id = self._q(
                """INSERT INTO defects (acc_slug, body_key, x, y, kind, score, onset,
                       confirmed, updated, announced) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (key.slug, key.body.key, int(defect.x), int(defect.y), *values, int(announce)),
            ).lastrowid
            note = "found"
        else:
            defect_id = gone.id
            self._q(
                """UPDATE defects SET kind = ?, score = ?, onset = ?, confirmed = ?,
                       updated = ?, status = 'active', seen = 0, announced = ? WHERE id = ?""",
                (*values, int(announce), defect_id),
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
            changes.append(f"onset {_iso(row.onset)} -> {_iso(onset)}")
        confirmed = defect.confirmed if defect.confirmed is not None else row.confirmed
        self._q(
            """UPDATE defects SET kind = ?, score = ?, onset = ?, confirmed = ?, updated = ?
               WHERE id = ?""",
            (kind.value, _score(defect.score), _iso(onset), _iso(confirmed), _iso(at), row.id),
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
                    ("gone", _iso(at), row.id),
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
            (defect_id, _iso(at), DefectKind(kind).value, _score(score), _iso(onset), note),
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

    # ------------------------------------------------------------------ frame maps

    def frame_maps(self, body_key: str) -> list[MapRow]:
        """A body's JPEG <-> raw maps (every status), by geometry."""
        rows = self._q(
            """SELECT * FROM frame_maps WHERE body_key = ?
               ORDER BY raw_width, raw_height, jpeg_width DESC, jpeg_height DESC""",
            (body_key,),
        ).fetchall()
        return [map_row(r) for r in rows]

    def model_maps(self, make: str, model: str) -> list[MapRow]:
        """The known maps of every body of one model (a camera model crops its JPEGs one
        way: a map one body learned holds for its siblings), newest first."""
        rows = self._q(
            """SELECT m.* FROM frame_maps m JOIN bodies b ON b.key = m.body_key
               WHERE b.make = ? AND b.model = ? AND m.status = 'known'
               ORDER BY m.updated DESC""",
            (make, model),
        ).fetchall()
        return [map_row(r) for r in rows]

    def save_map(
        self,
        body_key: str,
        raw_size: tuple[int, int],
        jpeg_size: tuple[int, int],
        *,
        status: str,
        fmap: FrameMap | None = None,
        source: str = "",
        fits: Sequence[Sequence[float]] = (),
        attempts: int = 0,
        tried_at_frames: int = 0,
        note: str = "",
    ) -> None:
        """Write one body's map of one (raw, JPEG) geometry pair, replacing what it held."""
        with self.atomic():
            self._q(
                """INSERT INTO frame_maps (body_key, raw_width, raw_height, jpeg_width,
                       jpeg_height, status, map, source, fits, attempts, tried_at_frames,
                       note, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (body_key, raw_width, raw_height, jpeg_width, jpeg_height)
                   DO UPDATE SET status = excluded.status, map = excluded.map,
                       source = excluded.source, fits = excluded.fits,
                       attempts = excluded.attempts, tried_at_frames = excluded.tried_at_frames,
                       note = excluded.note, updated = excluded.updated""",
                (
                    body_key,
                    int(raw_size[0]),
                    int(raw_size[1]),
                    int(jpeg_size[0]),
                    int(jpeg_size[1]),
                    status,
                    None if fmap is None else json.dumps(fmap.to_list()),
                    source,
                    json.dumps([[float(v) for v in f] for f in fits]),
                    int(attempts),
                    int(tried_at_frames),
                    note,
                    _iso(_now()),
                ),
            )

    # ------------------------------------------------------------------ events

    def add_event(self, event: Event) -> int:
        """Append an event (its payload as JSON; datetimes as ISO text); returns its id."""
        text = json.dumps(event.payload(), default=_json_default, sort_keys=True)
        with self.atomic():
            cur = self._q(
                "INSERT INTO events (created, type, body_key, payload) VALUES (?, ?, ?, ?)",
                (_iso(_now()), event.type, event.body_key or None, text),
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

    # ------------------------------------------------------------------ state

    def get_state(self, key: str, default: str | None = None) -> str | None:
        row = self._q("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else str(row[0])

    def set_state(self, key: str, value: str) -> None:
        with self.atomic():
            self._q(
                """INSERT INTO meta (key, value, updated) VALUES (?, ?, ?)
                   ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                       updated = excluded.updated""",
                (key, str(value), _iso(_now())),
            )

    def state_keys(self, prefix: str) -> list[str]:
        """The ``meta`` keys that start with ``prefix``, sorted."""
        rows = self._q(
            "SELECT key FROM meta WHERE substr(key, 1, ?) = ? ORDER BY key",
            (len(prefix), prefix),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def delete_state(self, key: str) -> None:
        """Forget a ``meta`` value (a state that belonged to a body that is gone)."""
        with self.atomic():
            self._q("DELETE FROM meta WHERE key = ?", (key,))


# --------------------------------------------------------------------------- row mapping


def _value(member: Enum | str | None) -> str | None:
    if member is None:
        return None
    return member.value if isinstance(member, Enum) else str(member)


def _score(score: float) -> float:
    value = float(score)
    if not math.isfinite(value):
        # SQLite would store NaN as NULL and fail the NOT NULL constraint obscurely.
        raise ValueError(f"score must be finite, got {score!r}")
    return value


def _names(body: BodyRow) -> set[str]:
    serials = {body.serial or "", body.shown or ""}
    return {
        _norm(f"{prefix}{serial}")
        for serial in serials
        for prefix in (f"{body.make} {body.model} ", f"{body.model} ")
    }


def _same_serial(body: BodyRow, query: str) -> bool:
    """``query`` names this body's serial in one of its spellings: the key, the camera's,
    or one that normalises to either (``0830512345`` = ``830512345``)."""
    if body.serial is None or not query:
        return False
    spellings = {body.serial, body.shown or body.serial}
    folded = {s.casefold() for s in spellings}
    keys = {normalise_serial(s) for s in spellings}
    return query.casefold() in folded or normalise_serial(query) in keys
