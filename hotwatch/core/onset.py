"""When each element's trouble began: a change-point statistic (CUSUM) per element.

Why a change point: the first outlier of an element is a poor onset. A healthy
element is an outlier now and then by chance, long before a defect appears at
its place, and a hot pixel that shows only in some long exposures is missing
from many frames after its onset. What changes at the onset is the *rate* of
evidence, and the CUSUM statistic finds that change in a stream:

    S_t = max(0, S_{t-1} + UNIT x w_t - k_t)

per element and side (bright, dark), over the counted frames. ``w_t`` is the
element's outlier weight in frame t, in quarters (0 when it did not stand out;
see :func:`hotwatch.core.accumulator.hit_weights`), ``k_t`` the frame's cost for the
element's block: how strongly *not* standing out there speaks for health. It
is 0 where the defect could not have shown (a clipped highlight for a bright
one, a black shadow for a dark one), small in a short daylight exposure (a hot
pixel needs a long or high-ISO one), more in a long or high-ISO exposure, most
in a quiet one ("clear"). A chance outlier is worth a few frames of cost and
fades; a defect's evidence outgrows its cost. The onset is the capture time at
which S last rose from zero.

Only elements with S > 0 are kept ("live": a few per cent of the elements),
as sorted arrays that one merge per frame brings up to date (compiled).

Runs (bursts, tripod time-lapses) add no evidence to the counts: their repeat
frames are copies of one scene, and what stands out in them may be the
scene's doing. But the scene being the same throughout, a change in what
stands out is the element's: a defect that appears part-way through a run
shows in (nearly) every repeat from its onset on. Per element, a second
change point runs over the repeats, +1 for each it stands out in and -1 for
each it does not (a faint defect may miss a repeat now and then; a chance
outlier drops out at the next miss). The next counted frame finds an
excursion begun at that in-run change point, worth ``RUN_S`` (one outlier's
evidence: the run counts once), for every element whose in-run statistic is
above zero and that had none under way: a defect that appeared in a
time-lapse is dated from the repeat that first showed it, even when the frames
after the run cannot show it (a hot pixel after a night time-lapse, in
daylight) or show it the other way (a stuck pixel, bright on a dark scene and
then dark on a bright one), as long as its evidence outweighs their costs.
(An excursion under way when the run began goes on through it unchanged: a
chance outlier just before a long time-lapse in which a defect appears at
that very place dates it early.)

Merging (for re-identification, which folds one accumulator into another):
over a stretch of frames, S is a max-plus affine function of the S it started
with: S_end(s) = max(c, s + d), with c the stretch's own final S (from zero)
and d the sum of its increments, UNIT x (the element's weight count) - (the
block's total cost). And s + d > c exactly when the excursion under way at the
start of the stretch (including those the earlier stretch's last run left
pending) never ended in it, which decides whose onset stands. So two
accumulators of consecutive stretches merge into exactly the one fed both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from hotwatch.core.evidence import BLOCK

UNIT = 4  #: S per quarter of outlier weight (16 per whole weight)
COST_CLEAR = 8  #: k in a frame where the defect would surely have shown (quiet, and for
#: a bright defect a long or high-ISO exposure)
COST_HIGH = 4  #: k in a long or high-ISO frame that could have shown a bright defect
COST_LOW = 2  #: k in any other frame that could have shown it
RUN_S = 16  #: S of an excursion begun inside a run (one whole weight of evidence)


@dataclass(frozen=True, eq=False)
class Excursions:
    """The live elements of one side: sorted flat indices, their S and onset time.

    ``pend_*``: the elements whose in-run change point (over the repeat frames
    that followed the last counted frame) is above zero, sorted, with the time it
    last rose from zero and its value.
    """

    idx: np.ndarray
    s: np.ndarray
    tail: np.ndarray
    pend_idx: np.ndarray
    pend_time: np.ndarray
    pend_s: np.ndarray

    @classmethod
    def empty(cls) -> Excursions:
        return cls(_ix(), _ix(), _t(), _ix(), _t(), _ix())

    def step(
        self, hits: np.ndarray, weights: np.ndarray, cost: np.ndarray, width: int, now: float
    ) -> Excursions:
        """After one counted frame: ``hits`` (sorted flat indices) with their weights (0
        gains nothing), ``cost`` the (blocks_y, blocks_x) k of this frame, ``now`` its
        time."""
        live = self.with_pending()
        idx, s, tail = _step(
            live.idx,
            live.s,
            live.tail,
            hits.astype(np.int64),
            weights.astype(np.int64),
            cost.astype(np.int64),
            width,
            now,
        )
        return Excursions(idx, s, tail, _ix(), _t(), _ix())

    def with_pending(self) -> Excursions:
        """The excursions as the next counted frame finds them: those under way, and one
        begun at its in-run change point for each element a run left pending (worth
        ``RUN_S``, one outlier's evidence: the run counts once, but it tells when)."""
        if self.pend_idx.size == 0:
            return self
        idx, s, tail = _with_pending(
            self.idx, self.s, self.tail, self.pend_idx, self.pend_time, RUN_S
        )
        return Excursions(idx, s, tail, _ix(), _t(), _ix())

    def note_repeat(self, hits: np.ndarray, weights: np.ndarray, now: float) -> Excursions:
        """A repeat frame: one step of every element's in-run change point (+1 where it
        stood out, -1 where it did not; see the module's docstring)."""
        shown = np.unique(hits[weights > 0].astype(np.int64))
        idx, time, s = _note(self.pend_idx, self.pend_time, self.pend_s, shown, float(now))
        return Excursions(self.idx, self.s, self.tail, idx, time, s)

    def s_of(self, elements: np.ndarray) -> np.ndarray:
        """The statistic S of each of ``elements`` (0 for those at rest)."""
        elements = np.asarray(elements, dtype=np.int64)
        found, at = _lookup(self.idx, elements)
        return np.where(found, self.s[at] if self.idx.size else 0, 0).astype(np.int64)

    def reaching(self, bar: float) -> np.ndarray:
        """The elements (sorted flat indices) whose S is at ``bar`` or above."""
        return self.idx[self.s >= bar]

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
        counted frame (stretches are cut at a gap between runs), which finds this
        stretch's excursions and what its last run left pending.
        """
        live = self.with_pending()
        rows, cols = np.divmod(live.idx, width)
        d = UNIT * later_counts[live.idx].astype(np.int64)
        d -= later_cost[rows // BLOCK, cols // BLOCK].astype(np.int64)
        in_later, at = _lookup(later.idx, live.idx)
        c = np.where(in_later, later.s[at] if later.idx.size else 0, 0)
        carried = live.s + d > c  # the excursion under way never ended in the later stretch
        rest = np.ones(later.idx.size, bool)
        rest[at[carried & in_later]] = False
        idx = np.concatenate([live.idx[carried], later.idx[rest]])
        order = np.argsort(idx, kind="stable")
        return Excursions(
            idx[order],
            np.concatenate([(live.s + d)[carried], later.s[rest]])[order],
            np.concatenate([live.tail[carried], later.tail[rest]])[order],
            later.pend_idx,
            later.pend_time,
            later.pend_s,
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


@njit(cache=True, nogil=True, inline="always")
def _table(n):
    """Room for ``n`` rows of a merged table: flat indices, statistics, times."""
    return np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.float64)


@njit(cache=True, nogil=True)
def _note(pend_idx, pend_time, pend_s, shown, now):
    """One repeat frame: the merge of the in-run table with the elements it showed."""
    n_pend, n_shown = pend_idx.size, shown.size
    out_idx, out_s, out_time = _table(n_pend + n_shown)
    i = j = n = 0
    while i < n_pend or j < n_shown:
        if j >= n_shown or (i < n_pend and pend_idx[i] < shown[j]):  # missed this repeat
            e, time, s = pend_idx[i], pend_time[i], pend_s[i] - 1
            i += 1
        elif i >= n_pend or shown[j] < pend_idx[i]:  # stood out, from zero
            e, time, s = shown[j], now, 1
            j += 1
        else:  # stood out again
            e, time, s = pend_idx[i], pend_time[i], pend_s[i] + 1
            i += 1
            j += 1
        if s > 0:
            out_idx[n], out_time[n], out_s[n] = e, time, s
            n += 1
    return out_idx[:n], out_time[:n], out_s[:n]


@njit(cache=True, nogil=True)
def _with_pending(live_idx, live_s, live_tail, pend_idx, pend_time, run_s):
    """The live table with an excursion of ``run_s`` for each pending element at rest."""
    n_live, n_pend = live_idx.size, pend_idx.size
    out_idx, out_s, out_tail = _table(n_live + n_pend)
    i = j = n = 0
    while i < n_live or j < n_pend:
        if j >= n_pend or (i < n_live and live_idx[i] <= pend_idx[j]):
            if j < n_pend and live_idx[i] == pend_idx[j]:
                j += 1  # under way already: the excursion goes on
            out_idx[n], out_s[n], out_tail[n] = live_idx[i], live_s[i], live_tail[i]
            i += 1
        else:
            out_idx[n], out_s[n], out_tail[n] = pend_idx[j], run_s, pend_time[j]
            j += 1
        n += 1
    return out_idx[:n], out_s[:n], out_tail[:n]


@njit(cache=True, nogil=True)
def _step(live_idx, live_s, live_tail, hit_idx, hit_w, cost, width, now):
    """One counted frame: the merge of the live table with this frame's hits."""
    n_live, n_hit = live_idx.size, hit_idx.size
    out_idx, out_s, out_tail = _table(n_live + n_hit)
    i = j = n = 0
    stamp = np.float64(now)
    row_start, row_end, block_row = np.int64(0), np.int64(width), 0
    while i < n_live or j < n_hit:
        if j >= n_hit or (i < n_live and live_idx[i] < hit_idx[j]):
            e, s0, gain, tail = live_idx[i], live_s[i], 0, live_tail[i]
            i += 1
        elif i >= n_live or hit_idx[j] < live_idx[i]:
            e, s0, gain, tail = hit_idx[j], 0, UNIT * hit_w[j], stamp
            j += 1
            if gain <= 0:  # a weightless outlier of an element at rest: nothing to do
                continue
        else:
            e, s0, gain, tail = live_idx[i], live_s[i], UNIT * hit_w[j], live_tail[i]
            i += 1
            j += 1
        if e >= row_end:  # elements come in increasing order: the row seldom changes
            y = e // width
            row_start, row_end, block_row = y * width, (y + 1) * width, y // BLOCK
        s = s0 + gain - cost[block_row, (e - row_start) // BLOCK]
        if s <= 0:
            continue
        out_idx[n] = e
        out_s[n] = s
        out_tail[n] = tail
        n += 1
    return out_idx[:n], out_s[:n], out_tail[:n]  # views: no copy
