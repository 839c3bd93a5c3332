"""A first run: the compiled kernels built in the background, said on the terminal, enough.

numba compiles hotwatch's kernels on first use and keeps them in its cache. A first scan
used to spend 15-25 s compiling before it said or did anything visible. Now
(:mod:`hotwatch.pipeline.warmup`) the kernels are built by background processes while the
scan finds the files and reads their capture times, the terminal says so, and the scan
waits for them only before its first photo.

These tests run ``hotwatch scan`` as a user does, on a terminal (a pseudo-terminal, so
that the progress line is drawn), with numba's cache in an empty folder of their own
(``NUMBA_CACHE_DIR``, which numba prefers to every other place): a real first run, however
warm the checkout's own cache is. The scan runs in one process (``--workers 1``) through a
wrapper that records every compilation made on the scan's own threads: after the warm-up
there must be none, or the warm-up missed a kernel a real JPEG + DNG scan needs.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from hotwatch.commands.scan import BUILDING
from tests.support.cli import REPO
from tests.support.rolls import Roll

#: the longest a scan may take to show anything: measured 0.4-0.6 s, cold or warm (the
#: interpreter's start and imports included); a scan that waits for the build shows
#: nothing for 12 s or more
FIRST_OUTPUT = 2.0

#: runs ``hotwatch.cli.main`` and writes, at exit, the compilations made on any thread
#: but the warm-up's probe (which only loads cached kernels, refusing to compile)
WRAPPER = """
import atexit, json, sys, threading
from numba.core import event

made = []

class Record(event.Listener):
    def on_start(self, ev):
        pass

    def on_end(self, ev):
        if threading.current_thread().name == "hotwatch-warmup":
            return
        made.append(ev.data["dispatcher"].py_func.__qualname__)

event.register("numba:compile", Record())
atexit.register(lambda: open(sys.argv[1], "w").write(json.dumps(made)))
from hotwatch.cli import main
sys.exit(main(sys.argv[2:]))
"""


@dataclass
class Run:
    """One ``hotwatch scan`` on a terminal: what it showed, and when."""

    status: int
    lines: list[tuple[float, str]]  #: (seconds since the start, text) of each line drawn
    compiled: list[str]  #: the kernels the scan's own threads compiled
    seconds: float

    def text(self) -> str:
        return "\n".join(f"{t:6.2f} {s}" for t, s in self.lines)

    def first(self, words: str) -> float:
        """When a line holding ``words`` was first drawn."""
        times = [t for t, s in self.lines if words in s]
        assert times, f"never said {words!r}:\n{self.text()}"
        return times[0]

    def first_photo(self, files: int) -> float:
        """When the progress of the photos read was first drawn ("[#...] 3/240 NAME")."""
        times = [t for t, s in self.lines if s.startswith("[") and f"/{files} " in s]
        assert times, f"never showed the photos' progress:\n{self.text()}"
        return times[0]


def scan_on_a_terminal(
    roll: Path, home: Path, cache: Path, tmp: Path, *extra: str, timeout: float = 300
) -> Run:
    """``hotwatch --home HOME scan ROLL --workers 1`` in a pseudo-terminal, numba's cache in
    ``cache``, temporary files in ``tmp``."""
    record = tmp / f"compiled-{time.monotonic_ns()}.json"
    wrapper = tmp / "scan_wrapper.py"
    wrapper.write_text(WRAPPER)
    env = {
        **os.environ,
        "NUMBA_CACHE_DIR": str(cache),
        "TMPDIR": str(tmp),
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
        "TERM": "xterm",
    }
    cmd = [sys.executable, str(wrapper), str(record), "--home", str(home), "scan", str(roll)]
    started = time.monotonic()
    pid, fd = pty.fork()
    if pid == 0:  # the child: the scan, its stdout and stderr the terminal
        try:
            os.execve(sys.executable, [*cmd, "--workers", "1", *extra], env)
        finally:
            os._exit(127)
    lines: list[tuple[float, str]] = []
    try:
        while time.monotonic() - started < timeout:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            # each line is drawn whole, in one write: "\r\x1b[K" TEXT, "\n" if it stays
            now = time.monotonic() - started
            parts = data.replace(b"\r", b"\n").split(b"\n")
            lines += [(now, x.decode(errors="replace").replace("\x1b[K", "")) for x in parts]
        else:
            os.kill(pid, 9)
            raise AssertionError(f"the scan took over {timeout} s:\n" + "\n".join(map(str, lines)))
    finally:
        os.close(fd)
    _, wait_status = os.waitpid(pid, 0)
    seconds = time.monotonic() - started
    lines = [(t, s) for t, s in lines if s.strip()]
    compiled = json.loads(record.read_text()) if record.exists() else ["(no record: it crashed)"]
    return Run(os.waitstatus_to_exitcode(wait_status), lines, compiled, seconds)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """numba's cache for this module: empty until the first run fills it."""
    return tmp_path_factory.mktemp("numba-cache")


