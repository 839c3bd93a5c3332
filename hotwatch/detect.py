"""From accumulated evidence to a list of defects, each reported once.

An element is a defect when its weighted outlier count is both large in
absolute terms and many times what a healthy element of its block collected
(the block's "null" expectation, summed from each frame's outlier rate). Its
kind follows from which way it stood out and whether its own value moved with
the scene. In a JPEG one bad photosite smears into a small blob, so only the
strongest element of a blob is kept; RAW photosites are exact and all kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from numba import njit

from .accumulator import (
    CEILING,
    NEG,
    NULL_SCALE,
    POS_HI,
    POS_LO,
    WEIGHT_STEPS,
    Accumulator,
)
from .evidence import BLOCK
from .model import Defect, DefectKind


@dataclass(frozen=True)
class DetectParams:
    """Thresholds; the defaults are tuned on simulated rolls (see benchmarks/)."""

    min_weight: int = 12  #: weighted outlier count needed at the least
    ratio: float = 8.0  #: ... and this many times the block's null expectation,
    ratio_per_decade: float = 2.0  #: plus this much per tenfold elements beyond 100,000
    #: (the more elements, the more chances that one healthy element looks bad by luck)
    null_floor: float = 1.0  #: added to the null expectation (few-frame caution)
    stuck_spread_raw: int = 8  #: own-value range (0-255) under which a pixel is "one value"
    stuck_spread_jpeg: int = 24
    dead_level: int = 24  #: a dark outlier whose values stay below this is dead
    hot_rate_ratio: float = 0.25  #: shows this much less often at short exposures: hot
    blob_radius: int = 4  #: JPEG: outliers this close to a stronger one are its blob
    echo_radius: int = 15  #: JPEG: ... and weaker ones this close (one 16x8 MCU) its ringing
    echo_ratio: float = 0.5


def detect(
    acc: Accumulator, params: DetectParams | None = None, among: np.ndarray | None = None
) -> list[Defect]:
    """Defects supported by ``acc``'s evidence, strongest first.

    ``among`` limits the search to these flat element indices (the elements
    a new frame just hit: only they can have become defects), which keeps a
    per-frame check cheap. ``confirmed`` is left None: the caller knows which
    frame confirmed them.
    """
    p = params or DetectParams()
    cand = candidates(acc, p) if among is None else np.unique(among)
    ev = _evaluate(acc, cand, p)
    keep = ev.pos_sig | ev.neg_sig
    if not keep.any():
        return []
    ev = ev.subset(keep)
    order = np.argsort(-ev.score, kind="stable")
    if acc.kind == "jpeg":
        blobs = _blob_centres(order, ev.ys, ev.xs, ev.score, ev.pos_sig, p)
        return [ev.defect(i, int(ev.xs[c]), int(ev.ys[c])) for i, c in blobs]
    order = _drop_shadows(order, ev.ys, ev.xs, ev.score, ev.pos_sig)
    return [ev.defect(i, int(ev.xs[i]), int(ev.ys[i])) for i in order]


def _drop_shadows(
    order: np.ndarray, ys: np.ndarray, xs: np.ndarray, score: np.ndarray, bright: np.ndarray
) -> np.ndarray:
    """RAW: drop the weaker opposite-polarity outliers within 2 photosites of a defect.

    A strong bright photosite is one of the four same-colour neighbours of the
    photosites two away; on a brightness gradient the trimmed mean then leans
    the other way, and a healthy neighbour looks slightly dark frame after frame.
    """
    kept: list[int] = []
    for i in order:
        shadow = any(
            bright[k] != bright[i] and abs(ys[k] - ys[i]) <= 2 and abs(xs[k] - xs[i]) <= 2
            for k in kept
        )
        if not shadow:
            kept.append(int(i))
    return np.array(kept, dtype=np.int64)


def candidates(acc: Accumulator, params: DetectParams | None = None) -> np.ndarray:
    """Elements with enough evidence either way to be defects."""
    p = params or DetectParams()
    total = acc.counts("pos") + acc.counts("neg")
    return np.flatnonzero(total >= least_count(p))


def least_count(params: DetectParams) -> int:
    """``min_weight`` in the accumulator's units (quarters of a weight)."""
    return params.min_weight * WEIGHT_STEPS


def describe(
    acc: Accumulator, indices: np.ndarray, params: DetectParams | None = None
) -> list[Defect]:
    """What the evidence says of these elements, significant or not (same order).

    For defects already confirmed: a defect does not heal, so one whose score
    has since fallen under the threshold is still reported, with its kind,
    score and onset as they stand now.
    """
    p = params or DetectParams()
    ev = _evaluate(acc, np.asarray(indices, dtype=np.int64), p)
    return [ev.defect(i, int(ev.xs[i]), int(ev.ys[i])) for i in range(ev.cand.size)]


