"""Serials as the camera shows them, and ``hotwatch identify``, on every real sample.

For each real file of ``../shared/data/camera-samples`` and ``digicam-s40``: the serial
hotwatch shows is the one exiftool prints for the tag hotwatch read it from (a separate plain
``exiftool`` run, with and without ``-n``); ``hotwatch identify --json`` names the same body
as exiftool, says where each part was read, and gives a reason for every file a scan would
skip. A Canon EOS D30 is made from real Canon files by the real exiftool (its serial written
as the camera's integer): hotwatch shows it as the camera and exiftool do.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from hotwatch.core.serial_display import display_serial
from hotwatch.io.exif import identify_file
from hotwatch.io.exif.names import normalise_make, normalise_model, normalise_serial
from hotwatch.state.catalogue import Catalogue
from tests.support.cli import hotwatch
from tests.support.shared_data import (
    CAMERA_SAMPLES,
    CAMERA_SAMPLES_ORIGIN,
    SHARED_DATA,
    shared_data,
    skip_module_without,
)

S40 = "digicam-s40"
S40_ORIGIN = "Canon PowerShot S40 raws from thorsted/digicam_corpus (CC0), see its SOURCES.md"
skip_module_without(CAMERA_SAMPLES, CAMERA_SAMPLES_ORIGIN)
skip_module_without(S40, S40_ORIGIN)


def samples() -> list[Path]:
    folders = [SHARED_DATA / CAMERA_SAMPLES, SHARED_DATA / S40]
    return sorted(p for f in folders if f.is_dir() for p in f.rglob("*") if _photo(p))


def _photo(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() not in (".md", ".txt")


@pytest.fixture(scope="module", autouse=True)
def _samples_are_there() -> None:
    shared_data(CAMERA_SAMPLES, CAMERA_SAMPLES_ORIGIN)


def exiftool_json(paths: list[Path], *args: str) -> dict[str, dict]:
    """exiftool's own reading of every tag (-a -G1), as numbers (``-n``) or as printed."""
    exe = shutil.which("exiftool")
    assert exe
    out = subprocess.run(
        [exe, "-j", "-a", "-G1", *args, *map(str, paths)], capture_output=True, check=False
    )
    return {Path(d["SourceFile"]).resolve().as_posix(): d for d in json.loads(out.stdout)}


@pytest.fixture(scope="module")
def printed() -> dict[str, dict]:
    return exiftool_json(samples())


@pytest.fixture(scope="module")
def numbers() -> dict[str, dict]:
    return exiftool_json(samples(), "-n")


def exiftool_tag(source: str) -> str:
    """The exiftool "Group:Tag" a serial source names ("exiftool Canon:SerialNumber"); for
    exifread's tag names, exiftool's name for the same tag."""
    if source.startswith("exiftool "):
        return source.split(" ", 1)[1].split("#")[0]
    return {
        "maker note (exifread) MakerNote SerialNumber": "MakerNotes:SerialNumber",
        "maker note (exifread) MakerNote SerialNumber2": "MakerNotes:SerialNumber",
        "exifread EXIF BodySerialNumber": "ExifIFD:SerialNumber",
        "exifread Image Tag 0xC62F": "IFD0:CameraSerialNumber",
        "xmp aux:SerialNumber": "XMP-aux:SerialNumber",
    }[source]


def exiftool_print(meta: dict, tag: str) -> list[str]:
    """What exiftool prints for the tag (every group that holds it, for "MakerNotes"), as
    the camera's label would read: exiftool's cosmetic "No= " prefix of Nikon's 0x00A0 and
    the CRW hyphen of an EOS D30 aside."""
    group, name = tag.split(":")
    hits = [
        str(v)
        for k, v in meta.items()
        if k.split(":")[-1] == name and (group == "MakerNotes" or k.split(":")[0] == group)
    ]
    return [h.removeprefix("No= ").strip() for h in hits]


@pytest.mark.parametrize("path", samples(), ids=lambda p: p.name)
def test_the_serial_shown_is_exiftools(path: Path, et, printed, numbers) -> None:
    found = identify_file(path, et)
    body = found.camera.body
    meta, raw = printed[path.resolve().as_posix()], numbers[path.resolve().as_posix()]
    make = next(v for k, v in raw.items() if k.endswith(":Make"))
    model = next(v for k, v in raw.items() if k.endswith(":Model"))
    assert (body.make, body.model) == (normalise_make(make, model), normalise_model(make, model))
    if body.serial is None:
        assert "serial" not in found.sources
        return
    tag = exiftool_tag(found.sources["serial"])
    shown = exiftool_print(meta, tag)
    internal = "Internal" in tag
    if internal and body.make in ("PANASONIC", "FUJIFILM"):
        # exiftool prints these decoded ("(F35) 2008:07:01 no. 0058"); hotwatch shows the
        # stored value, which the -n reading gives
        shown = [str(v).rstrip(" ^_") for k, v in raw.items() if k.endswith(tag.split(":")[1])]
    assert body.serial_shown in shown, (tag, shown)
    assert normalise_serial(body.serial_shown) in (body.serial, normalise_serial(body.serial))


@pytest.fixture(scope="module")
def d30(tmp_path_factory) -> Path:
    """Real Canon files made a Canon EOS D30's by the real exiftool: its maker-note serial
    written as the integer the camera writes (6566150, shown 006412550), in a JPEG and a CRW."""
    folder = tmp_path_factory.mktemp("d30")
    data = SHARED_DATA / CAMERA_SAMPLES / "exiftool"
    shutil.copy(data / "Canon.jpg", folder / "D30.jpg")
    shutil.copy(data / "CanonRaw.crw", folder / "D30.crw")
    for args in (
        ["-Model=Canon EOS D30", "-Canon:SerialNumber#=6566150", str(folder / "D30.jpg")],
        ["-CanonRaw:Model=Canon EOS D30", "-CanonRaw:SerialNumber#=6566150",
         str(folder / "D30.crw")],
    ):  # fmt: skip
        subprocess.run(["exiftool", "-q", "-overwrite_original", *args], check=True)
    return folder


