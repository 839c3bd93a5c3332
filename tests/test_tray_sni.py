"""The tray on a StatusNotifierItem desktop: headless sway, waybar's tray, mako.

What a user of KDE Plasma, GNOME with the AppIndicator extension, or sway/waybar gets: the
icon is a StatusNotifierItem (pystray's ``appindicator`` backend, through PyGObject), its
menu a DBusMenu. The tray runs as the unprivileged desktop user from a venv made with
``/usr/bin/python3 --system-site-packages`` (see :mod:`tests.support.sni_desktop`); every
check reads what a panel reads: the watcher's items, the item's properties and icon, the
menu's layout and events, the ``Notify`` calls on the bus, and the pixels on the output.
The ways this used to fail silently are driven too: Wayland without PyGObject, PyGObject
without the AppIndicator typelib, Xwayland without an XEmbed tray, no panel at all.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hotwatch.desktop import hosts
from hotwatch.desktop.menu import TrayState, build_menu, menu_texts, read_snapshot
from hotwatch.desktop.tray import _FILL
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.config import Paths
from tests.support.sni_desktop import (
    SniDesktop,
    SniTray,
    TrayPythons,
    bar_colours,
    catalogue_tool,
    desktop_user,
    held_lock,
    our_item,
    start_sni_desktop,
    start_sni_tray,
    tray_python,
    user_dir,
)
from tests.support.waiting import wait_for, wait_until

SUMMARY = "NIKON D80 #3012345: new hot pixel at 107,214, first seen 2024-05-02"


@pytest.fixture(scope="module")
def user():
    return desktop_user()


@pytest.fixture(scope="module")
def pythons(user) -> TrayPythons:
    py = tray_python(user)
    yield py
    shutil.rmtree(py.source, ignore_errors=True)


@pytest.fixture(scope="module")
def desk(user) -> Iterator[SniDesktop]:
    desktop = start_sni_desktop(user)
    desktop.start_monitor()
    yield desktop
    desktop.close()


@pytest.fixture
def home(user) -> Iterator[Path]:
    path = user_dir(user, "hw-home-")
    os.chmod(path, 0o755)  # the test reads the catalogue and the run files
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def trays() -> Iterator[list[SniTray]]:
    started: list[SniTray] = []
    yield started
    for t in started:
        t.stop()


def icon_state(desk: SniDesktop, item: str) -> TrayState | None:
    """The state whose fill colour covers the item's icon (the PNG its IconName names)."""
    path = desk.item(item, "IconName")
    try:
        rgba = np.asarray(Image.open(path).convert("RGBA")).astype(int)
    except OSError:  # replaced while read
        return None
    opaque = rgba[rgba[..., 3] > 200][:, :3]
    for state, fill in _FILL.items():
        if (np.abs(opaque - np.array(fill)).max(axis=1) < 40).mean() > 0.3:
            return state
    return None


def shows(desk: SniDesktop, tmp_path: Path, state: TrayState) -> bool:
    """The panel shows the icon in ``state``'s colour, and no other state's."""
    counts = bar_colours(desk.screenshot(tmp_path / f"{state.value}.png"), _FILL)
    return counts[state] > 150 and all(n == 0 for s, n in counts.items() if s is not state)


def menu_of(home: Path) -> list[str]:
    """The menu the tray should show now, built from the catalogue (read as the test)."""
    paths = paths_of(home)
    with Catalogue(paths.catalogue, readonly=True) as cat:
        return menu_texts(build_menu(read_snapshot(paths, cat)))


def paths_of(home: Path) -> Paths:
    """The tray's paths, without creating anything (the tray's user owns that home)."""
    return Paths(data=home, config_dir=home)


def registered(desk: SniDesktop, t: SniTray) -> str:
    return wait_until("the tray's item to register", lambda: our_item(desk, t), 20)


# --------------------------------------------------------------------------- the icon


