"""What can show the tray's icon here, found before pystray is started.

Why: pystray picks its backend by trying ``appindicator``, ``gtk`` and ``xorg`` in turn and
takes the first that imports, whether or not anything will show its icon. Measured on
today's desktops, that left the tray invisible and silent in three ways: a Wayland-only
session without PyGObject (pystray's X11 backend fails: ``Bad display name ""``), a
Wayland session with Xwayland (the X11 backend finds no XEmbed tray and logs ``Failed to
dock icon``), and PyGObject without the AyatanaAppIndicator typelib (the gtk backend's
XEmbed icon, which no StatusNotifier panel shows). So the tray looks first:

* a **StatusNotifierItem host**: a panel that owns ``org.kde.StatusNotifierWatcher`` on
  the session bus and says ``IsStatusNotifierHostRegistered`` (KDE Plasma, waybar, GNOME
  with the AppIndicator extension); pystray reaches it through ``appindicator``, which
  needs PyGObject (``gi``) with the Gtk 3 and (Ayatana)AppIndicator3 typelibs;
* an **XEmbed tray**: an X client owning ``_NET_SYSTEM_TRAY_S<screen>`` (trayer, lxpanel,
  i3bar, stalonetray; KDE's xembedsniproxy on X11), which ``xorg`` docks into (never
  ``gtk``, even when PyGObject is there: hotwatch repairs the xorg icon's docking and
  gives it a menu of its own, and that is the XEmbed path its tests drive; GtkStatusIcon
  is deprecated and untested here);

and :func:`choose` says which backend to use, where the icon will go, or why none can show
it. Only hotwatch's own dependencies are needed to look (jeepney for D-Bus, python-xlib for
X11); ``gi`` is tried, never required. Looking takes 0.02-0.15 s.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

WATCHER = "org.kde.StatusNotifierWatcher"
WATCHER_PATH = "/StatusNotifierWatcher"
#: the AppIndicator typelibs pystray's appindicator backend can use, in its order
INDICATORS = ("AppIndicator3", "AyatanaAppIndicator3")

#: what to install so that a venv's Python can show a StatusNotifierItem, per distribution
PACKAGES = (
    "python3-gi gir1.2-gtk-3.0 gir1.2-ayatanaappindicator3-0.1 and use a venv made with "
    "/usr/bin/python3 -m venv --system-site-packages (Debian/Ubuntu), "
    "python3-gobject gtk3 libayatana-appindicator-gtk3 (Fedora), "
    "python-gobject gtk3 libayatana-appindicator (Arch)"
)
TYPELIB_PACKAGES = (
    "gir1.2-ayatanaappindicator3-0.1 (Debian/Ubuntu), libayatana-appindicator-gtk3 (Fedora), "
    "libayatana-appindicator (Arch)"
)
GNOME_HINT = (
    'GNOME shows tray icons only with the "AppIndicator and KStatusNotifierItem Support" extension'
)


@dataclass(frozen=True)
class Hosts:
    """What the session offers, as found by :func:`detect`."""

    wayland: bool = False  #: WAYLAND_DISPLAY is set
    display: str | None = None  #: DISPLAY, if an X server answered there
    x_error: str | None = None  #: why DISPLAY did not answer (None: it did, or is unset)
    sni_host: str | None = None  #: who shows StatusNotifierItems (None: nobody)
    xembed_tray: str | None = None  #: who owns the XEmbed tray selection (None: nobody)
    gi: bool = False  #: PyGObject imports
    gtk: bool = False  #: ... and its Gtk 3 typelib loads
    indicator: str | None = None  #: the AppIndicator typelib that loads, if any
    bus_error: str | None = None  #: why the session bus could not be asked


@dataclass(frozen=True)
class Plan:
    """What the tray will do: a pystray backend and where its icon goes, or no icon and why.

    ``fatal``: nothing useful can run (Wayland without any way to an icon): exit with
    ``why``. Without a backend and not fatal, the tray sends notifications only and keeps
    looking for a host.
    """

    backend: str | None
    where: str
    why: str = ""
    fatal: bool = False

    def line(self) -> str:
        """The one line the tray says at start."""
        if self.backend is None:
            return f"hotwatch tray: no icon: {self.why}"
        protocol = "StatusNotifierItem" if self.backend == "appindicator" else "XEmbed"
        return f"hotwatch tray: pystray backend {self.backend} ({protocol}); icon on {self.where}"


# --------------------------------------------------------------------------- looking


def detect(environ: Mapping[str, str] | None = None) -> Hosts:
    """Look at the session bus, the X display and PyGObject."""
    env = os.environ if environ is None else environ
    display, x_error, xembed = _x11(env.get("DISPLAY") or None)
    sni, bus_error = _sni_host()
    gi, gtk, indicator = _pygobject()
    return Hosts(
        wayland=bool(env.get("WAYLAND_DISPLAY")),
        display=display,
        x_error=x_error,
        sni_host=sni,
        xembed_tray=xembed,
        gi=gi,
        gtk=gtk,
        indicator=indicator,
        bus_error=bus_error,
    )


def _sni_host() -> tuple[str | None, str | None]:
    """Who shows StatusNotifierItems on the session bus (or None), and why it could not
    be asked."""
    try:
        from jeepney import DBusAddress, Properties, new_method_call
        from jeepney.io.blocking import open_dbus_connection
        from jeepney.wrappers import unwrap_msg
    except ImportError:
        return None, "jeepney is not installed"
    bus = DBusAddress("/org/freedesktop/DBus", "org.freedesktop.DBus", "org.freedesktop.DBus")
    try:
        with open_dbus_connection(bus="SESSION") as conn:

            def call(msg: object) -> tuple:
                return unwrap_msg(conn.send_and_get_reply(msg, timeout=2.0))

            if not call(new_method_call(bus, "NameHasOwner", "s", (WATCHER,)))[0]:
                return None, None
            watcher = DBusAddress(WATCHER_PATH, WATCHER, WATCHER)
            _, registered = call(Properties(watcher).get("IsStatusNotifierHostRegistered"))[0]
            if not registered:
                return None, None
            pid = call(new_method_call(bus, "GetConnectionUnixProcessID", "s", (WATCHER,)))[0]
            return _program(int(pid)), None
    except KeyError:  # jeepney: DBUS_SESSION_BUS_ADDRESS is not set
        return None, "no session bus (DBUS_SESSION_BUS_ADDRESS is not set)"
    except Exception as exc:  # a bus that is gone, a watcher that errs
        return None, f"{type(exc).__name__}: {exc}"


def item_registered(pid: int) -> bool | None:
    """Is an item of process ``pid`` among the watcher's RegisteredStatusNotifierItems?

    None when that cannot be told (no bus, no watcher). An item is listed as
    ``BUS_NAME/OBJECT_PATH`` (or a bare bus name); its bus name's process says whose it is.
    """
    try:
        from jeepney import DBusAddress, Properties, new_method_call
        from jeepney.io.blocking import open_dbus_connection
        from jeepney.wrappers import unwrap_msg

        bus = DBusAddress("/org/freedesktop/DBus", "org.freedesktop.DBus", "org.freedesktop.DBus")
        watcher = DBusAddress(WATCHER_PATH, WATCHER, WATCHER)
        with open_dbus_connection(bus="SESSION") as conn:

            def call(msg: object) -> tuple:
                return unwrap_msg(conn.send_and_get_reply(msg, timeout=2.0))

            _, items = call(Properties(watcher).get("RegisteredStatusNotifierItems"))[0]
            for item in items:
                name = item.split("/", 1)[0]
                owner = call(new_method_call(bus, "GetConnectionUnixProcessID", "s", (name,)))
                if int(owner[0]) == pid:
                    return True
            return False
    except Exception:  # no bus, no watcher, an item gone while asked
        return None


def _program(pid: int) -> str:
    """The name of the program with this pid, for messages ("waybar")."""
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8") as fh:
            return fh.read().strip() or f"pid {pid}"
    except OSError:
        return f"pid {pid}"


def _x11(display: str | None) -> tuple[str | None, str | None, str | None]:
    """(DISPLAY if it answered, why not, who owns the XEmbed tray selection)."""
    if not display:
        return None, None, None
    try:
        from Xlib import X
        from Xlib.display import Display

        conn = Display(display)
    except Exception as exc:  # python-xlib missing, no server there, no permission
        return None, f"{type(exc).__name__}: {exc}", None
    try:
        atom = conn.intern_atom(f"_NET_SYSTEM_TRAY_S{conn.get_default_screen()}")
        owner = conn.get_selection_owner(atom)
        if owner == X.NONE:
            return display, None, None
        return display, None, _window_name(owner)
    except Exception as exc:  # the server went away while asked
        return None, f"{type(exc).__name__}: {exc}", None
    finally:
        conn.close()


def _window_name(window: object) -> str:
    """A tray's name from its selection window: its class, its name, else its id."""
    try:
        wm_class = window.get_wm_class()  # type: ignore[attr-defined]
        if wm_class:
            return wm_class[-1]
        name = window.get_wm_name()  # type: ignore[attr-defined]
        if name:
            return str(name)
    except Exception:  # a window without those properties, or gone
        pass
    return f"window {window.id:#x}"  # type: ignore[attr-defined]


