"""The watched folders, kept in the ``[watch]`` table of ``config.toml``.

Reading goes through :func:`hotwatch.state.config.load_config` (tomllib). Writing is
done here by hand, because the stdlib cannot write TOML and the structure is
fixed: only the ``[watch]`` table is regenerated; every other line of the file
(other tables, their comments) is kept byte for byte. The file is replaced
atomically and parsed again before it is put in place, so a bug here can never
leave the user with a config hotwatch cannot read.

::

    [watch]
    folders = ["/home/me/Pictures/import"]
    poll = false            # watchdog's polling observer (network shares)
    settle_seconds = 2.0    # a file must stay unchanged this long before it is read
    rescan_minutes = 30.0   # safety-net rescans of every folder
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import replace
from pathlib import Path

from hotwatch.core.errors import UserError
from hotwatch.io.fileio import write_atomically
from hotwatch.state.config import Config, Paths, load_config

_TABLE_HEADER = re.compile(r"^\s*\[")
_WATCH_HEADER = re.compile(r"^\s*\[\s*watch\s*\]\s*(#.*)?$")


def read_config(paths: Paths) -> Config:
    """The settings, with a config file that tomllib rejects turned into a user error."""
    try:
        return load_config(paths)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"cannot read {paths.config_file}: {exc}") from exc


def list_folders(paths: Paths) -> list[str]:
    return list(read_config(paths).folders)


def normalise(folder: str | os.PathLike[str]) -> str:
    """Absolute, user-expanded, symlinks resolved: one folder has one spelling."""
    return str(Path(folder).expanduser().resolve())


def add_folder(paths: Paths, folder: str | os.PathLike[str]) -> bool:
    """Add ``folder`` (which must be a directory); False if it was already there."""
    path = normalise(folder)
    if not Path(path).is_dir():
        raise UserError(f"{folder}: not a folder")
    cfg = read_config(paths)
    if path in cfg.folders:
        return False
    write_config(paths, replace(cfg, folders=(*cfg.folders, path)))
    return True


def remove_folder(paths: Paths, folder: str | os.PathLike[str]) -> bool:
    """Remove ``folder`` (as given or normalised; it need not exist any more)."""
    cfg = read_config(paths)
    wanted = {str(folder), normalise(folder)}
    kept = tuple(f for f in cfg.folders if f not in wanted)
    if len(kept) == len(cfg.folders):
        return False
    write_config(paths, replace(cfg, folders=kept))
    return True


def write_config(paths: Paths, cfg: Config) -> None:
    """Rewrite the ``[watch]`` table of the config file with ``cfg``; keep the rest."""
    target = paths.config_file
    old = target.read_text(encoding="utf-8") if target.exists() else ""
    text = _splice_watch(old, watch_table(cfg))
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # a bug here, or an unusual hand-edited file
        raise UserError(f"cannot update {target}: the result would not parse ({exc})") from exc
    write_atomically(target, text)


def watch_table(cfg: Config) -> str:
    """The ``[watch]`` table for ``cfg`` as TOML text (ends with a newline)."""
    lines = ["[watch]"]
    if cfg.folders:
        lines.append("folders = [")
        lines += [f"    {toml_value(f)}," for f in cfg.folders]
        lines.append("]")
    else:
        lines.append("folders = []")
    lines.append(f"poll = {toml_value(cfg.poll)}")
    lines.append(f"settle_seconds = {toml_value(float(cfg.settle_seconds))}")
    lines.append(f"rescan_minutes = {toml_value(float(cfg.rescan_minutes))}")
    for key, value in cfg.extra.items():
        if re.fullmatch(r"[A-Za-z0-9_-]+", key):
            lines.append(f"{key} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


def toml_value(value: object) -> str:
    """A TOML literal for a str, bool, int, finite float or a list of those."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"value must be finite, got {value}")
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _toml_string(text: str) -> str:
    escapes = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n"}
    escapes |= {"\f": "\\f", "\r": "\\r"}
    out = []
    for ch in text:
        code = ord(ch)
        if ch in escapes:
            out.append(escapes[ch])
        elif 0xD800 <= code <= 0xDFFF:
            raise UserError(f"{text!r}: file names that are not valid UTF-8 cannot be stored")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _splice_watch(old: str, table: str) -> str:
    """``old`` with its ``[watch]`` table replaced by ``table`` (appended if absent)."""
    lines = old.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if _WATCH_HEADER.match(line)), None)
    if start is None:
        head = "".join(lines)
        if head and not head.endswith("\n"):
            head += "\n"
        sep = "\n" if head.strip() else ""
        return head + sep + table
    end = start + 1
    while end < len(lines) and not _TABLE_HEADER.match(lines[end]):
        end += 1
    # Keep blank lines and comments that introduce the next table with it.
    while end - 1 > start and (not lines[end - 1].strip() or lines[end - 1].lstrip()[:1] == "#"):
        end -= 1
    rest = "".join(lines[end:])
    gap = "\n" if rest.strip() else ""
    return "".join(lines[:start]) + table + gap + rest.lstrip("\n")
