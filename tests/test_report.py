"""The sensor report, built from a real scan of a simulated roll and rendered in real Chromium.

The roll (camsim: 320x240 RGGB body, JPEG + DNG, a stuck pixel one photosite from the left
edge so its crop needs padding) is scanned with ``hotwatch scan`` into a temporary home; the
report is written with ``hotwatch report`` and loaded by headless Chromium from disk with a
small script injected that records errors, failed images and every resource the page
fetched. Chromium also takes a screenshot.
"""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hotwatch.cli import main
from hotwatch.core.model import BodyId, DefectKind, Frame, FrameKind
from hotwatch.outputs.report import healing as heal
from hotwatch.outputs.report.collect import growth
from hotwatch.outputs.report.crops import normalised_window
from hotwatch.sim import camsim
from hotwatch.state import sensors
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.rows import AccumulatorRow, DefectRow

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]

# Injected right after <head>: errors (script errors and failed resources, captured), images
# that did not decode, and every resource URL the page fetched, written into the DOM on load.
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  var t = e.target && e.target !== window ? (e.target.tagName + ' ' + (e.target.src || '')) : '';
  window.__errors.push(String(e.message || 'resource error') + ' ' + t.slice(0, 80));
}, true);
window.addEventListener('load', function () {
  var bad = [];
  document.querySelectorAll('img').forEach(function (im) {
    if (!im.complete || im.naturalWidth === 0) bad.push(im.alt);
  });
  var fetched = performance.getEntriesByType('resource').map(function (r) { return r.name; });
  var root = document.documentElement;
  root.setAttribute('data-probe-errors', JSON.stringify(window.__errors));
  root.setAttribute('data-probe-broken-images', JSON.stringify(bad));
  root.setAttribute('data-probe-resources', JSON.stringify(fetched));
  root.setAttribute('data-probe-images', String(document.images.length));
});
</script>"""


def chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def render_dom(page: Path, tmp: Path) -> str:
    """The DOM after load, from a copy of ``page`` with the probe injected."""
    text = page.read_text(encoding="utf-8")
    probed = tmp / "probed.html"
    probed.write_text(text.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    return chromium(["--dump-dom", probed.as_uri()], tmp / "profile").stdout


def screenshot(page: Path, out: Path, tmp: Path, size: str = "1200,2400") -> Image.Image:
    chromium([f"--window-size={size}", f"--screenshot={out}", page.as_uri()], tmp / "profile")
    return Image.open(out).convert("RGB")


class Elements(HTMLParser):
    """Every start tag as (tag, attributes), in document order (stdlib only)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.items: list[tuple[str, dict[str, str]]] = []
        self.root: dict[str, str] = {}
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.root = a
        self.items.append((tag, a))

    def by_class(self, name: str) -> list[tuple[str, dict[str, str]]]:
        return [(t, a) for t, a in self.items if name in a.get("class", "").split()]


def decode_png(uri: str) -> np.ndarray:
    head = "data:image/png;base64,"
    assert uri.startswith(head)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri[len(head) :]))).convert("RGB"))


