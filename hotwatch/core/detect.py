"""From accumulated evidence to a list of defects, each reported once.

An element is a defect when its weighted outlier count is both large in absolute
terms and many times what a healthy element of its block collected (the block's
"null" expectation, summed from each frame's outlier rate), or when its evidence
since its onset outweighs by far what the frames since then that could have shown it
and did not cost (the onset statistic, which a body's age does not raise: see
``DetectParams.rise``). Its kind follows from which way it stood out and whether its
own value moved with the scene. RAW photosites are exact: each significant one is a
defect, but for the faint shade a strong one casts on its same-colour neighbours. In
a JPEG each frame counts only the peak of a defect's smear (see
:mod:`hotwatch.core.kernels`), so a defect is a candidate at its own pixel; what
remains is to join the few frames whose peak fell one pixel over, and to drop the
ringing around a strong one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

import numpy as np
from numba import njit

from hotwatch.core import cfa as cfa_mod
from hotwatch.core import onset as onset_mod
from hotwatch.core.accumulator import (
    CEILING,
    NEG,
    NULL_SCALE,
    POS_HI,
    POS_LO,
    WEIGHT_STEPS,
    Accumulator,
)
from hotwatch.core.evidence import BLOCK
from hotwatch.core.model import Defect, DefectKind


@dataclass(frozen=True)
class DetectParams:
    """Thresholds; the defaults are tuned on simulated rolls (see benchmarks/)."""

    min_weight: int = 12  #: weighted outlier count needed at the least
    ratio: float = 8.0  #: ... and this many times the block's null expectation,
    ratio_per_decade: float = 2.0  #: plus this much per tenfold elements beyond 100,000
    #: (the more elements, the more chances that one healthy element looks bad by luck)
    null_floor: float = 1.0  #: added to the null expectation (few-frame caution)
    #: ... or this many weights of evidence since its onset, net of what the frames that
    #: could have shown it and did not cost (the onset statistic, see hotwatch.core.onset).
    #: Why a second way: the null expectation grows with every photo a body takes, so a
    #: defect that appears on an old body waits long by its count alone; the onset
    #: statistic forgets a chance outlier within some dozens of frames, so a new defect on
    #: an old body is judged as on a new one (benchmarks/bench_latency: with 16 it still
    #: waited up to 28 photos longer on a body 1,500 photos old, with 12 as long as on a
    #: new one; see _rises_at for a JPEG's). Clean bodies' elements stood at 4-9 after 150
    #: to 4,000 photos (0.08-1.9 MP, X-Trans too); none reached 12 on 63 clean bodies
    rise: float = 12.0
    stuck_spread_raw: int = 8  #: own-value range (0-255) under which a pixel is "one value"
    stuck_spread_jpeg: int = 64
    stuck_level_jpeg: int = 160  #: JPEG: a stuck pixel reads at least this whenever it shows
    dead_level: int = 24  #: a dark outlier whose values stay below this is dead
    hot_rate_ratio: float = 0.25  #: shows this much less often at short exposures: hot
    split_radius: int = 1  #: JPEG: a weaker candidate this close to a stronger one ...
    split_ratio: float = 0.9  #: ... under this share of its score is the same defect
    #: JPEG: ... and weaker ones this close, or in its MCU, its echoes (see in_blob)
    echo_radius: int = 8
    echo_ratio: float = 0.5
    #: JPEG: a bright neighbour (outside its chroma cell) that stood out in ordinary, or in
    #: long/high-ISO, frames over this many times as often as it did is a defect of its own
    apart_ratio: float = 1.5
    apart_rate: float = 0.1  #: ... counting only a rate of this much weight per frame or more
    #: JPEG: a bright neighbour right beside a bright defect is one of its own when the
    #: shares of their bright evidence that stood out in green differ by this much (a
    #: green photosite beside a red or blue one: one photosite's peak keeps its colour where
    #: some frames place it one pixel over). Measured on the benchmark's rolls (quality
    #: 75-92): side-by-side pairs of two colours differ by 0.34-0.99; at 0.2 and under,
    #: one defect's pixels begin to split
    colour_gap: float = 0.3
    #: ... each share taken from this much bright evidence at least (weights): from a dozen
    #: outliers it is too rough (a demosaiced defect puts some into other channels: weak
    #: neighbours of 14-19 weights split off strong defects at a gap of 0.3-1.0)
    colour_weight: float = 24.0
    #: RAW: a weaker opposite-polarity neighbour is a shade only under this share of its
    #: score (shades measured: 0.07-0.18 in the benchmark's rolls, up to 0.27 beside a
    #: photosite stuck at white in 30 frames of tests/test_accumulator.py's roll; hot
    #: pixels two photosites from dead ones: 0.33-0.47)
    shadow_ratio: float = 0.3
    #: ... and, when two or more of its four neighbours are defects of the other polarity,
    #: under this share of the second strongest's: the middle two of the four then keep
    #: one of them, and the photosite reads off by about that one's excess (measured: two
    #: hot greens of one X-Trans 2x2 group made the other two read dark at 0.75-0.78 of
    #: the weaker one's score; a dead photosite scores 70-80, over most hot ones)
    shadow_pair_ratio: float = 1.0


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
    ev = _judge(acc, _Counts.of(acc, cand), p)
    keep = ev.pos_sig | ev.neg_sig
    if not keep.any():
        return []
    ev = ev.subset(keep)
    order = np.argsort(-ev.score, kind="stable")
    if acc.kind == "jpeg":
        leaders, owner = _jpeg_groups(acc, order, ev, p)
        merged = _judge(acc, ev.counts.merged(leaders, owner), p)
        return [merged.defect(g, int(ev.xs[i]), int(ev.ys[i])) for g, i in enumerate(leaders)]
    order = _drop_shadows(acc, order, ev, p)
    return [ev.defect(i, int(ev.xs[i]), int(ev.ys[i])) for i in order]


def candidates(acc: Accumulator, params: DetectParams | None = None) -> np.ndarray:
    """Elements whose evidence is significant either way: the only ones detection takes."""
    p = params or DetectParams()
    return significant(acc, _with_min_weight(acc, p), p)


def significant(acc: Accumulator, cand: np.ndarray, p: DetectParams) -> np.ndarray:
    """Those of ``cand`` whose evidence is significant either way now (as :func:`_judge`
    says, from the counts alone).

    Why detection is given no others: every element gathers chance outliers, and on a
    body's thousandth photo most have ``min_weight`` of them; judging them all after every
    photo made a scan's time grow with the square of the photos absorbed (4,000 photos of
    a clean 0.3 MP body: 110 ms a photo by the end, against 5 at the start).
    """
    cand = np.asarray(cand, dtype=np.int64)
    sig = _significance_at(acc, cand, p)
    return cand[sig.pos | sig.neg]


def _with_min_weight(acc: Accumulator, p: DetectParams) -> np.ndarray:
    """The elements with ``min_weight`` of evidence, both sides together."""
    total = acc.counts("pos") + acc.counts("neg")
    return np.flatnonzero(total >= least_count(p))


def _significance_at(acc: Accumulator, elements: np.ndarray, p: DetectParams) -> _Significance:
    """:func:`_significance` of the counts of these flat indices, each in its own block."""
    ys, xs = np.divmod(elements, acc.width)
    pos_lo, pos_hi, neg = _weights_at(acc, elements)
    rises = _rises_at(acc, elements)
    return _significance(acc, pos_lo + pos_hi, neg, rises, ys // BLOCK, xs // BLOCK, p)


def _rises_at(acc: Accumulator, elements: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The onset statistic of elements ``elements``, bright and dark; in a JPEG, summed over
    each one's chroma cell. Why: a JPEG keeps one colour for the cell, and a defect's peak
    falls on either of its pixels from photo to photo; each pixel's statistic then pays
    for the photos that showed the defect at the other, and on a body 1,500 photos old such
    a hot pixel waited 36 photos where the count of a new body took 8. The sum of the
    pixels' statistics is never more than the statistic of their summed evidence. Only on
    the side on which the element's own statistic is the higher."""
    cells = _cells(acc, elements)
    itself = cells == np.asarray(elements, dtype=np.int64)[:, None]
    own, total = {}, {}
    for side in ("pos", "neg"):
        s = acc.onsets[side].s_of(cells.ravel()).reshape(cells.shape)
        own[side] = np.where(itself, s, 0).sum(axis=1)
        total[side] = np.where(cells >= 0, s, 0).sum(axis=1)
    # only on the side the element itself stands out most: beside a dead pixel the cell's
    # other pixel rings bright, and the dead one looked stuck
    mine = (own["pos"] > 0) & (own["pos"] >= own["neg"])
    theirs = (own["neg"] > 0) & (own["neg"] >= own["pos"])
    return np.where(mine, total["pos"], own["pos"]), np.where(theirs, total["neg"], own["neg"])


