"""The per-element passes of evidence extraction, compiled (numba).

Why compiled: every photo's tens of millions of elements (a 10 MP raw, or three
channels of a 10 MP JPEG) are compared with their neighbours. In numpy that is
a score of whole-frame passes and temporaries, costing three times as much as
decoding the photo; compiled, each row is read twice (once on the sampled rows
for the block statistics, once for the outliers) and nothing frame-sized is
allocated. The rules that decide what the numbers mean (noise floors, where a
defect could show) stay in :mod:`hotwatch.core.evidence`, in numpy, on the small
per-block arrays.

Layout: a frame is a 2-D array ``v`` of shape (H, W*C), ``C`` channels
interleaved (a raw mosaic is C=1, an RGB JPEG C=3): the element of pixel x,
channel c sits at column ``x*C + c``. Its same-colour neighbours are given as
(dy, dcolumn) offsets in those units, one set of four per phase of a ``P`` x
``P`` pattern (P=1 when every element has the same offsets: Bayer, JPEG; P=6
for X-Trans). An element within ``r`` pixels of the frame's edge is a *border*
element: it lacks some of those neighbours, so it is compared with the four
in-frame neighbours of its colour that an edge table gives (see
:class:`hotwatch.core.cfa.EdgeTable`); in the block statistics its level is its own
value and its residual zero (the block's noise is measured on the full
neighbourhoods).

Definitions (in doubled stored units, so that every level is an integer):

* level2 = the sum of the middle two of the four neighbours (the highest and
  the lowest left out, so one bad neighbour does not move it);
* resid2 = 2 x own - level2;
* per (block row, block column, channel), over the *sampled* rows (those whose
  row within the block is 0, 3, 6, 9, 12 or 15): the sum and count of |resid2|
  of the non-border elements, less the ``TRIM`` largest of the elements' largest
  (when the block has more than ``4 x TRIM`` of them; the frame's last block row and
  column, when cut short, take these with the block row or column before them: see
  ``SHORT_ROWS``); and over the sampled rows and sampled pixel
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

import math

import numpy as np
from numba import njit

BLOCK = 16
SAMPLE = 3
#: the largest |resid2| values a block's noise leaves out: one stuck or hot photosite on a
#: sampled row (5,000 sigmas out) would otherwise raise the noise of its whole block fifty
#: times, and hide every other defect there (two: :func:`_two_largest` sums them)
TRIM = 2
#: A frame's last block row or column is cut short where the frame's size is not a multiple
#: of ``BLOCK`` (a raw 324 photosites wide ends in a block 4 wide, of which 2 columns are not
#: border elements). Its noise, measured on so few values (the largest two left out), came
#: out 17% low on average and far lower in some frames, and its elements stood out 2.3 to
#: 6.6 times as often as elsewhere, frame after frame at the same places, as a defect does
#: (a clean body's raw reported a dead photosite 3 columns from its edge). So a last block row
#: with under ``SHORT_ROWS`` sampled rows of non-border elements, or a last block column with
#: under ``NARROW_COLS`` columns of them, measures its noise together with the one before.
SHORT_ROWS = 3
NARROW_COLS = BLOCK // 2
SAMPLED = -(-BLOCK // SAMPLE)  #: sampled rows in a whole block


def trim_gains(rows: int = 2 * SAMPLED, cols: int = 2 * BLOCK) -> np.ndarray:
    """(sampled rows, columns) -> the factor that makes a trimmed mean |resid2| of that
    many values estimate the noise as a whole block's does (float32; 1 for a whole block).

    Why: leaving out the ``TRIM`` largest of fewer values leaves out a larger share of the
    noise (of 2 columns by 6 rows: 17% of the mean), and more of them more (a block row and
    the short one after it, pooled). Exact for Gaussian noise, from the order statistics of
    the column peaks (the kernels leave out the largest two of the columns' largest
    values): E[max] = integral of 1 - CDF.
    """
    mean_abs = math.sqrt(2 / math.pi)  # E|x| of unit Gaussian noise
    x = np.linspace(0.0, 8.0, 4001)
    half = np.array([math.erf(v / math.sqrt(2)) for v in x])  # CDF of |x|
    r = np.arange(1, rows + 1)[:, None, None]
    c = np.arange(1, cols + 1)[None, :, None]
    peak = half**r  # CDF of a column's largest
    below = peak ** (c - 1)  # of the largest of c - 1 columns
    # E[largest] and E[second largest] of the columns' largest (0 of one column)
    first = _integral(1 - below * peak, x)
    second = np.where(c[..., 0] > 1, _integral(1 - below * peak - c * below * (1 - peak), x), 0)
    n = (r * c)[..., 0]
    trimmed = (n * mean_abs - first - second) / (np.maximum(n - TRIM, 1) * mean_abs)
    share = np.where(n > 4 * TRIM, trimmed, 1.0)  # E[trimmed mean] / E|x| (few: untrimmed)
    gains = np.ones((rows + 1, cols + 1), np.float32)
    gains[1:, 1:] = share[SAMPLED - 1, BLOCK - 1] / share
    return gains


def _integral(f: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Over the last axis, on the even grid ``x``: the trapezoid rule (numpy's own was
    renamed in 2.0)."""
    return ((f[..., 1:] + f[..., :-1]) / 2).sum(axis=-1) * (x[1] - x[0])


