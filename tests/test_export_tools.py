"""``hotwatch export`` read by the real tools: dcraw ``-P`` and ``rawtherapee-cli``.

A simulated body (camsim, 320x240 RGGB DNGs with ActiveArea margins) is
scanned once; its maps are exported through the CLI and handed to dcraw 9.28
and RawTherapee 5.9, which develop two photos hotwatch never saw: one taken
after every defect's onset, one taken before the last defect appeared. The
same body is scanned again from DNGs that keep their dates in IFD0 (as pidng
writes them) and from DNGs that keep no date at all, the files' own times
being the time of the copy.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tifffile

from tests.support.cli import hotwatch
from tests.support.darktable import (
    SIM_DEFECTS,
    SIM_SHOTS,
    changed_far,
    residual,
    sim_camera,
    sim_shots,
    train_home,
)
from tests.support.exif_layouts import DATE_TAGS, rewrite_dng_tags

EARLY, LATE = 5, SIM_SHOTS + 1
ALL = {(x, y) for x, y, *_ in SIM_DEFECTS}
LATER_THAN_EARLY = {(x, y) for x, y, _k, _s, onset in SIM_DEFECTS if onset > EARLY}
BLACK, WHITE = 512, 16383  # camsim's 14-bit levels
RT_BORDER = 4  # rawtherapee-cli's output leaves out 4 px on each side of the raw area


@pytest.fixture(scope="module")
def body(tmp_path_factory):
    """(home, folder with shot5.dng and shot41.dng) for the scanned simulated body."""
    base = tmp_path_factory.mktemp("export")
    cams = train_home(base / "home", base / "roll", formats=("dng",))["cameras"]
    assert {(d["x"], d["y"]) for d in cams[0]["defects"]} == ALL
    photos = base / "photos"
    photos.mkdir()
    cam, shots = sim_camera(), sim_shots()
    for i in (EARLY, LATE):
        cam.write_dng(shots[i], photos / f"shot{i}.dng")
    return base / "home", photos


def dcraw(dng: Path, *extra: str) -> tuple[np.ndarray, str]:
    """dcraw's undemosaiced, unscaled photosites (-D -4) and its verbose log.

    dcraw compares the map's times with the EXIF time read as local time: TZ=UTC
    makes that deterministic here.
    """
    proc = subprocess.run(
        ["dcraw", "-v", *extra, "-D", "-4", "-T", "-c", str(dng)],
        capture_output=True,
        timeout=60,
        env={**os.environ, "TZ": "UTC"},
    )
    assert proc.returncode == 0, proc.stderr
    out = dng.parent / f"{dng.stem}{len(extra)}.tiff"
    out.write_bytes(proc.stdout)
    return tifffile.imread(out).astype(np.float64), proc.stderr.decode()


def mosaic_residual(raw: np.ndarray, x: int, y: int) -> float:
    """Photosite minus the median of its 8 same-colour neighbours, as a fraction of the range."""
    ring = raw[y - 2 : y + 3 : 2, x - 2 : x + 3 : 2].copy()
    ring[1, 1] = np.nan
    return float((raw[y, x] - np.nanmedian(ring)) / (WHITE - BLACK))


def dcraw_map(home: Path, out: Path) -> list[tuple[int, int, int]]:
    proc = hotwatch("export", "1001", "--format", "dcraw", "-o", str(out), home=home, check=False)
    assert proc.returncode == 0, proc.stderr
    return [tuple(int(v) for v in line.split()) for line in out.read_text().splitlines()]


def repaired(dng: Path, bad: Path) -> tuple[set[tuple[int, int]], np.ndarray, np.ndarray]:
    """The photosites dcraw -P changes in ``dng``, and the photo without and with the map."""
    plain, _ = dcraw(dng)
    fixed, log = dcraw(dng, "-P", str(bad))
    changed = {(int(x), int(y)) for y, x in np.argwhere(plain != fixed)}
    if changed:
        listed = log.split("Fixed dead pixels at:")[1].split("\n")[0]
        assert {(int(x), int(y)) for x, y in re.findall(r"(\d+),(\d+)", listed)} == changed
    return changed, plain, fixed


def test_dcraw_repairs_exported_defects_and_respects_onsets(body, tmp_path):
    home, photos = body
    bad = tmp_path / "deadpixels.txt"
    rows = dcraw_map(home, bad)
    assert {(c, r) for c, r, _t in rows} == ALL
    assert all(0 < t < 2**31 for _c, _r, t in rows)

    changed, plain, fixed = repaired(photos / f"shot{LATE}.dng", bad)
    assert plain.shape == (240, 320)  # the visible area: margins cut, as hotwatch counts
    for x, y in ALL:
        before, after = mosaic_residual(plain, x, y), mosaic_residual(fixed, x, y)
        assert abs(before) >= 0.03, (x, y, before)
        assert abs(after) <= 0.01, (x, y, before, after)
    assert changed == ALL  # nothing else touched

    # a photo taken before the last defect appeared: dcraw leaves that photosite alone
    changed, _, _ = repaired(photos / f"shot{EARLY}.dng", bad)
    assert changed == ALL - LATER_THAN_EARLY


def scan_rewritten(base: Path, rewrite) -> Path:
    """The body's roll as DNGs rewritten by ``rewrite(path)``, copied the way a copy
    without ``-p`` leaves them (every file's time is now), then scanned: its home."""
    roll = base / "roll"
    from hotwatch.sim import camsim

    for path in camsim.write_roll(sim_camera(), sim_shots()[:SIM_SHOTS], roll, ("dng",)):
        rewrite(path)
        os.utime(path)
    proc = hotwatch("scan", str(roll), home=base / "home", check=False)
    assert proc.returncode == 0, proc.stderr
    return base / "home"


def test_a_body_whose_dngs_keep_their_dates_in_ifd0_exports_the_same_map(body, tmp_path):
    """pidng writes DateTimeOriginal, ExposureTime and ISO in IFD0: read there, the map is
    the one of the same roll written normally, and dcraw applies it the same way."""
    home = scan_rewritten(tmp_path, lambda p: rewrite_dng_tags(p, drop={0x0132}))
    rows = dcraw_map(home, tmp_path / "pi.txt")
    assert rows == dcraw_map(body[0], tmp_path / "normal.txt")
    photos = body[1]
    assert repaired(photos / f"shot{LATE}.dng", tmp_path / "pi.txt")[0] == ALL
    assert repaired(photos / f"shot{EARLY}.dng", tmp_path / "pi.txt")[0] == ALL - LATER_THAN_EARLY


def test_a_body_whose_dngs_keep_no_date_is_repaired_in_every_photo(body, tmp_path):
    """No photo says when a defect appeared: every onset is unknown, which dcraw's map
    spells as time 0, so dcraw repairs each defect in every photo (the earliest too, and
    photos dcraw itself cannot date)."""
    drop = DATE_TAGS
    home = scan_rewritten(tmp_path, lambda p: rewrite_dng_tags(p, into_ifd0=False, drop=drop))
    bad = tmp_path / "undated.txt"
    rows = dcraw_map(home, bad)
    assert {(c, r) for c, r, _t in rows} == ALL and {t for _c, _r, t in rows} == {0}
    photos = body[1]
    assert repaired(photos / f"shot{EARLY}.dng", bad)[0] == ALL
    undated = tmp_path / "undated-shot.dng"
    undated.write_bytes((photos / f"shot{EARLY}.dng").read_bytes())
    rewrite_dng_tags(undated, into_ifd0=False, drop=drop)
    assert repaired(undated, bad)[0] == ALL


def rawtherapee(dng: Path, out: Path, darkframes: Path) -> tuple[np.ndarray, str]:
    """rawtherapee-cli with a private settings folder whose dark-frame folder is ``darkframes``.

    RawTherapee 5.9 reads ``<Make> <Model>[ <serial>].badpixels`` files from the
    dark-frame folder (options: [General] DarkFramesPath) and, verbose, says
    "Correcting N pixels from .badpixels".
    """
    settings = out.parent / f"rt-settings-{out.stem}"
    settings.mkdir()
    (settings / "options").write_text(
        f"[General]\nDarkFramesPath={darkframes}\nVerbose=true\n", encoding="utf-8"
    )
    proc = subprocess.run(
        ["rawtherapee-cli", "-o", str(out), "-t", "-b16", "-Y", "-q", "-c", str(dng)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "RT_SETTINGS": str(settings), "RT_CACHE": str(settings / "cache")},
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    return tifffile.imread(out).astype(np.float64) / 65535.0, log


def test_rawtherapee_loads_the_exported_badpixels(body, tmp_path):
    home, photos = body
    maps, empty = tmp_path / "darkframes", tmp_path / "none"
    maps.mkdir()
    empty.mkdir()
    proc = hotwatch(
        "export", "1001", "--format", "rawtherapee", "-o", str(maps), home=home, check=False
    )
    assert proc.returncode == 0, proc.stderr
    (written,) = maps.glob("*.badpixels")
    pairs = {tuple(int(v) for v in line.split()) for line in written.read_text().splitlines()}
    assert pairs == ALL

    dng = photos / f"shot{LATE}.dng"
    plain, _ = rawtherapee(dng, tmp_path / "plain.tif", empty)
    fixed, log = rawtherapee(dng, tmp_path / "fixed.tif", maps)
    assert f"{written.name} found" in log, log[-2000:]
    assert f"Correcting {len(ALL)} pixels from .badpixels" in log, log[-2000:]
    assert plain.shape[:2] == (240 - 2 * RT_BORDER, 320 - 2 * RT_BORDER)
    points = [(x - RT_BORDER, y - RT_BORDER) for x, y in ALL]
    for x, y in points:
        before, after = residual(plain, x, y), residual(fixed, x, y)
        assert abs(before) >= 0.05, (x, y, before)
        assert abs(after) <= 0.01, (x, y, before, after)
    assert changed_far(plain, fixed, points, reach=10, tol=1e-4) == []


def test_rawtherapee_grids_come_from_its_camconst(tmp_path):
    """RawTherapee 5.9's own camconst.json: all 274 entries read (comments and all), 100 with
    a raw_crop; the Canon EOS 5DS's grid starts 32 photosites right and down of LibRaw's
    visible area (LibRaw's margins 160, 64); a user's camconst.json entry wins."""
    from hotwatch.outputs import rawtherapee

    system = Path("/usr/share/rawtherapee/camconst.json")
    entries = rawtherapee._entries(system)
    assert len(entries) == 274
    assert sum(1 for e in entries if rawtherapee._is_crop(e.get("raw_crop"))) == 100
    grid = rawtherapee.grid("Canon EOS 5DS", 160, 64, (8736, 5856), [system])
    assert grid.offset == (32, 32) and grid.size == (8696, 5800)
    assert rawtherapee.grid("Canon EOS 40D", 30, 18, (3908, 2602), [system]).offset == (0, 0)
    assert rawtherapee.grid("Simulated HW-1", 8, 4, (320, 240), [system]).crop is None
    user = tmp_path / "camconst.json"
    user.write_text(
        '{"camera_constants": [ /* mine */ {"make_model": "canon eos 5ds", '
        '"raw_crop": [176, 80, -8, -4]} // url-like text "http://x" stays\n]}',
        encoding="utf-8",
    )
    mine = rawtherapee.grid("Canon EOS 5DS", 160, 64, (8736, 5856), [system, user])
    assert mine.offset == (16, 16) and mine.size == (8736 - 8 - 176, 5856 - 4 - 80)


def test_rawtherapee_finds_the_file_under_the_serial_as_the_camera_writes_it(tmp_path):
    """A Canon whose files write its serial with a leading zero (EXIF BodySerialNumber
    "012345678"): RawTherapee looks for "Canon EOS 5D 012345678.badpixels", and that is the
    file hotwatch writes (the key's "12345678" it would not find)."""
    from tests.support.rolls import make_roll

    roll = make_roll(tmp_path / "roll", n=3, seed=9, counts={"stuck": 1}, formats=("dng",))
    home, dark = tmp_path / "home", tmp_path / "dark"
    dark.mkdir()
    hotwatch("scan", str(roll.folder), home=home)
    hotwatch("export", "12345678", "--format", "rawtherapee", "-o", str(dark), home=home)
    (written,) = dark.glob("*.badpixels")
    assert written.name == "Canon EOS 5D 012345678.badpixels"
    written.write_text("10 10\n", encoding="utf-8")  # 3 photos confirm nothing: RT skips empty maps
    _, log = rawtherapee(roll.folder / "IMG_0000.DNG", tmp_path / "out.tif", dark)
    assert f"{written.name} found" in log, log[-2000:]
