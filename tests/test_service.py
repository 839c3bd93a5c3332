"""The systemd user unit: the repo's file, what ``hotwatch service install`` writes, and
``systemd-analyze --user verify`` on both (needs the Debian package ``systemd``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from hotwatch.desktop.service import systemd_quote, unit_text
from tests.support.cli import hotwatch

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "systemd" / "hotwatch.service"


def verify(unit: Path, home: Path, tmp: Path) -> subprocess.CompletedProcess:
    """``systemd-analyze --user verify``; %h is $HOME, the runtime dir a private folder."""
    runtime = tmp / "xdg-runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)}
    exe = shutil.which("systemd-analyze")
    assert exe, "systemd-analyze missing: apt-get install systemd"
    return subprocess.run(
        [exe, "--user", "verify", str(unit)], capture_output=True, text=True, env=env, timeout=60
    )


def run_hotwatch(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    """``hotwatch`` with a private XDG config and runtime dir: no user bus, no real unit."""
    runtime = tmp / "no-bus"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {
        "XDG_CONFIG_HOME": str(tmp / "config"),
        "XDG_RUNTIME_DIR": str(runtime),
        "DBUS_SESSION_BUS_ADDRESS": f"unix:path={runtime}/bus",
    }
    return hotwatch(*args, home=tmp / "state", check=False, env=env, cwd=tmp, timeout=60)


def test_repo_unit_is_the_template_and_verifies(tmp_path):
    text = UNIT.read_text()
    assert text == unit_text("%h/.local/bin/hotwatch")
    for line in (
        "Type=notify",
        "NotifyAccess=main",
        "Restart=on-failure",
        "WantedBy=default.target",
        "ExecStart=%h/.local/bin/hotwatch watch",
    ):
        assert line in text.splitlines()
    assert any(line.startswith("WatchdogSec=") for line in text.splitlines())
    home = tmp_path / "home"
    (home / ".local" / "bin").mkdir(parents=True)
    (home / ".local" / "bin" / "hotwatch").symlink_to(sys.executable)
    res = verify(UNIT, home, tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stderr.strip() == "", res.stderr  # no unknown keys, no warnings


def test_install_writes_a_unit_that_verifies_and_uninstall_removes_it(tmp_path):
    res = run_hotwatch(tmp_path, "service", "install", "--no-enable")
    assert res.returncode == 0, res.stderr
    unit = tmp_path / "config" / "systemd" / "user" / "hotwatch.service"
    text = unit.read_text()
    exec_line = next(x for x in text.splitlines() if x.startswith("ExecStart="))
    assert exec_line.split("=", 1)[1].startswith("/") and exec_line.endswith(" watch")
    assert f"Environment=HOTWATCH_HOME={tmp_path / 'state'}" in text
    assert "systemctl --user enable --now hotwatch" in res.stdout
    res = verify(unit, tmp_path, tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stderr.strip() == "", res.stderr

    res = run_hotwatch(tmp_path, "service", "uninstall")
    assert res.returncode == 0, res.stderr
    assert not unit.exists()
    res = run_hotwatch(tmp_path, "service", "uninstall")
    assert res.returncode == 1 and "no unit installed" in res.stderr


def test_install_without_a_user_bus_writes_the_unit_and_says_how_to_enable(tmp_path):
    res = run_hotwatch(tmp_path, "service", "install")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "config" / "systemd" / "user" / "hotwatch.service").exists()
    assert "could not enable it" in res.stderr
    assert "systemctl --user enable --now hotwatch" in res.stderr


def test_systemd_quoting():
    assert systemd_quote("/usr/bin/python3") == "/usr/bin/python3"
    assert systemd_quote("/home/a b/bin/hotwatch") == '"/home/a b/bin/hotwatch"'
    assert systemd_quote("/x/100%/$HOME") == "/x/100%%/$$HOME"
    assert systemd_quote("A=1%", dollar=False) == "A=1%%"
