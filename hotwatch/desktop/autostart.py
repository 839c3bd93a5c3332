"""Start the tray on login: an XDG autostart entry (``hotwatch tray install|uninstall``).

The entry lives in ``$XDG_CONFIG_HOME/autostart`` (default ``~/.config/autostart``),
which GNOME, KDE Plasma, Xfce, LXQt, MATE, Cinnamon and ``dex``-style launchers
read at login. Its command is this Python interpreter running ``-m hotwatch``,
by absolute path, so it works without an activated virtualenv or ``PATH``
entry; a non-default state directory (``--home`` or ``HOTWATCH_HOME``) is
written into the command, because the login session will not have it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from hotwatch.state.config import Paths

FILE_NAME = "hotwatch-tray.desktop"


def autostart_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/autostart``, with the spec's default ``~/.config``."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".config"
    return root / "autostart"


def exec_quote(arg: str) -> str:
    """Quote one argument for a desktop entry's ``Exec`` key (Desktop Entry spec 1.5).

    Arguments with reserved characters go in double quotes with ``"`` ``\\``
    `` ` `` ``$`` backslash-escaped; ``%`` is doubled (field codes); then the
    value is escaped as a desktop-file string (``\\`` becomes ``\\\\``).
    """
    arg = arg.replace("%", "%%")
    if arg and not any(c in arg for c in " \t\n\"'\\><~|&;$*?#()`="):
        quoted = arg
    else:
        inner = "".join("\\" + c if c in '"`$\\' else c for c in arg)
        quoted = f'"{inner}"'
    return quoted.replace("\\", "\\\\")


def tray_command(paths: Paths) -> list[str]:
    """The command the entry runs: ``python -m hotwatch [--home DIR] tray``."""
    cmd = [sys.executable, "-m", "hotwatch"]
    if paths.home is not None:
        cmd += ["--home", str(paths.home)]
    return [*cmd, "tray"]


def desktop_entry(command: Sequence[str], icon: Path | None = None) -> str:
    """The text of the ``.desktop`` file."""
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Name=hotwatch tray",
        "Comment=Watches your camera sensors for hot, stuck and dead pixels",
        f"Exec={' '.join(exec_quote(a) for a in command)}",
        f"TryExec={exec_quote(command[0])}",
        "Terminal=false",
        "Categories=Graphics;Photography;",
        "X-GNOME-Autostart-enabled=true",
    ]
    if icon is not None:
        lines.append(f"Icon={icon}")
    return "\n".join(lines) + "\n"


def install(paths: Paths, environ: Mapping[str, str] | None = None) -> Path:
    """Write the autostart entry (replacing an older one) and its icon; return its path."""
    from .menu import TrayState
    from .tray import draw_icon  # Pillow only; no pystray

    paths.data.mkdir(parents=True, exist_ok=True)
    icon = paths.data / "hotwatch-tray.png"
    draw_icon(TrayState.OK, 64).save(icon)
    target = autostart_dir(environ) / FILE_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(desktop_entry(tray_command(paths), icon), encoding="utf-8")
    tmp.replace(target)
    return target


def uninstall(environ: Mapping[str, str] | None = None) -> Path | None:
    """Remove the autostart entry; return its path, or None if there was none."""
    target = autostart_dir(environ) / FILE_NAME
    try:
        target.unlink()
    except FileNotFoundError:
        return None
    return target
