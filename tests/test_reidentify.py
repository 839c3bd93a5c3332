"""Bodies keyed by a weaker reading are migrated, not split (hotwatch.pipeline.reidentify).

Real files (simulated camera photos with a Pentax maker note: its serial is
invisible to exifread, exiftool reads it), a real SQLite catalogue, the real
exiftool, and the real ``hotwatch`` command line with exiftool hidden from PATH
to play "not installed yet".
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hotwatch.core.accumulator import Accumulator, content_digest
from hotwatch.core.events import BodyMigrated
from hotwatch.core.model import AccumulatorKey, BodyId, FileStatus, FrameKind
from hotwatch.io.exiftool import ExifTool
from hotwatch.pipeline.ingest import Ingestor
from hotwatch.pipeline.reidentify import (
    MERGED,
    MIXED,
    RENAMED,
    move_accumulator_file,
    reidentify,
    stored_mixed,
)
from hotwatch.pipeline.scan import scan
from hotwatch.sim import camsim
from hotwatch.state import store
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.config import Paths
from tests.support.cli import hotwatch, without_exiftool
from tests.support.exif_layouts import ascii_, pentax, rational, short, tiff, undefined

MAKE, MODEL = "RICOH IMAGING COMPANY, LTD.", "PENTAX K-3 Mark III"
SERIAL = "1234567"
WEAK = BodyId("PENTAX", "K-3 Mark III", None)
STRONG = BodyId("PENTAX", "K-3 Mark III", SERIAL)
START = datetime(2024, 3, 2, 10, 0, tzinfo=timezone(timedelta(hours=1)))
SENSOR = camsim.SensorSpec(width=320, height=240, cfa="RGGB")


def pentax_camera(serial: str, seed: int) -> camsim.Camera:
    defects = camsim.plant_defects(
        SENSOR, {"hot": 2, "stuck": 2, "dead": 1}, late_fraction=0.0, seed=seed, n_shots=10
    )
    return camsim.Camera(SENSOR, defects, make=MAKE, model=MODEL, serial=serial, seed=seed)


def write_pentax_jpeg(cam: camsim.Camera, shot: camsim.ShotSpec, path: Path) -> Path:
    """The camera JPEG with the body serial only in the Pentax maker note (0x0229)."""
    rgb = cam.render_rgb(cam.render_raw(shot), shot)
    stamp = shot.taken_at.strftime("%Y:%m:%d %H:%M:%S")
    offset = shot.taken_at.strftime("%z")
    exposure = Fraction(shot.exposure).limit_denominator(1_000_000)
    note = pentax([undefined(0x0000, b"\x0a\x00\x00\x00"), ascii_(0x0229, cam.serial)])
    ifd0 = [ascii_(0x010F, MAKE), ascii_(0x0110, MODEL), short(0x0112, shot.orientation)]
    sub = [
        rational(0x829A, (exposure.numerator, exposure.denominator)),
        short(0x8827, int(min(shot.iso, 65535))),
        ascii_(0x9003, stamp),
        ascii_(0x9011, f"{offset[:3]}:{offset[3:]}"),
        undefined(0x927C, note),
    ]
    Image.fromarray(rgb).save(path, "JPEG", quality=92, exif=b"Exif\0\0" + tiff(ifd0, sub))
    os.utime(path, (shot.taken_at.timestamp(),) * 2)
    return path


def write_batch(
    cam: camsim.Camera, folder: Path, n: int, days: int, *, dng: bool = False, prefix: str = "IMG_"
) -> list[Path]:
    """``n`` shots starting ``days`` after START: JPEG (serial in the maker note only),
    and the DNG (serial in CameraSerialNumber and EXIF, which exifread reads) if asked."""
    folder.mkdir(parents=True, exist_ok=True)
    shots = camsim.plan_roll(
        n, seed=days + 1, start=START + timedelta(days=days), bursts=False, timelapses=False
    )
    out = []
    for shot in shots:
        stem = folder / f"{prefix}{days:03d}_{shot.index:04d}"
        out.append(write_pentax_jpeg(cam, shot, stem.with_suffix(".JPG")))
        if dng:
            out.append(cam.write_dng(shot, stem.with_suffix(".DNG")))
            os.utime(out[-1], (shot.taken_at.timestamp(),) * 2)
    return out


def ingest(paths: Paths, cat: Catalogue, folders: list[Path], exiftool: ExifTool | None) -> None:
    """Scan as an older hotwatch would: no re-identification first."""
    ingestor = Ingestor(paths, cat, exiftool=exiftool)
    scan(ingestor, folders)
    ingestor.close()


def cli(home: Path, *args: str, exiftool: bool = True) -> str:
    """The real command line's output; without ``exiftool`` it is hidden from PATH."""
    return hotwatch(*args, home=home, env=None if exiftool else without_exiftool()).stdout


