"""The tray: icons, menu model, announcements, and the real icon under Xvfb + trayer + dunst.

The live tests run ``python -m hotwatch --home H tray`` as a real process in a
private desktop (see ``tray_env``): trayer hosts the XEmbed icon, dunst owns
org.freedesktop.Notifications on a private session bus, and dbus-monitor
counts the ``Notify`` calls that reach it.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hotwatch.core.model import AccumulatorKey, BodyId, Defect, DefectKind, FrameKind
from hotwatch.desktop import hosts, tray
from hotwatch.desktop.announce import STATE_KEY, Announcer
from hotwatch.desktop.menu import Item, TrayState, build_menu, menu_texts, read_snapshot
from hotwatch.desktop.tray import NO_DISPLAY, draw_icon
from hotwatch.outputs.notify import (
    CRITICAL,
    NORMAL,
    Notification,
    NotificationError,
    dbus_notify,
    notify_send,
)
from hotwatch.state import runfiles
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.config import Paths
from tests.support.desktop import REPO, Desktop, TrayProcess, start_desktop, start_tray
from tests.support.tray_catalogue import D80, KEY, MAY2, MAY3, add_defects, catalogue, paths_at
from tests.support.waiting import wait_for

NOSERIAL = BodyId("Canon", "Canon EOS 5D", None)
KEY_JPEG = AccumulatorKey(NOSERIAL, FrameKind.JPEG, 320, 240)
SUMMARY = "NIKON D80 #3012345: new hot pixel at 107,214, first seen 2024-05-02"


# --------------------------------------------------------------------------- no display


def test_no_display_says_so_in_one_line_and_never_imports_pystray(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-m", "hotwatch", "--home", str(tmp_path), "tray"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert done.stdout == ""
    assert done.stderr.splitlines() == [f"hotwatch tray: {NO_DISPLAY}"]
    # The CLI and the tray module load without pystray: only run_tray imports it.
    probe = (
        "import sys, hotwatch.cli, hotwatch.desktop.tray, hotwatch.commands.tray;"
        "hotwatch.cli.build_parser(); print('pystray' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.stdout.strip() == "False", done.stderr


# --------------------------------------------------------------------------- icons


def _composite(icon: Image.Image, background: int) -> np.ndarray:
    base = Image.new("RGBA", icon.size, (background, background, background, 255))
    return np.asarray(Image.alpha_composite(base, icon).convert("RGB")).astype(float)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114])


@pytest.mark.parametrize("size", [16, 22, 24])
def test_icons_are_legible_on_light_and_dark_panels_and_differ_per_state(size):
    icons = {s: draw_icon(s, size) for s in TrayState}
    for state, icon in icons.items():
        assert icon.size == (size, size)
        for background in (235, 40):  # a light panel, a dark panel
            rgb = _composite(icon, background)
            differs = np.abs(_luma(rgb) - background) > 50
            assert differs.mean() > 0.5, (state, background, differs.mean())
        # The white glyph on the fill: enough bright pixels to read at this size.
        rgb = _composite(icon, 40)
        glyph = (rgb.min(axis=2) > 200).sum()
        assert glyph >= size * size * 0.07, (state, glyph)
    states = list(TrayState)
    for i, a in enumerate(states):
        for b in states[i + 1 :]:
            diff = np.abs(_composite(icons[a], 128) - _composite(icons[b], 128)).mean()
            assert diff > 15, (a, b, diff)
    # Shapes differ too (not only colours): compare the glyph masks.
    masks = {s: _composite(icons[s], 40).min(axis=2) > 200 for s in states}
    for i, a in enumerate(states):
        for b in states[i + 1 :]:
            assert (masks[a] != masks[b]).mean() > 0.05, (a, b)


# --------------------------------------------------------------------------- menu model


def test_menu_model_reflects_the_catalogue(tmp_path):
    cat = catalogue(tmp_path)
    cat.count_frame(KEY_JPEG, datetime(2023, 1, 9, tzinfo=UTC))
    add_defects(cat, 2)
    cat.mark_seen(D80.key)
    add_defects(cat, 1, start=5)
    paths = paths_at(tmp_path)
    snap = read_snapshot(paths, cat)
    assert snap.state is TrayState.NEW_DEFECT
    texts = menu_texts(build_menu(snap))
    assert texts[0] == "hotwatch: 1 new defect"
    canon = texts.index("Canon Canon EOS 5D (no serial): 0 defects")
    nikon = texts.index("NIKON D80 #3012345: 3 defects (1 new)")
    assert texts[nikon + 1 : nikon + 10] == [
        "  Make: NIKON",
        "  Model: D80",
        "  Serial: 3012345",
        "  Photos: 3 raw, 0 jpeg",
        "  Defects: 3 (1 new)",
        "  Last photo: 2024-05-02",
        "  -",
        "  Open report",
        "  Mark defects as seen",
    ]
    assert texts[canon + 1 : canon + 7] == [
        "  Make: Canon",
        "  Model: Canon EOS 5D",
        "  Serial: unknown",
        "  Photos: 0 raw, 1 jpeg",
        "  Defects: 0",
        "  Last photo: 2023-01-09",
    ]
    assert texts[-4:] == ["Mark all defects as seen", "Pause watching", "Rescan now", "Quit"]
    items = build_menu(snap)
    nikon_item = next(i for i in items if i.text.startswith("NIKON"))
    actions = {c.text: (c.action, c.enabled) for c in nikon_item.children}
    assert actions["Open report"] == (f"report:{D80.key}", True)
    assert actions["Mark defects as seen"] == (f"seen:{D80.key}", True)
    canon_item = next(i for i in items if i.text.startswith("Canon"))
    assert {c.text: c.enabled for c in canon_item.children}["Mark defects as seen"] is False

    # After "mark seen", with the daemon paused: no new defect, "Resume" instead of "Pause".
    cat.mark_seen()
    runfiles.set_paused(paths, True)
    snap = read_snapshot(paths, cat)
    texts = menu_texts(build_menu(snap))
    assert "NIKON D80 #3012345: 3 defects" in texts
    assert "Resume watching" in texts and "Pause watching" not in texts
    assert snap.state is TrayState.STOPPED  # no daemon holds the lock in this test
    # The same model converts to a pystray Menu (its texts are what a menu shows).
    assert Item.from_json(json.loads(json.dumps(items[2].to_json()))) == items[2]


# --------------------------------------------------------------------------- announcer


def test_announcer_starts_at_the_newest_event_and_never_repeats(tmp_path):
    cat = catalogue(tmp_path)
    add_defects(cat, 5)  # history from before the tray ever ran
    sent: list[Notification] = []
    Announcer(cat, sent.append).poll()
    assert sent == []  # first start: no flood with history
    add_defects(cat, 1, start=10)
    Announcer(cat, sent.append).poll()
    assert [n.summary for n in sent] == [
        "NIKON D80 #3012345: new hot pixel at 110,220, first seen 2024-05-02"
    ]

    # The cursor is stored before sending: a failed (or interrupted) send is not retried.
    def broken(note: Notification) -> None:
        raise NotificationError("server gone")

    add_defects(cat, 1, start=11)
    Announcer(cat, broken).poll()
    assert cat.get_state(STATE_KEY) == str(cat.last_event_id())
    Announcer(cat, sent.append).poll()
    assert len(sent) == 1

    add_defects(cat, 2, start=20)
    Announcer(cat, sent.append).poll()
    assert len(sent) == 3  # two at once: one each (the burst limit is 3)
    add_defects(cat, 4, start=30)
    Announcer(cat, sent.append).poll()
    assert len(sent) == 4
    assert sent[-1].summary == "hotwatch: 4 new defects on 1 camera body"
    assert sent[-1].body == "NIKON D80 #3012345: 4 new"


def test_a_dead_pixel_is_announced_with_critical_urgency(tmp_path):
    """A dead pixel ruins every photo from now on: its notification is critical, others
    normal (the kind travels through the event from the catalogue to the notification)."""
    cat = catalogue(tmp_path)
    sent: list[Notification] = []
    Announcer(cat, sent.append).cursor()  # the tray has started: announce what comes next
    cat.sync_defects(
        KEY,
        [
            Defect(40, 50, DefectKind.DEAD, 9.0, MAY2),
            Defect(60, 70, DefectKind.HOT, 9.0, MAY2),
            Defect(80, 90, DefectKind.STUCK, 9.0, MAY2),
        ],
        MAY3,
    )
    Announcer(cat, sent.append).poll()
    assert [(n.summary.split(": ")[1][:14], n.urgency) for n in sent] == [
        ("new dead pixel", CRITICAL),
        ("new hot pixel ", NORMAL),
        ("new stuck pixe", NORMAL),
    ]


# --------------------------------------------------------------------------- daemon lock

LOCKER = (
    "import fcntl, sys, time; f = open(sys.argv[1], 'a'); "
    "getattr(fcntl, sys.argv[2])(f, fcntl.LOCK_EX | fcntl.LOCK_NB); print('locked', flush=True);"
    "time.sleep(120)"
)


def hold_daemon_lock(paths: Paths, how: str = "flock") -> subprocess.Popen:
    """A real process holding the daemon's lock, as the daemon does while it runs."""
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(paths.daemon_lock), how],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


