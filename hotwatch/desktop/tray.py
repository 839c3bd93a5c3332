"""``hotwatch tray``: the face of the tray: its pystray icon, menu and popup.

The tray is a separate process from the daemon: it only reads the catalogue (and writes
"seen" marks and its own announcement cursor), so the daemon can run headless on a NAS while
the tray runs on the desktop. It talks to the daemon through the run files of
:mod:`hotwatch.state.runfiles`: the daemon's lock (held while it runs) and ``status.json``;
``paused`` (exists = paused) and ``rescan`` (touched = rescan now), which the daemon honours.
What it shows is :mod:`hotwatch.desktop.menu`'s model; what it announces,
:mod:`hotwatch.desktop.announce`'s policy.

This is the only module that imports pystray, and it does so only inside :func:`run_tray`,
after :mod:`hotwatch.desktop.hosts` found what will show the icon and chose the backend
(``PYSTRAY_BACKEND``): pystray alone picks the first backend that imports, visible or not.
When nothing will show an icon the tray says so in one line and sends notifications only
(:class:`NotifyOnly`), watching for a tray to appear; on Wayland without any way to an
icon it exits naming the packages to install.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from hotwatch.core.errors import CommandFailed, UserError
from hotwatch.outputs.notify import Notifier
from hotwatch.state import runfiles
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.config import Paths

from . import hosts
from .announce import Announcer
from .menu import (
    SEPARATOR,
    BodySummary,
    Item,
    Snapshot,
    TrayState,
    build_menu,
    menu_texts,
    read_snapshot,
    tooltip,
)

log = logging.getLogger(__name__)

POLL_SECONDS = 3.0
UI_TIMEOUT = 8.0  # seconds a change to the icon may take before the tray restarts itself
HOST_CHECK_SECONDS = 5.0  # how often the tray looks again for a host that takes its icon
NO_DISPLAY = "no graphical display (DISPLAY is not set)"

TRAY_LOCK = "tray.lock"
#: what to install for the Tk menu of the X11 (XEmbed) icon, per distribution
TK = "python3-tk (Debian/Ubuntu), python3-tkinter (Fedora), tk (Arch)"


# --------------------------------------------------------------------------- display


def display_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """The one-line reason the tray cannot run here, or None when there is a display."""
    env = os.environ if environ is None else environ
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    return NO_DISPLAY


# --------------------------------------------------------------------------- icons


# Fill colours: saturated mid-tones, so each stands out on a dark panel; the dark
# outline makes the shape stand out on a light one; the glyph is white on the fill.
_FILL = {
    TrayState.OK: (40, 165, 70),
    TrayState.NEW_DEFECT: (235, 55, 45),
    TrayState.STOPPED: (125, 125, 125),
    TrayState.PAUSED: (45, 120, 235),
}
_OUTLINE = (20, 20, 20)
_GLYPH = (255, 255, 255)


def draw_icon(state: TrayState, size: int = 64) -> Image.Image:
    """The tray icon for ``state``, ``size`` x ``size`` RGBA, drawn 4x larger and reduced.

    A rounded square (a sensor) with a dark outline, filled with the state's
    colour, holding a thick white glyph: a check (all well), "!" (new defect),
    a cross (daemon not running), two bars (paused). Shapes, not only colours,
    tell the states apart, for colour-blind users and monochrome panels.
    """
    s = size * 4
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    pad = round(s * 0.03)
    outline = max(4, round(s * 0.06))
    d.rounded_rectangle(
        (pad, pad, s - 1 - pad, s - 1 - pad),
        radius=round(s * 0.2),
        fill=(*_FILL[state], 255),
        outline=(*_OUTLINE, 255),
        width=outline,
    )
    w = round(s * 0.17)  # glyph stroke width
    g = (*_GLYPH, 255)

    def at(fx: float, fy: float) -> tuple[int, int]:
        return round(s * fx), round(s * fy)

    if state is TrayState.OK:
        d.line([at(0.27, 0.52), at(0.44, 0.69), at(0.74, 0.32)], fill=g, width=w, joint="curve")
    elif state is TrayState.NEW_DEFECT:
        d.rectangle((*at(0.4, 0.18), *at(0.6, 0.58)), fill=g)
        d.rectangle((*at(0.4, 0.66), *at(0.6, 0.83)), fill=g)
    elif state is TrayState.STOPPED:
        d.line([at(0.3, 0.3), at(0.7, 0.7)], fill=g, width=w)
        d.line([at(0.3, 0.7), at(0.7, 0.3)], fill=g, width=w)
    else:  # PAUSED
        d.rectangle((*at(0.3, 0.27), *at(0.44, 0.73)), fill=g)
        d.rectangle((*at(0.56, 0.27), *at(0.7, 0.73)), fill=g)
    return img.resize((size, size), Image.Resampling.LANCZOS)


# --------------------------------------------------------------------------- snapshot


# --------------------------------------------------------------------------- menu model


def to_pystray(pystray: Any, items: Sequence[Item], act: Callable[[str], None]) -> Any:
    """The pystray Menu for ``items``; choosing an entry calls ``act(action)``."""

    def entry(item: Item) -> Any:
        if item is SEPARATOR or item.text == "-":
            return pystray.Menu.SEPARATOR
        if item.children:
            return pystray.MenuItem(item.text, to_pystray(pystray, item.children, act))
        action = item.action

        def chosen(icon: Any, menu_item: Any) -> None:
            if action:
                act(action)

        return pystray.MenuItem(item.text, chosen, enabled=item.enabled and bool(action))

    return pystray.Menu(*[entry(i) for i in items])


# --------------------------------------------------------------------------- announcements


# --------------------------------------------------------------------------- reports


def _file_stem(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_") or "body"


def open_report(
    paths: Paths, body: BodySummary, opener: Sequence[str] = ("xdg-open",), timeout: float = 300
) -> Path:
    """Write the body's HTML report (or, failing that, its defect list) and open it.

    Runs ``hotwatch report`` as a subprocess so that a slow or broken report
    never blocks or crashes the tray. Returns the file written.
    """
    paths.reports.mkdir(parents=True, exist_ok=True)
    stem = _file_stem(body.label)
    base = [sys.executable, "-m", "hotwatch", "--home", str(paths.data)]
    out = paths.reports / f"{stem}.html"
    done = _run([*base, "report", body.query, "-o", str(out)], timeout)
    if done is None or done.returncode != 0 or not out.exists():
        why = "did not run" if done is None else (done.stderr.strip().splitlines() or ["?"])[-1]
        log.info("tray: no HTML report for %s (%s); writing the defect list", body.label, why)
        out = paths.reports / f"{stem}-defects.txt"
        listing = _run([*base, "defects", body.query], timeout)
        text = listing.stdout if listing and listing.returncode == 0 else ""
        if not text:
            detail = listing.stderr.strip() if listing else "hotwatch defects did not run"
            text = f"{body.label}: no defect list available ({detail})\n"
        out.write_text(text, encoding="utf-8")
    try:
        subprocess.Popen(
            [*opener, str(out)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        log.warning("tray: cannot open %s with %s: %s", out, opener[0], exc)
    return out


def _run(cmd: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(
            list(cmd),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("tray: %s failed: %s", cmd[-3:], exc)
        return None


# --------------------------------------------------------------------------- the app


class TrayApp:
    """The running tray: a poll thread that owns the catalogue, and the pystray icon.

    Menu callbacks (from pystray's thread) only put actions on a queue; the poll
    thread carries them out, so one thread owns the SQLite connection.
    """

    def __init__(
        self,
        paths: Paths,
        pystray: Any,
        interval: float = POLL_SECONDS,
        plan: hosts.Plan | None = None,
    ) -> None:
        self.paths = paths
        self.pystray = pystray
        self.interval = interval
        self.plan = plan
        self.actions: queue.Queue[str] = queue.Queue()
        self.snapshot = Snapshot()
        self.menu: tuple[Item, ...] = ()
        self.icons = {s: draw_icon(s) for s in TrayState}
        self.popup_open = threading.Event()
        has_menu = bool(getattr(pystray.Icon, "HAS_MENU", True))
        # Start with the right image and title: every later change is a call into
        # pystray's X11 thread, which is best kept rare (see _exit_now).
        first = self._first_snapshot()
        self.icon = pystray.Icon(
            "hotwatch", self.icons[first.state], tooltip(first), menu=self._pystray_menu(())
        )
        # pystray's X11 backend has no menus, only a click: show the menu with Tk then.
        self.own_popup = not has_menu
        if self.own_popup:
            _enable_xorg_clicks(self.icon)
            _dock_once(self.icon)
        self.notifier = Notifier(self.icon)
        self.cat: Catalogue | None = None
        self.announcer: Announcer | None = None
        self.undocked_polls = 0
        self._xcheck: Any = None  # the poll thread's own X connection (see _keep_docked)
        self.host_gone = False  # the tray host went away (said once, until it is back)
        self._next_host_check = 0.0

    def _pystray_menu(self, items: Sequence[Item]) -> Any:
        menu = to_pystray(self.pystray, items, self.actions.put)
        click = self.pystray.MenuItem(
            "Menu", lambda icon, item: self.actions.put("popup"), default=True, visible=False
        )
        return self.pystray.Menu(click, *menu.items)

    # -- lifecycle

    def run(self) -> None:
        module = type(self.icon).__module__
        if self.plan is not None and module == f"pystray._{self.plan.backend}":
            log.info("%s", self.plan.line())
        else:
            log.info("hotwatch tray: pystray backend %s", module.removeprefix("pystray._"))
        self.icon.run(setup=self._setup)

    def _first_snapshot(self) -> Snapshot:
        if not self.paths.catalogue.exists():
            return read_snapshot(self.paths, None)
        cat = Catalogue(self.paths.catalogue)
        try:
            return read_snapshot(self.paths, cat)
        finally:
            cat.close()

    def _setup(self, icon: Any) -> None:
        icon.visible = True
        threading.Thread(target=self._loop, name="hotwatch-tray-poll", daemon=True).start()

    def _loop(self) -> None:
        try:
            while True:
                self.refresh()
                try:
                    action = self.actions.get(timeout=self.interval)
                except queue.Empty:
                    continue
                if not self.dispatch(action):
                    break
        except Exception:
            log.exception("hotwatch tray: poll loop failed")
        finally:
            if self.cat is not None:
                self.cat.close()
            # pystray's X11 backend sometimes misses its own stop request and keeps
            # waiting for X events; nothing is left to save, so end the process then.
            watchdog = threading.Timer(3.0, _exit_now)
            watchdog.daemon = True
            watchdog.start()
            self.icon.stop()

    def _catalogue(self) -> Catalogue | None:
        if self.cat is None and self.paths.catalogue.exists():
            self.cat = Catalogue(self.paths.catalogue)
            self.announcer = Announcer(self.cat, self.notifier.send)
            self.announcer.cursor()  # first start: begin at the newest event
        return self.cat

    def refresh(self) -> None:
        """Announce new events, re-read the state, update icon, title and menu if changed."""
        cat = self._catalogue()
        if self.announcer is not None:
            self.announcer.poll()
        snap = read_snapshot(self.paths, cat)
        image = self.icons[snap.state]
        if self.icon.icon is not image:
            self._ui("change the icon", lambda: setattr(self.icon, "icon", image))
            log.debug("tray: state %s", snap.state.value)
        title = tooltip(snap)
        if title != self.icon.title:
            self._ui("change the title", lambda: setattr(self.icon, "title", title))
        if self.own_popup:
            self._keep_docked()
        elif self.plan is not None and self.plan.backend == "appindicator":
            self._keep_registered()
        menu = build_menu(snap)
        if menu != self.menu:
            self.menu = menu
            self.icon.menu = self._pystray_menu(menu)
            self.icon.update_menu()
            log.debug("tray: menu %s", json.dumps(menu_texts(menu)))
        self.snapshot = snap

    def _keep_docked(self) -> None:
        """Dock the X11 icon again if it is not in a tray while a tray exists.

        pystray asks the tray to embed its window once; if that request is lost
        (seen with trayer when an earlier icon just went away) or the panel is
        restarted, the icon would stay invisible. Checked on a separate X
        connection owned by this thread, so it never races pystray's own.
        """
        window = getattr(self.icon, "_window", None)
        if window is None:
            return
        try:
            from Xlib import X
            from Xlib.display import Display

            if self._xcheck is None:
                self._xcheck = Display()
            disp = self._xcheck
            screen = disp.screen()
            atom = disp.intern_atom(f"_NET_SYSTEM_TRAY_S{disp.get_default_screen()}")
            if disp.get_selection_owner(atom) == X.NONE:
                self.undocked_polls = 0
                self._host_lost("the system tray went away")
                return
            self._host_back("the system tray is back; docking the icon")
            mine = disp.create_resource_object("window", window.id)
            docked = mine.query_tree().parent.id != screen.root.id
            # pystray's X11 thread sometimes leaves a title change unsent: repair it.
            if mine.get_wm_name() != self.icon.title:
                mine.set_wm_name(self.icon.title)
                disp.flush()
        except Exception as exc:  # the icon window is gone or X is unreachable
            log.debug("tray: cannot check docking: %s", exc)
            self._drop_xcheck()  # python-xlib may not recover from an error: start afresh
            return
        self.undocked_polls = 0 if docked else self.undocked_polls + 1
        if self.undocked_polls >= 2:
            log.info("tray: the icon is not in the tray; docking it again")
            self.undocked_polls = 0
            self._ui("hide the icon", lambda: setattr(self.icon, "visible", False))
            self._ui("show the icon", lambda: setattr(self.icon, "visible", True))

    def _drop_xcheck(self) -> None:
        if self._xcheck is not None:
            with contextlib.suppress(Exception):  # already broken
                self._xcheck.close()
            self._xcheck = None

    def _keep_registered(self) -> None:
        """Say so when the StatusNotifier host no longer lists the icon (and when it does
        again): libappindicator registers again by itself once a watcher is back."""
        now = time.monotonic()
        if now < self._next_host_check:
            return
        self._next_host_check = now + HOST_CHECK_SECONDS
        registered = hosts.item_registered(os.getpid())
        if registered is False or registered is None:
            self._host_lost("the StatusNotifier host no longer shows the icon")
        else:
            self._host_back("the StatusNotifier host shows the icon again")

    def _host_lost(self, what: str) -> None:
        if not self.host_gone:
            self.host_gone = True
            log.warning("hotwatch tray: %s; desktop notifications still come", what)

    def _host_back(self, what: str) -> None:
        if self.host_gone:
            self.host_gone = False
            log.info("hotwatch tray: %s", what)

    def _ui(self, what: str, change: Callable[[], None]) -> None:
        """Make one change to the icon; if pystray stalls, restart the tray.

        pystray's X11 backend runs changes in its own thread and, rarely, the
        python-xlib connection it shares between threads stalls for good. A
        stuck icon would show a stale state forever, so the tray restarts itself
        (the announcement cursor is persisted: nothing is announced twice).
        """
        done = threading.Event()

        def run() -> None:
            try:
                change()
            finally:
                done.set()

        threading.Thread(target=run, name="hotwatch-tray-ui", daemon=True).start()
        if not done.wait(UI_TIMEOUT):
            log.error("tray: the icon did not %s within %.0f s; restarting", what, UI_TIMEOUT)
            _restart()

    def dispatch(self, action: str) -> bool:
        """Carry out one menu action; False means quit."""
        log.debug("tray: action %s", action)
        if action == "quit":
            return False
        if action == "popup":
            self._popup()
        elif action in ("pause", "resume"):
            runfiles.set_paused(self.paths, action == "pause")
        elif action == "rescan":
            runfiles.request_rescan(self.paths)
        elif action.startswith("seen:") and self.cat is not None:
            n = self.cat.mark_seen(action[5:] or None)
            log.debug("tray: %d defects marked seen", n)
        elif action.startswith("report:"):
            body = next((b for b in self.snapshot.bodies if b.key == action[7:]), None)
            if body is not None:
                threading.Thread(target=open_report, args=(self.paths, body), daemon=True).start()
        return True

    def _popup(self) -> None:
        """Show the menu in a Tk popup (a child process); its choice comes back as an action."""
        if not self.own_popup or self.popup_open.is_set():
            return
        self.popup_open.set()
        data = json.dumps([i.to_json() for i in self.menu])
        threading.Thread(target=self._popup_worker, args=(data,), daemon=True).start()

    def _popup_worker(self, data: str) -> None:
        cmd = [sys.executable, "-m", "hotwatch", "--home", str(self.paths.data), "tray", "popup"]
        try:
            done = subprocess.run(
                cmd, input=data, capture_output=True, text=True, timeout=600, check=False
            )
            choice = done.stdout.strip()
            if done.returncode != 0:
                log.warning("tray: menu popup failed: %s", done.stderr.strip()[-300:])
            elif choice:
                self.actions.put(choice)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("tray: menu popup failed: %s", exc)
        finally:
            self.popup_open.clear()


def _restart() -> None:
    """Replace this process with a fresh tray (same interpreter and arguments)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def _exit_now() -> None:
    log.debug("tray: the icon did not stop in time; exiting")
    logging.shutdown()
    os._exit(0)


def _dock_once(icon: Any) -> None:
    """Make pystray's X11 icon ask the tray to embed it only when it is not embedded.

    pystray 0.19.5's xorg backend sends the XEmbed dock request again with every change
    of the image. trayer then embeds the window anew, in a new socket, and now and then
    sizes that socket from the window's first size: one pixel wide. Measured: after some
    tens of state changes the icon sat in the panel 1x22 pixels, for good, invisible. A
    dock request is needed only when no tray holds the window: at start, when the tray
    was replaced (pystray forgets the old one on its DestroyNotify) and when the tray
    re-docks it on purpose (``_keep_docked`` hides it first, which forgets the tray).
    Guarded, since it uses backend internals.
    """
    original = getattr(icon, "_dock_window", None)
    if original is None or not hasattr(icon, "_systray_manager"):
        log.warning("tray: pystray's X11 icon is not as expected: it docks on every change")
        return

    def dock_if_needed() -> None:
        if icon._systray_manager is None:
            original()

    icon._dock_window = dock_if_needed


def _enable_xorg_clicks(icon: Any) -> None:
    """Make pystray's X11 icon window receive mouse clicks.

    pystray 0.19.5's xorg backend handles ButtonPress but creates its window
    without ButtonPressMask, so X never delivers a click and the default
    action never runs (pystray issue #151). Adding the mask to the event mask
    pystray already selects fixes it; guarded, since it uses backend internals.
    """
    window = getattr(icon, "_window", None)
    display = getattr(icon, "_display", None)
    if window is None or display is None:
        return
    try:
        from Xlib import X

        mask = X.ExposureMask | X.StructureNotifyMask | X.ButtonPressMask
        window.change_attributes(event_mask=mask)
        display.flush()
    except Exception as exc:  # a changed pystray: clicks stay broken, the icon still works
        log.warning("tray: cannot enable clicks on the X11 icon: %s", exc)


def _single_instance(paths: Paths) -> Any:
    """Hold ``tray.lock`` for the life of the process: two trays would announce twice."""
    paths.runtime.mkdir(parents=True, exist_ok=True)
    fh = open(paths.runtime / TRAY_LOCK, "a+b")  # noqa: SIM115 - kept open while running
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise UserError(f"a hotwatch tray is already running for {paths.data}") from None
    return fh


class NotifyOnly:
    """The tray without an icon: it announces new defects, and looks for a tray host.

    Used when nothing would show the icon (said in one line at start). A tray started at
    login often runs before the panel that will show it: once a host that takes the icon
    appears, the process starts again as a tray with an icon.
    """

    def __init__(self, paths: Paths, interval: float = POLL_SECONDS) -> None:
        self.paths = paths
        self.interval = interval
        self.notifier = Notifier(None)
        self.cat: Catalogue | None = None
        self.announcer: Announcer | None = None

    def run(self) -> None:
        next_check = time.monotonic() + HOST_CHECK_SECONDS
        try:
            while True:
                if self.cat is None and self.paths.catalogue.exists():
                    self.cat = Catalogue(self.paths.catalogue)
                    self.announcer = Announcer(self.cat, self.notifier.send)
                    self.announcer.cursor()  # first start: begin at the newest event
                if self.announcer is not None:
                    self.announcer.poll()
                if time.monotonic() >= next_check:
                    next_check = time.monotonic() + HOST_CHECK_SECONDS
                    plan = hosts.choose(hosts.detect())
                    if plan.backend is not None:
                        log.info("hotwatch tray: a tray host appeared; starting the icon")
                        self._close()
                        _restart()
                time.sleep(self.interval)
        finally:
            self._close()

    def _close(self) -> None:
        if self.cat is not None:
            self.cat.close()
            self.cat = None


def plan_tray(environ: Mapping[str, str] | None = None) -> hosts.Plan:
    """What ``hotwatch tray`` will do here: a backend, or no icon and why (see
    :func:`hosts.choose`). A ``PYSTRAY_BACKEND`` the user set is kept, and said."""
    env = os.environ if environ is None else environ
    forced = env.get("PYSTRAY_BACKEND", "")
    plan = hosts.choose(hosts.detect(env))
    if forced and forced != plan.backend:
        where = plan.where or "wherever it may show"
        return hosts.Plan(forced, f"{where} (PYSTRAY_BACKEND={forced} set by the user)")
    return plan


def run_tray(paths: Paths, interval: float = POLL_SECONDS) -> int:
    """``hotwatch tray``: find what shows the icon, choose pystray's backend, run until Quit.

    Without a display at all, or on Wayland without any way to an icon, it fails with one
    line; when no tray host takes the icon it says so and sends notifications only.
    """
    problem = display_problem()
    if problem:
        raise CommandFailed(problem)
    plan = plan_tray()
    if plan.fatal:
        raise CommandFailed(plan.why)
    lock = _single_instance(paths)
    try:
        if plan.backend is None:
            log.warning("%s; desktop notifications still come", plan.line())
            NotifyOnly(paths, interval).run()
            return 0
        os.environ["PYSTRAY_BACKEND"] = plan.backend
        try:
            import pystray  # only here: its import needs the display
        except Exception as exc:  # a backend that looked usable, and is not
            raise CommandFailed(f"cannot start pystray's {plan.backend} backend: {exc}") from exc
        TrayApp(paths, pystray, interval, plan).run()
    finally:
        lock.close()
    return 0


# --------------------------------------------------------------------------- Tk popup


def popup(items: Sequence[Item], position: tuple[int, int] | None = None) -> str | None:
    """Show ``items`` as a Tk popup menu at the pointer; return the chosen action or None.

    Used by ``hotwatch tray popup`` for pystray backends without menus (X11/XEmbed).
    A distribution's Python may come without Tk (Debian's ``python3-tk``): said in one line,
    which the tray logs when a click finds no menu.
    """
    try:
        import tkinter as tk
    except ImportError as exc:
        raise CommandFailed(f"the tray's menu needs Tk for this Python: install {TK}") from exc

    root = tk.Tk()
    root.withdraw()
    root.title("hotwatch menu")
    chosen: list[str] = []

    def pick(action: str) -> None:
        chosen.append(action)
        root.after(0, root.quit)

    def fill(menu: tk.Menu, entries: Sequence[Item]) -> None:
        for item in entries:
            if item.text == "-":
                menu.add_separator()
            elif item.children:
                sub = tk.Menu(menu, tearoff=0)
                fill(sub, item.children)
                menu.add_cascade(label=item.text, menu=sub)
            else:
                state = "normal" if item.enabled and item.action else "disabled"
                action = item.action or ""
                menu.add_command(label=item.text, state=state, command=lambda a=action: pick(a))

    menu = tk.Menu(root, tearoff=0)
    fill(menu, items)
    menu.bind("<Unmap>", lambda event: root.after(300, root.quit))
    x, y = position or root.winfo_pointerxy()
    root.after(10, lambda: menu.tk_popup(x, y, 0))
    root.mainloop()
    root.destroy()
    return chosen[0] if chosen else None


def run_popup(stdin: Any = None) -> int:
    """``hotwatch tray popup``: menu JSON on stdin, the chosen action on stdout."""
    problem = display_problem()
    if problem:
        raise CommandFailed(problem)
    data = json.loads((stdin or sys.stdin).read())
    choice = popup([Item.from_json(d) for d in data])
    if choice:
        print(choice, flush=True)
    return 0