@dataclass(frozen=True)
class _Evidence:
    """Per-candidate figures, as parallel arrays."""

    cand: np.ndarray
    ys: np.ndarray
    xs: np.ndarray
    score: np.ndarray
    pos_sig: np.ndarray
    neg_sig: np.ndarray
    kinds: list[DefectKind]
    tail_pos: np.ndarray
    tail_neg: np.ndarray

    def subset(self, keep: np.ndarray) -> _Evidence:
        idx = np.flatnonzero(keep)
        return _Evidence(
            self.cand[idx],
            self.ys[idx],
            self.xs[idx],
            self.score[idx],
            self.pos_sig[idx],
            self.neg_sig[idx],
            [self.kinds[i] for i in idx],
            self.tail_pos[idx],
            self.tail_neg[idx],
        )

    def defect(self, i: int, x: int, y: int) -> Defect:
        kind = self.kinds[i]
        onset = _onset(kind, float(self.tail_pos[i]), float(self.tail_neg[i]))
        return Defect(x, y, kind, round(float(self.score[i]), 2), onset)


def _evaluate(acc: Accumulator, cand: np.ndarray, p: DetectParams) -> _Evidence:
    a = acc.arrays
    ys, xs = np.divmod(cand, acc.width)
    by, bx = ys // BLOCK, xs // BLOCK
    per = NULL_SCALE * WEIGHT_STEPS  # the stored units of a null expectation, per weight
    pos_c = (acc.field(POS_LO, cand).astype(np.float64) + acc.field(POS_HI, cand)) / WEIGHT_STEPS
    neg_c = acc.field(NEG, cand).astype(np.float64) / WEIGHT_STEPS
    pos_score = pos_c / (a["null_pos"][by, bx] / per + p.null_floor)
    neg_score = neg_c / (a["null_neg"][by, bx] / per + p.null_floor)
    ratio = p.ratio + p.ratio_per_decade * max(0.0, np.log10(acc.height * acc.width / 1e5))
    pos_sig = (pos_c >= p.min_weight) & (pos_score >= ratio)
    neg_sig = (neg_c >= p.min_weight) & (neg_score >= ratio)
    # the score of the side that is significant (of the stronger one when neither is)
    score = np.where(pos_sig | ~neg_sig, pos_score, 0)
    score = np.maximum(score, np.where(neg_sig | ~pos_sig, neg_score, 0))
    # A stuck pixel stands out both ways (bright on dark scenes, dark on bright
    # ones): its evidence adds up across the two sides.
    nulls = (a["null_pos"][by, bx] + a["null_neg"][by, bx]) / per + p.null_floor
    both_score = (pos_c + neg_c) / nulls
    both = (pos_c > 0) & (neg_c > 0) & (pos_c + neg_c >= p.min_weight) & (both_score >= ratio)
    both &= ~(pos_sig | neg_sig)
    pos_sig, neg_sig = pos_sig | both, neg_sig | both
    score = np.where(both, both_score, score)
    # an element under both thresholds (a confirmed defect whose evidence has since
    # thinned) is classified by its stronger side
    neither = ~pos_sig & ~neg_sig
    as_pos = pos_sig | (neither & (pos_score >= neg_score))
    as_neg = neg_sig | (neither & (neg_score > pos_score))
    return _Evidence(
        cand,
        ys,
        xs,
        score,
        pos_sig,
        neg_sig,
        _classify(acc, cand, as_pos, as_neg, p),
        acc.onsets["pos"].onset_of(cand),
        acc.onsets["neg"].onset_of(cand),
    )


