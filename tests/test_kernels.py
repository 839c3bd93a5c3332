"""The compiled kernels against a plain numpy statement of what they compute.

The oracle below is written for clarity, not speed: whole-frame arrays, one
numpy expression per definition of :mod:`hotwatch.core.kernels`' docstring. The
kernels must agree with it exactly, on Bayer, X-Trans and RGB frames, on sizes
that are not multiples of a block, with hits in every corner case (several
channels of one pixel out, both signs, thresholds that forbid one sign).
"""

from __future__ import annotations

import numpy as np
import pytest

from hotwatch.core import cfa as cfa_mod
from hotwatch.core import evidence, kernels
from hotwatch.core.evidence import BLOCK


def _levels(
    v: np.ndarray, grid: evidence.Grid, pattern: np.ndarray | None, edges: bool
) -> tuple[np.ndarray, np.ndarray]:
    """level2 and resid2 of every element, as the docstring defines them: for the block
    statistics (not ``edges``: a border element's level is its own value, its residual
    zero), or for the outliers (``edges``: a border element against the four in-frame
    neighbours of its colour that ``cfa.edge_offsets`` names)."""
    h, wc = v.shape
    c_n, r, p = grid.c, grid.border, grid.period
    w = wc // c_n
    own = np.minimum(v.astype(np.int64), kernels.TOP)
    ys, js = np.mgrid[0:h, 0:wc]
    xs = js // c_n
    inner = (ys >= r) & (ys < h - r) & (xs >= r) & (xs < w - r)
    neigh = np.zeros((4, h, wc), np.int64)
    for py in range(p):
        for px in range(p):
            sel = inner & (ys % p == py) & (xs % p == px)
            for k, (dy, dc) in enumerate(grid.offs[py, px]):
                neigh[k][sel] = own[ys[sel] + dy, js[sel] + dc]
    if edges:
        for y, j in zip(*np.nonzero(~inner), strict=True):
            for k, (dy, dx) in enumerate(cfa_mod.edge_offsets(pattern, y, j // c_n, h, w)):
                neigh[k, y, j] = own[y + dy, j + dx * c_n]
    srt = np.sort(neigh, axis=0)
    judged = np.ones_like(inner) if edges else inner
    level = np.where(judged, srt[1] + srt[2], 2 * own)
    return level, np.where(judged, 2 * own - level, 0)


def _oracle_stats(v: np.ndarray, grid: evidence.Grid, pattern: np.ndarray | None):
    level, resid = _levels(v, grid, pattern, edges=False)
    h, wc = v.shape
    c_n, r = grid.c, grid.border
    w = wc // c_n
    by, bx = -(-h // BLOCK), -(-w // BLOCK)
    out = [np.zeros((by, bx, c_n), np.int64) for _ in range(6)]
    gain = np.ones((by, bx), np.float32)

    def sampled_rows(b: int) -> np.ndarray:
        rows = np.arange(b * BLOCK, min(h, (b + 1) * BLOCK))
        return rows[(rows - b * BLOCK) % 3 == 0]

    def inner_of(a: np.ndarray, size: int) -> np.ndarray:
        return a[(a >= r) & (a < size - r)]

    for b in range(by):
        rows = sampled_rows(b)
        noise_rows = inner_of(rows, h)
        # a short last block row measures its noise with the block row before it
        if b > 0 and b == by - 1 and noise_rows.size < kernels.SHORT_ROWS:
            noise_rows = np.concatenate([inner_of(sampled_rows(b - 1), h), noise_rows])
        for k in range(bx):
            xs = np.arange(k * BLOCK, min(w, (k + 1) * BLOCK))
            noise_xs = inner_of(xs, w)
            # ... and a narrow last block column with the block before it
            if k > 0 and k == bx - 1 and noise_xs.size < kernels.NARROW_COLS:
                noise_xs = inner_of(np.arange((k - 1) * BLOCK, w), w)
            gain[b, k] = kernels.TRIM_GAINS[noise_rows.size, noise_xs.size]
            sampled = xs[(xs - k * BLOCK) % 3 == 0]
            for c in range(c_n):
                mag = np.abs(resid[np.ix_(noise_rows, noise_xs * c_n + c)])
                total, count = mag.sum(), mag.size
                if count > 4 * kernels.TRIM:  # less the largest few (per element, its largest)
                    total -= np.sort(mag.max(axis=0))[-kernels.TRIM :].sum()
                    count -= kernels.TRIM
                lv = level[np.ix_(rows, sampled * c_n + c)]
                vals = (total, count, lv.max(), lv.min(), lv.sum(), lv.size)
                for arr, value in zip(out, vals, strict=True):
                    arr[b, k, c] = value
    return out, gain


def _oracle_sigma(abs_sum, abs_n, gain):
    mean = np.divide(abs_sum, np.maximum(abs_n, 1)).astype(np.float32) * gain[..., None]
    sigma = np.maximum(mean * np.float32(1.2533), np.float32(3.0))
    thr = np.minimum(np.ceil(np.float32(3.0) * sigma), 32767).astype(np.int64)
    return sigma, thr


def _oracle_outliers(v, grid, pattern, thr, sigma, bright2, dark2, black, span):
    level, resid = _levels(v, grid, pattern, edges=True)
    h, wc = v.shape
    c_n = grid.c
    w = wc // c_n
    ys, js = np.mgrid[0:h, 0:wc]
    xs, cs = js // c_n, js % c_n
    r = grid.border
    edge = (ys < r) | (ys >= h - r) | (xs < r) | (xs >= w - r)
    sig = sigma[ys // BLOCK, xs // BLOCK, cs]
    t = thr[ys // BLOCK, xs // BLOCK, cs]
    # near the edge: the block's edge elements' own noise (|resid2| taken up to twice the
    # block's threshold), never below the block's
    capped = np.minimum(np.abs(resid), 2 * t)
    for b in range(-(-h // BLOCK)):
        for k in range(-(-w // BLOCK)):
            for c in range(c_n):
                sel = edge & (ys // BLOCK == b) & (xs // BLOCK == k) & (cs == c)
                if sel.any():
                    mean = np.float32(capped[sel].sum() / sel.sum())
                    s_e = max(sigma[b, k, c], mean * np.float32(1.2533))
                    sig[sel] = s_e
                    t[sel] = min(np.ceil(np.float32(3.0) * s_e), np.float32(32767))
    own = np.minimum(v.astype(np.int64), kernels.TOP)
    z = resid.astype(np.float32) * (np.float32(1.0) / sig)
    val = (own.astype(np.float32) - np.float32(black)) * np.float32(255.0 / span) + np.float32(0.5)
    val = np.clip(val, 0, 255).astype(np.uint8)
    hit = ((resid > t) & (level < bright2)) | ((-resid > t) & (level > dark2))
    if c_n > 1:  # demosaiced: only a pixel's most deviant channel, where it is a peak
        zz = np.abs(z.reshape(h, w, c_n))
        first = np.argmax(zz, axis=2)  # the first of the largest |z|
        hit &= (np.arange(c_n)[None, None, :] == first[..., None]).reshape(h, wc)
        own = resid.reshape(h, w, c_n).astype(np.int64)
        pad = np.pad(own, ((1, 1), (1, 1), (0, 0)))
        for sign in (1, -1):
            peak = np.ones(own.shape, bool)
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    if dy or dx:
                        nb = pad[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
                        peak &= sign * own >= sign * nb
            mine = (sign * own > 0) | ((own == 0) & (sign == -1))
            hit &= (peak | ~mine).reshape(h, wc)
        # ... and no overshoot: a same-channel element within 3 px standing out the other way
        # at least twice as far
        r3 = kernels.OVERSHOOT
        pad3 = np.pad(own, ((r3, r3), (r3, r3), (0, 0)))
        ring = np.zeros(own.shape, bool)
        for dy in range(-r3, r3 + 1):
            for dx in range(-r3, r3 + 1):
                nb = pad3[r3 + dy : r3 + dy + h, r3 + dx : r3 + dx + w]
                other = (nb != 0) & ((nb > 0) != (own > 0))
                ring |= other & (np.abs(nb) >= kernels.OVERSHOOT_RATIO * np.abs(own))
        # ... nor within 2 px of a pixel whose other channel does, far more (the demosaic's shade)
        r2 = kernels.SMEAR
        pad2 = np.pad(own, ((r2, r2), (r2, r2), (0, 0)))
        for dy in range(-r2, r2 + 1):
            for dx in range(-r2, r2 + 1):
                for oc in range(c_n):
                    nb = pad2[r2 + dy : r2 + dy + h, r2 + dx : r2 + dx + w, oc][..., None]
                    other = (nb != 0) & ((nb > 0) != (own > 0))
                    ring |= other & (np.abs(nb) >= np.ceil(kernels.SMEAR_RATIO * np.abs(own)))
        hit &= ~ring.reshape(h, wc)
    # per pixel, the first of its most deviant channels, whichever its sign
    best: dict[int, tuple[float, int, int]] = {}
    for y, j in zip(*np.nonzero(hit), strict=True):
        idx = int(y) * w + int(xs[y, j])
        cand = (float(z[y, j]), int(val[y, j]), int(cs[y, j]))
        if idx not in best or abs(cand[0]) > abs(best[idx][0]):
            best[idx] = cand
    result = []
    for sign in (1, -1):
        keys = sorted(k for k, (zz, _, _) in best.items() if sign * zz > 0)
        side = (
            np.array(keys, np.int64),
            np.array([best[k][0] for k in keys], np.float32),
            np.array([best[k][1] for k in keys], np.uint8),
        )
        # and, of a bright one, the channel it stood out in
        channel = (np.array([best[k][2] for k in keys], np.uint8),) if sign > 0 else ()
        result.append(side + channel)
    return result


def _frame(kind: str, h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray | None, float]:
    rng = np.random.default_rng(seed)
    if kind == "rgb":
        base = rng.normal(120, 25, (h, w, 3))
        base[rng.random((h, w)) < 0.01] = 255  # clipped specks
        base[rng.random((h, w)) < 0.02, rng.integers(0, 3)] = 0  # black in one channel
        return np.clip(base, 0, 255).astype(np.uint8), None, 255.0
    white = 65535.0 if kind == "raw16" else 16383.0
    base = rng.normal(white * 0.3, white * 0.02, (h, w))
    base[rng.random((h, w)) < 0.01] = white
    base[rng.random((h, w)) < 0.01] = 0
    pattern = cfa_mod.pattern("XTRANS" if kind == "xtrans" else "RGGB")
    return np.clip(base, 0, white).astype(np.uint16), pattern, white


@pytest.mark.parametrize(
    ("kind", "h", "w"),
    [
        ("bayer", 64, 96),
        ("bayer", 37, 53),
        ("rgb", 40, 70),
        ("rgb", 18, 33),
        ("rgb", 150, 41),  # an 8-bit frame is read in pieces of kernels.PIECE block rows
        ("rgb", 66, 41),  # ... its short last block row alone in one, with the row before
        ("rgb", 24, 300),  # rows of many cells (kernels.CELL) of residual extremes
        ("xtrans", 50, 61),
        ("raw16", 34, 40),
    ],
)
def test_kernels_agree_with_the_numpy_statement(kind, h, w):
    data, pattern, white = _frame(kind, h, w, seed=h * w)
    grid = evidence.Grid.of(data, pattern, white)
    top = white / 2**grid.shift
    black, span = top * 0.02, top * 0.98
    bright2, dark2 = np.int16(2 * top * 0.8), np.int16(2 * top * 0.1)  # some elements excluded
    edge = (grid.edge.ptr, grid.edge.col, grid.edge.off)
    args = (grid.v, grid.offs, grid.period, grid.border, grid.c, *edge, 3.0, 1.2533, 3.0)
    stats, pos, neg, complete = kernels.frame_pass(*args, bright2, dark2, black, span, 64)
    if not complete:  # room for 64 outliers was too little: the caller retries with more
        stats, pos, neg, complete = kernels.frame_pass(
            *args, bright2, dark2, black, span, grid.v.size
        )
    assert complete
    want, gain = _oracle_stats(grid.v, grid, pattern)
    names = ("abs_sum", "abs_n", "max", "min", "sum", "n")
    for name, a, b in zip(names, stats[:6], want, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)
    sigma, thr = _oracle_sigma(want[0], want[1], gain)
    np.testing.assert_array_equal(stats[6], sigma)

    want_pos, want_neg = _oracle_outliers(
        grid.v, grid, pattern, thr, sigma, bright2, dark2, black, span
    )
    assert want_pos[0].size >= 5 and want_neg[0].size >= 5
    for got_side, want_side in ((pos, want_pos), (neg, want_neg)):
        for a, b in zip(got_side, want_side, strict=True):
            np.testing.assert_array_equal(a, b)


def test_sixteen_bit_raws_are_scaled_to_the_arithmetic():
    """A raw whose white level needs 16 bits is shifted down, not clipped."""
    data, pattern, white = _frame("raw16", 32, 32, seed=3)
    grid = evidence.Grid.of(data, pattern, white)
    assert grid.shift == 2 and int(grid.v.max()) <= kernels.TOP
    np.testing.assert_array_equal(grid.v, data >> 2)


def test_the_passes_are_compiled_once_for_every_frame_type():
    """8-bit and 16-bit frames, mosaics and RGB, writable or not, all run the one 16-bit
    build of the passes: a first run compiles them once, not once per type (only the
    small widening copy is compiled per type)."""
    frames = [_frame(kind, 70, 50, seed=7) for kind in ("rgb", "bayer", "xtrans", "raw16")]
    data, pattern, white = _frame("bayer", 70, 50, seed=8)
    data.setflags(write=False)  # as a simulated camera hands its frames out
    frames.append((data, pattern, white))
    for data, pattern, white in frames:
        evidence.extract(data, black=0.0, white=white, cfa=pattern)
    # the entry point of the passes (loaded from numba's cache, its callees are in it)
    assert len(kernels._block_rows.signatures) == 1, kernels._block_rows.signatures


def test_the_lowest_set_bit_is_found_in_every_place():
    """The outliers' flags are visited by their set bits: every place of a 64-bit word,
    alone or under higher bits, is named right."""
    rng = np.random.default_rng(5)
    for place in range(64):
        low = np.uint64(1) << np.uint64(place)
        above = np.uint64(rng.integers(0, 2**63)) << np.uint64(1) << np.uint64(place)
        for word in (low, low | above):
            got_low, got_place = kernels._lowest_bit(np.uint64(word))
            assert (int(got_low), int(got_place)) == (int(low), place)
