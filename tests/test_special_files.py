"""Special files never hang a scan: pipes, sockets, devices and folders named like photos,
and files whose open or read blocks (a stalled network share).

A named pipe (FIFO) is the real thing here: opened without a writer it blocks the open
forever, opened while a writer holds it but never writes it blocks the read forever. The
first is what a folder may really hold; the second is what a stalled share does to a
regular file, so it is handed to the guarded reader past its regular-file check.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hotwatch.core.errors import UnreadableFile
from hotwatch.core.model import FileStatus
from hotwatch.daemon.settler import Settler
from hotwatch.io import guarded
from hotwatch.io.exif import capture_order, capture_time, read_camera_file
from hotwatch.io.frames import read_frame
from hotwatch.pipeline import ingest
from hotwatch.pipeline.ingest import Ingestor, identify
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.config import resolve_paths
from tests.support.cli import hotwatch

QUICK = 10.0  #: seconds within which a refusal must come (the hang it replaces is forever)


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "x.jpg"
    os.mkfifo(path)
    return path


@pytest.fixture
def held_fifo(tmp_path) -> Iterator[Path]:
    """A FIFO a writer holds open and never writes to: every read of it blocks."""
    path = tmp_path / "held.dng"
    os.mkfifo(path)
    writer = os.open(path, os.O_RDWR)  # a reader and writer at once: opening never blocks
    yield path
    os.close(writer)


def specials(folder: Path) -> dict[str, Path]:
    """A pipe and a socket, each named like a photo."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {"pipe": folder / "pipe.jpg", "socket": folder / "sock.dng"}
    os.mkfifo(out["pipe"])
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(out["socket"]))
    sock.close()  # the socket file stays
    return out


# --------------------------------------------------------------------- the guarded reader


def test_only_regular_files_are_opened(tmp_path, fifo):
    made = specials(tmp_path / "s")
    device = tmp_path / "null.jpg"
    device.symlink_to("/dev/null")  # a device node needs root to make; a link to one does not
    folder = tmp_path / "folder.nef"
    folder.mkdir()
    cases = {
        fifo: "a named pipe (FIFO)",
        made["socket"]: "a socket",
        device: "a character device",
        folder: "a folder",
    }
    for path, what in cases.items():
        started = time.monotonic()
        message = re.escape(f"{path.name}: {what}, not a photo file")
        with pytest.raises(guarded.NotRegularFile, match=message):
            guarded.read_bytes(path)
        for read in (read_camera_file, read_frame):
            with pytest.raises(guarded.NotRegularFile):
                read(path)
        assert capture_time(path) is None
        assert time.monotonic() - started < QUICK
    assert capture_order(fifo) == fifo.stat().st_mtime  # a place in the order, no hang


def test_a_read_that_blocks_is_given_up_after_the_stall_time(held_fifo):
    started = time.monotonic()
    opener = lambda: os.open(held_fifo, os.O_RDONLY)  # noqa: E731 (past the regular-file check)
    with pytest.raises(guarded.ReadStalled) as err:
        guarded.guard(opener, guarded.whole, name=held_fifo.name, stall=0.5)
    took = time.monotonic() - started
    assert 0.5 <= took < 0.5 + QUICK
    assert str(err.value) == "timed out reading held.dng after 0.5 s: stalled network share?"
    assert isinstance(err.value, UnreadableFile) and err.value.transient


def test_an_open_that_blocks_is_given_up_too(fifo):
    """A FIFO without a writer blocks the open itself (a share that does not answer)."""
    started = time.monotonic()
    opener = lambda: os.open(fifo, os.O_RDONLY)  # noqa: E731
    with pytest.raises(guarded.ReadStalled, match=r"after 0\.3 s"):
        guarded.guard(opener, guarded.whole, name=fifo.name, stall=0.3)
    assert time.monotonic() - started < 0.3 + QUICK
    with open(fifo, "wb"):  # let the abandoned open through, so its thread ends
        pass


def test_a_slow_read_that_makes_progress_is_not_given_up(tmp_path):
    """The bound is on progress, not on the whole read: a slow share is read to the end."""
    path = tmp_path / "slow.dng"
    os.mkfifo(path)
    chunks = [bytes([i]) * 1000 for i in range(8)]

    def write_slowly() -> None:
        with open(path, "wb", buffering=0) as fh:
            for chunk in chunks:
                fh.write(chunk)
                time.sleep(0.15)  # the slow share being simulated

    writer = threading.Thread(target=write_slowly)
    writer.start()
    opener = lambda: os.open(path, os.O_RDONLY)  # noqa: E731
    got = guarded.guard(opener, guarded.whole, name=path.name, stall=0.6)
    writer.join()
    assert bytes(got) == b"".join(chunks)  # 1.2 s in all, twice the stall time


