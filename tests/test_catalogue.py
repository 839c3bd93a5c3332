"""The catalogue against real SQLite files: schema, transactions, queries, concurrency."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from hotwatch.core.errors import DamagedState, UserError
from hotwatch.core.events import (
    BodyMigrated,
    DefectGone,
    NewBody,
    NewDefect,
    OtherEvent,
    StateDamaged,
)
from hotwatch.core.model import AccumulatorKey, BodyId, Defect, DefectKind, FileStatus, FrameKind
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Migration,
    apply_migrations,
    schema_version,
)

REPO = Path(__file__).resolve().parents[1]
BODY = BodyId("NIKON", "D80", "3012345")
RAW = AccumulatorKey(BODY, FrameKind.RAW, 64, 48)
JPEG = AccumulatorKey(BODY, FrameKind.JPEG, 640, 480)
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
TABLES = {"files", "bodies", "accumulators", "defects", "defect_history", "events", "meta"}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "catalogue.sqlite"


@pytest.fixture
def cat(db_path: Path) -> Iterator[Catalogue]:
    with Catalogue(db_path) as c:
        yield c


def stored_payload(cat: Catalogue, event_id: int) -> dict:
    """An event's payload as the file holds it: what older and newer readers will read."""
    with sqlite3.connect(cat.path) as db:
        row = db.execute("SELECT payload FROM events WHERE id = ?", (event_id,)).fetchone()
    return json.loads(row[0])


def record(cat: Catalogue, path: str, sha: str | None, **kw: object) -> None:
    kw.setdefault("status", FileStatus.INGESTED)
    cat.record_file(path=path, size=100, mtime_ns=1, digest=sha, **kw)  # type: ignore[arg-type]


def ingest(cat: Catalogue, path: str, key: AccumulatorKey = RAW, taken_at: datetime = T0) -> None:
    """What the ingest step writes for one photo, in one transaction."""
    with cat.atomic():
        record(
            cat,
            path,
            hashlib.sha256(path.encode()).hexdigest(),
            body_key=key.body.key,
            acc_slug=key.slug,
            kind=key.kind,
            taken_at=taken_at,
        )
        cat.count_frame(key, taken_at)


