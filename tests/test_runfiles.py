"""The run files the daemon, the tray and ``hotwatch status`` share: one module answers
whether the daemon runs, what it published and whether it is paused, for all of them."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from hotwatch.core.errors import UserError
from hotwatch.state import runfiles
from hotwatch.state.config import Paths, resolve_paths

DAEMON = (
    "import sys; from pathlib import Path; from hotwatch.state.runfiles import InstanceLock;"
    "InstanceLock(Path(sys.argv[1])).acquire(); print('locked', flush=True); sys.stdin.read()"
)


@pytest.fixture
def paths(tmp_path) -> Paths:
    return resolve_paths(tmp_path).ensure()


def test_the_daemons_lock_status_and_flags_read_the_same_everywhere(paths):
    assert runfiles.daemon_pid(paths) is None and not runfiles.read_status(paths)["running"]
    lock = runfiles.InstanceLock(paths.daemon_lock)
    lock.acquire()
    try:
        assert runfiles.daemon_pid(paths) == os.getpid()
        runfiles.publish_status(paths, {"state": "idle", "queue": 3})
        status = runfiles.read_status(paths)
        assert (status["running"], status["pid"], status["queue"]) == (True, os.getpid(), 3)
    finally:
        lock.release()
    status = runfiles.read_status(paths)  # what it published, corrected: it is gone
    assert (status["running"], status["pid"], status["state"]) == (False, None, "stopped")
    runfiles.set_paused(paths, True)
    assert runfiles.is_paused(paths) and runfiles.read_status(paths)["paused"]
    runfiles.set_paused(paths, False)
    assert not runfiles.read_status(paths)["paused"]
    runfiles.request_rescan(paths)
    assert runfiles.take_rescan_request(paths) and not runfiles.take_rescan_request(paths)


def test_a_second_daemon_is_refused_and_told_the_first_ones_pid(paths):
    first = subprocess.Popen(
        [sys.executable, "-c", DAEMON, str(paths.daemon_lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stdout is not None and first.stdout.readline().strip() == "locked"
        assert runfiles.daemon_pid(paths) == first.pid
        with pytest.raises(UserError, match=f"already running \\(pid {first.pid}\\)"):
            runfiles.InstanceLock(paths.daemon_lock).acquire()
    finally:
        first.communicate("", timeout=30)
    runfiles.InstanceLock(paths.daemon_lock).acquire()  # its lock went with it


def test_asking_whether_the_daemon_runs_never_stops_one_from_starting(paths):
    """Liveness is read without touching the lock: a daemon starting while the tray and
    ``hotwatch status`` keep asking takes its lock at the first attempt, every time (a
    shared-lock probe held the lock for an instant and made it fail)."""
    assert runfiles.PROC_LOCKS.exists()  # Linux: one attempt is all a start gets
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            runfiles.read_status(paths)

    askers = [threading.Thread(target=ask) for _ in range(2)]
    for t in askers:
        t.start()
    try:
        for _ in range(300):
            lock = runfiles.InstanceLock(paths.daemon_lock)
            lock.acquire()
            lock.release()
    finally:
        stop.set()
        for t in askers:
            t.join()
