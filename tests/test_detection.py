"""Detection on simulated camera rolls: ground truth, real files, the real scan."""

from __future__ import annotations

from hotwatch.sim import camsim
from hotwatch.sim.scoring import score
from tests.support.cli import defects_json, hotwatch
from tests.support.rolls import make_roll, visible_truth


def _cams(home):
    return {c["frame"]: c for c in defects_json(home)["cameras"]}


def test_roll_raw_and_jpeg_found_at_their_photosites(roll, home):
    hotwatch("scan", str(roll.folder), home=home)
    cams = _cams(home)
    assert set(cams) == {"raw", "jpeg"}, "RAW and JPEG must have separate accumulators"
    truth = visible_truth(roll)
    assert len(truth) >= 6
    raw = score(cams["raw"]["defects"], truth, roll.times, kind="raw")
    jpeg = score(cams["jpeg"]["defects"], truth, roll.times, kind="jpeg")
    assert raw.precision == 1.0, raw.summary()
    assert jpeg.precision == 1.0, jpeg.summary()
    assert raw.recall >= 0.85, raw.summary()
    assert jpeg.recall >= 0.7, jpeg.summary()
    assert not raw.wrong_kind and len(jpeg.wrong_kind) <= 1
    errs = sorted(raw.onset_errors)
    assert errs[len(errs) // 2] <= 2, raw.summary()


def test_defect_appearing_late_is_dated(tmp_path, home):
    """Found without re-reading old files; onsets dated against the first frame that shows it."""
    r = make_roll(
        tmp_path / "r",
        n=90,
        seed=11,
        counts={"stuck": 2, "dead": 2, "partial": 2},
        formats=("dng",),
    )
    hotwatch("scan", str(r.folder), home=home)
    found = _cams(home)["raw"]["defects"]
    truth = visible_truth(r)
    late = [t for t in truth if t["onset_index"] > 0]
    assert late, "the roll must contain a visible defect that appears part-way"
    s = score(found, truth, r.times, kind="raw")
    assert s.precision == 1.0 and s.recall >= 0.8, s.summary()
    errs = sorted(s.onset_errors)
    assert errs[len(errs) // 2] <= 2, s.summary()
    late_found = [t for t in late if (t["x"], t["y"]) in {(d["x"], d["y"]) for d in found}]
    assert late_found, "a defect appearing part-way must be found"


def test_clean_body_never_cries_wolf(tmp_path, home):
    """Bursts, time-lapses, stars, lens caps, blown frames, texture: no defect reported."""
    r = make_roll(tmp_path / "clean", n=150, seed=21, counts={}, serial="777")
    hotwatch("scan", str(r.folder), home=home)
    for cam in defects_json(home)["cameras"]:
        assert cam["defects"] == [], cam


def test_burst_of_one_scene_is_counted_once(tmp_path, home):
    """50 frames of one tripod scene must not make its pixels look stuck."""
    r = make_roll(
        tmp_path / "burst",
        n=50,
        seed=3,
        counts={},
        specials=False,
        night=False,
        bursts=True,
        timelapses=True,
        formats=("jpeg",),
    )
    hotwatch("scan", str(r.folder), home=home)
    assert defects_json(home)["cameras"][0]["defects"] == []


def test_a_night_tripod_run_at_high_iso_is_counted_once(tmp_path, home):
    """A star field on a tripod at ISO 4000, 17 frames, after three other star fields: the
    run's dark thumbnails differ by their noise more than by RUN_DIFF of their brightness,
    and counted frame by frame its stars made 49 hot pixels of a clean JPEG body."""
    shots = camsim.plan_roll(150, seed=13)[26:50]
    assert {s.burst for s in shots[6:23]} == {0} and {s.iso for s in shots[6:23]} == {4000}
    sensor = camsim.SensorSpec(width=324, height=246, cfa="RGGB")
    cam = camsim.Camera(sensor, [], make="Canon", model="Canon EOS 7D", serial="8", seed=13)
    camsim.write_roll(cam, shots, tmp_path / "roll", formats=("jpeg", "dng"))
    hotwatch("scan", str(tmp_path / "roll"), home=home)
    for found in defects_json(home)["cameras"]:
        assert found["defects"] == [], found
