"""``hotwatch watch``: the real daemon, in a subprocess, on real folders with real observers.

Every scenario ends the same way: every photo is in the catalogue exactly once, the
accumulators counted each photo once, and ``hotwatch defects --json`` equals what
``hotwatch scan`` of the same files gives in a fresh home. Waits are on catalogue or status
state with timeouts; the only sleeps are the slow writers being simulated.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from hotwatch.cli import main
from hotwatch.core.errors import UserError
from hotwatch.daemon.settler import Settler
from hotwatch.state import folders as folders_mod
from hotwatch.state import store
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.config import Config, resolve_paths
from tests.support.cli import defects_json, hotwatch
from tests.support.daemon import Daemon
from tests.support.rolls import make_roll
from tests.support.waiting import wait_until

BURST = 500


# --------------------------------------------------------------------------- helpers


def ingested(home: Path) -> list:
    path = home / "catalogue.sqlite"
    if not path.exists():
        return []
    try:
        with Catalogue(path, readonly=True) as cat:
            return cat.files(status="ingested")
    except UserError:  # the daemon has not created the schema yet
        return []


def all_files(home: Path) -> list:
    with Catalogue(home / "catalogue.sqlite", readonly=True) as cat:
        return cat.files()


def check_counted_once(home: Path, expected: int) -> None:
    """Rows = files, catalogue frame counts = accumulator files' counts = ingested rows."""
    with Catalogue(home / "catalogue.sqlite", readonly=True) as cat:
        rows = cat.files(status="ingested")
        accs = cat.accumulators()
        assert len(rows) == expected
        assert len({r.path for r in rows}) == expected
        assert len({r.digest for r in rows}) == expected
        assert sum(a.frames for a in accs) == expected
        on_disk = sum(store.load(store.path_for(home / "accumulators", a.key)).frames for a in accs)
        assert on_disk == expected


def scanned_reference(files: list[Path], tmp: Path) -> Path:
    """A fresh home after ``hotwatch scan`` of copies of ``files``."""
    src = tmp / "reference-files"
    src.mkdir(parents=True)
    for f in files:
        shutil.copy2(f, src / f.name)
    home = tmp / "reference-home"
    hotwatch("scan", str(src), home=home)
    return home


def assert_same_as_scan(home: Path, reference: Path) -> None:
    """The daemon's results equal those of ``hotwatch scan`` of the same files.

    The accumulators (all the evidence, and which frame confirmed each defect) must
    be byte-identical, and so must the catalogue's defect list, whatever was killed
    when.
    """
    ours = sorted(p.name for p in (home / "accumulators").glob("*.hwacc"))
    theirs = sorted(p.name for p in (reference / "accumulators").glob("*.hwacc"))
    assert ours == theirs and ours
    for name in ours:
        a = (home / "accumulators" / name).read_bytes()
        assert a == (reference / "accumulators" / name).read_bytes(), name
    assert defects_json(home) == defects_json(reference)


@pytest.fixture
def daemons():
    started: list[Daemon] = []

    def start(home: Path, *folders: Path, args: tuple[str, ...] = ()) -> Daemon:
        d = Daemon(home, *folders, args=args)
        started.append(d)
        return d

    yield start
    for d in started:
        if d.proc.poll() is None:
            d.close()


@pytest.fixture(scope="module")
def burst(tmp_path_factory) -> list[Path]:
    """500 small camera JPEGs of one body, with planted defects, in capture order."""
    roll = make_roll(
        tmp_path_factory.mktemp("burst") / "card",
        n=BURST,
        seed=11,
        formats=("jpeg",),
        counts={"hot": 3, "stuck": 1, "dead": 1},
    )
    return sorted(roll.folder.iterdir())


