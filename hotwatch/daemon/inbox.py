"""The daemon's inbox: paths the observers report, waiting for the worker.

Observer threads (watchdog) call :class:`Handler`, which only puts a path in the
:class:`Inbox` (a set: a card import of 1,000 files costs 1,000 entries, however many events
each file produces) and never raises. watchdog reports an inotify queue overflow only as a
log line; :class:`OverflowListener` turns it into a rescan request.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler

from hotwatch.io import frames
from hotwatch.pipeline.ingest import is_quiet

log = logging.getLogger(__name__)


def wanted(path: Path) -> bool:
    """A photo file the daemon should read (sidecars and other files are ignored quietly)."""
    return not is_quiet(path) and frames.frame_kind_for(path) is not None


def _hidden_below(path: str, root: str) -> bool:
    """True if a folder or file under ``root`` on the way to ``path`` is hidden (as walk skips)."""
    rel = os.path.relpath(path, root)
    return any(part.startswith(".") and part not in (".", "..") for part in Path(rel).parts)


class Inbox:
    """Paths reported by the observers, waiting for the worker; thread-safe, deduplicated.

    Dicts keep the order of first arrival. Rescan requests carry a reason (for
    the log) and optionally the folder to rescan (None: all).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._files: dict[str, None] = {}
        self._dirs: dict[str, None] = {}
        self._rescans: dict[str | None, str] = {}

    def put_file(self, path: str) -> None:
        with self._cond:
            self._files[path] = None
            self._cond.notify()

    def put_dir(self, path: str) -> None:
        with self._cond:
            self._dirs[path] = None
            self._cond.notify()

    def request_rescan(self, reason: str, folder: str | None = None) -> None:
        with self._cond:
            self._rescans.setdefault(folder, reason)
            self._cond.notify()

    def take(self) -> tuple[list[str], list[str], dict[str | None, str]]:
        """Everything queued so far (files, folders, rescans), emptying the inbox."""
        with self._cond:
            out = list(self._files), list(self._dirs), dict(self._rescans)
            self._files.clear()
            self._dirs.clear()
            self._rescans.clear()
            return out

    def wait(self, timeout: float) -> None:
        """Block until something is queued or ``wake`` is called, at most ``timeout`` s."""
        with self._cond:
            if not (self._files or self._dirs or self._rescans):
                self._cond.wait(timeout)

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._files) + len(self._dirs)


class Handler(FileSystemEventHandler):
    """Runs on an observer thread: puts paths in the inbox, nothing else, never raises."""

    def __init__(self, inbox: Inbox, root: str) -> None:
        self.inbox = inbox
        self.root = root

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            self._route(event)
        except Exception:  # a bug here must not stop event delivery
            log.exception("cannot queue file event %r", event)

    def _route(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if kind == "moved":
            path = os.fsdecode(event.dest_path)
        elif kind in ("created", "modified", "closed"):
            path = os.fsdecode(event.src_path)
        else:  # deleted, opened, closed_no_write, attrib (a touch changes mtime: modified)
            return
        if not path or _hidden_below(path, self.root):
            return
        if event.is_directory:
            if kind in ("created", "moved"):
                log.debug("folder %s: %s", kind, path)
                self.inbox.put_dir(path)
            return
        if wanted(Path(path)):
            log.debug("%s: %s", kind, path)
            self.inbox.put_file(path)


class OverflowListener(logging.Handler):
    """watchdog reports an inotify queue overflow only as a log line: turn it into a rescan."""

    def __init__(self, inbox: Inbox) -> None:
        super().__init__(logging.WARNING)
        self.inbox = inbox

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if "overflow" in record.getMessage().lower():
                self.inbox.request_rescan("inotify queue overflowed: events were lost")
        except Exception:  # logging handlers must not raise
            pass
