"""Simulated X-Trans and Bayer raws with planted defects, through the real ``hotwatch`` CLI.

Each roll is a folder of camsim DNGs (rawpy/LibRaw reads them as it reads a camera's);
``hotwatch scan`` must report every hot, stuck and dead photosite at its exact position
(camsim.ground_truth, shifted by ``Camera.rawpy_origin`` where LibRaw keeps margins in
the visible image) and nothing else. X-Trans compares each photosite with same-colour
neighbours at X-Trans offsets (hotwatch.core.cfa); Bayer offsets there would flag every
green/red edge. A DNG whose 6x6 pattern LibRaw reports corrupt (X-Trans margins over
6 px, a LibRaw 0.22 quirk) is skipped with that reason, never accumulated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import rawpy

from hotwatch.core.errors import UnreadableFile, UnsupportedFile
from hotwatch.core.model import FileStatus
from hotwatch.io.frames import read_frame
from hotwatch.sim import camsim
from hotwatch.state.catalogue import Catalogue
from tests.support.cli import defects_json, hotwatch

N_SHOTS = 40
COUNTS = {"hot": 3, "stuck": 2, "dead": 2, "partial": 1}


@dataclass
class SimRoll:
    folder: Path
    camera: camsim.Camera
    truth: list[dict]


def _roll(folder: Path, cfa: str, width: int, height: int, margins=(0, 0, 0, 0), tag="activearea"):
    sensor = camsim.SensorSpec(width, height, cfa=cfa, margins=margins, margin_tag=tag)
    shots = camsim.plan_roll(N_SHOTS, seed=3)
    defects = camsim.plant_defects(sensor, COUNTS, late_fraction=0.0, seed=3, n_shots=N_SHOTS)
    cam = camsim.Camera(sensor, defects, make="FUJIFILM", model="X-T3", serial="0123", seed=3)
    camsim.write_roll(cam, shots, folder, formats=("dng",))
    return SimRoll(folder, cam, camsim.ground_truth(defects, shots))


def _found(home: Path) -> tuple[dict, set[tuple[int, int, str]]]:
    cams = defects_json(home)["cameras"]
    assert len(cams) == 1, cams
    return cams[0], {(d["x"], d["y"], d["kind"]) for d in cams[0]["defects"]}


def _expected(roll: SimRoll) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    """(must be found, may be found) positions in rawpy's visible coordinates."""
    ox, oy = roll.camera.rawpy_origin
    must = {(t["x"] + ox, t["y"] + oy) for t in roll.truth if t["kind"] != "partial"}
    # a partial defect adds a constant few DN: faint in bright frames, found or not
    may = {(t["x"] + ox, t["y"] + oy) for t in roll.truth}
    return must, may


@pytest.mark.parametrize(
    ("cfa", "width", "height", "margins"),
    [
        ("XTRANS", 324, 240, (0, 0, 0, 0)),
        ("XTRANS", 324, 240, (6, 6, 6, 6)),  # ActiveArea margins LibRaw crops off
        ("RGGB", 320, 240, (8, 4, 6, 2)),
        ("GBRG", 320, 240, (0, 0, 0, 0)),
    ],
)
def test_scan_finds_planted_defects_at_the_exact_photosite(
    tmp_path: Path, cfa: str, width: int, height: int, margins: tuple
) -> None:
    roll = _roll(tmp_path / "roll", cfa, width, height, margins)
    home = tmp_path / "home"
    hotwatch("scan", str(roll.folder), home=home)
    cam, found = _found(home)
    assert (cam["frame"], cam["width"], cam["height"]) == ("raw", width, height)
    assert (cam["make"], cam["model"], cam["serial"]) == ("FUJIFILM", "X-T3", "0123")
    must, may = _expected(roll)
    positions = {(x, y) for x, y, _ in found}
    assert must <= positions, f"missed {sorted(must - positions)}"
    assert positions <= may, f"false defects at {sorted(positions - may)}"
    kinds = {(t["x"], t["y"]): t["accepted_kinds"] for t in roll.truth}
    for x, y, kind in found:
        assert kind in kinds[(x, y)], (x, y, kind, kinds[(x, y)])


def test_xtrans_frame_has_the_xtrans_pattern_at_the_visible_origin(tmp_path: Path) -> None:
    roll = _roll(tmp_path / "roll", "XTRANS", 324, 240, (6, 6, 6, 6))
    frame = read_frame(next(roll.folder.glob("*.DNG")))
    assert frame.cfa is not None and frame.cfa.shape == (6, 6)
    assert np.array_equal(frame.cfa, camsim.XTRANS)
    assert (frame.width, frame.height) == (324, 240)
    assert (frame.left_margin, frame.top_margin) == (6, 6)


def test_defaultcrop_defects_sit_at_rawpy_origin_offset(tmp_path: Path) -> None:
    """LibRaw ignores DefaultCrop: the frame is the whole buffer, defects shifted by the margins.

    Only the planted positions are checked here: the optical-black border inside such a
    frame is a detection matter (see the report), not a decoding one.
    """
    roll = _roll(tmp_path / "roll", "RGGB", 320, 240, (8, 4, 6, 2), tag="defaultcrop")
    home = tmp_path / "home"
    hotwatch("scan", str(roll.folder), home=home)
    cam, found = _found(home)
    assert (cam["width"], cam["height"]) == (334, 246)
    ox, oy = roll.camera.rawpy_origin
    assert (ox, oy) == (8, 4)
    inner = {
        (t["x"] + ox, t["y"] + oy)
        for t in roll.truth
        if t["kind"] != "partial" and min(t["x"], t["y"], 320 - t["x"], 240 - t["y"]) > 16
    }
    assert inner and inner <= {(x, y) for x, y, _ in found}


def test_corrupt_xtrans_pattern_is_skipped_with_its_reason(tmp_path: Path) -> None:
    roll = _roll(tmp_path / "roll", "XTRANS", 324, 240, (12, 12, 6, 6))
    one = next(roll.folder.glob("*.DNG"))
    with rawpy.imread(str(one)) as raw:  # the LibRaw quirk this guards against is still there
        assert not np.array_equal(raw.raw_pattern, camsim.XTRANS)
    with pytest.raises(UnsupportedFile, match="corrupt"):
        read_frame(one)
    home = tmp_path / "home"
    proc = hotwatch("scan", str(roll.folder), home=home, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "no photo could be read" in out
    assert out.count("corrupt CFA pattern from LibRaw") == N_SHOTS
    with Catalogue(home / "catalogue.sqlite", readonly=True) as cat:
        assert cat.accumulators() == [] and cat.bodies() == []
        skipped = cat.files(status=FileStatus.SKIPPED)
        assert len(skipped) == N_SHOTS
        assert all("corrupt CFA pattern" in f.reason for f in skipped)


def test_raw_with_zeroed_bottom_rows_is_truncated(tmp_path: Path) -> None:
    """LibRaw fills what it could not read with zeros: such a frame must not be accumulated."""
    import tifffile

    roll = _roll(tmp_path / "roll", "RGGB", 320, 240)
    path = next(roll.folder.glob("*.DNG"))
    with tifffile.TiffFile(path) as tif:
        page = next(p for p in tif.pages if p.shape[:2] == (240, 320))
        offset, count = page.dataoffsets[-1], page.databytecounts[-1]
    data = bytearray(path.read_bytes())
    tail = 320 * 2 * 8  # the last eight rows of 16-bit photosites
    data[offset + count - tail : offset + count] = bytes(tail)
    path.write_bytes(bytes(data))
    with pytest.raises(UnreadableFile, match="truncated"):
        read_frame(path)
