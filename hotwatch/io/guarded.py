"""Opening and reading photo files so that no file can hang a scan or the daemon.

Why: a folder may hold things that only look like photos. A named pipe (FIFO) called
``x.jpg`` blocks whoever opens it until a writer comes, which may be never; a socket or
a device is no photo at all. And a real photo on a stalled network share blocks in
``open()`` or ``read()`` for as long as the share is gone. ``hotwatch scan`` must
return, and the daemon must go on (its systemd watchdog would restart it straight
into the same hang).

So every photo file is opened here, and only here:

* only regular files are opened: the path is stat'ed first, then opened with
  ``O_NONBLOCK`` (a file swapped for a pipe in between cannot block the open either)
  and checked again with ``fstat``; anything else raises :class:`NotRegularFile`
  (an UnsupportedFile: the file is skipped, with what it is);
* the open and the reads run on a helper thread while the caller waits for as long
  as they make progress: when none completes for ``STALL_SECONDS`` the caller gets
  :class:`ReadStalled` (an UnreadableFile marked ``transient``: the file is tried
  again on a later scan). The helper thread is left behind, blocked in the kernel;
  it closes the file and ends whenever the read returns. Progress, not total time,
  is what is bounded, so a big raw on a slow but working share is read whole.

A helper thread per file costs some 50 µs (measured), nothing beside reading and
decoding a photo. A photo's bytes are read once, whole (:func:`read_bytes`), and
hashed, parsed and decoded from memory (:class:`MemoryFile` for the EXIF reader).
"""

from __future__ import annotations

import io
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

from hotwatch.core.errors import UnreadableFile, UnsupportedFile

T = TypeVar("T")

#: seconds a photo's open or one of its reads may take before the file is given up
#: (for this scan: it is tried again later)
STALL_SECONDS = 5.0
#: bytes read per call when a whole file is read: each completed read is a sign of progress
CHUNK = 1 << 20

_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a folder"),
)


class NotRegularFile(UnsupportedFile):
    """A path with a photo's name that is no regular file: never opened, skipped."""


class ReadStalled(UnreadableFile):
    """Opening or reading a file made no progress for the allowed time."""

    #: not the file's fault (a share that may come back): record nothing, try it again later
    transient = True


def not_regular(mode: int) -> str | None:
    """What a file of this ``st_mode`` is in words ("a named pipe (FIFO)"), None if regular."""
    if stat.S_ISREG(mode):
        return None
    for test, words in _KINDS:
        if test(mode):
            return words
    return "not a regular file"


def check_regular(path: Path, mode: int) -> None:
    """Raise NotRegularFile unless ``mode`` is a regular file's."""
    what = not_regular(mode)
    if what is not None:
        raise NotRegularFile(f"{Path(path).name}: {what}, not a photo file")


class _Stamped(io.FileIO):
    """A raw file whose every completed read is noted: the waiting thread's sign of progress."""

    stamp = 0.0

    def readinto(self, buffer) -> int | None:  # type: ignore[override]
        n = super().readinto(buffer)
        self.stamp = time.monotonic()
        return n

    def read(self, size: int | None = -1) -> bytes | None:
        data = super().read(size)
        self.stamp = time.monotonic()
        return data


class _Watch:
    """When the helper thread last made progress (started, opened, read)."""

    def __init__(self) -> None:
        self.stamp = time.monotonic()
        self.file: _Stamped | None = None

    def last(self) -> float:
        f = self.file
        return max(self.stamp, f.stamp) if f is not None else self.stamp


def open_regular(path: Path) -> int:
    """A descriptor of a regular file opened for reading; NotRegularFile for anything else,
    which is never opened (a pipe, say); a file swapped for one since the stat cannot block
    the open either (``O_NONBLOCK``; taken back off once it is known to be a file)."""
    check_regular(path, os.stat(path).st_mode)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        check_regular(path, os.fstat(fd).st_mode)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def with_file(
    path: str | os.PathLike[str], work: Callable[[BinaryIO], T], *, stall: float | None = None
) -> T:
    """``work(fh)`` on the opened regular file, on a helper thread, while it makes progress.

    Raises NotRegularFile for anything but a regular file, ReadStalled when the open or
    a read takes longer than ``stall`` seconds (default ``STALL_SECONDS``), and whatever
    ``work`` or the open raise (OSError for a missing or unreadable file).
    """
    path = Path(path)
    return guard(lambda: open_regular(path), work, name=path.name, stall=stall)


def guard(
    opener: Callable[[], int],
    work: Callable[[BinaryIO], T],
    *,
    name: str,
    stall: float | None = None,
) -> T:
    """``work(fh)`` on the file ``opener()`` opens (a descriptor), both on a helper thread
    that the caller waits for while it makes progress (see the module doc); ``name`` is
    the file's, for the message. :func:`with_file` with the opening of regular files."""
    limit = STALL_SECONDS if stall is None else stall
    watch = _Watch()
    box: dict[str, object] = {}
    done = threading.Event()

    def run() -> None:
        try:
            fd = opener()
            try:
                raw = _Stamped(fd, "rb", closefd=True)
            except BaseException:
                os.close(fd)
                raise
            watch.stamp = time.monotonic()
            watch.file = raw
            with raw, io.BufferedReader(raw, 1 << 16) as fh:
                box["value"] = work(fh)
        except BaseException as exc:  # handed to the waiting thread
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="hotwatch-read", daemon=True).start()
    while not done.wait(max(0.0, watch.last() + limit - time.monotonic())):
        if time.monotonic() - watch.last() >= limit:
            raise ReadStalled(f"timed out reading {name} after {limit:g} s: stalled network share?")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def read_bytes(path: str | os.PathLike[str], *, stall: float | None = None) -> bytearray:
    """The whole content of a regular file, read under the guard of :func:`with_file`.

    Read in ``CHUNK`` pieces (each one progress) straight into one buffer: no piece is
    copied again (joining pieces costs ten times the read of a cached file).
    """
    return with_file(path, whole, stall=stall)


def whole(fh: BinaryIO) -> bytearray:
    """All of an open file (a work for :func:`guard`), read as :func:`read_bytes` says."""
    raw = fh.raw  # type: ignore[attr-defined]
    buf = bytearray(os.fstat(raw.fileno()).st_size)
    view, pos = memoryview(buf), 0
    while pos < len(buf):
        n = raw.readinto(view[pos : pos + CHUNK])
        if not n:
            break
        pos += n
    view.release()
    if pos < len(buf):  # cut short since the stat
        del buf[pos:]
        return buf
    while more := raw.read(CHUNK):  # grown since the stat
        buf += more
    return buf


class MemoryFile:
    """A read-only file over bytes in memory, without copying them (``io.BytesIO`` copies a
    bytearray): what the EXIF reader parses a photo read once from."""

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._data = data
        self._view = memoryview(data)
        self._pos = 0

    def read(self, size: int | None = -1) -> bytes:
        end = (
            len(self._view) if size is None or size < 0 else min(self._pos + size, len(self._view))
        )
        start, self._pos = self._pos, max(self._pos, end)
        return bytes(self._view[start:end])

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: len(self._view)}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True