#: see :func:`trim_gains`
TRIM_GAINS = trim_gains()
#: JPEG: a pixel within this many pixels of one standing out the other way ...
OVERSHOOT = 3
#: ... at least this many times as far, in the same frame and channel, is its ringing
OVERSHOOT_RATIO = 1.5
#: JPEG: and a pixel within this many pixels of one whose *other* channel stands out the
#: other way far more: the demosaic and colour matrix draw an opposite dip
#: in the other channels around a bright photosite (and the reverse), a shade of it
SMEAR = 2
SMEAR_RATIO = 3.0  #: ... this many times as far (scene colour edges come close to 1.5)
RING = 2 * OVERSHOOT + 1  #: rows of residuals kept around the row being read
#: elements (not pixels: channels side by side) per cell of a ring row's residual extremes,
#: which rule out most rivals of an outlier (see :func:`_overshoot`) in a few looks instead
#: of a hundred; a constant count the compiler turns into a few vector instructions
CELL = 64
TOP = 16383  #: the largest element value the 16-bit arithmetic takes
PIECE = 4  #: block rows of an 8-bit frame widened at a time (see :func:`frame_pass`)
#: Why the calls below pass ``_NIL`` and computed flags (``c_n > 0``: always true) rather
#: than ``0`` and ``True``: numba compiles a function once per literal value it is called
#: with, and the literal calls doubled the first run's build of these passes.
_NIL = np.int16(0)


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
def _hit(res, m, thr, bright2, dark2):
    """Whether an element with residual ``res`` and level ``m`` stands out: bright above
    the threshold where its neighbours are not bright (a bright defect could not show in
    a highlight), or dark where they are not black (nor a dark one in a shadow)."""
    bright = (res > thr) & (m < np.int16(bright2))
    dark = (np.int16(-res) > thr) & (m > np.int16(dark2))
    return bright | dark


@njit(cache=True, nogil=True, inline="always")
def _mid2(a, b, c, d):
    return np.int16(max(min(a, b), min(c, d)) + min(max(a, b), max(c, d)))


@njit(cache=True, nogil=True)
def _resid_row(v, y0, h, y, offs, p, r, c_n, level, resid, thr, bright2, dark2, hit, levels):
    """One row's resid2 (int16), and either its level2 (``levels``) or its hit flags.

    With ``levels``, border elements get level 2 x own and resid 0; without, the
    hit flags of the non-border elements are written (see :func:`frame_pass`;
    border flags are left as they are: the caller keeps them 0).
    """
    wc = v.shape[1]
    yb = y - y0  # the row in ``v``
    row = v[yb]
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
            v[yb + o[0, 0], lo + o[0, 1] : hi + o[0, 1]],
            v[yb + o[1, 0], lo + o[1, 1] : hi + o[1, 1]],
            v[yb + o[2, 0], lo + o[2, 1] : hi + o[2, 1]],
            v[yb + o[3, 0], lo + o[3, 1] : hi + o[3, 1]],
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
            v[yb + o[0, 0], j0 + o[0, 1] : hi + o[0, 1] : p],
            v[yb + o[1, 0], j0 + o[1, 1] : hi + o[1, 1] : p],
            v[yb + o[2, 0], j0 + o[2, 1] : hi + o[2, 1] : p],
            v[yb + o[3, 0], j0 + o[3, 1] : hi + o[3, 1] : p],
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
            hit[i] = _hit(res, m, thr[i], bright2, dark2)


@njit(cache=True, nogil=True)
def _edge_row(v, y0, y, e_ptr, e_col, e_off, level, resid, thr, bright2, dark2, hit):
    """Row ``y``'s elements near the frame's edge: level2 from the middle two of the
    four in-frame neighbours their table gives, resid2, and their hit flags (as
    :func:`_mid`)."""
    yb = y - y0
    row = v[yb]
    for k in range(e_ptr[y], e_ptr[y + 1]):
        j = e_col[k]
        o = e_off[k]
        m = _mid2(
            _ld(v[yb + o[0, 0], j + o[0, 1]]),
            _ld(v[yb + o[1, 0], j + o[1, 1]]),
            _ld(v[yb + o[2, 0], j + o[2, 1]]),
            _ld(v[yb + o[3, 0], j + o[3, 1]]),
        )
        res = np.int16(np.int16(2) * _ld(row[j]) - m)
        level[j] = m
        resid[j] = res
        hit[j] = _hit(res, m, thr[j], bright2, dark2)


