"""The JPEG <-> raw map of a body, and its defects unified into one list per sensor.

Registration is measured on simulated RAW+JPEG pairs (camsim: the JPEG a crop 10 and 6
photosites in, L size and M size) and on a real camera: the Canon PowerShot S40's raws each
carry the camera's own 640x480 JPEG of the same exposure, the crop Canon records (its
SensorInfo: photosite 20, 8 of LibRaw's visible area, 2272x1704) resampled by 0.28.
The unification and its announcements are checked on hand-made sightings, case by case.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hotwatch.core.frame_map import FrameMap, crop, from_defects, settle
from hotwatch.core.model import DefectKind, FrameKind
from hotwatch.core.register import luma, register
from hotwatch.core.sensor import Geometry, Sighting, announcements, unify
from hotwatch.io.frames import read_frame
from hotwatch.sim import camsim
from tests.support.shared_data import shared_data

RAW = Geometry(FrameKind.RAW, 640, 480)
L = Geometry(FrameKind.JPEG, 624, 464)
M = Geometry(FrameKind.JPEG, 416, 309)
L_MAP = FrameMap(1.0, -10.0, 1.0, -6.0)
M_MAP = crop(10, 6, 624, 464, 416, 309)
T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)


# --------------------------------------------------------------------------- the map


def test_crop_map_is_the_resamplers() -> None:
    """Pillow's resize of a crop puts photosite x at sx * x + tx (centres aligned)."""
    row = np.zeros((1, 624), dtype=np.float32)
    row[0, 311] = 1.0  # photosite 321 of the raw
    small = np.asarray(Image.fromarray(row).resize((416, 1), Image.Resampling.BILINEAR))
    peak = float((small[0] * np.arange(416)).sum() / small[0].sum())
    m, _ = M_MAP.to_jpeg(321, 0)
    assert abs(peak - m) < 0.01
    assert M_MAP.crop_origin() == pytest.approx((10.0, 6.0))
    assert M_MAP.to_raw(*M_MAP.to_jpeg(123.0, 45.0)) == pytest.approx((123.0, 45.0))


def test_settle_waits_for_agreement_and_snaps_whole_photosites() -> None:
    good = [FrameMap(1.00002, -10.03, 0.99998, -5.96), FrameMap(1.0, -9.97, 1.0, -6.02)]
    stray = FrameMap(1.0, -12.5, 1.0, -6.0)  # a fit fooled by a featureless frame
    assert settle([*good, stray], 640, 480) is None  # two agree: not yet
    fmap = settle([*good, stray, FrameMap(1.0, -10.01, 1.0, -6.0)], 640, 480)
    assert fmap == L_MAP  # the stray left out, the rest's median snapped
    m_fits = [crop(10 + e, 6 - e, 624, 464, 416, 309) for e in (0.05, -0.04, 0.0)]
    scaled = settle(m_fits, 640, 480)
    assert scaled is not None and not scaled.unscaled  # a resampled crop is not snapped
    assert scaled.corner_distance(M_MAP, 640, 480) < 0.05


def test_defects_that_show_in_both_kinds_give_an_l_size_map() -> None:
    raw = [(41, 50), (121, 101), (200, 150), (400, 300)]
    jpeg = [(31, 44), (110, 95), (190, 145), (77, 77)]  # blob centres: a pixel off at times
    assert from_defects(raw, jpeg, (640, 480), (624, 464)) == L_MAP
    assert from_defects(raw[:2], jpeg[:2], (640, 480), (624, 464)) is None  # too few
    assert from_defects(raw, jpeg, (640, 480), (416, 309)) is None  # resampled: not tried
    # equal coordinates are no evidence: the crop lies inside the raw
    assert from_defects(raw, raw, (640, 480), (624, 464)) is None


def test_unrelated_defects_never_agree_on_a_crop_by_chance() -> None:
    """An old sensor's hundreds of hot pixels: some offset always gathers three chance
    pairs; only one that explains most of them is the crop's."""
    rng = np.random.default_rng(17)
    for trial in range(10):
        raw = [(int(x), int(y)) for x, y in rng.integers(0, (6000, 4000), size=(500, 2))]
        jpeg = [(int(x), int(y)) for x, y in rng.integers(0, (5760, 3840), size=(500, 2))]
        assert from_defects(raw, jpeg, (6000, 4000), (5760, 3840)) is None, trial
        # the same sensor with its crop at (120, 80): found among the noise
        shown = [(x - 120, y - 80) for x, y in raw[:300] if x >= 120 and y >= 80]
        fmap = from_defects(raw, shown + jpeg[:20], (6000, 4000), (5760, 3840))
        assert fmap == FrameMap(1.0, -120.0, 1.0, -80.0), trial


