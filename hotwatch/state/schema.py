"""The catalogue's schema: its migrations, applied in order, each in its own transaction.

The schema is versioned with ``PRAGMA user_version`` and migrated step by step. Each step
runs in one transaction together with its version bump and its row in ``migrations``, so a
step that fails stays pending and is tried again next time, and two processes opening a new
catalogue at once migrate it once. A migration is never edited once released: a change to
the schema is a new step at the end of :data:`MIGRATIONS`.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    """One schema step; applied once, in order, in its own transaction."""

    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "initial schema",
        (
            """CREATE TABLE files (
                id INTEGER PRIMARY KEY,
                path TEXT NOT NULL UNIQUE,
                size INTEGER NOT NULL,
                mtime_ns INTEGER NOT NULL,
                sha256 TEXT,
                body_key TEXT,
                acc_slug TEXT,
                kind TEXT CHECK (kind IN ('jpeg', 'raw')),
                taken_at TEXT,
                status TEXT NOT NULL CHECK (status IN ('ingested', 'skipped', 'failed')),
                reason TEXT NOT NULL DEFAULT '',
                first_seen TEXT NOT NULL,
                last_seen TEXT NOT NULL
            )""",
            "CREATE INDEX files_sha256 ON files (sha256)",
            "CREATE INDEX files_body_key ON files (body_key)",
            """CREATE TABLE bodies (
                key TEXT PRIMARY KEY,
                make TEXT NOT NULL,
                model TEXT NOT NULL,
                serial TEXT,
                first_seen TEXT NOT NULL,
                last_photo TEXT,
                frames_raw INTEGER NOT NULL DEFAULT 0,
                frames_jpeg INTEGER NOT NULL DEFAULT 0
            )""",
            """CREATE TABLE accumulators (
                slug TEXT PRIMARY KEY,
                body_key TEXT NOT NULL REFERENCES bodies (key),
                kind TEXT NOT NULL CHECK (kind IN ('jpeg', 'raw')),
                width INTEGER NOT NULL,
                height INTEGER NOT NULL,
                frames INTEGER NOT NULL DEFAULT 0,
                first_taken TEXT,
                last_taken TEXT
            )""",
            "CREATE INDEX accumulators_body_key ON accumulators (body_key)",
            """CREATE TABLE defects (
                id INTEGER PRIMARY KEY,
                acc_slug TEXT NOT NULL REFERENCES accumulators (slug),
                body_key TEXT NOT NULL,
                x INTEGER NOT NULL,
                y INTEGER NOT NULL,
                kind TEXT NOT NULL CHECK (kind IN ('hot', 'stuck', 'dead')),
                score REAL NOT NULL,
                onset TEXT,
                confirmed TEXT,
                status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'gone')),
                seen INTEGER NOT NULL DEFAULT 0,
                updated TEXT NOT NULL,
                UNIQUE (acc_slug, x, y)
            )""",
            "CREATE INDEX defects_body_key ON defects (body_key)",
            """CREATE TABLE defect_history (
                id INTEGER PRIMARY KEY,
                defect_id INTEGER NOT NULL REFERENCES defects (id),
                at TEXT NOT NULL,
                kind TEXT NOT NULL,
                score REAL NOT NULL,
                onset TEXT,
                note TEXT NOT NULL DEFAULT ''
            )""",
            "CREATE INDEX defect_history_defect_id ON defect_history (defect_id)",
            # AUTOINCREMENT: ids are never reused, even if old events are pruned,
            # so a reader's "last seen id" stays meaningful.
            """CREATE TABLE events (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                created TEXT NOT NULL,
                type TEXT NOT NULL,
                body_key TEXT,
                payload TEXT NOT NULL DEFAULT '{}'
            )""",
            """CREATE TABLE meta (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL,
                updated TEXT NOT NULL
            )""",
            """CREATE TABLE migrations (
                version INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                applied TEXT NOT NULL
            )""",
        ),
    ),
    Migration(
        2,
        "content digest: XXH3-128 instead of SHA-256",
        (
            # rows keep the SHA-256 they were recorded with: their paths are known, and
            # a copy of such a file elsewhere is read (and its accumulator knows it)
            "DROP INDEX files_sha256",
            "ALTER TABLE files RENAME COLUMN sha256 TO digest",
            "CREATE INDEX files_digest ON files (digest)",
        ),
    ),
    Migration(
        3,
        "photos that keep no capture date are marked",
        (
            # 1: an ingested photo that keeps no capture date in any tag; it dates no
            # defect (see hotwatch.io.exif.frame_time). Rows from before are marked from what
            # they say: ingested without a capture time.
            "ALTER TABLE files ADD COLUMN undated INTEGER NOT NULL DEFAULT 0",
            "UPDATE files SET undated = 1 WHERE status = 'ingested' AND taken_at IS NULL",
        ),
    ),
    Migration(
        4,
        "serials as the camera shows them; one defect list per sensor",
        (
            # the serial as the camera and exiftool spell it (NULL: shown by exiftool's
            # integer rules from the key; see hotwatch.core.serial_display)
            "ALTER TABLE bodies ADD COLUMN serial_shown TEXT",
            # 0: a defect whose announcement waits for its body's JPEG <-> raw map, which
            # may show it to be one already announced; every defect before this was announced
            "ALTER TABLE defects ADD COLUMN announced INTEGER NOT NULL DEFAULT 1",
            # where a body's camera JPEG of one size sits on its raw photosites
            # (hotwatch.core.frame_map): learned from RAW+JPEG pairs or from defects
            """CREATE TABLE frame_maps (
                id INTEGER PRIMARY KEY,
                body_key TEXT NOT NULL,
                raw_width INTEGER NOT NULL,
                raw_height INTEGER NOT NULL,
                jpeg_width INTEGER NOT NULL,
                jpeg_height INTEGER NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('learning', 'known', 'failed')),
                map TEXT,
                source TEXT NOT NULL DEFAULT '',
                fits TEXT NOT NULL DEFAULT '[]',
                attempts INTEGER NOT NULL DEFAULT 0,
                tried_at_frames INTEGER NOT NULL DEFAULT 0,
                note TEXT NOT NULL DEFAULT '',
                updated TEXT NOT NULL,
                UNIQUE (body_key, raw_width, raw_height, jpeg_width, jpeg_height)
            )""",
            "CREATE INDEX frame_maps_body_key ON frame_maps (body_key)",
        ),
    ),
)


SCHEMA_VERSION = MIGRATIONS[-1].version


def schema_version(conn: sqlite3.Connection) -> int:
    """The version recorded in the file header (0 for a new, empty file)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def apply_migrations(
    conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS
) -> list[int]:
    """Apply the pending migrations in order; return the versions applied.

    Each step runs in its own ``BEGIN IMMEDIATE`` transaction that also sets
    ``user_version``, so a step that fails leaves the schema at the previous
    version and is retried next time. The version is read again inside the
    transaction: two processes opening a new catalogue at once migrate it once.
    ``conn`` must be in autocommit mode (``isolation_level=None``).
    """
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)) or (versions and versions[0] < 1):
        raise ValueError(f"migrations must have increasing versions >= 1, got {versions}")
    applied: list[int] = []
    for migration in migrations:
        if schema_version(conn) >= migration.version:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(conn) < migration.version:
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO migrations (version, name, applied) VALUES (?, ?, ?)",
                    (migration.version, migration.name, datetime.now(UTC).isoformat()),
                )
                # PRAGMA takes no parameters; the version is an int from our own table.
                conn.execute(f"PRAGMA user_version = {int(migration.version)}")
                applied.append(migration.version)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        log.debug("catalogue migration %d (%s) applied", migration.version, migration.name)
    return applied
