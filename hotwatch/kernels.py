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
def _resid_row(v, y, offs, p, r, c_n, level, resid, tp, tn, hit, levels):
    """One row's resid2 (int16), and either its level2 (``levels``) or its hits.

    With ``levels``, border elements get level 2 x own and resid 0; without, the
    hit flags (resid2 above ``tp`` or below ``-tn``) of the non-border elements
    are written (border flags are left as they are: the caller keeps them 0).
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
            tp[lo:hi],
            tn[lo:hi],
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
            tp[j0:hi:p],
            tn[j0:hi:p],
            hit[j0:hi:p],
            levels,
        )


@njit(cache=True, nogil=True)
def _mid(a, b, c, d, own, level, resid, tp, tn, hit, levels):
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
            hit[i] = (res > tp[i]) | (np.int16(-res) > tn[i])


@njit(cache=True, nogil=True)
def block_stats(v, offs, p, r, c_n):
    """Per (block row, block column, channel): |resid2| sum and count, level2 max/min/sum/count.

    The sampled rows of a block row are first folded into per-element sums and
    extremes (vectorised over the whole row), then reduced per block once.
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
    level = np.empty(wc, np.int16)
    resid = np.empty(wc, np.int16)
    unused = np.empty(wc, np.int16)
    mag = np.empty(wc, np.int32)
    hi_ = np.empty(wc, np.int16)
    lo_ = np.empty(wc, np.int16)
    tot = np.empty(wc, np.int32)
    for b in range(by):
        y0, y1 = b * BLOCK, min(h, (b + 1) * BLOCK)
        mag[:] = 0
        hi_[:] = -32768
        lo_[:] = 32767
        tot[:] = 0
        rows = 0
        inner = 0
        for y in range(y0, y1, SAMPLE):
            _resid_row(v, y, offs, p, r, c_n, level, resid, unused, unused, unused, True)
            for j in range(wc):
                mag[j] += abs(np.int32(resid[j]))
                hi_[j] = max(hi_[j], level[j])
                lo_[j] = min(lo_[j], level[j])
                tot[j] += level[j]
            rows += 1
            inner += r <= y < h - r
        for k in range(bx):
            x0, x1 = k * BLOCK, min(w, (k + 1) * BLOCK)
            cols = max(0, min(x1, w - r) - max(x0, r))  # non-border pixels of the block
            for c in range(c_n):
                part = mag[x0 * c_n + c : x1 * c_n : c_n]
                s = 0
                for i in range(part.size):
                    s += part[i]
                abs_sum[b, k, c] = s
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
    return abs_sum, abs_n, lmax, lmin, lsum, ln


@njit(cache=True, nogil=True)
def outliers(v, offs, p, r, c_n, thr_pos, thr_neg, sigma, black, span, cap):
    """Elements whose resid2 is above ``thr_pos`` or below ``-thr_neg`` of their block.

    ``thr_*`` are (block rows, block columns, channels) int16 thresholds (32767
    where a defect of that sign could not show). Returns the hits as flat pixel
    indices, z (resid2 / sigma) and own value on a 0-255 scale, bright and dark
    apart, in pixel order; a pixel out in several channels keeps its most
    deviant one, of either sign. The counts are -1 when more than ``cap`` hits
    were found (the caller retries with room for more).
    """
    h, wc = v.shape
    w = wc // c_n
    pos_idx = np.empty(cap, np.int64)
    pos_z = np.empty(cap, np.float32)
    pos_val = np.empty(cap, np.uint8)
    neg_idx = np.empty(cap, np.int64)
    neg_z = np.empty(cap, np.float32)
    neg_val = np.empty(cap, np.uint8)
    n_pos = 0
    n_neg = 0
    resid = np.zeros(wc, np.int16)
    tp = np.empty(wc, np.int16)
    tn = np.empty(wc, np.int16)
    words = -(-wc // 4)
    hit = np.zeros(words * 4, np.int16)  # flags, read four at a time
    hit_words = hit.view(np.uint64)
    to255 = np.float32(255.0 / span)
    black32 = np.float32(black)
    for y in range(r, h - r):
        b = y // BLOCK
        if y == r or y % BLOCK == 0:  # this block row's thresholds, per element
            for k in range(thr_pos.shape[1]):
                for c in range(c_n):
                    j0, j1 = k * BLOCK * c_n + c, min(wc, (k + 1) * BLOCK * c_n)
                    tp[j0:j1:c_n] = thr_pos[b, k, c]
                    tn[j0:j1:c_n] = thr_neg[b, k, c]
        _resid_row(v, y, offs, p, r, c_n, resid, resid, tp, tn, hit, False)
        row = v[y]
        for word in range(words):
            if hit_words[word] == 0:
                continue
            for j in range(word * 4, min(wc, word * 4 + 4)):
                if not hit[j]:
                    continue
                res = resid[j]
                x, c = j // c_n, j % c_n
                idx = np.int64(y) * w + x
                z = np.float32(res) / sigma[b, x // BLOCK, c]
                val = (np.float32(_ld(row[j])) - black32) * to255 + np.float32(0.5)
                val8 = np.uint8(min(max(val, np.float32(0.0)), np.float32(255.0)))
                # a pixel stands out one way: its most deviant channel decides (the
                # colour matrix turns one bright photosite into a bright channel and
                # two dark ones at the same pixel, which is not a sign of a stuck one)
                if n_pos and pos_idx[n_pos - 1] == idx:
                    if abs(z) <= pos_z[n_pos - 1]:
                        continue
                    n_pos -= 1
                if n_neg and neg_idx[n_neg - 1] == idx:
                    if abs(z) <= -neg_z[n_neg - 1]:
                        continue
                    n_neg -= 1
                if n_pos == cap or n_neg == cap:
                    return pos_idx, pos_z, pos_val, -1, neg_idx, neg_z, neg_val, -1
                if res > 0:
                    pos_idx[n_pos] = idx
                    pos_z[n_pos] = z
                    pos_val[n_pos] = val8
                    n_pos += 1
                else:
                    neg_idx[n_neg] = idx
                    neg_z[n_neg] = z
                    neg_val[n_neg] = val8
                    n_neg += 1
    return pos_idx, pos_z, pos_val, n_pos, neg_idx, neg_z, neg_val, n_neg
