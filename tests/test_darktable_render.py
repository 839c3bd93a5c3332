"""Real darktable 4.2 renders of the sidecars hotwatch writes.

Every test renders with ``darktable-cli`` (float TIFF) and measures pixels:
a defect counts as healed when its channel-mean value is within 0.02 of the
median of its surroundings (it stood >= 0.2 off before), and no pixel farther
than 6 px from a defect may change against a baseline with the same modules
enabled (a hotwatch instance with no shapes, or the user's own edit).
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hotwatch.darktable.heal import SidecarTarget, defects_applicable, heal_shapes
from hotwatch.darktable.xmp import patch_sidecar, sidecar_paths, write_sidecar_atomically
from tests.support.darktable import (
    BEFORE,
    DEFECTS,
    HEALED,
    changed_far,
    dng_target,
    healed_and_base,
    oriented,
    render,
    residual,
    user_edit_xmp,
    write_dng,
    write_jpeg,
)
from tests.support.darktable import assert_healed as _assert_healed
from tests.support.darktable import points as _points
from tests.support.darktable import write_sidecar as _write


@pytest.fixture(scope="module")
def configdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dtconf")


def test_dng_with_sensor_margins_heals_every_defect_and_nothing_else(tmp_path, configdir):
    dng = tmp_path / "margins.dng"
    write_dng(dng, DEFECTS)
    target = dng_target(dng)
    assert (target.left_margin, target.top_margin) == (12, 6)  # the margins are real
    xmp, base_xmp = healed_and_base(tmp_path, dng, "raw", target, DEFECTS)
    healed, _t1, log = render(dng, xmp, tmp_path / "healed.tif", configdir)
    base, _t2, _ = render(dng, base_xmp, tmp_path / "base.tif", configdir)
    assert "cannot get iop-order" not in log
    assert healed.shape[:2] == (192, 256)
    _assert_healed(healed, base, DEFECTS)
    assert changed_far(healed, base, _points(DEFECTS)) == []
    # the cropped size instead of the sensor buffer misses: proves the margins matter
    wrong = SidecarTarget.jpeg(target.visible_width, target.visible_height)
    _write(xmp, patch_sidecar(None, heal_shapes(_points(DEFECTS), wrong), "raw", dng.name))
    missed, _, _ = render(dng, xmp, tmp_path / "wrong.tif", configdir)
    assert any(abs(residual(missed, x, y)) > HEALED for x, y in _points(DEFECTS))


@pytest.mark.parametrize("orientation", [6, 8])
def test_jpeg_heals_with_orientation(tmp_path, configdir, orientation):
    jpg = tmp_path / "photo.jpg"
    write_jpeg(jpg, DEFECTS, orientation=orientation)
    target = SidecarTarget.jpeg(256, 192, orientation=orientation)
    xmp, base_xmp = healed_and_base(tmp_path, jpg, "jpeg", target, DEFECTS)
    healed, _t1, _ = render(jpg, xmp, tmp_path / "healed.tif", configdir)
    base, _t2, _ = render(jpg, base_xmp, tmp_path / "base.tif", configdir)
    assert healed.shape[:2] == (256, 192)  # rotated by darktable's flip
    _assert_healed(healed, base, DEFECTS, orientation)
    moved = [oriented(x, y, 256, 192, orientation) for x, y in _points(DEFECTS)]
    assert changed_far(healed, base, moved) == []


def test_user_edit_survives_and_heal_twice_is_heal_once(tmp_path, configdir):
    jpg = tmp_path / "edited.jpg"
    blemish = (180, 140)
    write_jpeg(jpg, [*DEFECTS, (*blemish, "hot")])
    user = user_edit_xmp(jpg.name, 256, 192, blemish)
    user_xmp = _write(tmp_path / "user.xmp", user)
    plain, _, _ = render(jpg, None, tmp_path / "plain.tif", configdir)
    mine, _, _ = render(jpg, user_xmp, tmp_path / "user.tif", configdir)
    assert (mine - plain).mean() > 0.05  # the user's exposure change shows
    assert abs(residual(mine, *blemish)) <= HEALED  # and their own heal works

    shapes = heal_shapes(_points(DEFECTS), SidecarTarget.jpeg(256, 192))
    once = patch_sidecar(user, shapes, "jpeg", jpg.name)
    assert once is not None and "iop_order_list" in once  # our instance is retouch #1
    assert patch_sidecar(once, shapes, "jpeg", jpg.name) is None  # twice = once
    xmp = _write(tmp_path / "edited.jpg.xmp", once)
    healed, _t, log = render(jpg, xmp, tmp_path / "healed.tif", configdir)
    assert "cannot get iop-order" not in log
    _assert_healed(healed, mine, DEFECTS)
    assert abs(residual(healed, *blemish)) <= HEALED  # the user's shape survived
    assert changed_far(healed, mine, _points(DEFECTS)) == []  # and so did their exposure

    # a changed list replaces hotwatch's shapes (the first defect is dropped), never stacks
    fewer = heal_shapes(_points(DEFECTS[1:]), SidecarTarget.jpeg(256, 192))
    again = patch_sidecar(once, fewer, "jpeg", jpg.name)
    assert again is not None
    assert (
        again.count('darktable:operation="retouch"')
        == once.count('darktable:operation="retouch"') + 1
    )
    _write(xmp, again)
    replaced, _, _ = render(jpg, xmp, tmp_path / "replaced.tif", configdir)
    x0, y0 = DEFECTS[0][:2]
    assert abs(residual(replaced, x0, y0)) >= BEFORE  # no longer healed: replaced
    _assert_healed(replaced, mine, DEFECTS[1:])
    assert abs(residual(replaced, *blemish)) <= HEALED


def test_photo_before_onset_gets_no_shape(tmp_path, configdir):
    jpg = tmp_path / "early.jpg"
    write_jpeg(jpg, DEFECTS)
    onset = {
        (40, 51): datetime(2024, 1, 1, tzinfo=UTC),
        (121, 100): datetime(2024, 9, 1, tzinfo=UTC),  # after the photo
    }
    listed = [{"x": x, "y": y, "kind": k, "onset": onset.get((x, y))} for x, y, k in DEFECTS]
    taken = datetime(2024, 5, 1, 12, tzinfo=UTC)
    applicable = defects_applicable(listed, taken)
    assert [(d["x"], d["y"]) for d in applicable] == [
        (x, y) for x, y, _ in DEFECTS if (x, y) != (121, 100)
    ]
    shapes = heal_shapes([(d["x"], d["y"]) for d in applicable], SidecarTarget.jpeg(256, 192))
    xmp = _write(tmp_path / "early.jpg.xmp", patch_sidecar(None, shapes, "jpeg", jpg.name))
    healed, _, _ = render(jpg, xmp, tmp_path / "healed.tif", configdir)
    assert abs(residual(healed, 121, 100)) >= BEFORE  # left alone
    assert abs(residual(healed, 40, 51)) <= HEALED


def test_more_than_300_defects_spill_into_a_second_instance(tmp_path, configdir):
    jpg = tmp_path / "crowded.jpg"
    grid = [(x, y) for y in range(10, 250, 14) for x in range(10, 310, 14)][:310]
    defects = [(x, y, "hot") for x, y in grid]
    write_jpeg(jpg, defects, size=(320, 256))
    shapes = heal_shapes(grid, SidecarTarget.jpeg(320, 256))
    text = patch_sidecar(None, shapes, "jpeg", jpg.name)
    assert text is not None and 'darktable:multi_name="hotwatch 2"' in text
    xmp = _write(tmp_path / "crowded.jpg.xmp", text)
    base_xmp = _write(
        tmp_path / "base.xmp", patch_sidecar(None, [], "jpeg", jpg.name, keep_empty=True)
    )
    healed, _t, log = render(jpg, xmp, tmp_path / "healed.tif", configdir)
    base, _, _ = render(jpg, base_xmp, tmp_path / "base.tif", configdir)
    assert "cannot get iop-order" not in log
    _assert_healed(healed, base, defects)


def test_sidecar_written_by_darktable_after_import(tmp_path):
    """darktable 4.2 itself writes the sidecar (import + tag in the GUI under Xvfb)."""
    jpg = tmp_path / "imported.jpg"
    write_jpeg(jpg, DEFECTS)
    conf = tmp_path / "gui-conf"
    lua = (
        'local dt = require "darktable"; '
        f'local i = dt.database.import("{jpg}"); '
        'i:attach_tag(dt.tags.create("test|imported")); '
        'dt.gui.action("global/quit", 0, "", "", 1.0)'
    )
    proc = subprocess.run(
        [
            "xvfb-run",
            "-a",
            "darktable",
            "--library",
            ":memory:",
            "--configdir",
            str(conf),
            "--luacmd",
            lua,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "LANG": "C"},
    )
    assert proc.returncode == 0, proc.stderr
    sidecar = sidecar_paths(jpg)[0]
    assert sidecar.exists(), "darktable wrote no sidecar"
    theirs = sidecar.read_text(encoding="utf-8")
    assert "test|imported" in theirs
    shapes = heal_shapes(_points(DEFECTS), SidecarTarget.jpeg(256, 192))
    ours = patch_sidecar(theirs, shapes, "jpeg", jpg.name)
    assert ours is not None and "test|imported" in ours  # the user's tag is kept
    backup = write_sidecar_atomically(sidecar, ours)
    assert backup is not None and backup.read_text(encoding="utf-8") == theirs
    base_xmp = _write(
        tmp_path / "base.xmp", patch_sidecar(theirs, [], "jpeg", jpg.name, keep_empty=True)
    )
    healed, _, _ = render(jpg, sidecar, tmp_path / "healed.tif", conf / "cli")
    base, _, _ = render(jpg, base_xmp, tmp_path / "base.tif", conf / "cli")
    _assert_healed(healed, base, DEFECTS)
    assert changed_far(healed, base, _points(DEFECTS)) == []


# on the outermost rows and columns (green photosites on RGGB), and in a corner
EDGE_DEFECTS = [(0, 61, "hot"), (1, 120, "hot"), (255, 90, "dead"), (131, 0, "hot"),
                (90, 191, "hot"), (254, 181, "hot"), (0, 1, "hot")]  # fmt: skip


@pytest.mark.parametrize("kind", ["raw", "jpeg"])
def test_defects_on_the_frames_edge_heal_where_they_are(tmp_path, configdir, kind):
    """A defect on the first or last row or column is healed in place: its heal circle
    is cut by the frame's edge, its source lies inside, nothing else changes."""
    src = tmp_path / ("edges.dng" if kind == "raw" else "edges.jpg")
    if kind == "raw":
        write_dng(src, EDGE_DEFECTS)
        target = dng_target(src)
    else:
        write_jpeg(src, EDGE_DEFECTS)
        target = SidecarTarget.jpeg(256, 192)
    xmp, base_xmp = healed_and_base(tmp_path, src, kind, target, EDGE_DEFECTS)
    healed, _t1, _ = render(src, xmp, tmp_path / "healed.tif", configdir)
    base, _t2, _ = render(src, base_xmp, tmp_path / "base.tif", configdir)
    assert healed.shape[:2] == (192, 256)
    _assert_healed(healed, base, EDGE_DEFECTS)
    assert changed_far(healed, base, _points(EDGE_DEFECTS)) == []