def test_an_eos_d30_shows_the_serial_the_camera_prints(d30: Path, et) -> None:
    jpeg = exiftool_json([d30 / "D30.jpg"])[(d30 / "D30.jpg").resolve().as_posix()]
    crw = exiftool_json([d30 / "D30.crw"])[(d30 / "D30.crw").resolve().as_posix()]
    assert jpeg["Canon:SerialNumber"] == "006412550"  # exiftool's (and the camera's) form
    assert crw["CanonRaw:SerialNumber"] == "64-12550"  # CanonRaw.pm's old hyphenated form
    for name in ("D30.jpg", "D30.crw"):
        body = identify_file(d30 / name, et).camera.body
        assert (body.model, body.serial, body.serial_shown) == ("EOS D30", "6566150", "006412550")
        assert body.label == "CANON EOS D30 #006412550"


def test_display_rules() -> None:
    assert display_serial("CANON", "EOS 40D", "830512345") == "0830512345"
    assert display_serial("CANON", "EOS-1D Mark III", "500292") == "500292"
    assert display_serial("CANON", "EOS-1Ds", "1234") == "001234"
    assert display_serial("CANON", "EOS D30", "6566150") == "006412550"
    assert display_serial("CANON", "EOS R6", "93022004357", "093022004357") == "093022004357"
    assert display_serial("CANON", "EOS 350D DIGITAL", "12345678", "012345678") == "012345678"
    assert display_serial("CANON", "EOS M50", "613040000565") == "613040000565"  # > int32
    assert display_serial("SONY", "ILCE-9", "1234567") == "01234567"
    assert display_serial("LEICA", "M9", "123") == "0000123"
    assert display_serial("NIKON", "D70", "100005E5", "NO= 100005e5        ") == "100005e5"
    assert display_serial("SIGMA", "SD10", "2001234", "02001234") == "02001234"
    assert display_serial("PANASONIC", "DMC-LX3", "F350807010058", "F350807010058^") == (
        "F350807010058"
    )
    assert display_serial("NIKON", "D80", "3012345", "9999999") == "3012345"  # not its serial
    assert display_serial("NIKON", "D80", None, "x") is None


# --------------------------------------------------------------------------- identify


def test_identify_every_real_sample(tmp_path: Path, numbers: dict) -> None:
    """One JSON object per file: the body exiftool reads, where each part came from, and
    what a scan would do, with a reason for every file it would not ingest. No state."""
    paths = samples()
    home = tmp_path / "home"
    proc = hotwatch("identify", "--json", *map(str, paths), home=home)
    answers = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [Path(a["file"]) for a in answers] == [p.resolve() for p in paths]
    assert not home.exists() or not (home / "catalogue.sqlite").exists()  # changes no state
    for a in answers:
        meta = numbers[Path(a["file"]).resolve().as_posix()]
        make = next(v for k, v in meta.items() if k.endswith(":Make"))
        model = next(v for k, v in meta.items() if k.endswith(":Model"))
        body = a["body"]
        assert (body["make"], body["model"]) == (
            normalise_make(make, model),
            normalise_model(make, model),
        ), a["file"]
        assert body["key"] == f"{body['make']}|{body['model']}|{body['serial_key'] or ''}"
        assert {"make", "model"} <= set(a["sources"])
        assert (body["serial_key"] is None) == ("serial" not in a["sources"])
        assert a["action"] in ("ingest", "skip", "fail")
        if a["action"] == "ingest":
            assert a["frame"] and a["accumulator"]["slug"]
        else:
            assert a["reason"], a["file"]
        for fact in ("taken_at", "exposure", "iso"):
            assert (a[fact] is None) == (fact not in a["sources"]), (a["file"], fact)


def test_identify_says_what_a_scan_did_and_would_do(tmp_path: Path) -> None:
    """After a scan: unchanged files are said to be, a copy is a duplicate, and BODY takes
    the serial in either spelling."""
    data = SHARED_DATA / CAMERA_SAMPLES
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(data / "exiv2" / "Canon.HIF", photos / "R5.HIF")
    home = tmp_path / "home"
    hotwatch("scan", str(photos), home=home)
    copy = tmp_path / "copy.HIF"
    shutil.copy(photos / "R5.HIF", copy)
    proc = hotwatch("identify", str(photos / "R5.HIF"), str(copy), home=home)
    first, second = proc.stdout.splitlines()
    assert first.startswith("R5.HIF: CANON EOS R5 #023021000484 [key CANON|EOS R5|23021000484]")
    assert "serial: exiftool ExifIFD:SerialNumber" in first and "scan: unchanged" in first
    assert "scan: skip: same content as" in second
    with Catalogue(home / "catalogue.sqlite", readonly=True) as cat:
        for query in ("023021000484", "23021000484", "#023021000484", "canon eos r5 023021000484"):
            assert [b.key for b in cat.find_bodies(query)] == ["CANON|EOS R5|23021000484"], query
    text = hotwatch("cameras", home=home).stdout
    assert "CANON EOS R5 #023021000484" in text
    missing = hotwatch("identify", str(tmp_path / "nope.jpg"), home=home, check=False)
    assert missing.returncode == 1 and "no such file" in missing.stdout