@pytest.fixture(scope="module")
def first_run(roll: Roll, cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The first scan with an empty cache: it builds the kernels."""
    tmp = tmp_path_factory.mktemp("first")
    return scan_on_a_terminal(roll.folder, tmp / "home", cache, tmp)


def test_a_first_scan_shows_progress_at_once_and_says_the_kernels_are_built(
    first_run: Run, roll: Roll
) -> None:
    run = first_run
    files = 2 * len(roll.shots)
    assert run.status == 0, run.text()
    assert run.lines[0][0] < FIRST_OUTPUT, run.text()
    building = run.first(BUILDING)
    built = run.first("compiled hotwatch's detection kernels in ")
    first_photo = run.first_photo(files)
    assert building < FIRST_OUTPUT + 1.0, run.text()
    assert building < built <= first_photo, run.text()
    # while it waits it says so, each second
    waiting = [t for t, s in run.lines if s.startswith("waiting for the kernels' build: ")]
    assert waiting and waiting[0] < building + 2.0, run.text()
    gaps = [b - a for a, b in zip([building, *waiting], [*waiting, built], strict=True)]
    assert max(gaps) < 3.0, run.text()
    assert f"{files} files: {files} ingested" in run.text()
    # the photos' line says how many cores the scan keeps busy
    assert re.search(rf"\] \d+/{files} on \d+ cores? ", run.text()), run.text()


def test_after_the_warm_up_the_scan_compiled_nothing_itself(first_run: Run, cache: Path) -> None:
    """Every kernel a JPEG + DNG scan runs came from the builders, through numba's cache:
    the warm-up's tiny frames take the same types as real photos."""
    assert first_run.status == 0, first_run.text()
    assert first_run.compiled == [], first_run.text()
    assert list(cache.rglob("*.nbc")), "the builders wrote nothing into NUMBA_CACHE_DIR"


def test_a_later_scan_builds_nothing_and_says_nothing_of_it(
    first_run: Run, roll: Roll, cache: Path, tmp_path: Path
) -> None:
    assert first_run.status == 0, first_run.text()
    run = scan_on_a_terminal(roll.folder, tmp_path / "home", cache, tmp_path)
    assert run.status == 0, run.text()
    assert run.compiled == []
    assert run.lines[0][0] < FIRST_OUTPUT, run.text()
    assert not any(BUILDING in s or "kernels" in s for _, s in run.lines), run.text()
    files = 2 * len(roll.shots)
    assert f"{files} files: {files} ingested" in run.text()
    # the photos' work itself, without the build: far quicker than the first run
    assert run.seconds < first_run.seconds / 2, (run.seconds, first_run.seconds)


def test_a_scan_that_reads_no_photo_stops_the_build_and_leaves_nothing(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Nothing to read: the builders are ended, not waited for (a build takes 12 s or
    more), and their lock and log files are gone; the next scan builds the kernels."""
    empty = tmp_path / "empty"
    empty.mkdir()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    cold = tmp_path_factory.mktemp("cold-cache")
    run = scan_on_a_terminal(empty, tmp_path / "home", cold, tmp)
    assert run.status == 0, run.text()
    assert run.seconds < 8.0, run.text()
    assert "0 files: 0 ingested" in run.text()
    assert not any(p.name.startswith("hotwatch-warmup-") for p in tmp.iterdir())
    # a builder's command line names its lock file, in this test's TMPDIR
    builders = subprocess.run(["pgrep", "-f", str(tmp)], capture_output=True, text=True)
    assert builders.stdout == "", "a builder outlived its scan"