def _cells(acc: Accumulator, elements: np.ndarray) -> np.ndarray:
    """(elements, pixels of a cell): the flat indices of each element's JPEG chroma cell
    (-1 past the frame's edge); the element alone in a raw or a 4:4:4 JPEG."""
    elements = np.asarray(elements, dtype=np.int64)
    cx, cy = _cell_shape(acc)
    if cx * cy == 1:
        return elements[:, None]
    ys, xs = np.divmod(elements, acc.width)
    dy, dx = (d.ravel() for d in np.mgrid[0:cy, 0:cx])
    oy = (ys // cy * cy)[:, None] + dy[None, :]
    ox = (xs // cx * cx)[:, None] + dx[None, :]
    inside = (oy < acc.height) & (ox < acc.width)
    return np.where(inside, oy * acc.width + ox, -1)


def _cell_shape(acc: Accumulator) -> tuple[int, int]:
    """Pixels per chroma sample, across and down: (1, 1) in a raw."""
    return acc.chroma if acc.kind == "jpeg" else (1, 1)


def _rise_bar(p: DetectParams) -> float:
    """``rise`` in the onset statistic's units."""
    return p.rise * onset_mod.UNIT * WEIGHT_STEPS


def rising(acc: Accumulator, params: DetectParams) -> np.ndarray:
    """The elements whose onset statistic (in a JPEG, their chroma cell's), either side, is
    at the bar (see ``rise``). Why the ingest asks: it only rises in a frame that hit the
    element (or its cell), so these are the elements a frame can have made significant
    that way."""
    bar = _rise_bar(params)
    per_cell = int(np.prod(_cell_shape(acc)))
    # a cell's sum is at the bar only if one of its pixels is at its share of it
    some = np.union1d(*(acc.onsets[s].reaching(bar / per_cell) for s in ("pos", "neg")))
    if per_cell == 1:
        return some
    rises = _rises_at(acc, some)
    cells = _cells(acc, some[(rises[0] >= bar) | (rises[1] >= bar)])
    return np.unique(cells[cells >= 0])


def least_count(params: DetectParams) -> int:
    """``min_weight`` in the accumulator's units (quarters of a weight)."""
    return params.min_weight * WEIGHT_STEPS


def least_counts(acc: Accumulator, params: DetectParams) -> np.ndarray:
    """Per block, the least weighted count (quarters, both sides together) with which an
    element there can be significant: at least ``min_weight`` and the ratio times the
    smaller null expectation of the two sides (what the accumulator checks as it adds a
    frame's hits, to name the few elements worth judging; null expectations only grow, so
    a bound taken before a frame holds after it)."""
    per = NULL_SCALE * WEIGHT_STEPS
    a = acc.arrays
    nulls = np.minimum(a["null_pos"], a["null_neg"]) / per + params.null_floor
    least = np.maximum(params.min_weight, _ratio(acc, params) * nulls)
    return np.floor(least * WEIGHT_STEPS).astype(np.int64)


def _weights_at(acc: Accumulator, cand: np.ndarray) -> tuple[np.ndarray, ...]:
    """Bright evidence in ordinary and in long or high-ISO frames, and dark evidence, of
    elements ``cand``, in whole weights."""
    return tuple(
        acc.field(f, cand).astype(np.float64) / WEIGHT_STEPS for f in (POS_LO, POS_HI, NEG)
    )


def _ratio(acc: Accumulator, p: DetectParams) -> float:
    """How many times its null expectation an element's count must be."""
    return p.ratio + p.ratio_per_decade * max(0.0, np.log10(acc.height * acc.width / 1e5))


def closest_call(acc: Accumulator, params: DetectParams | None = None) -> tuple[float, float]:
    """The highest score any element with ``min_weight`` of evidence reached (either side,
    both together, or its onset statistic against its bar times the ratio), and the bar a
    score must reach: how far a body stays from a report.
    Why: a clean body's zero reports say nothing of how near it came; this says whether a
    longer or stranger roll would be likely to cry wolf."""
    p = params or DetectParams()
    cand, bar = _with_min_weight(acc, p), _ratio(acc, p)
    if cand.size == 0:
        return 0.0, bar
    sig = _significance_at(acc, cand, p)
    scores = [sig.pos_score, sig.neg_score, sig.both_score, sig.rise_score]
    return float(np.max(scores)), bar


def describe(
    acc: Accumulator, indices: np.ndarray, params: DetectParams | None = None
) -> list[Defect]:
    """What the evidence says of these elements, significant or not (same order).

    For defects already confirmed: a defect does not heal, so one whose score
    has since fallen under the threshold is still reported, with its kind,
    score and onset as they stand now.
    """
    p = params or DetectParams()
    ev = _judge(acc, _Counts.of(acc, np.asarray(indices, dtype=np.int64)), p)
    return [ev.defect(i, int(ev.xs[i]), int(ev.ys[i])) for i in range(ev.cand.size)]


@dataclass(frozen=True)
class _Counts:
    """What the accumulator holds of some elements (or of groups of them), as parallel
    arrays: weighted counts in whole weights, own-value range, block, onsets."""

    cand: np.ndarray  #: flat index (of a group: its first member)
    pos_lo: np.ndarray
    pos_hi: np.ndarray
    neg: np.ndarray
    lo_capped: np.ndarray  #: the count in ordinary frames stopped at its ceiling
    vlo: np.ndarray
    vhi: np.ndarray
    tail_pos: np.ndarray
    tail_neg: np.ndarray
    tail_hi: np.ndarray  #: the bright onset over long or high-ISO frames alone
    rise_pos: np.ndarray  #: the onset statistic, bright and dark (see DetectParams.rise)
    rise_neg: np.ndarray

    @classmethod
    def of(cls, acc: Accumulator, cand: np.ndarray) -> _Counts:
        vlo, vhi = acc.value_range(cand)
        return cls(
            cand,
            *_weights_at(acc, cand),
            acc.field(POS_LO, cand) >= CEILING,
            vlo,
            vhi,
            acc.onsets["pos"].onset_of(cand),
            acc.onsets["neg"].onset_of(cand),
            acc.onsets["hi"].onset_of(cand),
            *_rises_at(acc, cand),
        )

    def subset(self, idx: np.ndarray) -> _Counts:
        return _Counts(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))

    def merged(self, leaders: np.ndarray, owner: np.ndarray) -> _Counts:
        """One entry per leader, holding its own evidence and its members' (``owner``:
        each element's leader's position in ``leaders``, -1 for none): counts added and
        the earliest onsets and the highest onset statistics; the value range is the
        leader's own (a member beside it reads a blend of the defect and the scene)."""
        g = leaders.size
        keep = owner >= 0
        o = owner[keep]

        def total(a: np.ndarray) -> np.ndarray:
            return np.bincount(o, weights=a[keep], minlength=g)

        def extreme(a: np.ndarray, ufunc: np.ufunc, start: float) -> np.ndarray:
            out = np.full(g, start)
            ufunc.at(out, o, a[keep])
            return out

        def earliest(t: np.ndarray) -> np.ndarray:
            out = extreme(np.where(t > 0, t, np.inf), np.minimum, np.inf)
            return np.where(np.isfinite(out), out, 0.0)

        return _Counts(
            self.cand[leaders],
            total(self.pos_lo),
            total(self.pos_hi),
            total(self.neg),
            extreme(self.lo_capped.astype(np.float64), np.maximum, 0.0) > 0,
            self.vlo[leaders],
            self.vhi[leaders],
            earliest(self.tail_pos),
            earliest(self.tail_neg),
            earliest(self.tail_hi),
            extreme(self.rise_pos, np.maximum, 0),
            extreme(self.rise_neg, np.maximum, 0),
        )


@dataclass(frozen=True)
class _Evidence:
    """Per-candidate (or per-group) judgements, as parallel arrays."""

    counts: _Counts
    ys: np.ndarray
    xs: np.ndarray
    score: np.ndarray
    pos_sig: np.ndarray
    neg_sig: np.ndarray
    kinds: list[DefectKind]
    #: stood out bright mainly in long or high-ISO frames (dark current's signature)
    night: np.ndarray

    @property
    def cand(self) -> np.ndarray:
        return self.counts.cand

    def subset(self, keep: np.ndarray) -> _Evidence:
        idx = np.flatnonzero(keep)
        return _Evidence(
            self.counts.subset(idx),
            self.ys[idx],
            self.xs[idx],
            self.score[idx],
            self.pos_sig[idx],
            self.neg_sig[idx],
            [self.kinds[i] for i in idx],
            self.night[idx],
        )

    def defect(self, i: int, x: int, y: int) -> Defect:
        c = self.counts
        night = float(c.tail_hi[i]) if self.night[i] else 0.0
        onset = _onset(self.kinds[i], float(c.tail_pos[i]), float(c.tail_neg[i]), night)
        return Defect(x, y, self.kinds[i], round(float(self.score[i]), 2), onset)


def _judge(acc: Accumulator, c: _Counts, p: DetectParams) -> _Evidence:
    """Significance, score and kind of each entry of ``c`` (judged in the block of its
    flat index)."""
    ys, xs = np.divmod(c.cand, acc.width)
    by, bx = ys // BLOCK, xs // BLOCK
    rises = (c.rise_pos, c.rise_neg)
    sig = _significance(acc, c.pos_lo + c.pos_hi, c.neg, rises, by, bx, p)
    # an element under both thresholds (a confirmed defect whose evidence has since
    # thinned) is classified by its stronger side
    neither = ~sig.pos & ~sig.neg
    as_pos = sig.pos | (neither & (sig.pos_score >= sig.neg_score))
    as_neg = sig.neg | (neither & (sig.neg_score > sig.pos_score))
    bound = _exposure_bound(*_rates(acc, c, by, bx), c.lo_capped, p)
    kinds = _classify(acc, c, as_pos, as_neg, bound, p)
    return _Evidence(c, ys, xs, sig.score, sig.pos, sig.neg, kinds, bound & as_pos)


class _Significance(NamedTuple):
    pos: np.ndarray  #: significant bright (or both ways: stuck)
    neg: np.ndarray  #: significant dark (or both ways)
    score: np.ndarray  #: of the significant side, or of the stronger one when neither is
    pos_score: np.ndarray
    neg_score: np.ndarray
    both_score: np.ndarray  #: of the two sides together (0 where one side has nothing)
    #: the higher onset statistic of the two sides, against its bar, times ``ratio``
    rise_score: np.ndarray


def _significance(
    acc: Accumulator,
    pos_c: np.ndarray,
    neg_c: np.ndarray,
    rises: tuple[np.ndarray, np.ndarray],
    by: np.ndarray,
    bx: np.ndarray,
    p: DetectParams,
) -> _Significance:
    """Which weighted counts (whole weights, in blocks ``by``, ``bx``) stand far enough
    above their block's null expectation, or which onset statistics (``rises``, bright
    and dark) far enough above zero, each side alone or both together.

    Scores are the counts' (times the null expectation): what grouping compares and a
    report shows. Why not the onset statistic's too: it grows without bound while a
    defect shows, so beside a strong defect's a weaker neighbour's score looked like an
    echo's (a partially stuck pixel two pixels from a strong hot one was lost)."""
    a = acc.arrays
    per = NULL_SCALE * WEIGHT_STEPS  # the stored units of a null expectation, per weight
    ratio = _ratio(acc, p)
    bar = _rise_bar(p)
    pos_score = pos_c / (a["null_pos"][by, bx] / per + p.null_floor)
    neg_score = neg_c / (a["null_neg"][by, bx] / per + p.null_floor)
    pos_sig = (pos_c >= p.min_weight) & ((pos_score >= ratio) | (rises[0] >= bar))
    neg_sig = (neg_c >= p.min_weight) & ((neg_score >= ratio) | (rises[1] >= bar))
    # the score of the side that is significant (of the stronger one when neither is)
    score = np.where(pos_sig | ~neg_sig, pos_score, 0)
    score = np.maximum(score, np.where(neg_sig | ~pos_sig, neg_score, 0))
    # A stuck pixel stands out both ways (bright on dark scenes, dark on bright
    # ones): its evidence adds up across the two sides.
    nulls = (a["null_pos"][by, bx] + a["null_neg"][by, bx]) / per + p.null_floor
    both_score = np.where((pos_c > 0) & (neg_c > 0), (pos_c + neg_c) / nulls, 0.0)
    both = (pos_c + neg_c >= p.min_weight) & (both_score >= ratio)
    both &= ~(pos_sig | neg_sig)
    score = np.where(both, both_score, score)
    rise_score = ratio * np.maximum(rises[0], rises[1]) / bar
    return _Significance(
        pos_sig | both, neg_sig | both, score, pos_score, neg_score, both_score, rise_score
    )


def _classify(
    acc: Accumulator,
    c: _Counts,
    pos_sig: np.ndarray,
    neg_sig: np.ndarray,
    exposure_bound: np.ndarray,
    p: DetectParams,
) -> list[DefectKind]:
    vlo, vhi = c.vlo, c.vhi
    spread_limit = p.stuck_spread_jpeg if acc.kind == "jpeg" else p.stuck_spread_raw
    # One value whatever the scene... and whatever the exposure: a hot pixel that
    # clips to white whenever it shows is still hot if it shows mainly in long or
    # high-ISO frames (``exposure_bound``).
    # A JPEG pixel's value mixes its neighbours' (demosaic, colour matrix, shared chroma),
    # so one bad photosite reads neither black when dead nor one exact value when stuck
    # there: in a JPEG only ever dark is dead, and stuck is bright whenever it stood out
    # clearly (a partially stuck or hot one stands out mostly on dark scenes, and reads
    # dim there: it is an excess on top of the scene).
    jpeg = np.full(c.cand.size, acc.kind == "jpeg")
    seen = vhi >= vlo  # a clear outlier gave a value range (else nothing says "one value")
    steady = (vlo >= p.stuck_level_jpeg) if acc.kind == "jpeg" else True
    constant = seen & steady & (vhi - vlo <= spread_limit) & ~exposure_bound
    black = jpeg | (vhi <= p.dead_level)
    lit = jpeg | (vlo > p.dead_level)
    kinds = []
    for i in range(c.cand.size):
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


def _exposure_bound(
    rate_lo: np.ndarray, rate_hi: np.ndarray, lo_capped: np.ndarray, p: DetectParams
) -> np.ndarray:
    """Which stood out bright mainly in long or high-ISO frames (at under
    ``hot_rate_ratio`` of that rate in ordinary ones, see :func:`_rates`): dark current's
    signature."""
    # ... unless its count in ordinary frames stopped at the ceiling while their number
    # went on growing: then it showed in more of them than the rate says
    return (rate_lo < p.hot_rate_ratio * rate_hi) & ~lo_capped


def _rates(
    acc: Accumulator, c: _Counts, by: np.ndarray, bx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weight of bright evidence per frame that could show it, in ordinary and in long or
    high-ISO frames."""
    a = acc.arrays
    rate_lo = c.pos_lo / np.maximum(a["opp_lo"][by, bx], 1.0)
    rate_hi = c.pos_hi / np.maximum(a["opp_hi"][by, bx], 1.0)
    return rate_lo, rate_hi


def _drop_shadows(
    acc: Accumulator, order: np.ndarray, ev: _Evidence, p: DetectParams
) -> np.ndarray:
    """RAW: drop the opposite-polarity shade a defect casts on the photosites it is a
    neighbour of, strongest first.

    A strong bright photosite is one of the four same-colour neighbours of the
    photosites around it; on a brightness gradient the trimmed mean then leans
    the other way, and a healthy neighbour looks slightly dark frame after frame.
    Only those photosites can be shaded, and only weakly: a defect of another
    colour beside it (one step away on a Bayer sensor), or one that stands out
    at least ``shadow_ratio`` times as much, is a defect of its own. Two such
    neighbours shade it strongly (``shadow_pair_ratio``): its level is then one of
    them.
    """
    near = _Neighbours.of(acc)
    kept: list[int] = []
    at: dict[tuple[int, int], int] = {}  # the kept ones by position
    for i in order:
        y, x = int(ev.ys[i]), int(ev.xs[i])
        casting = sorted(
            (ev.score[k] for k in (at.get((y + dy, x + dx), -1) for dy, dx in near(y, x))
             if k >= 0 and ev.pos_sig[k] != ev.pos_sig[i]),
            reverse=True,
        )  # fmt: skip
        shadow = bool(casting) and ev.score[i] < p.shadow_ratio * casting[0]
        shadow |= len(casting) > 1 and ev.score[i] < p.shadow_pair_ratio * casting[1]
        if not shadow:
            kept.append(int(i))
            at[(y, x)] = int(i)
    return np.array(kept, dtype=np.int64)


@dataclass(frozen=True)
class _Neighbours:
    """The (dy, dx) of the same-colour neighbours whose level a photosite is judged by:
    the pattern's offsets away from the edge (worked out once per detection, not once
    per candidate), the edge table's near it."""

    pattern: np.ndarray | None
    height: int
    width: int
    border: int
    phases: tuple[tuple[tuple[int, int], ...], ...]
    period: int  #: the pattern's size, 1 when every photosite has the same offsets

    @classmethod
    def of(cls, acc: Accumulator) -> _Neighbours:
        pattern = None if acc.cfa is None else np.array(acc.cfa, dtype=np.uint8)
        phases = cfa_mod.neighbour_offsets(pattern)
        period = 1 if len(phases) == 1 else int(np.asarray(pattern).shape[0])
        return cls(pattern, acc.height, acc.width, cfa_mod.border(pattern), phases, period)

    def __call__(self, y: int, x: int) -> tuple[tuple[int, int], ...]:
        r, n = self.border, self.period
        if r <= y < self.height - r and r <= x < self.width - r:
            return self.phases[(y % n) * n + x % n]
        return tuple(cfa_mod.edge_offsets(self.pattern, y, x, self.height, self.width))


def _jpeg_groups(
    acc: Accumulator, order: np.ndarray, ev: _Evidence, p: DetectParams
) -> tuple[np.ndarray, np.ndarray]:
    """JPEG: which candidates are defects (``leaders``, strongest first) and whose evidence
    each candidate adds to (``owner``: a position in ``leaders``, or -1: an echo).

    Strongest first, each candidate not yet taken is a defect, and claims: a weaker
    one of the same polarity in its chroma cell (the pixels whose colour the JPEG
    keeps once: ``acc.chroma``), or right beside it (within ``split_radius``, under
    ``split_ratio`` of its score) as the same defect, whose peak some frames placed
    one pixel over; and a much weaker one (under ``echo_ratio`` of its evidence: that of
    its whole chroma cell, significant or not, and of its members beside the cell; a JPEG
    spreads one photosite over its cell, so its strongest pixel holds only part of it) in
    its blob, within ``echo_radius`` or in its MCU (:func:`in_blob`), as its echo (chroma
    subsampling and the ringing of the 8x8 DCT repeat a strong defect along its block, and
    overshoot puts a dark ring around a bright defect and a bright one around a dark
    one). A defect farther away, in another MCU, is one of its own however weak.

    A neighbour that stands out nearly as often is a defect of its own, and so is one
    that shows where this one does not, or in another colour:

    * a bright one that stood out mainly in long or high-ISO frames (dark current's
      signature) beside a dead or stuck one (standing out both ways): those show
      whatever the exposure, a dead pixel on lit scenes and a stuck one on any, and
      their smear and ring only where they show;
    * a bright one right beside a bright one (a row, column or diagonal away) whose
      evidence stood out in green in a share ``colour_gap`` away from this one's (each of
      ``colour_weight`` at least): a green photosite beside a red or blue one;
    * outside the chroma cell, a bright one that stood out in ordinary frames, or in
      long or high-ISO ones, over ``apart_ratio`` times as often as this one's cell (no
      echo or displaced peak can);
    * outside the chroma cell, one two pixels away in a row, column or diagonal that
      stands out at least as much as the pixel midway, itself standing out the same way (a
      smear fades with distance; a ring's crest two pixels out has a trough midway).

    Onsets tell no echo apart: an echo that stands out now and then has its
    excursions restart, and so does a defect's own position (a neighbour "seen first"
    days earlier is as often its displaced peak as a defect of its own).
    """
    c = ev.counts
    by, bx = ev.ys // BLOCK, ev.xs // BLOCK
    rate_lo, rate_hi = _rates(acc, c, by, bx)
    leaders, owner = _group(
        order.astype(np.int64),
        ev.ys.astype(np.int64),
        ev.xs.astype(np.int64),
        ev.score.astype(np.float64),
        _cell_scores(acc, ev, p),
        ev.pos_sig.astype(np.bool_),
        (ev.pos_sig & ev.neg_sig).astype(np.bool_),
        ev.night.astype(np.bool_),
        np.where(ev.pos_sig, rate_lo, 0.0),
        np.where(ev.pos_sig, rate_hi, 0.0),
        np.where(c.pos_lo + c.pos_hi >= p.colour_weight, acc.green_share(ev.cand), -1.0),
        acc.chroma,
        _GroupParams.of(p),
    )
    return leaders, owner


def _cell_scores(acc: Accumulator, ev: _Evidence, p: DetectParams) -> np.ndarray:
    """Each candidate's score plus its side's scores of the other pixels of its chroma
    cell, significant or not: the JPEG keeps one colour for the cell, so a defect's
    evidence spreads over it, and at the frame's edge (where the noise is higher) or in a
    lower-quality JPEG the pixels beside the peak may hold much of it unnoticed."""
    cells = _cells(acc, ev.cand)
    if cells.shape[1] == 1:
        return ev.score.astype(np.float64)
    others = (cells >= 0) & (cells != ev.cand[:, None])
    sig = _significance_at(acc, np.maximum(cells, 0).ravel(), p)
    shape = cells.shape
    side = np.where(ev.pos_sig[:, None], sig.pos_score.reshape(shape), sig.neg_score.reshape(shape))
    return ev.score + np.where(others, side, 0.0).sum(axis=1)


class _GroupParams(NamedTuple):
    """The thresholds :func:`_group` uses, as one tuple a compiled function takes."""

    split_r: int
    split_ratio: float
    echo_r: int
    echo_ratio: float
    apart_ratio: float
    apart_rate: float
    colour_gap: float

    @classmethod
    def of(cls, p: DetectParams) -> _GroupParams:
        return cls(
            p.split_radius, p.split_ratio, p.echo_radius, p.echo_ratio,
            p.apart_ratio, p.apart_rate, p.colour_gap,
        )  # fmt: skip


@njit(cache=True, nogil=True)
def _group(
    order, ys, xs, score, cell_score, bright, both, dark_current, rate_lo, rate_hi, green,
    chroma, g,
):  # fmt: skip
    """The loop of :func:`_jpeg_groups`, compiled: it runs after every JPEG frame
    (``both``: which stood out both ways, as a stuck pixel does; ``dark_current``: which
    stood out bright mainly in long or high-ISO frames; ``rate_*``: bright evidence per
    ordinary / long or high-ISO frame, 0 for the dark ones; ``green``: the share of the
    bright evidence that stood out in green, -1 where not known; ``g``: a _GroupParams)."""
    split_r, split_ratio, echo_r, echo_ratio, apart_ratio, apart_rate, colour_gap = g
    cx, cy = chroma
    n = order.size
    owner = np.full(n, -2, np.int64)  # -2: not yet taken
    leaders = np.empty(n, np.int64)
    own = np.zeros(n, np.bool_)  # of the ones not yet taken: a defect of its own beside i
    found = 0
    for k in range(n):
        i = order[k]
        if owner[i] != -2:
            continue
        owner[i] = found
        leaders[found] = i
        total = cell_score[i]  # the defect's evidence: its chroma cell's and its members'
        # how often the defect stood out at all: its peak falls on any pixel of its cell
        lo_i, hi_i = _cell_rates(i, ys, xs, bright, rate_lo, rate_hi, owner, cx, cy)
        for m in range(n):
            if owner[m] != -2:
                continue
            dy, dx = abs(ys[m] - ys[i]), abs(xs[m] - xs[i])
            cell = _same_cell(m, i, ys, xs, cx, cy)
            near = dy <= split_r and dx <= split_r and score[m] < split_ratio * score[i]
            # a dead or stuck pixel shows whatever the exposure, and so do its smear,
            # displaced peak and ring: a bright excess beside it seen mainly in long or
            # high-ISO frames is dark current of its own
            own[m] = dark_current[m] and (both[i] or not bright[i])
            if max(dy, dx) == 1 and bright[m] and bright[i]:
                own[m] |= _other_colour(green[m], green[i], colour_gap)
            if not cell and bright[m] == bright[i]:
                own[m] |= _shows_apart(m, lo_i, hi_i, rate_lo, rate_hi, apart_ratio, apart_rate)
                if max(dy, dx) == 2:
                    own[m] |= _peak_beyond(m, i, ys, xs, score, bright)
            if (cell or near) and bright[m] == bright[i] and not own[m]:
                owner[m] = found
                if not cell:  # (the cell's are in cell_score)
                    total += score[m]
        for m in range(n):
            if (
                owner[m] == -2
                and not own[m]
                and score[m] < echo_ratio * total
                and in_blob(ys[m], xs[m], ys[i], xs[i], cx, cy, echo_r)
            ):
                owner[m] = -1
        found += 1
    return leaders[:found].copy(), owner


@njit(cache=True, nogil=True)
def in_blob(y, x, yi, xi, cx, cy, halo):
    """Whether JPEG pixel (y, x) can carry an echo of a defect at (yi, xi): within ``halo``
    of it (the camera's demosaic and sharpening, chroma upsampling), or in its MCU, the
    8 x 8 chroma samples (``cx`` x ``cy`` pixels each) coded together, give or take the
    pixel that upsampling blends across the MCU's edge (the DCT's ringing stays in
    the block it was coded in)."""
    if abs(y - yi) <= halo and abs(x - xi) <= halo:
        return True
    w, h = 8 * cx, 8 * cy
    x0, y0 = (xi // w) * w, (yi // h) * h
    return x0 - 1 <= x <= x0 + w and y0 - 1 <= y <= y0 + h


@njit(cache=True, nogil=True)
def _other_colour(a, b, gap):
    """Whether two green shares (-1: not known) say two photosites of different colours."""
    return a >= 0 and b >= 0 and abs(a - b) >= gap


@njit(cache=True, nogil=True, inline="always")
def _same_cell(m, i, ys, xs, cx, cy):
    """Whether candidates ``m`` and ``i`` lie in one chroma cell (``cx`` x ``cy`` pixels)."""
    return xs[m] // cx == xs[i] // cx and ys[m] // cy == ys[i] // cy


@njit(cache=True, nogil=True)
def _cell_rates(i, ys, xs, bright, rate_lo, rate_hi, owner, cx, cy):
    """The rates at which ``i``'s defect stood out in ordinary and in long or high-ISO
    frames: the sums over the candidates of its chroma cell not yet taken, its own
    included, of its polarity. A weak defect's peak lands on either pixel of its cell
    photo by photo (measured on a quality-80 JPEG roll: a hot pixel's cell stood out in
    daylight at 0.106 and 0.100 a frame, the pixel beside the cell at 0.306, and was
    reported as a defect of its own against the 0.106 of one)."""
    lo, hi = 0.0, 0.0
    for m in range(ys.size):
        if m == i or (
            owner[m] == -2 and bright[m] == bright[i] and _same_cell(m, i, ys, xs, cx, cy)
        ):
            lo += rate_lo[m]
            hi += rate_hi[m]
    return lo, hi


@njit(cache=True, nogil=True)
def _shows_apart(m, lo_i, hi_i, rate_lo, rate_hi, ratio, least):
    """Whether ``m`` stood out in one kind of frame (ordinary, or long/high-ISO) over
    ``ratio`` times as often as a defect that stood out at ``lo_i`` and ``hi_i`` a frame,
    at a rate of ``least`` or more."""
    lo = rate_lo[m] >= least and rate_lo[m] > ratio * lo_i
    return lo or (rate_hi[m] >= least and rate_hi[m] > ratio * hi_i)


@njit(cache=True, nogil=True)
def _peak_beyond(m, i, ys, xs, score, bright):
    """Whether ``m``, two pixels from ``i`` in a row, a column or a diagonal, stands out at
    least as much as the pixel midway, which stands out too, the same way. (Not a knight's
    move away: which pixel is between is not clear there. And a midway pixel standing out
    the other way is the ring of ``i``, whose next crest ``m`` is.)"""
    dy, dx = ys[m] - ys[i], xs[m] - xs[i]
    if dy % 2 or dx % 2:
        return False
    y, x = ys[i] + dy // 2, xs[i] + dx // 2
    for k in range(ys.size):
        if ys[k] == y and xs[k] == x:
            return bright[k] == bright[i] and score[m] >= score[k]
    return False


def _onset(
    kind: DefectKind, tail_pos: float, tail_neg: float, tail_night: float = 0.0
) -> datetime | None:
    """The onset time of a defect of this kind (None: not known). ``tail_night``: a hot
    pixel's onset over the long or high-ISO frames alone, given for one that stands out
    mainly there; the earlier of the two stands (over all frames, the daylight photos
    between two nights, which cannot show it, may have let its first night's evidence
    fade)."""
    if kind is DefectKind.HOT:
        t = min((v for v in (tail_pos, tail_night) if v), default=0)
    elif kind is DefectKind.DEAD:
        t = tail_neg
    else:
        t = min((v for v in (tail_pos, tail_neg) if v), default=0)
    return datetime.fromtimestamp(t, UTC) if t else None
