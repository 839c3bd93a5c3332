"""Real camera files, kept beside the repository (``../shared/data/camera-samples``, with
their sources and licences in its SOURCES.md; see ``tests/support/shared_data.py``).

Identity: for every file the body hotwatch reads (make, model, serial) is the one exiftool
reads, normalised the same way; the table names the exiftool tag that holds the serial, so
a wrong reading by either side fails. With exiftool hidden (not installed), hotwatch falls
back to exifread alone: the same make and model with the same serial or none (never a
different one), or a clear "needs exiftool" refusal for containers exifread cannot read.

Frames: each real file opens through ``read_frame`` with a plausible CFA and size, or is
refused with the reason that fits it (most samples are metadata-only: the collections strip
the pixels to keep the files small).

``python -m tests.test_real_cameras`` (from the repository root) prints the per-maker table
of serials found by hotwatch with and without exiftool against exiftool itself.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from hotwatch.core.errors import UnreadableFile, UnsupportedFile
from hotwatch.core.model import FrameKind
from hotwatch.io.exif import read_camera_file
from hotwatch.io.exif.names import normalise_make, normalise_model, normalise_serial
from hotwatch.io.exiftool import ExifTool
from hotwatch.io.frames import read_frame
from tests.support.cli import hotwatch, without_exiftool
from tests.support.shared_data import (
    CAMERA_SAMPLES,
    CAMERA_SAMPLES_ORIGIN,
    SHARED_DATA,
    shared_data,
    skip_module_without,
)

DATA = SHARED_DATA / CAMERA_SAMPLES

skip_module_without(CAMERA_SAMPLES, CAMERA_SAMPLES_ORIGIN)


@pytest.fixture(scope="module", autouse=True)
def _samples_are_there() -> None:
    """Under CI a missing folder fails each test with one line (see shared_data)."""
    shared_data(CAMERA_SAMPLES, CAMERA_SAMPLES_ORIGIN)


SAME = "same"  # exifread alone reads the same body, serial included
NO_SERIAL = "no serial"  # exifread alone reads make and model but not the serial
NEEDS_EXIFTOOL = "needs exiftool"  # exifread finds no make/model in this container


@dataclass(frozen=True)
class Sample:
    path: str
    maker: str  # the maker as users know it (table grouping)
    make: str
    model: str
    serial: str | None
    serial_tag: str | None  # exiftool "Group:Tag" that holds the serial
    fallback: str  # what exifread alone gives


SAMPLES: tuple[Sample, ...] = (
    Sample("exiftool/Canon.jpg", "Canon", "CANON", "EOS DIGITAL REBEL", "560018150",
           "Canon:SerialNumber", SAME),
    Sample("exiftool/Canon1DmkIII.jpg", "Canon", "CANON", "EOS-1D Mark III", "500292",
           "Canon:SerialNumber", SAME),
    Sample("exiftool/CanonRaw.cr2", "Canon", "CANON", "EOS 350D DIGITAL", "123456789",
           "Canon:SerialNumber", SAME),
    Sample("exiftool/CanonRaw.cr3", "Canon", "CANON", "EOS M50", "613040000565",
           "ExifIFD:SerialNumber", NEEDS_EXIFTOOL),
    Sample("exiv2/Canon-R6-pruned.CR3", "Canon", "CANON", "EOS R6", "93022004357",
           "ExifIFD:SerialNumber", NEEDS_EXIFTOOL),
    Sample("exiftool/CanonRaw.crw", "Canon", "CANON", "EOS DIGITAL REBEL", "560018150",
           "CanonRaw:SerialNumber", NEEDS_EXIFTOOL),
    Sample("exiv2/Canon.HIF", "Canon", "CANON", "EOS R5", "23021000484",
           "ExifIFD:SerialNumber", NEEDS_EXIFTOOL),
    # a DNG converted from a 350D raw: CameraSerialNumber "012345678" is the 350D's 12345678
    Sample("exiftool/DNG.dng", "Canon", "CANON", "EOS 350D DIGITAL", "12345678",
           "IFD0:CameraSerialNumber", SAME),
    Sample("exiftool/Nikon.nef", "Nikon", "NIKON", "D70", "12345678",
           "Nikon:SerialNumber", SAME),
    Sample("exiftool/NikonD70.jpg", "Nikon", "NIKON", "D70", "20025585",
           "Nikon:SerialNumber", NO_SERIAL),
    Sample("exiv2/exiv2-nikon-d70.jpg", "Nikon", "NIKON", "D70", "100005E5",
           "Nikon:SerialNumber", NO_SERIAL),
    Sample("exiftool/NikonD2Hs.jpg", "Nikon", "NIKON", "D2Hs", "3001006",
           "Nikon:SerialNumber", SAME),
    Sample("exiv2/Stonehenge.heic", "Nikon", "NIKON", "D5300", "2567806",
           "XMP-aux:SerialNumber", SAME),
    Sample("exiftool/Sony.jpg", "Sony", "SONY", "DSC-F828", None, None, SAME),
    # ILCE-1 InternalSerialNumber is six raw bytes (0 0 106 13 112 15): no serial
    Sample("exiv2/Sony.HIF", "Sony", "SONY", "ILCE-1", None, None, NEEDS_EXIFTOOL),
    Sample("exiftool/FujiFilm.jpg", "Fujifilm", "FUJIFILM", "FinePix2400Zoom", None, None,
           SAME),
    Sample("exiftool/FujiFilm.raf", "Fujifilm", "FUJIFILM", "FinePix S5Pro",
           "FPX20582698 592D313134360702198C0020100A84", "FujiFilm:InternalSerialNumber",
           NEEDS_EXIFTOOL),
    Sample("exiftool/OlympusE1.jpg", "Olympus/OM", "OLYMPUS", "E-1", "143008611",
           "Olympus:SerialNumber", NO_SERIAL),
    Sample("exiftool/Olympus2.jpg", "Olympus/OM", "OLYMPUS", "u760,S760", "C90500055",
           "Olympus:SerialNumber", NO_SERIAL),
    Sample("exiftool/Pentax.jpg", "Pentax/Ricoh", "PENTAX", "K10D", "132352",
           "Pentax:InternalSerialNumber", NO_SERIAL),
    Sample("exiftool/Ricoh2.jpg", "Pentax/Ricoh", "RICOH", "Caplio Pro G3",
           "12207000003100957", "Ricoh:InternalSerialNumber", NO_SERIAL),
    Sample("exiftool/Panasonic.jpg", "Panasonic", "PANASONIC", "DMC-FZ3", "S000407190102",
           "Panasonic:InternalSerialNumber", NO_SERIAL),
    Sample("exiv2/exiv2-panasonic-dmc-fz5.jpg", "Panasonic", "PANASONIC", "DMC-FZ5",
           "S000501110223", "Panasonic:InternalSerialNumber", NO_SERIAL),
    Sample("exiftool/Panasonic.rw2", "Panasonic", "PANASONIC", "DMC-LX3", "F350807010058",
           "Panasonic:InternalSerialNumber", NO_SERIAL),
    Sample("exiftool/Apple.jpg", "phone", "APPLE", "iPhone 7", None, None, SAME),
    Sample("exiv2/IMG_3578.heic", "phone", "APPLE", "iPhone XR", None, None, SAME),
    Sample("exiv2/IMG_1361.dng", "phone", "APPLE", "iPhone 12 Pro", None, None, SAME),
    Sample("exiftool/Google.jpg", "phone", "GOOGLE", "Pixel 8 Pro", None, None, SAME),
    Sample("exiftool/Motorola.jpg", "phone", "MOTOROLA", "XT1575", "NX0A3S0075",
           "Motorola:SerialNumber", NO_SERIAL),
    Sample("exiftool/GoPro.jpg", "other", "GOPRO", "HERO6 Black", "C3221324657219",
           "ExifIFD:SerialNumber", SAME),
    Sample("exiftool/Sigma.x3f", "other", "SIGMA", "SD10", "2001234",
           "SigmaRaw:SerialNumber", NEEDS_EXIFTOOL),
    Sample("exiftool/SigmaDP2.x3f", "other", "SIGMA", "DP2", "1008382",
           "SigmaRaw:SerialNumber", NEEDS_EXIFTOOL),
    Sample("exiftool/PhaseOne.iiq", "other", "LEAF", "Credo 40", "LD001055",
           "PhaseOne:SerialNumber", NO_SERIAL),
    Sample("exiftool/Minolta.mrw", "other", "KONICA MINOLTA", "DiMAGE A2", None, None,
           NEEDS_EXIFTOOL),
    Sample("exiftool/Kodak.jpg", "other", "KODAK", "DX4900 ZOOM DIGITAL CAMERA", None, None,
           SAME),
    Sample("rawpy/RAW_KODAK_DC50.KDC", "other", "KODAK", "Digital Science DC50 Zoom Camera",
           None, None, SAME),
)  # fmt: skip

SERIAL_TAGS = ("SerialNumber", "InternalSerialNumber", "CameraSerialNumber", "BodySerialNumber")


def exiftool_cli(paths: list[Path]) -> dict[str, dict]:
    """exiftool's own reading (a separate plain run, not hotwatch's -stay_open process)."""
    exe = shutil.which("exiftool")
    assert exe, "exiftool must be installed (Debian libimage-exiftool-perl)"
    args = [exe, "-j", "-n", "-a", "-G1", "-Make", "-Model"] + [f"-{t}" for t in SERIAL_TAGS]
    out = subprocess.run(args + [str(p) for p in paths], capture_output=True, check=False)
    return {Path(d["SourceFile"]).resolve().as_posix(): d for d in json.loads(out.stdout)}


def exiftool_body(meta: dict, sample: Sample) -> tuple[str, str, str | None]:
    """exiftool's make, model and the table's serial tag, normalised as hotwatch normalises."""
    make = next(v for k, v in meta.items() if k.endswith(":Make"))
    model = next(v for k, v in meta.items() if k.endswith(":Model"))
    serial = normalise_serial(meta[sample.serial_tag]) if sample.serial_tag else None
    return normalise_make(make, model), normalise_model(make, model), serial


@pytest.fixture(scope="module")
def reference() -> dict[str, dict]:
    return exiftool_cli([DATA / s.path for s in SAMPLES])


def _id(s: Sample) -> str:
    return s.path


@pytest.mark.parametrize("sample", SAMPLES, ids=_id)
def test_body_equals_exiftools_reading(sample: Sample, reference, et) -> None:
    path = DATA / sample.path
    meta = reference[path.resolve().as_posix()]
    expected = (sample.make, sample.model, sample.serial)
    assert exiftool_body(meta, sample) == expected
    if sample.serial is None:  # no tag exiftool knows holds a usable serial
        serials = {k: v for k, v in meta.items() if k.split(":")[-1] in SERIAL_TAGS}
        assert all(normalise_serial(v) is None for v in serials.values()), serials
    body = read_camera_file(path, et).body
    assert (body.make, body.model, body.serial) == expected


@pytest.mark.parametrize("sample", SAMPLES, ids=_id)
def test_without_exiftool_the_documented_fallback_holds(sample: Sample) -> None:
    path = DATA / sample.path
    if sample.fallback == NEEDS_EXIFTOOL:
        with pytest.raises(UnsupportedFile, match="needs exiftool, not found"):
            read_camera_file(path, None)
        return
    body = read_camera_file(path, None).body
    serial = sample.serial if sample.fallback == SAME else None
    assert (body.make, body.model, body.serial) == (sample.make, sample.model, serial)


@pytest.fixture(scope="module")
def frames_folder(tmp_path_factory) -> Path:
    """The real files with pixels (a Canon HIF, an iPhone HEIC, a Kodak raw) and a thumbnail."""
    folder = tmp_path_factory.mktemp("real")
    for rel in ("exiv2/Canon.HIF", "exiv2/IMG_3578.heic", "rawpy/RAW_KODAK_DC50.KDC",
                "exiftool/Canon.jpg"):  # fmt: skip
        shutil.copy(DATA / rel, folder / Path(rel).name)
    return folder


def test_cli_with_and_without_exiftool(frames_folder: Path, tmp_path: Path) -> None:
    with_home, without_home = tmp_path / "with", tmp_path / "without"
    hotwatch("scan", str(frames_folder), home=with_home)
    cams = json.loads(hotwatch("cameras", "--json", home=with_home).stdout)["cameras"]
    assert {c["label"] for c in cams} == {
        "CANON EOS R5 #023021000484",  # as the camera (and exiftool) shows it
        "APPLE iPhone XR (no serial)",
        "KODAK Digital Science DC50 Zoom Camera (no serial)",
    }

    env = without_exiftool()
    assert shutil.which("exiftool", path=env["PATH"]) is None
    scan = hotwatch("scan", str(frames_folder), home=without_home, env=env)
    assert "needs exiftool" in scan.stdout + scan.stderr  # the Canon HIF's reason
    cams = json.loads(hotwatch("cameras", "--json", home=without_home, env=env).stdout)["cameras"]
    assert {c["label"] for c in cams} == {
        "APPLE iPhone XR (no serial)",
        "KODAK Digital Science DC50 Zoom Camera (no serial)",
    }
    text = hotwatch("cameras", home=without_home, env=env).stdout
    assert text.count("installing exiftool") == 2


# --------------------------------------------------------------------------------------------
# frames
# --------------------------------------------------------------------------------------------

NO_PIXELS = "raw without pixel data"
FRAME_REFUSALS: dict[str, tuple[type[Exception], str]] = {
    "exiftool/CanonRaw.cr2": (UnsupportedFile, "not supported by LibRaw"),
    "exiftool/CanonRaw.cr3": (UnsupportedFile, NO_PIXELS),
    "exiv2/Canon-R6-pruned.CR3": (UnsupportedFile, NO_PIXELS),
    "exiftool/CanonRaw.crw": (UnsupportedFile, NO_PIXELS),
    "exiftool/DNG.dng": (UnsupportedFile, NO_PIXELS),
    "exiftool/Nikon.nef": (UnsupportedFile, NO_PIXELS),
    "exiftool/FujiFilm.raf": (UnsupportedFile, NO_PIXELS),
    "exiftool/Panasonic.rw2": (UnsupportedFile, NO_PIXELS),  # LibRaw alone returns junk here
    "exiftool/PhaseOne.iiq": (UnsupportedFile, NO_PIXELS),
    "exiftool/Minolta.mrw": (UnsupportedFile, NO_PIXELS),
    "exiftool/Sigma.x3f": (UnsupportedFile, NO_PIXELS),
    "exiftool/SigmaDP2.x3f": (UnsupportedFile, NO_PIXELS),
    "exiv2/IMG_1361.dng": (UnsupportedFile, NO_PIXELS),
    "exiftool/Canon.jpg": (UnsupportedFile, "8x8 is too small"),
    "exiftool/NikonD70.jpg": (UnsupportedFile, "71x47 is too small"),
    "exiv2/exiv2-nikon-d70.jpg": (UnsupportedFile, "150x91 is too small"),
    "exiv2/Stonehenge.heic": (UnsupportedFile, "300x200 is too small"),
}


@pytest.mark.parametrize("rel", sorted(FRAME_REFUSALS))
def test_unusable_real_files_are_refused_with_their_reason(rel: str) -> None:
    error, reason = FRAME_REFUSALS[rel]
    with pytest.raises(error, match=reason):
        read_frame(DATA / rel)


def test_real_kodak_raw_opens_with_a_bayer_pattern() -> None:
    frame = read_frame(DATA / "rawpy/RAW_KODAK_DC50.KDC")
    assert frame.kind is FrameKind.RAW and (frame.width, frame.height) == (768, 512)
    assert frame.cfa is not None and frame.cfa.shape == (2, 2)
    assert sorted(frame.cfa.ravel().tolist()) == [0, 1, 1, 2]
    assert frame.white == 16383 and float(np.min(frame.black)) < frame.white
    assert frame.data.dtype == np.uint16 and frame.data.std() > 0
    assert int(frame.data.max()) <= frame.white


@pytest.mark.parametrize(
    ("rel", "size"), [("exiv2/Canon.HIF", (2400, 1600)), ("exiv2/IMG_3578.heic", (4032, 3024))]
)
def test_real_heif_opens_like_a_jpeg(rel: str, size: tuple[int, int]) -> None:
    frame = read_frame(DATA / rel)
    assert frame.kind is FrameKind.JPEG and frame.cfa is None
    assert (frame.width, frame.height) == size and frame.data.shape[2] == 3


def test_truncated_real_raw_fails(tmp_path: Path) -> None:
    data = (DATA / "rawpy/RAW_KODAK_DC50.KDC").read_bytes()
    cut = tmp_path / "cut.KDC"
    cut.write_bytes(data[: len(data) * 4 // 5])
    with pytest.raises(UnreadableFile, match="damaged or truncated"):
        read_frame(cut)


# --------------------------------------------------------------------------------------------
# the per-maker table (python -m tests.test_real_cameras)
# --------------------------------------------------------------------------------------------


def serial_table() -> str:
    """Serials found per maker: exiftool, hotwatch (with exiftool), exifread alone."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    ref = exiftool_cli([DATA / s.path for s in SAMPLES])
    with ExifTool.find() as et:  # type: ignore[union-attr]
        for s in SAMPLES:
            path = DATA / s.path
            row = counts[s.maker]
            row[0] += 1
            row[1] += exiftool_body(ref[path.resolve().as_posix()], s)[2] is not None
            row[2] += read_camera_file(path, et).body.serial is not None
            with contextlib.suppress(UnsupportedFile):
                row[3] += read_camera_file(path, None).body.serial is not None
    lines = [
        "| maker | files | serial: exiftool | hotwatch | exifread alone |",
        "|---|---|---|---|---|",
    ]
    total = [0, 0, 0, 0]
    for maker, row in counts.items():
        lines.append(f"| {maker} | " + " | ".join(map(str, row)) + " |")
        total = [a + b for a, b in zip(total, row, strict=True)]
    lines.append("| **all** | " + " | ".join(map(str, total)) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(serial_table())
