"""Accumulators of an older format are rebuilt from their own photos, once, exactly.

The older state is made from today's: each accumulator file gets an older format
version in its header (the rebuild never reads an outdated file's arrays, only its
version), and each catalogue row the SHA-256 the older hotwatch recorded.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from hotwatch.core.accumulator import FORMAT_VERSION
from hotwatch.pipeline.rebuild import rebuild_outdated
from hotwatch.state import store
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.config import Paths
from tests.support.cli import defects_json, hotwatch
from tests.support.daemon import Daemon
from tests.support.rolls import make_roll
from tests.support.state import with_format_version
from tests.support.waiting import wait_until

OLD = 1  #: the format (of SHA-256 digests) that is rebuilt, not converted


def _age(home: Path) -> None:
    """Make ``home`` look as format 1 left it."""
    for path in (home / "accumulators").glob("*.hwacc"):
        path.write_bytes(with_format_version(path.read_bytes(), OLD))
    with sqlite3.connect(home / "catalogue.sqlite") as conn:
        for (path,) in conn.execute("SELECT path FROM files").fetchall():
            old = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            conn.execute("UPDATE files SET digest = ? WHERE path = ?", (old, path))


def _frames(home: Path) -> list[tuple[str, int]]:
    with Catalogue(home / "catalogue.sqlite", readonly=True) as cat:
        body = [(b.key, b.frames_raw, b.frames_jpeg) for b in cat.bodies()]
        accs = [(a.kind.value, a.frames) for a in cat.accumulators()]
    return body + accs


@pytest.fixture
def aged(tmp_path):
    """A roll scanned, then aged; one photo gone since; and the reference state: a scan
    by today's hotwatch of the photos still there."""
    roll = make_roll(tmp_path / "DCIM", n=40, seed=8)
    home = tmp_path / "home"
    hotwatch("scan", str(roll.folder), home=home)
    _age(home)
    gone = sorted(roll.folder.glob("*.DNG"))[7]
    gone.unlink()
    ref = tmp_path / "ref"
    hotwatch("scan", str(roll.folder), home=ref)
    return roll, home, ref


def test_older_accumulators_are_rebuilt_from_their_photos(aged):
    roll, home, ref = aged
    out = hotwatch("scan", str(roll.folder), home=home).stdout
    assert "rebuilt accumulator" in out and "1 photos were gone or changed" in out
    assert defects_json(home) == defects_json(ref)
    assert _frames(home) == _frames(ref), "each photo counted once"
    for path in (home / "accumulators").glob("*.hwacc"):
        assert store.format_version(path) == FORMAT_VERSION
    assert len(list((home / "accumulators").glob(f"*.format{OLD}-*"))) == 2
    again = hotwatch("scan", str(roll.folder), home=home).stdout
    assert "rebuilt" not in again and defects_json(home) == defects_json(ref)


def test_an_interrupted_rebuild_resumes_and_counts_nothing_twice(aged, monkeypatch):
    _, home, ref = aged
    from hotwatch.pipeline import rebuild

    real, calls = rebuild.prepare, []

    def dying(path, exiftool=None):
        calls.append(path)
        if len(calls) == 30:  # mid-way through the first accumulator's photos... or later
            raise KeyboardInterrupt
        return real(path, exiftool)

    paths = Paths(home, home)
    monkeypatch.setattr(rebuild, "prepare", dying)
    with Catalogue(paths.catalogue) as cat, pytest.raises(KeyboardInterrupt):
        rebuild_outdated(paths, cat)
    monkeypatch.setattr(rebuild, "prepare", real)
    with Catalogue(paths.catalogue) as cat:
        assert cat.state_keys(rebuild.NOTE), "the rebuild is still under way"
        done = rebuild_outdated(paths, cat)
        assert sum(r.read for r in done) < 79 and not cat.state_keys(rebuild.NOTE)
    assert defects_json(home) == defects_json(ref)
    assert _frames(home) == _frames(ref)


def test_nothing_to_rebuild_is_a_no_op(tmp_path):
    roll = make_roll(tmp_path / "DCIM", n=6, seed=2, counts={})
    home = tmp_path / "home"
    hotwatch("scan", str(roll.folder), home=home)
    before = {p.name: p.read_bytes() for p in (home / "accumulators").iterdir()}
    paths = Paths(home, home)
    with Catalogue(paths.catalogue) as cat:
        assert rebuild_outdated(paths, cat) == []
    assert {p.name: p.read_bytes() for p in (home / "accumulators").iterdir()} == before
    shutil.rmtree(home)


def test_the_daemon_rebuilds_at_start_and_stays_alive_meanwhile(aged):
    """The daemon rebuilds before it watches, telling systemd it is alive meanwhile."""
    roll, home, ref = aged
    status = Paths(home, home).daemon_status
    # a ping every 30 ms: the rebuild of 80 small photos takes several such periods
    daemon = Daemon(home, roll.folder, watchdog_usec=60_000)
    try:
        wait_until("the rebuild", lambda: "rebuilt accumulator" in daemon.text, timeout=120)
        wait_until("idle", lambda: '"state": "idle"' in status.read_text())
    finally:
        daemon.terminate(timeout=20)
    said = daemon.messages
    during = [i for i, m in enumerate(said) if m.startswith("STATUS=rebuilding")]
    assert len(during) > 5, daemon.text
    assert said[during[0] : during[-1]].count("WATCHDOG=1") >= 2, "no sign of life meanwhile"
    assert defects_json(home) == defects_json(ref)
    assert _frames(home) == _frames(ref)


def test_format_3_rebuilds_its_jpeg_accumulators_and_reads_its_raw_ones(tmp_path):
    """Format 4 counts the peak of a JPEG defect's smear, where format 3 counted every
    pixel of it: a format-3 JPEG accumulator is rebuilt from its photos (their digests
    are the same as today's), a RAW one reads as it is."""
    roll = make_roll(tmp_path / "DCIM", n=40, seed=8)
    home, ref = tmp_path / "home", tmp_path / "ref"
    hotwatch("scan", str(roll.folder), home=home)
    raw_before = {}
    for path in (home / "accumulators").glob("*.hwacc"):
        path.write_bytes(with_format_version(path.read_bytes(), 3))
        if "-raw-" in path.name:
            raw_before[path.name] = path.read_bytes()
    hotwatch("scan", str(roll.folder), home=ref)
    out = hotwatch("scan", str(roll.folder), home=home).stdout
    assert out.count("rebuilt accumulator") == 1 and "-jpeg-" in out
    assert {p.name: p.read_bytes() for p in (home / "accumulators").glob("*-raw-*.hwacc")} == (
        raw_before
    ), "the RAW accumulator is read as it is, not rebuilt"
    assert len(list((home / "accumulators").glob("*-jpeg-*.format3-*"))) == 1
    assert defects_json(home) == defects_json(ref)
    assert _frames(home) == _frames(ref), "each photo counted once"
