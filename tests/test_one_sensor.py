"""One body, one sensor: a simulated RAW+JPEG roll whose JPEGs are a crop of the photosites
(10 and 6 photosites in) and, for its last shots, M size (the crop scaled by 2/3).

Scanned once with ``hotwatch scan``; then each planted defect must be one entry (at its
photosite, with its position in each JPEG size), the JPEG <-> raw maps must be learned within
the first pairs, the tray must announce each defect once, darktable (darktable-cli renders)
must heal each at the right pixel in a raw, an L-size and an M-size JPEG, and the exports
must repair the right photosites in the real dcraw and RawTherapee, RawTherapee with a
camconst.json raw_crop that moves its grid off LibRaw's.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import tifffile

from hotwatch.core.frame_map import MAX_PAIRS, FrameMap
from hotwatch.core.model import FrameKind
from hotwatch.darktable.heal import SidecarTarget, defects_applicable, heal_shapes, patch_mismatch
from hotwatch.darktable.xmp import patch_sidecar
from hotwatch.desktop.announce import STATE_KEY, Announcer
from hotwatch.io.exif import read_camera_file
from hotwatch.io.frames import read_frame
from hotwatch.sim import camsim
from hotwatch.state import sensors
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.rows import KNOWN
from tests.support.cli import hotwatch
from tests.support.darktable import render, residual

CROP = (10, 6, 624, 464)  # left, top, width, height of the photosites the JPEGs keep
M_SIZE = (416, 309)
#: (x, y, camsim kind, strength, onset index): strong, confirmed within the roll; the last
#: appears at shot 30, when the camera writes M-size JPEGs only: no JPEG confirms it
PLANTED = [
    (41, 50, "stuck", 1.0, 0),
    (121, 101, "stuck", 0.6, 0),
    (200, 150, "dead", 0.0, 0),
    (263, 61, "stuck", 1.0, 30),
]
SHOTS, L_SHOTS = 40, 24  # shots 0-23: RAW + L JPEG; 24-39: RAW + M JPEG
TRUTH = {(x, y) for x, y, *_ in PLANTED}
L, M = ("jpeg", *CROP[2:]), ("jpeg", *M_SIZE)


def camera() -> camsim.Camera:
    sensor = camsim.SensorSpec(width=640, height=480, cfa="RGGB", margins=(8, 4, 8, 4))
    planted = [camsim.PlantedDefect(x, y, k, s, onset) for x, y, k, s, onset in PLANTED]
    return camsim.Camera(
        sensor, planted, "Simulated", "HW-1", "1001", seed=1, jpeg_crop=CROP, m_size=M_SIZE
    )


def shots() -> list[camsim.ShotSpec]:
    return camsim.plan_roll(
        SHOTS, seed=3, bursts=False, timelapses=False, night=False, specials=False,
        portrait=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def roll(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("one-sensor")
    cam, plan = camera(), shots()
    camsim.write_roll(cam, plan[:L_SHOTS], base / "roll", ("jpeg", "dng"))
    camsim.write_roll(cam, plan[L_SHOTS:], base / "roll", ("jpeg-m", "dng"))
    scan = hotwatch("scan", str(base / "roll"), home=base / "home", check=False)
    assert scan.returncode == 0, scan.stderr
    cat = Catalogue(base / "home" / "catalogue.sqlite", readonly=True)
    (body,) = cat.bodies()
    yield {"base": base, "home": base / "home", "cat": cat, "body": body, "scan": scan}
    cat.close()


def geometry_map(cat: Catalogue, body_key: str, size: tuple[int, int]):
    return next(m for m in cat.frame_maps(body_key) if m.jpeg_size == size)


def test_one_entry_per_planted_defect(roll: dict) -> None:
    view = sensors.sensor_view(roll["cat"], roll["body"])
    assert view.unified and view.sensor.label == "raw 640x480"
    assert sorted(d.photosite for d in view.defects) == sorted(TRUTH)
    cam = camera()
    for d in view.defects:
        assert d.exact
        for g, (x, y) in d.positions.items():
            if g.kind is FrameKind.JPEG:
                m, n = cam.jpeg_map((g.width, g.height)).to_jpeg(*d.photosite)
                assert abs(x - m) <= 1 and abs(y - n) <= 1, (d.photosite, g.label, (x, y))
    # the JPEG accumulators found the first three, at their own (cropped) coordinates
    rows = roll["cat"].defects(body_key=roll["body"].key)
    jpeg_l = {(r.x, r.y) for r in rows if (r.frame_kind, r.width, r.height) == L}
    assert len(jpeg_l) == 3 and not jpeg_l & TRUTH  # never the photosites' coordinates
    late = next(d for d in view.defects if d.photosite == (263, 61))
    assert [g.label for g in late.shown_in] == ["raw 640x480"]
    assert {g.label for g in late.positions} == {"raw 640x480", "jpeg 624x464", "jpeg 416x309"}


def test_the_maps_are_learned_within_the_first_pairs(roll: dict) -> None:
    cat, key = roll["cat"], roll["body"].key
    cam = camera()
    for size in (CROP[2:], M_SIZE):
        row = geometry_map(cat, key, size)
        assert row.status == KNOWN and row.source == "registration"
        assert row.attempts <= MAX_PAIRS and row.attempts <= 5, row
        truth = cam.jpeg_map(size)
        assert row.map.corner_distance(truth, 640, 480) < 0.25, (row.map, truth)
    assert geometry_map(cat, key, CROP[2:]).map == FrameMap(1.0, -10.0, 1.0, -6.0)  # snapped
    assert "learned where its JPEG 624x464 sits on its raw 640x480" in roll["scan"].stderr


def test_each_defect_is_announced_once(roll: dict, tmp_path: Path) -> None:
    """The tray's announcer, from before the first event: one notification per planted
    defect, told at its photosite with its JPEG positions."""
    cat = Catalogue(roll["home"] / "catalogue.sqlite")
    try:
        cat.set_state(STATE_KEY, "0")
        sent = []
        Announcer(cat, sent.append, burst=100).poll()
    finally:
        cat.close()
    assert len(sent) == len(PLANTED)
    for x, y, kind, *_ in PLANTED:
        (note,) = [n for n in sent if f" at {x},{y}," in n.summary]
        assert f"new {kind} pixel" in note.summary and "in JPEG 624x464" in note.body
    # the scan said so once each too
    news = [ln for ln in roll["scan"].stdout.splitlines() if ln.strip().startswith("NEW ")]
    assert len(news) == len(PLANTED)


def test_defects_json_lists_the_body_once(roll: dict) -> None:
    doc = json.loads(hotwatch("defects", "--json", home=roll["home"]).stdout)
    (body,) = doc["bodies"]
    assert body["unified"] and body["sensor"] == "raw 640x480" and body["note"] == ""
    assert {(d["photosite"]["x"], d["photosite"]["y"]) for d in body["defects"]} == TRUTH
    assert len(doc["cameras"]) == 3  # the per-accumulator lists stay beside it
    maps = {(g["width"], g["height"]): g.get("map") for g in body["geometries"]}
    assert maps[CROP[2:]]["crop_origin"] == [10.0, 6.0]
    text = hotwatch("defects", "1001", home=roll["home"]).stdout
    assert text.count("photosite ") == len(PLANTED)


# --------------------------------------------------------------------------- darktable


def photo(cam: camsim.Camera, folder: Path, kind: str) -> Path:
    """A smooth sky, exposed mid-grey, after every onset: a DNG, an L- or an M-size JPEG."""
    last = shots()[-1]
    later = last.taken_at + timedelta(days=1)
    shot = replace(last, index=99, scene="sky", taken_at=later, brightness=0.1, iso=100)
    if kind == "raw":
        return cam.write_dng(shot, folder / "sky.dng")
    size = M_SIZE if kind == "m" else None
    return cam.write_jpeg(shot, folder / f"sky-{kind}.jpg", size=size)


def heal(cat: Catalogue, body, path: Path, out: Path, configdir: Path) -> tuple:
    """What the darktable bridge does with a photo (with ``defects_for_geometry``): its
    defects where they sit in this photo, healed in a sidecar; the render with and without."""
    frame = read_frame(path)
    taken = read_camera_file(path).shot.taken_at
    defects = sensors.defects_for_geometry(cat, body, frame.kind, frame.width, frame.height)
    points = [(d.x, d.y) for d in defects_applicable(defects, taken)]
    if frame.kind is FrameKind.RAW:
        target = SidecarTarget.raw(
            frame.raw_width, frame.raw_height, frame.width, frame.height,
            frame.left_margin, frame.top_margin,
        )  # fmt: skip
    else:
        target = SidecarTarget.jpeg(frame.width, frame.height)
    shapes = heal_shapes(points, target, patch_mismatch(frame.data))
    kind = frame.kind.value
    xmp = out / f"{path.name}.xmp"
    xmp.write_text(patch_sidecar(None, shapes, kind, path.name), encoding="utf-8")
    base = out / f"{path.name}.base.xmp"
    base.write_text(patch_sidecar(None, [], kind, path.name, keep_empty=True), encoding="utf-8")
    healed, _, _ = render(path, xmp, out / f"{path.stem}-healed.tif", configdir)
    plain, _, _ = render(path, base, out / f"{path.stem}-base.tif", configdir)
    return points, healed, plain


@pytest.mark.parametrize("kind", ["raw", "l", "m"])
def test_darktable_heals_each_defect_at_its_pixel(roll: dict, tmp_path: Path, kind: str) -> None:
    """In a raw, every defect at its photosite; in an L- and an M-size JPEG, every defect at
    the pixel its photosite maps to, the late one too, which no JPEG confirmed."""
    cam = camera()
    path = photo(cam, tmp_path, kind)
    points, healed, plain = heal(roll["cat"], roll["body"], path, tmp_path, tmp_path / "dt")
    if kind == "raw":
        expected = TRUTH
    else:
        fmap = cam.jpeg_map(M_SIZE if kind == "m" else None)
        expected = {tuple(round(v) for v in fmap.to_jpeg(x, y)) for x, y in TRUTH}
    assert set(points) == expected
    for x, y in points:
        before, after = strongest(plain, x, y), strongest(healed, x, y)
        assert abs(before) >= 0.05, (kind, (x, y), before)
        assert abs(after) <= abs(before) / 4 and abs(after) <= 0.03, (kind, (x, y), before, after)


def strongest(img: np.ndarray, x: int, y: int) -> float:
    """The residual (as ``residual`` measures it) of the channel where (x, y) stands out most:
    one bad green photosite is a green spike (and a magenta ring) after demosaicing, which a
    mean over the channels hides."""
    values = [residual(img[..., c : c + 1], x, y) for c in range(3)]
    return max(values, key=abs)


# --------------------------------------------------------------------------- exports


def test_dcraw_repairs_each_photosite_once(roll: dict, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    hotwatch("export", "1001", "--format", "dcraw", "-o", str(bad), home=roll["home"])
    rows = [tuple(int(v) for v in line.split()) for line in bad.read_text().splitlines()]
    assert {(c, r) for c, r, _ in rows} == TRUTH and len(rows) == len(TRUTH)
    dng = photo(camera(), tmp_path, "raw")
    plain, fixed = (dcraw(dng, *extra) for extra in ((), ("-P", str(bad))))
    changed = {(int(x), int(y)) for y, x in np.argwhere(plain != fixed)}
    assert changed == TRUTH


def dcraw(dng: Path, *extra: str) -> np.ndarray:
    out = dng.with_name(f"{dng.stem}-{len(extra)}.tiff")
    proc = subprocess.run(
        ["dcraw", *extra, "-D", "-4", "-T", "-c", str(dng)],
        capture_output=True, timeout=60, env={**os.environ, "TZ": "UTC"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out.write_bytes(proc.stdout)
    return tifffile.imread(out)


RT_BORDER = 4  # rawtherapee-cli leaves out 4 px on each side of its raw grid


def rawtherapee(settings: Path, dng: Path, out: Path) -> tuple[np.ndarray, str]:
    proc = subprocess.run(
        ["rawtherapee-cli", "-o", str(out), "-t", "-b16", "-Y", "-q", "-c", str(dng)],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "RT_SETTINGS": str(settings), "RT_CACHE": str(settings / "cache")},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tifffile.imread(out).astype(np.float64) / 65535.0, proc.stdout + proc.stderr


def rt_settings(folder: Path, darkframes: Path, camconst: str | None) -> Path:
    folder.mkdir()
    darkframes.mkdir(exist_ok=True)
    (folder / "options").write_text(
        f"[General]\nDarkFramesPath={darkframes}\nVerbose=true\n", encoding="utf-8"
    )
    if camconst is not None:
        (folder / "camconst.json").write_text(camconst, encoding="utf-8")
    return folder


#: RawTherapee's grid for this camera starts at photosite (12, 6) of the full buffer, where
#: LibRaw's visible area starts at (8, 4): 4 right and 2 down
CAMCONST = """{"camera_constants": [
    // the simulated camera, cropped as camconst.json crops 100 of the cameras it lists
    {"make_model": "Simulated HW-1", "raw_crop": [12, 6, 620, 468]}
]}"""


def test_rawtherapee_repairs_each_photosite_on_its_own_grid(roll: dict, tmp_path: Path) -> None:
    """RawTherapee 5.9 counts .badpixels from the camconst.json raw_crop origin: the export
    moves every photosite by it, and RawTherapee repairs exactly the planted ones; the
    same map written in LibRaw's coordinates would repair the wrong photosites."""
    dng = photo(camera(), tmp_path, "raw")
    dark = tmp_path / "dark"
    settings = rt_settings(tmp_path / "rt", dark, CAMCONST)
    proc = hotwatch(
        "export", "0001001", "--format", "rawtherapee", "-o", str(dark), home=roll["home"],
        env={"RT_SETTINGS": str(settings)},
    )  # fmt: skip
    assert "raw_crop [12, 6, 620, 468]" in proc.stderr and "x - 4, y = visible y - 2" in proc.stderr
    (written,) = dark.glob("*.badpixels")
    assert written.name == "Simulated HW-1 1001.badpixels"
    listed = {tuple(int(v) for v in ln.split()) for ln in written.read_text().splitlines()}
    assert listed == {(x - 4, y - 2) for x, y in TRUTH}

    plain, _ = rawtherapee(rt_settings(tmp_path / "rt0", tmp_path / "none", CAMCONST), dng,
                           tmp_path / "plain.tif")  # fmt: skip
    fixed, log = rawtherapee(settings, dng, tmp_path / "fixed.tif")
    assert "raw crop: 12 6 620 468 (provided by camconst.json)" in log
    assert f"Correcting {len(TRUTH)} pixels from .badpixels" in log
    assert plain.shape[:2] == (468 - 2 * RT_BORDER, 620 - 2 * RT_BORDER)
    at = [(x - 4 - RT_BORDER, y - 2 - RT_BORDER) for x, y in TRUTH]
    for x, y in at:
        before, after = residual(plain, x, y), residual(fixed, x, y)
        assert abs(before) >= 0.05 and abs(after) <= 0.01, ((x, y), before, after)

    # the same map in LibRaw's coordinates: RawTherapee repairs photosites beside them
    written.write_text("".join(f"{x} {y}\n" for x, y in sorted(TRUTH)), encoding="utf-8")
    wrong, _ = rawtherapee(settings, dng, tmp_path / "wrong.tif")
    assert all(abs(residual(wrong, x, y)) >= 0.05 for x, y in at)
