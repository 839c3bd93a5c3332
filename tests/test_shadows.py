"""RAW: a defect's shade on its same-colour neighbours, against a defect beside it."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from hotwatch.core.accumulator import Accumulator
from hotwatch.core.detect import DetectParams, _drop_shadows


@pytest.mark.parametrize(("weaker", "kept"), [
    (57.3, True),  # seed 12's hot pixel two photosites from a dead one (0.37 of its score)
    (22.0, False),  # 0.14: what the simulated rolls' shades score (0.07-0.18)
    (42.3, False),  # 0.27: the strongest shade measured (test_accumulator's 30-frame roll)
])  # fmt: skip
def test_a_hot_pixel_beside_a_dead_one_is_no_shade(weaker, kept):
    """A strong dead photosite pulls its same-colour neighbours' level down a little, so
    on a gradient one of them can look slightly bright frame after frame: a shade,
    at most 0.27 of its score in the simulated rolls. A hot photosite there scored a third
    of it or more, and is reported."""
    acc = Accumulator(200, 200, "raw", cfa=((0, 1), (1, 2)))
    ev = SimpleNamespace(
        ys=np.array([103, 103]),
        xs=np.array([175, 173]),  # two columns apart: the same colour
        score=np.array([156.5, weaker]),
        pos_sig=np.array([False, True]),
    )
    order = np.argsort(-ev.score, kind="stable")
    kept_ = _drop_shadows(acc, order, ev, DetectParams()).tolist()
    assert kept_ == ([0, 1] if kept else [0])