def table_names(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


# --------------------------------------------------------------------------- schema


def test_new_catalogue_has_schema_in_wal_mode_and_reopens(db_path: Path) -> None:
    with Catalogue(db_path) as cat:
        ingest(cat, "/photos/a.nef")
    assert table_names(db_path) >= TABLES
    conn = sqlite3.connect(db_path)
    assert schema_version(conn) == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    with Catalogue(db_path) as cat:
        assert [f.path for f in cat.files()] == ["/photos/a.nef"]
        assert cat.bodies()[0].frames_raw == 1


def test_migrations_are_idempotent(db_path: Path) -> None:
    Catalogue(db_path).close()
    Catalogue(db_path).close()
    conn = sqlite3.connect(db_path, isolation_level=None)
    assert apply_migrations(conn) == []
    assert schema_version(conn) == SCHEMA_VERSION
    rows = conn.execute("SELECT version FROM migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == [m.version for m in MIGRATIONS]
    conn.close()


def test_migrations_run_in_order_and_a_failed_one_stays_pending(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path, isolation_level=None)
    n = SCHEMA_VERSION
    second = Migration(n + 1, "notes", ("CREATE TABLE notes (text TEXT)",))
    broken = Migration(n + 2, "broken", ("CREATE TABLE half (x)", "INSERT INTO nowhere VALUES (1)"))
    with pytest.raises(sqlite3.OperationalError, match="nowhere"):
        apply_migrations(conn, (*MIGRATIONS, second, broken))
    assert schema_version(conn) == n + 1
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "notes" in names
    assert "half" not in names  # the failed step left nothing behind
    fixed = Migration(n + 2, "fixed", ("CREATE TABLE half (x)",))
    assert apply_migrations(conn, (*MIGRATIONS, second, fixed)) == [n + 2]
    assert schema_version(conn) == n + 2
    with pytest.raises(ValueError, match="increasing"):
        apply_migrations(conn, (fixed, second))
    conn.close()


def test_a_schema_1_catalogue_keeps_its_rows_under_the_new_digest_column(db_path: Path) -> None:
    """Schema 2 names the content column ``digest`` (XXH3-128); old rows keep their SHA-256."""
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path, isolation_level=None)
    apply_migrations(conn, MIGRATIONS[:1])
    conn.execute(
        """INSERT INTO files (path, size, mtime_ns, sha256, status, first_seen, last_seen)
           VALUES ('/card/a.NEF', 5, 1, ?, 'ingested', ?, ?)""",
        ("ab" * 32, "2024-01-01T00:00:00", "2024-01-01T00:00:00"),
    )
    conn.close()
    with Catalogue(db_path) as cat:
        row = cat.file_by_path("/card/a.NEF")
        assert row is not None and row.digest == "ab" * 32
        assert cat.file_by_digest("ab" * 32) == row


def test_a_schema_2_catalogue_marks_its_undated_photos(db_path: Path) -> None:
    """Schema 3 marks the photos that keep no capture date: rows from before are marked
    from what they hold (ingested, no capture time); the rest are not."""
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path, isolation_level=None)
    apply_migrations(conn, MIGRATIONS[:2])
    for path, status, taken in (
        ("/card/dated.dng", "ingested", "2024-01-01T10:00:00+01:00"),
        ("/card/undated.dng", "ingested", None),
        ("/card/notes.jpg", "skipped", None),
    ):
        conn.execute(
            """INSERT INTO files (path, size, mtime_ns, digest, status, taken_at, first_seen,
                   last_seen, body_key) VALUES (?, 5, 1, 'ab', ?, ?, ?, ?, ?)""",
            (path, status, taken, "2024-01-02T00:00:00", "2024-01-02T00:00:00", BODY.key),
        )
    conn.close()
    with Catalogue(db_path) as cat:
        marks = {f.path: f.undated for f in cat.files()}
        assert marks == {
            "/card/dated.dng": False,
            "/card/undated.dng": True,
            "/card/notes.jpg": False,
        }
        assert cat.undated_count() == cat.undated_count(BODY.key) == 1
        assert cat.undated_count("CANON|EOS 5D|") == 0
        record(cat, "/card/new.dng", "cd", undated=True)
        assert cat.file_by_path("/card/new.dng").undated  # type: ignore[union-attr]
        record(cat, "/card/new.dng", "cd", taken_at=T0)
        assert not cat.file_by_path("/card/new.dng").undated  # type: ignore[union-attr]
    with Catalogue(db_path, readonly=True) as cat:
        assert cat.undated_count() == 1


def test_catalogue_from_a_newer_hotwatch_is_refused_untouched(db_path: Path) -> None:
    Catalogue(db_path).close()
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = db_path.read_bytes()
    with pytest.raises(UserError, match="newer hotwatch"):
        Catalogue(db_path)
    assert db_path.read_bytes() == before


# --------------------------------------------------------------------------- transactions


def test_atomic_rolls_back_everything_on_exception(cat: Catalogue, db_path: Path) -> None:
    with pytest.raises(RuntimeError), cat.atomic():
        ingest(cat, "/photos/a.nef")
        cat.sync_defects(RAW, [Defect(3, 4, DefectKind.HOT, 9.0, T0)], T0)
        raise RuntimeError("decoder crashed half way")
    with Catalogue(db_path, readonly=True) as other:
        assert other.files() == []
        assert other.bodies() == []
        assert other.defects() == []
        assert other.events_since(0) == []
    ingest(cat, "/photos/a.nef")  # the connection is usable again
    assert len(cat.files()) == 1


def test_nested_atomic_is_a_savepoint(cat: Catalogue) -> None:
    with cat.atomic():
        ingest(cat, "/photos/kept.nef")
        with pytest.raises(ValueError), cat.atomic():
            ingest(cat, "/photos/undone.nef")
            raise ValueError
        cat.set_state("k", "v")
    assert [f.path for f in cat.files()] == ["/photos/kept.nef"]
    assert cat.bodies()[0].frames_raw == 1
    assert cat.get_state("k") == "v"

    with pytest.raises(KeyError), cat.atomic():
        with cat.atomic():
            ingest(cat, "/photos/inner-ok.nef")
        raise KeyError("outer fails")
    assert [f.path for f in cat.files()] == ["/photos/kept.nef"]


