"""darktable 5.x renders of the sidecars hotwatch writes, in the trixie chroot.

The same measurements as ``test_darktable_render.py`` makes on darktable 4.2: each
sidecar is rendered by ``darktable-cli`` (float TIFF) of darktable 5.4.1 (trixie-backports)
and 5.0.1 (trixie), against a baseline with the same modules enabled. Every defect must be
healed and no pixel farther than 6 px from one may change. The chroot comes from
``.ci/darktable5.sh``; without it these tests fail and say so.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hotwatch.darktable.heal import SidecarTarget, heal_shapes
from hotwatch.darktable.xmp import patch_sidecar
from tests.support.chroot import DARKTABLES, Darktable5, run_in_chroot
from tests.support.darktable import (
    DEFECTS,
    HEALED,
    assert_healed,
    changed_far,
    dng_target,
    healed_and_base,
    oriented,
    points,
    render,
    residual,
    user_edit_xmp,
    write_dng,
    write_jpeg,
)
from tests.support.darktable import write_sidecar as _write

pytestmark = pytest.mark.parametrize("darktable", DARKTABLES, ids=lambda d: d.name)


@pytest.fixture(scope="module")
def configs(tmp_path_factory) -> Path:
    """darktable-cli config folders, one per darktable, kept for the module: a fresh one
    costs darktable 5.0 a few seconds (it imports its ~500 camera styles)."""
    return tmp_path_factory.mktemp("dt5conf")


def _render(darktable: Darktable5, folder: Path, configs: Path, src, xmp, name: str):
    """darktable-cli of DARKTABLE in the chroot; FOLDER holds the files it reads and writes."""
    healed, _seconds, log = render(
        src,
        xmp,
        folder / f"{name}.tif",
        configs / darktable.name,
        cli=darktable.cli,
        runner=lambda cmd: run_in_chroot(cmd, [folder, configs], timeout=120),
    )
    assert "cannot get iop-order" not in log, log
    return healed


def test_dng_with_sensor_margins_heals_every_defect_and_nothing_else(tmp_path, configs, darktable):
    dng = tmp_path / "margins.dng"
    write_dng(dng, DEFECTS)
    target = dng_target(dng)
    assert (target.left_margin, target.top_margin) == (12, 6)  # the margins are real
    xmp, base_xmp = healed_and_base(tmp_path, dng, "raw", target, DEFECTS)
    healed = _render(darktable, tmp_path, configs, dng, xmp, "healed")
    base = _render(darktable, tmp_path, configs, dng, base_xmp, "base")
    assert healed.shape[:2] == (192, 256)
    assert_healed(healed, base, DEFECTS)
    assert changed_far(healed, base, points(DEFECTS)) == []


def test_rotated_jpeg_heals_every_defect_and_nothing_else(tmp_path, configs, darktable):
    jpg = tmp_path / "photo.jpg"
    write_jpeg(jpg, DEFECTS, orientation=6)
    target = SidecarTarget.jpeg(256, 192, orientation=6)
    xmp, base_xmp = healed_and_base(tmp_path, jpg, "jpeg", target, DEFECTS)
    healed = _render(darktable, tmp_path, configs, jpg, xmp, "healed")
    base = _render(darktable, tmp_path, configs, jpg, base_xmp, "base")
    assert healed.shape[:2] == (256, 192)  # rotated by darktable's flip
    assert_healed(healed, base, DEFECTS, orientation=6)
    moved = [oriented(x, y, 256, 192, 6) for x, y in points(DEFECTS)]
    assert changed_far(healed, base, moved) == []


def test_user_edit_in_darktable_5_pipe_order_survives(tmp_path, configs, darktable):
    """A sidecar darktable 5 wrote (v5.0 JPEG pipe order) with the user's own retouch:
    hotwatch's instance comes second, in an explicit order list built on that order."""
    jpg = tmp_path / "edited.jpg"
    blemish = (180, 140)
    write_jpeg(jpg, [*DEFECTS, (*blemish, "hot")])
    user = user_edit_xmp(jpg.name, 256, 192, blemish, order_version=5)
    mine = _render(darktable, tmp_path, configs, jpg, _write(tmp_path / "user.xmp", user), "user")
    assert abs(residual(mine, *blemish)) <= HEALED  # their own heal works
    shapes = heal_shapes(points(DEFECTS), SidecarTarget.jpeg(256, 192))
    ours = patch_sidecar(user, shapes, "jpeg", jpg.name)
    assert ours is not None and "iop_order_list" in ours
    healed = _render(
        darktable, tmp_path, configs, jpg, _write(tmp_path / "e.jpg.xmp", ours), "healed"
    )
    assert_healed(healed, mine, DEFECTS)
    assert abs(residual(healed, *blemish)) <= HEALED  # the user's shape survived
    assert changed_far(healed, mine, points(DEFECTS)) == []  # and so did the rest