def dump(db: Path) -> dict[str, list[tuple]]:
    """Every row that re-identification may touch, in a stable order."""
    conn = sqlite3.connect(db)
    try:
        return {
            t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
            for t in ("bodies", "accumulators", "files", "defects", "defect_history", "events")
        }
    finally:
        conn.close()


def acc_files(paths: Paths) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(paths.accumulators.glob("*.hwacc"))}


def check_consistent(paths: Paths, cat: Catalogue) -> None:
    """Every accumulator file holds exactly the frames its catalogue rows say, once each."""
    rows = cat.accumulators()
    assert sorted(acc_files(paths)) == sorted(f"{a.slug}.hwacc" for a in rows)
    for a in rows:
        acc = store.load(store.path_for(paths.accumulators, a.key))
        assert acc is not None
        files = [f for f in cat.files(FileStatus.INGESTED) if f.acc_slug == a.slug]
        assert acc.frames == a.frames == len(files)
        assert len(set(acc.absorbed)) == len(acc.absorbed)
        assert set(acc.absorbed) == {content_digest(f.digest) for f in files}
    bodies = cat.bodies()
    for b in bodies:
        accs = cat.accumulators(body_key=b.key)
        assert b.frames_jpeg == sum(a.frames for a in accs if a.kind is FrameKind.JPEG)
        assert b.frames_raw == sum(a.frames for a in accs if a.kind is FrameKind.RAW)
    assert {f.body_key for f in cat.files(FileStatus.INGESTED)} <= {b.key for b in bodies}
    assert {d.body_key for d in cat.defects(status=None)} <= {b.key for b in bodies}


# --------------------------------------------------------------------------- upgrade


def test_installing_exiftool_merges_the_body_it_split(tmp_path):
    """RAW+JPEG without exiftool: the DNGs have a serial exifread reads, the JPEGs a
    serial only exiftool reads, so one camera became two bodies. The first scan after
    exiftool is installed merges them; nothing is counted twice; a rescan changes nothing."""
    home, cam = tmp_path / "home", pentax_camera(SERIAL, seed=3)
    first = write_batch(cam, tmp_path / "card1", 12, days=0, dng=True)
    cli(home, "scan", str(tmp_path / "card1"), exiftool=False)
    paths = Paths(home, home)
    with Catalogue(paths.catalogue, readonly=True) as cat:
        assert [b.body for b in cat.bodies()] == [WEAK, STRONG]  # the split
        weak_defects = {(d.x, d.y) for d in cat.defects(body_key=WEAK.key)}
    assert weak_defects, "the JPEG body should have shown some defects already"

    later = write_batch(cam, tmp_path / "card2", 8, days=20, dng=True)
    out = cli(home, "scan", str(tmp_path / "card1"), str(tmp_path / "card2"))
    assert f"merged {WEAK.label} into {STRONG.label}: 12 photos" in out

    with Catalogue(paths.catalogue, readonly=True) as cat:
        assert [b.body for b in cat.bodies()] == [STRONG]
        body = cat.bodies()[0]
        assert (body.frames_jpeg, body.frames_raw) == (20, 20)
        files = cat.files(FileStatus.INGESTED)
        assert sorted(f.path for f in files) == sorted(str(p) for p in first + later)
        assert {f.body_key for f in files} == {STRONG.key}
        assert sorted((a.kind, a.frames) for a in cat.accumulators()) == [
            (FrameKind.JPEG, 20),
            (FrameKind.RAW, 20),
        ]
        check_consistent(paths, cat)
        kept = cat.defects(body_key=STRONG.key, status=None)  # a JPEG blob centre may move
        assert weak_defects <= {(d.x, d.y) for d in kept if d.frame_kind is FrameKind.JPEG}
        moved = [row.event for row in cat.events_since(0, types=[BodyMigrated])]
        assert [(e.body_key, e.from_key, e.photos) for e in moved] == [(STRONG.key, WEAK.key, 12)]
        assert {e.body_key for e in cat.events_since(0)} == {STRONG.key}

    before, files_before = dump(paths.catalogue), acc_files(paths)
    again = cli(home, "scan", str(tmp_path / "card1"), str(tmp_path / "card2"))
    assert "merged" not in again and "re-identified" not in again
    assert dump(paths.catalogue) == before
    assert acc_files(paths) == files_before
    listing = cli(home, "cameras")
    assert listing.startswith(f"{STRONG.label}: 20 raw + 20 jpeg photos")
    assert "no serial" not in listing