# --------------------------------------------------------------------------- registration


@pytest.mark.parametrize("cfa", ["RGGB", "XTRANS"])
def test_registration_of_simulated_pairs(tmp_path: Path, cfa: str) -> None:
    """L and M JPEGs of detailed scenes of a small (0.3 MP) sensor: each fit within half a
    JPEG pixel at the frame's corners on Bayer, 0.6 on X-Trans (the scale is what a small
    frame pins down least, and X-Trans's 3x3 green bins sample the scene more coarsely: over
    16 scenes its fits' corner distances had a median of 0.13 and a largest of 0.56, Bayer's
    0.05 and 0.23), and the settled map of four within a tenth on Bayer (the L crop exact);
    a clipped frame is not believed."""
    sensor = camsim.SensorSpec(width=648, height=486, cfa=cfa)
    cam = camsim.Camera(sensor, seed=2, jpeg_crop=(12, 6, 624, 464), m_size=(416, 309))
    plan = camsim.plan_roll(12, seed=4, bursts=False, timelapses=False, specials=False)
    shots = [s for s in plan if s.scene in camsim.PHOTO_SCENES][:4]
    each = 0.5 if cfa == "RGGB" else 0.6
    for size in (None, cam.m_size):
        fits = []
        for shot in shots:
            path = cam.write_jpeg(shot, tmp_path / "pair.jpg", size=size)
            fit = register(cam.render_raw(shot), sensor.pattern, sensor.black_level,
                           sensor.white_level, luma(np.asarray(Image.open(path))))  # fmt: skip
            assert fit.accepted, fit
            assert fit.map.corner_distance(cam.jpeg_map(size), 648, 486) < each, fit
            fits.append(fit.map)
        fmap = settle(fits, 648, 486)
        assert fmap is not None
        # X-Trans's 3x3 green bins sample the scene more coarsely: a fifth of a pixel
        tolerance = 0.1 if cfa == "RGGB" else 0.25
        assert fmap.corner_distance(cam.jpeg_map(size), 648, 486) < tolerance, fmap
        if cfa == "RGGB":
            assert fmap == cam.jpeg_map() if size is None else not fmap.unscaled
    blown = camsim.ShotSpec(99, T0, 1 / 100, 100, "blown", brightness=30.0)
    path = cam.write_jpeg(blown, tmp_path / "blown.jpg")
    fit = register(cam.render_raw(blown), sensor.pattern, sensor.black_level,
                   sensor.white_level, luma(np.asarray(Image.open(path))))  # fmt: skip
    assert not fit.accepted


def test_registration_of_a_real_camera_jpeg(tmp_path: Path) -> None:
    """The S40's own JPEG in each raw: the fits that pass agree, and their map is Canon's
    recorded crop to a third of a JPEG pixel at the corners (a photosite or so)."""
    folder = shared_data("digicam-s40", "Canon PowerShot S40 raws from thorsted/digicam_corpus")
    fits = []
    for path in sorted(folder.glob("*.CRW"))[:6]:
        jpeg = tmp_path / f"{path.stem}.jpg"
        jpeg.write_bytes(
            subprocess.run(["exiftool", "-b", "-JpgFromRaw", str(path)], capture_output=True,
                           check=True).stdout
        )  # fmt: skip
        frame = read_frame(path)
        assert (frame.width, frame.height) == (2312, 1720)
        rgb = np.asarray(Image.open(jpeg).convert("RGB"))
        fit = register(frame.data, frame.cfa, frame.black, frame.white, luma(rgb))
        if fit.accepted:
            fits.append(fit.map)
    assert len(fits) >= 3
    canon = crop(20, 8, 2272, 1704, 640, 480)  # SensorInfo, in LibRaw's visible area
    fmap = settle(fits, 2312, 1720)
    assert fmap is not None and fmap.corner_distance(canon, 2312, 1720) < 0.35, fmap
    ox, oy = fmap.crop_origin()
    assert abs(ox - 20) < 1.0 and abs(oy - 8) < 1.0