# --------------------------------------------------------------------------- files


def test_record_and_find_by_path_and_by_hash(cat: Catalogue) -> None:
    sha = "ab" * 32
    cat.record_file(
        path="/card/DSC_0001.NEF",
        size=12,
        mtime_ns=34,
        digest=sha,
        status=FileStatus.INGESTED,
        body_key=BODY.key,
        acc_slug=RAW.slug,
        kind=FrameKind.RAW,
        taken_at=T0,
    )
    cat.record_file(
        path="/backup/copy of DSC_0001.NEF",
        size=12,
        mtime_ns=99,
        digest=sha,
        status=FileStatus.SKIPPED,
        reason="duplicate of /card/DSC_0001.NEF",
    )
    row = cat.file_by_path("/card/DSC_0001.NEF")
    assert row is not None
    assert (row.size, row.mtime_ns, row.kind, row.status) == (12, 34, FrameKind.RAW, "ingested")
    assert row.taken_at == T0 and row.taken_at.utcoffset() == timedelta(hours=2)
    assert cat.file_by_path("/nowhere.jpg") is None

    assert cat.file_by_digest(sha).path == "/card/DSC_0001.NEF"  # type: ignore[union-attr]
    skipped = cat.file_by_digest(sha, FileStatus.SKIPPED)
    assert skipped is not None and skipped.path == "/backup/copy of DSC_0001.NEF"
    assert cat.file_by_digest("cd" * 32) is None

    first_seen = row.first_seen
    cat.record_file(
        path="/card/DSC_0001.NEF",
        size=13,
        mtime_ns=35,
        digest=None,
        status=FileStatus.FAILED,
        reason="truncated",
        seen_at=datetime(2030, 1, 1, tzinfo=UTC),
    )
    again = cat.file_by_path("/card/DSC_0001.NEF")
    assert again is not None
    assert (again.size, again.status, again.reason, again.digest) == (
        13,
        "failed",
        "truncated",
        None,
    )
    assert again.first_seen == first_seen
    assert again.last_seen == datetime(2030, 1, 1, tzinfo=UTC)
    assert len(cat.files()) == 2
    assert cat.file_by_digest(sha) is None  # the ingested row for that content is gone


def test_files_filters_and_status_counts(cat: Catalogue) -> None:
    ingest(cat, "/p/1.nef")
    ingest(cat, "/p/2.jpg", key=JPEG)
    record(cat, "/p/notes.txt", None, status=FileStatus.SKIPPED, reason="not a photo")
    record(cat, "/p/readme.md", None, status=FileStatus.SKIPPED, reason="not a photo")
    record(cat, "/p/tiny.jpg", "01" * 32, status=FileStatus.SKIPPED, reason="too small")
    record(cat, "/p/bad.nef", "02" * 32, status=FileStatus.FAILED, reason="truncated")

    assert [f.path for f in cat.files(FileStatus.SKIPPED)] == [
        "/p/notes.txt",
        "/p/readme.md",
        "/p/tiny.jpg",
    ]
    assert [f.path for f in cat.files(body_key=BODY.key)] == ["/p/1.nef", "/p/2.jpg"]
    assert cat.files(FileStatus.FAILED, body_key=BODY.key) == []
    assert cat.status_counts() == {
        "ingested": {"": 2},
        "skipped": {"not a photo": 2, "too small": 1},
        "failed": {"truncated": 1},
    }
    assert cat.status_counts(BODY.key) == {"ingested": {"": 2}, "skipped": {}, "failed": {}}


# --------------------------------------------------------------------------- bodies


def test_ensure_body_is_new_once_and_writes_one_event(cat: Catalogue) -> None:
    assert cat.ensure_body(BODY, T0) is True
    assert cat.ensure_body(BODY, T0 + timedelta(days=1)) is False
    (row,) = cat.events_since(0)
    assert row.event == NewBody(BODY.key, "NIKON", "D80", "3012345", "NIKON D80 #3012345")
    assert stored_payload(cat, row.id) == {
        "make": "NIKON",
        "model": "D80",
        "serial": "3012345",
        "body": "NIKON D80 #3012345",
        "shown": None,  # a serial read before its spelling was kept: shown by the key
    }
    (row,) = cat.bodies()
    assert row.body == BODY and row.label == "NIKON D80 #3012345"
    assert row.first_seen == T0