@pytest.mark.parametrize("crash", [False, True], ids=["clean", "crash-after-files"])
def test_merged_accumulator_equals_one_feed(tmp_path, et, crash):
    """Two accumulators of one kind and size (before and after exiftool) merge into
    exactly what one scan of everything with exiftool gives; defects at the same
    photosite are kept once. With ``crash``, the accumulator files were already
    written when the process died before the catalogue moved: the rerun adds nothing
    twice. Without exiftool afterwards, the serial is never downgraded."""
    cam = pentax_camera(SERIAL, seed=12)  # a body whose JPEG blobs both halves centre alike
    write_batch(cam, tmp_path / "a", 12, days=0)
    write_batch(cam, tmp_path / "b", 12, days=30)
    paths = Paths(tmp_path / "home", tmp_path / "home").ensure()
    with Catalogue(paths.catalogue) as cat:
        ingest(paths, cat, [tmp_path / "a"], None)
        ingest(paths, cat, [tmp_path / "b"], et)
        assert [b.body for b in cat.bodies()] == [WEAK, STRONG]
        both = {b: {(d.x, d.y): d for d in cat.defects(body_key=b.key)} for b in (WEAK, STRONG)}
        assert set(both[WEAK]) & set(both[STRONG]), "the test needs a defect seen by both"
        if crash:
            for a in cat.accumulators(body_key=WEAK.key):
                target = AccumulatorKey(STRONG, a.kind, a.width, a.height)
                move_accumulator_file(paths.accumulators, a.slug, target.slug)

        done = reidentify(paths, cat, et)
        assert [(m.status, m.old, m.new, m.photos) for m in done] == [(MERGED, WEAK, STRONG, 12)]
        assert [b.body for b in cat.bodies()] == [STRONG]
        check_consistent(paths, cat)
        (row,) = cat.accumulators()
        assert row.frames == 24
        defects = cat.defects(body_key=STRONG.key)
        assert {(d.x, d.y) for d in defects} == set(both[WEAK]) | set(both[STRONG])
        for d in defects:
            onsets = [b[(d.x, d.y)].onset for b in both.values() if (d.x, d.y) in b]
            assert d.onset == min(onsets)
            assert cat.defect_history(d.id)  # histories kept (the dropped twin's moved)

        assert reidentify(paths, cat, et) == []
        assert reidentify(paths, cat, None) == []  # exiftool gone again: no downgrade
        assert [b.body for b in cat.bodies()] == [STRONG]
        merged = store.load(store.path_for(paths.accumulators, row.key))

    ref = Paths(tmp_path / "ref", tmp_path / "ref").ensure()
    with Catalogue(ref.catalogue) as cat:
        ingest(ref, cat, [tmp_path / "a", tmp_path / "b"], et)
        (ref_row,) = cat.accumulators()
        assert ref_row.slug == row.slug
        one_feed = store.load(store.path_for(ref.accumulators, ref_row.key))
    assert isinstance(merged, Accumulator) and isinstance(one_feed, Accumulator)
    assert (merged.frames, merged.counted, merged.frames_hi) == (
        one_feed.frames,
        one_feed.counted,
        one_feed.frames_hi,
    )
    assert set(merged.absorbed) == set(one_feed.absorbed)
    for name, array in one_feed.state().items():
        np.testing.assert_array_equal(merged.state()[name], array, err_msg=name)


# --------------------------------------------------------------------------- mixed


def test_a_body_that_mixed_two_cameras_is_reported_not_merged(tmp_path, et):
    """Two bodies of one model, serials invisible without exiftool: one body at first.
    Re-reading finds two serials: the body is kept (its evidence cannot be unmixed),
    reported once by scan and always by ``hotwatch cameras``; new photos go apart."""
    one, two = pentax_camera("1111111", seed=5), pentax_camera("2222222", seed=6)
    card = tmp_path / "card"
    write_batch(one, card, 8, days=0, prefix="A_")
    write_batch(two, card, 6, days=1, prefix="B_")
    home = tmp_path / "home"
    cli(home, "scan", str(card), exiftool=False)
    paths = Paths(home, home)
    before = dump(paths.catalogue)
    assert [r[0] for r in before["bodies"]] == [WEAK.key]

    with Catalogue(paths.catalogue) as cat:
        (report,) = reidentify(paths, cat, et)
        assert report.status == MIXED and report.old == WEAK and report.new is None
        assert report.found == (
            (BodyId("PENTAX", "K-3 Mark III", "1111111"), 8),
            (BodyId("PENTAX", "K-3 Mark III", "2222222"), 6),
        )
        assert "holds photos of 2 bodies (#1111111: 8, #2222222: 6" in report.line
        assert reidentify(paths, cat, et) == []  # checked by this reader already
        assert stored_mixed(cat, WEAK.key) == report
        assert reidentify(paths, cat, et, force=True) == [report]
    after = dump(paths.catalogue)
    assert {t: after[t] for t in after if t != "events"} == {
        t: before[t] for t in before if t != "events"
    }
    assert after["events"] == before["events"]  # nothing migrated, nothing to announce

    assert report.line in cli(home, "cameras")
    assert cli(home, "cameras", "--reidentify").count(report.line) == 2  # found, then listed
    write_batch(one, tmp_path / "card2", 5, days=40, prefix="A_")
    out = cli(home, "scan", str(card), str(tmp_path / "card2"))
    assert "merged" not in out and "holds photos" not in out
    with Catalogue(paths.catalogue, readonly=True) as cat:
        counts = {b.key: b.frames_jpeg for b in cat.bodies()}
        assert counts == {WEAK.key: 14, "PENTAX|K-3 Mark III|1111111": 5}
        check_consistent(paths, cat)


