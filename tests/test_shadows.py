"""RAW: a defect's shade on its same-colour neighbours, against a defect beside it."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from hotwatch.core import cfa as cfa_mod
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


@pytest.mark.parametrize(("dark", "kept"), [
    (24.7, False),  # bench_core --cfa XTRANS, seed 7: the two shades scored 24.7 and 23.9
    (75.0, True),  # what a dead photosite scores there (70-80)
])  # fmt: skip
def test_two_hot_greens_of_an_x_trans_group_shade_the_other_two(dark, kept):
    """Of an X-Trans 2x2 group of greens, two hot ones are two of the four neighbours each
    of the other two is judged by: the middle two of the four keep one of them, so those
    read dark by about its excess, far more than the shade of one strong neighbour (here
    0.75-0.78 of the weaker one's score). A dead photosite there stands out more than that."""
    acc = Accumulator(246, 324, "raw", cfa=tuple(map(tuple, cfa_mod.pattern("XTRANS").tolist())))
    ev = SimpleNamespace(  # the hot pair at (258, 205) and (259, 205), a dark one above
        ys=np.array([205, 205, 204]),
        xs=np.array([259, 258, 258]),
        score=np.array([57.2, 31.7, dark]),
        pos_sig=np.array([True, True, False]),
    )
    order = np.argsort(-ev.score, kind="stable")
    kept_ = sorted(_drop_shadows(acc, order, ev, DetectParams()).tolist())
    assert kept_ == ([0, 1, 2] if kept else [0, 1])
    # one hot neighbour alone casts only a weak shade: this one is a defect of its own
    one = SimpleNamespace(**{k: v[1:] for k, v in vars(ev).items()})
    assert sorted(_drop_shadows(acc, np.argsort(-one.score), one, DetectParams())) == [0, 1]
