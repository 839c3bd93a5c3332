"""The catalogue's connection: open (migrated, checked), transactions, key-value state."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from hotwatch.core.errors import UserError

from ..schema import SCHEMA_VERSION, apply_migrations, schema_version
from .values import DEFAULT_TIMEOUT, damaged, is_damage, iso, now_utc

log = logging.getLogger(__name__)


class Connection:
    """The catalogue's SQLite connection: opening, checking, transactions, and its
    key-value state (the layers of queries build on it).

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
            raise damaged(self.path, str(e)) from e
        problems = [str(r[0]) for r in rows if r[0] != "ok"]
        if problems:
            raise damaged(self.path, "; ".join(problems[:3]))

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _q(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run one statement; corruption found later still becomes DamagedState."""
        try:
            return self._conn.execute(sql, params)
        except sqlite3.DatabaseError as e:
            if is_damage(e):
                raise damaged(self.path, str(e)) from e
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
                (key, str(value), iso(now_utc())),
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
