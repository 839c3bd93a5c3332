"""The simulated camera is the ground truth for detection: its files must read back exactly.

Everything here goes through the real readers (rawpy, exifread, Pillow, darktable-cli) on real
files in tmp_path, on small frames so the whole module runs in seconds.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import exifread
import numpy as np
import pytest
import rawpy
import tifffile
from PIL import Image

from hotwatch.core.model import BodyId, DefectKind
from hotwatch.sim.camsim import (
    PHOTO_SCENES,
    SPECIAL_SCENES,
    XTRANS,
    Camera,
    PlantedDefect,
    SensorSpec,
    ShotSpec,
    ground_truth,
    plan_roll,
    plant_defects,
    write_roll,
)


def simple_roll(n: int, seed: int = 0) -> list[ShotSpec]:
    return plan_roll(
        n, seed, bursts=False, timelapses=False, night=False, specials=False, portrait=False
    )


def same_colour_residual(raw: np.ndarray, x: int, y: int, n: int) -> float:
    """Value minus the median of the 8 same-colour neighbours one CFA period away."""
    r = raw.astype(np.float64)
    neigh = [r[y + dy, x + dx] for dy in (-n, 0, n) for dx in (-n, 0, n) if (dy, dx) != (0, 0)]
    return float(r[y, x] - np.median(neigh))


def tags_of(path: Path) -> dict[str, str]:
    with open(path, "rb") as f:
        return {k: str(v).strip() for k, v in exifread.process_file(f, details=False).items()}


# ---- DNG ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cfa", ["RGGB", "BGGR", "GRBG", "GBRG"])
def test_bayer_dng_reads_back_in_rawpy(tmp_path: Path, cfa: str) -> None:
    sensor = SensorSpec(96, 64, cfa=cfa, bits=12)
    cam = Camera(sensor, plant_defects(sensor, {"hot": 2, "dead": 1}, seed=1), seed=3)
    shot = simple_roll(1)[0]
    path = cam.write_dng(shot, tmp_path / "a.dng")
    with rawpy.imread(str(path)) as raw:
        pattern = np.where(raw.raw_pattern == 3, 1, raw.raw_pattern)
        assert np.array_equal(pattern, sensor.pattern)
        assert list(raw.black_level_per_channel) == [128] * 4
        assert raw.white_level == 4095
        assert np.array_equal(raw.raw_image_visible, cam.render_raw(shot))
        colours = np.where(raw.raw_colors_visible == 3, 1, raw.raw_colors_visible)
        assert np.array_equal(colours, np.tile(sensor.pattern, (32, 48)))


@pytest.mark.parametrize("cfa", ["RGGB", "XTRANS"])
def test_lossless_jpeg_dng_decodes_to_the_same_photosites(tmp_path: Path, cfa: str) -> None:
    """As cameras write them: lossless-JPEG tiles, which LibRaw decodes bit for bit."""
    sensor = SensorSpec(600, 420, cfa=cfa, margins=(6, 6, 0, 6))  # tiles cut at the edges
    cam = Camera(sensor, plant_defects(sensor, {"hot": 2}, seed=1), seed=3, dng_compression="ljpeg")
    shot = simple_roll(1)[0]
    path = cam.write_dng(shot, tmp_path / "c.dng")
    plain = Camera(sensor, cam.defects, seed=3).write_dng(shot, tmp_path / "u.dng")
    assert path.stat().st_size < plain.stat().st_size
    with rawpy.imread(str(path)) as raw:
        assert np.array_equal(raw.raw_image_visible, cam.render_raw(shot))
    with pytest.raises(ValueError, match="dng_compression"):
        Camera(sensor, dng_compression="zip")


def test_dng_with_activearea_margins(tmp_path: Path) -> None:
    sensor = SensorSpec(96, 64, cfa="GRBG", margins=(8, 4, 6, 2))
    cam = Camera(sensor, plant_defects(sensor, {"stuck": 2}, seed=2), seed=1)
    shot = simple_roll(1)[0]
    cam.write_dng(shot, tmp_path / "m.dng")
    with rawpy.imread(str(tmp_path / "m.dng")) as raw:
        assert (raw.sizes.left_margin, raw.sizes.top_margin) == (8, 4)
        assert (raw.sizes.raw_width, raw.sizes.raw_height) == (110, 70)
        assert np.array_equal(raw.raw_image_visible, cam.render_raw(shot))
        assert np.array_equal(raw.raw_image, cam.render_raw_full(shot))
        assert np.array_equal(np.where(raw.raw_pattern == 3, 1, raw.raw_pattern), sensor.pattern)
    assert cam.rawpy_origin == (0, 0)
    # the border is optical black: black level plus read noise only
    full = cam.render_raw_full(shot).astype(float)
    assert abs(full[:, :8].mean() - sensor.black_level) < 2


def test_dng_with_defaultcrop_margins_as_libraw_sees_it(tmp_path: Path) -> None:
    """LibRaw ignores DefaultCrop: its visible image is the whole buffer, truth shifted."""
    sensor = SensorSpec(96, 64, margins=(8, 4, 6, 2), margin_tag="defaultcrop")
    defect = PlantedDefect(40, 30, "stuck", 1.0)
    cam = Camera(sensor, [defect], seed=1)
    shot = simple_roll(1)[0]
    cam.write_dng(shot, tmp_path / "c.dng")
    with rawpy.imread(str(tmp_path / "c.dng")) as raw:
        visible = raw.raw_image_visible.copy()  # a view into LibRaw memory until copied
        assert np.array_equal(visible, cam.rawpy_visible(shot))
    ox, oy = cam.rawpy_origin
    assert (ox, oy) == (8, 4)
    assert visible[defect.y + oy, defect.x + ox] == sensor.white_level
    assert np.array_equal(visible[oy : oy + 64, ox : ox + 96], cam.render_raw(shot))


@pytest.mark.parametrize("margins", [(0, 0, 0, 0), (6, 6, 6, 6)])
def test_xtrans_dng_has_6x6_pattern_in_rawpy(tmp_path: Path, margins: tuple) -> None:
    sensor = SensorSpec(96, 72, cfa="XTRANS", margins=margins)
    cam = Camera(sensor, plant_defects(sensor, {"hot": 2}, seed=4), seed=2)
    shot = simple_roll(1)[0]
    cam.write_dng(shot, tmp_path / "x.dng")
    with rawpy.imread(str(tmp_path / "x.dng")) as raw:
        assert raw.raw_pattern.shape == (6, 6)
        assert np.array_equal(raw.raw_pattern, XTRANS)
        assert np.array_equal(raw.raw_image_visible, cam.render_raw(shot))
        assert list(raw.black_level_per_channel) == [512] * 4
        assert raw.white_level == 16383


def test_dng_metadata_in_exifread(tmp_path: Path) -> None:
    sensor = SensorSpec(64, 48)
    cam = Camera(sensor, make="Simulated", model="HW-2", serial="42-7", seed=1)
    shot = replace(simple_roll(1)[0], exposure=1 / 250, iso=400, orientation=8)
    shot = replace(shot, taken_at=shot.taken_at.replace(microsecond=370000))
    tags = tags_of(cam.write_dng(shot, tmp_path / "a.dng"))
    assert tags["Image Make"] == "Simulated"
    assert tags["Image Model"] == "HW-2"
    assert tags["Image Orientation"] == "Rotated 90 CCW"
    assert tags["Image Tag 0xC62F"] == "42-7"  # DNG CameraSerialNumber
    assert tags["EXIF BodySerialNumber"] == "42-7"
    assert tags["EXIF DateTimeOriginal"] == shot.taken_at.strftime("%Y:%m:%d %H:%M:%S")
    assert tags["EXIF SubSecTimeOriginal"] == "370"
    assert tags["EXIF OffsetTimeOriginal"] == "+01:00"
    assert tags["EXIF ExposureTime"] == "1/250"
    assert tags["EXIF ISOSpeedRatings"] == "400"
    assert tags["Image PhotometricInterpretation"] == "32803"


def test_darktable_renders_a_dng_with_margins(tmp_path: Path) -> None:
    sensor = SensorSpec(160, 120, margins=(8, 4, 6, 2))
    cam = Camera(sensor, seed=1)
    cam.write_dng(simple_roll(1)[0], tmp_path / "in.dng")
    config = tmp_path / "dtconf"
    config.mkdir()
    out = tmp_path / "out.tif"
    result = subprocess.run(
        [
            *("darktable-cli", str(tmp_path / "in.dng"), str(out), "--core"),
            *("--library", ":memory:", "--configdir", str(config)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rgb = tifffile.imread(out)
    assert rgb.shape[:2] == (120, 160)  # darktable crops the ActiveArea margins
    assert 10 < rgb[..., :3].mean() < 245  # a photo, not black or white


# ---- JPEG --------------------------------------------------------------------------------


def test_jpeg_exif_in_exifread(tmp_path: Path) -> None:
    sensor = SensorSpec(120, 80)
    cam = Camera(sensor, make="Simulated", model="HW-1", serial="1000007", seed=1)
    shot = replace(simple_roll(2)[1], exposure=1 / 60, iso=200, orientation=6)
    shot = replace(shot, taken_at=shot.taken_at.replace(microsecond=125000))
    path = cam.write_jpeg(shot, tmp_path / "a.jpg")
    tags = tags_of(path)
    assert tags["Image Make"] == "Simulated"
    assert tags["Image Model"] == "HW-1"
    assert tags["EXIF BodySerialNumber"] == "1000007"
    assert tags["Image Orientation"] == "Rotated 90 CW"
    assert tags["EXIF DateTimeOriginal"] == shot.taken_at.strftime("%Y:%m:%d %H:%M:%S")
    assert tags["EXIF SubSecTimeOriginal"] == "125"
    assert tags["EXIF OffsetTimeOriginal"] == "+01:00"
    assert tags["EXIF ExposureTime"] == "1/60"
    assert tags["EXIF ISOSpeedRatings"] == "200"
    with Image.open(path) as im:
        assert im.size == (120, 80)  # stored landscape whatever the Orientation
        assert im.getexif()[0x0112] == 6


def test_long_exposure_and_no_serial(tmp_path: Path) -> None:
    sensor = SensorSpec(64, 48)
    cam = Camera(sensor, serial=None, seed=1)
    shot = replace(simple_roll(1)[0], exposure=2.5, iso=3200)
    jpeg_tags = tags_of(cam.write_jpeg(shot, tmp_path / "a.jpg"))
    dng_tags = tags_of(cam.write_dng(shot, tmp_path / "a.dng"))
    assert jpeg_tags["EXIF ExposureTime"] == "5/2"
    assert dng_tags["EXIF ExposureTime"] == "5/2"
    for tags in (jpeg_tags, dng_tags):
        assert "EXIF BodySerialNumber" not in tags
        assert "Image Tag 0xC62F" not in tags
    assert cam.body == BodyId("Simulated", "HW-1", None)


def test_raw_and_jpeg_of_a_pair_come_from_the_same_raw(tmp_path: Path) -> None:
    sensor = SensorSpec(128, 96)
    cam = Camera(sensor, seed=5, subsampling="4:4:4", jpeg_quality=98)
    shots = simple_roll(2, seed=2)
    paths = write_roll(cam, shots, tmp_path)
    assert [p.name for p in paths] == [
        "IMG_0000.JPG",
        "IMG_0000.DNG",
        "IMG_0001.JPG",
        "IMG_0001.DNG",
    ]
    for p, shot in zip(paths, [s for s in shots for _ in (0, 1)], strict=True):
        assert abs(os.stat(p).st_mtime - shot.taken_at.timestamp()) < 1e-3
        assert tags_of(p)["EXIF DateTimeOriginal"] == shot.taken_at.strftime("%Y:%m:%d %H:%M:%S")
    with rawpy.imread(str(paths[1])) as raw:
        expected = cam.render_rgb(raw.raw_image_visible.copy()).astype(float)
    with Image.open(paths[0]) as im:
        decoded = np.asarray(im).astype(float)
    assert np.abs(decoded - expected).mean() < 1.5
    with Image.open(paths[2]) as im:  # and not from the other shot
        assert np.abs(np.asarray(im).astype(float) - expected).mean() > 6.0


# ---- defects -----------------------------------------------------------------------------


@pytest.mark.parametrize("cfa", ["RGGB", "XTRANS"])
@pytest.mark.parametrize("kind,strength", [("hot", 20000.0), ("stuck", 1.0)])
def test_defect_visible_in_raw_and_centred_in_jpeg(
    tmp_path: Path, cfa: str, kind: str, strength: float
) -> None:
    sensor = SensorSpec(96, 72, cfa=cfa)
    defect = PlantedDefect(45, 34, kind, strength)
    bad = Camera(sensor, [defect], seed=9, subsampling="4:4:4")
    clean = Camera(sensor, [], seed=9, subsampling="4:4:4")
    shot = replace(simple_roll(1)[0], exposure=1.0, iso=1600, brightness=0.3)
    n = 6 if cfa == "XTRANS" else 2
    raw = bad.render_raw(shot)
    assert same_colour_residual(raw, 45, 34, n) > 10 * np.sqrt(sensor.gain(1600) * 3000)
    # same seed, same noise: the only difference is what the defect did to the JPEG
    jb = np.asarray(Image.open(bad.write_jpeg(shot, tmp_path / "b.jpg"))).astype(float)
    jc = np.asarray(Image.open(clean.write_jpeg(shot, tmp_path / "c.jpg"))).astype(float)
    diff = np.abs(jb - jc).sum(axis=2)
    peak = np.unravel_index(np.argmax(diff), diff.shape)
    assert peak == (34, 45)
    win = diff[30:39, 41:50]
    yy, xx = np.mgrid[30:39, 41:50]
    cy, cx = (win * yy).sum() / win.sum(), (win * xx).sum() / win.sum()
    # Bayer smears symmetrically; X-Trans neighbourhoods are not symmetric, so less tight
    tolerance = 0.5 if cfa == "RGGB" else 1.0
    assert abs(cy - 34) < tolerance and abs(cx - 45) < tolerance
    assert diff[34, 45] > 60  # clearly visible, not a JPEG ripple


def test_late_defect_absent_before_onset() -> None:
    sensor = SensorSpec(64, 48)
    late = PlantedDefect(20, 20, "stuck", 1.0, onset_index=3)
    shots = simple_roll(5)
    with_late = Camera(sensor, [late], seed=4)
    clean = Camera(sensor, [], seed=4)
    for shot in shots[:3]:
        assert np.array_equal(with_late.render_raw(shot), clean.render_raw(shot))
        assert with_late.visibility(shot)[0] == 0.0
    for shot in shots[3:]:
        diff = with_late.render_raw(shot).astype(int) - clean.render_raw(shot).astype(int)
        assert list(zip(*np.nonzero(diff), strict=True)) == [(20, 20)]
    assert late.onset_at(shots) == shots[3].taken_at


def test_each_defect_kind_behaves_as_specified() -> None:
    sensor = SensorSpec(64, 48, readout_dark=0.0)
    d = [
        PlantedDefect(10, 10, "hot", 500.0),
        PlantedDefect(30, 10, "partial", 800.0),
        PlantedDefect(50, 10, "stuck", 0.5),
        PlantedDefect(10, 30, "dead", 0.0),
    ]
    cam = Camera(sensor, d, seed=1)
    clean = Camera(sensor, [], seed=1)
    day = replace(simple_roll(1)[0], exposure=1 / 1000, iso=100)
    night = replace(day, index=1, exposure=30.0, iso=3200, brightness=0.2)
    mid = sensor.black_level + round(0.5 * (sensor.white_level - sensor.black_level))
    for shot in (day, night):
        raw, ref = cam.render_raw(shot).astype(int), clean.render_raw(shot).astype(int)
        assert raw[10, 50] == mid
        assert raw[30, 10] == sensor.black_level
        if ref[10, 30] + 800 < sensor.white_level:
            assert raw[10, 30] - ref[10, 30] == 800
    # dark current scales with exposure x ISO gain: invisible at 1/1000 s, clipped at 30 s
    assert abs(int(cam.render_raw(day)[10, 10]) - int(clean.render_raw(day)[10, 10])) < 5
    assert cam.render_raw(night)[10, 10] == sensor.white_level
    vis_day, vis_night = cam.visibility(day), cam.visibility(night)
    assert vis_day[0] < 1.0 < 3.0 < vis_night[0]
    assert vis_day[2] > 3 and vis_night[2] > 3


def test_dark_current_acts_through_the_readout_and_follows_the_temperature() -> None:
    """A hot photosite collects dark charge while the sensor is read out too (a real CCD:
    0.06-0.37 s), so a strong one shows in daylight frames; and its rate follows the
    sensor's temperature, shot by shot."""
    sensor = SensorSpec(64, 48, read_noise=0.0)
    cam = Camera(sensor, [PlantedDefect(10, 10, "hot", 5000.0)], seed=1)
    clean = Camera(sensor, [], seed=1)
    day = replace(simple_roll(1)[0], exposure=1 / 1000, iso=100, scene="lenscap")
    for scale in (0.5, 1.0, 1.4):
        shot = replace(day, dark_scale=scale)
        excess = int(cam.render_raw(shot)[10, 10]) - int(clean.render_raw(shot)[10, 10])
        want = 5000 * (1 / 1000 + sensor.readout_dark) * scale * sensor.gain(100)
        assert abs(excess - want) <= 0.05 * want + 2, (scale, excess, want)
    shots = plan_roll(120, seed=5)
    scales = [s.dark_scale for s in shots]
    assert min(scales) >= 0.5 and max(scales) <= 1.5 * 1.4
    assert len({round(s, 1) for s in scales}) > 3  # sessions differ, and warm up