def test_count_frame_bumps_counters_and_dates(cat: Catalogue) -> None:
    # Photos arrive out of order: first/last follow capture time, not arrival.
    times = [T0, T0 - timedelta(days=3), T0 + timedelta(days=2)]
    for t in times:
        cat.count_frame(RAW, t)
    cat.count_frame(RAW, None)
    cat.count_frame(JPEG, T0 + timedelta(days=5))

    (body,) = cat.bodies()
    assert (body.frames_raw, body.frames_jpeg, body.frames) == (4, 1, 5)
    assert body.last_photo == T0 + timedelta(days=5)
    accs = {a.kind: a for a in cat.accumulators(BODY.key)}
    raw = accs[FrameKind.RAW]
    assert (raw.frames, raw.width, raw.height, raw.slug) == (4, 64, 48, RAW.slug)
    assert raw.first_taken == T0 - timedelta(days=3)
    assert raw.last_taken == T0 + timedelta(days=2)
    assert raw.key == RAW
    assert accs[FrameKind.JPEG].frames == 1
    assert cat.accumulators("nobody") == []
    assert [e.type for e in cat.events_since(0)] == ["new_body"]  # body created once


def test_find_bodies_by_serial_name_and_prefix(cat: Catalogue) -> None:
    bodies = [
        BodyId("Canon", "EOS R", "111"),
        BodyId("Canon", "EOS R5", "222"),
        BodyId("Canon", "EOS R5", "333"),
        BodyId("NIKON", "D80", "3012345"),
        BodyId("NIKON", "D80", None),
    ]
    for b in bodies:
        cat.ensure_body(b, T0)

    def serials(query: str) -> list[str | None]:
        return [b.serial for b in cat.find_bodies(query)]

    assert serials("3012345") == ["3012345"]
    assert serials("#222") == ["222"]
    assert serials("NIKON|D80|3012345") == ["3012345"]  # the key
    assert serials("canon  EOS r") == ["111"]  # whole words first: the R, not the R5s
    assert serials("canon eos r5") == ["222", "333"]  # ambiguous: the caller says so
    assert serials("Canon EOS R5 #333") == ["333"]  # a label
    assert serials("eos r5 2") == ["222"]  # model + serial prefix
    assert serials("nikon d8") == [None, "3012345"]
    assert serials("nikon d80") == [None]  # exact name of the body without serial
    assert serials("canon") == ["111", "222", "333"]
    assert serials("sony") == []
    assert serials("   ") == []


# --------------------------------------------------------------------------- defects


