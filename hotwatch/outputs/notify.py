"""Desktop notifications: freedesktop ``Notify`` over the session D-Bus.

Why not just pystray's ``icon.notify``: the backend a pip-installed pystray gets
on Linux without PyGObject is ``xorg``, which has no notifications at all
(``Icon.HAS_NOTIFICATION`` is False), and where pystray does notify (its gtk and
appindicator backends) every call *replaces* the previous notification (it
reuses one notification id), so two defects announced together would show as
one. hotwatch therefore speaks the freedesktop protocol itself through
``jeepney``, a small pure-Python D-Bus library (no C extension, no GLib, works
in any venv; it is what ``keyring``/``SecretStorage`` use). Fallbacks, in order,
if jeepney is missing or fails: pystray's ``icon.notify`` where its backend has
it, then the ``notify-send`` program (Debian package ``libnotify-bin``).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

from hotwatch.core.errors import HotwatchError

log = logging.getLogger(__name__)

APP_NAME = "hotwatch"
BUS_NAME = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"
INTERFACE = "org.freedesktop.Notifications"

LOW, NORMAL, CRITICAL = 0, 1, 2  # freedesktop urgency levels


class NotificationError(HotwatchError):
    """No way to reach a notification server (no session bus, no server, no tool)."""


@dataclass(frozen=True)
class Notification:
    """One desktop notification: a one-line summary and an optional body."""

    summary: str
    body: str = ""
    urgency: int = NORMAL
    timeout_ms: int = -1  # -1: the server's default
    icon: str = ""  # an icon name or a file path; "" for none


def dbus_notify(note: Notification, *, app_name: str = APP_NAME, timeout: float = 5.0) -> int:
    """Send ``note`` with a ``Notify`` method call through jeepney; returns the server's id.

    Raises :class:`NotificationError` if there is no session bus or no server
    answers, and ImportError if jeepney is not installed.
    """
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection
    from jeepney.wrappers import DBusErrorResponse, unwrap_msg

    address = DBusAddress(OBJECT_PATH, bus_name=BUS_NAME, interface=INTERFACE)
    hints: dict[str, tuple[str, Any]] = {"urgency": ("y", int(note.urgency))}
    message = new_method_call(
        address,
        "Notify",
        "susssasa{sv}i",
        (app_name, 0, note.icon, note.summary, note.body, [], hints, int(note.timeout_ms)),
    )
    try:
        with open_dbus_connection(bus="SESSION") as conn:
            reply = conn.send_and_get_reply(message, timeout=timeout)
            return int(unwrap_msg(reply)[0])
    except (OSError, KeyError, TimeoutError, DBusErrorResponse) as exc:
        # KeyError: DBUS_SESSION_BUS_ADDRESS unset; OSError: bus gone; DBusError: no server.
        raise NotificationError(f"D-Bus Notify failed: {exc!r}") from exc


def notify_send(note: Notification, *, app_name: str = APP_NAME, timeout: float = 10.0) -> None:
    """Send ``note`` with the ``notify-send`` program (libnotify-bin)."""
    exe = shutil.which("notify-send")
    if exe is None:
        raise NotificationError("notify-send not found (Debian package libnotify-bin)")
    urgency = {LOW: "low", NORMAL: "normal", CRITICAL: "critical"}.get(note.urgency, "normal")
    cmd = [exe, "-a", app_name, "-u", urgency]
    if note.timeout_ms >= 0:
        cmd += ["-t", str(note.timeout_ms)]
    if note.icon:
        cmd += ["-i", note.icon]
    cmd += ["--", note.summary]
    if note.body:
        cmd.append(note.body)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NotificationError(f"notify-send failed: {exc}") from exc
    if done.returncode != 0:
        raise NotificationError(f"notify-send failed: {done.stderr.strip() or done.returncode}")


class Notifier:
    """Sends notifications by the first way that works; remembers which one it used.

    ``icon`` is the running pystray icon, if any: its ``notify`` is used only
    when its backend has notifications and jeepney could not deliver.
    """

    def __init__(self, icon: Any = None) -> None:
        self.icon = icon
        self.last_method: str | None = None

    def send(self, note: Notification) -> str:
        """Deliver ``note``; return the method used ("dbus", "pystray", "notify-send").

        Raises :class:`NotificationError` when every way failed.
        """
        errors: list[str] = []
        try:
            dbus_notify(note)
            return self._used("dbus")
        except ImportError:
            errors.append("jeepney is not installed")
        except NotificationError as exc:
            errors.append(str(exc))
        if self.icon is not None and getattr(self.icon, "HAS_NOTIFICATION", False):
            try:
                text = note.body or note.summary
                self.icon.notify(text, note.summary if note.body else None)
                return self._used("pystray")
            except Exception as exc:  # a backend's own failure; fall through to notify-send
                errors.append(f"pystray notify failed: {exc!r}")
        try:
            notify_send(note)
            return self._used("notify-send")
        except NotificationError as exc:
            errors.append(str(exc))
        raise NotificationError("; ".join(errors))

    def _used(self, method: str) -> str:
        if method != self.last_method:
            log.debug("notifications go through %s", method)
        self.last_method = method
        return method
