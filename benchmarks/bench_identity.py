"""How much camera identity costs per file: exifread alone, exiftool, and both.

Generates a folder of 1,000 camera files (JPEGs with each maker's tag layout
and small DNGs, from tests/exif_layouts.py), then prints seconds per file for

- exifread alone (``read_camera_file(path, None)``),
- exiftool through the one ``-stay_open`` process (``ExifTool.read``, per file),
- exiftool as one batch command over the whole folder (for comparison),
- the combination hotwatch uses (``read_camera_file(path, exiftool)``: exifread
  first, exiftool only where exifread lacks make, model or serial).

Run: ``python -m benchmarks.bench_identity [N]`` from the repository root.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from hotwatch.io.exif import read_camera_file
from hotwatch.io.exiftool import ExifTool
from tests.support.exif_layouts import (
    ascii_,
    camera_jpeg,
    canon,
    fujifilm,
    long_,
    nikon_type3,
    olympus_new,
    panasonic,
    pentax,
    rational,
    short,
    sony,
    undefined,
    write_dng,
)

SHOT = [
    ascii_(0x9003, "2024:05:06 07:08:09"),
    ascii_(0x9291, "12"),
    rational(0x829A, (1, 125)),
    short(0x8827, 400),
]


def make_folder(folder: Path, n: int) -> list[Path]:
    """``n`` files cycling through the makers (about half need exiftool for the serial)."""
    kinds = [
        lambda p, i: camera_jpeg(
            p, "Canon", "Canon EOS 6D", SHOT, maker_note=canon([long_(0x000C, 1000 + i % 7)])
        ),
        lambda p, i: camera_jpeg(
            p,
            "NIKON CORPORATION",
            "NIKON D750",
            SHOT,
            maker_note=nikon_type3([undefined(1, b"0210"), ascii_(0x1D, f"{3000 + i % 5}")]),
        ),
        lambda p, i: camera_jpeg(
            p,
            "FUJIFILM",
            "X-T3",
            SHOT,
            maker_note=fujifilm([undefined(0, b"0130"), ascii_(0x10, f"FF02B45{i % 3} 592D3")]),
        ),
        lambda p, i: camera_jpeg(p, "SONY", "ILCE-7M3", [*SHOT, ascii_(0xA431, f"{5000 + i % 4}")]),
        lambda p, i: camera_jpeg(
            p,
            "PENTAX",
            "PENTAX K-1",
            SHOT,
            maker_note=pentax([undefined(0, b"\x0a\0\0\0"), ascii_(0x229, f"{7000 + i % 3}")]),
        ),
        lambda p, i: camera_jpeg(
            p,
            "Panasonic",
            "DC-G9",
            SHOT,
            maker_note=panasonic([undefined(1, b"0440"), undefined(0x25, b"F5411020501^\0\0\0\0")]),
        ),
        lambda p, i: camera_jpeg(
            p,
            "OLYMPUS CORPORATION",
            "E-M1MarkIII",
            SHOT,
            maker_note=olympus_new([undefined(0, b"0100")], [ascii_(0x101, "BHP9".ljust(31))]),
        ),
        lambda p, i: camera_jpeg(
            p, "SONY", "ILCE-9", SHOT, maker_note=sony([ascii_(0x2031, "04030201")])
        ),
    ]
    files = []
    for i in range(n):
        if i % 10 == 9:
            files.append(write_dng(folder / f"f{i:04d}.dng", "Canon", "Canon EOS 6D", "01001"))
        else:
            files.append(kinds[i % len(kinds)](folder / f"f{i:04d}.jpg", i))
    return files


def timed(label: str, n: int, fn) -> float:
    start = time.perf_counter()
    result = fn()
    per = (time.perf_counter() - start) / n
    print(f"{label:<48} {per * 1000:8.2f} ms/file  ({per:.5f} s)")
    return result


def main(n: int = 1000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        files = make_folder(folder, n)
        print(f"generated {n} files in {time.perf_counter() - t0:.1f} s")

        alone = timed(
            "exifread alone (read_camera_file, None)",
            n,
            lambda: [read_camera_file(p, None) for p in files],
        )
        tool = ExifTool.find()
        if tool is None:
            print("exiftool not on PATH: only exifread measured")
            return
        with tool:
            tool.read(files[0])  # start the process outside the timing
            timed(
                "exiftool -stay_open, one read() per file", n, lambda: [tool.read(p) for p in files]
            )
            both = timed(
                "combination (read_camera_file, exiftool)",
                n,
                lambda: [read_camera_file(p, tool) for p in files],
            )
        timed(
            "exiftool one batch command (-j -n, whole folder)",
            n,
            lambda: subprocess.run(
                ["exiftool", "-j", "-n", "-fast", "-Make", "-Model", "-SerialNumber", str(folder)],
                check=True,
                capture_output=True,
            ),
        )
    with_serial = sum(1 for c in alone if c.body.serial)
    print(
        f"serial found: exifread alone {with_serial}/{n}, "
        f"with exiftool {sum(1 for c in both if c.body.serial)}/{n}"
    )
    print("bodies:", len(Counter(c.body.key for c in both)))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
