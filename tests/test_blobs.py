"""JPEG defects: the compiled grouping against a plain statement of the rule."""

from __future__ import annotations

import numpy as np
import pytest

from hotwatch.core.detect import DetectParams, _group


def _statement(order, ys, xs, score, bright, onset, chroma, p: DetectParams):
    """Strongest first, each candidate not yet taken is a defect; it takes the weaker ones
    of its polarity in its chroma cell, or right beside it (within ``split_radius``, under
    ``split_ratio`` of its score), that did not stand out a day or more before it, as its
    own, and the much weaker ones within ``echo_radius`` (under ``echo_ratio``) as
    echoes."""
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
        split = (cell | near) & (bright == bright[i]) & ~earlier
        echo = (dy <= p.echo_radius) & (dx <= p.echo_radius) & (score < p.echo_ratio * score[i])
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
        order = np.argsort(-score, kind="stable")
        leaders, owner = _group(
            order, ys, xs, score, bright, onset, *chroma, p.split_radius, p.split_ratio,
            p.echo_radius, p.echo_ratio, p.onset_gap,
        )  # fmt: skip
        want_leaders, want_owner = _statement(order, ys, xs, score, bright, onset, chroma, p)
        assert leaders.tolist() == want_leaders
        np.testing.assert_array_equal(owner, want_owner)
