"""A full disk: one clear line, nothing saved is lost, nothing is counted twice.

The state folder lives on a small tmpfs mounted by the test (CI runs as root, as
the tests' other system tools need).
"""

from __future__ import annotations

import os
import subprocess

import pytest

from hotwatch.state.catalogue import Catalogue
from tests.support.cli import defects_json, hotwatch
from tests.support.rolls import make_roll


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4M", "tmpfs", str(mnt)], check=True)
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


def _fill(disk, leave: int) -> None:
    """Fill the disk but for ``leave`` bytes."""
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    with open(disk / "filler", "wb") as fh:
        fh.write(b"\0" * max(0, free - leave))


def test_full_disk_stops_cleanly_and_loses_nothing(small_disk, tmp_path):
    roll = make_roll(
        tmp_path / "roll", n=40, seed=9, counts={"stuck": 2, "dead": 1}, formats=("jpeg",)
    )
    files = sorted(roll.folder.glob("*.JPG"))
    home = small_disk / "home"
    hotwatch("scan", *map(str, files[:10]), home=home)
    with Catalogue(home / "catalogue.sqlite", readonly=True) as cat:
        assert sum(a.frames for a in cat.accumulators()) == 10

    _fill(small_disk, leave=8 * 1024)
    proc = hotwatch("scan", str(roll.folder), home=home, check=False)
    assert proc.returncode == 1
    lines = [ln for ln in proc.stderr.splitlines() if "full" in ln]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr

    (small_disk / "filler").unlink()
    hotwatch("scan", str(roll.folder), home=home)
    with Catalogue(home / "catalogue.sqlite", readonly=True) as cat:
        ingested = cat.files(status="ingested")
        assert len(ingested) == len(files)
        assert sum(a.frames for a in cat.accumulators()) == len(files)  # none twice
    reference = tmp_path / "ref"
    hotwatch("scan", str(roll.folder), home=reference)
    assert defects_json(home) == defects_json(reference)
