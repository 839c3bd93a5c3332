"""Installing the darktable Lua script, and what darktable's own settings say about it.

The script is package data, ``hotwatch/darktable/hotwatch.lua``, so a wheel carries it;
``plugins/darktable/hotwatch.lua`` in a checkout is a link to that one file (where luacheck
and the README look for it). It is installed as
``<darktable config>/lua/hotwatch/hotwatch.lua``: darktable's script manager skips paths
that contain ``plugins`` or ``lib/``.
"""

from __future__ import annotations

import importlib.resources
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hotwatch.core.errors import UserError
from hotwatch.io.fileio import write_atomically

#: The script as package data, relative to the ``hotwatch`` package.
PACKAGED_SCRIPT = ("darktable", "hotwatch.lua")


@contextmanager
def darktable_script() -> Iterator[Path]:
    """A real file path to the darktable Lua script, valid inside the ``with`` block.

    Raises UserError when the package lacks it (one built without its data files).
    """
    packaged = importlib.resources.files("hotwatch").joinpath(*PACKAGED_SCRIPT)
    if not packaged.is_file():
        raise UserError(
            "the darktable script is missing from this hotwatch installation "
            f"(looked for hotwatch/{'/'.join(PACKAGED_SCRIPT)})"
        )
    with importlib.resources.as_file(packaged) as path:
        yield Path(path)


def default_darktable_config() -> Path:
    """darktable's own rule: $XDG_CONFIG_HOME/darktable, else ~/.config/darktable."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg else Path.home() / ".config"
    return base / "darktable"


def read_darktablerc_write_sidecar(configdir: str | os.PathLike[str]) -> str:
    """darktable's ``write_sidecar_files`` preference: "on import", "after edit" or "never".

    A missing file or key means darktable's default, "on import".
    """
    rc = Path(configdir) / "darktablerc"
    value = "on import"
    try:
        text = rc.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return value
    for line in text.splitlines():
        key, sep, v = line.partition("=")
        if sep and key.strip() == "write_sidecar_files":
            value = v.strip()
    # darktable < 4.0 stored a boolean
    return {"TRUE": "on import", "FALSE": "never"}.get(value, value)


SCRIPT_MANAGER = ("lua-scripts", "tools", "script_manager.lua")


def find_script_manager(config_dir: str | os.PathLike[str]) -> Path | None:
    """The darktable script manager that will list hotwatch, or None when there is none.

    The user's own copy of darktable's lua-scripts (``<config>/lua/tools``) comes first:
    darktable 5.6 prefers it to the copy it ships (``<datadir>/lua-scripts``, looked for in
    the XDG data folders and beside the ``darktable`` on PATH). Either one lists the
    scripts under ``<config>/lua``, where :func:`install_lua` puts hotwatch's. darktable
    before 5.6 ships none: without the user's copy, only ``luarc`` loads the script.
    """
    own = Path(config_dir) / "lua" / "tools" / "script_manager.lua"
    if own.is_file():
        return own
    dirs = os.environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share"
    roots = [Path(d) for d in dirs.split(os.pathsep) if d]
    exe = shutil.which("darktable")
    if exe:
        roots.append(Path(exe).resolve().parent.parent / "share")
    for root in roots:
        bundled = root.joinpath("darktable", *SCRIPT_MANAGER)
        if bundled.is_file():
            return bundled
    return None


LUARC_LINE = 'require "hotwatch/hotwatch"'


def install_lua(
    config_dir: str | os.PathLike[str],
    script_src: str | os.PathLike[str],
    add_luarc: bool = False,
    uninstall: bool = False,
) -> list[str]:
    """Install (or remove) the Lua script where darktable's script manager finds it.

    The script goes to ``<config_dir>/lua/hotwatch/hotwatch.lua``: the script
    manager skips paths containing ``plugins`` or ``lib/``. Returns the actions
    taken; running it twice takes none the second time.
    """
    config_dir = Path(config_dir)
    target = config_dir / "lua" / "hotwatch" / "hotwatch.lua"
    luarc = config_dir / "luarc"
    actions: list[str] = []
    lines = luarc.read_text(encoding="utf-8").splitlines() if luarc.exists() else []
    has_line = any(line.strip() == LUARC_LINE for line in lines)
    if uninstall:
        if target.exists():
            target.unlink()
            actions.append(f"removed {target}")
            if target.parent.is_dir() and not any(target.parent.iterdir()):
                target.parent.rmdir()
        if has_line:
            kept = [line for line in lines if line.strip() != LUARC_LINE]
            luarc.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
            actions.append(f"removed the require line from {luarc}")
        return actions
    src = Path(script_src).read_bytes()
    if not target.exists() or target.read_bytes() != src:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, src)
        actions.append(f"installed {target}")
    if add_luarc and not has_line:
        luarc.parent.mkdir(parents=True, exist_ok=True)
        with luarc.open("a", encoding="utf-8") as fh:
            if lines and luarc.read_bytes()[-1:] != b"\n":
                fh.write("\n")
            fh.write(LUARC_LINE + "\n")
        actions.append(f"added the require line to {luarc}")
    return actions
