"""The files through which the daemon, the tray and ``hotwatch status`` meet.

Under ``paths.runtime`` (``<data>/run``): ``daemon.lock``, held (``flock``) by the running
daemon and holding its pid; ``status.json``, what the daemon last published; ``paused``
(exists: the daemon queues but reads nothing) and ``rescan`` (touched: the daemon rescans
its folders and removes it). Why one module: whether the daemon runs is asked by the daemon
itself (a second one must refuse to start), by ``hotwatch status``, ``scan`` and ``cameras``,
and by the tray; each used to ask in its own way, and one way (a shared-lock probe) took the
lock for an instant, so that a daemon starting just then had to try again.

Liveness is read from ``/proc/locks``, which shows every lock held on the file without
touching it; where there is no ``/proc/locks``, a non-blocking shared-lock probe (released
at once) is the fallback, and only there does a starting daemon try its lock more than once.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

from hotwatch.core.errors import UserError
from hotwatch.io.fileio import write_atomically

from .config import Paths

PROC_LOCKS = Path("/proc/locks")


# --------------------------------------------------------------------------- liveness


def daemon_pid(paths: Paths) -> int | None:
    """The running daemon's pid for this state folder (-1 if it runs but has not written
    its pid yet), None if none runs. The lock is the truth: a pid left behind by a
    SIGKILL is no daemon."""
    lock = paths.daemon_lock
    if not _held(lock):
        return None
    return _read_pid(lock) or -1


def daemon_running(paths: Paths) -> bool:
    return daemon_pid(paths) is not None


def _held(path: Path) -> bool:
    """Whether some process holds a lock on ``path`` (``flock`` or POSIX)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    try:
        table = PROC_LOCKS.read_text()
    except OSError:
        return _probe(path)
    ident = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    return any(ident in line.split() for line in table.splitlines())


def _probe(path: Path) -> bool:
    """The fallback: try a shared lock, and let it go at once."""
    try:
        with open(path, "rb") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
    except OSError:
        return False
    return False


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


class InstanceLock:
    """One daemon per state folder: ``flock`` on ``run/daemon.lock``, which holds the pid."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise UserError naming the running daemon's pid.

        One attempt where liveness is read from ``/proc/locks`` (nobody else ever takes
        the lock); a few where it is probed (a probe holds it for an instant).
        """
        attempts = 1 if PROC_LOCKS.exists() else 6
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        for attempt in range(attempts):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == attempts - 1:
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


# --------------------------------------------------------------------------- status


def published_status(paths: Paths) -> dict[str, Any]:
    """What the daemon last wrote to ``status.json`` ({} if absent or unreadable)."""
    try:
        data = json.loads(paths.daemon_status.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def publish_status(paths: Paths, data: dict[str, Any]) -> None:
    """Replace ``status.json`` atomically (readers never see half a file); no fsync:
    runtime data, rewritten every few seconds."""
    write_atomically(paths.daemon_status, json.dumps(data, indent=2) + "\n", sync=False)


def read_status(paths: Paths) -> dict[str, Any]:
    """What the daemon last published, corrected by whether it runs now (``running``,
    ``pid``, and ``paused`` from the flag)."""
    data = published_status(paths)
    pid = daemon_pid(paths)
    data["running"] = pid is not None
    if pid is None:
        data["pid"] = None
        data["queue"] = 0
        data["state"] = "stopped"
    elif pid > 0:
        data["pid"] = pid
    data["paused"] = is_paused(paths)
    return data


# --------------------------------------------------------------------------- run flags


def is_paused(paths: Paths) -> bool:
    return paths.pause_flag.exists()


def set_paused(paths: Paths, paused: bool) -> None:
    """Create or remove the pause flag that the daemon honours."""
    flag = paths.pause_flag
    if paused:
        paths.runtime.mkdir(parents=True, exist_ok=True)
        flag.touch()
    else:
        flag.unlink(missing_ok=True)


def request_rescan(paths: Paths) -> None:
    """Touch the rescan request; the daemon rescans its folders and removes it."""
    paths.runtime.mkdir(parents=True, exist_ok=True)
    paths.rescan_flag.touch()


def take_rescan_request(paths: Paths) -> bool:
    """Whether a rescan was requested; the request is removed (the daemon's side)."""
    try:
        paths.rescan_flag.unlink()
    except FileNotFoundError:
        return False
    return True