# --------------------------------------------------------------------------- normalisation


OLD = BodyId("NIKON CORPORATION", "NIKON D80", "03012345")  # as an older hotwatch keyed it
NEW = BodyId("NIKON", "D80", "3012345")


def rekey_as_old_version(paths: Paths, new: BodyId, old: BodyId) -> None:
    """Rewrite a catalogue (rows and accumulator file names) to ``old``'s key."""
    conn = sqlite3.connect(paths.catalogue)
    with conn:
        conn.execute(
            "UPDATE bodies SET key = ?, make = ?, model = ?, serial = ? WHERE key = ?",
            (old.key, old.make, old.model, old.serial, new.key),
        )
        for slug, kind, w, h in conn.execute(
            "SELECT slug, kind, width, height FROM accumulators WHERE body_key = ?", (new.key,)
        ).fetchall():
            old_slug = AccumulatorKey(old, FrameKind(kind), w, h).slug
            conn.execute(
                "UPDATE accumulators SET slug = ?, body_key = ? WHERE slug = ?",
                (old_slug, old.key, slug),
            )
            conn.execute("UPDATE defects SET acc_slug = ? WHERE acc_slug = ?", (old_slug, slug))
            conn.execute("UPDATE files SET acc_slug = ? WHERE acc_slug = ?", (old_slug, slug))
            os.replace(
                paths.accumulators / f"{slug}.hwacc", paths.accumulators / f"{old_slug}.hwacc"
            )
        for table in ("files", "defects", "events"):
            conn.execute(f"UPDATE {table} SET body_key = ? WHERE body_key = ?", (old.key, new.key))
    conn.close()


@pytest.mark.parametrize("reader", ["exiftool", "exifread", "files-gone"])
def test_old_spelling_of_make_model_serial_is_migrated(tmp_path, et, reader):
    """A catalogue written when makes kept "CORPORATION", models repeated the make and
    serials kept leading zeros: its body is renamed to today's key, with its
    accumulator file, defects, files and events, whether the files are read again
    (with or without exiftool) or are gone (the stored values are re-normalised)."""
    cam = camsim.Camera(
        SENSOR,
        camsim.plant_defects(SENSOR, {"stuck": 2, "dead": 1}, 0.0, seed=7, n_shots=10),
        make="NIKON CORPORATION",
        model="NIKON D80",
        serial="03012345",
        seed=7,
    )
    shots = camsim.plan_roll(10, seed=7, start=START)
    written = camsim.write_roll(cam, shots, tmp_path / "card", formats=("jpeg",))
    paths = Paths(tmp_path / "home", tmp_path / "home").ensure()
    with Catalogue(paths.catalogue) as cat:
        ingest(paths, cat, [tmp_path / "card"], None)
        assert [b.body for b in cat.bodies()] == [NEW]
        defects = [(d.x, d.y, d.kind) for d in cat.defects()]
        assert defects
    rekey_as_old_version(paths, NEW, OLD)
    if reader == "files-gone":
        for p in written:
            p.unlink()

    with Catalogue(paths.catalogue) as cat:
        assert [b.body for b in cat.bodies()] == [OLD]
        (old_acc,) = cat.accumulators()
        done = reidentify(paths, cat, et if reader == "exiftool" else None)
        assert [(m.status, m.old, m.new, m.photos) for m in done] == [(RENAMED, OLD, NEW, 10)]
        # its key drops the zero; read again, its label shows the serial as the camera writes it
        # (exifread alone reads a body with a serial no more: its values are re-normalised)
        shown = "NIKON D80 #03012345" if reader == "exiftool" else NEW.label
        assert done[0].line == f"re-identified {OLD.label} as {shown}: 10 photos"
        assert [b.body for b in cat.bodies()] == [NEW]
        (acc,) = cat.accumulators()
        assert acc.frames == old_acc.frames == 10
        assert not store.path_for(paths.accumulators, old_acc.key).exists()
        check_consistent(paths, cat)
        assert [(d.x, d.y, d.kind) for d in cat.defects()] == defects
        assert {e.body_key for e in cat.events_since(0)} == {NEW.key}
        (row,) = cat.events_since(0, types=[BodyMigrated])
        assert row.event.from_key == OLD.key and row.event.merged is False
        assert reidentify(paths, cat, et) == []