def cells(img: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean colour per cell, and whether the cell is one flat colour (hatched padding is not)."""
    n = img.shape[0] // scale
    blocks = img.reshape(n, scale, n, scale, 3).astype(float)
    mean = blocks.mean(axis=(1, 3))
    flat = (blocks.max(axis=(1, 3)) - blocks.min(axis=(1, 3))).max(axis=2) == 0
    return mean, flat


# --------------------------------------------------------------------------- the roll


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A scanned 60-shot roll: its home, the ground truth and the catalogue's defects."""
    base = tmp_path_factory.mktemp("report")
    sensor = camsim.SensorSpec(width=320, height=240, cfa="RGGB")
    shots = camsim.plan_roll(60, seed=5)
    defects = camsim.plant_defects(
        sensor,
        {"hot": 2, "stuck": 1, "dead": 1},
        0.0,
        3,
        n_shots=60,
        edge=1,
        spacing=20,
        strengths={"hot": (8000.0, 10000.0)},
    )
    edge = [d for d in defects if min(d.x, d.y) <= 4]
    assert edge, "the roll must have a defect whose crop needs padding"
    cam = camsim.Camera(sensor, defects, make="Simulated", model="HW-1", serial="1001", seed=3)
    camsim.write_roll(cam, shots, base / "roll")
    (base / "roll" / "IMG_9999.JPG").write_bytes(b"\xff\xd8 not really a photo")
    home = base / "home"
    assert main(["-q", "--home", str(home), "scan", str(base / "roll")]) == 0
    with Catalogue(home / "catalogue.sqlite", readonly=True) as cat:
        rows = cat.defects(status="active")
        photos = sum(b.frames for b in cat.bodies())
        skipped = {f.reason for f in cat.files() if f.status.value != "ingested"}
        view = sensors.sensor_view(cat, cat.bodies()[0])
    truth = camsim.ground_truth(defects, shots)
    return {
        "base": base,
        "home": home,
        "truth": truth,
        "rows": rows,
        "photos": photos,
        "skipped": skipped,
        "sensor": view,
    }


@pytest.fixture(scope="module")
def page(scanned: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``hotwatch report 1001 --png -o ...`` and the DOM Chromium built from it."""
    out = scanned["base"] / "out" / "sensor.html"
    assert main(["--home", str(scanned["home"]), "report", "1001", "-o", str(out), "--png"]) == 0
    tmp = tmp_path_factory.mktemp("chromium")
    dom = render_dom(out, tmp)
    return {"path": out, "html": out.read_text(encoding="utf-8"), "dom": Elements(dom), "tmp": tmp}


def test_scan_found_the_planted_defects_in_raw(scanned: dict) -> None:
    raw = {(d.x, d.y) for d in scanned["rows"] if d.frame_kind is FrameKind.RAW}
    assert {(t["x"], t["y"]) for t in scanned["truth"]} <= raw


def test_page_loads_without_errors_or_network(page: dict) -> None:
    root = page["dom"].root
    assert "data-probe-errors" in root, "the load handler did not run"
    assert json.loads(root["data-probe-errors"]) == []
    assert json.loads(root["data-probe-broken-images"]) == []
    fetched = json.loads(root["data-probe-resources"])
    assert all(u.startswith(("data:", "file:")) for u in fetched), fetched
    assert int(root["data-probe-images"]) > 0
    assert not re.search(r"https?://", page["html"]), "the report must not reference the web"
    assert "<script" not in page["html"], "the report itself needs no script"


def test_one_sensor_map_with_one_marker_per_physical_defect(page: dict, scanned: dict) -> None:
    """RAW and JPEG of one body: one map of the sensor, a marker per physical defect at its
    photosite, its RAW and JPEG positions in the hover text and data."""
    dom = page["dom"]
    maps = [a for t, a in dom.items if t == "svg" and "sensor-map" in a.get("class", "")]
    assert [(m["data-width"], m["data-height"], m.get("data-sensor")) for m in maps] == [
        ("320", "240", "raw 320x240")
    ]
    markers = [a for _, a in dom.by_class("marker")]
    view = scanned["sensor"]
    expected = sorted((*d.photosite, d.kind.value) for d in view.defects)
    got = sorted((int(a["data-x"]), int(a["data-y"]), a["data-kind"]) for a in markers)
    assert got == expected
    assert {(t["x"], t["y"]) for t in scanned["truth"]} <= {(x, y) for x, y, _ in got}
    assert all(a["data-onset"] and a["data-score"] for a in markers)
    both = [a for a in markers if "jpeg 320x240" in a["data-shown-in"]]
    assert both, "some defect shows in RAW and JPEG alike"
    for a in both:
        assert f"raw 320x240:{a['data-x']},{a['data-y']}" in a["data-positions"]
        assert "jpeg 320x240:" in a["data-positions"]
    rows = [a for _, a in dom.by_class("sensor-defect")]
    assert len(rows) == len(markers)


def test_timeline_and_facts(page: dict, scanned: dict) -> None:
    dom = page["dom"]
    assert any(t == "svg" and "timeline" in a.get("class", "") for t, a in dom.items)
    months = [a for _, a in dom.by_class("month")]
    total = sum(int(a["data-raw"]) + int(a["data-jpeg"]) for a in months)
    assert months and total == scanned["photos"] > 100
    # 60 shots span a few weeks: no growth rate from so short a history
    growth = [a for _, a in dom.by_class("growth")]
    assert len(growth) == 2 and all(a["data-per-year"] == "" for a in growth)
    assert "not computed" in page["html"]
    import html as html_mod

    assert scanned["skipped"]
    for reason in scanned["skipped"]:  # what was skipped, and why
        assert html_mod.escape(reason) in page["html"] or reason in page["html"], reason


def test_each_crop_is_centred_on_its_defect(page: dict, scanned: dict) -> None:
    dom = page["dom"]
    items = dom.items
    figures = [i for i, (t, a) in enumerate(items) if "crop" in a.get("class", "").split()]
    rows = {(d.x, d.y, d.frame_kind.value) for d in scanned["rows"]}
    truth = {(t["x"], t["y"]) for t in scanned["truth"]}
    assert len(figures) == len(rows)
    checked = 0
    for i in figures:
        fig = items[i][1]
        x, y, scale, size = (int(fig[k]) for k in ("data-x", "data-y", "data-scale", "data-size"))
        kind = "raw" if "raw" in fig["data-acc"] else "jpeg"
        assert (x, y, kind) in rows
        inner = items[i + 1 : i + 12]
        centres = [a for t, a in inner if "centre" in a.get("class", "").split()]
        images = [a for t, a in inner if t == "img"]
        assert len(centres) == 2 and len(images) == 2
        for c in centres:
            assert (int(c["data-x"]), int(c["data-y"])) == (x, y)
            style = dict(p.split(":") for p in c["style"].split(";") if p)
            box = int(style["width"].removesuffix("px"))
            middle = int(style["left"].removesuffix("px")) + box / 2
            assert middle == int(style["top"].removesuffix("px")) + box / 2
            assert middle == size * scale / 2  # the outline surrounds the centre cell
        before = decode_png(images[0]["src"])
        after = decode_png(images[1]["src"])
        assert before.shape == after.shape == (size * scale, size * scale, 3)
        if (x, y) not in truth or fig["data-shows"] != "1":
            continue
        mean, flat = cells(before, scale)
        c = size // 2
        # RAW: compare with photosites of the same CFA phase; JPEG: with every pixel
        phase = np.zeros((size, size), dtype=bool)
        phase[c % 2 :: 2, c % 2 :: 2] = True
        same = phase if kind == "raw" else np.ones_like(phase)
        same &= flat
        # in the colour channel where the centre stands out most (a hot red photosite is red)
        per_channel = np.abs(mean - np.median(mean[same], axis=0))
        ch = int(np.argmax(per_channel[c, c]))
        dev = per_channel[..., ch]
        dev[~same] = -1
        assert np.unravel_index(np.argmax(dev), dev.shape) == (c, c), (x, y, kind)
        healed = cells(after, scale)[0][..., ch]
        assert abs(healed[c, c] - np.median(healed[same])) < dev[c, c] / 2
        checked += 1
    assert checked >= len(truth)  # every planted defect, in RAW at least


def test_edge_crop_is_padded_and_still_centred(page: dict, scanned: dict) -> None:
    items = page["dom"].items
    edge = next(
        (i, a)
        for i, (t, a) in enumerate(items)
        if "crop" in a.get("class", "").split() and min(int(a["data-x"]), int(a["data-y"])) <= 4
    )
    i, fig = edge
    img = decode_png(next(a for t, a in items[i + 1 : i + 12] if t == "img")["src"])
    _, flat = cells(img, int(fig["data-scale"]))
    c = int(fig["data-size"]) // 2
    x, y = int(fig["data-x"]), int(fig["data-y"])
    assert not flat[:, : c - x].any() if x < c else True  # hatched columns left of the frame
    assert not flat[: c - y, :].any() if y < c else True
    assert flat[c, c]


def test_png_files(page: dict) -> None:
    out: Path = page["path"]
    pngs = sorted(out.parent.glob("sensor-*.png"))
    names = [p.name for p in pngs]
    assert names == [
        "sensor-simulated-hw-1-1001-map-jpeg-320x240.png",
        "sensor-simulated-hw-1-1001-map-raw-320x240.png",
        "sensor-simulated-hw-1-1001-timeline.png",
    ]
    for p in pngs:
        im = Image.open(p)
        assert im.width >= 760 and im.height >= 200
    hot = np.asarray(Image.open(pngs[1]).convert("RGB")).reshape(-1, 3)
    assert (np.abs(hot.astype(int) - (0xE8, 0x44, 0x3A)).sum(axis=1) == 0).any()  # a hot marker


def test_screenshot_shows_the_map(page: dict) -> None:
    shot = screenshot(page["path"], page["tmp"] / "shot.png", page["tmp"])
    px = np.asarray(shot).reshape(-1, 3).astype(int)
    for colour in ((0xE8, 0x44, 0x3A), (0xF0, 0xB4, 0x00), (0x3D, 0x8B, 0xFD)):  # hot stuck dead
        assert (np.abs(px - colour).sum(axis=1) <= 6).sum() > 20, colour
    assert (np.abs(px - (0x20, 0x23, 0x27)).sum(axis=1) == 0).sum() > 100_000  # the sensor


def test_default_output_and_all_bodies(scanned: dict, capsys: pytest.CaptureFixture) -> None:
    assert main(["--home", str(scanned["home"]), "report"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == str(scanned["home"] / "reports" / "all-bodies.html")
    assert Path(printed).is_file()
    assert main(["--home", str(scanned["home"]), "report", "nosuchbody"]) == 1


# --------------------------------------------------------------------------- units


def test_heal_replaces_the_disc_only_and_avoids_other_defects() -> None:
    rng = np.random.default_rng(0)
    img = rng.normal(0.5, 0.01, (60, 60))
    img[30, 30] = 1.0
    img[30, 40] = 0.0  # where the first-choice source (10 px right) would be
    out = heal.heal(img, [(30, 30), (40, 30)], period=2)
    assert abs(out[30, 30] - 0.5) < 0.05 and abs(out[30, 40] - 0.5) < 0.05
    yy, xx = np.mgrid[:60, :60]
    far = (np.hypot(xx - 30, yy - 30) > 4) & (np.hypot(xx - 40, yy - 30) > 4)
    assert np.array_equal(out[far], img[far])
    valid = np.ones((60, 60), dtype=bool)
    sx, sy = heal.heal_source(30, 30, [(30, 30), (40, 30)], valid, period=2)
    assert (sx, sy) != (40, 30) and (sx - 30) % 2 == 0 and (sy - 30) % 2 == 0


def test_window_pads_at_the_frame_edge() -> None:
    data = np.full((20, 30), 1000, dtype=np.uint16)
    data[0, 0] = 4000
    frame = Frame(FrameKind.RAW, data, black=500.0, white=4500.0, cfa=np.array([[0, 1], [1, 2]]))
    win = normalised_window(frame, 0, 0, 3)
    assert win.shape == (7, 7) and win[3, 3] == pytest.approx(0.875)
    assert np.isnan(win[:3]).all() and np.isnan(win[:, :3]).all()
    assert np.isfinite(win[3:, 3:]).all()


def _acc(first: datetime, last: datetime) -> AccumulatorRow:
    body = BodyId("X", "Y", "1")
    return AccumulatorRow("s", body, FrameKind.RAW, 10, 10, 50, first, last)


def _defect(onset: datetime, i: int = 1) -> DefectRow:
    return DefectRow(
        i,
        "s",
        "k",
        i,
        i,
        DefectKind.HOT,
        9.0,
        onset,
        onset,
        "active",
        False,
        onset,
        FrameKind.RAW,
        10,
        10,
    )


def test_growth_rate_counts_defects_that_appeared_over_long_enough_history() -> None:
    t0 = datetime(2023, 1, 1, tzinfo=UTC)
    acc = _acc(t0, t0 + timedelta(days=730))
    defects = [_defect(t0 + timedelta(hours=3), 1)] + [
        _defect(t0 + timedelta(days=100 * i), i + 1) for i in (1, 2, 3)
    ]
    g = growth(acc, defects)
    assert g.new == 3 and g.per_year == pytest.approx(3 / (730 / 365.25))
    short = growth(replace(acc, last_taken=t0 + timedelta(days=30)), defects)
    assert short.per_year is None and "not computed" in short.note