@pytest.fixture(scope="module")
def burst_reference(burst, tmp_path_factory) -> Path:
    return scanned_reference(burst, tmp_path_factory.mktemp("burst-ref"))


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> list[Path]:
    """12 shots of another body as RAW+JPEG pairs (DNG + JPG sharing a stem)."""
    roll = make_roll(
        tmp_path_factory.mktemp("pairs") / "card",
        n=12,
        seed=3,
        serial="777",
        counts={"stuck": 1, "dead": 1},
    )
    return sorted(roll.folder.iterdir())


def copy_all(files: list[Path], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy2(f, folder / f.name)


# --------------------------------------------------------------------------- scenarios


def test_burst_of_500_is_absorbed_once_and_matches_scan(daemons, burst, burst_reference, tmp_path):
    home, inbox = tmp_path / "home", tmp_path / "import"
    inbox.mkdir()
    d = daemons(home, inbox)
    copy_all(burst, inbox)  # a card import: everything at once
    wait_until("500 photos", lambda: len(ingested(home)) == BURST, timeout=90)
    wait_until("an idle daemon", lambda: hotwatch_status(home)["queue"] == 0)

    second = hotwatch("watch", str(inbox), home=home, check=False)
    assert second.returncode == 1
    assert f"hotwatch watch is already running (pid {d.pid})" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1

    status = hotwatch_status(home)
    assert status["running"] and status["pid"] == d.pid and status["folders"] == [str(inbox)]
    assert status["last_photo"] == str(inbox / burst[-1].name)

    assert d.terminate() < 5.0
    assert "STOPPING=1" in d.messages and "WATCHDOG=1" in d.messages
    assert any(m.startswith("STATUS=") for m in d.messages)
    d.assert_clean_log()
    check_counted_once(home, BURST)
    assert_same_as_scan(home, burst_reference)
    assert not hotwatch_status(home)["running"]


def test_sigkill_mid_burst_then_restart_counts_every_photo_once(
    daemons, burst, burst_reference, tmp_path
):
    home, inbox = tmp_path / "home", tmp_path / "import"
    inbox.mkdir()
    d = daemons(home, inbox)
    copy_all(burst[:300], inbox)
    wait_until("some photos committed", lambda: len(ingested(home)) >= 25)
    d.kill()  # at whatever instant the worker is at
    copy_all(burst[300:], inbox)  # arrives while the daemon is down: the catch-up finds it

    d = daemons(home, inbox)
    wait_until("more photos committed", lambda: len(ingested(home)) >= 200, timeout=90)
    d.kill()

    d = daemons(home, inbox)
    wait_until("350 photos", lambda: len(ingested(home)) >= 350, timeout=90)
    assert d.terminate() < 5.0  # SIGTERM while busy: finish the frame, persist, exit 0
    with Catalogue(home / "catalogue.sqlite", readonly=True) as cat:
        committed = len(cat.files(status="ingested"))
        assert sum(a.frames for a in cat.accumulators()) == committed

    d = daemons(home, inbox)
    wait_until("500 photos", lambda: len(ingested(home)) == BURST, timeout=90)
    wait_until("an idle daemon", lambda: hotwatch_status(home)["queue"] == 0)
    d.terminate()
    d.assert_clean_log()
    check_counted_once(home, BURST)
    assert_same_as_scan(home, burst_reference)


def test_slowly_written_files_are_read_once_complete(daemons, pairs, tmp_path):
    home, inbox = tmp_path / "home", tmp_path / "import"
    inbox.mkdir()
    d = daemons(home, inbox)
    jpegs = [p for p in pairs if p.suffix == ".JPG"][:3]
    # 1: chunks with pauses shorter than the settle time; 2: a stall longer than the
    # settle time in the middle of a JPEG (its end marker is missing until the end).
    for src, pauses in ((jpegs[0], [0.1] * 8), (jpegs[1], [0.1, 0.1, 1.2, 0.1])):
        data = src.read_bytes()
        n = len(pauses) + 1
        step = len(data) // n + 1
        with open(inbox / src.name, "wb") as fh:
            for i in range(n):
                fh.write(data[i * step : (i + 1) * step])
                fh.flush()
                if i < len(pauses):
                    time.sleep(pauses[i])  # the slow copy being simulated
        os.utime(inbox / src.name, ns=(src.stat().st_atime_ns, src.stat().st_mtime_ns))
    shutil.copy2(jpegs[2], inbox / jpegs[2].name)
    wait_until("3 photos", lambda: len(ingested(home)) == 3)
    wait_until("an idle daemon", lambda: hotwatch_status(home)["queue"] == 0)
    d.terminate()
    d.assert_clean_log()
    assert len(all_files(home)) == 3
    check_counted_once(home, 3)
    assert_same_as_scan(home, scanned_reference(jpegs, tmp_path))


def test_write_then_rename_is_read_once_under_its_final_name(daemons, pairs, tmp_path):
    home, inbox = tmp_path / "home", tmp_path / "import"
    inbox.mkdir()
    d = daemons(home, inbox)
    jpegs = [p for p in pairs if p.suffix == ".JPG"][:3]
    temps = [
        inbox / (jpegs[0].name + ".tmp"),  # editor style
        inbox / f".{jpegs[1].name}.Xy12Ab",  # rsync style
        inbox / (jpegs[2].stem + ".part"),  # browser style
    ]
    for src, tmp in zip(jpegs, temps, strict=True):
        shutil.copy2(src, tmp)
        os.rename(tmp, inbox / src.name)
    wait_until("3 photos", lambda: len(ingested(home)) == 3)
    wait_until("an idle daemon", lambda: hotwatch_status(home)["queue"] == 0)
    d.terminate()
    d.assert_clean_log()
    assert sorted(Path(f.path).name for f in all_files(home)) == [j.name for j in jpegs]
    check_counted_once(home, 3)
    assert_same_as_scan(home, scanned_reference(jpegs, tmp_path))


def test_folder_moved_in_with_raw_jpeg_pairs_and_sidecars(daemons, pairs, tmp_path):
    home, inbox = tmp_path / "home", tmp_path / "import"
    inbox.mkdir()
    d = daemons(home, inbox)
    outside = tmp_path / "elsewhere" / "2024-03-02"
    copy_all(pairs[:8], outside / "sub")
    copy_all(pairs[8:], outside)
    for p in pairs[:3]:
        (outside / (p.name + ".xmp")).write_text("<x:xmpmeta/>")
    (outside / "notes.txt").write_text("hello")
    (outside / "clip.mov").write_bytes(b"\0" * 100)
    os.rename(outside, inbox / outside.name)  # one rename: inotify sees a folder arrive
    wait_until("all pairs", lambda: len(ingested(home)) == len(pairs))
    wait_until("an idle daemon", lambda: hotwatch_status(home)["queue"] == 0)
    d.terminate()
    d.assert_clean_log()
    assert len(all_files(home)) == len(pairs)  # sidecars and the rest not even recorded
    check_counted_once(home, len(pairs))
    with Catalogue(home / "catalogue.sqlite", readonly=True) as cat:
        assert sorted(a.kind.value for a in cat.accumulators()) == ["jpeg", "raw"]
    assert_same_as_scan(home, scanned_reference(pairs, tmp_path))


def test_poll_catch_up_pause_rescan_and_status(daemons, pairs, tmp_path):
    home, inbox = tmp_path / "home", tmp_path / "import"
    jpegs = [p for p in pairs if p.suffix == ".JPG"]
    copy_all(jpegs[:2], inbox)  # there before the daemon starts: the catch-up reads them
    paths = resolve_paths(home).ensure()
    (paths.runtime / "paused").touch()
    d = daemons(home, inbox, args=("--poll",))
    copy_all(jpegs[2:5], inbox)
    wait_until("5 queued while paused", lambda: hotwatch_status(home)["queue"] == 5)
    status = hotwatch_status(home)
    assert status["running"] and status["paused"] and status["state"] == "paused"
    assert ingested(home) == []
    text = hotwatch("status", home=home).stdout
    assert f"running (pid {d.pid}, paused)" in text and "queue: 5" in text

    (paths.runtime / "paused").unlink()
    wait_until("5 photos", lambda: len(ingested(home)) == 5)
    (paths.runtime / "rescan").touch()
    wait_until("the rescan flag taken", lambda: not (paths.runtime / "rescan").exists())
    wait_until("an idle daemon", lambda: hotwatch_status(home)["queue"] == 0)
    assert "polling" in d.text and "requested scan: 0 new" in d.text
    d.terminate()

    copy_all(jpegs[5:], inbox)  # while stopped
    d = daemons(home, inbox, args=("--poll",))
    wait_until("all photos", lambda: len(ingested(home)) == len(jpegs))
    d.terminate()
    d.assert_clean_log()
    check_counted_once(home, len(jpegs))
    assert_same_as_scan(home, scanned_reference(jpegs, tmp_path))
    text = hotwatch("status", home=home).stdout
    assert "not running" in text and f"last photo: {inbox / jpegs[-1].name}" in text


def test_named_pipes_in_a_watched_folder_never_hang_the_daemon(daemons, pairs, tmp_path):
    """A pipe named like a photo would block whoever opens it, forever (and the systemd
    watchdog would restart the daemon into the same hang): it is recorded as skipped with
    one line, never opened, and the photos around it are read."""
    home, inbox = tmp_path / "home", tmp_path / "import"
    inbox.mkdir()
    early = inbox / "pipe.jpg"
    os.mkfifo(early)  # there before the daemon: its catch-up scan meets it
    d = daemons(home, inbox)
    late = inbox / "pipe.nef"
    os.mkfifo(late)  # appears while the daemon watches
    jpegs = [p for p in pairs if p.suffix == ".JPG"][:3]
    copy_all(jpegs, inbox)
    wait_until("3 photos", lambda: len(ingested(home)) == 3)

    def skipped() -> dict[str, str]:
        return {f.path: f.reason for f in all_files(home) if f.status.value == "skipped"}

    wait_until("both pipes recorded", lambda: len(skipped()) == 2)
    wait_until("an idle daemon", lambda: hotwatch_status(home)["queue"] == 0)
    assert skipped() == {str(p): "a named pipe (FIFO), not a photo file" for p in (early, late)}
    assert d.terminate() < 5.0
    assert "WATCHDOG=1" in d.messages
    for pipe in (early, late):
        line = f"skipped: {pipe}: a named pipe (FIFO), not a photo file"
        assert d.text.count(line) == 1, d.text
    for bad in ("Traceback", "failed:", "ERROR"):
        assert bad not in d.text, d.text
    check_counted_once(home, 3)


def test_watch_without_folders_says_how_to_add_one(tmp_path):
    out = hotwatch("watch", home=tmp_path / "home", check=False)
    assert out.returncode == 1
    assert "hotwatch folders add PATH" in out.stderr


def hotwatch_status(home: Path) -> dict:
    return json.loads(hotwatch("status", "--json", home=home).stdout)


# --------------------------------------------------------------------------- settling


def test_settler_waits_for_size_and_mtime_to_stay_still(tmp_path):
    s = Settler(settle_seconds=2.0, grace=30.0)
    jpg = tmp_path / "a.jpg"
    jpg.write_bytes(b"\xff\xd8" + b"x" * 100)
    s.add(jpg)
    assert s.ready(100.0) == ([], 2.0)
    with open(jpg, "ab") as fh:
        fh.write(b"y" * 10)
    assert s.ready(101.0)[0] == []  # changed: the clock restarts
    assert s.ready(102.5)[0] == []
    # Stable for long enough, but no end-of-image marker: still being written.
    ready, wait = s.ready(103.1)
    assert ready == [] and wait == pytest.approx(27.9)
    with open(jpg, "ab") as fh:
        fh.write(b"\xff\xd9")
    assert s.ready(104.0)[0] == []
    assert s.ready(106.0)[0] == [jpg]
    assert s.ready(200.0)[0] == [jpg]  # until the worker takes it (forget)
    s.forget(jpg)
    assert len(s) == 0 and s.ready(300.0) == ([], None)


def test_settler_knows_a_file_under_any_spelling(tmp_path):
    """The ingest reports files by their absolute path; a file queued by another
    spelling (a watched folder given with ``..``) must still leave the queue."""
    (tmp_path / "sub").mkdir()
    jpg = tmp_path / "a.jpg"
    jpg.write_bytes(b"\xff\xd8\xff\xd9")
    s = Settler(settle_seconds=0.0)
    s.add(tmp_path / "sub" / ".." / "a.jpg")
    assert jpg in s and s.ready(0.0)[0] == [jpg]
    s.forget(jpg)
    assert len(s) == 0


def test_settler_lets_a_stuck_incomplete_file_through_after_the_grace_time(tmp_path):
    s = Settler(settle_seconds=1.0, grace=10.0)
    jpg, gone = tmp_path / "cut.jpg", tmp_path / "gone.jpg"
    jpg.write_bytes(b"\xff\xd8 truncated")
    gone.write_bytes(b"\xff\xd8\xff\xd9")
    s.add(jpg)
    s.add(gone)
    s.ready(0.0)
    gone.unlink()  # renamed away before it settled: dropped
    assert s.ready(5.0)[0] == []
    assert gone not in s
    assert s.ready(10.5)[0] == [jpg]  # ingest reports it as failed rather than wait forever


# --------------------------------------------------------------------------- folders


def test_folders_add_list_remove_keep_the_rest_of_the_config(tmp_path, capsys):
    home = tmp_path / "home"
    paths = resolve_paths(home).ensure()
    paths.config_file.write_text(
        '# my settings\n[tray]\nicon = "dark"\n\n[watch]\nsettle_seconds = 5.0\nmystery = 3\n'
        "\n# detection\n[detect]\nratio = 9.0\n"
    )
    odd = tmp_path / 'Ph"otos \\ été'
    odd.mkdir()
    plain = tmp_path / "plain"
    plain.mkdir()
    assert main(["--home", str(home), "folders", "add", str(odd)]) == 0
    assert main(["--home", str(home), "folders", "add", str(plain)]) == 0
    assert main(["--home", str(home), "folders", "add", str(plain / ".." / "plain")]) == 0
    assert "already watched" in capsys.readouterr().out
    cfg = folders_mod.read_config(paths)
    assert cfg.folders == (str(odd), str(plain))
    assert cfg.settle_seconds == 5.0 and cfg.extra == {"mystery": 3}
    text = paths.config_file.read_text()
    assert text.startswith('# my settings\n[tray]\nicon = "dark"\n')
    assert text.endswith("# detection\n[detect]\nratio = 9.0\n")

    assert main(["--home", str(home), "folders", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"folders": [str(odd), str(plain)]}
    assert main(["--home", str(home), "folders", "remove", str(odd)]) == 0
    assert folders_mod.list_folders(paths) == [str(plain)]
    assert main(["--home", str(home), "folders", "remove", str(odd)]) == 1
    assert main(["--home", str(home), "folders", "add", str(tmp_path / "nope")]) == 1
    assert "not a folder" in capsys.readouterr().err


def test_watch_table_round_trips_through_tomllib(tmp_path):
    paths = resolve_paths(tmp_path / "home").ensure()
    cfg = Config(folders=("/a\tb", "/c\x7fd"), poll=True, settle_seconds=0.5, rescan_minutes=0)
    folders_mod.write_config(paths, cfg)
    back = folders_mod.read_config(paths)
    assert (back.folders, back.poll, back.settle_seconds, back.rescan_minutes) == (
        cfg.folders,
        True,
        0.5,
        0.0,
    )
