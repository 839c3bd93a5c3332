"""JPEG defects: the compiled grouping against a plain statement of the rule."""

from __future__ import annotations

import numpy as np
import pytest

from hotwatch.core.accumulator import NEG, NULL_SCALE, WEIGHT_STEPS, Accumulator
from hotwatch.core.detect import DetectParams, _group, _GroupParams, detect


def _statement(
    order, ys, xs, score, cell_score, bright, both, dark_current, rates, green, chroma,
    p: DetectParams,
):  # fmt: skip
    """Strongest first, each candidate not yet taken is a defect; it takes the weaker ones
    of its polarity in its chroma cell, or right beside it (within ``split_radius``, under
    ``split_ratio`` of its score), as its own, and the much weaker ones (under
    ``echo_ratio`` of its evidence: its chroma cell's, ``cell_score``, and that of its own
    ones beside the cell, together) within ``echo_radius`` or in its MCU, give or take a
    pixel, as echoes;
    but not a bright one that stood out mainly in long or high-ISO frames beside one that
    stood out dark or both ways, nor a bright one right beside a bright one whose share of
    evidence in green differs from its own by ``colour_gap`` (both known), and, outside its
    chroma cell and of its polarity, not a bright one that stood out over ``apart_ratio``
    times as often in one kind of frame (at ``apart_rate`` or more) as its chroma cell's
    candidates not yet taken of its polarity together, nor one two pixels away
    in a row, column or diagonal at least as strong as the pixel midway, standing out the
    same way."""
    rate_lo, rate_hi = rates
    owner = np.full(order.size, -2)
    leaders = []
    for i in order:
        if owner[i] != -2:
            continue
        owner[i] = len(leaders)
        dy, dx = np.abs(ys - ys[i]), np.abs(xs - xs[i])
        cell = (xs // chroma[0] == xs[i] // chroma[0]) & (ys // chroma[1] == ys[i] // chroma[1])
        near = (dy <= p.split_radius) & (dx <= p.split_radius) & (score < p.split_ratio * score[i])
        own = dark_current & (both[i] | ~bright[i])
        known = (green >= 0) & (green[i] >= 0)
        colour = known & (np.abs(green - green[i]) >= p.colour_gap)
        own |= (np.maximum(dy, dx) == 1) & bright & bright[i] & colour
        kin = ~cell & (bright == bright[i])
        mates = (owner == -2) & cell & (bright == bright[i])  # the cell's, untaken, and i
        mates[i] = True
        lo_i, hi_i = rate_lo[mates].sum(), rate_hi[mates].sum()
        apart = (rate_lo >= p.apart_rate) & (rate_lo > p.apart_ratio * lo_i)
        apart |= (rate_hi >= p.apart_rate) & (rate_hi > p.apart_ratio * hi_i)
        own |= kin & apart
        for m in np.flatnonzero(kin & (np.maximum(dy, dx) == 2)):
            sy, sx = ys[m] - ys[i], xs[m] - xs[i]
            if sy % 2 or sx % 2:
                continue  # a knight's move: no one pixel midway
            midway = np.flatnonzero((ys == ys[i] + sy // 2) & (xs == xs[i] + sx // 2))
            if midway.size and bright[midway[0]] == bright[i]:
                own[m] |= score[m] >= score[midway[0]]
        split = (cell | near) & (bright == bright[i]) & ~own
        w, h = 8 * chroma[0], 8 * chroma[1]
        x0, y0 = xs[i] // w * w, ys[i] // h * h
        mcu = (xs >= x0 - 1) & (xs <= x0 + w) & (ys >= y0 - 1) & (ys <= y0 + h)
        blob = ((dy <= p.echo_radius) & (dx <= p.echo_radius)) | mcu
        free = owner == -2
        total = cell_score[i] + score[free & split & ~cell].sum()
        echo = blob & (score < p.echo_ratio * total)
        echo &= ~own
        owner[free & split] = len(leaders)
        owner[free & ~split & echo] = -1
        leaders.append(int(i))
    return leaders, owner


def _in_cells(ys, xs, score, bright, chroma) -> np.ndarray:
    """Each candidate's chroma cell's evidence when only candidates hold any: the scores of
    the candidates of its polarity there."""
    cell = (ys // chroma[1]) * 1000 + xs // chroma[0]
    same = (cell[:, None] == cell[None, :]) & (bright[:, None] == bright[None, :])
    return (same * score[None, :]).sum(axis=1)


def _grouped(
    order, ys, xs, score, bright, both, dark_current, rates=None, chroma=(2, 1), cell_score=None,
    green=None,
):  # fmt: skip
    """The compiled grouping with the default thresholds (no bright evidence by rate, no
    colour known; no evidence in the chroma cells but the candidates')."""
    n = order.size
    rate_lo, rate_hi = rates if rates is not None else (np.zeros(n), np.zeros(n))
    cells = _in_cells(ys, xs, score, bright, chroma) if cell_score is None else cell_score
    green = np.full(n, -1.0) if green is None else np.asarray(green, np.float64)
    return _group(
        order, ys, xs, score, cells, bright, both, dark_current, rate_lo, rate_hi, green,
        chroma, _GroupParams.of(DetectParams()),
    )  # fmt: skip


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("chroma", [(1, 1), (2, 1), (2, 2)])
def test_compiled_grouping_follows_the_rule(seed, chroma):
    p = DetectParams()
    rng = np.random.default_rng(seed)
    for _ in range(60):
        n = int(rng.integers(1, 200))
        ys, xs = rng.integers(0, 40, n), rng.integers(0, 40, n)
        score = np.round(rng.uniform(1, 100, n), int(rng.integers(0, 3)))  # ties too
        bright = rng.random(n) < 0.7
        dark_current = bright & (rng.random(n) < 0.3)
        both = bright & (rng.random(n) < 0.3)
        rates = tuple(np.where(bright, np.round(rng.exponential(0.3, n), 2), 0.0) for _ in "lh")
        green = np.where(rng.random(n) < 0.2, -1.0, np.round(rng.random(n), 1))
        # the cell's evidence: the candidates' own, and some more beside them, unnoticed
        cell_score = _in_cells(ys, xs, score, bright, chroma)
        cell_score += rng.uniform(0, 20, n) * (chroma[0] * chroma[1] > 1)
        order = np.argsort(-score, kind="stable")
        leaders, owner = _grouped(
            order, ys, xs, score, bright, both, dark_current, rates, chroma, cell_score, green
        )
        want_leaders, want_owner = _statement(
            order, ys, xs, score, cell_score, bright, both, dark_current, rates, green, chroma, p
        )
        assert leaders.tolist() == want_leaders
        np.testing.assert_array_equal(owner, want_owner)


@pytest.mark.parametrize("dark_current", [False, True])
def test_a_hot_pixel_beside_a_dead_one_is_no_ring(dark_current):
    """A bright neighbour two pixels from a much stronger dead pixel is that one's ring,
    unless it stood out mainly in long or high-ISO frames, where a dead pixel does not
    show (nor its ring): then it is a hot pixel of its own."""
    ys, xs = np.array([10, 10]), np.array([12, 10])
    score = np.array([270.0, 110.0])
    bright = np.array([False, True])
    order = np.argsort(-score, kind="stable")
    both = np.array([False, False])
    leaders, owner = _grouped(order, ys, xs, score, bright, both, np.array([False, dark_current]))
    assert leaders.tolist() == ([0, 1] if dark_current else [0])
    assert owner.tolist() == ([0, 1] if dark_current else [0, -1])


@pytest.mark.parametrize("dark_current", [False, True])
@pytest.mark.parametrize("stuck", [False, True])
def test_a_hot_pixel_right_beside_a_stuck_one_is_its_own(dark_current, stuck):
    """A weaker bright neighbour right beside a bright defect is that one's peak, placed one
    pixel over in some frames: unless the defect is stuck (standing out both ways,
    whatever the exposure) and the neighbour stood out mainly in long or high-ISO frames:
    then it is a hot pixel of its own (the 10 MP benchmark's pair at 3291,176-177: a hot
    pixel appearing 40 days after its stuck neighbour)."""
    ys, xs = np.array([176, 177]), np.array([3291, 3291])
    score = np.array([300.0, 120.0])
    bright = np.array([True, True])
    order = np.argsort(-score, kind="stable")
    leaders, owner = _grouped(
        order, ys, xs, score, bright, np.array([stuck, False]), np.array([False, dark_current])
    )
    apart = stuck and dark_current
    assert leaders.tolist() == ([0, 1] if apart else [0])
    assert owner.tolist() == ([0, 1] if apart else [0, 0])


@pytest.mark.parametrize(("lo", "hi", "apart"), [
    ((0.37, 0.0), (0.08, 2.23), True),  # it showed in ordinary frames 4.5x as often
    ((0.72, 0.0), (0.42, 2.27), True),  # 1.7x
    ((0.29, 0.0), (0.21, 1.54), False),  # 1.4x: a peak placed one pixel over, often
    ((0.04, 0.67), (0.0, 2.28), False),  # under a tenth of a weight per frame
    ((0.23, 0.88), (1.75, 2.34), False),  # less often in both: a displaced peak
])  # fmt: skip
def test_a_bright_neighbour_showing_where_the_defect_does_not_is_its_own(lo, hi, apart):
    """Rates (bright weight per ordinary, per long/high-ISO frame) of the neighbours the
    simulated rolls gave: the small roll's hot pixel appearing 21 days after the one
    diagonally beside it (the first), the 10 MP roll's partially stuck pixel two pixels
    from a hot one, whose peak sits between them (the second), and displaced peaks of
    one defect (the rest)."""
    ys, xs = np.array([433, 434]), np.array([460, 461])
    score = np.array([32.7, 14.2])
    bright = np.array([True, True])
    rates = (np.array([hi[0], lo[0]]), np.array([hi[1], lo[1]]))
    order = np.argsort(-score, kind="stable")
    no = np.zeros(2, bool)
    leaders, _ = _grouped(order, ys, xs, score, bright, no, no, rates)
    assert leaders.tolist() == ([0, 1] if apart else [0])
    # within one chroma cell the JPEG keeps one colour for both: never apart by rates
    leaders, _ = _grouped(order, ys - 1, xs, score, bright, no, no, rates, chroma=(2, 2))
    assert leaders.tolist() == [0]


@pytest.mark.parametrize(("beside", "apart"), [
    (0.306, False),  # a quality-80 JPEG roll's hot pixel: its cell stood out at 0.206
    (0.40, True),  # twice as often as the whole cell: no displaced peak can
])  # fmt: skip
def test_a_neighbour_showing_more_often_than_the_defect_s_pixel_is_weighed_against_its_cell(
    beside, apart
):
    """A weak hot pixel's peak lands on either pixel of its chroma cell photo by photo, so
    each pixel's rate understates how often the defect stood out: the rates and scores of
    a small quality-80 roll's hot pixel (157, 413), its cell-mate (156) and the pixel beside
    the cell (158), which was reported as a defect of its own against the rate of 157."""
    ys, xs = np.array([413, 413, 413]), np.array([157, 156, 158])
    score = np.array([18.9, 15.0, 15.7])
    bright = np.ones(3, bool)
    rates = (np.array([0.106, 0.1, beside]), np.array([1.391, 1.016, 0.0]))
    order = np.argsort(-score, kind="stable")
    no = np.zeros(3, bool)
    leaders, owner = _grouped(order, ys, xs, score, bright, no, no, rates)
    assert leaders.tolist() == ([0, 2] if apart else [0])
    assert owner[1] == 0


@pytest.mark.parametrize(("green", "apart"), [
    ((0.78, 0.02), True),  # a green photosite's defect beside a blue one's (10 MP roll)
    ((0.94, 0.0), True),
    ((0.44, 0.21), False),  # one chroma cell's colours, a quality-80 JPEG: no sign
    ((0.99, 0.95), False),  # a green defect's peak, placed one pixel over
    ((0.9, -1.0), False),  # not known (read from an older accumulator)
])  # fmt: skip
@pytest.mark.parametrize("dy", [0, 1])
def test_a_bright_neighbour_of_another_colour_is_its_own(green, apart, dy):
    """Two bright pixels side by side, or diagonally, whose evidence stood out in different
    colours are two photosites: a demosaiced defect's peak keeps its photosite's colour
    where some frames place it one pixel over (green shares the simulated rolls gave: hot
    pixels side by side on a Bayer sensor, one green and one red or blue, and a chroma cell
    of a quality-80 JPEG); of one colour, or not known, the weaker is the stronger's peak."""
    ys, xs = np.array([109, 109 + dy]), np.array([382, 381])
    score = np.array([57.9, 50.3])
    bright = np.ones(2, bool)
    order = np.argsort(-score, kind="stable")
    no = np.zeros(2, bool)
    leaders, owner = _grouped(order, ys, xs, score, bright, no, no, green=green)
    assert leaders.tolist() == ([0, 1] if apart else [0])
    assert owner.tolist() == ([0, 1] if apart else [0, 0])
    # farther, colour is no sign: a much weaker one there is an echo whatever its colour
    # (the demosaic and the colour matrix put a defect into the other channels around it)
    weak = np.array([57.9, 20.0])
    _, owner = _grouped(order, ys, xs - [0, 1], weak, bright, no, no, green=green)
    assert owner.tolist() == [0, -1]


@pytest.mark.parametrize(("between", "apart"), [(12.1, True), (13.0, False), (None, False)])
def test_a_peak_two_pixels_beyond_the_smear_is_its_own(between, apart):
    """The small roll's partially stuck pixel at 92,440, two pixels above a hot one at
    92,442: the pixel between them stands out too (12.1), and it at least as much (12.7),
    where a smear fades with distance. With nothing standing out between them it is the
    hot pixel's ring, and so it is when the pixel between stands out more."""
    ys, xs = [442, 440], [92, 92]
    score = [35.2, 12.7]
    if between is not None:
        ys, xs, score = [*ys, 441], [*xs, 92], [*score, between]
    ys, xs, score = np.array(ys), np.array(xs), np.array(score)
    bright = np.ones(ys.size, bool)
    order = np.argsort(-score, kind="stable")
    no = np.zeros(ys.size, bool)
    leaders, owner = _grouped(order, ys, xs, score, bright, no, no)
    assert (1 in leaders.tolist()) is apart
    assert owner[1] == (1 if apart else -1)


def test_a_rings_crest_two_pixels_out_is_no_defect():
    """The 4:2:0 10 MP roll's stuck pixel at 3469,1075: two pixels below it a bright crest
    of its ring (48.0), the pixel midway dark (not a candidate), and a bright pixel beside
    both (12.7) that is not midway: the crest is an echo, not a defect of its own (it was
    reported while any pixel next to both counted as the one between)."""
    ys, xs = np.array([1075, 1077, 1076]), np.array([3469, 3469, 3468])
    score = np.array([191.5, 48.0, 12.7])
    bright = np.ones(3, bool)
    order = np.argsort(-score, kind="stable")
    no = np.zeros(3, bool)
    leaders, owner = _grouped(order, ys, xs, score, bright, no, no, chroma=(2, 2))
    assert leaders.tolist() == [0]
    assert owner[1] == -1


@pytest.mark.parametrize(("y", "x", "echo"), [
    (234, 609, False),  # 13 rows up, in another MCU: a partially stuck pixel of its own
    (247, 609, True),  # 6 pixels beside it: its blob
    (240, 624, True),  # 9 across, in the 16 x 8 MCU it was coded in (608-623, 240-247)
    (248, 624, True),  # a pixel past its last row and column: the margin upsampling blends
    (240, 606, False),  # 9 across the other way, in the MCU before: another block
])  # fmt: skip
def test_an_echo_stays_in_the_blob_or_the_mcu(y, x, echo):
    """The 4:2:2 simulated roll of seed 13: a stuck pixel at 615,247 and a much weaker
    bright pixel around it."""
    ys, xs = np.array([247, y]), np.array([615, x])
    score = np.array([120.0, 18.5])
    bright = np.array([True, True])
    order = np.argsort(-score, kind="stable")
    no = np.zeros(2, bool)
    leaders, owner = _grouped(order, ys, xs, score, bright, no, no)
    assert leaders.tolist() == ([0] if echo else [0, 1])
    assert owner[1] == (-1 if echo else 1)


def test_an_echo_is_weighed_against_the_whole_defect():
    """A low-quality JPEG spreads one dead photosite over its chroma cell, so the strongest
    pixel holds only part of its evidence; a ring in its MCU is judged against all of it
    (here 30 against 50 + 40), not against the strongest pixel alone (30 against 50)."""
    ys, xs = np.array([0, 0, 4]), np.array([0, 1, 6])
    score = np.array([50.0, 40.0, 30.0])
    bright = np.zeros(3, bool)
    order = np.argsort(-score, kind="stable")
    leaders, owner = _grouped(order, ys, xs, score, bright, bright, bright)
    assert leaders.tolist() == [0]
    assert owner.tolist() == [0, 0, -1]


def test_a_defect_s_evidence_is_its_whole_chroma_cell_s():
    """A dead pixel on the frame's right edge, in a blown-out photo of a 4:2:0 JPEG: its
    peak scores 16 (the edge's noise is higher), the other pixel of its chroma cell 5 (not
    significant on its own), and the ring that the 16 x 16 MCU's chroma draws 13 px away
    9.1: under half of the two together, so no defect of its own."""
    h, w = 48, 48
    acc = Accumulator(h, w, "jpeg", chroma=(2, 2))
    acc.counted = 100
    per = NULL_SCALE * WEIGHT_STEPS
    acc.arrays["null_neg"][:] = per  # one weight of chance outliers expected per element
    p = DetectParams()
    bar = p.ratio + p.ratio_per_decade * max(0.0, np.log10(h * w / 1e5))
    assert bar == p.ratio  # (a small frame: the bar is the ratio)

    def plant(x: int, y: int, score: float) -> None:
        acc.records()[y * w + x, NEG] = round(score * (1 + p.null_floor) * WEIGHT_STEPS)

    plant(47, 43, 16.2)  # the peak
    plant(47, 42, 4.9)  # the rest of its chroma cell (rows 42-43, columns 46-47)
    plant(34, 40, 9.1)  # the ring, in the same MCU (columns 32-47, rows 32-47)
    found = [(d.x, d.y) for d in detect(acc)]
    assert found == [(47, 43)]
    plant(47, 42, 0.0)  # without the cell's evidence the ring is over half the peak
    assert sorted((d.x, d.y) for d in detect(acc)) == [(34, 40), (47, 43)]