def _classify(
    acc: Accumulator, cand: np.ndarray, pos_sig: np.ndarray, neg_sig: np.ndarray, p: DetectParams
) -> list[DefectKind]:
    a = acc.arrays
    vlo, vhi = acc.value_range(cand)
    spread_limit = p.stuck_spread_jpeg if acc.kind == "jpeg" else p.stuck_spread_raw
    # One value whatever the scene... and whatever the exposure: a hot pixel that
    # clips to white whenever it shows is still hot if it shows mainly in long or
    # high-ISO frames.
    by, bx = cand // acc.width // BLOCK, cand % acc.width // BLOCK
    rate_lo = acc.field(POS_LO, cand) / np.maximum(a["opp_lo"][by, bx], 1.0)
    rate_hi = acc.field(POS_HI, cand) / np.maximum(a["opp_hi"][by, bx], 1.0)
    exposure_bound = rate_lo < p.hot_rate_ratio * rate_hi
    # ... unless its count in ordinary frames stopped at the ceiling while their number
    # went on growing: then it showed in more of them than the rate says
    exposure_bound &= acc.field(POS_LO, cand) < CEILING
    # A JPEG pixel's value mixes its neighbours' (demosaic, colour matrix), so one bad
    # photosite does not read one value there, nor black when dead: in a JPEG, showing
    # whatever the exposure is what tells stuck from hot, and only ever dark is dead.
    jpeg = np.full(cand.size, acc.kind == "jpeg")
    constant = (jpeg | ((vhi - vlo) <= spread_limit)) & ~exposure_bound
    black = jpeg | (vhi <= p.dead_level)
    lit = jpeg | (vlo > p.dead_level)
    kinds = []
    for i in range(cand.size):
        if neg_sig[i] and (not pos_sig[i]) and black[i]:
            kinds.append(DefectKind.DEAD)
        elif (pos_sig[i] and neg_sig[i]) or (pos_sig[i] and constant[i] and lit[i]):
            kinds.append(DefectKind.STUCK)
        elif pos_sig[i]:
            kinds.append(DefectKind.HOT)
        elif constant[i]:
            kinds.append(DefectKind.STUCK)
        else:
            kinds.append(DefectKind.DEAD)
    return kinds


def _blob_centres(
    order: np.ndarray,
    ys: np.ndarray,
    xs: np.ndarray,
    score: np.ndarray,
    bright: np.ndarray,
    p: DetectParams,
) -> list[tuple[int, int]]:
    """One report per JPEG blob: (its strongest member, its centre), strongest first.

    Strongest first: every weaker candidate within ``blob_radius`` belongs to
    the blob, and so does a much weaker one within ``echo_radius`` (chroma
    subsampling and ringing spread a strong defect along the 8x8 grid), and
    so does a weaker one of the opposite polarity (the overshoot of JPEG's
    ringing puts a dark ring around a bright defect and vice versa). The
    blob is reported at the candidate nearest its score-weighted centroid, so
    a symmetric smear points at the bad photosite itself, and described by its
    strongest member, whose evidence is the fullest.
    """
    strongest, centre = _blobs(
        order.astype(np.int64),
        ys.astype(np.int64),
        xs.astype(np.int64),
        score.astype(np.float64),
        bright.astype(np.bool_),
        p.blob_radius,
        p.echo_radius,
        p.echo_ratio,
    )
    return list(zip(strongest.tolist(), centre.tolist(), strict=True))


@njit(cache=True, nogil=True)
def _blobs(order, ys, xs, score, bright, blob_r, echo_r, echo_ratio):
    """The loop of :func:`_blob_centres`, compiled: it runs after every JPEG frame."""
    n = order.size
    taken = np.zeros(n, np.bool_)
    strongest = np.empty(n, np.int64)
    centre = np.empty(n, np.int64)
    found = 0
    for k in range(n):
        i = order[k]
        if taken[i]:
            continue
        sw = sy = sx = 0.0
        core = np.empty(n, np.int64)
        n_core = 0
        for m in range(n):
            if taken[m]:
                continue
            dy, dx = abs(ys[m] - ys[i]), abs(xs[m] - xs[i])
            near = dy <= blob_r and dx <= blob_r
            weaker = score[m] < echo_ratio * score[i] or (
                bright[m] != bright[i] and score[m] < score[i]
            )
            if not (near or (dy <= echo_r and dx <= echo_r and weaker)):
                continue
            taken[m] = True
            if near:
                core[n_core] = m
                n_core += 1
                sw += score[m]
                sy += ys[m] * score[m]
                sx += xs[m] * score[m]
        cy, cx = sy / sw, sx / sw
        best, best_d = core[0], np.inf
        for q in range(n_core):
            m = core[q]
            d = (ys[m] - cy) ** 2 + (xs[m] - cx) ** 2 - 1e-6 * score[m]
            if d < best_d:
                best, best_d = m, d
        strongest[found] = i
        centre[found] = best
        found += 1
    return strongest[:found].copy(), centre[:found].copy()


def _onset(kind: DefectKind, tail_pos: float, tail_neg: float) -> datetime | None:
    if kind is DefectKind.HOT:
        t = tail_pos
    elif kind is DefectKind.DEAD:
        t = tail_neg
    else:
        t = min((v for v in (tail_pos, tail_neg) if v), default=0)
    return datetime.fromtimestamp(t, UTC) if t else None
