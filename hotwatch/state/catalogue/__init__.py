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

from .defects import Defects
from .files import Files
from .maps import Maps

__all__ = ["Catalogue"]


class Catalogue(Files, Defects, Maps):
    """hotwatch's catalogue in one SQLite file: its files, bodies and accumulators, defects,
    frame maps and events, each a layer of queries on one connection
    (:class:`~hotwatch.state.catalogue.connection.Connection`).

    ``readonly=True`` opens the file with ``mode=ro`` and ``query_only`` (for
    the report, the plugin and other readers): it must already exist at the
    current schema version, and every write raises :class:`PermissionError`.
    """
