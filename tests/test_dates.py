"""Every file dated, wherever it keeps its date; a file that keeps none dates no defect.

Real files are written with their shot facts (capture time, exposure, ISO) where some
writers put them: IFD0 (pidng, the DNG writer of Raspberry Pi camera software), an XMP
packet only, a maker note only exiftool decodes, or nowhere at all. exiftool, the
reference reader, is run on each to show the layout is what the test says it is.
Then whole simulated rolls (camsim) are scanned the way a user would.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from hotwatch.cli import main
from hotwatch.core.dating import UNDATED, frame_time, known_time
from hotwatch.io.exif import capture_order, capture_time, read_camera_file
from hotwatch.io.exiftool import ExifTool
from hotwatch.state.catalogue import Catalogue
from tests.support.cli import defects_json, hotwatch
from tests.support.exif_layouts import (
    DATE_TAGS,
    ascii_,
    camera_jpeg,
    canon,
    nikon_type3,
    rational,
    rewrite_dng_tags,
    short,
    write_dng,
    xmp_packet,
)

TAKEN = datetime(2024, 5, 6, 7, 8, 9, 420000, tzinfo=timezone(timedelta(hours=2)))


def facts(path: Path, tool: ExifTool | None = None) -> tuple:
    shot = read_camera_file(path, tool).shot
    return shot.taken_at, shot.exposure, shot.iso


def groups(meta: dict, name: str) -> set[str]:
    """The exiftool groups (IFD0, ExifIFD, XMP-exif...) in which a tag was found."""
    return {k.rpartition(":")[0] for k in meta if k.rpartition(":")[2].partition("#")[0] == name}


# --------------------------------------------------------------------- single files


@pytest.fixture(scope="module")
def dngs(roll, tmp_path_factory) -> dict[str, Path]:
    """One camsim DNG as written (EXIF IFD), as pidng writes it (IFD0, no DateTime) and
    with no date at all."""
    base = tmp_path_factory.mktemp("dngs")
    src = sorted(roll.folder.glob("*.DNG"))[7]
    out = {"normal": shutil.copy2(src, base / "normal.dng")}
    out["ifd0"] = rewrite_dng_tags(shutil.copy2(src, base / "ifd0.dng"), drop={0x0132})
    out["undated"] = rewrite_dng_tags(
        shutil.copy2(src, base / "undated.dng"), into_ifd0=False, drop=DATE_TAGS
    )
    return {k: Path(v) for k, v in out.items()}


def test_shot_facts_in_ifd0_are_read_like_those_in_the_exif_ifd(dngs, et):
    normal = facts(dngs["normal"])
    assert None not in normal and normal[0].microsecond and normal[0].tzinfo is not None
    meta = et.read(dngs["ifd0"])
    for tag in ("DateTimeOriginal", "ExposureTime", "ISO", "SubSecTimeOriginal"):
        assert groups(meta, tag) == {"IFD0"}, (tag, meta)  # where pidng writes them
    assert not groups(meta, "ModifyDate")
    assert facts(dngs["ifd0"]) == normal  # exifread alone
    assert facts(dngs["ifd0"], et) == normal
    assert capture_time(dngs["ifd0"]) == normal[0]


def test_a_jpeg_with_its_shot_facts_in_ifd0(tmp_path):
    path = camera_jpeg(
        tmp_path / "ifd0.jpg",
        "RaspberryPi",
        "PiDNG / PiCamera2",
        exif=[ascii_(0xA431, "77")],
        ifd0=[
            ascii_(0x9003, "2024:05:06 07:08:09"),
            ascii_(0x9291, "42"),
            ascii_(0x9011, "+02:00"),
            rational(0x829A, (1, 125)),
            short(0x8827, 640),
        ],
    )
    assert facts(path) == (TAKEN, 0.008, 640)


def test_shot_facts_in_xmp_only(tmp_path, et):
    packet = xmp_packet(
        {"exif:ISOSpeedRatings": "1600"},
        **{"exif:DateTimeOriginal": "2024-05-06T07:08:09.42+02:00", "exif:ExposureTime": "1/30"},
    )
    jpeg = camera_jpeg(
        tmp_path / "x.jpg", "FUJIFILM", "X-T5", exif=[ascii_(0xA431, "5")], xmp=packet
    )
    meta = et.read(jpeg)
    assert groups(meta, "DateTimeOriginal") == {"XMP-exif"} and groups(meta, "ISO") == {"XMP-exif"}
    want = (TAKEN, pytest.approx(1 / 30), 1600)
    assert facts(jpeg) == want
    assert facts(jpeg, et) == want
    assert capture_time(jpeg) == TAKEN

    # a DNG keeps its XMP in IFD0's tag 700, which exifread skips without maker notes
    other = xmp_packet(
        **{
            "xmp:CreateDate": "2024-05-06T07:08:09.42+02:00",
            "exif:ExposureTime": "2",
            "exifEX:PhotographicSensitivity": "100",
        }
    )
    dng = write_dng(
        tmp_path / "x.dng",
        "Canon",
        "Canon EOS R5",
        "9",
        extratags=[(700, "B", len(other), other, True)],
    )
    assert groups(et.read(dng), "CreateDate") == {"XMP-xmp"}
    assert facts(dng) == (TAKEN, 2.0, 100)
    assert facts(dng, et) == (TAKEN, 2.0, 100)


def test_a_capture_date_in_xmp_comes_before_the_file_write_time(tmp_path):
    packet = xmp_packet(**{"photoshop:DateCreated": "2024-05-06T07:08+02:00"})
    path = camera_jpeg(
        tmp_path / "edited.jpg",
        "Canon",
        "Canon EOS 6D",
        exif=[rational(0x829A, (1, 60)), short(0x8827, 200)],
        ifd0=[ascii_(0x0132, "2025:01:01 10:00:00")],  # when an editor wrote the file
        xmp=packet,
    )
    assert facts(path)[0] == TAKEN.replace(second=0, microsecond=0)


def test_iso_in_a_nikon_maker_note_is_read_by_exifread(tmp_path):
    path = camera_jpeg(
        tmp_path / "nikon.jpg",
        "NIKON CORPORATION",
        "NIKON D300",
        exif=[
            ascii_(0x9003, "2024:05:06 07:08:09"),
            rational(0x829A, (1, 250)),
            ascii_(0xA431, "3"),
        ],
        maker_note=nikon_type3([short(0x0002, 0, 400)]),
    )
    assert facts(path) == (datetime(2024, 5, 6, 7, 8, 9), 0.004, 400)


def test_exiftool_is_asked_for_what_only_it_can_read(tmp_path, et):
    """Canon keeps the ISO of some bodies only in its ShotInfo maker-note array (BaseISO,
    AutoISO): exifread has the body and its serial, exiftool the ISO."""
    shot_info = [68, 0, 224] + [0] * 31  # byte size, AutoISO (x1), BaseISO 224 = ISO 400
    path = camera_jpeg(
        tmp_path / "canon.jpg",
        "Canon",
        "Canon EOS 5D",
        exif=[
            ascii_(0x9003, "2024:05:06 07:08:09"),
            rational(0x829A, (1, 250)),
            ascii_(0xA431, "8"),
        ],
        maker_note=canon([short(0x0004, *shot_info)]),
    )
    assert facts(path) == (datetime(2024, 5, 6, 7, 8, 9), 0.004, None)
    assert facts(path, et) == (datetime(2024, 5, 6, 7, 8, 9), 0.004, 400)
    assert read_camera_file(path, et).shot.exposure_index == pytest.approx(1.6)


def test_a_file_with_no_date_anywhere(dngs, et):
    meta = et.read(dngs["undated"])
    assert not any(groups(meta, t) for t in ("DateTimeOriginal", "CreateDate", "ModifyDate"))
    for tool in (None, et):
        taken, exposure, iso = facts(dngs["undated"], tool)
        assert taken is None and exposure and iso  # the rest is still read
        assert capture_time(dngs["undated"], tool) is None
    os.utime(dngs["undated"], (1_700_000_000, 1_700_000_000))
    assert capture_order(dngs["undated"], et) == 1_700_000_000  # a place, not a date


def test_the_time_of_a_frame_that_keeps_no_date():
    assert frame_time(TAKEN, None) == TAKEN.timestamp()
    assert frame_time(TAKEN, 2e9) == TAKEN.timestamp()  # its own date, whatever came before
    assert frame_time(None, 1.7e9) == 1.7e9  # no later than the dated frames before it
    assert frame_time(None, None) == UNDATED
    assert known_time(frame_time(None, None)) is None  # dates nothing: "unknown"
    assert known_time(datetime.fromtimestamp(UNDATED, UTC)) is None
    assert known_time(1.7e9) == datetime.fromtimestamp(1.7e9, UTC)
    assert known_time(None) is None


# --------------------------------------------------------------------- whole rolls


def copy_dngs(roll, folder: Path, rewrite=None, *, undated_from: int | None = None) -> Path:
    """The roll's DNGs copied into ``folder`` the way a copy without ``-p`` leaves them:
    every file's time is now. ``rewrite(path, index)`` changes each copy."""
    folder.mkdir(parents=True)
    for i, src in enumerate(sorted(roll.folder.glob("*.DNG"))):
        dst = Path(shutil.copyfile(src, folder / src.name))
        if rewrite is not None:
            rewrite(dst, i)
    return folder


