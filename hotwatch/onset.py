"""When each element's trouble began: a change-point statistic (CUSUM) per element.

Why a change point: the first outlier of an element is a poor onset. A healthy
element is an outlier now and then by chance, long before a defect appears at
its place, and a hot pixel that shows only in some long exposures is missing
from many frames after its onset. What changes at the onset is the *rate* of
evidence, and the CUSUM statistic finds that change in a stream:

    S_t = max(0, S_{t-1} + UNIT x w_t - k_t)

per element and side (bright, dark), over the counted frames. ``w_t`` is the
element's outlier weight in frame t, in quarters (0 when it did not stand out;
see :func:`hotwatch.accumulator.hit_weights`), ``k_t`` the frame's cost for the
element's block: how strongly *not* standing out there speaks for health. It
is 0 where the defect could not have shown (a clipped highlight for a bright
one, a black shadow for a dark one), small in a short daylight exposure (a hot
pixel needs a long or high-ISO one), more in a long or high-ISO exposure, most
in a quiet one ("clear"). A chance outlier is worth a few frames of cost and
fades; a defect's evidence outgrows its cost. The onset is the capture time at
which S last rose from zero.

Only elements with S > 0 are kept ("live": a few per cent of the elements),
as sorted arrays that one merge per frame brings up to date (compiled).

Runs (bursts, tripod time-lapses) add no evidence either way: their repeat
frames are copies of one scene, and what stands out in them may be the
scene's doing. But a defect that appears part-way through a run shows in
every frame from its onset on: an element whose excursion begins at the first
counted frame after repeats, and has stood out in every repeat since some
frame of the run, is dated from that frame. (An excursion under way when the
run began goes on through it unchanged: a chance outlier just before a long
time-lapse in which a defect appears at that very place dates it early.)

Merging (for re-identification, which folds one accumulator into another):
over a stretch of frames, S is a max-plus affine function of the S it started
with: S_end(s) = max(c, s + d), with c the stretch's own final S (from zero)
and d the sum of its increments, UNIT x (the element's weight count) - (the
block's total cost). And s + d > c exactly when the excursion under way at the
start of the stretch never ended in it, which decides whose onset stands. So
two accumulators of consecutive stretches merge into exactly the one fed both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .evidence import BLOCK

UNIT = 4  #: S per quarter of outlier weight (16 per whole weight)
COST_CLEAR = 8  #: k in a frame where the defect would surely have shown (quiet, and for
#: a bright defect a long or high-ISO exposure)
COST_HIGH = 4  #: k in a long or high-ISO frame that could have shown a bright defect
COST_LOW = 2  #: k in any other frame that could have shown it


@dataclass(frozen=True, eq=False)
class Excursions:
    """The live elements of one side: sorted flat indices, their S and onset time.

    ``opened_first``: the excursion began at this accumulator's first counted
    frame (what merging needs to apply the earlier stretch's repeat frames).
    ``pend_*``: elements that stood out in every repeat frame since some frame of
    the run that followed the last counted frame, with that frame's time (sorted).
    """

    idx: np.ndarray
    s: np.ndarray
    tail: np.ndarray
    opened_first: np.ndarray
    pend_idx: np.ndarray
    pend_time: np.ndarray

    @classmethod
    def empty(cls) -> Excursions:
        return cls(_ix(), _ix(), _t(), np.empty(0, bool), _ix(), _t())

    def step(
        self,
        hits: np.ndarray,
        weights: np.ndarray,
        cost: np.ndarray,
        width: int,
        now: float,
        first: bool,
    ) -> Excursions:
        """After one counted frame: ``hits`` (sorted flat indices) with their weights (0
        gains nothing), ``cost`` the (blocks_y, blocks_x) k of this frame, ``now`` its
        time, ``first`` whether it is the accumulator's first counted frame."""
        idx, s, tail, opened = _step(
            self.idx,
            self.s,
            self.tail,
            self.opened_first,
            hits.astype(np.int64),
            weights.astype(np.int64),
            cost.astype(np.int64),
            width,
            now,
            first,
            self.pend_idx,
            self.pend_time,
        )
        return Excursions(idx, s, tail, opened, _ix(), _t())

    def note_repeat(self, hits: np.ndarray, weights: np.ndarray, now: float) -> Excursions:
        """A repeat frame: the elements that have stood out in every repeat frame since
        some frame of the run, with that frame's time (a chance outlier drops out at the
        next repeat it misses; a defect that appeared part-way stays)."""
        shown = np.unique(hits[weights > 0].astype(np.int64))
        before, at = _lookup(self.pend_idx, shown)
        time = np.where(before, self.pend_time[at] if self.pend_idx.size else now, now)
        return Excursions(self.idx, self.s, self.tail, self.opened_first, shown, time)

    def onset_of(self, elements: np.ndarray) -> np.ndarray:
        """The onset time (Unix seconds, 0 for none) of each of ``elements``."""
        elements = np.asarray(elements, dtype=np.int64)
        found, at = _lookup(self.idx, elements)
        return np.where(found, self.tail[at] if self.idx.size else 0, 0).astype(np.float64)

    def merge(
        self, later: Excursions, later_counts: np.ndarray, later_cost: np.ndarray, width: int
    ) -> Excursions:
        """This side's excursions followed by ``later``'s (see the module's docstring).

        ``later_counts`` is the later stretch's weight count of every element (flat),
        ``later_cost`` its total cost per block. The later stretch must begin with a
        counted frame (stretches are cut at a gap between runs).
        """
        rows, cols = np.divmod(self.idx, width)
        d = UNIT * later_counts[self.idx].astype(np.int64)
        d -= later_cost[rows // BLOCK, cols // BLOCK].astype(np.int64)
        in_later, at = _lookup(later.idx, self.idx)
        c = np.where(in_later, later.s[at] if later.idx.size else 0, 0)
        carried = self.s + d > c  # the excursion under way never ended in the later stretch
        replaced = np.zeros(later.idx.size, bool)
        replaced[at[carried & in_later]] = True
        rest = ~replaced
        tail = later.tail[rest].copy()
        # an excursion that began at the later stretch's first frame, where this one's
        # repeat frames had already shown it, is dated from them (as one feed would)
        began = later.opened_first[rest] & ~_isin_sorted(later.idx[rest], self.idx)
        shown, where = _lookup(self.pend_idx, later.idx[rest])
        began &= shown
        tail[began] = self.pend_time[where[began]]
        idx = np.concatenate([self.idx[carried], later.idx[rest]])
        order = np.argsort(idx, kind="stable")
        return Excursions(
            idx[order],
            np.concatenate([(self.s + d)[carried], later.s[rest]])[order],
            np.concatenate([self.tail[carried], tail])[order],
            np.concatenate([self.opened_first[carried], np.zeros(rest.sum(), bool)])[order],
            later.pend_idx,
            later.pend_time,
        )


def _ix() -> np.ndarray:
    return np.empty(0, np.int64)


def _t() -> np.ndarray:
    return np.empty(0, np.float64)


def _lookup(sorted_a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``b``: is it in the sorted ``sorted_a``, and at which position."""
    if sorted_a.size == 0:
        return np.zeros(b.size, bool), np.zeros(b.size, np.int64)
    at = np.minimum(np.searchsorted(sorted_a, b), sorted_a.size - 1)
    return sorted_a[at] == b, at


def _isin_sorted(a: np.ndarray, sorted_b: np.ndarray) -> np.ndarray:
    return _lookup(sorted_b, a)[0]


@njit(cache=True, nogil=True)
def _step(
    live_idx, live_s, live_tail, live_first, hit_idx, hit_w, cost, width, now, first,
    pend_idx, pend_time,
):  # fmt: skip
    """One counted frame: the merge of the live table with this frame's hits."""
    n_live, n_hit, n_pend = live_idx.size, hit_idx.size, pend_idx.size
    out_idx = np.empty(n_live + n_hit, np.int64)
    out_s = np.empty(n_live + n_hit, np.int64)
    out_tail = np.empty(n_live + n_hit, np.float64)
    out_first = np.empty(n_live + n_hit, np.bool_)
    i = j = p = n = 0
    stamp = np.float64(now)
    row_start, row_end, block_row = np.int64(0), np.int64(width), 0
    while i < n_live or j < n_hit:
        if j >= n_hit or (i < n_live and live_idx[i] < hit_idx[j]):
            e, s0, gain = live_idx[i], live_s[i], 0
            tail, opened = live_tail[i], live_first[i]
            i += 1
        elif i >= n_live or hit_idx[j] < live_idx[i]:
            e, s0, gain = hit_idx[j], 0, UNIT * hit_w[j]
            tail, opened = stamp, first
            j += 1
            if gain <= 0:  # a weightless outlier of an element at rest: nothing to do
                continue
        else:
            e, s0, gain = live_idx[i], live_s[i], UNIT * hit_w[j]
            tail, opened = live_tail[i], live_first[i]
            i += 1
            j += 1
        if e >= row_end:  # elements come in increasing order: the row seldom changes
            y = e // width
            row_start, row_end, block_row = y * width, (y + 1) * width, y // BLOCK
        s = s0 + gain - cost[block_row, (e - row_start) // BLOCK]
        if s <= 0:
            continue
        if s0 == 0:  # an excursion begins: dated from the repeat frame from which the run
            while p < n_pend and pend_idx[p] < e:  # before this frame showed it throughout
                p += 1
            if p < n_pend and pend_idx[p] == e:
                tail = pend_time[p]
        out_idx[n] = e
        out_s[n] = s
        out_tail[n] = tail
        out_first[n] = opened
        n += 1
    return out_idx[:n], out_s[:n], out_tail[:n], out_first[:n]  # views: no copy
