"""A catalogue written the way the daemon writes it, for tray tests; also a script.

The SNI tests run the tray as another user (sway refuses root), whose tray must be able to
write the catalogue's SQLite and WAL files: so they run this file as that user, from a
copy beside a copy of ``hotwatch/`` (see :mod:`tests.support.sni_desktop`):

    python tray_catalogue.py HOME init          a body with 3 photos and 2 defects, all seen
    python tray_catalogue.py HOME add N START   N new defects (and their new_defect events)
    python tray_catalogue.py HOME lock          hold the daemon's lock until killed
"""

from __future__ import annotations

import fcntl
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from hotwatch.core.model import AccumulatorKey, BodyId, Defect, DefectKind, FrameKind
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.config import Paths

D80 = BodyId("NIKON", "D80", "3012345")
KEY = AccumulatorKey(D80, FrameKind.RAW, 640, 480)
MAY2 = datetime(2024, 5, 2, 21, 30, tzinfo=UTC)
MAY3 = datetime(2024, 5, 3, 8, 0, tzinfo=UTC)


def paths_at(home: Path) -> Paths:
    return Paths(data=home, config_dir=home).ensure()


def catalogue(home: Path) -> Catalogue:
    """A catalogue at ``home`` with one body that has counted 3 photos."""
    cat = Catalogue(paths_at(home).catalogue)
    for _ in range(3):
        cat.count_frame(KEY, MAY2)
    return cat


def add_defects(cat: Catalogue, n: int, start: int = 0, key: AccumulatorKey = KEY) -> None:
    """Write ``n`` new defects (and their ``new_defect`` events) the way the daemon does."""
    stored = [d.to_defect() for d in cat.defects(acc_slug=key.slug)]
    new = [
        Defect(100 + i, 200 + 2 * i, DefectKind.HOT, 12.0, MAY2) for i in range(start, start + n)
    ]
    cat.sync_defects(key, stored + new, MAY3)


def hold_lock(home: Path) -> None:
    """Hold the daemon's lock, as a running daemon does, until killed."""
    with open(paths_at(home).daemon_lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        print("locked", flush=True)
        time.sleep(3600)


def main(argv: list[str]) -> int:
    home, verb = Path(argv[0]), argv[1]
    if verb == "lock":
        hold_lock(home)
        return 0
    cat = catalogue(home) if verb == "init" else Catalogue(paths_at(home).catalogue)
    try:
        if verb == "init":
            add_defects(cat, 2)
            cat.mark_seen()
        elif verb == "add":
            add_defects(cat, int(argv[2]), int(argv[3]))
        else:
            raise SystemExit(f"unknown verb {verb!r}")
    finally:
        cat.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