@pytest.fixture(scope="module")
def normal_home(roll, tmp_path_factory) -> Path:
    """The roll's DNGs as camsim writes them (EXIF IFD), scanned."""
    base = tmp_path_factory.mktemp("normal")
    folder = copy_dngs(roll, base / "card")
    hotwatch("scan", str(folder), home=base / "home")
    return base / "home"


def cameras(home: Path) -> list[dict]:
    return defects_json(home)["cameras"]


def test_a_roll_written_as_pidng_writes_scans_like_the_same_roll_written_normally(
    roll, normal_home, tmp_path
):
    folder = copy_dngs(roll, tmp_path / "pi", lambda p, _i: rewrite_dng_tags(p, drop={0x0132}))
    hotwatch("scan", str(folder), home=tmp_path / "home")
    got, want = cameras(tmp_path / "home"), cameras(normal_home)
    assert got == want  # positions, kinds, scores (exposure-aware), onsets, confirmations
    onsets = [d["onset"] for c in got for d in c["defects"]]
    assert onsets and all(o is not None and o <= roll.times[-1].isoformat() for o in onsets)
    with Catalogue(tmp_path / "home" / "catalogue.sqlite", readonly=True) as cat:
        assert cat.undated_count() == 0


def test_photos_without_a_date_never_make_an_onset_recent(roll, normal_home, tmp_path):
    """The roll's photos from the latest onset on keep no date (and every file's time is
    now): whatever they show is dated no later than the last dated photo."""
    want = {(d["x"], d["y"]): d for c in cameras(normal_home) for d in c["defects"]}
    latest = max(datetime.fromisoformat(d["onset"]) for d in want.values())
    last_dated = max(i for i, t in enumerate(roll.times) if t < latest)
    undated = len(roll.shots) - 1 - last_dated

    def strip(path: Path, i: int) -> None:
        if i > last_dated:
            rewrite_dng_tags(path, into_ifd0=False, drop=DATE_TAGS)

    folder = copy_dngs(roll, tmp_path / "card", strip)
    home = tmp_path / "home"
    out = hotwatch("scan", str(folder), home=home)
    assert f"{undated} of its photos keep no capture date: they date no defect" in out.stdout
    limit = roll.times[last_dated]
    found = [d for c in cameras(home) for d in c["defects"]]
    assert found
    emerging = 0
    for d in found:
        onset = datetime.fromisoformat(d["onset"])
        assert onset <= limit, d  # never later than real dated evidence
        normal = want.get((d["x"], d["y"]))
        if normal and datetime.fromisoformat(normal["onset"]) <= limit:
            assert onset == datetime.fromisoformat(normal["onset"]), (d, normal)
        else:
            emerging += abs((onset - limit).total_seconds()) < 1e-3  # EXIF keeps milliseconds
    assert emerging, "a defect that emerges in the undated photos is dated by the last dated one"
    with Catalogue(home / "catalogue.sqlite", readonly=True) as cat:
        rows = sorted(cat.files(status="ingested"), key=lambda f: f.path)
        assert [f.undated for f in rows] == [i > last_dated for i in range(len(rows))]
        assert all((f.taken_at is None) == f.undated for f in rows)


