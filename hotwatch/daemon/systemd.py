"""systemd's notify protocol (sd_notify(3)) without libsystemd.

The unit is ``Type=notify`` with a watchdog (see :mod:`hotwatch.desktop.service`): the daemon
says READY once it watches, pings WATCHDOG only while its worker shows signs of life (so a
hung daemon is restarted), keeps a one-line STATUS, and says STOPPING on its way out.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class SystemdNotifier:
    """sd_notify(3) without libsystemd: datagrams to ``$NOTIFY_SOCKET``; silent without it."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        addr = env.get("NOTIFY_SOCKET", "")
        self.address = "\0" + addr[1:] if addr.startswith("@") else addr
        self._sock: socket.socket | None = None
        if self.address:
            try:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            except OSError as exc:
                log.warning("cannot talk to systemd (%s): %s", addr, exc)
        self.watchdog_interval: float | None = None
        usec, pid = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
        if usec and (not pid or pid == str(os.getpid())):
            try:
                self.watchdog_interval = int(usec) / 2e6  # ping at half the timeout
            except ValueError:
                log.warning("ignoring WATCHDOG_USEC=%r", usec)

    def notify(self, *fields: str) -> None:
        if self._sock is None:
            return
        try:
            # Never block: a reader that is not reading must not stall the worker.
            self._sock.sendto("\n".join(fields).encode(), socket.MSG_DONTWAIT, self.address)
        except OSError as exc:
            log.debug("sd_notify %s: %s", fields, exc)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