def test_sync_defects_new_same_changed_and_missing(cat: Catalogue) -> None:
    at1 = T0 + timedelta(hours=1)
    hot = Defect(10, 20, DefectKind.HOT, 8.0, onset=T0, confirmed=at1)
    stuck = Defect(30, 5, DefectKind.STUCK, 50.0, onset=None, confirmed=T0 - timedelta(hours=1))

    new = cat.sync_defects(RAW, [hot, stuck], at1)
    assert [(e.x, e.y, e.kind, e.onset, e.confirmed) for e in new] == [
        (10, 20, DefectKind.HOT, T0, at1),
        (30, 5, DefectKind.STUCK, None, stuck.confirmed),
    ]
    events = cat.events_since(0, types=[NewDefect])
    assert [e.event for e in events] == new
    assert events[0].body_key == BODY.key
    assert stored_payload(cat, events[0].id) == {
        "defect_id": cat.defects()[1].id,
        "acc_slug": RAW.slug,
        "x": 10,
        "y": 20,
        "kind": "hot",
        "onset": T0.isoformat(),
        "confirmed": at1.isoformat(),
        "score": 8.0,
        "frame_kind": "raw",
        "width": 64,
        "height": 48,
        "body": "NIKON D80 #3012345",
        "positions": {},  # written by hotwatch.state.sensors: one event per physical defect
    }
    last = cat.last_event_id()

    # The same result again: scores move, nothing new, no history.
    at2 = at1 + timedelta(hours=1)
    assert cat.sync_defects(RAW, [Defect(10, 20, DefectKind.HOT, 9.5, T0), stuck], at2) == []
    assert cat.events_since(last) == []
    rows = {(d.x, d.y): d for d in cat.defects(RAW.slug)}
    assert rows[10, 20].score == 9.5 and rows[10, 20].confirmed == at1
    assert len(cat.defect_history(rows[10, 20].id)) == 1

    # The hot pixel becomes stuck; the stuck one is not detected this time.
    at3 = at2 + timedelta(hours=1)
    assert cat.sync_defects(RAW, [Defect(10, 20, DefectKind.STUCK, 70.0, None)], at3) == []
    assert cat.events_since(last) == []
    rows = {(d.x, d.y): d for d in cat.defects(body_key=BODY.key)}
    assert rows[10, 20].kind == DefectKind.STUCK
    assert rows[10, 20].onset == T0  # a detection without onset keeps the known one
    assert rows[30, 5].status == "active" and rows[30, 5].score == 50.0  # not healed
    history = cat.defect_history(rows[10, 20].id)
    assert [(h.kind, h.note) for h in history] == [
        (DefectKind.HOT, "found"),
        (DefectKind.STUCK, "kind hot -> stuck"),
    ]
    assert history[1].at == at3 and history[1].score == 70.0
    assert rows[10, 20].to_defect() == Defect(10, 20, DefectKind.STUCK, 70.0, T0, at1)
    assert (rows[10, 20].frame_kind, rows[10, 20].width) == (FrameKind.RAW, 64)

    # A changed onset is history too.
    earlier = T0 - timedelta(days=7)
    cat.sync_defects(RAW, [Defect(10, 20, DefectKind.STUCK, 70.0, earlier)], at3)
    assert cat.defect_history(rows[10, 20].id)[-1].note == (
        f"onset {T0.isoformat()} -> {earlier.isoformat()}"
    )

    with pytest.raises(ValueError, match="twice"):
        cat.sync_defects(RAW, [hot, hot], at3)
    with pytest.raises(ValueError, match="finite"):
        cat.sync_defects(RAW, [Defect(1, 1, DefectKind.DEAD, float("nan"), None)], at3)
    assert len(cat.defects()) == 2  # neither bad call wrote anything


def test_mark_seen_and_unseen_count(cat: Catalogue) -> None:
    other = AccumulatorKey(BodyId("FUJIFILM", "X-T3", "9"), FrameKind.RAW, 60, 60)
    cat.sync_defects(RAW, [Defect(1, 1, DefectKind.HOT, 5.0, None)], T0)
    cat.sync_defects(other, [Defect(2, 2, DefectKind.DEAD, 5.0, None)], T0)
    assert cat.unseen_defects() == 2
    assert cat.mark_seen(BODY.key) == 1
    assert cat.unseen_defects() == 1
    assert cat.unseen_defects(BODY.key) == 0
    assert cat.mark_seen() == 1
    assert cat.mark_seen() == 0
    assert all(d.seen for d in cat.defects())


# --------------------------------------------------------------------------- events and state


def test_events_read_back_typed_and_unknown_ones_are_kept(cat: Catalogue) -> None:
    """Every type hotwatch writes reads back as itself; a type it does not know (a newer
    hotwatch's) or a payload it cannot read comes back as an OtherEvent, never an error."""
    written = [
        NewBody(BODY.key, "NIKON", "D80", "3012345", "NIKON D80 #3012345"),
        DefectGone(BODY.key, 3, 4, DefectKind.HOT, "merged"),
        StateDamaged(BODY.key, "accumulator x is damaged"),
        BodyMigrated(BODY.key, "NIKON|D80|", "NIKON D80 (no serial)", BODY.label, True, 7),
        OtherEvent("from_the_future", BODY.key, {"x": 1}),
        OtherEvent("new_defect", BODY.key, {"x": 1}),  # lacks what a new defect needs
    ]
    for event in written:
        cat.add_event(event)
    assert [row.event for row in cat.events_since(0)] == written
    assert [row.type for row in cat.events_since(0, types=[DefectGone, "from_the_future"])] == [
        "defect_gone",
        "from_the_future",
    ]


