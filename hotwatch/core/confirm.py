"""Which defects a frame confirmed, and how confirmed defects are reported and dated.

Why apart from the ingest: these are the rules that make the defect list depend only on the
frames absorbed (never on how the photos arrived, or when checkpoints fell). They are pure
functions of an accumulator and the detection parameters: the ingest calls them, tests can
call them on an accumulator built in memory.

An accumulator's ``confirmed`` table maps an element to (the time of the frame that
confirmed it, the onset then, the kind then); :func:`confirm` adds to it (and, in a JPEG,
drops a position that has become part of another defect's blob), :func:`reported` and
:func:`settled` read it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np

from . import detect
from .accumulator import Accumulator
from .dating import known_time
from .model import Defect


def grow_candidates(
    acc: Accumulator,
    params: detect.DetectParams,
    known: np.ndarray | None,
    strong: np.ndarray,
) -> np.ndarray:
    """The elements detection runs among, after a frame: those of ``known`` (the
    candidates before it; None to look them up in the accumulator) and of ``strong`` (the
    elements it hit whose counts reached :func:`detect.least_counts`) that are significant
    now, and those whose onset statistic is at its bar (:func:`detect.rising`). An element
    the frame did not hit has the same counts against null expectations that only grew,
    and an onset statistic that did not rise: if it is significant now by its counts, it
    was before, and is in ``known``."""
    if known is None:
        return detect.candidates(acc, params)
    among = np.union1d(np.union1d(known, strong), detect.rising(acc, params))
    return detect.significant(acc, among, params)


def confirm(
    acc: Accumulator,
    params: detect.DetectParams,
    among: np.ndarray,
    taken: float,
    *,
    jpeg: bool,
) -> list[Defect]:
    """Defects that the frame counted at ``taken`` just pushed over the line.

    Detection runs over every candidate (``among``: elements with enough evidence to
    matter), not only this frame's outliers: whether an outlier is a defect or the echo of
    a stronger neighbour depends on that neighbour too. A JPEG blob's centre can move as
    evidence grows; a confirmed JPEG position that is now part of another blob is dropped
    (the catalogue retires it at the next checkpoint), and the blob's new centre keeps its
    confirmation: the defect is not new. (Why: a hot pixel whose evidence was split
    between two pixels of one chroma cell flipped between them every few dozen photos, and
    each flip dated its confirmation anew: a scan announced it 300 photos late.)
    """
    if among.size == 0:
        return []
    found = detect.detect(acc, params, among=among)
    here = [(d.x, d.y) for d in found]
    gone = _absorbed(acc, params, here) if jpeg else {}
    new = []
    for d in found:
        idx = d.y * acc.width + d.x
        if idx in acc.confirmed:
            continue
        before = [acc.confirmed[g] for g, at in gone.items() if at == (d.x, d.y)]
        if before:
            acc.confirmed[idx] = min(before, key=lambda c: c[0])
            continue
        acc.confirmed[idx] = (taken, d.onset.timestamp() if d.onset else None, d.kind)
        new.append(replace(d, onset=known_time(d.onset), confirmed=known_time(taken)))
    for g in gone:
        del acc.confirmed[g]
    return new


def _absorbed(
    acc: Accumulator, params: detect.DetectParams, here: list[tuple[int, int]]
) -> dict[int, tuple[int, int]]:
    """The confirmed JPEG positions (flat indices) now inside the blob of a defect found at
    another position, each with that position."""
    at = {(idx % acc.width, idx // acc.width): idx for idx in acc.confirmed}
    return {at[pos]: h for pos, h in holders(list(at), here, params, acc.chroma).items()}


def holders(
    positions: list[tuple[int, int]],
    here: list[tuple[int, int]],
    params: detect.DetectParams,
    chroma: tuple[int, int],
) -> dict[tuple[int, int], tuple[int, int]]:
    """Of JPEG ``positions`` not in ``here`` (the defects found now), those inside the blob
    of one found, each with the nearest such: where a defect's centre moved to."""
    out = {}
    for x, y in positions:
        if (x, y) in here:
            continue
        near = [h for h in here if detect.in_blob(y, x, h[1], h[0], *chroma, params.echo_radius)]
        if near:
            out[(x, y)] = min(near, key=lambda h: max(abs(h[0] - x), abs(h[1] - y)))
    return out


def reported(
    acc: Accumulator, params: detect.DetectParams, candidates: np.ndarray, *, jpeg: bool
) -> list[Defect]:
    """The defects to record: exactly those confirmed frame by frame.

    So what the catalogue holds depends only on the frames absorbed, never on when
    checkpoints fell. A JPEG blob is described by the detection that settled its centre
    (run among ``candidates``); anything else by its own evidence.
    """
    idx = np.array(sorted(acc.confirmed), dtype=np.int64)
    if idx.size == 0:
        return []
    own = {(d.x, d.y): d for d in detect.describe(acc, idx, params)}
    if jpeg:
        for d in detect.detect(acc, params, among=candidates):
            if (d.x, d.y) in own:
                own[(d.x, d.y)] = d
    return list(own.values())


def settled(acc: Accumulator, found: list[Defect]) -> list[Defect]:
    """Found defects with their confirmation times, and onsets that never move later.

    A defect keeps the earliest of the onset it was given when confirmed and the one its
    evidence gives now (when it was confirmed as the kind it is now: a stuck pixel's onset
    is the earlier of its bright and dark sides', and the dark side's is no onset of the
    hot pixel more evidence shows it to be), and no onset is after the confirmation. Times
    from frames that keep no date are unknown (:func:`hotwatch.core.dating.known_time`): an
    onset no dated frame bounds is None.
    """
    out = []
    for d in found:
        stored = acc.confirmed.get(d.y * acc.width + d.x, (acc.last_time, None, d.kind))
        when_ts, onset_ts, kind = stored
        when = _utc(when_ts)
        onset = _earliest(d.onset, _utc(onset_ts) if kind is d.kind else None, when)
        out.append(replace(d, confirmed=known_time(when), onset=known_time(onset)))
    return out


def _utc(stamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(stamp, UTC) if stamp is not None else None


def _earliest(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return min(known, key=lambda t: t.timestamp()) if known else None