def test_the_stall_time_is_one_setting(held_fifo, monkeypatch):
    monkeypatch.setattr(guarded, "STALL_SECONDS", 0.2)
    opener = lambda: os.open(held_fifo, os.O_RDONLY)  # noqa: E731
    with pytest.raises(guarded.ReadStalled, match=r"after 0\.2 s"):
        guarded.guard(opener, guarded.whole, name=held_fifo.name)


def test_a_stalled_photo_is_failed_for_now_and_read_again_later(
    roll, held_fifo, tmp_path, monkeypatch
):
    """The ingest's own path, with a read that blocks for real: opening the photo (a
    regular file, whole on disk) opens the held FIFO instead, as a stalled share would
    leave its read hanging."""
    card = tmp_path / "card"
    card.mkdir()
    photo = card / "IMG_0001.JPG"
    shutil.copy2(sorted(roll.folder.glob("*.JPG"))[1], photo)
    real_open = guarded.open_regular

    def stalled_share(path: Path) -> int:
        return os.open(held_fifo, os.O_RDONLY) if path == photo else real_open(path)

    monkeypatch.setattr(guarded, "STALL_SECONDS", 0.3)
    monkeypatch.setattr(guarded, "open_regular", stalled_share)
    paths = resolve_paths(tmp_path / "home").ensure()
    with Catalogue(paths.catalogue) as cat:
        ing = Ingestor(paths, cat)
        started = time.monotonic()
        (out,) = list(ing.ingest_files([photo]))
        assert time.monotonic() - started < QUICK
        assert out.status is FileStatus.FAILED
        assert out.reason == "timed out reading IMG_0001.JPG after 0.3 s: stalled network share?"
        ing.checkpoint()
        assert cat.file_by_path(str(photo)) is None  # recorded nowhere: tried again later
        assert ing.triage(photo) is None  # not "unchanged": the next scan reads it

        monkeypatch.undo()  # the share is back
        (out,) = list(ing.ingest_files([photo]))
        assert out.status is FileStatus.INGESTED
        ing.close()


# --------------------------------------------------------------------- hotwatch scan


def test_scan_skips_special_files_with_one_line_and_reads_the_rest(roll, tmp_path):
    card = tmp_path / "card"
    card.mkdir()
    jpegs = sorted(roll.folder.glob("*.JPG"))[:4]
    for src in jpegs[:3]:
        shutil.copy2(src, card / src.name)
    made = specials(card)
    inner = card / "folder.jpg"  # a folder named like a photo is a folder: its photos count
    inner.mkdir()
    shutil.copy2(jpegs[3], inner / jpegs[3].name)
    home = tmp_path / "home"
    started = time.monotonic()
    out = hotwatch("scan", str(card), home=home)
    assert time.monotonic() - started < 120
    assert "6 files: 4 ingested, 0 unchanged, 2 skipped, 0 failed" in out.stdout
    lines = out.stderr.splitlines()
    pipe_line = f"skipped: {made['pipe']}: a named pipe (FIFO), not a photo file"
    sock_line = f"skipped: {made['socket']}: a socket, not a photo file"
    assert lines.count(pipe_line) == 1 and lines.count(sock_line) == 1, out.stderr
    assert sum(1 for line in lines if "pipe.jpg" in line or "sock.dng" in line) == 2
    with Catalogue(home / "catalogue.sqlite", readonly=True) as cat:
        row = cat.file_by_path(str(made["pipe"]))
        assert row is not None and row.status is FileStatus.SKIPPED
        assert row.reason == "a named pipe (FIFO), not a photo file"
        assert len(cat.files(status="ingested")) == 4

    again = hotwatch("scan", str(card), home=home)  # known as it was: not even looked at
    assert "6 files: 0 ingested, 6 unchanged" in again.stdout
    assert "pipe.jpg" not in again.stderr

    alone = hotwatch("scan", str(made["pipe"]), home=tmp_path / "other", check=False)
    assert alone.returncode == 1  # nothing readable, one line says why
    assert f"skipped: {made['pipe']}: a named pipe (FIFO), not a photo file" in alone.stderr


def test_identify_never_opens_what_is_no_regular_file(fifo):
    photo = identify(fifo)
    assert photo.status is FileStatus.SKIPPED and photo.digest is None
    assert photo.reason == "a named pipe (FIFO), not a photo file"
    assert list(ingest.walk([fifo], lambda p, r: None)) == [fifo]  # given directly: reported


# --------------------------------------------------------------------- the daemon's settling


def test_the_settler_lets_a_special_file_through_at_once(fifo, tmp_path):
    settler = Settler(settle_seconds=30.0)
    settler.add(fifo)
    started = time.monotonic()
    ready, _ = settler.ready(time.monotonic())
    assert ready == [fifo] and time.monotonic() - started < QUICK
