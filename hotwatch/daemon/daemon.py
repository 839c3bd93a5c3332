"""``hotwatch watch``: the daemon that keeps every body's accumulator current.

Three roles, kept apart (watchdog's producer/queue/consumer shape):

* Observer threads (watchdog) call :class:`~hotwatch.daemon.inbox.Handler`, which
  only puts a path in the :class:`~hotwatch.daemon.inbox.Inbox` (a set: a card import
  of 1,000 files costs 1,000 entries, however many events each file produces) and
  never raises.
* One worker thread owns the catalogue connection, the exiftool process and the
  :class:`~hotwatch.pipeline.ingest.Ingestor`. It moves paths from the inbox to the
  :class:`~hotwatch.daemon.settler.Settler`, which says when a file is complete (size
  and mtime unchanged for ``settle_seconds``, it can be opened, a JPEG ends with its end
  marker), and ingests the complete ones, in capture order like ``hotwatch scan`` so
  that both give the same results. It checkpoints when the queue drains and at least
  every ~20 s while busy.
* The main thread handles signals, systemd notifications
  (:mod:`hotwatch.daemon.systemd`: READY, WATCHDOG only while the worker shows signs
  of life, STATUS, STOPPING) and the observers' health.

Events alone are not trusted: the worker rescans every folder at start (the
catch-up: unchanged files are not read), every ``rescan_minutes``, when
watchdog reports an inotify queue overflow, when a folder could not be watched
(inotify watch limit: that folder is then polled), and when the tray touches
``run/rescan``. ``run/paused`` makes the worker keep queueing without ingesting. The
lock that keeps one daemon per state folder, its published status and those flags are
:mod:`hotwatch.state.runfiles`, which the tray and ``hotwatch status`` read too.

Crash safety comes from the ingest layer (accumulators list the content digests
they absorbed and are saved before catalogue rows are committed), so a SIGKILL
at any instant loses nothing and counts nothing twice: the next start's
catch-up scan finds the files whose rows were not committed.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

from hotwatch.core.errors import HotwatchError, UserError
from hotwatch.core.events import NewDefect
from hotwatch.core.model import FileStatus
from hotwatch.io import memory
from hotwatch.io.exif import capture_order
from hotwatch.pipeline.ingest import CHECKPOINT_SECONDS, Ingestor, walk
from hotwatch.pipeline.rebuild import rebuild_outdated
from hotwatch.pipeline.reidentify import reidentify
from hotwatch.state import runfiles
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.config import Paths

from .inbox import Handler, Inbox, OverflowListener, wanted
from .settler import Settler
from .systemd import SystemdNotifier

log = logging.getLogger(__name__)

#: How often the worker re-stats the files it waits for, at most.
SETTLE_TICK = 0.25
#: SIGTERM: how long the worker may take to finish its frame before it is abandoned.
STOP_TIMEOUT = 8.0
STATUS_INTERVAL = 0.5
HEALTH_INTERVAL = 5.0


@dataclass(frozen=True)
class WatchOptions:
    """What to watch and how; built by the CLI from the config file and options."""

    folders: tuple[Path, ...]
    poll: bool = False
    settle_seconds: float = 2.0
    rescan_minutes: float = 30.0
    poll_interval: float = 1.0  #: seconds between two polls of a folder (``--poll``)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- daemon


class Daemon:
    """The watch daemon; ``run()`` blocks in the main thread until SIGTERM/SIGINT.

    ``exiftool`` is a factory called on the worker thread (``ExifTool.find``
    by default); its result, if not None, is closed at the end.
    """

    def __init__(
        self,
        paths: Paths,
        options: WatchOptions,
        *,
        exiftool: Callable[[], Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if not options.folders:
            raise UserError("no folders to watch: use `hotwatch folders add PATH` or give PATHs")
        self.paths = paths.ensure()
        self.options = options
        self._exiftool_factory = exiftool
        self.inbox = Inbox()
        self.settler = Settler(options.settle_seconds)
        self.notifier = SystemdNotifier(environ)
        self.lock = runfiles.InstanceLock(paths.daemon_lock)
        self._stop = threading.Event()
        self._failed = False
        self._beat = time.monotonic()
        self._observers: list[BaseObserver] = []
        self._poller: PollingObserver | None = None
        self._watched: dict[str, tuple[BaseObserver, ObservedWatch]] = {}
        self._worker: threading.Thread | None = None
        self._overflow = OverflowListener(self.inbox)
        # Published state (written by the worker, read by `hotwatch status`).
        self._state = "starting"
        self._last_photo: str | None = None
        self._last_photo_at: str | None = None
        self._ingested = 0
        self._new_defects = 0
        self._last_status = 0.0
        self._checkpointed = time.monotonic()
        self._started = _now_iso()

    # -- main thread ---------------------------------------------------------------

    def run(self) -> int:
        """Lock, start observers and worker, serve until stopped; 0 on a clean stop."""
        self.lock.acquire()
        for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
            os.environ.pop(name, None)  # children (exiftool) must not talk to systemd
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        logging.getLogger("watchdog").addHandler(self._overflow)
        try:
            self._start_observers()
            self._worker = threading.Thread(target=self._work, name="hotwatch-worker", daemon=True)
            self._worker.start()
            self.notifier.notify("READY=1", f"STATUS={self._status_line()}")
            self._serve()
            return self._shutdown()
        finally:
            logging.getLogger("watchdog").removeHandler(self._overflow)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.notifier.close()
            self.lock.release()

    def stop(self) -> None:
        self._stop.set()
        self.inbox.wake()

    def _on_signal(self, signum: int, _frame: object) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        self.stop()

    def _serve(self) -> None:
        interval = self.notifier.watchdog_interval
        tick = min(1.0, interval) if interval else 1.0
        next_health = time.monotonic() + HEALTH_INTERVAL
        while not self._stop.wait(tick):
            worker = self._worker
            if worker is None or not worker.is_alive():
                break
            # Ping only while the worker shows signs of life: if it hangs, systemd restarts us.
            if interval and time.monotonic() - self._beat < 2 * interval:
                self.notifier.notify("WATCHDOG=1")
            if time.monotonic() >= next_health:
                self._check_observers()
                next_health = time.monotonic() + HEALTH_INTERVAL

    def _shutdown(self) -> int:
        self.notifier.notify("STOPPING=1", "STATUS=stopping")
        self._stop.set()
        self.inbox.wake()
        for obs in self._all_observers():
            obs.stop()
        for obs in self._all_observers():
            obs.join(timeout=2.0)
        worker = self._worker
        if worker is not None:
            worker.join(timeout=STOP_TIMEOUT)
            if worker.is_alive():
                # Abandoning the frame is safe (nothing half-written is ever trusted), but the
                # worker thread may sit in native code: leave without waiting for it.
                log.warning("the current photo is taking too long; abandoning it")
                self._publish("stopped", force=True)
                logging.shutdown()
                os._exit(0)
        self._publish("stopped", force=True)
        if self._failed:
            return 1
        log.info("stopped")
        return 0

    # -- observers -----------------------------------------------------------------

    def _all_observers(self) -> list[BaseObserver]:
        return self._observers + ([self._poller] if self._poller else [])

    def _start_observers(self) -> None:
        if self.options.poll:
            main: BaseObserver = PollingObserver(timeout=self.options.poll_interval)
        else:
            main = Observer()
        main.name = "hotwatch-observer"
        main.daemon = True
        main.start()  # started first, so a failing schedule() raises for its folder only
        self._observers.append(main)
        method = "polling" if self.options.poll else _observer_name(main)
        for folder in self.options.folders:
            self._schedule(main, str(folder))
        names = ", ".join(str(f) for f in self.options.folders)
        log.info("watching %d folder(s) (%s): %s", len(self.options.folders), method, names)

    def _schedule(self, observer: BaseObserver, folder: str) -> None:
        if not os.path.isdir(folder):
            log.warning("%s: no such folder (yet); it will be watched once it exists", folder)
            return
        try:
            watch = observer.schedule(Handler(self.inbox, folder), folder, recursive=True)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EMFILE) or isinstance(
                observer, PollingObserver
            ):
                log.warning("%s: cannot watch: %s; rescans will find its photos", folder, exc)
                return
            log.warning(
                "%s: %s (raise fs.inotify.max_user_watches / max_user_instances); "
                "polling this folder instead",
                folder,
                exc.strerror or exc,
            )
            self._poll_folder(folder)
            return
        self._watched[folder] = (observer, watch)

    def _poll_folder(self, folder: str) -> None:
        if self._poller is None:
            self._poller = PollingObserver(timeout=max(self.options.poll_interval, 5.0))
            self._poller.name = "hotwatch-poller"
            self._poller.daemon = True
            self._poller.start()
        self._schedule(self._poller, folder)
        self.inbox.request_rescan("folder not fully watched", folder)

    def _check_observers(self) -> None:
        """Watch folders that appeared; poll folders whose inotify emitter died."""
        for folder in map(str, self.options.folders):
            entry = self._watched.get(folder)
            if entry is None:
                if os.path.isdir(folder):
                    log.info("%s: now present, watching it", folder)
                    self._schedule(self._observers[0], folder)
                    self.inbox.request_rescan("folder appeared", folder)
                continue
            observer, watch = entry
            emitters = [e for e in observer.emitters if e.watch == watch]
            if observer.is_alive() and all(e.is_alive() for e in emitters) and emitters:
                continue
            del self._watched[folder]
            with contextlib.suppress(KeyError, OSError):
                observer.unschedule(watch)
            if not os.path.isdir(folder):
                log.warning("%s: folder gone; it will be watched again once it exists", folder)
            elif isinstance(observer, PollingObserver):
                self._schedule(observer, folder)
                self.inbox.request_rescan("polling restarted", folder)
            else:
                log.warning("%s: watching stopped; polling this folder instead", folder)
                self._poll_folder(folder)

    # -- worker thread ---------------------------------------------------------------

    def _work(self) -> None:
        cat = et = ingestor = None
        try:
            cat = Catalogue(self.paths.catalogue)
            et = self._make_exiftool()
            # Accumulators of an older format are rebuilt from their photos, and bodies
            # keyed by a weaker reading (exiftool installed since, an older hotwatch)
            # move to their right key, before any accumulator is loaded.
            for rebuilt in rebuild_outdated(self.paths, cat, et, self._rebuilding):
                log.info("%s", rebuilt.line)
            for migration in reidentify(self.paths, cat, et):
                log.info("%s", migration.line)
            ingestor = Ingestor(self.paths, cat, exiftool=et, on_new_defect=self._on_new_defect)
            self._loop(ingestor)
        except _Stopped:  # stopped while rebuilding: it resumes at the next start
            log.info("stopped before the rebuild was done; it goes on at the next start")
        except HotwatchError as exc:  # a damaged catalogue, say: one line, exit 1
            log.error("%s", exc)
            self._failed = True
        except Exception:
            # Unexpected (catalogue damaged, disk full, a bug): end the process so that
            # systemd's Restart=on-failure brings back a clean one.
            log.exception("the worker failed")
            self._failed = True
        finally:
            try:
                if ingestor is not None and not self._failed:
                    ingestor.close()
            except Exception:
                log.exception("final checkpoint failed")
                self._failed = True
            if et is not None:
                et.close()
            if cat is not None:
                cat.close()
            self.stop()

    def _rebuilding(self, done: int, total: int, path: Path) -> None:
        """Rebuild progress: a sign of life for the watchdog, a status, a way out on stop."""
        self._beat = time.monotonic()
        self._publish(f"rebuilding ({done}/{total})")
        if self._stop.is_set():
            raise _Stopped

    def _make_exiftool(self) -> Any:
        if self._exiftool_factory is not None:
            return self._exiftool_factory()
        from hotwatch.io.exiftool import ExifTool

        return ExifTool.find()

    def _loop(self, ingestor: Ingestor) -> None:
        interval = self.options.rescan_minutes * 60.0
        self._rescan(ingestor, None, "catch-up")
        next_rescan = time.monotonic() + interval if interval > 0 else None
        last_pass = 0.0
        dirty = False  # catalogue rows waiting for a checkpoint
        tick = min(SETTLE_TICK, max(self.options.settle_seconds / 4, 0.05))
        while not self._stop.is_set():
            self._beat = time.monotonic()
            self._drain(ingestor)
            if runfiles.take_rescan_request(self.paths):
                self._rescan(ingestor, None, "requested")
            if next_rescan is not None and time.monotonic() >= next_rescan:
                self._rescan(ingestor, None, "periodic")
                next_rescan = time.monotonic() + interval
            if runfiles.is_paused(self.paths):
                if dirty:
                    self._checkpoint(ingestor)
                    dirty = False
                self._publish("paused")
                self.inbox.wait(1.0)
                continue
            now = time.monotonic()
            if now - last_pass < tick:
                self.inbox.wait(tick - (now - last_pass))
                continue
            last_pass = now
            ready, wait = self.settler.ready(now)
            if ready:
                dirty |= self._ingest_batch(ingestor, ready)
                continue
            if dirty and not len(self.settler) and not len(self.inbox):
                self._checkpoint(ingestor)
                dirty = False
                memory.release()  # the queue ran dry: give the photos' buffers back
            self._publish("waiting" if len(self.settler) else "idle")
            timeout = 1.0 if wait is None else min(1.0, max(wait, tick))
            if next_rescan is not None:
                timeout = min(timeout, max(0.0, next_rescan - time.monotonic()))
            self.inbox.wait(timeout)

    def _drain(self, ingestor: Ingestor) -> None:
        """Move the inbox to the settler; walk new folders; run requested rescans."""
        files, dirs, rescans = self.inbox.take()
        for path in files:
            self.settler.add(Path(path))
        for folder in dirs:
            self._walk_into(ingestor, [Path(folder)], check_unchanged=True)
        for folder, reason in rescans.items():
            self._rescan(ingestor, folder, reason)

    def _rescan(self, ingestor: Ingestor, folder: str | None, reason: str) -> None:
        roots = [Path(folder)] if folder else list(self.options.folders)
        before = len(self.settler)
        self._publish("scanning", force=True)
        self._walk_into(ingestor, roots, check_unchanged=True)
        added = len(self.settler) - before
        level = logging.INFO if added or reason != "periodic" else logging.DEBUG
        log.log(level, "%s scan: %d new or changed photo(s) to read", reason, added)

    def _walk_into(self, ingestor: Ingestor, roots: Iterable[Path], check_unchanged: bool) -> None:
        """Queue every wanted file under ``roots`` that the catalogue does not know as is."""

        def on_error(path: Path, reason: str) -> None:
            log.warning("%s: %s", path, reason)

        for i, path in enumerate(walk([r for r in roots if r.exists()], on_error)):
            if i % 200 == 0:
                self._beat = time.monotonic()
                if self._stop.is_set():
                    return
            path = Path(os.path.abspath(path))
            if not wanted(path) or path in self.settler:
                continue
            if check_unchanged and ingestor.triage(path) is not None:
                continue
            self.settler.add(path)

    def _ingest_batch(self, ingestor: Ingestor, ready: list[Path]) -> bool:
        """Ingest complete files in capture order (as ``scan`` does); True if any was recorded."""
        order = {}
        for path in ready:  # a stalled share may take seconds a file: stay alive meanwhile
            order[path] = capture_order(path, ingestor.exiftool)  # type: ignore[arg-type]
            self._beat = time.monotonic()
        ready.sort(key=lambda p: (order[p], str(p)))
        started = time.monotonic()
        counts: dict[str, int] = {}
        recorded = False
        if self._stop.is_set() or runfiles.is_paused(self.paths):
            return False
        # the next photos are decoded meanwhile; the photos not yet absorbed when the
        # loop ends (stop, pause, an error) stay queued
        with contextlib.closing(ingestor.ingest_files(ready)) as outcomes:
            for out in outcomes:
                self._beat = time.monotonic()
                self.settler.forget(out.path)  # a later event for it puts it back
                if out.status is None:
                    log.debug("%s: %s", out.path, out.reason)
                else:
                    recorded = True
                    counts[out.status.value] = counts.get(out.status.value, 0) + 1
                if out.status is FileStatus.INGESTED:
                    log.debug("ingested %s (%s)", out.path, out.body.label if out.body else "?")
                    self._ingested += 1
                    self._last_photo, self._last_photo_at = str(out.path), _now_iso()
                self._publish("ingesting")
                if time.monotonic() - self._checkpointed > CHECKPOINT_SECONDS:
                    self._checkpoint(ingestor)  # the Ingestor also does, as its saves allow
                if self._stop.is_set() or runfiles.is_paused(self.paths):
                    break
        if counts:
            text = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
            left = len(self.settler) + len(self.inbox)
            log.info(
                "read %s in %.1f s; %d file(s) waiting",
                text,
                time.monotonic() - started,
                left,
            )
        return recorded

    def _checkpoint(self, ingestor: Ingestor) -> None:
        ingestor.checkpoint()
        self._checkpointed = time.monotonic()

    def _on_new_defect(self, event: NewDefect) -> None:
        self._new_defects += 1

    # -- status --------------------------------------------------------------------

    def _publish(self, state: str, *, force: bool = False) -> None:
        """Write ``run/status.json`` (and systemd's STATUS) on changes, at most twice a second."""
        now = time.monotonic()
        if not force and state == self._state and now - self._last_status < STATUS_INTERVAL:
            return
        self._state = state
        self._last_status = now
        data = {
            "pid": os.getpid(),
            "state": state,
            "started": self._started,
            "updated": _now_iso(),
            "folders": [str(f) for f in self.options.folders],
            "poll": self.options.poll,
            "queue": len(self.settler) + len(self.inbox),
            "ingested": self._ingested,
            "new_defects": self._new_defects,
            "last_photo": self._last_photo,
            "last_photo_at": self._last_photo_at,
        }
        try:
            runfiles.publish_status(self.paths, data)
        except OSError as exc:
            log.debug("cannot write status: %s", exc)
        self.notifier.notify(f"STATUS={self._status_line()}")

    def _status_line(self) -> str:
        queue = len(self.settler) + len(self.inbox)
        last = Path(self._last_photo).name if self._last_photo else "none yet"
        return f"{self._state}; {queue} queued; {self._ingested} read; last photo {last}"


class _Stopped(Exception):
    """Raised out of a long start-up step when the daemon is asked to stop."""


def _observer_name(observer: BaseObserver) -> str:
    name = type(observer).__name__.removesuffix("Observer").lower()
    return name or "native"
