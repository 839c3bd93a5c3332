"""JPEG defects: the compiled grouping against a plain statement of the rule."""

from __future__ import annotations

import numpy as np
import pytest

from hotwatch.core.detect import DetectParams, _group


def _statement(order, ys, xs, score, bright, both, onset, dark_current, chroma, p: DetectParams):
    """Strongest first, each candidate not yet taken is a defect; it takes the weaker ones
    of its polarity in its chroma cell, or right beside it (within ``split_radius``, under
    ``split_ratio`` of its score), that did not stand out a day or more before it, as its
    own, and the much weaker ones within ``echo_radius`` (under ``echo_ratio``) as
    echoes, but for a bright one that stood out mainly in long or high-ISO frames
    beside one that stood out dark or both ways."""
    owner = np.full(order.size, -2)
    leaders = []
    for i in order:
        if owner[i] != -2:
            continue
        owner[i] = len(leaders)
        dy, dx = np.abs(ys - ys[i]), np.abs(xs - xs[i])
        earlier = (onset > 0) & (onset[i] > 0) & (onset < onset[i] - p.onset_gap)
        cell = (xs // chroma[0] == xs[i] // chroma[0]) & (ys // chroma[1] == ys[i] // chroma[1])
        near = (dy <= p.split_radius) & (dx <= p.split_radius) & (score < p.split_ratio * score[i])
        own = dark_current & (both[i] | ~bright[i])
        split = (cell | near) & (bright == bright[i]) & ~earlier & ~own
        echo = (dy <= p.echo_radius) & (dx <= p.echo_radius) & (score < p.echo_ratio * score[i])
        echo &= ~own
        free = owner == -2
        owner[free & split] = len(leaders)
        owner[free & ~split & echo] = -1
        leaders.append(int(i))
    return leaders, owner


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
        onset = np.where(rng.random(n) < 0.1, 0.0, rng.uniform(0, 10, n) * 86400)
        dark_current = bright & (rng.random(n) < 0.3)
        both = bright & (rng.random(n) < 0.3)
        order = np.argsort(-score, kind="stable")
        leaders, owner = _group(
            order, ys, xs, score, bright, both, onset, dark_current, *chroma, p.split_radius,
            p.split_ratio, p.echo_radius, p.echo_ratio, p.onset_gap,
        )  # fmt: skip
        want_leaders, want_owner = _statement(
            order, ys, xs, score, bright, both, onset, dark_current, chroma, p
        )
        assert leaders.tolist() == want_leaders
        np.testing.assert_array_equal(owner, want_owner)


@pytest.mark.parametrize("dark_current", [False, True])
def test_a_hot_pixel_beside_a_dead_one_is_no_ring(dark_current):
    """A bright neighbour two pixels from a much stronger dead pixel is that one's ring,
    unless it stood out mainly in long or high-ISO frames, where a dead pixel does not
    show (nor its ring): then it is a hot pixel of its own."""
    p = DetectParams()
    ys, xs = np.array([10, 10]), np.array([12, 10])
    score = np.array([270.0, 110.0])
    bright = np.array([False, True])
    order = np.argsort(-score, kind="stable")
    both = np.array([False, False])
    leaders, owner = _group(
        order, ys, xs, score, bright, both, np.zeros(2), np.array([False, dark_current]), 2, 1,
        p.split_radius, p.split_ratio, p.echo_radius, p.echo_ratio, p.onset_gap,
    )  # fmt: skip
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
    p = DetectParams()
    ys, xs = np.array([176, 177]), np.array([3291, 3291])
    score = np.array([300.0, 120.0])
    bright = np.array([True, True])
    order = np.argsort(-score, kind="stable")
    leaders, owner = _group(
        order, ys, xs, score, bright, np.array([stuck, False]), np.zeros(2),
        np.array([False, dark_current]), 2, 1, p.split_radius, p.split_ratio, p.echo_radius,
        p.echo_ratio, p.onset_gap,
    )  # fmt: skip
    apart = stuck and dark_current
    assert leaders.tolist() == ([0, 1] if apart else [0])
    assert owner.tolist() == ([0, 1] if apart else [0, 0])