def test_events_since_pages_and_filters(cat: Catalogue) -> None:
    ids = [
        cat.add_event(OtherEvent("tick" if i % 3 else "tock", "", {"i": i, "at": T0}))
        for i in range(25)
    ]
    assert ids == sorted(ids) and len(set(ids)) == 25
    pages, last = [], 0
    while page := cat.events_since(last, limit=10):
        pages.append([e.event.payload()["i"] for e in page])
        last = page[-1].id
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [i for p in pages for i in p] == list(range(25))
    assert cat.events_since(ids[-1]) == []
    tocks = cat.events_since(0, types=["tock"])
    assert [e.event.payload()["i"] for e in tocks] == list(range(0, 25, 3))
    assert tocks[0].event.payload()["at"] == T0.isoformat() and tocks[0].body_key == ""
    assert cat.events_since(0, types=[]) == []
    assert cat.last_event_id() == ids[-1]


def test_state_round_trip(cat: Catalogue, db_path: Path) -> None:
    assert cat.get_state("tray.last_event") is None
    assert cat.get_state("tray.last_event", "0") == "0"
    cat.set_state("tray.last_event", "41")
    cat.set_state("tray.last_event", "42")
    with Catalogue(db_path, readonly=True) as reader:
        assert reader.get_state("tray.last_event") == "42"


# --------------------------------------------------------------------------- read-only


def test_readonly_reads_but_cannot_write(cat: Catalogue, db_path: Path) -> None:
    ingest(cat, "/photos/a.nef")
    with Catalogue(db_path, readonly=True) as reader:
        assert len(reader.files()) == 1
        with reader.snapshot():
            assert reader.bodies()[0].frames == 1
        with pytest.raises(PermissionError):
            reader.set_state("x", "y")
        with pytest.raises(PermissionError):
            ingest(reader, "/photos/b.nef")
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader._conn.execute("DELETE FROM files")
    assert len(cat.files()) == 1


def test_readonly_needs_an_existing_catalogue(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no catalogue"):
        Catalogue(tmp_path / "missing.sqlite", readonly=True)
    assert not (tmp_path / "missing.sqlite").exists()


# --------------------------------------------------------------------------- damage


def _fill(db_path: Path) -> None:
    with Catalogue(db_path) as cat, cat.atomic():
        for i in range(300):
            record(cat, f"/photos/2024/{i:05d}-{'x' * 60}.nef", f"{i:064x}")
    assert not db_path.with_name(db_path.name + "-wal").exists()  # checkpointed on close


@pytest.mark.parametrize("where", ["header", "second page", "middle page", "last page"])
def test_damaged_catalogue_raises_and_is_left_untouched(db_path: Path, where: str) -> None:
    _fill(db_path)
    data = bytearray(db_path.read_bytes())
    page = 4096
    pages = len(data) // page
    start = {"header": 0, "second page": page, "middle page": pages // 2 * page}.get(
        where, (pages - 1) * page
    )
    data[start : start + page] = b"\xa5" * page
    db_path.write_bytes(bytes(data))

    for readonly in (False, True):
        with pytest.raises(DamagedState, match="damaged"):
            Catalogue(db_path, readonly=readonly)
    assert db_path.read_bytes() == bytes(data)


# --------------------------------------------------------------------------- concurrency


def _env() -> dict[str, str]:
    """The child processes import this checkout of hotwatch."""
    extra = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), extra]))}


READER = """
import sys
from pathlib import Path
from hotwatch.state.catalogue import Catalogue

path, expected = Path(sys.argv[1]), int(sys.argv[2])
count, last_id, polls, partial = 0, 0, 0, 0
with Catalogue(path, readonly=True) as cat:
    print("ready", flush=True)
    while count < expected:
        with cat.snapshot():
            n_files = len(cat.files())
            events = cat.events_since(last_id, types=["frame"])
            n_events = len(cat.events_since(0, types=["frame"]))
        assert n_files == n_events, (n_files, n_events)  # never half a transaction
        for event in events:
            i = event.event.payload()["i"]
            assert i == count, (i, count)  # in order, no gap
            count, last_id = count + 1, event.id
        polls += 1
        partial += 0 < n_files < expected
print("done", polls, partial, flush=True)
"""


