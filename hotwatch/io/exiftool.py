"""One long-lived ``exiftool -stay_open True -@ -`` process, shared by all threads.

Why: exifread finds the body serial in only about a third of real files (see
``/work/shared/notes/camera-metadata.md``); exiftool finds all of them, but
starting Perl costs ~0.2 s per call. One process kept open reads a file in a few
milliseconds. A thin wrapper of our own (about 150 lines) is used instead of
pyexiftool: the protocol is four lines, we need a per-file timeout and
restart-on-death that we would have to add anyway, and it saves a dependency.

Protocol: arguments are written to stdin one per line, then ``-execute{N}``;
exiftool answers on stdout and ends its answer with ``{readyN}``. stderr goes
to a temporary file (never a pipe nobody reads, which could fill and block);
per-file errors also come back in the JSON as an ``Error`` key.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from hotwatch.core.errors import HotwatchError

#: the tags that date a shot (also asked for alone, when only a date is missing)
DATE_TAGS: tuple[str, ...] = (
    "DateTimeOriginal",
    "CreateDate",
    "ModifyDate",
    "SubSecTimeOriginal",
    "SubSecTimeDigitized",
    "SubSecTime",
    "OffsetTimeOriginal",
    "OffsetTimeDigitized",
    "OffsetTime",
)

# Tags asked for by default: identity (every tag a maker uses for the body
# serial) and the shot facts. Asking for named tags keeps the answer small;
# ``-a -D -G1:4`` keeps duplicates apart, named by group ("ExifIFD:SerialNumber",
# "Canon:SerialNumber", "XMP-aux:SerialNumber"), so the caller can rank them.
IDENTITY_TAGS: tuple[str, ...] = (
    "Make",
    "Model",
    "SerialNumber",
    "SerialNumber2",  # Nikon 0x00A0 ("NO= 20025585")
    "InternalSerialNumber",
    "CameraSerialNumber",  # DNG 0xC62F
    "BodySerialNumber",
    *DATE_TAGS,
    "ExposureTime",
    "ISO",
    "PhotographicSensitivity",
    "Orientation",
    "ExifImageWidth",
    "ExifImageHeight",
    "ImageWidth",
    "ImageHeight",
    "Error",  # "File format error", "File is empty"...
    "Warning",
)

_BASE_ARGS: tuple[str, ...] = (
    "-j",
    "-n",
    "-a",
    "-D",
    "-G1:4",
    "-fast",
    "-charset",
    "filename=utf8",
)


def _flatten(obj: dict[str, Any]) -> dict[str, Any]:
    """``-D -G1:4`` JSON -> ``{"Group1:Tag": value}``.

    A tag present more than once in a group (Nikon writes "SerialNumber" as
    0x001D and 0x00A0; exiftool's plain ``-j`` would keep only one) is keyed
    with its tag id in every copy: ``"Nikon:SerialNumber#0x00a0"``.
    """
    seen: dict[str, list[tuple[int | None, Any]]] = {}
    for key, raw in obj.items():
        parts = key.split(":")
        name = parts[-1]
        base = f"{parts[0]}:{name}" if len(parts) > 1 else name
        if isinstance(raw, dict) and "val" in raw:
            tag_id = raw.get("id")
            value = raw["val"]
        else:
            tag_id, value = None, raw
        seen.setdefault(base, []).append((tag_id if isinstance(tag_id, int) else None, value))
    out: dict[str, Any] = {}
    for base, copies in seen.items():
        if len(copies) == 1:
            out[base] = copies[0][1]
            continue
        for n, (tag_id, value) in enumerate(copies, 1):
            suffix = f"#0x{tag_id:04x}" if tag_id is not None else f"#{n}"
            out[base + suffix if f"{base}{suffix}" not in out else f"{base}#{n}"] = value
    return out


def _reap(proc: subprocess.Popen[bytes], reader: threading.Thread) -> None:
    """Kill an exiftool process, let its reader thread reach EOF, then close the pipes.

    In that order: closing a buffered stream that another thread is reading aborts the
    interpreter ("_enter_buffered_busy"), which is what an ``ExifTool.__del__`` closing it
    at interpreter exit once did.
    """
    with contextlib.suppress(OSError):
        proc.kill()
    with contextlib.suppress(Exception):
        proc.wait(timeout=5)
    with contextlib.suppress(Exception):
        proc.stdin.close()  # type: ignore[union-attr]
    reader.join(timeout=5)
    if not reader.is_alive():
        with contextlib.suppress(Exception):
            proc.stdout.close()  # type: ignore[union-attr]


class ExifToolError(HotwatchError):
    """exiftool could not answer for a file (timeout, died, unparsable output)."""


class _Died(ExifToolError):
    """The process was found dead (EOF or broken pipe): worth one retry."""


class ExifTool:
    """A ``-stay_open`` exiftool process; ``read()`` is thread-safe (one lock).

    Its owner closes it: use it as a context manager (or :func:`optional_exiftool`), or
    call ``close()``. One never closed (a library user's) is stopped when it is collected
    or at Python's exit by a weakref finalizer that kills the process before touching its
    pipes (exiftool outlives a closed stdin, and a ``__del__`` closing the pipes at
    interpreter exit aborted Python). If the process dies (or a file times out and the
    process is killed) the next ``read()`` starts a new one, so a daemon can keep one
    instance for its lifetime.
    """

    def __init__(self, executable: str | os.PathLike[str], timeout: float = 20.0) -> None:
        self.executable = str(executable)
        self.timeout = timeout
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._lines: queue.Queue[bytes | None] | None = None
        self._reaper: weakref.finalize | None = None
        self._stderr: IO[bytes] | None = None
        self._counter = itertools.count(1)

    @classmethod
    def find(cls, timeout: float = 20.0) -> ExifTool | None:
        """An ExifTool for the ``exiftool`` on PATH, or None if there is none.

        The process is started lazily on the first ``read()``.
        """
        exe = shutil.which("exiftool")
        return cls(exe, timeout=timeout) if exe else None

    # -- process management -------------------------------------------------

    def _start(self) -> None:
        """Start the process and a reader thread (portable: no select() on pipes)."""
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the process)
        self._proc = subprocess.Popen(
            [self.executable, "-stay_open", "True", "-@", "-", "-common_args", *_BASE_ARGS],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        lines: queue.Queue[bytes | None] = queue.Queue()
        self._lines = lines
        stdout = self._proc.stdout
        assert stdout is not None

        def pump() -> None:
            for line in stdout:
                lines.put(line)
            lines.put(None)  # EOF: the process is gone

        reader = threading.Thread(target=pump, name="exiftool-reader", daemon=True)
        reader.start()
        # Stops the process if its owner never does, when this object goes or Python exits
        # (at exit, before the interpreter winds down: a weakref finalizer, not __del__).
        self._reaper = weakref.finalize(self, _reap, self._proc, reader)

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _kill(self) -> None:
        """Stop the process hard (after a timeout or a broken pipe, or to close)."""
        self._proc = None
        reaper, self._reaper = self._reaper, None
        if reaper is not None:
            reaper()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self._lines = None

    def close(self) -> None:
        """Ask exiftool to quit; kill it if it does not within a few seconds."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            if self._alive():
                with contextlib.suppress(OSError, ValueError):
                    assert proc.stdin is not None
                    proc.stdin.write(b"-stay_open\nFalse\n")
                    proc.stdin.flush()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
            self._kill()

    def __enter__(self) -> ExifTool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        """The running process id (None before the first read); for tests and logs."""
        return self._proc.pid if self._alive() else None  # type: ignore[union-attr]

    # -- reading ------------------------------------------------------------

    def execute(self, *args: str) -> bytes:
        """Run one command (common args ``-j -n -a -D -G1:4 -fast`` added); return stdout.

        If the process turns out to be dead (killed, crashed) the command is
        retried once in a fresh process; a timeout is not retried.
        """
        if any("\n" in a or "\r" in a for a in args):
            raise ExifToolError("argument with a line break cannot be passed to exiftool")
        with self._lock:
            try:
                return self._execute_locked(args)
            except _Died:
                pass
            try:
                return self._execute_locked(args)
            except _Died as err:
                raise ExifToolError(str(err)) from err

    def _execute_locked(self, args: Sequence[str]) -> bytes:
        if not self._alive():
            self._kill()
            self._start()
        proc, lines = self._proc, self._lines
        assert proc is not None and proc.stdin is not None and lines is not None
        n = next(self._counter)
        payload = "".join(f"{a}\n" for a in args) + f"-execute{n}\n"
        try:
            proc.stdin.write(payload.encode("utf-8"))
            proc.stdin.flush()
        except (OSError, ValueError) as err:
            self._kill()
            raise _Died(f"exiftool died: {err}") from err
        return self._collect(lines, f"{{ready{n}}}".encode())

    def _collect(self, lines: queue.Queue[bytes | None], marker: bytes) -> bytes:
        """Gather stdout lines up to the ready marker, within the timeout."""
        out: list[bytes] = []
        while True:
            try:
                line = lines.get(timeout=self.timeout)
            except queue.Empty:
                self._kill()
                raise ExifToolError(f"exiftool timed out after {self.timeout:g} s") from None
            if line is None:
                self._kill()
                raise _Died("exiftool exited unexpectedly")
            if line.rstrip(b"\r\n") == marker:
                return b"".join(out)
            out.append(line)

    def read(
        self, path: str | os.PathLike[str], tags: Sequence[str] | None = IDENTITY_TAGS
    ) -> dict[str, Any]:
        """Metadata of one file as ``{"Group1:Tag": value}`` (``-j -n -a -G1``).

        A tag repeated in one group is keyed with its id in each copy
        (``"Nikon:SerialNumber#0x001d"``, ``"Nikon:SerialNumber#0x00a0"``).
        ``tags=None`` asks for every tag. Numbers come back as numbers (``-n``),
        so serials are raw (no "(F54) 2011:02:05 no. 0123" formatting). A file
        exiftool cannot read gives a dict with an ``"ExifTool:Error"`` key (or
        an empty dict if the file does not exist); a hung or dead process
        raises ExifToolError (and is restarted on the next call).
        """
        name = os.fspath(Path(path).absolute())
        args = [f"-{t}" for t in tags] if tags else []
        raw = self.execute(*args, name)
        text = raw.decode("utf-8", errors="replace").strip()
        if not text:
            return {}
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as err:
            raise ExifToolError(f"exiftool gave unparsable output: {text[:200]!r}") from err
        if not isinstance(parsed, list) or not parsed or not isinstance(parsed[0], dict):
            return {}
        return _flatten(parsed[0])


@contextlib.contextmanager
def optional_exiftool(timeout: float = 20.0) -> Iterator[ExifTool | None]:
    """The installed exiftool for the ``with`` block (None if there is none), closed at its
    end: how every owner of one (a command, the daemon's worker) holds it."""
    tool = ExifTool.find(timeout=timeout)
    try:
        yield tool
    finally:
        if tool is not None:
            tool.close()
