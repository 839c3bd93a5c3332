"""What the simulated camera writes: a CFA DNG (through tifffile, uncompressed or in
lossless-JPEG tiles, with an EXIF IFD appended), the EXIF of its JPEGs, and whole rolls."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .specs import COLOR_MATRIX1, NEUTRAL, ShotSpec

if TYPE_CHECKING:
    from .camera import Camera


def exif_time(t: datetime) -> tuple[str, str, str]:
    """EXIF DateTime text, SubSec (milliseconds) and OffsetTime (+HH:MM) of an aware time."""
    stamp = t.strftime("%Y:%m:%d %H:%M:%S")
    subsec = f"{t.microsecond // 1000:03d}"
    off = t.utcoffset() or timedelta(0)
    minutes = int(off.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    offset = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return stamp, subsec, offset


def exposure_fraction(seconds: float) -> tuple[int, int]:
    """1/250 s -> (1, 250); 1.3 s -> (13, 10): the way cameras spell ExposureTime."""
    if seconds < 1:
        return 1, round(1 / seconds)
    frac = Fraction(seconds).limit_denominator(10)
    return frac.numerator, frac.denominator


_EXIF_PLACEHOLDER = 0xFFFFFFF0
_EXIF_STANDIN = 34664  # unassigned tag just below ExifIFD (34665), which tifffile refuses


def _rationals(values: Iterable[float], denominator: int = 10000) -> tuple[int, ...]:
    out: list[int] = []
    for v in values:
        out += [round(v * denominator), denominator]
    return tuple(out)


def write_dng_file(cam: Camera, shot: ShotSpec, full: np.ndarray, path: Path) -> None:
    """tifffile writes IFD0 (image + DNG tags); the EXIF IFD is appended and linked after.

    tifffile cannot write an EXIF sub-IFD and refuses tag 34665, so IFD0 gets a stand-in tag
    34664 (same sort position) holding a placeholder; the EXIF IFD is appended to the file and
    the stand-in entry is rewritten as ExifIFD (34665, LONG) pointing at it.
    """
    import tifffile  # a heavy import only the DNG writer needs

    s = cam.sensor
    stamp, _, _ = exif_time(shot.taken_at)
    pat = s.pattern
    left, top = s.margins[:2]
    unique = f"{cam.make} {cam.model}"
    tags: list[tuple[int, int | str, int, object, bool]] = [
        (271, "s", 0, cam.make, True),
        (272, "s", 0, cam.model, True),
        (274, "H", 1, shot.orientation, True),
        (306, "s", 0, stamp, True),
        (33421, "H", 2, (pat.shape[0], pat.shape[1]), True),
        (33422, "B", pat.size, tuple(int(v) for v in pat.ravel()), True),
        (_EXIF_STANDIN, "I", 1, _EXIF_PLACEHOLDER, True),
        (50706, "B", 4, (1, 4, 0, 0), True),
        (50707, "B", 4, (1, 1, 0, 0), True),
        (50708, "s", 0, unique, True),
        (50710, "B", 3, (0, 1, 2), True),
        (50711, "H", 1, 1, True),
        (50713, "H", 2, (1, 1), True),
        (50714, "I", 1, s.black_level, True),
        (50717, "I", 1, s.white_level, True),
        (50721, "2i", 9, _rationals(COLOR_MATRIX1.ravel()), True),
        (50728, "2I", 3, _rationals(NEUTRAL), True),
        (50778, "H", 1, 21, True),  # CalibrationIlluminant1 = D65
    ]
    if cam.serial is not None:
        tags.append((50735, "s", 0, cam.serial, True))
    if cam.dng_shot_tags == "ifd0":  # pidng's layout: no EXIF IFD at all
        tags = [t for t in tags if t[0] not in (_EXIF_STANDIN, 306)]
        tags += [
            (33434, "2I", 1, exposure_fraction(shot.exposure), True),
            (34855, "H", 1, int(min(shot.iso, 65535)), True),
            (36867, "s", 0, stamp, True),
        ]
    if any(s.margins):
        if s.margin_tag == "activearea":
            tags.append((50829, "I", 4, (top, left, top + s.height, left + s.width), True))
        else:
            tags.append((50719, "I", 2, (left, top), True))
            tags.append((50720, "I", 2, (s.width, s.height), True))
    tags.sort(key=lambda t: t[0])
    packing: dict[str, object] = {"compression": None}
    if cam.dng_compression == "ljpeg":  # lossless JPEG (SOF3) in 256x256 tiles
        packing = {
            "compression": "jpeg",
            "compressionargs": {"lossless": True, "bitspersample": s.bits},
            "tile": (256, 256),
        }
    tifffile.imwrite(
        path,
        full,
        photometric=32803,
        planarconfig=None,
        subfiletype=0,
        software="hotwatch camsim",
        metadata=None,
        extratags=tags,
        **packing,
    )
    if cam.dng_shot_tags == "exif":
        _append_exif_ifd(path, cam, shot)


def _ifd_bytes(entries: list[tuple[int, int, int, bytes]], base: int) -> bytes:
    """A little-endian classic TIFF IFD (entries: tag, type, count, packed value) at ``base``."""
    entries = sorted(entries)
    head = struct.pack("<H", len(entries))
    data_start = base + 2 + 12 * len(entries) + 4
    body, data = b"", b""
    for tag, typ, count, value in entries:
        if len(value) <= 4:
            body += struct.pack("<HHI", tag, typ, count) + value.ljust(4, b"\0")
        else:
            offset = data_start + len(data)
            body += struct.pack("<HHII", tag, typ, count, offset)
            data += value + (b"\0" if len(value) % 2 else b"")
    return head + body + struct.pack("<I", 0) + data


def _ascii(text: str) -> tuple[int, bytes]:
    raw = text.encode("ascii", "replace") + b"\0"
    return len(raw), raw


def _append_exif_ifd(path: Path, cam: Camera, shot: ShotSpec) -> None:
    stamp, subsec, offset = exif_time(shot.taken_at)
    num, den = exposure_fraction(shot.exposure)
    entries: list[tuple[int, int, int, bytes]] = [
        (33434, 5, 1, struct.pack("<II", num, den)),
        (34855, 3, 1, struct.pack("<H", int(min(shot.iso, 65535)))),
        (36864, 7, 4, b"0231"),
    ]
    for tag, text in ((36867, stamp), (36868, stamp), (36881, offset), (37521, subsec)):
        count, raw = _ascii(text)
        entries.append((tag, 2, count, raw))
    if cam.serial is not None:
        count, raw = _ascii(cam.serial)
        entries.append((42033, 2, count, raw))
    with open(path, "r+b") as f:
        header = f.read(8)
        if header[:4] != b"II*\0":
            raise ValueError("tifffile wrote an unexpected TIFF header")
        ifd0 = struct.unpack("<I", header[4:8])[0]
        f.seek(ifd0)
        (count,) = struct.unpack("<H", f.read(2))
        entry_pos = None
        for i in range(count):
            tag, _typ, _cnt, val = struct.unpack("<HHII", f.read(12))
            if tag == _EXIF_STANDIN and val == _EXIF_PLACEHOLDER:
                entry_pos = ifd0 + 2 + 12 * i
        if entry_pos is None:
            raise ValueError("ExifIFD placeholder not found in IFD0")
        end = f.seek(0, os.SEEK_END)
        end += end % 2  # IFDs start on a word boundary
        f.seek(end)
        f.write(_ifd_bytes(entries, end))
        f.seek(entry_pos)
        f.write(struct.pack("<HHII", 34665, 4, 1, end))


def write_roll(
    camera: Camera,
    shots: Sequence[ShotSpec],
    folder: str | os.PathLike[str],
    formats: Sequence[str] = ("jpeg", "dng"),
    *,
    prefix: str = "IMG_",
    set_mtime: bool = True,
) -> list[Path]:
    """Write every shot as ``IMG_0000.JPG`` / ``IMG_0000.DNG`` (RAW+JPEG pairs share a stem).

    Formats: ``jpeg`` (the L-size JPEG), ``jpeg-m`` (the M-size JPEG, ``camera.m_size``; named
    ``IMG_0000_M.JPG`` beside an L-size one), ``dng``. Each shot's raw is rendered once for
    all formats. With ``set_mtime`` the files' times are the capture times, as after a card
    import.
    """
    bad = set(formats) - {"jpeg", "jpeg-m", "dng"}
    if bad:
        raise ValueError(f"unknown formats: {sorted(bad)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for shot in shots:
        stem = folder / f"{prefix}{shot.index:04d}"
        written = []
        if "jpeg" in formats:
            written.append(camera.write_jpeg(shot, stem.with_suffix(".JPG")))
        if "jpeg-m" in formats:
            if camera.m_size is None:
                raise ValueError("format jpeg-m needs a camera with an m_size")
            m_stem = stem.with_name(stem.name + "_M") if "jpeg" in formats else stem
            written.append(camera.write_jpeg(shot, m_stem.with_suffix(".JPG"), size=camera.m_size))
        if "dng" in formats:
            written.append(camera.write_dng(shot, stem.with_suffix(".DNG")))
        if set_mtime:
            ts = shot.taken_at.timestamp()
            for p in written:
                os.utime(p, (ts, ts))
        paths += written
    return paths
