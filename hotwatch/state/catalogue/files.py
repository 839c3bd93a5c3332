"""The catalogue's files: seen, their status, digest and capture time."""

from __future__ import annotations

from datetime import datetime

from hotwatch.core.model import FileStatus, FrameKind

from ..rows import (
    FileRow,
    file_row,
)
from .connection import Connection
from .values import iso, now_utc, stored_value


class Files(Connection):
    """The catalogue's files: seen, their status, digest and capture time."""

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
        seen = iso(seen_at or now_utc())
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
                    iso(taken_at),
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
            (stored_value(status), stored_value(status), body_key, body_key),
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