@pytest.mark.parametrize("how", ["flock", "lockf"])
def test_the_tray_sees_the_daemon_by_its_lock(tmp_path, how):
    paths = paths_at(tmp_path)
    assert not read_snapshot(paths, None).daemon
    paths.daemon_lock.touch()
    assert not read_snapshot(paths, None).daemon  # a stale lock file is no running daemon
    holder = hold_daemon_lock(paths, how)
    try:
        assert read_snapshot(paths, None).daemon
    finally:
        holder.kill()
        holder.wait()
    assert not read_snapshot(paths, None).daemon


# --------------------------------------------------------------------------- report action


def test_open_report_writes_a_file_and_opens_it(tmp_path):
    cat = catalogue(tmp_path / "h")
    add_defects(cat, 2)
    paths = paths_at(tmp_path / "h")
    body = read_snapshot(paths, cat).bodies[0]
    opened = tmp_path / "opened.txt"
    opener = [sys.executable, "-c", f"import sys; open({str(opened)!r}, 'w').write(sys.argv[1])"]
    env_path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(REPO)
    try:
        out = tray.open_report(paths, body, opener=opener)
    finally:
        if env_path is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = env_path
    assert out.exists() and out.parent == paths.reports
    # The HTML report if `hotwatch report` works, else the defect list: either names the body.
    text = out.read_text()
    assert "3012345" in text
    if out.suffix == ".txt":
        assert "100" in text and "200" in text  # the first defect's position
    assert wait_for(lambda: opened.exists() and opened.read_text() == str(out), 10)


