"""The compiled kernels against a plain numpy statement of what they compute.

The oracle below is written for clarity, not speed: whole-frame arrays, one
numpy expression per definition of :mod:`hotwatch.kernels`' docstring. The
kernels must agree with it exactly, on Bayer, X-Trans and RGB frames, on sizes
that are not multiples of a block, with hits in every corner case (several
channels of one pixel out, both signs, thresholds that forbid one sign).
"""

from __future__ import annotations

import numpy as np
import pytest

from hotwatch import cfa as cfa_mod
from hotwatch import evidence, kernels
from hotwatch.evidence import BLOCK


def _levels(v: np.ndarray, grid: evidence.Grid) -> tuple[np.ndarray, np.ndarray]:
    """level2 and resid2 of every element, as the docstring defines them."""
    h, wc = v.shape
    c_n, r, p = grid.c, grid.border, grid.period
    own = np.minimum(v.astype(np.int64), kernels.TOP)
    level = 2 * own
    ys, js = np.mgrid[0:h, 0:wc]
    xs = js // c_n
    inner = (ys >= r) & (ys < h - r) & (xs >= r) & (xs < (wc // c_n) - r)
    neigh = np.zeros((4, h, wc), np.int64)
    for py in range(p):
        for px in range(p):
            sel = inner & (ys % p == py) & (xs % p == px)
            for k, (dy, dc) in enumerate(grid.offs[py, px]):
                neigh[k][sel] = own[ys[sel] + dy, js[sel] + dc]
    srt = np.sort(neigh, axis=0)
    level = np.where(inner, srt[1] + srt[2], level)
    return level, np.where(inner, 2 * own - level, 0)


def _oracle_stats(v: np.ndarray, grid: evidence.Grid):
    level, resid = _levels(v, grid)
    h, wc = v.shape
    c_n, r = grid.c, grid.border
    w = wc // c_n
    by, bx = -(-h // BLOCK), -(-w // BLOCK)
    out = [np.zeros((by, bx, c_n), np.int64) for _ in range(6)]
    for b in range(by):
        rows = np.arange(b * BLOCK, min(h, (b + 1) * BLOCK))
        rows = rows[(rows - b * BLOCK) % 3 == 0]
        inner_rows = rows[(rows >= r) & (rows < h - r)]
        for k in range(bx):
            xs = np.arange(k * BLOCK, min(w, (k + 1) * BLOCK))
            inner_xs = xs[(xs >= r) & (xs < w - r)]
            sampled = xs[(xs - k * BLOCK) % 3 == 0]
            for c in range(c_n):
                mag = np.abs(resid[np.ix_(inner_rows, inner_xs * c_n + c)])
                lv = level[np.ix_(rows, sampled * c_n + c)]
                vals = (mag.sum(), mag.size, lv.max(), lv.min(), lv.sum(), lv.size)
                for arr, value in zip(out, vals, strict=True):
                    arr[b, k, c] = value
    return out


def _oracle_outliers(v, grid, thr_pos, thr_neg, sigma, black, span):
    _, resid = _levels(v, grid)
    h, wc = v.shape
    c_n = grid.c
    w = wc // c_n
    ys, js = np.mgrid[0:h, 0:wc]
    xs, cs = js // c_n, js % c_n
    bys, bxs = ys // BLOCK, xs // BLOCK
    tp, tn = thr_pos[bys, bxs, cs], thr_neg[bys, bxs, cs]
    own = np.minimum(v.astype(np.int64), kernels.TOP)
    z = resid.astype(np.float32) / sigma[bys, bxs, cs]
    val = (own.astype(np.float32) - np.float32(black)) * np.float32(255.0 / span) + np.float32(0.5)
    val = np.clip(val, 0, 255).astype(np.uint8)
    # per pixel, the first of its most deviant channels, whichever its sign
    best: dict[int, tuple[float, int]] = {}
    for y, j in zip(*np.nonzero((resid > tp) | (-resid > tn)), strict=True):
        idx = int(y) * w + int(xs[y, j])
        cand = (float(z[y, j]), int(val[y, j]))
        if idx not in best or abs(cand[0]) > abs(best[idx][0]):
            best[idx] = cand
    result = []
    for sign in (1, -1):
        keys = sorted(k for k, (zz, _) in best.items() if sign * zz > 0)
        result.append(
            (
                np.array(keys, np.int64),
                np.array([best[k][0] for k in keys], np.float32),
                np.array([best[k][1] for k in keys], np.uint8),
            )
        )
    return result


def _frame(kind: str, h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray | None, float]:
    rng = np.random.default_rng(seed)
    if kind == "rgb":
        base = rng.normal(120, 25, (h, w, 3))
        base[rng.random((h, w)) < 0.01] = 255  # clipped specks
        return np.clip(base, 0, 255).astype(np.uint8), None, 255.0
    white = 65535.0 if kind == "raw16" else 16383.0
    base = rng.normal(white * 0.3, white * 0.02, (h, w))
    base[rng.random((h, w)) < 0.003] = white
    base[rng.random((h, w)) < 0.003] = 0
    pattern = cfa_mod.pattern("XTRANS" if kind == "xtrans" else "RGGB")
    return np.clip(base, 0, white).astype(np.uint16), pattern, white


@pytest.mark.parametrize(
    ("kind", "h", "w"),
    [
        ("bayer", 64, 96),
        ("bayer", 37, 53),
        ("rgb", 40, 70),
        ("rgb", 18, 33),
        ("xtrans", 50, 61),
        ("raw16", 34, 40),
    ],
)
def test_kernels_agree_with_the_numpy_statement(kind, h, w):
    data, pattern, white = _frame(kind, h, w, seed=h * w)
    grid = evidence.Grid.of(data, pattern, white)
    got = kernels.block_stats(grid.v, grid.offs, grid.period, grid.border, grid.c)
    want = _oracle_stats(grid.v, grid)
    for name, a, b in zip(("abs_sum", "abs_n", "max", "min", "sum", "n"), got, want, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)

    rng = np.random.default_rng(1)
    shape = got[0].shape
    sigma = rng.uniform(3, 40, shape).astype(np.float32)
    thr = np.ceil(2.0 * sigma).astype(np.int16)
    never = np.int16(np.iinfo(np.int16).max)
    thr_pos = np.where(rng.random(shape) < 0.8, thr, never)
    thr_neg = np.where(rng.random(shape) < 0.8, thr, never)
    black, span = white * 0.02 / 2**grid.shift, white * 0.98 / 2**grid.shift
    args = (grid.v, grid.offs, grid.period, grid.border, grid.c, thr_pos, thr_neg, sigma)
    out = kernels.outliers(*args, black, span, 64)
    if out[3] < 0:  # room for 64 hits was too little: the caller retries with more
        out = kernels.outliers(*args, black, span, grid.v.size)
    pos, neg = _oracle_outliers(grid.v, grid, thr_pos, thr_neg, sigma, black, span)
    assert pos[0].size > 10 and neg[0].size > 10
    for got_side, (idx, z, val) in ((out[0:4], pos), (out[4:8], neg)):
        n = got_side[3]
        np.testing.assert_array_equal(got_side[0][:n], idx)
        np.testing.assert_array_equal(got_side[1][:n], z)
        np.testing.assert_array_equal(got_side[2][:n], val)


def test_sixteen_bit_raws_are_scaled_to_the_arithmetic():
    """A raw whose white level needs 16 bits is shifted down, not clipped."""
    data, pattern, white = _frame("raw16", 32, 32, seed=3)
    grid = evidence.Grid.of(data, pattern, white)
    assert grid.shift == 2 and int(grid.v.max()) <= kernels.TOP
    np.testing.assert_array_equal(grid.v, data >> 2)
