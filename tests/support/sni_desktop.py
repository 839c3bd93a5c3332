"""A real StatusNotifierItem desktop for tray tests: headless sway, waybar's tray, mako.

sway refuses to run as root, so the desktop runs as an unprivileged user (``hwtest``, or
``$HOTWATCH_TEST_USER``; CI creates it) on a private session bus (``dbus-run-session``,
with a policy that also lets this root test process join it: the checks use jeepney, as
hotwatch does). Everything that user runs must be reachable by them: pytest's ``tmp_path``
(under ``/tmp/pytest-of-root``, 0700) is not, nor is ``/root``, nor perhaps the checkout.
So the desktop's runtime folder and the tray's home are ``mkdtemp`` folders in ``/tmp``
owned by the user, the code under test is copied there (:func:`source_copy`), and the
Python is a venv the user owns under ``/var/tmp`` (:func:`tray_python`), built once per
set of dependencies from ``/usr/bin/python3`` with ``--system-site-packages``, so that it
sees Debian's PyGObject as a user's would.

Debian packages: sway waybar mako-notifier grim dbus python3-gi gir1.2-gtk-3.0
gir1.2-ayatanaappindicator3-0.1 python3-venv (xwayland for the Xwayland session).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .desktop import TrayProcess, notify_summaries
from .waiting import wait_for

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CONFIGS = HERE / "sni"
SYSTEM_PYTHON = "/usr/bin/python3"
VENVS = Path("/var/tmp/hotwatch-sni")
WATCHER = ("/StatusNotifierWatcher", "org.kde.StatusNotifierWatcher")
ITEM = "org.kde.StatusNotifierItem"
MENU = "com.canonical.dbusmenu"
BAR_HEIGHT = 32  #: waybar.json's height: the rows of a screenshot that hold the panel
USERADD = "useradd --create-home --shell /usr/sbin/nologin hwtest"


def desktop_user() -> pwd.struct_passwd:
    """The unprivileged user the desktop runs as; a clear failure if it is missing."""
    name = os.environ.get("HOTWATCH_TEST_USER", "hwtest")
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise AssertionError(
            f"the SNI tray tests need the unprivileged user {name!r} (sway refuses root): "
            f"create it with `{USERADD}` (as .ci/run does), or name another in "
            "HOTWATCH_TEST_USER"
        ) from None


def as_user(user: pwd.struct_passwd) -> dict[str, Any]:
    """``subprocess`` arguments that run a command as ``user``."""
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _chown_tree(root: Path, user: pwd.struct_passwd) -> None:
    for path in [root, *root.rglob("*")]:
        os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)


def user_dir(user: pwd.struct_passwd, prefix: str) -> Path:
    """A new folder in /tmp that only ``user`` (and root) can enter."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chown(path, user.pw_uid, user.pw_gid)
    os.chmod(path, 0o700)
    return path


# --------------------------------------------------------------------------- Pythons


@dataclass(frozen=True)
class TrayPythons:
    """The interpreters a user would run the tray with, and the code under test."""

    system_site: Path  #: a venv with --system-site-packages: sees Debian's PyGObject
    plain: Path  #: a venv without: the same dependencies, no PyGObject
    source: Path  #: a copy of hotwatch/ (and the catalogue helper), put on PYTHONPATH


def _dependencies() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return list(project["dependencies"])


def tray_python(user: pwd.struct_passwd) -> TrayPythons:
    """The user's venvs (built once per set of dependencies, kept in /var/tmp), and a fresh
    copy of the code under test. Building takes about 15 s; later runs reuse it."""
    deps = _dependencies()
    version = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import sys; print(sys.version)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    key = hashlib.sha256("\n".join(["2", version, *deps]).encode()).hexdigest()[:12]
    VENVS.mkdir(mode=0o755, exist_ok=True)
    os.chown(VENVS, user.pw_uid, user.pw_gid)
    with open(VENVS / ".lock", "a") as lock:  # one builder at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        system_site = _venv(user, VENVS / f"sys-{key}", deps)
        plain = _plain_venv(user, VENVS / f"plain-{key}", system_site)
    return TrayPythons(system_site, plain, source_copy(user))


