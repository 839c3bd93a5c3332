"""``hotwatch demo`` end to end: a simulated roll, a real scan, the report, the comparison."""

from __future__ import annotations

import contextlib
import io
import json
import re
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hotwatch.cli import main
from hotwatch.core.errors import UserError
from hotwatch.core.events import NewDefect
from hotwatch.core.model import FrameKind
from hotwatch.sim import camsim, demo
from hotwatch.state import sensors
from hotwatch.state.catalogue import Catalogue


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``hotwatch demo DIR --no-open`` once for the module: its output, truth and defects."""
    folder = tmp_path_factory.mktemp("demo") / "here"
    started = time.monotonic()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["-q", "demo", str(folder), "--no-open"])
    with Catalogue(folder / "home" / "catalogue.sqlite", readonly=True) as cat:
        rows = cat.defects(status="active")
        (body,) = cat.bodies()
        view = sensors.sensor_view(cat, body)
    return {
        "status": status,
        "seconds": time.monotonic() - started,
        "out": out.getvalue(),
        "folder": folder,
        "truth": json.loads((folder / "truth.json").read_text()),
        "rows": rows,
        "sensor": view,
    }


def test_demo_runs_quickly_and_writes_the_report(ran: dict) -> None:
    assert ran["status"] == 0
    assert ran["seconds"] < 60
    report = ran["folder"] / "home" / "reports" / "simulated-hw-1-demo0001.html"
    assert report.is_file()
    assert f"report: {report}" in ran["out"]
    assert len(list((ran["folder"] / "photos").glob("*.DNG"))) == demo.N_SHOTS
    assert len(list((ran["folder"] / "photos").glob("*.JPG"))) == demo.N_SHOTS
    text = report.read_text(encoding="utf-8")
    # one sensor map: a marker per physical defect, however many frame sizes showed it
    assert text.count('class="marker"') == len(ran["sensor"].defects) == len(ran["truth"])
    # months of RAW history: a growth rate is given (the M-size JPEGs span a few weeks)
    raw_growth = re.search(
        r'class="growth" data-acc="[^"]*-raw-[^"]*" data-per-year="([^"]*)"', text
    )
    assert raw_growth and raw_growth.group(1)


def test_truth_has_every_kind_and_one_late_defect(ran: dict) -> None:
    truth = ran["truth"]
    assert sorted(t["kind"] for t in truth) == sorted(
        k for k, n in demo.COUNTS.items() for _ in range(n)
    )
    late = [t for t in truth if t["onset_index"] > 0]
    assert len(late) == 1 and late[0]["kind"] == "hot"


def test_demo_finds_every_simulated_defect(ran: dict) -> None:
    """RAW at the photosite; the L-size JPEG within a pixel of where the camera's crop puts
    it (not at the photosite's coordinates: the JPEG starts 10 and 6 photosites in)."""
    raw = [d for d in ran["rows"] if d.frame_kind is FrameKind.RAW]
    w, h = demo.JPEG_CROP[2:]
    jpeg = [d for d in ran["rows"] if (d.frame_kind, d.width, d.height) == ("jpeg", w, h)]
    crop = demo.camera().jpeg_map()
    for t in ran["truth"]:
        exact = [d for d in raw if (d.x, d.y) == (t["x"], t["y"])]
        assert exact, f"RAW missed {t}"
        assert exact[0].kind.value in t["accepted_kinds"], (t, exact[0].kind)
        m, n = crop.to_jpeg(t["x"], t["y"])
        near = [d for d in jpeg if abs(d.x - m) <= 1 and abs(d.y - n) <= 1]
        assert near, f"JPEG missed {t}"
    n = len(ran["truth"])
    assert f"found {n} of {n} simulated defects, one entry each on the sensor" in ran["out"]


def test_one_entry_and_one_announcement_per_planted_defect(ran: dict) -> None:
    """RAW, L and M JPEGs of one body: one entry per planted defect, at its photosite, with
    its position in each JPEG size; the scan announced each once."""
    view = ran["sensor"]
    assert view.unified and view.sensor.label == "raw 640x480"
    truth = {(t["x"], t["y"]) for t in ran["truth"]}
    assert sorted(d.photosite for d in view.defects) == sorted(truth)
    assert all(d.exact for d in view.defects)
    cam = demo.camera()
    for d in view.defects:
        for g, (x, y) in d.positions.items():
            if g.kind.value == "jpeg":
                m, n = cam.jpeg_map((g.width, g.height)).to_jpeg(*d.photosite)
                assert abs(x - m) <= 1 and abs(y - n) <= 1, (d.photosite, g, (x, y), (m, n))
    with Catalogue(ran["folder"] / "home" / "catalogue.sqlite", readonly=True) as cat:
        news = [r.event for r in cat.events_since(0, types=[NewDefect])]
    assert sorted((e.x, e.y) for e in news) == sorted(truth)  # each told once, from its raw
    # told with where it sits in the L-size JPEGs (the M size is learned later, in the roll)
    assert all(e.frame_kind is FrameKind.RAW and "jpeg 624x464" in e.positions for e in news)


def test_late_defect_is_dated_when_it_appeared(ran: dict) -> None:
    late = next(t for t in ran["truth"] if t["onset_index"] > 0)
    planted = datetime.fromisoformat(late["onset"])
    row = next(
        d
        for d in ran["rows"]
        if d.frame_kind is FrameKind.RAW and (d.x, d.y) == (late["x"], late["y"])
    )
    assert row.onset is not None
    assert planted - timedelta(seconds=1) <= row.onset <= planted + timedelta(days=30)


def test_demo_folder_rules(tmp_path: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"not ours")
    with pytest.raises(UserError, match="not empty"):
        demo.prepare_folder(foreign)
    assert (foreign / "holiday.jpg").exists()
    assert main(["demo", str(foreign), "--no-open"]) == 1

    again = tmp_path / "again"
    demo.prepare_folder(again)
    (again / "photos").mkdir()
    (again / "photos" / "IMG_0000.JPG").write_bytes(b"old")
    (again / "notes.txt").write_text("kept")
    assert demo.prepare_folder(again) == again.resolve()
    assert not (again / "photos").exists() and (again / "notes.txt").exists()

    fresh = demo.prepare_folder(None)
    try:
        assert fresh.name.startswith("hotwatch-demo-") and (fresh / demo.MARKER).is_file()
    finally:
        (fresh / demo.MARKER).unlink()
        fresh.rmdir()


def test_stretch_keeps_sessions_and_spreads_them() -> None:
    shots = camsim.plan_roll(80, seed=5)
    wide = demo.stretch_sessions(shots, 5.0)
    assert [s.index for s in wide] == [s.index for s in shots]
    for a, b, wa, wb in zip(shots, shots[1:], wide, wide[1:], strict=False):
        gap, wgap = b.taken_at - a.taken_at, wb.taken_at - wa.taken_at
        if gap <= timedelta(hours=6):
            assert wgap == gap
        else:
            assert wgap == gap * 5