def frame_pass(
    v, offs, p, r, c_n, e_ptr, e_col, e_off, hit_z, noise_per_abs, floor, bright2, dark2,
    black, span, cap,
):  # fmt: skip
    """Block statistics and outliers of a frame, one block row at a time.

    Per block row, the sampled rows give the block statistics; from them the
    noise of each block and channel, sigma = max(``noise_per_abs`` x mean
    |resid2| x the trimming's gain (see :func:`trim_gains`), ``floor``) (float32), and its
    threshold ceil(``hit_z`` x sigma);
    then every row of the block row is compared with the threshold while its
    pixels are still in the CPU cache. The elements near the frame's edge have
    their own noise per block: their one-sided neighbours estimate their level
    less well, so it is never below the block's, and it is measured on every
    edge element of the block, each |resid2| taken up to twice the block's
    threshold (so a defect there does not raise it). An element is a bright outlier when
    resid2 is above the threshold and its level2 below ``bright2`` (a bright
    defect could not stand out in a highlight), a dark one when -resid2 is
    above it and its level2 above ``dark2`` (nor a dark one in a shadow).

    Returns the statistics (|resid2| sum and count, level2 max, min, sum and
    count, per block row, block column and channel), sigma, and the outliers
    as flat pixel indices, z (resid2 x 1 / sigma, in float32) and own value on
    a 0-255 scale, bright and dark apart, in pixel order, and the bright ones' channel. A
    pixel out in several channels keeps its most deviant one, of either sign. The last
    value is False when more than ``cap`` outliers were found (the caller retries with room
    for more).

    Why the passes are compiled for 16-bit rows only, and an 8-bit frame is widened a
    few block rows at a time into a small buffer (:func:`_widen`, the only code compiled
    per type): numba compiles a function once per argument type, and these passes are
    most of a first run's build (about 8 s of CPU each time). Widened in pieces that stay
    in the CPU cache, an 8-bit frame costs about 2 ms more at 10 MP; a whole-frame copy
    would cost 10. (A read-only 16-bit frame is another type to numba: it is copied the
    same way.)
    """
    h, wc = v.shape
    w = wc // c_n
    by, bx = -(-h // BLOCK), -(-w // BLOCK)
    stats = (
        np.zeros((by, bx, c_n), np.int64),  # |resid2| sum
        np.zeros((by, bx, c_n), np.int64),  # and count
        np.zeros((by, bx, c_n), np.int32),  # level2 max
        np.zeros((by, bx, c_n), np.int32),  # min
        np.zeros((by, bx, c_n), np.int64),  # sum
        np.zeros((by, bx, c_n), np.int64),  # and count
        np.zeros((by, bx, c_n), np.float32),  # sigma
    )
    found = (
        np.empty(cap, np.int64), np.empty(cap, np.float32), np.empty(cap, np.uint8),
        np.empty(cap, np.uint8),  # the channel of each bright outlier
        np.empty(cap, np.int64), np.empty(cap, np.float32), np.empty(cap, np.uint8),
        np.zeros(2, np.int64),  # bright and dark outliers so far
    )  # fmt: skip
    # demosaiced frames: levels and residuals of the rows around the one being read, and
    # the last row there (they carry over from one piece of the frame to the next)
    cells = -(-wc // CELL)
    ring = (
        np.zeros((RING, wc), np.int16),  # levels
        np.zeros((RING, wc), np.int16),  # residuals
        np.full(1, -1),  # the last row there
        np.zeros((RING, cells), np.int16),  # per cell of CELL elements: the largest residual
        np.zeros((RING, cells), np.int16),  # and the smallest
    )
    # the last block row's sampled statistics, per element, for a short one after it
    carry = (np.zeros(wc, np.int32), np.zeros(wc, np.int32), np.zeros(1, np.int64))
    rules = (hit_z, noise_per_abs, floor, bright2, dark2, black, span, TRIM_GAINS)
    edge = (e_ptr, e_col, e_off)
    if v.dtype == np.uint16 and v.flags.writeable and v.flags.c_contiguous:
        complete = _block_rows(
            v, 0, h, 0, by, offs, p, r, c_n, edge, rules, stats, found, ring, carry
        )
    else:
        reach = max(int(np.abs(offs[..., 0]).max()), int(np.abs(e_off[..., 0]).max(initial=0)))
        buf = np.empty((min(h, PIECE * BLOCK + 2 * reach + OVERSHOOT), wc), np.uint16)
        complete = True
        for b0 in range(0, by, PIECE):
            b1 = min(by, b0 + PIECE)
            y0 = max(0, b0 * BLOCK - reach)  # the rows this piece reads
            y1 = min(h, b1 * BLOCK + OVERSHOOT + reach)
            _widen(v, y0, y1, buf)
            piece = buf[: y1 - y0]
            complete = _block_rows(piece, y0, h, b0, b1, offs, p, r, c_n, edge, rules, stats,
                                   found, ring, carry)  # fmt: skip
            if not complete:
                break
    pos_idx, pos_z, pos_val, pos_ch, neg_idx, neg_z, neg_val, n = found
    k_pos, k_neg = (n[0], n[1]) if complete else (0, 0)
    pos = tuple(a[:k_pos].copy() for a in (pos_idx, pos_z, pos_val, pos_ch))
    neg = (neg_idx[:k_neg].copy(), neg_z[:k_neg].copy(), neg_val[:k_neg].copy())
    return stats, pos, neg, complete


@njit(cache=True, nogil=True)
def _widen(v, y0, y1, out):
    """Rows ``y0`` to ``y1`` of ``v`` into the first rows of ``out`` (16-bit)."""
    for y in range(y0, y1):
        row, dst = v[y], out[y - y0]
        for j in range(row.size):
            dst[j] = row[j]


@njit(cache=True, nogil=True)
def _block_rows(v, y0, h, b0, b1, offs, p, r, c_n, edge, rules, stats, found, ring, carry):
    """Block rows ``b0`` to ``b1`` of :func:`frame_pass`; ``v`` holds the frame's rows
    from ``y0`` on (all that these block rows read), ``h`` is the frame's height;
    ``carry``: the sums and peaks of |resid2| of the frame's last block row but one, and
    its number of sampled non-border rows, kept for the last (see ``SHORT_ROWS``; it may
    be read in the next piece). False when there was no room for the outliers."""
    e_ptr, e_col, e_off = edge
    hit_z, noise_per_abs, floor, bright2, dark2, black, span, gains = rules
    abs_sum, abs_n, lmax, lmin, lsum, ln, sigma = stats
    pos_idx, pos_z, pos_val, pos_ch, neg_idx, neg_z, neg_val, n = found
    ring_lvl, ring_res, ready, ring_hi, ring_lo = ring
    last_sums, last_peak, last_inner = carry
    wc = v.shape[1]
    w = wc // c_n
    bx = -(-w // BLOCK)
    level = np.empty(wc, np.int16)
    resid = np.zeros(wc, np.int16)
    thr = np.empty(wc, np.int16)
    inv_sigma = np.empty(wc, np.float32)
    thr_e = np.empty(wc, np.int16)  # the same for the elements near the edge
    inv_e = np.empty(wc, np.float32)
    e_sum = np.zeros((bx, c_n), np.int64)
    e_n = np.zeros((bx, c_n), np.int64)
    hit = np.zeros(-(-wc // 8) * 8, np.uint8)  # flags, read eight at a time
    sums = np.empty(wc, np.int32)
    peak = np.empty(wc, np.int32)  # each element's largest |resid2| over the sampled rows
    hi_ = np.empty(wc, np.int16)
    lo_ = np.empty(wc, np.int16)
    tot = np.empty(wc, np.int32)
    for b in range(b0, b1):
        y_lo, y_hi = b * BLOCK, min(h, (b + 1) * BLOCK)
        # -- the block statistics, from the sampled rows folded element by element
        sums[:] = 0
        peak[:] = 0
        hi_[:] = -32768
        lo_[:] = 32767
        tot[:] = 0
        rows = 0
        inner = 0
        for y in range(y_lo, y_hi, SAMPLE):
            _resid_row(v, y0, h, y, offs, p, r, c_n, level, resid, thr, _NIL, _NIL, hit, c_n > 0)
            for j in range(wc):
                a = abs(np.int32(resid[j]))
                sums[j] += a
                peak[j] = max(peak[j], a)
                hi_[j] = max(hi_[j], level[j])
                lo_[j] = min(lo_[j], level[j])
                tot[j] += level[j]
            rows += 1
            inner += r <= y < h - r
        # the noise's values: a short last block row's with the block row's before it
        n_sums, n_peak, n_inner = sums, peak, inner
        if b > 0 and y_hi == h and inner < SHORT_ROWS:  # (once a frame at most)
            n_sums, n_peak = sums + last_sums, np.maximum(peak, last_peak)
            n_inner = inner + last_inner[0]
        for k in range(bx):
            x0, x1 = k * BLOCK, min(w, (k + 1) * BLOCK)
            # ... and a narrow last block column's with the block's before it
            n0 = x0 - BLOCK if k > 0 and x1 == w and _inside(x0, x1, w, r) < NARROW_COLS else x0
            cols = _inside(n0, x1, w, r)
            for c in range(c_n):
                total, count = _trimmed(n_sums, n_peak, n0 * c_n + c, x1 * c_n, c_n, n_inner * cols)
                abs_sum[b, k, c] = total
                abs_n[b, k, c] = count
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
                mean = np.float32(total / max(count, 1)) * gains[n_inner, cols]
                sig = max(mean * np.float32(noise_per_abs), np.float32(floor))
                sigma[b, k, c] = sig
                t = min(np.ceil(np.float32(hit_z) * sig), np.float32(32767.0))
                thr[j0:j1:c_n] = np.int16(t)
                inv_sigma[j0:j1:c_n] = np.float32(1.0) / sig
        if b == -(-h // BLOCK) - 2:  # the block row before the last: kept for it
            last_sums[:] = sums
            last_peak[:] = peak
            last_inner[0] = inner
        # -- the noise of the elements near the edge, per block and channel
        _edge_noise(v, y0, h, b, e_ptr, e_col, e_off, c_n, thr, level, resid, hit, e_sum, e_n)
        for k in range(bx):
            x0, x1 = k * BLOCK, min(w, (k + 1) * BLOCK)
            for c in range(c_n):
                sig = sigma[b, k, c]
                if e_n[k, c]:
                    mean = np.float32(e_sum[k, c] / e_n[k, c])
                    sig = max(sig, mean * np.float32(noise_per_abs))
                t = min(np.ceil(np.float32(hit_z) * sig), np.float32(32767.0))
                thr_e[x0 * c_n + c : x1 * c_n : c_n] = np.int16(t)
                inv_e[x0 * c_n + c : x1 * c_n : c_n] = np.float32(1.0) / sig
        # -- the outliers of this block row's rows, while they are in the cache
        room = _row_outliers(
            v, y0, h, offs, p, r, c_n, e_ptr, e_col, e_off, b, thr, inv_sigma, thr_e, inv_e,
            bright2, dark2, black, span, level, resid, hit, ring_lvl, ring_res, ready, ring_hi,
            ring_lo, pos_idx, pos_z, pos_val, pos_ch, neg_idx, neg_z, neg_val, n,
        )  # fmt: skip
        if not room:
            return False
    return True


@njit(cache=True, nogil=True, inline="always")
def _inside(x0, x1, w, r):
    """How many of the columns ``x0`` to ``x1`` are not border columns."""
    return max(0, min(x1, w - r) - max(x0, r))


@njit(cache=True, nogil=True, inline="always")
def _trimmed(sums, peak, j0, j1, step, count):
    """The sum and count of |resid2| of elements ``j0:j1:step`` (``count`` values, their
    sums and largest in ``sums`` and ``peak``), the largest few left out: a defect is no
    noise."""
    part = sums[j0:j1:step]
    total = 0
    for i in range(part.size):
        total += part[i]
    if count > 4 * TRIM:
        total -= _two_largest(peak[j0:j1:step])
        count -= TRIM
    return total, count


@njit(cache=True, nogil=True, inline="always")
def _two_largest(a):
    """The sum of the two largest values of ``a`` (``TRIM`` is 2). In two scalars, not a
    small array, and without a branch (which one wins is a coin toss to the CPU's
    predictor): an array made per block and channel, and the branches, cost 12 ms per
    10 MP JPEG."""
    first, second = np.int64(0), np.int64(0)
    for i in range(a.size):
        v = np.int64(a[i])
        second = max(second, min(first, v))
        first = max(first, v)
    return first + second


@njit(cache=True, nogil=True, inline="always")
def _edge_noise(v, y0, h, b, e_ptr, e_col, e_off, c_n, thr, level, resid, hit, e_sum, e_n):
    """Sum and count of the edge elements' |resid2| in block row ``b``, per block column
    and channel, each taken up to twice its block's threshold ``thr`` (``level``,
    ``resid`` and ``hit`` are scratch)."""
    e_sum[:] = 0
    e_n[:] = 0
    for y in range(b * BLOCK, min((b + 1) * BLOCK, h)):
        _edge_row(v, y0, y, e_ptr, e_col, e_off, level, resid, thr, _NIL, _NIL, hit)
        for k in range(e_ptr[y], e_ptr[y + 1]):
            j = e_col[k]
            x = j // c_n
            c = j - x * c_n
            e_sum[x // BLOCK, c] += min(abs(np.int32(resid[j])), 2 * np.int32(thr[j]))
            e_n[x // BLOCK, c] += 1


@njit(cache=True, nogil=True)
def _row_outliers(
    v, y0, h, offs, p, r, c_n, e_ptr, e_col, e_off, b, thr, inv_sigma, thr_e, inv_e, bright2, dark2,
    black, span, level, resid, hit, ring_lvl, ring_res, ready, ring_hi, ring_lo, pos_idx,
    pos_z, pos_val, pos_ch, neg_idx, neg_z, neg_val, n,
):  # fmt: skip
    """The outliers of block row ``b``'s rows; False when there was no room for them.

    ``thr`` and ``inv_sigma`` (1 / sigma, float32) are per element of a row: the
    block row's values, so that a hit costs no division; ``thr_e`` and ``inv_e`` the
    same for the elements near the edge, which are judged against the neighbours of
    the edge table (``e_*``).

    In a demosaiced frame (more than one channel) an outlier counts only where it is
    the peak of its channel's residuals of its sign among the eight pixels around it:
    a JPEG smears one bad photosite over its neighbours, and the smear is the same
    defect, not more evidence at other places. The residuals of the rows above and
    below are kept in ``ring_*`` (``ready``: the last row there; ``ring_hi``/``ring_lo``:
    the extremes of their cells, see :func:`_no_rival`).
    """
    wc = v.shape[1]
    to255 = np.float32(255.0 / span)
    black32 = np.float32(black)
    lo, hi = r * c_n, wc - r * c_n
    peaks = c_n > 1
    for y in range(b * BLOCK, min((b + 1) * BLOCK, h)):
        inner_row = r <= y < h - r
        if peaks:
            for yy in range(max(ready[0] + 1, y), min(y + OVERSHOOT + 1, h)):
                _levels_row(
                    v, y0, h, yy, offs, p, r, c_n, e_ptr, e_col, e_off, ring_lvl[yy % RING],
                    ring_res[yy % RING], thr, hit,
                )  # fmt: skip
                _cell_extremes(ring_res[yy % RING], ring_hi[yy % RING], ring_lo[yy % RING])
                ready[0] = yy
            res_row = ring_res[y % RING]
            _flags_row(
                res_row, ring_lvl[y % RING], thr, thr_e, inner_row, lo, hi, bright2, dark2, hit
            )
        else:
            if inner_row:
                _resid_row(
                    v, y0, h, y, offs, p, r, c_n, level, resid, thr, bright2, dark2, hit, c_n < 0
                )
            _edge_row(v, y0, y, e_ptr, e_col, e_off, level, resid, thr_e, bright2, dark2, hit)
            res_row = resid
        found = _emit_row(
            v, y0, h, y, c_n, res_row, hit, inv_sigma, inv_e, inner_row, lo, hi, to255, black32,
            peaks, ring_res, ring_hi, ring_lo, pos_idx, pos_z, pos_val, pos_ch, neg_idx, neg_z,
            neg_val, n,
        )  # fmt: skip
        if not found:
            return False
    return True


@njit(cache=True, nogil=True, inline="always")
def _levels_row(v, y0, h, y, offs, p, r, c_n, e_ptr, e_col, e_off, level, resid, scratch, hit):
    """level2 and resid2 of every element of row ``y``, the edge ones included."""
    if r <= y < h - r:
        _resid_row(v, y0, h, y, offs, p, r, c_n, level, resid, scratch, _NIL, _NIL, hit, c_n > 0)
    _edge_row(v, y0, y, e_ptr, e_col, e_off, level, resid, scratch, _NIL, _NIL, hit)


@njit(cache=True, nogil=True, inline="always")
def _flags_row(resid, level, thr, thr_e, inner_row, lo, hi, bright2, dark2, hit):
    """The hit flags of a row whose residuals are known (as :func:`_mid` would set them)."""
    wc = resid.size
    if inner_row:
        _flags(resid[:lo], level[:lo], thr_e[:lo], bright2, dark2, hit[:lo])
        _flags(resid[lo:hi], level[lo:hi], thr[lo:hi], bright2, dark2, hit[lo:hi])
        _flags(resid[hi:wc], level[hi:wc], thr_e[hi:wc], bright2, dark2, hit[hi:wc])
    else:
        _flags(resid[:wc], level[:wc], thr_e[:wc], bright2, dark2, hit[:wc])


@njit(cache=True, nogil=True)
def _flags(resid, level, thr, bright2, dark2, hit):
    """Over 0-based slices, which the compiler vectorises (no index can be negative)."""
    for j in range(resid.size):
        res, m = resid[j], level[j]
        hit[j] = _hit(res, m, thr[j], bright2, dark2)


@njit(cache=True, nogil=True)
def _emit_row(
    v, y0, h, y, c_n, resid, hit, inv_sigma, inv_e, inner_row, lo, hi, to255, black32, peaks,
    ring_res, ring_hi, ring_lo, pos_idx, pos_z, pos_val, pos_ch, neg_idx, neg_z, neg_val, n,
):  # fmt: skip
    """Record the flagged elements of row ``y``; with ``peaks``, only those that are their
    pixel's most deviant channel, the peak of that channel around them, and no overshoot
    of a far stronger one of the other sign (see :func:`_overshoot`). False when there
    was no room left.

    The flags are visited a word of eight at a time, and in a word only the set ones,
    found by bit arithmetic: a detailed JPEG flags one element in seventy, scattered,
    and a test of every flag mispredicted often enough to cost 4 ms per 10 MP frame.
    Each pixel is recorded once without looking back: only one of its channels can be
    the most deviant.
    """
    wc = v.shape[1]
    hit_words = hit.view(np.uint64)
    row = v[y - y0]
    base = np.int64(y) * (wc // c_n)
    inv_c = 1.0 / c_n
    for word in range(hit_words.size):
        bits = hit_words[word]
        while bits:
            low, bit = _lowest_bit(bits)
            bits ^= low
            j = word * 8 + (bit >> 3)  # a flag is a byte of 0 or 1: its bit is 8 x its place
            if j >= wc:
                break
            x, c = divmod_by(j, c_n, inv_c)
            inv = inv_sigma if inner_row and lo <= j < hi else inv_e
            z = np.float32(resid[j]) * inv[j]
            if peaks and (
                not _is_peak(ring_res, y, h, j, c_n)
                or not _most_deviant(resid, j - c, c, c_n, z, inv)
                or _overshoot(ring_res, ring_hi, ring_lo, y, h, j, c_n)
            ):
                continue
            val = (np.float32(_ld(row[j])) - black32) * to255 + np.float32(0.5)
            val8 = np.uint8(min(max(val, np.float32(0.0)), np.float32(255.0)))
            side = 0 if z > 0 else 1
            k = n[side]
            if k == pos_idx.size:
                return False
            if side == 0:
                pos_idx[k], pos_z[k], pos_val[k], pos_ch[k] = base + x, z, val8, c
            else:
                neg_idx[k], neg_z[k], neg_val[k] = base + x, z, val8
            n[side] = k + 1
    return True


#: de Bruijn's table: the place of a word's only set bit, from the top six bits of the word
#: times ``_DE_BRUIJN`` (every 6-bit pattern appears once in that constant's bits)
_BIT_PLACE = np.array(
    [0, 1, 48, 2, 57, 49, 28, 3, 61, 58, 50, 42, 38, 29, 17, 4, 62, 55, 59, 36, 53, 51, 43, 22,
     45, 39, 33, 30, 24, 18, 12, 5, 63, 47, 56, 27, 60, 41, 37, 16, 54, 35, 52, 21, 44, 32, 23,
     11, 46, 26, 40, 15, 34, 20, 31, 10, 25, 14, 19, 9, 13, 8, 7, 6],
    np.int64,
)  # fmt: skip
_DE_BRUIJN = np.uint64(0x03F79D71B4CB0A89)


@njit(cache=True, nogil=True, inline="always")
def _lowest_bit(bits):
    """The lowest set bit of ``bits`` (non-zero), as a word and as its place (0-63)."""
    low = bits & (~bits + np.uint64(1))
    return low, _BIT_PLACE[np.int64((low * _DE_BRUIJN) >> np.uint64(58))]


@njit(cache=True, nogil=True)
def _cell_extremes(resid, hi, lo):
    """The largest and smallest residual of each cell of ``CELL`` elements of a row (each
    cell a slice of its own: indexed from the row's start, the loop ran six times
    slower)."""
    for k in range(hi.size):
        part = resid[k * CELL : (k + 1) * CELL]
        mx, mn = part[0], part[0]
        for i in range(part.size):
            mx = max(mx, part[i])
            mn = min(mn, part[i])
        hi[k] = mx
        lo[k] = mn


@njit(cache=True, nogil=True, inline="always")
def _no_rival(extreme, y, h, j0, j1, sign, far):
    """Whether no element ``j0`` to ``j1`` of the rows within ``OVERSHOOT`` of row y stands
    out the other way ``far`` or more (``extreme``: the cells' smallest residuals for a
    bright element, their largest for a dark one): judged on the cells' extremes (on
    detailed 10 MP JPEGs this clears enough outliers to save 12 of the check's 21 ms)."""
    for yy in range(max(y - OVERSHOOT, 0), min(y + OVERSHOOT + 1, h)):
        cells = extreme[yy % RING]
        for k in range(j0 // CELL, (j1 - 1) // CELL + 1):
            if sign * np.int32(cells[k]) <= -far:
                return False
    return True


@njit(cache=True, nogil=True)
def _overshoot(ring_res, ring_hi, ring_lo, y, h, j, c_n):
    """Whether element (y, j) stands within ``OVERSHOOT`` pixels of an element of its
    channel that stands out the other way ``OVERSHOOT_RATIO`` times as far, in this frame:
    the ring JPEG's ringing and shared chroma draw around a strong defect, not a defect of
    its own (a defect beside a strong one still counts in the frames where that one does
    not dwarf it, and those are most: a dead pixel shows on lit scenes, a hot one on dark).
    Within ``SMEAR`` pixels the other channels count too: the demosaic and the colour
    matrix put an opposite dip in the other channels around a bright photosite."""
    wc = ring_res.shape[1]
    own = np.int32(ring_res[y % RING, j])
    # the rival must stand out the other way at least this far (own is never 0: it is out)
    far = np.int32(np.ceil(OVERSHOOT_RATIO * abs(own)))
    sign = np.int32(1) if own > 0 else np.int32(-1)  # a rival is below -far, signed so
    x, w = j // c_n, wc // c_n
    e0, e1 = max(x - OVERSHOOT, 0) * c_n, (min(x + OVERSHOOT, w - 1) + 1) * c_n
    if _no_rival(ring_lo if own > 0 else ring_hi, y, h, e0, e1, sign, far):
        return False
    j0 = j - c_n * min(OVERSHOOT, x)  # the window, clipped to the row: its channel
    j1 = min(j + OVERSHOOT * c_n, wc - 1) + 1
    for yy in range(max(y - OVERSHOOT, 0), min(y + OVERSHOOT + 1, h)):
        nb = ring_res[yy % RING]
        for jj in range(j0, j1, c_n):
            if sign * np.int32(nb[jj]) <= -far:
                return True
    # every channel of the pixels within SMEAR (its own channel there was seen above)
    far = np.int32(np.ceil(SMEAR_RATIO * abs(own)))
    k0 = max(x - SMEAR, 0) * c_n
    k1 = (min(x + SMEAR, w - 1) + 1) * c_n
    for yy in range(max(y - SMEAR, 0), min(y + SMEAR + 1, h)):
        nb = ring_res[yy % RING]
        for jj in range(k0, k1):
            if sign * np.int32(nb[jj]) <= -far:
                return True
    return False


@njit(cache=True, nogil=True, inline="always")
def _most_deviant(resid, first, c, c_n, z, inv):
    """Whether channel ``c`` of the pixel whose first element is ``first`` is its most
    deviant, of either sign (the first of equals): the colour matrix and the shared
    chroma of a JPEG put an opposite dip in other channels beside a bright photosite,
    which is no defect of its own. ``inv``: 1 / sigma per element (a pixel's channels
    are all near the frame's edge, or none). Without a branch per channel: which one
    wins is a coin toss to the CPU's predictor."""
    az = abs(z)
    outdone = False
    for k in range(c_n):
        zk = abs(np.float32(resid[first + k]) * inv[first + k])
        outdone |= (k != c) & ((zk > az) | ((zk == az) & (k < c)))
    return not outdone


@njit(cache=True, nogil=True, inline="always")
def _is_peak(ring_res, y, h, j, c_n):
    """Whether element (y, j) is the peak of its channel's residuals of its sign among the
    eight pixels around it (equals keep both; beyond the frame's edge there is no rival).
    Asked only of the flagged elements (one in seventy in a detailed JPEG): a pass over
    every element cost 8 ms per 10 MP frame."""
    wc = ring_res.shape[1]
    mid = ring_res[y % RING]
    up = ring_res[(y - 1) % RING] if y > 0 else mid
    down = ring_res[(y + 1) % RING] if y + 1 < h else mid
    a = mid[j]
    top, bottom = max(up[j], down[j]), min(up[j], down[j])
    for jj in (j - c_n, j + c_n):
        if 0 <= jj < wc:
            top = max(top, max(mid[jj], max(up[jj], down[jj])))
            bottom = min(bottom, min(mid[jj], min(up[jj], down[jj])))
    return (a > 0 and a >= top) or (a < 0 and a <= bottom)
