"""The real ``hotwatch`` command line, run as a subprocess from this checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def hotwatch(
    *args: str,
    home: Path | None = None,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess:
    """``python -m hotwatch [--home HOME] ARGS`` with this checkout's hotwatch; ``env`` adds
    to (or overrides) the environment; ``check`` fails the test on a non-zero exit."""
    cmd = [sys.executable, "-m", "hotwatch"]
    if home is not None:
        cmd += ["--home", str(Path(home).absolute())]
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    environ = {**os.environ, "PYTHONPATH": path, **(env or {})}
    proc = subprocess.run(
        cmd + list(args), capture_output=True, text=True, timeout=timeout, env=environ, cwd=cwd
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{cmd + list(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def defects_json(home: Path) -> dict:
    """``hotwatch defects --json`` of ``home``, decoded."""
    return json.loads(hotwatch("defects", "--json", home=home).stdout)


def without_exiftool() -> dict[str, str]:
    """The environment change that hides exiftool: PATH without the folders that hold it."""
    dirs = os.environ.get("PATH", "").split(os.pathsep)
    return {"PATH": os.pathsep.join(d for d in dirs if d and not (Path(d) / "exiftool").exists())}