# --------------------------------------------------------------------------- one list


def seen(id_: int, g: Geometry, x: int, y: int, kind: str = "hot", **kw) -> Sighting:
    onset = kw.pop("onset", T0)
    return Sighting(id_, g, x, y, DefectKind(kind), 10.0, onset, onset, **kw)


FRAMES = {RAW: 40, L: 24, M: 16}


def test_without_a_map_the_lists_stay_apart_even_at_equal_coordinates() -> None:
    view = unify([seen(1, RAW, 50, 50), seen(2, L, 50, 50)], FRAMES, {})
    assert view.sensor == RAW and set(view.apart) == {L, M} and not view.unified
    assert len(view.defects) == 2
    jpeg = next(d for d in view.defects if d.sightings[0].geometry == L)
    assert jpeg.photosite is None and jpeg.positions == {L: (50, 50)}


def test_with_the_maps_one_entry_per_photosite() -> None:
    """A raw hot pixel, its L blob (a pixel off), its M blob split over two pixels: one
    defect, the raw's kind, the earliest onset, placed in every geometry by the map."""
    early = T0 - timedelta(days=30)
    view = unify(
        [
            seen(1, RAW, 121, 101, "hot"),
            seen(2, L, 110, 95, "stuck", onset=early),
            seen(3, M, 75, 63, "stuck"),
            seen(4, M, 74, 63, "hot"),
            seen(5, RAW, 300, 200, "dead"),
        ],
        FRAMES,
        {L: L_MAP, M: M_MAP},
    )
    assert view.unified and len(view.defects) == 2
    one = next(d for d in view.defects if d.photosite == (121, 101))
    assert one.exact and one.kind is DefectKind.HOT and one.onset == early
    assert [s.id for s in one.sightings] == [1, 2, 3, 4]
    assert one.positions == {RAW: (121, 101), L: (111, 95), M: (74, 63)}
    assert [g.label for g in one.shown_in] == ["raw 640x480", "jpeg 624x464", "jpeg 416x309"]
    dead = next(d for d in view.defects if d.photosite == (300, 200))
    assert [g.label for g in dead.shown_in] == ["raw 640x480"]
    assert dead.positions[L] == (290, 194)  # known for JPEG-only shots at the mapped pixel


def test_a_jpeg_only_defect_maps_back_to_its_photosite() -> None:
    view = unify([seen(1, L, 110, 95), seen(2, M, 74, 63)], FRAMES, {L: L_MAP, M: M_MAP})
    (d,) = view.defects
    assert d.photosite == (120, 101) and not d.exact  # L's blob centre, a pixel off
    assert d.positions[L] == (110, 95)


def test_one_announcement_per_physical_defect() -> None:
    maps = {L: L_MAP}
    # the raw one was announced; its JPEG sighting joins it silently, seen if it was seen
    view = unify(
        [seen(1, RAW, 121, 101, seen=True), seen(2, L, 111, 95, announced=False, seen=False)],
        FRAMES,
        maps,
    )
    plan = announcements(view)
    assert plan.new == () and [(d.id, [s.id for s in f]) for d, f in plan.joined] == [(1, [2])]
    assert plan.joined[0][0].seen
    # both new at once: one announcement
    view = unify(
        [seen(1, RAW, 121, 101, announced=False), seen(2, L, 111, 95, announced=False)],
        FRAMES,
        maps,
    )
    assert [d.id for d in announcements(view).new] == [1]
    # while L's map is being learned, a new L defect waits if the raws have defects it may be
    view = unify([seen(1, RAW, 121, 101), seen(2, L, 111, 95, announced=False)], FRAMES, {})
    plan = announcements(view, learning=[L])
    assert plan.new == () and [d.id for d in plan.held] == [2]
    # ... and is told once learning ends without a map (the lists stay apart)
    assert [d.id for d in announcements(view).new] == [2]
    # a body that never shot RAW+JPEG pairs: nothing to wait for
    view = unify([seen(2, L, 111, 95, announced=False)], FRAMES, {})
    assert [d.id for d in announcements(view, learning=[L]).new] == [2]