def _pygobject() -> tuple[bool, bool, str | None]:
    """Does PyGObject import, does its Gtk 3 load, which AppIndicator typelib loads?

    The typelib is loaded, not only looked up: a typelib that is listed but broken fails
    pystray the same way as a missing one.
    """
    try:
        import gi
    except ImportError:
        return False, False, None
    try:
        gi.require_version("Gtk", "3.0")
        importlib.import_module("gi.repository.Gtk")
    except Exception:  # ValueError: no such typelib; ImportError, RuntimeError: broken
        return True, False, None
    for name in INDICATORS:
        try:
            gi.require_version(name, "0.1")
            importlib.import_module(f"gi.repository.{name}")
        except Exception:
            continue
        return True, True, name
    return True, True, None


# --------------------------------------------------------------------------- choosing


def choose(h: Hosts) -> Plan:
    """The backend for these hosts, or no icon and why (see :class:`Plan`)."""
    if h.sni_host and h.indicator:
        return Plan("appindicator", f"{h.sni_host}'s tray ({WATCHER} on the session bus)")
    if h.display and h.xembed_tray:
        return Plan("xorg", f"{h.xembed_tray}'s system tray (XEmbed, DISPLAY={h.display})")
    missing = _missing(h)
    if h.wayland and not h.display and missing:
        # Wayland shows tray icons only as StatusNotifierItems, and this Python cannot
        # make one: no icon now, nor once a panel starts. Say what to install, and stop.
        why = f"this Wayland session shows tray icons only as StatusNotifierItems, {missing}"
        if not h.sni_host:
            why += f"; and {GNOME_HINT}"
        return Plan(None, "", why, fatal=True)
    if h.sni_host:  # a StatusNotifier panel, but no way to it from this Python
        xembed = f" and no XEmbed system tray on DISPLAY={h.display}" if h.display else ""
        why = f"{h.sni_host} shows StatusNotifierItems, {missing}{xembed}"
        return Plan(None, "", why)
    return Plan(None, "", _no_host(h))


def _missing(h: Hosts) -> str:
    """What this Python lacks to show a StatusNotifierItem ("" if nothing)."""
    if not h.gi:
        return f"which need PyGObject (gi), not found by {sys.executable}: install {PACKAGES}"
    if not h.gtk:
        return f"which need the Gtk 3 typelib for PyGObject: install {PACKAGES}"
    if not h.indicator:
        return f"which need the AyatanaAppIndicator3 typelib: install {TYPELIB_PACKAGES}"
    return ""


def _no_host(h: Hosts) -> str:
    """Why no tray host will take the icon."""
    if h.bus_error:
        places = [f"no StatusNotifier host can be asked for: {h.bus_error}"]
    else:
        places = [f"nothing shows StatusNotifierItems ({WATCHER} on the session bus)"]
    if h.display:
        places.append(f"no XEmbed system tray on DISPLAY={h.display}")
    elif h.x_error:
        places.append(f"DISPLAY does not answer ({h.x_error})")
    hint = "" if h.bus_error else f" ({GNOME_HINT})"
    return "no tray host will take the icon: " + " and ".join(places) + hint
