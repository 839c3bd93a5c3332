"""``hotwatch watch``: the daemon that keeps every body's accumulator current.

Three roles, kept apart (watchdog's producer/queue/consumer shape):

* Observer threads (watchdog) call :class:`_Handler`, which only puts a path in
  the :class:`Inbox` (a set: a card import of 1,000 files costs 1,000 entries,
  however many events each file produces) and never raises.
* One worker thread owns the catalogue connection, the exiftool process and the
  :class:`~hotwatch.pipeline.ingest.Ingestor`. It moves paths from the inbox to the
  :class:`Settler`, which says when a file is complete (size and mtime unchanged
  for ``settle_seconds``, it can be opened, a JPEG ends with its end marker), and
  ingests the complete ones, in capture order like ``hotwatch scan`` so that
  both give the same results. It checkpoints when the queue drains and at least
  every ~20 s while busy.
* The main thread handles signals, systemd notifications (READY, WATCHDOG only
  while the worker shows signs of life, STATUS, STOPPING) and the observers'
  health.

Events alone are not trusted: the worker rescans every folder at start (the
catch-up: unchanged files are not read), every ``rescan_minutes``, when
watchdog reports an inotify queue overflow, when a folder could not be watched
(inotify watch limit: that folder is then polled), and when the tray touches
``run/rescan``. ``run/paused`` makes the worker keep queueing without ingesting.

Crash safety comes from the ingest layer (accumulators list the content digests
they absorbed and are saved before catalogue rows are committed), so a SIGKILL
at any instant loses nothing and counts nothing twice: the next start's
catch-up scan finds the files whose rows were not committed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

from hotwatch.core.errors import HotwatchError, UserError
from hotwatch.core.events import NewDefect
from hotwatch.core.model import FileStatus
from hotwatch.io import frames, guarded, memory
from hotwatch.io.exif import capture_order
from hotwatch.io.fileio import write_atomically
from hotwatch.pipeline.ingest import CHECKPOINT_SECONDS, Ingestor, is_quiet, walk
from hotwatch.pipeline.rebuild import rebuild_outdated
from hotwatch.pipeline.reidentify import reidentify
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.config import Paths

log = logging.getLogger(__name__)

#: How long a file that looks incomplete (empty, JPEG without its end marker) may stay
#: unchanged before it is ingested anyway (and then recorded as skipped or failed).
INCOMPLETE_GRACE_SECONDS = 60.0
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


def wanted(path: Path) -> bool:
    """A photo file the daemon should read (sidecars and other files are ignored quietly)."""
    return not is_quiet(path) and frames.frame_kind_for(path) is not None


def _hidden_below(path: str, root: str) -> bool:
    """True if a folder or file under ``root`` on the way to ``path`` is hidden (as walk skips)."""
    rel = os.path.relpath(path, root)
    return any(part.startswith(".") and part not in (".", "..") for part in Path(rel).parts)


# --------------------------------------------------------------------------- inbox


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


class _Handler(FileSystemEventHandler):
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


class _OverflowListener(logging.Handler):
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


# --------------------------------------------------------------------------- settling


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float  #: monotonic time the file was last seen to change (or first seen)


class Settler:
    """Decides when a queued file is complete; owned by the worker thread.

    A file is ready once its size and mtime have not changed for
    ``settle_seconds`` and it can be opened; an empty file or a JPEG that does
    not end with its end-of-image marker waits longer (``grace``), since a slow
    copy may stall for a while. Anything but a regular file (a named pipe, a
    device) is ready at once and never opened: the ingest skips it with one line.
    Paths are kept in order of arrival.
    """

    def __init__(self, settle_seconds: float, grace: float = INCOMPLETE_GRACE_SECONDS) -> None:
        self.settle = max(0.0, settle_seconds)
        self.grace = max(grace, self.settle)
        self._seen: dict[Path, _Seen | None] = {}

    def add(self, path: Path) -> None:
        self._seen.setdefault(_key(path), None)

    def forget(self, path: Path) -> None:
        self._seen.pop(_key(path), None)

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, (str, Path)) and _key(path) in self._seen

    def ready(self, now: float) -> tuple[list[Path], float | None]:
        """Files complete now, and in how many seconds the next one may be (None: nothing left)."""
        done: list[Path] = []
        wait: float | None = None
        for path in list(self._seen):
            try:
                st = path.stat()
            except OSError:  # gone (renamed, deleted): its new name comes as its own event
                del self._seen[path]
                continue
            if guarded.not_regular(st.st_mode):
                done.append(path)
                continue
            seen = self._seen[path]
            if seen is None or (seen.size, seen.mtime_ns) != (st.st_size, st.st_mtime_ns):
                self._seen[path] = _Seen(st.st_size, st.st_mtime_ns, now)
                left = self.settle
            else:
                quiet = now - seen.since
                needed = self.settle
                if quiet >= self.settle and not _looks_complete(path, st.st_size):
                    needed = self.grace
                left = needed - quiet
            if left <= 0:
                done.append(path)
            else:
                wait = left if wait is None else min(wait, left)
        return done, wait


def _key(path: str | Path) -> Path:
    """One spelling per file (``DCIM/sub/../a.jpg`` is ``DCIM/a.jpg``), as the ingest
    reports it: a file is forgotten under the name it was queued by."""
    return Path(os.path.abspath(path))


def _looks_complete(path: Path, size: int) -> bool:
    """Cheap signs that a copy has finished: not empty, openable, a JPEG ends with FFD9.

    Opened under guard (:mod:`hotwatch.io.guarded`): a file whose read stalls counts as
    complete, so that the ingest tries it and says why it cannot be read.
    """
    if size == 0:
        return False
    try:
        return guarded.with_file(path, lambda fh: _ends_whole(path, fh, size))
    except guarded.ReadStalled:
        return True
    except (OSError, HotwatchError):
        return False


def _ends_whole(path: Path, fh: BinaryIO, size: int) -> bool:
    if path.suffix.lower() not in (".jpg", ".jpeg"):
        return True
    fh.seek(max(0, size - 4096))
    return b"\xff\xd9" in fh.read()  # cameras may pad after the marker


# --------------------------------------------------------------------------- systemd


class SystemdNotifier:
    """sd_notify(3) without libsystemd: datagrams to ``$NOTIFY_SOCKET``; silent without it."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        addr = env.get("NOTIFY_SOCKET", "")
        self.address = "\0" + addr[1:] if addr.startswith("@") else addr
        self._sock: socket.socket | None = None
        if self.address:
            try:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            except OSError as exc:
                log.warning("cannot talk to systemd (%s): %s", addr, exc)
        self.watchdog_interval: float | None = None
        usec, pid = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
        if usec and (not pid or pid == str(os.getpid())):
            try:
                self.watchdog_interval = int(usec) / 2e6  # ping at half the timeout
            except ValueError:
                log.warning("ignoring WATCHDOG_USEC=%r", usec)

    def notify(self, *fields: str) -> None:
        if self._sock is None:
            return
        try:
            # Never block: a reader that is not reading must not stall the worker.
            self._sock.sendto("\n".join(fields).encode(), socket.MSG_DONTWAIT, self.address)
        except OSError as exc:
            log.debug("sd_notify %s: %s", fields, exc)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


