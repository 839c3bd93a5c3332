"""Where hotwatch keeps its state, and the user's settings (TOML).

One ``Paths`` value is built once by the CLI (from ``--home``, ``HOTWATCH_HOME``
or platformdirs) and passed down; nothing else reads ``HOTWATCH_HOME``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

APP = "hotwatch"


@dataclass(frozen=True)
class Paths:
    """Every file location hotwatch uses."""

    data: Path  # catalogue, accumulators, exports, daemon state
    config_dir: Path  # config.toml
    #: the folder given with ``--home`` or ``HOTWATCH_HOME``, None for the platform's
    #: folders: what a command started elsewhere (systemd, the login session) is told
    home: Path | None = None

    @property
    def catalogue(self) -> Path:
        return self.data / "catalogue.sqlite"

    @property
    def accumulators(self) -> Path:
        return self.data / "accumulators"

    @property
    def exports(self) -> Path:
        return self.data / "exports"

    @property
    def reports(self) -> Path:
        return self.data / "reports"

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def runtime(self) -> Path:
        """Lock file, pause flag and daemon status live here."""
        return self.data / "run"

    # The daemon, the tray and `hotwatch status` meet through these files.
    @property
    def daemon_lock(self) -> Path:
        """Held (flock) by the running daemon; it holds the daemon's pid."""
        return self.runtime / "daemon.lock"

    @property
    def daemon_status(self) -> Path:
        """The daemon's published state (JSON): folders, queue, last photo."""
        return self.runtime / "status.json"

    @property
    def pause_flag(self) -> Path:
        """Exists while watching is paused (the tray creates it, the daemon honours it)."""
        return self.runtime / "paused"

    @property
    def rescan_flag(self) -> Path:
        """Touched to ask the daemon for a rescan; the daemon removes it."""
        return self.runtime / "rescan"

    def ensure(self) -> Paths:
        for d in (self.data, self.accumulators, self.config_dir, self.runtime):
            d.mkdir(parents=True, exist_ok=True)
        return self


def resolve_paths(home: str | os.PathLike[str] | None = None) -> Paths:
    """``--home DIR`` wins, then ``HOTWATCH_HOME``, then platformdirs' user dirs.

    With a home directory, everything (config included) lives under it, so a
    test or a second profile never touches the user's real state.
    """
    chosen = home or os.environ.get("HOTWATCH_HOME")
    if chosen:
        base = Path(chosen).expanduser().resolve()
        return Paths(data=base, config_dir=base, home=base)
    return Paths(
        data=Path(platformdirs.user_data_dir(APP)),
        config_dir=Path(platformdirs.user_config_dir(APP)),
    )


@dataclass(frozen=True)
class Config:
    """The user's settings; defaults here, overlaid by ``config.toml``."""

    folders: tuple[str, ...] = ()
    poll: bool = False
    settle_seconds: float = 2.0
    rescan_minutes: float = 30.0
    extra: dict = field(default_factory=dict)


def load_config(paths: Paths) -> Config:
    """Read ``config.toml`` if present; unknown keys are kept in ``extra``."""
    path = paths.config_file
    if not path.exists():
        return Config()
    with path.open("rb") as fh:
        raw = tomllib.load(fh)
    watch = raw.get("watch", {})
    known = {"folders", "poll", "settle_seconds", "rescan_minutes"}
    return Config(
        folders=tuple(str(f) for f in watch.get("folders", ())),
        poll=bool(watch.get("poll", False)),
        settle_seconds=float(watch.get("settle_seconds", 2.0)),
        rescan_minutes=float(watch.get("rescan_minutes", 30.0)),
        extra={k: v for k, v in watch.items() if k not in known},
    )
