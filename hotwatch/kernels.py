"""The per-element passes of evidence extraction, compiled (numba).

Why compiled: every photo's tens of millions of elements (a 10 MP raw, or three
channels of a 10 MP JPEG) are compared with their neighbours. In numpy that is
a score of whole-frame passes and temporaries, costing three times as much as
decoding the photo; compiled, each row is read twice (once on the sampled rows
for the block statistics, once for the outliers) and nothing frame-sized is
allocated. The rules that decide what the numbers mean (noise floors, where a
defect could show) stay in :mod:`hotwatch.evidence`, in numpy, on the small
per-block arrays.

Layout: a frame is a 2-D array ``v`` of shape (H, W*C), ``C`` channels
interleaved (a raw mosaic is C=1, an RGB JPEG C=3): the element of pixel x,
channel c sits at column ``x*C + c``. Its same-colour neighbours are given as
(dy, dcolumn) offsets in those units, one set of four per phase of a ``P`` x
``P`` pattern (P=1 when every element has the same offsets: Bayer, JPEG; P=6
for X-Trans). An element within ``r`` pixels of the frame's edge is a *border*
element: its level is its own value and its residual zero (it lacks a full set
of neighbours).

Definitions (in doubled stored units, so that every level is an integer):

* level2 = the sum of the middle two of the four neighbours (the highest and
  the lowest left out, so one bad neighbour does not move it);
* resid2 = 2 x own - level2;
* per (block row, block column, channel), over the *sampled* rows (those whose
  row within the block is 0, 3, 6, 9, 12 or 15): the sum and count of |resid2|
  of the non-border elements; and over the sampled rows and sampled pixel
  columns (column within the block 0, 3, ..., 15): the max, min, sum and count
  of level2. Every third row and column visits both parities of a Bayer
  pattern, so every colour is seen.

The arithmetic is 16-bit (values are taken up to ``TOP``, so that twice a value
fits; the caller scales 16-bit raws down first), and loops run over 0-based
indices into slices: numba then knows no index is negative and the compiler
vectorises them (measured on a 10 MP frame: 3 ms for the residual pass, against
15 ms for the same loop over offset indices in 32-bit arithmetic).
"""

from __future__ import annotations

import numpy as np
from numba import njit

BLOCK = 16
SAMPLE = 3
TOP = 16383  #: the largest element value the 16-bit arithmetic takes


@njit(cache=True, nogil=True, inline="always")
def _ld(x):
    return np.int16(min(x, TOP))


@njit(cache=True, nogil=True, inline="always")
def divmod_by(n, d, inv):
    """``divmod(n, d)`` for n >= 0, with ``inv`` = 1.0 / d: a multiplication instead of
    a 64-bit division (tens of cycles), corrected by one where rounding was off."""
    q = np.int64(n * inv)
    if q * d > n:
        q -= 1
    elif (q + 1) * d <= n:
        q += 1
    return q, n - q * d


@njit(cache=True, nogil=True, inline="always")
def _mid2(a, b, c, d):
    return np.int16(max(min(a, b), min(c, d)) + min(max(a, b), max(c, d)))


@njit(cache=True, nogil=True)
def _resid_row(v, y, offs, p, r, c_n, level, resid, thr, bright2, dark2, hit, levels):
    """One row's resid2 (int16), and either its level2 (``levels``) or its hit flags.

    With ``levels``, border elements get level 2 x own and resid 0; without, the
    hit flags of the non-border elements are written (see :func:`frame_pass`;
    border flags are left as they are: the caller keeps them 0).
    """
    h, wc = v.shape
    row = v[y]
    if y < r or y >= h - r:
        if levels:
            for j in range(wc):
                level[j] = np.int16(2) * _ld(row[j])
                resid[j] = 0
        return
    lo, hi = r * c_n, wc - r * c_n
    if levels:
        for j in range(lo):
            level[j] = np.int16(2) * _ld(row[j])
            resid[j] = 0
        for j in range(hi, wc):
            level[j] = np.int16(2) * _ld(row[j])
            resid[j] = 0
    if p == 1:  # the same four offsets everywhere: one contiguous pass, vectorised
        o = offs[0, 0]
        _mid(
            v[y + o[0, 0], lo + o[0, 1] : hi + o[0, 1]],
            v[y + o[1, 0], lo + o[1, 1] : hi + o[1, 1]],
            v[y + o[2, 0], lo + o[2, 1] : hi + o[2, 1]],
            v[y + o[3, 0], lo + o[3, 1] : hi + o[3, 1]],
            row[lo:hi],
            level[lo:hi],
            resid[lo:hi],
            thr[lo:hi],
            bright2,
            dark2,
            hit[lo:hi],
            levels,
        )
        return
    py = y % p
    for px in range(p):  # one strided pass per phase of the pattern's row
        j0 = lo + (px - lo) % p
        o = offs[py, px]
        _mid(
            v[y + o[0, 0], j0 + o[0, 1] : hi + o[0, 1] : p],
            v[y + o[1, 0], j0 + o[1, 1] : hi + o[1, 1] : p],
            v[y + o[2, 0], j0 + o[2, 1] : hi + o[2, 1] : p],
            v[y + o[3, 0], j0 + o[3, 1] : hi + o[3, 1] : p],
            row[j0:hi:p],
            level[j0:hi:p],
            resid[j0:hi:p],
            thr[j0:hi:p],
            bright2,
            dark2,
            hit[j0:hi:p],
            levels,
        )


