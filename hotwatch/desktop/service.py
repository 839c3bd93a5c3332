"""The systemd user service that runs ``hotwatch watch`` at login.

Why systemd: it starts the daemon with the session, restarts it when it fails or hangs
(``Type=notify`` with a watchdog: see :mod:`hotwatch.daemon.systemd`), and keeps its log
(``journalctl --user -u hotwatch``). The unit names this hotwatch by absolute path, and the
state folder when one was chosen (``--home``), since systemd's environment has neither.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import hotwatch
from hotwatch.io.fileio import write_atomically
from hotwatch.state.config import Paths

UNIT_NAME = "hotwatch.service"


def unit_text(exec_start: str, environment: dict[str, str] | None = None) -> str:
    """The user unit; ``systemd/hotwatch.service`` is this with ``%h/.local/bin/hotwatch``.

    Hardening is limited to what works in a user manager without user
    namespaces (which some distributions restrict): ProtectSystem=, PrivateTmp=
    and friends need a mount namespace there, and would make the unit fail to
    start on such systems. The daemon must read any photo folder and write its
    state under the home directory anyway.
    """
    env = "".join(
        f"Environment={systemd_quote(f'{k}={v}', dollar=False)}\n"
        for k, v in (environment or {}).items()
    )
    return f"""\
[Unit]
Description=hotwatch: watch photo import folders for hot, stuck and dead pixels
After=graphical-session.target

[Service]
Type=notify
NotifyAccess=main
ExecStart={exec_start} watch
{env}Restart=on-failure
RestartSec=5
WatchdogSec=60
TimeoutStopSec=20
Nice=10
IOSchedulingClass=best-effort
IOSchedulingPriority=7
NoNewPrivileges=yes
LockPersonality=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
RestrictNamespaces=yes
SystemCallArchitectures=native

[Install]
WantedBy=default.target
"""


def systemd_quote(word: str, *, dollar: bool = True) -> str:
    """One word for a unit file: quoted if needed, ``%`` (and in commands ``$``) doubled."""
    word = word.replace("%", "%%")
    if dollar:
        word = word.replace("$", "$$")
    if re.fullmatch(r"[A-Za-z0-9/._+:@=,%$-]+", word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unit_path(environ: dict[str, str] | os._Environ | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "systemd" / "user" / UNIT_NAME


def exec_start() -> tuple[str, dict[str, str]]:
    """How systemd should start this hotwatch: its executable, else ``python -m hotwatch``."""
    env: dict[str, str] = {}
    argv0 = Path(sys.argv[0])
    if argv0.name == "hotwatch" and os.access(argv0, os.X_OK):
        return systemd_quote(str(argv0.absolute())), env
    found = shutil.which("hotwatch")
    if found:
        return systemd_quote(str(Path(found).absolute())), env
    package_parent = Path(hotwatch.__file__).resolve().parents[1]
    env["PYTHONPATH"] = str(package_parent)  # not installed: run it from where it is
    return f"{systemd_quote(sys.executable)} -m hotwatch", env


def systemctl(*args: str) -> str | None:
    """Run ``systemctl --user ARGS``; None on success, else why not (no systemctl, no bus)."""
    exe = shutil.which("systemctl")
    if exe is None:
        return "systemctl not found"
    try:
        res = subprocess.run(
            [exe, "--user", *args], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if res.returncode != 0:
        lines = (res.stderr or res.stdout).strip().splitlines()
        return lines[-1] if lines else f"systemctl exited with {res.returncode}"
    return None


def write_unit(paths: Paths) -> Path:
    """Write the unit for this hotwatch and this state folder; return where."""
    target = unit_path()
    command, env = exec_start()
    if paths.home is not None:
        env["HOTWATCH_HOME"] = str(paths.home)
    write_atomically(target, unit_text(command, env))
    return target


def enable() -> str | None:
    """Reload systemd and enable and start the unit; None on success, else why not."""
    return systemctl("daemon-reload") or systemctl("enable", "--now", UNIT_NAME)


def remove_unit(target: Path) -> str | None:
    """Stop, disable and remove the unit (which must exist); why it could not be stopped
    or disabled, if so (it is removed anyway)."""
    problem = systemctl("disable", "--now", UNIT_NAME)
    target.unlink()
    systemctl("daemon-reload")
    return problem