def test_visibility_tracks_the_raw_residual() -> None:
    """Where visibility says >5 sigma the raw shows it, where it says <1 the raw does not."""
    sensor = SensorSpec(160, 120)
    defects = plant_defects(sensor, {"hot": 10, "partial": 3, "dead": 3}, seed=3, n_shots=30)
    cam = Camera(sensor, defects, seed=3)
    checked = 0
    for shot in plan_roll(30, seed=8):
        vis = cam.visibility(shot)
        raw = cam.render_raw(shot)
        for d, v in zip(defects, vis, strict=True):
            r = abs(same_colour_residual(raw, d.x, d.y, 2))
            noise = sensor.gain(shot.iso) * np.sqrt(sensor.read_noise**2 + 1)
            if v > 8:
                assert r > 3 * noise
                checked += 1
    assert checked > 10


def test_jpeg_visibility_is_what_the_camera_jpeg_shows(tmp_path: Path) -> None:
    """Measured on crops of the camera's own JPEG, it equals what the whole JPEG written
    to disk shows against a defect-free twin's; nothing before onset."""
    from hotwatch.sim.camsim.camera import _jpeg_noise

    sensor = SensorSpec(240, 160)
    defects = [
        PlantedDefect(60, 50, "stuck", 0.5),
        PlantedDefect(180, 110, "partial", 0.03 * (sensor.white_level - sensor.black_level)),
        PlantedDefect(120, 80, "stuck", 1.0, onset_index=2),
    ]
    cam, twin = Camera(sensor, defects, seed=2), Camera(sensor, (), seed=2)
    for shot in plan_roll(4, seed=4):
        vis = cam.jpeg_visibility(shot)
        bad = np.asarray(Image.open(cam.write_jpeg(shot, tmp_path / "a.jpg")), dtype=float)
        good = np.asarray(Image.open(twin.write_jpeg(shot, tmp_path / "b.jpg")), dtype=float)
        for d, v in zip(defects, vis, strict=True):
            y0, x0 = max(0, d.y // 48 * 48 - 48), max(0, d.x // 48 * 48 - 48)
            noise = _jpeg_noise(good[y0 : y0 + 144, x0 : x0 + 144])
            whole = np.max(np.abs(bad[d.y, d.x] - good[d.y, d.x]) / noise)
            assert v == pytest.approx(whole, rel=0.02, abs=0.01)
        assert (vis[2] == 0) == (shot.index < 2)


def test_plant_defects_spacing_onsets_and_truth() -> None:
    sensor = SensorSpec(200, 150)
    counts = {"hot": 20, "partial": 5, "stuck": 5, "dead": 5}
    defects = plant_defects(sensor, counts, late_fraction=0.4, seed=7, n_shots=50)
    assert [d.kind for d in defects].count("hot") == 20 and len(defects) == 35
    xy = np.array([(d.x, d.y) for d in defects])
    assert xy[:, 0].min() >= 4 and xy[:, 0].max() < 196
    assert xy[:, 1].min() >= 4 and xy[:, 1].max() < 146
    cheb = np.abs(xy[:, None, :] - xy[None, :, :]).max(axis=2) + np.eye(len(xy), dtype=int) * 99
    assert cheb.min() >= 8
    late = [d for d in defects if d.onset_index > 0]
    assert len(late) == 14
    assert all(25 <= d.onset_index < 40 for d in late)
    shots = plan_roll(50, seed=1)
    truth = ground_truth(defects, shots)
    for d, t in zip(defects, truth, strict=True):
        assert (t["x"], t["y"], t["kind"]) == (d.x, d.y, d.kind)
        assert t["onset"] == shots[d.onset_index].taken_at.isoformat()
    assert truth[0]["accepted_kinds"] == [DefectKind.HOT.value]
    with pytest.raises(ValueError):
        plant_defects(SensorSpec(16, 16), {"hot": 50}, seed=1)


# ---- roll plan ---------------------------------------------------------------------------


def test_plan_roll_is_a_realistic_roll() -> None:
    shots = plan_roll(300, seed=11)
    assert [s.index for s in shots] == list(range(300))
    times = [s.taken_at for s in shots]
    assert all(t.tzinfo is not None for t in times)
    assert all(b > a for a, b in itertools.pairwise(times))
    gaps = np.diff([t.timestamp() for t in times])
    assert gaps.max() > timedelta(days=1).total_seconds()  # sessions days apart
    assert gaps.min() < 1.0  # bursts sub-second apart
    night = [s for s in shots if s.session == "night"]
    assert 0.08 <= len(night) / 300 <= 0.25
    night = [s for s in night if s.scene != "lenscap"]  # auto exposure: 1/30 s, ISO 6400
    assert all(1 <= s.exposure <= 30 and 800 <= s.iso <= 6400 for s in night)
    day = [s for s in shots if s.session == "day" and s.scene not in ("lenscap",)]
    assert all(1 / 1000 <= s.exposure <= 1 / 60 + 1e-9 and 100 <= s.iso <= 400 for s in day)
    scenes = {s.scene for s in shots}
    assert {"lenscap", "stars", "sky"} <= scenes
    assert scenes <= set(PHOTO_SCENES) | set(SPECIAL_SCENES)
    assert {6, 8} <= {s.orientation for s in shots}
    runs: dict[int, list[ShotSpec]] = {}
    for s in shots:
        if s.burst is not None:
            runs.setdefault(s.burst, []).append(s)
    assert runs and all(len(r) >= 3 for r in runs.values())
    for run in runs.values():
        assert len({(s.scene, s.scene_seed, s.exposure, s.iso) for s in run}) == 1


def test_plan_roll_switches_give_a_plain_roll() -> None:
    shots = simple_roll(40, seed=3)
    assert len(shots) == 40
    assert all(s.session in ("day", "indoor") for s in shots)
    assert all(s.scene in PHOTO_SCENES and s.orientation == 1 for s in shots)
    assert all(s.burst is None for s in shots)


def test_burst_frames_are_near_identical() -> None:
    shots = plan_roll(120, seed=5)
    first = next(s.burst for s in shots if s.burst is not None)
    run = [s for s in shots if s.burst == first]
    cam = Camera(SensorSpec(128, 96), seed=1)
    a = cam.render_raw(run[0]).astype(float)
    b = cam.render_raw(run[1]).astype(float)
    other = next(s for s in shots if s.burst is None and s.scene in PHOTO_SCENES)
    c = cam.render_raw(other).astype(float)
    same = np.corrcoef(a.ravel(), b.ravel())[0, 1]
    different = np.corrcoef(a.ravel(), c.ravel())[0, 1]
    assert same > 0.95
    assert same > different + 0.2
    assert not np.array_equal(a, b)  # noise and a tiny shift still differ


def test_determinism_with_a_seed(tmp_path: Path) -> None:
    assert plan_roll(60, seed=2) == plan_roll(60, seed=2)
    assert plan_roll(60, seed=2) != plan_roll(60, seed=3)
    sensor = SensorSpec(80, 60)
    d1 = plant_defects(sensor, {"hot": 5, "dead": 2}, 0.5, seed=4)
    assert d1 == plant_defects(sensor, {"hot": 5, "dead": 2}, 0.5, seed=4)
    shots = plan_roll(8, seed=2)
    a, b = Camera(sensor, d1, seed=1), Camera(sensor, d1, seed=1)
    # render in opposite orders: shot i always gets the same noise
    forward = [a.render_raw(s).copy() for s in shots]
    backward = [b.render_raw(s).copy() for s in reversed(shots)][::-1]
    assert all(np.array_equal(x, y) for x, y in zip(forward, backward, strict=True))
    other_body = Camera(sensor, d1, seed=2)
    assert not np.array_equal(a.render_raw(shots[0]), other_body.render_raw(shots[0]))
    p1 = a.write_jpeg(shots[0], tmp_path / "1.jpg").read_bytes()
    p2 = b.write_jpeg(shots[0], tmp_path / "2.jpg").read_bytes()
    assert p1 == p2


@pytest.mark.parametrize("scene", SPECIAL_SCENES)
def test_special_scenes_have_their_character(scene: str) -> None:
    sensor = SensorSpec(160, 120)
    cam = Camera(sensor, seed=1)
    shot = replace(simple_roll(1)[0], scene=scene, exposure=1 / 100, iso=100)
    if scene == "stars":
        shot = replace(shot, exposure=20.0, iso=3200, brightness=0.3)
    if scene == "blown":
        shot = replace(shot, brightness=8.0)
    raw = cam.render_raw(shot).astype(float)
    clipped = (raw >= sensor.white_level).mean()
    top = sensor.white_level - sensor.black_level
    level = (np.median(raw) - sensor.black_level) / top
    if scene == "lenscap":
        assert abs(level) < 0.002 and clipped == 0
    elif scene == "blown":
        assert clipped > 0.6
    elif scene == "sky":
        assert 0.15 < clipped < 0.8
    elif scene == "stars":
        assert level < 0.03
        r = raw - np.median(raw)
        assert (r > 20 * sensor.gain(3200) * 3).sum() > 30  # many point stars
    elif scene == "glints":
        assert 0 < clipped < 0.05
    elif scene == "texture":
        # fine detail: neighbouring same-colour sites differ far more than noise
        g = raw[0::2, 1::2]
        assert np.median(np.abs(np.diff(g, axis=1))) > 10 * sensor.gain(100) * 10


def test_sensor_spec_validation() -> None:
    with pytest.raises(ValueError):
        SensorSpec(cfa="RGBW")
    with pytest.raises(ValueError):
        SensorSpec(cfa="XTRANS", margins=(4, 0, 0, 0))
    with pytest.raises(ValueError):
        Camera(SensorSpec(64, 48), [PlantedDefect(70, 10, "hot", 1.0)])


def test_poisson_and_gaussian_shot_noise_agree() -> None:
    shot = replace(simple_roll(1)[0], iso=800)
    spreads = []
    for poisson in (False, True):
        sensor = SensorSpec(160, 120, poisson=poisson)
        a = Camera(sensor, seed=1).render_raw(shot).astype(float)
        b = Camera(sensor, seed=2).render_raw(shot).astype(float)
        unclipped = (a < sensor.white_level) & (b < sensor.white_level)
        spreads.append(np.std((a - b)[unclipped]))
    assert spreads[0] > 5 * sensor.gain(800) * sensor.read_noise  # shot noise dominates
    assert abs(spreads[0] / spreads[1] - 1) < 0.1