def test_writer_tray_and_reader_process_work_concurrently(cat: Catalogue, db_path: Path) -> None:
    n = 300
    env = _env()
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(db_path), str(n)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert reader.stdout is not None
    assert reader.stdout.readline().strip() == "ready"

    errors: list[BaseException] = []
    stop = threading.Event()

    def tray() -> None:
        """A second writer, as the tray marking defects seen."""
        try:
            with Catalogue(db_path) as mine:
                while not stop.is_set():
                    # Read, then write, in one transaction: with a deferred BEGIN the
                    # upgrade to a write lock fails at once if the daemon committed
                    # in between ("database is locked"); BEGIN IMMEDIATE waits.
                    with mine.atomic():
                        if mine.unseen_defects():
                            mine.mark_seen()
                        mine.set_state("tray.last_event", str(mine.last_event_id()))
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=tray)
    thread.start()
    try:
        for i in range(n):
            with cat.atomic():
                record(cat, f"/photos/{i:04d}.nef", f"{i:064x}")
                cat.add_event(OtherEvent("frame", "", {"i": i}))
                if i % 50 == 0:
                    cat.sync_defects(RAW, [Defect(i, i, DefectKind.HOT, 1.0, None)], T0)
            stop.wait(0.001)  # a daemon paces its writes; lets the reader poll between them
    finally:
        stop.set()
        thread.join(timeout=30)
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    assert not errors, errors
    done, polls, partial = out.split()
    assert done == "done" and int(polls) > 1
    assert int(partial) > 0  # the reader really ran while the writer wrote
    assert len(cat.files()) == n
    assert cat.get_state("tray.last_event") is not None  # the tray wrote too
    assert cat.unseen_defects() + sum(d.seen for d in cat.defects()) == n // 50


def test_two_processes_opening_a_new_catalogue_at_once(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    code = (
        "import sys; from pathlib import Path; from hotwatch.state.catalogue import Catalogue\n"
        "with Catalogue(Path(sys.argv[1])) as c: c.set_state(sys.argv[2], 'x')\n"
    )
    env = _env()
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(path), f"p{i}"], env=env)
        for i in range(3)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    with Catalogue(path) as cat:
        assert [cat.get_state(f"p{i}") for i in range(3)] == ["x", "x", "x"]
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM migrations").fetchone()[0] == len(MIGRATIONS)
    conn.close()


def test_a_retired_defect_found_again_is_reactivated(tmp_path):
    """Retire then find again at the same position: one row, active again, two events."""
    cat = Catalogue(tmp_path / "c.sqlite")
    key = AccumulatorKey(BodyId("NIKON", "D80", "1"), FrameKind.JPEG, 640, 480)
    at = datetime(2024, 5, 1, tzinfo=UTC)
    d = Defect(10, 20, DefectKind.HOT, 12.0, at)
    assert cat.sync_defects(key, [d], at)
    assert cat.retire_defects(key, [(10, 20)], at, "merged") == 1
    assert cat.defects(acc_slug=key.slug) == []
    assert [r.status for r in cat.defects(acc_slug=key.slug, status=None)] == ["gone"]
    assert cat.sync_defects(key, [d], at)  # found again: new again
    rows = cat.defects(acc_slug=key.slug, status=None)
    assert [(r.x, r.y, r.status) for r in rows] == [(10, 20, "active")]
    types = [e.type for e in cat.events_since(0)]
    assert types.count("new_defect") == 2 and types.count("defect_gone") == 1
    cat.close()


def test_a_defect_no_dated_photo_confirmed_keeps_an_unknown_confirmation(tmp_path):
    """Photos that keep no date confirm a defect at no known time: the catalogue must not
    put the time of the scan there (the tray would say "first seen today")."""
    cat = Catalogue(tmp_path / "c.sqlite")
    key = AccumulatorKey(BodyId("NIKON", "D80", "1"), FrameKind.RAW, 640, 480)
    now = datetime(2026, 1, 2, tzinfo=UTC)
    (new,) = cat.sync_defects(key, [Defect(10, 20, DefectKind.HOT, 12.0, None)], now)
    assert new.onset is None and new.confirmed is None
    (row,) = cat.defects(acc_slug=key.slug)
    assert row.onset is None and row.confirmed is None
    (row,) = cat.events_since(0, types=[NewDefect])
    assert stored_payload(cat, row.id)["onset"] is None
    assert stored_payload(cat, row.id)["confirmed"] is None
    cat.close()


