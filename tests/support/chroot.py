"""darktable 5.x for the tests: a Debian trixie chroot, and how programs run in it.

darktable 5.x needs a newer libc than Debian 12 has, so ``.ci/darktable5.sh`` builds a
trixie chroot (cached, by default in /var/cache/hotwatch-ci/trixie) holding darktable from
trixie-backports and, under /opt/darktable-5.0, the one in trixie main.
``run-in-chroot.sh`` (beside this file) runs a command in it with /proc, /sys, /dev and the
test's folders mounted in a private namespace, so nothing it mounts or starts outlives it.

hotwatch is not installed in the chroot: the ``hotwatch`` darktable's Lua script finds on
its PATH is a wrapper that runs *this* checkout with *this* Python on the host, through the
host's root bound at /host inside the namespace (``chroot /host``). The folders a test
binds appear at the same path in both views, so paths need no translating.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .cli import REPO

CHROOT_ENV = "HOTWATCH_CHROOT"
DEFAULT_CHROOT = Path("/var/cache/hotwatch-ci/trixie")
SETUP_SCRIPT = REPO / ".ci" / "darktable5.sh"
RUNNER = Path(__file__).with_name("run-in-chroot.sh")
HOST_ROOT = "/host"  # where the host's / is bound inside the namespace


@dataclass(frozen=True)
class Darktable5:
    """One darktable in the chroot: its bin folder there, and what its Lua API offers."""

    name: str  # a test id
    bindir: str
    apply_sidecar: bool  # Lua API >= 9.5.0: image:apply_sidecar(path)

    @property
    def cli(self) -> str:
        return f"{self.bindir}/darktable-cli"

    @property
    def gui(self) -> str:
        return f"{self.bindir}/darktable"


#: trixie-backports (5.4.1, Lua API 9.6.0) and trixie main (5.0.1, Lua API 9.4.0)
BACKPORTS = Darktable5("backports", "/usr/bin", apply_sidecar=True)
TRIXIE = Darktable5("trixie", "/opt/darktable-5.0/usr/bin", apply_sidecar=False)
DARKTABLES = (BACKPORTS, TRIXIE)


def chroot_dir() -> Path:
    """The chroot the setup script built; fails the test (never skips) when it is missing."""
    import pytest

    path = Path(os.environ.get(CHROOT_ENV) or DEFAULT_CHROOT)
    stamp = path / ".hotwatch-recipe"
    if not stamp.is_file():
        pytest.fail(
            f"no darktable 5 chroot at {path}: build it with `sudo {SETUP_SCRIPT}` "
            f"(about a minute, 1 GB; set {CHROOT_ENV} to use another folder)",
            pytrace=False,
        )
    if os.geteuid() != 0:
        pytest.fail("the darktable 5 tests mount and chroot: run them as root", pytrace=False)
    return path


def run_in_chroot(
    cmd: Sequence[str],
    binds: Sequence[Path],
    *,
    host: bool = False,
    timeout: float = 300,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``cmd`` in the chroot, starting in ``binds[0]``; ``env`` is set inside.

    ``host`` binds the host's root at /host, for :func:`hotwatch_wrapper`.
    """
    inner = ["env", *(f"{k}={v}" for k, v in (env or {}).items()), *cmd] if env else list(cmd)
    outer_env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "CHROOT_BIND": ":".join(str(Path(b).absolute()) for b in binds),
        "CHROOT_HOST": HOST_ROOT if host else "",
    }
    cmd = [str(RUNNER), str(chroot_dir()), *inner]
    # its own process group: on a timeout the runner *and* its unshare get SIGKILL (the
    # runner alone would leave unshare, and everything in the namespace, running); unshare
    # dying takes the namespace's processes with it (--kill-child)
    with subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=outer_env,
        start_new_session=True,
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def hotwatch_wrapper(bindir: Path, home: Path) -> Path:
    """A ``hotwatch`` for darktable in the chroot: this checkout, run on the host.

    It needs the namespace's /host bind (``run_in_chroot(..., host=True)``).
    """
    bindir.mkdir(parents=True, exist_ok=True)
    cmd = [
        "/usr/sbin/chroot",  # absolute: darktable's PATH may not hold /usr/sbin
        HOST_ROOT,
        "/usr/bin/env",
        f"PYTHONPATH={REPO}",
        sys.executable,
        "-m",
        "hotwatch",
        "--home",
        str(Path(home).absolute()),
    ]
    wrapper = bindir / "hotwatch"
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.join(cmd)} "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    return wrapper