@pytest.fixture(scope="module")
def undated_home(roll, tmp_path_factory) -> Path:
    """The roll's DNGs with no date at all, scanned."""
    base = tmp_path_factory.mktemp("undated")
    folder = copy_dngs(
        roll, base / "card", lambda p, _i: rewrite_dng_tags(p, into_ifd0=False, drop=DATE_TAGS)
    )
    hotwatch("scan", str(folder), home=base / "home")
    return base / "home"


def test_a_body_whose_photos_keep_no_date_has_unknown_onsets(roll, undated_home, tmp_path):
    found = [d for c in cameras(undated_home) for d in c["defects"]]
    assert len(found) >= 5
    assert all(d["onset"] is None and d["confirmed"] is None for d in found)
    text = hotwatch("defects", home=undated_home).stdout
    assert text.count("onset unknown") == len(found)
    dcraw_map = hotwatch("export", "12345678", "--format", "dcraw", home=undated_home).stdout
    times = [int(line.split()[2]) for line in dcraw_map.splitlines()]
    assert times and set(times) == {0}  # dcraw: repair in every photo
    with Catalogue(undated_home / "catalogue.sqlite", readonly=True) as cat:
        assert cat.undated_count() == len(roll.shots)
        assert all(f.undated and f.taken_at is None for f in cat.files(status="ingested"))
    out = tmp_path / "report.html"
    assert main(["-q", "--home", str(undated_home), "report", "-o", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert f"{len(roll.shots)} photos had no capture date; they date no defect" in page


def test_capture_order_is_read_by_the_exif_layer(roll, dngs):
    """``scan`` and the daemon order files by the capture time ingest reads: subseconds
    included (a burst within one second keeps its order), IFD0 dates too."""
    paths = sorted(roll.folder.glob("*.DNG"))
    keys = [capture_order(p) for p in paths]
    assert keys == pytest.approx([s.taken_at.timestamp() for s in roll.shots], abs=1e-3)
    assert keys == sorted(keys)
    assert capture_order(dngs["ifd0"]) == capture_order(dngs["normal"])