# --------------------------------------------------------------------------- lock and status


class InstanceLock:
    """One daemon per state directory: ``flock`` on ``run/daemon.lock``, which holds the pid."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise UserError naming the running daemon's pid."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        for attempt in range(6):  # `hotwatch status` holds a shared lock for an instant
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == 5:
                    pid = _read_pid(self.path)
                    os.close(fd)
                    raise UserError(
                        f"hotwatch watch is already running (pid {pid or 'unknown'})"
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


def daemon_pid(paths: Paths) -> int | None:
    """The running daemon's pid for this state directory, None if none runs.

    The flock is the truth (a stale pid file after a SIGKILL is not a daemon).
    """
    lock = paths.daemon_lock
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_pid(lock) or -1
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def read_status(paths: Paths) -> dict[str, Any]:
    """What the daemon last published (``run/status.json``), plus whether it runs now."""
    try:
        data = json.loads(paths.daemon_status.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    pid = daemon_pid(paths)
    data["running"] = pid is not None
    if pid is None:
        data["pid"] = None
        data["queue"] = 0
        data["state"] = "stopped"
    elif pid > 0:
        data["pid"] = pid
    data["paused"] = paths.pause_flag.exists()
    return data


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` atomically (readers never see half a file); no fsync: runtime data."""
    write_atomically(path, json.dumps(data, indent=2) + "\n", sync=False)


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
        self.lock = InstanceLock(paths.daemon_lock)
        self._stop = threading.Event()
        self._failed = False
        self._beat = time.monotonic()
        self._observers: list[BaseObserver] = []
        self._poller: PollingObserver | None = None
        self._watched: dict[str, tuple[BaseObserver, ObservedWatch]] = {}
        self._worker: threading.Thread | None = None
        self._overflow = _OverflowListener(self.inbox)
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
            watch = observer.schedule(_Handler(self.inbox, folder), folder, recursive=True)
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
            if self._control_file(self.paths.rescan_flag, remove=True):
                self._rescan(ingestor, None, "requested")
            if next_rescan is not None and time.monotonic() >= next_rescan:
                self._rescan(ingestor, None, "periodic")
                next_rescan = time.monotonic() + interval
            if self._control_file(self.paths.pause_flag):
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
        if self._stop.is_set() or self._control_file(self.paths.pause_flag):
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
                if self._stop.is_set() or self._control_file(self.paths.pause_flag):
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

    def _control_file(self, path: Path, *, remove: bool = False) -> bool:
        if not path.exists():
            return False
        if remove:
            try:
                path.unlink()
            except FileNotFoundError:
                return False
        return True

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
            _write_json(self.paths.daemon_status, data)
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
