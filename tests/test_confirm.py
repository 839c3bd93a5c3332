"""Which defects a frame confirmed: each announced once, dated when it was first confirmed."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from hashlib import sha256

import numpy as np

from hotwatch.core import confirm
from hotwatch.core.accumulator import RUN_GAP, Accumulator
from hotwatch.core.detect import DetectParams, candidates, detect, least_counts
from hotwatch.core.events import NewDefect
from hotwatch.core.evidence import block_shape
from hotwatch.core.model import AccumulatorKey, BodyId, CameraFile, FileStatus, FrameKind, ShotInfo
from hotwatch.pipeline.ingest import Ingestor, Prepared
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.config import resolve_paths
from tests.test_accumulator import _evidence

H, W = 64, 64


def _frame(rng, at: int, chance: int = 10):
    """A JPEG frame's evidence (4:2:2): ``chance`` chance outliers either way, and one pixel
    (``at``; none if negative) that stands out bright, far, in the green channel."""
    sides = []
    for side in range(2):
        idx = np.unique(rng.integers(0, H * W, chance))
        if side == 0 and at >= 0:
            idx = np.unique(np.append(idx[idx != at], at))
        z = rng.uniform(3, 5, idx.size).astype(np.float32)
        z[idx == at] = 30.0
        sides.append((idx, z, np.full(idx.size, 220, np.uint8)))
    green = np.ones(sides[0][0].size, np.uint8)
    everywhere = np.ones(block_shape(H, W), bool)
    ev = _evidence(H, W, sides, (everywhere,) * 4, float(rng.uniform(0.05, 0.9)), green)
    return dataclasses.replace(ev, chroma=(2, 1))


def test_a_jpeg_centre_that_moves_keeps_when_it_was_confirmed():
    """One defect's evidence split between the two pixels of a chroma cell: its peak falls
    on the left one in the first 25 photos, on the right one after. The blob's centre moves
    to the right one once its evidence outweighs the left's: the same defect, confirmed
    when the left one was, and never announced again (a scan announced such a hot pixel
    300 photos late, confirmed anew at each move)."""
    rng = np.random.default_rng(1)
    left, right = 20 * W + 32, 20 * W + 33
    acc, params, known = Accumulator(H, W, "jpeg"), DetectParams(), None
    announced, first = [], None
    for i in range(80):
        t = 1.7e9 + i * (RUN_GAP + 1)
        ev = _frame(rng, left if i < 25 else right)
        got = acc.update(ev, t, 100.0, i.to_bytes(16, "big"), watch=least_counts(acc, params))
        known = confirm.grow_candidates(acc, params, known, got.watched)
        assert known.tolist() == candidates(acc, params).tolist(), i  # as looked up afresh
        new = confirm.confirm(acc, params, known, t, jpeg=True)
        announced += [(d.x, d.y) for d in new]
        if new and first is None:
            first = t
    assert announced == [(32, 20)]
    assert list(acc.confirmed) == [right]
    assert acc.confirmed[right][0] == first


def test_a_jpeg_centre_that_moves_is_announced_once(tmp_path):
    """The same photos, one at a time as the daemon takes them (a checkpoint after each),
    into a real catalogue: the defect is announced once, when first confirmed; when its
    centre moves, the catalogue retires the old position and keeps the new one as the
    same, announced defect (before, the tray would have announced it again)."""
    rng = np.random.default_rng(1)
    left, right = 20 * W + 32, 20 * W + 33
    body = BodyId("NIKON", "D80", "3012345")
    key = AccumulatorKey(body, FrameKind.JPEG, W, H)
    paths = resolve_paths(tmp_path / "home").ensure()
    with Catalogue(paths.catalogue) as cat:
        ing = Ingestor(paths, cat)
        for i in range(80):
            taken = datetime(2024, 3, 2, tzinfo=UTC) + timedelta(hours=i)
            shot = ShotInfo(taken_at=taken, exposure=0.01, iso=100)
            ev = _frame(rng, left if i < 25 else right)
            photo = tmp_path / f"IMG_{i:04d}.JPG"
            prep = Prepared(photo, 1000, i, sha256(photo.name.encode()).hexdigest())
            prep = dataclasses.replace(prep, camera=CameraFile(body, shot), key=key, evidence=ev)
            assert ing.commit(prep).status is FileStatus.INGESTED
            ing.checkpoint()
        news = [r.event for r in cat.events_since(0, [NewDefect])]
        assert [(e.x, e.y) for e in news] == [(32, 20)]
        (row,) = cat.defects(body_key=body.key)
        assert (row.x, row.y, row.announced) == (33, 20, True)
        assert row.confirmed == news[0].confirmed
        ing.close()


def _photos_to_report_jpeg(age: int) -> int | None:
    """A JPEG body (4:2:2) whose photos have chance outliers; from photo ``age`` on, a hot
    photosite whose peak falls on either pixel of its chroma cell, photo by photo. How
    many photos from then until detection reports it (None: not within 60)."""
    rng = np.random.default_rng(5)
    left, right = 20 * W + 32, 20 * W + 33
    acc, params = Accumulator(H, W, "jpeg"), DetectParams()
    for i in range(age + 60):
        at = (left, right)[i % 2] if i >= age else -1
        ev = _frame(rng, at, chance=40)
        acc.update(ev, 1.7e9 + i * (RUN_GAP + 1), 100.0, i.to_bytes(16, "big"))
        if i >= age and detect(acc, params):
            return i - age + 1
    return None


def test_a_jpeg_defect_split_over_its_cell_is_reported_on_an_old_body_as_on_a_new_one():
    """Each pixel of the cell stands out in half the photos: each pixel's onset statistic
    pays for the photos that showed the other, so on an old body (whose counts must be
    many times a grown null expectation) it waited far longer than on a new one. The
    statistic summed over the cell does not."""
    young = _photos_to_report_jpeg(10)
    assert young is not None and young <= 12
    old = _photos_to_report_jpeg(1500)
    assert old is not None and old <= young  # each pixel's own: 15 against 11
