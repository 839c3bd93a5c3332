"""Writing files so that a crash leaves the old content or the new, never half.

One helper for everything hotwatch persists outside SQLite: accumulators,
darktable sidecars, the config file, reports.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: str | os.PathLike[str], data: bytes | str, *, sync: bool = True) -> None:
    """Write a temporary file beside ``path``, fsync it, rename it over ``path``.

    With ``sync`` the directory is fsynced too, so the rename itself survives a
    power cut; runtime files that are rewritten every few seconds pass False.
    Text is written as UTF-8 with ``\\n`` line ends.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    blob = data.encode("utf-8") if isinstance(data, str) else data
    try:
        with open(tmp, "wb") as fh:
            fh.write(blob)
            fh.flush()
            if sync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync:
        fsync_dir(path.parent)


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Make a rename in ``folder`` durable (best effort where directories can't be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