def test_the_icon_registers_follows_the_state_and_its_menu_works(
    desk, pythons, home, trays, tmp_path
):
    python, src = pythons.system_site, pythons.source
    catalogue_tool(desk, python, src, home, "init")  # 2 defects, seen: history
    with held_lock(desk, python, src, home):
        before = len(desk.notify_calls())
        t = start_sni_tray(desk, python, src, home)
        trays.append(t)
        item = registered(desk, t)
        backend = [ln for ln in t.text().splitlines() if "pystray backend" in ln]
        assert backend == [
            "INFO hotwatch tray: pystray backend appindicator (StatusNotifierItem); icon on "
            f"waybar's tray ({hosts.WATCHER} on the session bus)"
        ], t.text()
        assert desk.item(item, "Id") == "hotwatch"
        assert desk.item(item, "Status") == "Active"
        assert wait_for(lambda: desk.item(item, "Title") == "hotwatch: all well", 10)
        assert wait_for(lambda: icon_state(desk, item) is TrayState.OK, 10)
        assert wait_for(lambda: shows(desk, tmp_path, TrayState.OK), 10)
        labels = [text for _, text, _ in desk.menu(item)]
        assert labels == [ln for ln in menu_of(home) if ln.strip() != "-"]

        # A new defect: one notification, the icon and the title follow.
        icon_before = desk.item(item, "IconName")
        catalogue_tool(desk, python, src, home, "add", "1", "7")
        assert wait_for(lambda: len(desk.notify_calls()) > before, 15), t.text()
        assert desk.notify_calls()[before:] == [SUMMARY]
        assert wait_for(lambda: desk.item(item, "Title").startswith("hotwatch: 1 new defect"), 10)
        assert desk.item(item, "IconName") != icon_before
        assert wait_for(lambda: icon_state(desk, item) is TrayState.NEW_DEFECT, 10)
        assert wait_for(lambda: shows(desk, tmp_path, TrayState.NEW_DEFECT), 10)
        assert not wait_for(lambda: len(desk.notify_calls()) > before + 1, 2.0)

        # The menu's entries, through DBusMenu (looked up by label: ids change).
        paths = paths_of(home)
        desk.click(item, "Pause watching")
        assert wait_for(paths.pause_flag.exists, 10), t.text()
        desk.click(item, "Mark all defects as seen")
        assert wait_for(lambda: desk.item(item, "Title") == "hotwatch: watching paused", 10)
        assert wait_for(lambda: icon_state(desk, item) is TrayState.PAUSED, 10)
        assert wait_for(lambda: shows(desk, tmp_path, TrayState.PAUSED), 10)
        desk.click(item, "Resume watching")
        assert wait_for(lambda: not paths.pause_flag.exists(), 10), t.text()
        assert wait_for(lambda: desk.item(item, "Title") == "hotwatch: all well", 10)
        desk.click(item, "Rescan now")
        assert wait_for(paths.rescan_flag.exists, 10), t.text()
        assert [text for _, text, _ in desk.menu(item)] == [
            ln for ln in menu_of(home) if ln.strip() != "-"
        ]
    assert wait_for(lambda: desk.item(item, "Title").endswith("not running"), 10)
    assert wait_for(lambda: shows(desk, tmp_path, TrayState.STOPPED), 10)
    desk.click(item, "Quit")
    assert t.proc.wait(timeout=15) == 0
    assert wait_for(lambda: our_item(desk, t) is None, 10)
    assert len(desk.notify_calls()) == before + 1  # and nothing was announced twice


# --------------------------------------------------------------------------- failures