def _venv(user: pwd.struct_passwd, where: Path, deps: list[str]) -> Path:
    """``/usr/bin/python3 -m venv --system-site-packages WHERE`` and pip install ``deps``,
    as ``user``; the ``.complete`` stamp says a venv finished building."""
    python = where / "bin" / "python"
    if (where / ".complete").exists():
        return python
    shutil.rmtree(where, ignore_errors=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(VENVS),
        "PIP_CACHE_DIR": str(VENVS / "pip-cache"),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    steps = [
        [SYSTEM_PYTHON, "-m", "venv", "--system-site-packages", str(where)],
        # --ignore-installed: every dependency in the venv itself, none taken from the
        # system (Debian's python3-six, say), so that the plain venv can share them
        [str(python), "-m", "pip", "install", "--quiet", "--ignore-installed", *deps],
    ]
    for cmd in steps:
        done = subprocess.run(
            cmd, capture_output=True, text=True, env=env, cwd=VENVS, timeout=900, **as_user(user)
        )
        assert done.returncode == 0, f"{cmd} failed:\n{done.stdout}\n{done.stderr}"
    (where / ".complete").write_text("")
    return python


def _plain_venv(user: pwd.struct_passwd, where: Path, system_site: Path) -> Path:
    """A venv without the system's site-packages (no PyGObject) that uses the packages
    pip installed into ``system_site``'s venv (a .pth line): a plain venv's view, without a
    second install."""
    python = where / "bin" / "python"
    if (where / ".complete").exists():
        return python
    shutil.rmtree(where, ignore_errors=True)
    cmd = [SYSTEM_PYTHON, "-m", "venv", "--without-pip", str(where)]
    subprocess.run(cmd, check=True, cwd=VENVS, capture_output=True, **as_user(user))
    site = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    theirs = subprocess.run(
        [str(system_site), "-c", site], capture_output=True, text=True, check=True
    ).stdout.strip()
    mine = subprocess.run(
        [str(python), "-c", site], capture_output=True, text=True, check=True
    ).stdout.strip()
    (Path(mine) / "hotwatch-deps.pth").write_text(theirs + "\n")
    os.chown(Path(mine) / "hotwatch-deps.pth", user.pw_uid, user.pw_gid)
    (where / ".complete").write_text("")
    return python


def source_copy(user: pwd.struct_passwd) -> Path:
    """``hotwatch/`` and the catalogue helper, copied where ``user`` can read them."""
    dest = Path(tempfile.mkdtemp(prefix="hw-sni-src-", dir="/tmp"))
    shutil.copytree(
        REPO / "hotwatch", dest / "hotwatch", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(HERE / "tray_catalogue.py", dest / "tray_catalogue.py")
    _chown_tree(dest, user)
    os.chmod(dest, 0o755)
    return dest


# --------------------------------------------------------------------------- the desktop


@dataclass
class SniDesktop:
    """A running sway session of ``user``, and what the tests ask of it."""

    user: pwd.struct_passwd
    runtime: Path
    env: dict[str, str]
    session: subprocess.Popen
    procs: list[subprocess.Popen] = field(default_factory=list)
    panel: subprocess.Popen | None = None
    monitor_log: Path | None = None
    startup_seconds: float = 0.0

    @property
    def address(self) -> str:
        return self.env["DBUS_SESSION_BUS_ADDRESS"]

    # -- running things as the session's user

    def popen(
        self, *cmd: str, log: Path | None = None, env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        """Start ``cmd`` as the user, in the session, in a process group of its own."""
        out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - the child's
        proc = subprocess.Popen(
            list(cmd),
            env={**self.env, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=self.runtime,
            start_new_session=True,
            **as_user(self.user),
        )
        self.procs.append(proc)
        return proc

    def run(
        self, *cmd: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(cmd),
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.runtime,
            **as_user(self.user),
        )

    # -- the panel (waybar: the StatusNotifierWatcher and its host)

    def start_panel(self) -> None:
        self.panel = self.popen(
            "waybar",
            "-c",
            str(self.runtime / "waybar.json"),
            "-s",
            str(self.runtime / "waybar.css"),
            log=self.runtime / "waybar.log",
        )
        assert wait_for(lambda: self.watcher("IsStatusNotifierHostRegistered"), 15), (
            "waybar's tray did not register a StatusNotifierHost: "
            + (self.runtime / "waybar.log").read_text(errors="replace")[-2000:]
        )

    def stop_panel(self) -> None:
        if self.panel is not None:
            _end_group(self.panel)
            self.panel = None

    # -- D-Bus, through jeepney, as hotwatch speaks it

    def call(self, path: str, bus_name: str, interface: str, method: str, sig: str, *body: Any):
        """One method call on the session bus; its reply's body, or raises."""
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection
        from jeepney.wrappers import unwrap_msg

        msg = new_method_call(DBusAddress(path, bus_name, interface), method, sig, body)
        with open_dbus_connection(bus=self.address) as conn:
            return unwrap_msg(conn.send_and_get_reply(msg, timeout=10))

    def get(self, path: str, bus_name: str, interface: str, name: str) -> Any:
        """A D-Bus property's value (without its signature)."""
        props = "org.freedesktop.DBus.Properties"
        return self.call(path, bus_name, props, "Get", "ss", interface, name)[0][1]

    def watcher(self, name: str) -> Any:
        """A property of the StatusNotifierWatcher, or None without a watcher."""
        try:
            return self.get(*WATCHER, WATCHER[1], name)
        except Exception:  # no watcher (yet, or any more)
            return None

    def items(self) -> list[str]:
        return list(self.watcher("RegisteredStatusNotifierItems") or [])

    def item(self, item: str, name: str) -> Any:
        """A property of a StatusNotifierItem listed as ``SERVICE/PATH``."""
        service, _, path = item.partition("/")
        return self.get("/" + path if path else "/StatusNotifierItem", service, ITEM, name)

    def menu(self, item: str) -> list[tuple[int, str, bool]]:
        """(id, label, enabled) of every labelled entry of the item's DBusMenu, depth first."""
        service = item.partition("/")[0]
        _, layout = self.call(
            self.item(item, "Menu"), service, MENU, "GetLayout", "iias", 0, -1, []
        )
        out: list[tuple[int, str, bool]] = []

        def walk(node: tuple, depth: int) -> None:
            ident, props, children = node
            visible = props.get("visible", ("b", True))[1]
            kind = props.get("type", ("s", "standard"))[1]
            if "label" in props and visible and kind != "separator":
                enabled = props.get("enabled", ("b", True))[1]
                out.append((ident, "  " * depth + props["label"][1], bool(enabled)))
            for _, child in children:
                walk(child, depth + 1)

        walk(layout, -1)
        return out

    def click(self, item: str, label: str, tries: int = 5) -> None:
        """Choose the entry labelled ``label`` (ids change with every menu update, so it is
        looked up now, and again if the menu was rebuilt between the look-up and the click:
        the tray rebuilds it when it notices a state change, such as the pause before)."""
        from jeepney.wrappers import DBusErrorResponse

        service = item.partition("/")[0]
        path = self.item(item, "Menu")
        for attempt in range(tries):
            entries = self.menu(item)
            matches = [ident for ident, text, _ in entries if text.strip() == label]
            assert matches, f"no menu entry {label!r} in {[t for _, t, _ in entries]}"
            try:
                self.call(path, service, MENU, "Event", "isvu", matches[0], "clicked", ("s", ""), 0)
                return
            except DBusErrorResponse as exc:
                if "does not refer to a menu item" not in str(exc) or attempt == tries - 1:
                    raise
                time.sleep(0.2)

    # -- notifications

    def start_monitor(self) -> None:
        """Count ``Notify`` calls on the bus: dbus-monitor, as the XEmbed tests do."""
        self.monitor_log = self.runtime / "dbus-monitor.log"
        proc = subprocess.Popen(
            [
                "dbus-monitor",
                "--address",
                self.address,
                "interface='org.freedesktop.Notifications'",
            ],
            stdout=open(self.monitor_log, "w"),  # noqa: SIM115 - the child's
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        assert wait_for(lambda: "NameLost" in self.monitor_log.read_text(), 10), "no monitor"

    def notify_calls(self) -> list[str]:
        """The summaries of the ``Notify`` calls seen on the bus so far."""
        assert self.monitor_log is not None
        return notify_summaries(self.monitor_log)

    # -- pixels

    def screenshot(self, path: Path) -> np.ndarray:
        """The whole output (grim), RGB, also saved at ``path``."""
        shot = self.runtime / "shot.png"
        done = self.run("grim", str(shot))
        assert done.returncode == 0, done.stderr
        shutil.copyfile(shot, path)
        return np.asarray(Image.open(path).convert("RGB"))

    def close(self) -> None:
        """End every client, then the session (sway, mako, the bus): each in a group."""
        for proc in [*reversed(self.procs), self.session]:
            _end_group(proc)
        if not os.environ.get("SNI_KEEP"):
            shutil.rmtree(self.runtime, ignore_errors=True)


def _end_group(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


def start_sni_desktop(
    user: pwd.struct_passwd, *, panel: bool = True, xwayland: bool = False
) -> SniDesktop:
    """Start sway (headless, pixman) and mako as ``user``, and waybar unless ``panel`` is
    False; wait until the session (and the panel's StatusNotifierWatcher) is up."""
    runtime = user_dir(user, "hw-sni-")
    envfile = runtime / "session.env"
    conf = (CONFIGS / "sway.conf").read_text()
    conf = conf.replace("@ENVFILE@", str(envfile))
    conf = conf.replace("@XWAYLAND@", "enable" if xwayland else "disable")
    (runtime / "sway.conf").write_text(conf)
    for name in ("waybar.json", "waybar.css", "bus.conf"):
        shutil.copy(CONFIGS / name, runtime / name)
    _chown_tree(runtime, user)
    env = {
        "HOME": str(runtime),
        "USER": user.pw_name,
        "LOGNAME": user.pw_name,
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_CONFIG_HOME": str(runtime / "config"),
        "XDG_CACHE_HOME": str(runtime / "cache"),
        "XDG_DATA_HOME": str(runtime / "data"),
        "WLR_BACKENDS": "headless",
        "WLR_RENDERER": "pixman",
        "WLR_LIBINPUT_NO_DEVICES": "1",
    }
    started = time.monotonic()
    session = subprocess.Popen(
        [
            "dbus-run-session",
            f"--config-file={runtime / 'bus.conf'}",
            "--",
            *("sway", "-c", str(runtime / "sway.conf")),
        ],
        env=env,
        cwd=runtime,
        stdout=open(runtime / "sway.log", "w"),  # noqa: SIM115 - the child's
        stderr=subprocess.STDOUT,
        start_new_session=True,
        **as_user(user),
    )
    desk = SniDesktop(user, runtime, dict(env), session)
    try:
        log = runtime / "sway.log"
        assert wait_for(envfile.exists, 15), log.read_text(errors="replace")[-2000:]
        for line in envfile.read_text().splitlines():
            key, _, value = line.partition("=")
            if key in ("DBUS_SESSION_BUS_ADDRESS", "WAYLAND_DISPLAY", "SWAYSOCK", "DISPLAY"):
                desk.env[key] = value
        if panel:
            desk.start_panel()
        desk.startup_seconds = time.monotonic() - started
        return desk
    except BaseException:
        desk.close()
        raise


# --------------------------------------------------------------------------- the tray


class SniTray(TrayProcess):
    """``python -m hotwatch --home HOME -v tray`` run by the desktop's user: stopped with
    its whole process group (it runs under ``runuser``)."""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        _end_group(self.proc)


def start_sni_tray(
    desk: SniDesktop, python: Path, source: Path, home: Path, env: dict[str, str] | None = None
) -> SniTray:
    log = desk.runtime / f"tray-{time.monotonic_ns()}.log"
    proc = desk.popen(
        str(python),
        "-m",
        "hotwatch",
        "--home",
        str(home),
        "-v",
        "tray",
        "--interval",
        "0.5",
        log=log,
        env={"PYTHONPATH": str(source), **(env or {})},
    )
    return SniTray(proc, log)


def our_item(desk: SniDesktop, tray: SniTray) -> str | None:
    """The watcher's entry for this tray's icon: the item whose bus name is its process."""
    for item in desk.items():
        name = item.partition("/")[0]
        with contextlib.suppress(Exception):
            pid = desk.call(
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "org.freedesktop.DBus",
                "GetConnectionUnixProcessID",
                "s",
                name,
            )[0]
            if pid == tray.proc.pid:
                return item
    return None


@contextlib.contextmanager
def held_lock(desk: SniDesktop, python: Path, source: Path, home: Path) -> Iterator[None]:
    """The daemon's lock held by a process of the desktop's user, as a running daemon."""
    proc = desk.popen(
        str(python), str(source / "tray_catalogue.py"), str(home), "lock",
        log=home / "lock.log", env={"PYTHONPATH": str(source)},
    )  # fmt: skip
    assert wait_for(lambda: "locked" in (home / "lock.log").read_text(), 20)
    try:
        yield
    finally:
        _end_group(proc)


def catalogue_tool(desk: SniDesktop, python: Path, source: Path, home: Path, *args: str) -> None:
    """Run :mod:`tests.support.tray_catalogue` as the desktop's user."""
    done = desk.run(
        str(python),
        str(source / "tray_catalogue.py"),
        str(home),
        *args,
        env={"PYTHONPATH": str(source)},
    )
    assert done.returncode == 0, done.stdout + done.stderr


def bar_colours(shot: np.ndarray, fills: dict[Any, tuple[int, int, int]]) -> dict[Any, int]:
    """How many pixels of the panel's rows have each fill colour (within 40 per channel)."""
    bar = shot[:BAR_HEIGHT].astype(int)
    return {
        key: int((np.abs(bar - np.array(rgb)).max(axis=2) < 40).sum()) for key, rgb in fills.items()
    }
