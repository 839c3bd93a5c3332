"""A real desktop for tray tests: Xvfb, trayer (XEmbed tray host), a private D-Bus
session bus, dunst (notification server) and dbus-monitor counting ``Notify`` calls.

Debian packages: xvfb dbus-x11 dunst trayer x11-utils imagemagick libnotify-bin
(xdotool for the menu click test).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .waiting import wait_for

REPO = Path(__file__).resolve().parents[2]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def notify_summaries(monitor_log: Path) -> list[str]:
    """The summaries of the ``Notify`` calls a ``dbus-monitor`` log holds, in order.

    dbus-monitor prints a call as a ``method call ... member=Notify`` line followed by its
    arguments: app name, id, icon, summary, body, ...
    """
    lines = monitor_log.read_text(errors="replace").splitlines()
    calls = []
    for i, line in enumerate(lines):
        if line.startswith("method call") and "member=Notify" in line:
            strings = [
                m.group(1)
                for m in (re.match(r'\s+string "(.*)"$', x) for x in lines[i + 1 : i + 8])
                if m
            ]
            calls.append(strings[2] if len(strings) > 2 else "")
    return calls


@dataclass
class Desktop:
    """The running programs and the environment that reaches them."""

    env: dict[str, str]
    workdir: Path
    procs: list[subprocess.Popen] = field(default_factory=list)
    monitor_log: Path | None = None
    trayer: subprocess.Popen | None = None

    @property
    def display(self) -> str:
        return self.env["DISPLAY"]

    def run(self, *cmd: str, **kw) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(cmd), env=self.env, capture_output=True, text=True, timeout=30, **kw
        )

    # -- notifications

    def notify_calls(self) -> list[str]:
        """The ``Notify`` method calls seen on the bus so far, each as its summary text."""
        assert self.monitor_log is not None
        return notify_summaries(self.monitor_log)

    def wait_notify_count(self, n: int, timeout: float = 10.0) -> list[str]:
        wait_for(lambda: len(self.notify_calls()) >= n, timeout)
        return self.notify_calls()

    # -- X

    def tree(self) -> str:
        return self.run("xwininfo", "-root", "-tree").stdout

    def tray_icons(self) -> list[tuple[str, str, int, int, int, int]]:
        """Windows docked in trayer's panel: (id, name, x, y, w, h), absolute position.

        An XEmbed icon is a child of a socket window that is a child of the panel.
        """
        found = []
        in_panel = False
        panel_indent = 0
        for line in self.tree().splitlines():
            indent = len(line) - len(line.lstrip())
            if '"panel": ("panel" "trayer")' in line:
                in_panel, panel_indent = True, indent
                continue
            if in_panel and indent <= panel_indent and line.strip():
                in_panel = False
            m = re.match(
                r'\s+(0x[0-9a-f]+) "([^"]*)": .*?(\d+)x(\d+)\+-?\d+\+-?\d+\s+\+(-?\d+)\+(-?\d+)',
                line,
            )
            if in_panel and m:
                wid, name, w, h, x, y = m.groups()
                found.append((wid, name, int(x), int(y), int(w), int(h)))
        return found

    def keyboard_grabbed(self) -> bool:
        """Does a client hold the keyboard (a Tk menu does once it is posted, and takes
        keys only from then on)? Asked by trying to grab it for a moment."""
        from Xlib import X
        from Xlib.display import Display

        conn = Display(self.display)
        try:
            root = conn.screen().root
            got = root.grab_keyboard(True, X.GrabModeAsync, X.GrabModeAsync, X.CurrentTime)
            if got == X.GrabSuccess:
                conn.ungrab_keyboard(X.CurrentTime)
                conn.sync()
            return got == X.AlreadyGrabbed
        finally:
            conn.close()

    # -- the XEmbed tray (trayer)

    def start_trayer(self) -> None:
        """Start trayer, the XEmbed tray host, and wait until its panel is mapped."""
        self.trayer = subprocess.Popen(
            [
                "trayer",
                "--edge",
                "top",
                "--align",
                "right",
                "--widthtype",
                "request",
                "--height",
                "24",
                "--SetDockType",
                "true",
                "--transparent",
                "false",
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=(self.workdir / "trayer.log").open("a"),
        )
        self.procs.append(self.trayer)
        assert wait_for(lambda: '"panel": ("panel" "trayer")' in self.tree(), 10), "no trayer"

    def stop_trayer(self) -> None:
        """End trayer: the desktop has no tray host until :meth:`start_trayer`."""
        if self.trayer is not None:
            _stop(self.trayer)
            self.procs.remove(self.trayer)
            self.trayer = None
        assert wait_for(lambda: '"panel": ("panel" "trayer")' not in self.tree(), 10)

    def screenshot(self, path: Path) -> np.ndarray:
        self.run("import", "-window", "root", str(path)).check_returncode()
        return np.asarray(Image.open(path).convert("RGB"))

    def close(self) -> None:
        for proc in reversed(self.procs):
            _stop(proc)


def start_desktop(workdir: Path) -> Desktop:
    """Start Xvfb, a session bus, dunst, dbus-monitor and trayer; wait until each is ready."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS")
    }
    env["HOME"] = str(workdir / "home")
    env["XDG_CONFIG_HOME"] = str(workdir / "home" / ".config")
    env["XDG_RUNTIME_DIR"] = str(workdir / "xdg-run")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    os.makedirs(env["XDG_RUNTIME_DIR"], mode=0o700, exist_ok=True)
    os.makedirs(env["HOME"], exist_ok=True)
    desk = Desktop(env=env, workdir=workdir)
    try:
        # Xvfb chooses a free display number and writes it to the fd we give it.
        read_fd, write_fd = os.pipe()
        xvfb = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
            pass_fds=(write_fd,),
            stdout=subprocess.DEVNULL,
            stderr=(workdir / "xvfb.log").open("w"),
        )
        desk.procs.append(xvfb)
        os.close(write_fd)
        with os.fdopen(read_fd) as fh:
            number = fh.readline().strip()
        assert number, "Xvfb did not report a display number"
        env["DISPLAY"] = f":{number}"

        bus = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        desk.procs.append(bus)
        assert bus.stdout is not None
        env["DBUS_SESSION_BUS_ADDRESS"] = bus.stdout.readline().strip()
        assert env["DBUS_SESSION_BUS_ADDRESS"], "dbus-daemon gave no address"

        desk.monitor_log = workdir / "dbus-monitor.log"
        monitor = subprocess.Popen(
            ["dbus-monitor", "--session", "interface='org.freedesktop.Notifications'"],
            stdout=desk.monitor_log.open("w"),
            stderr=subprocess.STDOUT,
            env={**env, "PYTHONUNBUFFERED": "1"},
        )
        desk.procs.append(monitor)
        # dbus-monitor prints NameAcquired/NameLost once it is a monitor.
        assert wait_for(lambda: "NameLost" in desk.monitor_log.read_text(), 10), "no dbus-monitor"

        dunstrc = workdir / "dunstrc"
        dunstrc.write_text("[global]\n    notification_limit = 0\n")
        dunst = subprocess.Popen(
            ["dunst", "-config", str(dunstrc)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(workdir / "dunst.log").open("w"),
        )
        desk.procs.append(dunst)

        def has_server() -> bool:
            out = desk.run(
                "dbus-send",
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.freedesktop.Notifications",
            ).stdout
            return "boolean true" in out

        assert wait_for(has_server, 10), "dunst did not take org.freedesktop.Notifications"

        desk.start_trayer()
    except BaseException:
        desk.close()
        raise
    return desk


@dataclass
class TrayProcess:
    """``python -m hotwatch --home HOME -v tray`` as a real child process."""

    proc: subprocess.Popen
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def start_tray(desk: Desktop, home: Path, *extra: str, interval: float = 0.5) -> TrayProcess:
    log = home / f"tray-{time.monotonic_ns()}.log"
    home.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hotwatch",
            "--home",
            str(home),
            "-v",
            "tray",
            "--interval",
            str(interval),
            *extra,
        ],
        env=desk.env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    return TrayProcess(proc, log)


def iter_lines(path: Path) -> Iterator[str]:
    yield from path.read_text(errors="replace").splitlines()