def test_wayland_without_pygobject_exits_naming_the_packages(desk, pythons, home):
    """A plain venv cannot reach the StatusNotifier host: no silent X error, a recipe."""
    done = desk.run(
        str(pythons.plain), "-m", "hotwatch", "--home", str(home), "tray",
        env={"PYTHONPATH": str(pythons.source)}, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("hotwatch tray: this Wayland session shows tray icons only as ")
    for words in (
        "python3-gi gir1.2-gtk-3.0 gir1.2-ayatanaappindicator3-0.1",
        "--system-site-packages",
        "python3-gobject gtk3 libayatana-appindicator-gtk3",
        "python-gobject gtk3 libayatana-appindicator",
    ):
        assert words in lines[0]


def test_pygobject_without_the_appindicator_typelib_is_caught(desk, pythons, home, tmp_path):
    """PyGObject with Gtk but no (Ayatana)AppIndicator typelib: pystray would take its gtk
    backend, whose XEmbed icon no Wayland panel shows. The typelib is hidden for real: a
    copy of the typelib folder without it is mounted over the folder, in a mount namespace
    of the tray's own."""
    found = glob.glob("/usr/lib/*/girepository-1.0/AyatanaAppIndicator3-0.1.typelib")
    assert found, "gir1.2-ayatanaappindicator3-0.1 is not installed"
    folder = Path(found[0]).parent
    bare = Path(user_dir(desk.user, "hw-gir-"))
    for typelib in folder.glob("*.typelib"):
        if "AppIndicator" not in typelib.name:
            shutil.copy(typelib, bare / typelib.name)
    os.chmod(bare, 0o755)
    tray = [str(pythons.system_site), "-m", "hotwatch", "--home", str(home), "tray"]
    inside = (
        f"mount --bind {bare} {folder} && exec setpriv --reuid={desk.user.pw_uid} "
        f"--regid={desk.user.pw_gid} --clear-groups -- " + " ".join(tray)
    )
    try:
        done = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", inside],
            env={**desk.env, "PYTHONPATH": str(pythons.source)},
            cwd=desk.runtime,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        shutil.rmtree(bare, ignore_errors=True)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines
    assert "need the AyatanaAppIndicator3 typelib" in lines[0]
    assert "gir1.2-ayatanaappindicator3-0.1 (Debian/Ubuntu)" in lines[0]


def _iconless_tray_notifies(desk, python, src, home, trays):
    """Start a tray that gets no icon: it says so in exactly one line, and a new defect
    still brings exactly one notification. The tray, that line, and the notifications
    before the defect."""
    desk.start_monitor()
    catalogue_tool(desk, python, src, home, "init")
    t = start_sni_tray(desk, python, src, home)
    trays.append(t)
    assert wait_for(lambda: "no icon" in t.text(), 30), t.text()
    lines = [ln for ln in t.text().splitlines() if "hotwatch tray:" in ln]
    assert len(lines) == 1, t.text()
    before = len(desk.notify_calls())
    catalogue_tool(desk, python, src, home, "add", "1", "7")
    assert wait_for(lambda: len(desk.notify_calls()) > before, 15), t.text()
    assert desk.notify_calls()[before:] == [SUMMARY]
    return t, lines[0], before


def test_xwayland_without_pygobject_says_so_once_and_still_notifies(user, pythons, home, trays):
    """GNOME's or KDE's Wayland session with Xwayland and a plain venv: pystray's X11
    backend would find no XEmbed tray and run with no icon, silently. Now: one line, and
    every new defect still becomes a notification."""
    desk = start_sni_desktop(user, xwayland=True)
    try:
        python, src = pythons.plain, pythons.source
        t, line, _ = _iconless_tray_notifies(desk, python, src, home, trays)
        assert "waybar shows StatusNotifierItems, which need PyGObject" in line
        assert "no XEmbed system tray on DISPLAY=" in line
        assert line.endswith("desktop notifications still come")
        assert t.proc.poll() is None
        assert our_item(desk, t) is None
    finally:
        desk.close()


def test_without_a_panel_it_notifies_and_shows_the_icon_once_one_starts(
    user, pythons, home, trays, tmp_path
):
    """No StatusNotifier host (GNOME without the extension, or a login where the tray
    starts before the panel): one line, notifications; the icon once a panel appears."""
    desk = start_sni_desktop(user, panel=False)
    try:
        python, src = pythons.system_site, pythons.source
        t, line, before = _iconless_tray_notifies(desk, python, src, home, trays)
        assert "no tray host will take the icon" in line, t.text()

        desk.start_panel()
        item = registered(desk, t)
        assert "a tray host appeared; starting the icon" in t.text()
        assert wait_for(lambda: icon_state(desk, item) is TrayState.NEW_DEFECT, 10)
        assert wait_for(lambda: shows(desk, tmp_path, TrayState.NEW_DEFECT), 10)
        assert not wait_for(lambda: len(desk.notify_calls()) > before + 1, 2.0)
    finally:
        desk.close()
