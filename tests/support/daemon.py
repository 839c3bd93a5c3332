"""A real ``hotwatch watch`` for the tests: the daemon as systemd runs it, listening to what it
tells systemd, and waiting for conditions without fixed sleeps."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

#: seconds a file must stay still before the daemon reads it: short, for tests
SETTLE = "0.3"


class Daemon:
    """``python -m hotwatch --home H watch FOLDER...`` with a systemd notify socket."""

    def __init__(
        self,
        home: Path,
        *folders: Path,
        args: tuple[str, ...] = (),
        watchdog_usec: int = 400_000,
    ) -> None:
        self.home = home
        self.log = home.parent / f"daemon-{time.monotonic_ns()}.log"
        sock_path = home.parent / f"notify-{time.monotonic_ns()}.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(sock_path))
        self.messages: list[str] = []
        self._got = threading.Condition()
        self._closing = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        env = {**os.environ, "NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": str(watchdog_usec)}
        cmd = [sys.executable, "-m", "hotwatch", "--home", str(home), "watch"]
        cmd += [*map(str, folders), "--settle", SETTLE, *args]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, stderr=log, stdout=log, env=env)
        self.wait_message("READY=1", timeout=30)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        """Like systemd, read every notification as it comes (until closed and drained)."""
        self.sock.settimeout(0.1)
        while True:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                if self._closing.is_set():
                    return
                continue
            with self._got:
                self.messages += data.decode().split("\n")
                self._got.notify_all()

    def wait_message(self, line: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        with self._got:
            while line not in self.messages:
                if self.proc.poll() is not None:
                    raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.text}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"no {line} from the daemon:\n{self.text}")
                self._got.wait(0.1)

    @property
    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def terminate(self, timeout: float = 5.0) -> float:
        """SIGTERM; returns how long it took to exit (must be 0 and within ``timeout``)."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=timeout)
        took = time.monotonic() - t0
        self.close()
        assert rc == 0, self.text
        return took

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._closing.set()
        self._reader.join(timeout=5)
        self.sock.close()

    def assert_clean_log(self) -> None:
        for bad in ("Traceback", "failed:", "skipped:", "ERROR"):
            assert bad not in self.text, self.text