# --------------------------------------------------------------------------- autostart


def test_tray_install_writes_an_autostart_entry_that_runs(tmp_path):
    home = tmp_path / "state"
    config = tmp_path / "config"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(PYTHONPATH=str(REPO), XDG_CONFIG_HOME=str(config))
    base = [sys.executable, "-m", "hotwatch", "--home", str(home), "tray"]
    done = subprocess.run([*base, "install"], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    entry = config / "autostart" / "hotwatch-tray.desktop"
    assert done.stdout.strip() == f"hotwatch tray will start on login: {entry}"
    fields = dict(line.split("=", 1) for line in entry.read_text().splitlines() if "=" in line)
    assert fields["Type"] == "Application"
    command = shlex.split(fields["Exec"])
    assert command == [sys.executable, "-m", "hotwatch", "--home", str(home.resolve()), "tray"]
    assert Path(fields["Icon"]).exists()
    # The entry's command really starts the tray (here: without a display, one line).
    ran = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    assert ran.returncode == 1 and ran.stderr.strip() == f"hotwatch tray: {NO_DISPLAY}"
    done = subprocess.run([*base, "uninstall"], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and not entry.exists()
    done = subprocess.run([*base, "uninstall"], env=env, capture_output=True, text=True)
    assert done.stdout.strip() == "hotwatch tray was not set to start on login"


def test_exec_quoting_follows_the_desktop_entry_spec():
    from hotwatch.desktop.autostart import exec_quote

    assert exec_quote("/usr/bin/python3") == "/usr/bin/python3"
    assert exec_quote("/home/a b/x") == '"/home/a b/x"'
    assert exec_quote("100%") == "100%%"
    assert exec_quote('a"b$c') == '"a\\\\"b\\\\$c"'


# --------------------------------------------------------------------------- the backend


SWAY = hosts.Hosts(wayland=True, sni_host="waybar")
GI = {"gi": True, "gtk": True, "indicator": "AyatanaAppIndicator3"}


@pytest.mark.parametrize(
    ("found", "backend", "fatal"),
    [
        (hosts.Hosts(**vars(SWAY) | GI), "appindicator", False),
        # an XEmbed tray: always pystray's xorg, whose docking and menu hotwatch repairs,
        # even where PyGObject would let pystray take gtk (GtkStatusIcon)
        (hosts.Hosts(display=":0", xembed_tray="trayer", **GI), "xorg", False),
        (hosts.Hosts(display=":0", xembed_tray="trayer"), "xorg", False),
        # Wayland, no X, no PyGObject: nothing will ever show an icon from this Python
        (SWAY, None, True),
        (hosts.Hosts(wayland=True), None, True),
        # PyGObject can, but no panel yet (a login's race): notifications, and wait
        (hosts.Hosts(wayland=True, **GI), None, False),
        # Xwayland without an XEmbed tray, no PyGObject: no icon, but not an error
        (hosts.Hosts(wayland=True, display=":1", sni_host="waybar"), None, False),
    ],
)
def test_the_backend_is_chosen_by_what_will_show_the_icon(found, backend, fatal):
    """What pystray alone would pick (the first backend that imports) is not what shows an
    icon: appindicator without a StatusNotifier host, gtk on a Wayland panel, xorg without
    a tray all run invisibly. The choice follows the hosts found."""
    plan = hosts.choose(found)
    assert (plan.backend, plan.fatal) == (backend, fatal), plan
    assert plan.line().startswith("hotwatch tray: ")
    assert bool(plan.why) == (backend is None)


# --------------------------------------------------------------------------- live desktop


@pytest.fixture(scope="module")
def desk(tmp_path_factory) -> Iterator[Desktop]:
    desktop = start_desktop(tmp_path_factory.mktemp("desktop"))
    yield desktop
    desktop.close()


@pytest.fixture
def trays() -> Iterator[list[TrayProcess]]:
    started: list[TrayProcess] = []
    yield started
    for t in started:
        t.stop(signal.SIGKILL)


@pytest.fixture
def lock_holders() -> Iterator[list[subprocess.Popen]]:
    held: list[subprocess.Popen] = []
    yield held
    for p in held:
        p.kill()
        p.wait()


def ready(t: TrayProcess, polls: int = 1) -> bool:
    """The tray has refreshed at least once (it logs its menu on the first refresh)."""
    return wait_for(lambda: t.text().count("tray: menu") >= polls, 15)


def docked(desk: Desktop) -> tuple[str, str, int, int, int, int]:
    assert wait_for(desk.tray_icons, 15), desk.tree() + "".join(
        p.read_text() for p in desk.workdir.parent.glob("**/tray-*.log")
    )
    return desk.tray_icons()[0]


def icon_title(desk: Desktop) -> str:
    return docked(desk)[1]


def assert_shows(desk: Desktop, tmp: Path, state: TrayState, t: TrayProcess) -> None:
    """The docked icon shows ``state``'s colour within 5 s; if not, say what it shows."""
    if wait_for(lambda: colour_share(desk, tmp, state) > 0.3, 5):
        return
    shares = {s.value: round(colour_share(desk, tmp, s), 3) for s in TrayState}
    raise AssertionError(
        f"the icon does not show {state.value}: colour shares {shares}, icons "
        f"{desk.tray_icons()}, screenshot {tmp / 'shot.png'}\n{t.text()[-3000:]}"
    )


def colour_share(desk: Desktop, tmp: Path, state: TrayState) -> float:
    """Share of the docked icon's pixels in the screenshot that have the state's fill colour."""
    _, _, x, y, w, h = docked(desk)
    shot = desk.screenshot(tmp / "shot.png")[y : y + h, x : x + w].astype(int)
    fill = np.array(tray._FILL[state])
    return float((np.abs(shot - fill).max(axis=2) < 40).mean())


def test_icon_appears_in_the_tray_and_announces_each_defect_once(
    desk, tmp_path, trays, lock_holders
):
    home = tmp_path / "h"
    cat = catalogue(home)
    add_defects(cat, 2)  # history: never announced
    cat.mark_seen()
    lock_holders.append(hold_daemon_lock(paths_at(home)))
    before = len(desk.notify_calls())

    t = start_tray(desk, home)
    trays.append(t)
    assert ready(t)
    assert (
        "INFO hotwatch tray: pystray backend xorg (XEmbed); icon on trayer's system tray "
        f"(XEmbed, DISPLAY={desk.display})"
    ) in t.text().splitlines()
    assert wait_for(lambda: icon_title(desk) == "hotwatch: all well", 20), desk.tray_icons()
    assert colour_share(desk, tmp_path, TrayState.OK) > 0.3
    assert colour_share(desk, tmp_path, TrayState.NEW_DEFECT) == 0
    # The running icon's menu is the one built from the catalogue.
    logged = [ln for ln in t.text().splitlines() if "tray: menu" in ln][-1]
    shown = json.loads(logged.split("tray: menu ", 1)[1])
    assert shown == menu_texts(build_menu(read_snapshot(paths_at(home), cat)))
    assert "NIKON D80 #3012345: 2 defects" in shown

    add_defects(cat, 1, start=7)
    calls = desk.wait_notify_count(before + 1)
    assert calls[before:] == ["NIKON D80 #3012345: new hot pixel at 107,214, first seen 2024-05-02"]
    assert wait_for(lambda: icon_title(desk).startswith("hotwatch: 1 new defect"), 20)
    assert_shows(desk, tmp_path, TrayState.NEW_DEFECT, t)
    assert ready(t, polls=2)  # the menu followed
    logged = [ln for ln in t.text().splitlines() if "tray: menu" in ln][-1]
    assert "NIKON D80 #3012345: 3 defects (1 new)" in json.loads(logged.split("tray: menu ", 1)[1])

    # A clean restart, then a SIGKILLed one: no notification is repeated.
    t.stop(signal.SIGTERM)
    assert t.proc.returncode is not None
    for sig in (signal.SIGKILL, None):
        t = start_tray(desk, home)
        trays.append(t)
        assert ready(t)
        assert wait_for(lambda: "new defect" in icon_title(desk), 10)
        assert not wait_for(lambda: len(desk.notify_calls()) > before + 1, 2.0)
        if sig is not None:
            t.stop(sig)

    # A burst becomes one summary.
    add_defects(cat, 12, start=40)
    calls = desk.wait_notify_count(before + 2)
    assert not wait_for(lambda: len(desk.notify_calls()) > before + 2, 2.0)
    assert calls[before + 1 :] == ["hotwatch: 12 new defects on 1 camera body"]


def downs_to(items: tuple[Item, ...], text: str) -> int:
    """How many Down keys select ``text`` in a fresh Tk menu (it skips disabled entries)."""
    usable = [i.text for i in items if i.text != "-" and (i.children or (i.enabled and i.action))]
    return usable.index(text) + 1


def choose(desk: Desktop, t: TrayProcess, paths: Paths, cat: Catalogue, text: str) -> None:
    """Click the docked icon, wait for the menu popup, pick ``text`` with the keyboard."""
    _, _, x, y, w, h = docked(desk)
    menus = desk.tree().count('"!menu"')
    desk.run("xdotool", "mousemove", str(x + w // 2), str(y + h // 2), "click", "1")
    assert wait_for(lambda: desk.tree().count('"!menu"') > menus, 10), t.text()
    # Keys sent before Tk holds the keyboard are lost: a Return alone then picks nothing.
    assert wait_for(desk.keyboard_grabbed, 10), "the menu never took the keyboard"
    items = build_menu(read_snapshot(paths, cat))
    keys = ["Down"] * downs_to(items, text) + ["Return"]
    desk.run("xdotool", "key", "--delay", "60", *keys).check_returncode()
    assert wait_for(lambda: desk.tree().count('"!menu"') == menus, 10)


def test_menu_actions_pause_resume_mark_seen_and_quit(desk, tmp_path, trays, lock_holders):
    home = tmp_path / "h"
    paths = paths_at(home)
    cat = catalogue(home)
    t = start_tray(desk, home)
    trays.append(t)
    assert ready(t)
    add_defects(cat, 2)  # after the tray started: 2 new, unseen
    lock_holders.append(hold_daemon_lock(paths))
    assert wait_for(lambda: icon_title(desk).startswith("hotwatch: 2 new defects"), 20)

    choose(desk, t, paths, cat, "Pause watching")
    assert wait_for((paths.runtime / "paused").exists, 10), t.text()

    choose(desk, t, paths, cat, "Mark all defects as seen")
    assert wait_for(lambda: cat.unseen_defects() == 0, 10), t.text()
    assert wait_for(lambda: icon_title(desk) == "hotwatch: watching paused", 20)
    assert_shows(desk, tmp_path, TrayState.PAUSED, t)

    choose(desk, t, paths, cat, "Resume watching")
    assert wait_for(lambda: not (paths.runtime / "paused").exists(), 10), t.text()
    assert wait_for(lambda: icon_title(desk) == "hotwatch: all well", 20)

    choose(desk, t, paths, cat, "Rescan now")
    assert wait_for((paths.runtime / "rescan").exists, 10), t.text()

    lock_holders[0].kill()
    lock_holders[0].wait()
    assert wait_for(lambda: icon_title(desk) == "hotwatch: the watcher is not running", 20)
    assert_shows(desk, tmp_path, TrayState.STOPPED, t)

    choose(desk, t, paths, cat, "Quit")
    assert t.proc.wait(timeout=10) == 0
    assert wait_for(lambda: not desk.tray_icons(), 10)


def test_without_a_tray_it_notifies_and_docks_the_icon_once_a_tray_is_there(
    desk, tmp_path, trays, lock_holders
):
    """No tray host at all (no XEmbed tray, no StatusNotifier host): one line, and every new
    defect still becomes a notification; the icon docks once trayer starts. When the tray
    goes away under the docked icon: one warning, notifications, and the icon docks again
    when it is back."""
    home = tmp_path / "h"
    cat = catalogue(home)
    add_defects(cat, 2)
    cat.mark_seen()
    lock_holders.append(hold_daemon_lock(paths_at(home)))
    before = len(desk.notify_calls())
    desk.stop_trayer()
    try:
        t = start_tray(desk, home)
        trays.append(t)
        assert wait_for(lambda: "no icon" in t.text(), 20), t.text()
        said = [ln for ln in t.text().splitlines() if "hotwatch tray:" in ln]
        assert said == [
            "WARNING hotwatch tray: no icon: no tray host will take the icon: nothing shows "
            "StatusNotifierItems (org.kde.StatusNotifierWatcher on the session bus) and no "
            f"XEmbed system tray on DISPLAY={desk.display} ({hosts.GNOME_HINT}); desktop "
            "notifications still come"
        ], t.text()
        add_defects(cat, 1, start=7)
        assert desk.wait_notify_count(before + 1)[before:] == [SUMMARY], t.text()
    finally:
        desk.start_trayer()
    assert wait_for(desk.tray_icons, 20), t.text()  # it looks again every few seconds
    assert "INFO hotwatch tray: a tray host appeared; starting the icon" in t.text()
    assert wait_for(lambda: icon_title(desk).startswith("hotwatch: 1 new defect"), 20)
    assert_shows(desk, tmp_path, TrayState.NEW_DEFECT, t)

    desk.stop_trayer()
    try:
        gone = "the system tray went away; desktop notifications still come"
        assert wait_for(lambda: gone in t.text(), 15), t.text()
        add_defects(cat, 1, start=9)
        assert desk.wait_notify_count(before + 2)[before + 1 :] == [
            "NIKON D80 #3012345: new hot pixel at 109,218, first seen 2024-05-02"
        ], t.text()
    finally:
        desk.start_trayer()
    assert wait_for(lambda: "the system tray is back; docking the icon" in t.text(), 15)
    assert wait_for(desk.tray_icons, 20), t.text()
    assert wait_for(lambda: icon_title(desk).startswith("hotwatch: 2 new defects"), 20)
    assert_shows(desk, tmp_path, TrayState.NEW_DEFECT, t)
    assert t.text().count(gone) == 1
    assert t.proc.poll() is None
    assert not wait_for(lambda: len(desk.notify_calls()) > before + 2, 1.0)


def test_a_second_tray_for_the_same_state_refuses_to_start(desk, tmp_path, trays):
    home = tmp_path / "h"
    catalogue(home)
    first = start_tray(desk, home)
    trays.append(first)
    assert ready(first)
    second = start_tray(desk, home)
    trays.append(second)
    assert second.proc.wait(timeout=20) == 1
    assert "a hotwatch tray is already running" in second.text()


def test_notifications_reach_the_server_by_dbus_and_by_notify_send(desk, monkeypatch):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", desk.env["DBUS_SESSION_BUS_ADDRESS"])
    before = len(desk.notify_calls())
    assert dbus_notify(Notification("via jeepney", "body")) > 0
    notify_send(Notification("via notify-send", "body"))
    assert desk.wait_notify_count(before + 2)[before:] == ["via jeepney", "via notify-send"]
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
    with pytest.raises(NotificationError):
        dbus_notify(Notification("nowhere"))