def test_sync_takes_the_confirmation_the_detector_gives(tmp_path):
    """The accumulator knows which frame confirmed a defect; the catalogue follows it."""
    cat = Catalogue(tmp_path / "c.sqlite")
    key = AccumulatorKey(BodyId("NIKON", "D80", "1"), FrameKind.RAW, 640, 480)
    first = datetime(2024, 5, 1, tzinfo=UTC)
    d = Defect(10, 20, DefectKind.HOT, 12.0, first, confirmed=first)
    cat.sync_defects(key, [d], first)
    later = first + timedelta(days=3)
    cat.sync_defects(key, [Defect(10, 20, DefectKind.HOT, 14.0, first, confirmed=later)], later)
    (row,) = cat.defects(acc_slug=key.slug)
    assert row.confirmed == later and row.score == 14.0
    cat.sync_defects(key, [Defect(10, 20, DefectKind.HOT, 15.0, first)], later)
    (row,) = cat.defects(acc_slug=key.slug)
    assert row.confirmed == later  # no confirmation given: the stored one stays
    cat.close()


# --------------------------------------------------------------------------- one sensor


def test_a_body_keeps_the_serial_as_the_camera_shows_it(cat: Catalogue) -> None:
    """The key drops leading zeros; the spelling read is kept beside it (a body read before
    gets it from its next photo), names the body, and finds it as either spelling does."""
    canon = BodyId("CANON", "EOS 40D", "830512345")
    assert cat.ensure_body(canon, T0)
    assert cat.body(canon.key).label == "CANON EOS 40D #0830512345"  # exiftool's rule
    r6 = BodyId("CANON", "EOS R6", "93022004357")
    cat.ensure_body(r6, T0)
    assert cat.body(r6.key).label == "CANON EOS R6 #93022004357"  # not known yet
    cat.ensure_body(BodyId("CANON", "EOS R6", "93022004357", "093022004357"), T0)
    row = cat.body(r6.key)
    assert row.shown == "093022004357" and row.body == r6 and row.serial == "93022004357"
    for query in ("093022004357", "93022004357", "eos r6 093022004357", "#93022004357"):
        assert [b.key for b in cat.find_bodies(query)] == [r6.key], query
    assert [b.key for b in cat.find_bodies("0830512345")] == [canon.key]


def test_frame_maps_are_kept_per_body_and_move_with_it(cat: Catalogue) -> None:
    from hotwatch.core.frame_map import FrameMap

    cat.count_frame(RAW, T0)
    cat.save_map(BODY.key, (64, 48), (60, 44), status="learning", fits=[[1, -2, 1, -2, 0.9, 0.1]],
                 attempts=1, tried_at_frames=1, note="1 of 1")  # fmt: skip
    (row,) = cat.frame_maps(BODY.key)
    assert (row.status, row.map, row.attempts, row.fit_maps()) == (
        "learning",
        None,
        1,
        [FrameMap(1.0, -2.0, 1.0, -2.0)],
    )
    known = FrameMap(1.0, -2.0, 1.0, -2.0)
    cat.save_map(BODY.key, (64, 48), (60, 44), status="known", fmap=known, source="registration")
    (row,) = cat.frame_maps(BODY.key)
    assert row.status == "known" and row.map == known
    assert [m.body_key for m in cat.model_maps("NIKON", "D80")] == [BODY.key]
    # a body re-identified under its right key takes its maps along
    new = BodyId("NIKON", "D80", "3012346")
    cat.migrate_body(BODY.key, new, {RAW.slug: AccumulatorKey(new, FrameKind.RAW, 64, 48).slug})
    assert cat.frame_maps(BODY.key) == [] and cat.frame_maps(new.key)[0].map == known
