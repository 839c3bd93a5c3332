"""Defects on the frame's outermost rows and columns, and defects side by side.

Every element is judged against four same-colour neighbours it has: one-sided at
the edge (and at X-Trans offsets there too). The simulated camera plants defects
on the first and last two rows and columns, in the corners, and in pairs one and
two photosites apart; the real ``hotwatch scan`` must report each at its own
position.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import defects_json, hotwatch

from hotwatch import camsim
from hotwatch import cfa as cfa_mod
from hotwatch.scoring import score

SIZES = ((24, 30), (31, 37))


@pytest.mark.parametrize("name", ["RGGB", "GBRG", "XTRANS", None])
@pytest.mark.parametrize(("h", "w"), SIZES)
def test_edge_neighbours_are_in_the_frame_and_of_the_same_colour(name, h, w):
    pattern = None if name is None else cfa_mod.pattern(name)
    r = cfa_mod.border(pattern)
    table = cfa_mod.edge_table(pattern, h, w, 1)
    listed = set()
    for y in range(h):
        for k in range(table.ptr[y], table.ptr[y + 1]):
            x = int(table.col[k])
            listed.add((y, x))
            offs = [tuple(int(v) for v in o) for o in table.off[k]]
            assert len(set(offs)) == 4 and (0, 0) not in offs
            for dy, dx in offs:
                assert 0 <= y + dy < h and 0 <= x + dx < w
                if name is None:
                    assert max(abs(dy), abs(dx)) >= 2  # outside the demosaic smear
                elif name == "XTRANS":
                    n = pattern.shape[0]
                    assert pattern[(y + dy) % n, (x + dx) % n] == pattern[y % n, x % n]
                else:
                    assert dy % 2 == 0 and dx % 2 == 0  # its own Bayer lattice
    edge = {(y, x) for y in range(h) for x in range(w)}
    edge -= {(y, x) for y in range(r, h - r) for x in range(r, w - r)}
    assert listed == edge, "every element within the border, and only those, is listed"


@pytest.mark.parametrize("name", ["RGGB", "XTRANS", None])
def test_away_from_the_edge_the_edge_rule_gives_the_usual_neighbours(name):
    pattern = None if name is None else cfa_mod.pattern(name)
    phases = cfa_mod.neighbour_offsets(pattern)
    n = 1 if len(phases) == 1 else pattern.shape[0]
    for py in range(n):
        for px in range(n):
            got = cfa_mod.edge_offsets(pattern, 30 + py, 30 + px, 80, 80)
            assert sorted(got) == sorted(phases[py * n + px])


def _roll(tmp_path, cfa: str, formats: tuple[str, ...], seed: int = 4):
    sensor = camsim.SensorSpec(width=324, height=246, cfa=cfa)
    shots = camsim.plan_roll(150, seed=seed)
    defects = camsim.plant_hard_cases(sensor, seed, n_shots=150, spacing=10, plain=0)
    defects = [d for d in defects if d.category in ("border", "pair")]
    cam = camsim.Camera(sensor, defects, make="Canon", model="Canon EOS 7D", serial="99", seed=seed)
    folder = tmp_path / "roll"
    camsim.write_roll(cam, shots, folder, formats=formats)
    vis = np.array([cam.visibility(s) for s in shots])
    truth = []
    for j, t in enumerate(camsim.ground_truth(defects, shots)):
        shows = np.flatnonzero(vis[:, j] >= 3)
        if shows.size >= 10:  # enough to be found: it must not be missed
            truth.append({**t, "first_visible_index": int(shows[0])})
    return folder, shots, truth, cam


@pytest.mark.parametrize("cfa", ["RGGB", "XTRANS"])
def test_raw_defects_on_the_edges_and_side_by_side_at_their_photosites(tmp_path, cfa):
    folder, shots, truth, cam = _roll(tmp_path, cfa, ("dng",))
    home = tmp_path / "home"
    hotwatch("scan", str(folder), home=home)
    (found,) = [c["defects"] for c in defects_json(home)["cameras"]]
    ox, oy = cam.rawpy_origin
    truth = [{**t, "x": t["x"] + ox, "y": t["y"] + oy} for t in truth]
    s = score(found, truth, [x.taken_at for x in shots], kind="raw")
    assert sum(t["category"] == "border" for t in truth) >= 8
    assert sum(t["category"] == "pair" for t in truth) >= 10
    assert s.precision == 1.0 and s.recall == 1.0, (s.summary(), s.missed, s.false_positives)
    assert not s.wrong_kind, s.wrong_kind


def test_jpeg_defects_on_the_edges_and_side_by_side_each_reported_once(tmp_path):
    """In a JPEG a defect on the edge is reported where it is (its smear is cut by the
    edge), and two defects two pixels apart are two reports; no smear is a report."""
    folder, shots, truth, cam = _roll(tmp_path, "RGGB", ("jpeg",))
    home = tmp_path / "home"
    hotwatch("scan", str(folder), home=home)
    (found,) = [c["defects"] for c in defects_json(home)["cameras"]]
    seen = np.array([cam.jpeg_visibility(s) for s in shots])
    shown = {
        (d.x, d.y) for d, col in zip(cam.defects, seen.T, strict=True) if (col >= 3).sum() >= 5
    }
    truth = [t for t in truth if (t["x"], t["y"]) in shown]
    s = score(found, truth, [x.taken_at for x in shots], kind="jpeg")
    border = [t for t in truth if t["category"] == "border"]
    apart = [t for t in truth if t["category"] == "pair"]
    assert len(border) >= 6 and len(apart) >= 6
    assert s.precision == 1.0, (s.summary(), s.false_positives)
    hit = {m for m in [(t["x"], t["y"]) for t in truth]} - set(s.missed)
    assert all((t["x"], t["y"]) in hit for t in border), s.missed
    assert s.recall >= 0.85, (s.summary(), s.missed)
