"""Camera body identity and shot facts (hotwatch.io.exif, hotwatch.io.exiftool), on real files.

Files are written here with each maker's tag layout (tests/exif_layouts.py);
exiftool, the reference reader, checks every layout. Which maker-note serials
exifread 3.5 exposes (asserted per maker below, so this table cannot rot):

=================  ===============================  ===================================
maker note          serial tag                       exifread
=================  ===============================  ===================================
Nikon type 3        0x001D SerialNumber, 0x00A0      yes: "MakerNote SerialNumber" and
                    ("NO= 20025585")                 (our rename) "MakerNote SerialNumber2";
                                                     WRONG bytes if a JFIF segment precedes
                                                     EXIF (re-saved JPEG) -> not trusted
Canon               0x000C SerialNumber (int32)      yes: "MakerNote SerialNumber"
Fujifilm            0x0010 InternalSerialNumber      yes: "MakerNote InternalSerialNumber"
Olympus (old)       0x0404 SerialNumber              yes: "MakerNote SerialNumber", but
                                                     hotwatch leaves Olympus notes to
                                                     exiftool (new ones are misparsed
                                                     as ~18,000 junk entries: 30 ms)
Olympus/OM (new)    Equipment 0x2010 -> 0x0101       no (header misparsed; OM make not seen)
Pentax "AOC\\0"      0x0229 SerialNumber              no (no Pentax decoder)
Sony                0x2031 SerialNumber              no (tag unknown to exifread; a
                                                     "SONY DSC " header is misparsed)
Panasonic           0x0025 InternalSerialNumber      no (no Panasonic decoder)
EXIF / IFD0         0xA431 BodySerialNumber          yes ("EXIF BodySerialNumber",
                                                     "Image BodySerialNumber")
DNG IFD0            0xC62F CameraSerialNumber        only as "Image Tag 0xC62F"
XMP                 aux:SerialNumber                 no (only in debug mode): own scan
=================  ===============================  ===================================
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import exifread
import pytest
from PIL import Image

from hotwatch.core.errors import UnreadableFile, UnsupportedFile
from hotwatch.core.model import BodyId, CameraFile
from hotwatch.io.exif import read_camera_file
from hotwatch.io.exif.names import normalise_make, normalise_model, normalise_serial
from hotwatch.io.exif.values import parse_datetime
from hotwatch.io.exiftool import ExifTool, ExifToolError
from tests.support.exif_layouts import (
    Entry,
    ascii_,
    camera_jpeg,
    canon,
    fujifilm,
    long_,
    nikon_type3,
    olympus_new,
    olympus_old,
    panasonic,
    pentax,
    rational,
    short,
    sony,
    undefined,
    write_dng,
    xmp_packet,
)


def exifread_tags(path: Path) -> dict:
    with path.open("rb") as fh:
        return dict(exifread.process_file(fh, details=True, extract_thumbnail=False))


def serial_keys(tags: dict) -> dict[str, str]:
    return {k: str(v) for k, v in tags.items() if "Serial" in k or k == "Image Tag 0xC62F"}


# -- per-maker layouts --------------------------------------------------------

FUJI_INTERNAL = "FF02B4510570     592D32313330160721389A0010122"

# name: (make, model, maker note, serial as exiftool reads it, exifread key or None)
MAKERS = {
    "nikon": (
        "NIKON CORPORATION",
        "NIKON D800",
        nikon_type3(
            [
                undefined(0x0001, b"0210"),
                ascii_(0x001D, "3012345"),
                ascii_(0x00A0, "NO= 20025585   "),
            ]
        ),
        "3012345",
        "MakerNote SerialNumber",
    ),
    "canon": (
        "Canon",
        "Canon EOS 5D Mark II",
        canon([long_(0x000C, 1234567890)]),
        "1234567890",
        "MakerNote SerialNumber",
    ),
    "fujifilm": (
        "FUJIFILM",
        "X-T2",
        fujifilm([undefined(0x0000, b"0130"), ascii_(0x0010, FUJI_INTERNAL)]),
        "FF02B4510570 592D32313330160721389A0010122",
        "MakerNote InternalSerialNumber",
    ),
    "olympus_old": (
        "OLYMPUS OPTICAL CO.,LTD",
        "C7070WZ",
        olympus_old([ascii_(0x0404, "A12345678")]),
        "A12345678",
        "MakerNote SerialNumber",
    ),
    "olympus_new": (
        "OLYMPUS IMAGING CORP.",
        "E-M5",
        olympus_new(
            [undefined(0x0000, b"0100")],
            [undefined(0x0000, b"0100"), ascii_(0x0101, "BHP212345".ljust(31))],
        ),
        "BHP212345",
        None,
    ),
    "om_system": (
        "OM Digital Solutions",
        "OM-1",
        olympus_new(
            [undefined(0x0000, b"0100")],
            [undefined(0x0000, b"0100"), ascii_(0x0101, "BJ9A01234".ljust(31))],
        ),
        "BJ9A01234",
        None,
    ),
    "pentax": (
        "RICOH IMAGING COMPANY, LTD.",
        "PENTAX K-3 Mark III",
        pentax([undefined(0x0000, b"\x0a\x00\x00\x00"), ascii_(0x0229, "1234567")]),
        "1234567",
        None,
    ),
    "sony": ("SONY", "ILCE-9", sony([ascii_(0x2031, "04030201")]), "1020304", None),
    "panasonic": (
        "Panasonic",
        "DC-G9",
        panasonic([undefined(0x0001, b"0440"), undefined(0x0025, b"F541102050123^\0\0")]),
        "F541102050123",
        None,
    ),
}


# Maker notes hotwatch lets exifread decode (see hotwatch.io.exif: the others cost
# ~30 ms of junk parsing in exifread, or hold no serial it can see).
DECODED_WITHOUT_EXIFTOOL = {"nikon", "canon", "fujifilm"}


@pytest.mark.parametrize("maker", sorted(MAKERS))
def test_maker_note_serial_per_maker(tmp_path, et, maker):
    make, model, note, serial, exifread_key = MAKERS[maker]
    path = camera_jpeg(tmp_path / f"{maker}.jpg", make, model, maker_note=note)

    # The layout is what the maker writes: exiftool (the reference) reads the serial.
    with_et = read_camera_file(path, et)
    assert with_et.body.serial == serial
    assert with_et.body.make == normalise_make(make, model)

    # What exifread exposes on its own.
    found = serial_keys(exifread_tags(path))
    alone = read_camera_file(path, None)
    if exifread_key is None:
        assert not found, found
        assert alone.body.serial is None
    else:
        assert exifread_key in found
        assert alone.body.serial == (serial if maker in DECODED_WITHOUT_EXIFTOOL else None)
    assert alone.body.make == with_et.body.make and alone.body.model == with_et.body.model


def test_nikon_0x00a0_is_second_choice(tmp_path, et):
    note = nikon_type3([undefined(0x0001, b"0210"), ascii_(0x00A0, "NO= 20025585   ")])
    path = camera_jpeg(tmp_path / "d70.jpg", "NIKON CORPORATION", "NIKON D70", maker_note=note)
    assert read_camera_file(path).body == BodyId("NIKON", "D70", "20025585")
    assert read_camera_file(path, et).body.serial == "20025585"


def test_nikon_jpeg_with_jfif_first_distrusts_exifread(tmp_path, et):
    """exifread shifts Nikon type-3 offsets by 18 when JFIF precedes EXIF: wrong serial."""
    _, _, note, _, _ = MAKERS["nikon"]
    path = camera_jpeg(
        tmp_path / "resaved.jpg", "NIKON CORPORATION", "NIKON D800", maker_note=note, jfif=True
    )
    assert exifread_tags(path)["MakerNote SerialNumber"].values != "3012345"  # the bug
    assert read_camera_file(path).body.serial is None  # no wrong key without exiftool
    assert read_camera_file(path, et).body.serial == "3012345"


def test_exif_body_serial_number(tmp_path, et):
    path = camera_jpeg(
        tmp_path / "r5.jpg",
        "Canon",
        "Canon EOS R5",
        exif=[ascii_(0x9003, "2024:05:06 07:08:09"), ascii_(0xA431, "012345678")],
        maker_note=canon([long_(0x000C, 999)]),  # EXIF BodySerialNumber outranks it
    )
    assert "EXIF BodySerialNumber" in exifread_tags(path)
    assert read_camera_file(path).body == BodyId("CANON", "EOS R5", "12345678")
    assert read_camera_file(path, et).body.serial == "12345678"


def test_ifd0_body_serial_number(tmp_path, et):
    path = camera_jpeg(
        tmp_path / "40d.jpg", "Canon", "Canon EOS 40D", ifd0=[ascii_(0xA431, "2270501234")]
    )
    assert "Image BodySerialNumber" in exifread_tags(path)
    assert read_camera_file(path).body == BodyId("CANON", "EOS 40D", "2270501234")
    assert read_camera_file(path, et).body.serial == "2270501234"


def test_dng_camera_serial_number_matches_jpeg_key(tmp_path, et):
    dng = write_dng(tmp_path / "x.dng", "Canon", "Canon EOS 5D", "012345678")
    jpg = camera_jpeg(
        tmp_path / "x.jpg", "Canon", "Canon EOS 5D", maker_note=canon([long_(0x000C, 12345678)])
    )
    assert "Image Tag 0xC62F" in exifread_tags(dng)
    got = read_camera_file(dng)
    assert got.body == BodyId("CANON", "EOS 5D", "12345678")
    assert got.body.key == read_camera_file(jpg).body.key
    assert read_camera_file(dng, et).body.key == got.body.key
    assert (got.shot.width, got.shot.height) == (8, 6)


def test_xmp_aux_serial_from_editor_export(tmp_path, et):
    path = camera_jpeg(
        tmp_path / "export.jpg",
        "NIKON CORPORATION",
        "NIKON Z 6",
        xmp=xmp_packet(**{"aux:SerialNumber": "6012345"}),
    )
    assert not serial_keys(exifread_tags(path))
    assert read_camera_file(path).body == BodyId("NIKON", "Z 6", "6012345")
    assert read_camera_file(path, et).body.serial == "6012345"


def test_exiftool_fills_make_model_and_serial_exifread_cannot_see(tmp_path, et):
    """A PNG whose identity is only in XMP written by exiftool itself."""
    path = tmp_path / "shot.png"
    Image.new("RGB", (8, 8)).save(path)
    subprocess.run(
        [
            "exiftool",
            "-q",
            "-overwrite_original",
            "-XMP-tiff:Make=Panasonic",
            "-XMP-tiff:Model=DC-S5",
            "-XMP-aux:SerialNumber=XS1234567_",
            "-XMP-exif:DateTimeOriginal=2023:03:04 05:06:07.25+01:00",
            "-XMP-exif:ExposureTime=1/50",
            str(path),
        ],
        check=True,
    )
    assert exifread_tags(path) == {}
    got = read_camera_file(path, et)
    assert got.body == BodyId("PANASONIC", "DC-S5", "XS1234567")
    assert got.shot.taken_at == datetime(
        2023, 3, 4, 5, 6, 7, 250000, tzinfo=timezone(timedelta(hours=1))
    )
    assert got.shot.exposure == pytest.approx(0.02)
    with pytest.raises(UnsupportedFile, match="no camera make/model"):
        read_camera_file(path, None)


def test_without_exiftool_on_path_the_exifread_result_holds(tmp_path, monkeypatch, et):
    _, _, note, serial, _ = MAKERS["pentax"]
    path = camera_jpeg(tmp_path / "k3.jpg", "PENTAX", "PENTAX K-3", maker_note=note)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert ExifTool.find() is None
    alone = read_camera_file(path, ExifTool.find())
    assert alone.body == BodyId("PENTAX", "K-3", None)
    monkeypatch.undo()
    assert read_camera_file(path, et).body == BodyId("PENTAX", "K-3", serial)


# -- normalisation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "brand"),
    [
        ("NIKON CORPORATION", "NIKON"),
        ("NIKON", "NIKON"),
        ("Nikon", "NIKON"),
        ("Canon", "CANON"),
        ("SONY", "SONY"),
        ("Sony", "SONY"),
        ("FUJIFILM", "FUJIFILM"),
        ("FUJI PHOTO FILM CO., LTD.", "FUJIFILM"),
        ("OLYMPUS IMAGING CORP.", "OLYMPUS"),
        ("OLYMPUS CORPORATION", "OLYMPUS"),
        ("OLYMPUS OPTICAL CO.,LTD", "OLYMPUS"),
        ("OM Digital Solutions", "OM SYSTEM"),
        ("PENTAX Corporation", "PENTAX"),
        ("PENTAX", "PENTAX"),
        ("Asahi Optical Co.,Ltd", "PENTAX"),
        ("RICOH IMAGING COMPANY, LTD.", "PENTAX"),
        ("Panasonic", "PANASONIC"),
        ("LEICA CAMERA AG", "LEICA"),
        ("Leica Camera AG", "LEICA"),
        ("SIGMA", "SIGMA"),
        ("EASTMAN KODAK COMPANY", "KODAK"),
        ("Apple", "APPLE"),
        ("SAMSUNG", "SAMSUNG"),
        ("Google", "GOOGLE"),
        ("Hasselblad", "HASSELBLAD"),
        ("Phase One A/S", "PHASE ONE"),
        ("KONICA MINOLTA", "KONICA MINOLTA"),
        ("Minolta Co., Ltd.", "MINOLTA"),
        ("CASIO COMPUTER CO.,LTD.", "CASIO"),
        ("SEIKO EPSON CORP.", "EPSON"),
        ("  Nikon\0\0", "NIKON"),
        ("Acme Imaging Co., Ltd.", "ACME"),
    ],
)
def test_normalise_make(raw, brand):
    assert normalise_make(raw) == brand


def test_ricoh_imaging_makes_pentax_and_ricoh_bodies():
    assert normalise_make("RICOH IMAGING COMPANY, LTD.", "PENTAX K-1 Mark II") == "PENTAX"
    assert normalise_make("RICOH IMAGING COMPANY, LTD.", "RICOH GR III") == "RICOH"
    assert normalise_make("RICOH", "GR DIGITAL") == "RICOH"


@pytest.mark.parametrize(
    ("make", "model", "expected"),
    [
        ("Canon", "Canon EOS 5D", "EOS 5D"),
        ("Canon", "Canon PowerShot  G7 X", "PowerShot G7 X"),
        ("NIKON CORPORATION", "NIKON D80", "D80"),
        ("NIKON CORPORATION", "NIKON Z 6_2", "Z 6_2"),
        ("PENTAX Corporation", "PENTAX K-5", "K-5"),
        ("RICOH IMAGING COMPANY, LTD.", "PENTAX K-3 Mark III", "K-3 Mark III"),
        ("EASTMAN KODAK COMPANY", "KODAK DCS Pro 14N DIGITAL CAMERA", "DCS Pro 14N DIGITAL CAMERA"),
        ("OM Digital Solutions", "OM-1", "OM-1"),
        ("SONY", "ILCE-7M3", "ILCE-7M3"),
        ("Canon", "Canon", "Canon"),  # nothing left: keep it
        ("FUJIFILM", "X-T2\0\0", "X-T2"),
        ("Leica Camera AG", "LEICA M9 Digital Camera", "M9 Digital Camera"),
    ],
)
def test_normalise_model(make, model, expected):
    assert normalise_model(make, model) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("NO= 20025585   ", "20025585"),
        ("no=3012345", "3012345"),
        ("BHP212345                      ", "BHP212345"),
        ("F541102050123^", "F541102050123"),
        ("F541102050123_", "F541102050123"),
        ("012345678", "12345678"),
        ("12345678", "12345678"),
        (12345678, "12345678"),
        (12345678.0, "12345678"),
        ("abc123\0\0junk", "ABC123"),
        (b"XY12\0\0", "XY12"),
        ([88, 89, 49, 50, 0, 0], "XY12"),
        ("0", None),
        (0, None),
        ("00000000", None),
        ("KFFFFFFF", None),
        ("", None),
        ("   ", None),
        (None, None),
        (b"\x01\x9f\x00\xa5\xff", None),
        ("\x01\x02abc", None),
        ("Ä123", None),
        (1.5, None),
        (float("nan"), None),
        ("FF02B4510570     592D3231", "FF02B4510570 592D3231"),
    ],
)
def test_normalise_serial(raw, expected):
    assert normalise_serial(raw, "ANY") == expected


# -- shot facts ----------------------------------------------------------------


def _shot_jpeg(tmp_path: Path, exif: list[Entry], ifd0: list[Entry] = ()) -> CameraFile:
    path = camera_jpeg(tmp_path / "shot.jpg", "Canon", "Canon EOS 6D", exif=exif, ifd0=ifd0)
    return read_camera_file(path)


def test_shot_facts_with_subseconds_and_offset(tmp_path):
    got = _shot_jpeg(
        tmp_path,
        [
            ascii_(0x9003, "2024:05:06 07:08:09"),
            ascii_(0x9291, "042"),
            ascii_(0x9011, "-05:30"),
            rational(0x829A, (1, 250)),
            short(0x8827, 800),
            long_(0xA002, 6000),
            long_(0xA003, 4000),
        ],
        ifd0=[short(0x0112, 6)],
    ).shot
    assert got.taken_at == datetime(
        2024, 5, 6, 7, 8, 9, 42000, tzinfo=timezone(-timedelta(hours=5, minutes=30))
    )
    assert got.exposure == pytest.approx(0.004)
    assert got.iso == 800
    assert got.orientation == 6
    assert (got.width, got.height) == (6000, 4000)
    assert got.exposure_index == pytest.approx(3.2)


def test_shot_naive_without_offset_and_date_fallbacks(tmp_path):
    got = _shot_jpeg(tmp_path, [ascii_(0x9003, "2024:05:06 07:08:09")]).shot
    assert got.taken_at == datetime(2024, 5, 6, 7, 8, 9) and got.taken_at.tzinfo is None
    digitized = _shot_jpeg(
        tmp_path, [ascii_(0x9003, "    :  :     :  :  "), ascii_(0x9004, "2020:01:02 03:04:05")]
    ).shot
    assert digitized.taken_at == datetime(2020, 1, 2, 3, 4, 5)
    modified = _shot_jpeg(
        tmp_path,
        [ascii_(0x9003, "0000:00:00 00:00:00"), rational(0x829A, (1, 60))],
        ifd0=[ascii_(0x0132, "2019:12:31 23:59:59")],
    ).shot
    assert modified.taken_at == datetime(2019, 12, 31, 23, 59, 59)


def test_old_nikon_two_number_iso(tmp_path):
    got = _shot_jpeg(tmp_path, [ascii_(0x9003, "2005:01:01 00:00:00"), short(0x8827, 0, 200)])
    assert got.shot.iso == 200


def test_missing_and_bad_shot_values_become_none(tmp_path):
    got = _shot_jpeg(
        tmp_path,
        [ascii_(0x9003, "garbage"), rational(0x829A, (1, 0)), short(0x8827, 0)],
        ifd0=[short(0x0112, 9)],
    ).shot
    assert (got.taken_at, got.exposure, got.iso) == (None, None, None)
    assert got.orientation == 1
    assert (got.width, got.height) == (None, None)


def test_parse_datetime_forms():
    assert parse_datetime("2024:01:02 03:04:05.5+02:00") == datetime(
        2024, 1, 2, 3, 4, 5, 500000, tzinfo=timezone(timedelta(hours=2))
    )
    assert parse_datetime("2024:02:30 00:00:00") is None
    assert parse_datetime("2024:01:02 03:04:05", "7", "+25:00").tzinfo is None
    assert parse_datetime(None) is None


# -- errors --------------------------------------------------------------------


def test_empty_file_is_unreadable(tmp_path, et):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    for tool in (None, et):
        with pytest.raises(UnreadableFile, match="empty"):
            read_camera_file(path, tool)


def test_non_image_is_unsupported(tmp_path, et):
    path = tmp_path / "notes.jpg"
    path.write_text("just some text, not a photo\n" * 20)
    for tool in (None, et):
        with pytest.raises(UnsupportedFile, match="not an image"):
            read_camera_file(path, tool)


def test_jpeg_without_exif_is_unsupported(tmp_path, et):
    path = tmp_path / "scan.jpg"
    Image.new("RGB", (8, 8)).save(path)
    for tool in (None, et):
        with pytest.raises(UnsupportedFile, match="no camera make/model"):
            read_camera_file(path, tool)


def test_truncated_files_are_unreadable(tmp_path, et):
    _, _, note, _, _ = MAKERS["canon"]
    whole = camera_jpeg(tmp_path / "whole.jpg", "Canon", "Canon EOS 5D", maker_note=note)
    data = whole.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[:40])  # inside the EXIF segment
    for tool in (None, et):
        with pytest.raises(UnreadableFile):
            read_camera_file(cut, tool)
    tif = write_dng(tmp_path / "x.dng", "Canon", "Canon EOS 5D", "1")
    cut_tif = tmp_path / "cut.dng"
    cut_tif.write_bytes(tif.read_bytes()[:12])
    for tool in (None, et):
        with pytest.raises(UnreadableFile):
            read_camera_file(cut_tif, tool)


def test_pixels_cut_short_but_metadata_whole_still_identifies(tmp_path):
    _, _, note, _, _ = MAKERS["canon"]
    whole = camera_jpeg(tmp_path / "whole.jpg", "Canon", "Canon EOS 5D", maker_note=note)
    part = tmp_path / "part.jpg"
    part.write_bytes(whole.read_bytes()[:-20])
    assert read_camera_file(part).body.serial == "1234567890"


def test_missing_file_is_unreadable(tmp_path):
    with pytest.raises(UnreadableFile):
        read_camera_file(tmp_path / "gone.jpg")


# -- the exiftool process --------------------------------------------------------


def test_exiftool_keeps_duplicate_tags_apart(tmp_path, et):
    _, _, note, _, _ = MAKERS["nikon"]
    path = camera_jpeg(tmp_path / "n.jpg", "NIKON CORPORATION", "NIKON D800", maker_note=note)
    meta = et.read(path)
    assert meta["Nikon:SerialNumber#0x001d"] == 3012345
    assert meta["Nikon:SerialNumber#0x00a0"].startswith("NO= 20025585")
    assert meta["IFD0:Make"] == "NIKON CORPORATION"


def test_exiftool_restarts_after_death_and_timeout(tmp_path):
    path = camera_jpeg(tmp_path / "a.jpg", "Canon", "Canon EOS 5D")
    tool = ExifTool.find(timeout=20)
    assert tool is not None
    with tool:
        assert tool.read(path)["IFD0:Model"] == "Canon EOS 5D"
        first = tool.pid
        assert first is not None
        os.kill(first, 9)
        assert tool.read(path)["IFD0:Model"] == "Canon EOS 5D"
        assert tool.pid not in (None, first)
        tool.timeout = 1e-6  # nothing answers that fast: the process is killed
        with pytest.raises(ExifToolError, match="timed out"):
            tool.read(path)
        assert tool.pid is None
        tool.timeout = 20
        assert tool.read(path)["IFD0:Model"] == "Canon EOS 5D"
        last = tool.pid
    assert tool.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(last, 0)


def test_exiftool_is_thread_safe(tmp_path, et):
    paths = [
        camera_jpeg(
            tmp_path / f"{i}.jpg", "Canon", f"Canon EOS {i}D", ifd0=[ascii_(0xA431, str(i))]
        )
        for i in range(1, 7)
    ]
    results: dict[int, str] = {}

    def work(i: int) -> None:
        for _ in range(5):
            results[i] = read_camera_file(paths[i], et).body.model
            assert et.read(paths[i])["IFD0:Model"] == f"Canon EOS {i + 1}D"

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(paths))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: f"EOS {i + 1}D" for i in range(len(paths))}


def test_exiftool_reads_odd_file_names(tmp_path, et):
    path = camera_jpeg(tmp_path / "-été 2024 ü.jpg", "SONY", "ILCE-7M3")
    assert et.read(path)["IFD0:Make"] == "SONY"
    with pytest.raises(ExifToolError):
        et.read(tmp_path / "two\nlines.jpg")


LIBRARY_USE = """
import sys
from pathlib import Path
from hotwatch.io.exif import read_camera_file
from hotwatch.io.exiftool import ExifTool
tool = ExifTool.find()
print(read_camera_file(Path(sys.argv[1]), tool).body.label)
print(tool.pid, flush=True)
"""


def test_an_exiftool_left_open_never_aborts_the_interpreter(tmp_path):
    """A library user who never closes the ExifTool: Python exits cleanly (no fatal error
    from a stream closed under the reader thread at shutdown) and the Perl process ends
    with it (its stdin closes)."""
    path = camera_jpeg(tmp_path / "p.jpg", "PENTAX Corporation", "PENTAX K10D")
    for _ in range(5):  # the abort came from a race: it showed in most runs, not all
        done = subprocess.run(
            [sys.executable, "-c", LIBRARY_USE, str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert "Fatal Python error" not in done.stderr
        label, pid = done.stdout.splitlines()
        assert label.startswith("PENTAX K10D")
        gone = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < gone:
            time.sleep(0.05)
        assert not Path(f"/proc/{pid}").exists()


def test_closing_an_exiftool_ends_its_process_and_reader(tmp_path):
    def readers() -> int:
        return sum(t.name == "exiftool-reader" for t in threading.enumerate())

    path = camera_jpeg(tmp_path / "a.jpg", "Canon", "Canon EOS 5D")
    before = readers()
    with ExifTool.find() as tool:  # type: ignore[union-attr]
        assert tool.read(path)["IFD0:Model"] == "Canon EOS 5D"
        pid = tool.pid
        assert readers() == before + 1
    assert tool.pid is None and not Path(f"/proc/{pid}").exists()
    assert readers() == before