@njit(cache=True, nogil=True)
def _mid(a, b, c, d, own, level, resid, thr, bright2, dark2, hit, levels):
    if levels:
        for i in range(own.size):
            m = _mid2(_ld(a[i]), _ld(b[i]), _ld(c[i]), _ld(d[i]))
            level[i] = m
            resid[i] = np.int16(np.int16(2) * _ld(own[i]) - m)
    else:
        for i in range(own.size):
            m = _mid2(_ld(a[i]), _ld(b[i]), _ld(c[i]), _ld(d[i]))
            res = np.int16(np.int16(2) * _ld(own[i]) - m)
            resid[i] = res
            bright = (res > thr[i]) & (m < np.int16(bright2))
            dark = (np.int16(-res) > thr[i]) & (m > np.int16(dark2))
            hit[i] = bright | dark


@njit(cache=True, nogil=True)
def frame_pass(v, offs, p, r, c_n, hit_z, noise_per_abs, floor, bright2, dark2, black, span, cap):
    """Block statistics and outliers of a frame, one block row at a time.

    Per block row, the sampled rows give the block statistics; from them the
    noise of each block and channel, sigma = max(``noise_per_abs`` x mean
    |resid2|, ``floor``) (float32), and its threshold ceil(``hit_z`` x sigma);
    then every row of the block row is compared with the threshold while its
    pixels are still in the CPU cache. An element is a bright outlier when
    resid2 is above the threshold and its level2 below ``bright2`` (a bright
    defect could not stand out in a highlight), a dark one when -resid2 is
    above it and its level2 above ``dark2`` (nor a dark one in a shadow).

    Returns the statistics (|resid2| sum and count, level2 max, min, sum and
    count, per block row, block column and channel), sigma, and the outliers
    as flat pixel indices, z (resid2 x 1 / sigma, in float32) and own value on
    a 0-255 scale, bright and dark apart, in pixel order. A pixel out in several channels
    keeps its most deviant one, of either sign. The last value is False when
    more than ``cap`` outliers were found (the caller retries with room for more).
    """
    h, wc = v.shape
    w = wc // c_n
    by, bx = -(-h // BLOCK), -(-w // BLOCK)
    abs_sum = np.zeros((by, bx, c_n), np.int64)
    abs_n = np.zeros((by, bx, c_n), np.int64)
    lmax = np.zeros((by, bx, c_n), np.int32)
    lmin = np.zeros((by, bx, c_n), np.int32)
    lsum = np.zeros((by, bx, c_n), np.int64)
    ln = np.zeros((by, bx, c_n), np.int64)
    sigma = np.zeros((by, bx, c_n), np.float32)
    pos_idx, neg_idx = np.empty(cap, np.int64), np.empty(cap, np.int64)
    pos_z, neg_z = np.empty(cap, np.float32), np.empty(cap, np.float32)
    pos_val, neg_val = np.empty(cap, np.uint8), np.empty(cap, np.uint8)
    n = np.zeros(2, np.int64)  # bright and dark outliers so far
    level = np.empty(wc, np.int16)
    resid = np.zeros(wc, np.int16)
    thr = np.empty(wc, np.int16)
    inv_sigma = np.empty(wc, np.float32)
    hit = np.zeros(-(-wc // 8) * 8, np.uint8)  # flags, read eight at a time
    sums = np.empty(wc, np.int32)
    hi_ = np.empty(wc, np.int16)
    lo_ = np.empty(wc, np.int16)
    tot = np.empty(wc, np.int32)
    for b in range(by):
        y0, y1 = b * BLOCK, min(h, (b + 1) * BLOCK)
        # -- the block statistics, from the sampled rows folded element by element
        sums[:] = 0
        hi_[:] = -32768
        lo_[:] = 32767
        tot[:] = 0
        rows = 0
        inner = 0
        for y in range(y0, y1, SAMPLE):
            _resid_row(v, y, offs, p, r, c_n, level, resid, thr, 0, 0, hit, True)
            for j in range(wc):
                sums[j] += abs(np.int32(resid[j]))
                hi_[j] = max(hi_[j], level[j])
                lo_[j] = min(lo_[j], level[j])
                tot[j] += level[j]
            rows += 1
            inner += r <= y < h - r
        for k in range(bx):
            x0, x1 = k * BLOCK, min(w, (k + 1) * BLOCK)
            cols = max(0, min(x1, w - r) - max(x0, r))  # non-border pixels of the block
            for c in range(c_n):
                part = sums[x0 * c_n + c : x1 * c_n : c_n]
                total = 0
                for i in range(part.size):
                    total += part[i]
                abs_sum[b, k, c] = total
                abs_n[b, k, c] = inner * cols
                j0, j1, js = x0 * c_n + c, x1 * c_n, SAMPLE * c_n
                mx, mn, sm = hi_[j0], lo_[j0], np.int64(0)
                for j in range(j0, j1, js):
                    mx = max(mx, hi_[j])
                    mn = min(mn, lo_[j])
                    sm += tot[j]
                lmax[b, k, c] = mx
                lmin[b, k, c] = mn
                lsum[b, k, c] = sm
                ln[b, k, c] = rows * len(range(j0, j1, js))
                # -- this block's noise and threshold
                mean = np.float32(total / max(inner * cols, 1))
                sig = max(mean * np.float32(noise_per_abs), np.float32(floor))
                sigma[b, k, c] = sig
                t = min(np.ceil(np.float32(hit_z) * sig), np.float32(32767.0))
                thr[j0:j1:c_n] = np.int16(t)
                inv_sigma[j0:j1:c_n] = np.float32(1.0) / sig
        # -- the outliers of this block row's rows, while they are in the cache
        found = _row_outliers(
            v, offs, p, r, c_n, b, thr, inv_sigma, bright2, dark2, black, span,
            level, resid, hit, pos_idx, pos_z, pos_val, neg_idx, neg_z, neg_val, n,
        )  # fmt: skip
        if not found:
            n[:] = -1
            break
    stats = (abs_sum, abs_n, lmax, lmin, lsum, ln, sigma)
    k_pos, k_neg = max(n[0], 0), max(n[1], 0)
    pos = (pos_idx[:k_pos].copy(), pos_z[:k_pos].copy(), pos_val[:k_pos].copy())
    neg = (neg_idx[:k_neg].copy(), neg_z[:k_neg].copy(), neg_val[:k_neg].copy())
    return stats, pos, neg, n[0] >= 0


@njit(cache=True, nogil=True)
def _row_outliers(
    v, offs, p, r, c_n, b, thr, inv_sigma, bright2, dark2, black, span,
    level, resid, hit, pos_idx, pos_z, pos_val, neg_idx, neg_z, neg_val, n,
):  # fmt: skip
    """The outliers of block row ``b``'s rows; False when there was no room for them.

    ``thr`` and ``inv_sigma`` (1 / sigma, float32) are per element of a row: the
    block row's values, so that a hit costs no division.
    """
    h, wc = v.shape
    w = wc // c_n
    hit_words = hit.view(np.uint64)
    to255 = np.float32(255.0 / span)
    black32 = np.float32(black)
    for y in range(max(b * BLOCK, r), min((b + 1) * BLOCK, h - r)):
        _resid_row(v, y, offs, p, r, c_n, level, resid, thr, bright2, dark2, hit, False)
        row = v[y]
        base = np.int64(y) * w
        for word in range(hit_words.size):
            if hit_words[word] == 0:
                continue
            x, c = divmod(word * 8, c_n)  # one division a word; then counted along
            for j in range(word * 8, min(wc, word * 8 + 8)):
                if hit[j]:
                    z = np.float32(resid[j]) * inv_sigma[j]
                    val = (np.float32(_ld(row[j])) - black32) * to255 + np.float32(0.5)
                    val8 = np.uint8(min(max(val, np.float32(0.0)), np.float32(255.0)))
                    if not _add(
                        pos_idx, pos_z, pos_val, neg_idx, neg_z, neg_val, n, base + x, z, val8
                    ):
                        return False
                c += 1
                if c == c_n:
                    c = 0
                    x += 1
    return True


@njit(cache=True, nogil=True, inline="always")
def _add(pos_idx, pos_z, pos_val, neg_idx, neg_z, neg_val, n, idx, z, val8):
    """Record one channel's hit; False when there is no room left.

    A pixel stands out one way: its most deviant channel decides (the colour
    matrix turns one bright photosite into a bright channel and two dark ones
    at the same pixel, which is not the sign of a stuck one).
    """
    if n[0] and pos_idx[n[0] - 1] == idx:
        if abs(z) <= pos_z[n[0] - 1]:
            return True
        n[0] -= 1
    if n[1] and neg_idx[n[1] - 1] == idx:
        if abs(z) <= -neg_z[n[1] - 1]:
            return True
        n[1] -= 1
    side = 0 if z > 0 else 1
    if n[side] == pos_idx.size:
        return False
    if side == 0:
        pos_idx[n[0]], pos_z[n[0]], pos_val[n[0]] = idx, z, val8
    else:
        neg_idx[n[1]], neg_z[n[1]], neg_val[n[1]] = idx, z, val8
    n[side] += 1
    return True
