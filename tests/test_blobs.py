"""JPEG blobs: the compiled grouping against a plain statement of the rule."""

from __future__ import annotations

import numpy as np
import pytest

from hotwatch.detect import DetectParams, _blob_centres


def _statement(order, ys, xs, score, bright, p: DetectParams) -> list[tuple[int, int]]:
    """Strongest first, each candidate not yet taken claims the weaker ones near it (and
    the much weaker, or opposite, ones within the echo radius); reported at the core
    member nearest the core's score-weighted centroid."""
    taken = np.zeros(order.size, dtype=bool)
    kept = []
    for i in order:
        if taken[i]:
            continue
        dy, dx = np.abs(ys - ys[i]), np.abs(xs - xs[i])
        near = (dy <= p.blob_radius) & (dx <= p.blob_radius)
        weaker = (score < p.echo_ratio * score[i]) | ((bright != bright[i]) & (score < score[i]))
        echo = (dy <= p.echo_radius) & (dx <= p.echo_radius) & weaker
        members = np.flatnonzero((near | echo) & ~taken)
        taken[members] = True
        core = members[near[members]]
        w = score[core]
        cy, cx = (ys[core] * w).sum() / w.sum(), (xs[core] * w).sum() / w.sum()
        best = core[np.argmin((ys[core] - cy) ** 2 + (xs[core] - cx) ** 2 - 1e-6 * w)]
        kept.append((int(i), int(best)))
    return kept


@pytest.mark.parametrize("seed", range(4))
def test_compiled_blobs_follow_the_rule(seed):
    p = DetectParams()
    rng = np.random.default_rng(seed)
    for _ in range(60):
        n = int(rng.integers(1, 200))
        ys, xs = rng.integers(0, 80, n), rng.integers(0, 80, n)
        score = np.round(rng.uniform(1, 100, n), int(rng.integers(0, 3)))  # ties too
        bright = rng.random(n) < 0.7
        order = np.argsort(-score, kind="stable")
        assert _blob_centres(order, ys, xs, score, bright, p) == _statement(
            order, ys, xs, score, bright, p
        )
