"""Accumulator files on disk: atomic saves, verified loads, damaged files set aside.

A save writes a temporary file, fsyncs it, renames it over the old one and
fsyncs the directory, so a crash at any instant leaves either the old or the
new state. A load verifies the checksum; a damaged file is moved aside under a
``.damaged-<time>`` name and reported, never silently reused or overwritten.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import time
from pathlib import Path

from hotwatch.core.accumulator import MAGIC, Accumulator
from hotwatch.core.errors import DamagedState
from hotwatch.core.model import AccumulatorKey
from hotwatch.io.fileio import fsync_dir, write_atomically

log = logging.getLogger(__name__)
SUFFIX = ".hwacc"


def path_for(folder: Path, key: AccumulatorKey) -> Path:
    return folder / f"{key.slug}{SUFFIX}"


def save(path: Path, acc: Accumulator) -> int:
    """Persist atomically; return the number of bytes written."""
    blob = acc.to_bytes()
    write_atomically(path, blob)
    return len(blob)


def load(path: Path) -> Accumulator | None:
    """The accumulator stored at ``path``, None if there is none yet.

    Raises DamagedState (after moving the file aside) if it fails its checks.
    """
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return Accumulator.from_bytes(blob)
    except Exception as exc:  # ValueError, zstd.ZstdError, KeyError...: any damage
        aside = set_aside(path)
        raise DamagedState(
            f"accumulator {path.name} is damaged ({exc}); moved to {aside.name}"
        ) from exc


def header(path: Path) -> dict | None:
    """An accumulator file's header (None if it has no readable one), without reading or
    checking the rest."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(MAGIC) + 4)
            if len(head) < len(MAGIC) + 4 or not head.startswith(MAGIC):
                return None
            (size,) = struct.unpack_from("<I", head, len(MAGIC))
            meta = json.loads(fh.read(size))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def format_version(path: Path) -> int | None:
    """The format version in an accumulator file's header (None if it has none)."""
    version = (header(path) or {}).get("version")
    return version if isinstance(version, int) else None


def set_aside(path: Path, why: str = "damaged") -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    aside = path.with_name(f"{path.name}.{why}-{stamp}")
    n = 1
    while aside.exists():
        aside = path.with_name(f"{path.name}.{why}-{stamp}-{n}")
        n += 1
    os.replace(path, aside)
    fsync_dir(path.parent)
    log.warning("set aside damaged state file %s as %s", path, aside.name)
    return aside
