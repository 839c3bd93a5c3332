"""The accumulator: updates, merging, persistence, crash safety."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from hotwatch.core.accumulator import (
    CEILING,
    POS_HI,
    POS_LO,
    RANGE,
    RUN_GAP,
    WEIGHT_STEPS,
    Accumulator,
    FormatVersionError,
)
from hotwatch.core.confirm import grow_candidates
from hotwatch.core.detect import (
    DetectParams,
    candidates,
    closest_call,
    describe,
    detect,
    least_count,
    least_counts,
)
from hotwatch.core.errors import DamagedState
from hotwatch.core.evidence import extract
from hotwatch.state import store
from tests.support.state import with_format_version

H, W = 96, 128
PATTERN = np.array([[0, 1], [1, 2]], dtype=np.uint8)


def _frame(rng, f, defects=()):
    yy, xx = np.mgrid[0:H, 0:W]
    scene = 0.25 + 0.15 * np.sin(xx / (7 + f % 5) + f) * np.cos(yy / 9 - f) + 0.1 * rng.random()
    raw = scene * 3800 + 200
    raw = raw + rng.normal(0, np.sqrt(raw / 4) + 2)
    for y, x, value in defects:
        raw[y, x] = value
    return np.clip(raw, 0, 4095).astype(np.uint16)


def _feed(acc, frames, t0, start=0):
    for i, raw in enumerate(frames):
        ev = extract(raw, black=200, white=4095, cfa=PATTERN)
        acc.update(
            ev,
            t0 + (start + i) * 60.0,
            3000.0 if i % 4 == 0 else 20.0,
            digest=(start + i).to_bytes(16, "big"),
        )


def _roll(n, seed=1):
    rng = np.random.default_rng(seed)
    defects = [(20, 30, 4000), (50, 70, 200), (80, 100, 2500)]
    return [_frame(rng, f, defects if f >= 5 else defects[:2]) for f in range(n)]


def test_finds_planted_defects_and_nothing_else():
    acc = Accumulator(H, W, "raw")
    _feed(acc, _roll(40), 1.7e9)
    found = {(d.x, d.y): d.kind.value for d in detect(acc)}
    assert found == {(30, 20): "stuck", (70, 50): "dead", (100, 80): "stuck"}


def test_the_closest_call_tells_how_near_a_clean_body_came():
    """A clean body's highest score stays under the bar; a body with defects reaches it with
    the strongest (the benchmark prints this for its clean body)."""
    rng = np.random.default_rng(4)
    clean = Accumulator(H, W, "raw")
    _feed(clean, [_frame(rng, f) for f in range(40)], 1.7e9)
    assert detect(clean) == [] and closest_call(clean)[0] == 0  # none has min_weight
    top, bar = closest_call(clean, DetectParams(min_weight=2))
    assert 0 < top < bar
    acc = Accumulator(H, W, "raw")
    _feed(acc, _roll(40), 1.7e9)
    top, bar = closest_call(acc)
    assert top >= bar and top >= max(d.score for d in detect(acc)) - 0.01


def test_merge_equals_sequential():
    frames = _roll(40)
    one = Accumulator(H, W, "raw")
    _feed(one, frames, 1.7e9)
    a, b = Accumulator(H, W, "raw"), Accumulator(H, W, "raw")
    _feed(a, frames[:17], 1.7e9)
    # the second stretch starts after a gap longer than RUN_GAP, as scan would split it
    b_frames = frames[17:]
    seq = Accumulator(H, W, "raw")
    _feed(seq, frames[:17], 1.7e9)
    for i, raw in enumerate(b_frames):
        t = 1.7e9 + 17 * 60 + RUN_GAP + 1 + i * 60.0
        ei = 3000.0 if (17 + i) % 4 == 0 else 20.0
        for acc in (b, seq):
            acc.update(
                extract(raw, black=200, white=4095, cfa=PATTERN),
                t,
                ei,
                digest=(17 + i).to_bytes(16, "big"),
            )
    merged = a.merge(b)
    for name, arr in seq.state().items():
        assert np.array_equal(arr, merged.state()[name]), name
    assert (merged.frames, merged.counted) == (seq.frames, seq.counted)
    assert detect(merged) == detect(seq)
    assert one.frames == merged.frames


def test_same_content_is_never_counted_twice():
    acc = Accumulator(H, W, "raw")
    raw = _roll(1)[0]
    ev = extract(raw, black=200, white=4095, cfa=PATTERN)
    assert acc.update(ev, 1.7e9, 100.0, digest=b"x" * 16).counted
    assert not acc.update(ev, 1.7e9 + 5000, 100.0, digest=b"x" * 16).counted
    assert acc.frames == 1
    with pytest.raises(ValueError):
        acc.merge(acc)


def test_round_trip_and_checksum(tmp_path):
    acc = Accumulator(H, W, "jpeg")
    _feed(acc, _roll(8), 1.7e9)
    path = tmp_path / "a.hwacc"
    size = store.save(path, acc)
    assert size < 12 * H * W
    back = store.load(path)
    assert back is not None and detect(back) == detect(acc)
    assert all(np.array_equal(v, back.state()[k]) for k, v in acc.state().items())
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x40
    path.write_bytes(bytes(blob))
    with pytest.raises(DamagedState):
        store.load(path)
    assert not path.exists(), "a damaged file is set aside, never reused"
    assert list(tmp_path.glob("a.hwacc.damaged-*"))


def test_format_2_whole_weights_load_as_quarters(tmp_path):
    """Format 2 counted whole weights: its counts and null expectations load as four
    quarters each, and everything else as it was."""
    acc = Accumulator(H, W, "raw")
    _feed(acc, _roll(30), 1.7e9)
    whole = acc.arrays["elements"][..., :RANGE] // WEIGHT_STEPS
    acc.arrays["elements"][..., :RANGE] = whole * WEIGHT_STEPS  # as format 2 knew them
    for side in ("pos", "neg"):
        acc.arrays[f"null_{side}"] //= WEIGHT_STEPS
        acc.arrays[f"null_{side}"] *= WEIGHT_STEPS
    want = {k: v.copy() for k, v in acc.state().items()}
    found = detect(acc)
    assert whole.any() and len(found) == 3
    acc.arrays["elements"][..., :RANGE] = whole  # what a format 2 file holds
    for side in ("pos", "neg"):
        acc.arrays[f"null_{side}"] //= WEIGHT_STEPS
    path = tmp_path / "old.hwacc"
    path.write_bytes(with_format_version(acc.to_bytes(), 2))
    back = store.load(path)
    assert back is not None
    for name, arr in want.items():
        assert np.array_equal(back.state()[name], arr), name
    assert detect(back) == found
    path.write_bytes(with_format_version(acc.to_bytes(), 1))
    with pytest.raises(FormatVersionError):
        Accumulator.from_bytes(path.read_bytes())


def test_format_4_loads_without_the_night_onsets(tmp_path, monkeypatch):
    """Format 4 kept no onset statistic over long or high-ISO frames alone: such a file
    loads with that statistic empty (it dates from the next such frames), everything else
    as it was, and goes on absorbing."""
    acc = Accumulator(H, W, "raw")
    _feed(acc, _roll(30), 1.7e9)
    assert acc.onsets["hi"].idx.size and acc.arrays["cost_hi"].any()
    found = detect(acc)
    full = Accumulator.state

    def as_format_4(self):
        return {k: v for k, v in full(self).items() if "hi_" not in k and k != "cost_hi"}

    monkeypatch.setattr(Accumulator, "state", as_format_4)
    path = tmp_path / "old.hwacc"
    path.write_bytes(with_format_version(acc.to_bytes(), 4))
    monkeypatch.setattr(Accumulator, "state", full)
    back = store.load(path)
    assert back is not None
    assert back.onsets["hi"].idx.size == 0 and not back.arrays["cost_hi"].any()
    for name, arr in as_format_4(acc).items():
        assert np.array_equal(back.state()[name], arr), name
    assert [(d.x, d.y, d.kind) for d in detect(back)] == [(d.x, d.y, d.kind) for d in found]
    _feed(back, _roll(4, seed=2), 1.8e9, start=30)
    assert back.counted == acc.counted + 4


def _coloured_roll(n: int, seed: int = 0) -> list:
    """JPEG evidence of ``n`` frames: element 7 stands out in green in every one, element
    9 in red, element 11 in green or blue by turns, and chance outliers anywhere."""
    rng = np.random.default_rng(seed)
    opp = np.ones((2, 2), bool)
    out = []
    for i in range(n):
        chance = rng.choice(np.arange(20, 900), 6, replace=False)
        idx = np.concatenate([[7, 9, 11], np.sort(chance)])
        chan = np.concatenate([[1, 0, 1 + i % 2], rng.integers(0, 3, 6)]).astype(np.uint8)
        z = np.full(idx.size, 20.0, np.float32)
        bright = (idx, z, np.full(idx.size, 200, np.uint8))
        dark = (np.empty(0, np.int64), np.empty(0, np.float32), np.empty(0, np.uint8))
        out.append(_evidence(32, 32, [bright, dark], (opp,) * 4, 0.1 + 0.8 * (i % 2), chan))
    return out


def test_a_jpeg_keeps_which_colour_each_pixel_stood_out_in(tmp_path, monkeypatch):
    """Of each JPEG pixel's bright evidence, the share that stood out in green is kept, and
    saved; read from an accumulator older than that, or fed evidence that did not say, it
    is not known (-1), never taken as zero."""
    acc = Accumulator(32, 32, "jpeg")
    for i, ev in enumerate(_coloured_roll(40)):
        acc.update(ev, 1.7e9 + 100 * i, 100.0, i.to_bytes(16, "big"))
    share = acc.green_share(np.array([7, 9, 11]))
    assert share[:2].tolist() == [1.0, 0.0] and share[2] == pytest.approx(0.5, abs=0.05)
    assert acc.green_share(np.array([1000])).tolist() == [-1.0]  # never stood out bright
    back = Accumulator.from_bytes(acc.to_bytes())
    assert back.green_whole
    np.testing.assert_array_equal(
        back.green_share(np.arange(32 * 32)), acc.green_share(np.arange(32 * 32))
    )
    assert Accumulator(32, 32, "raw").green_share(np.array([7])).tolist() == [-1.0]
    # format 5 kept no colours: such a file loads with them unknown, and goes on so
    full = Accumulator.state
    monkeypatch.setattr(
        Accumulator, "state", lambda self: {k: v for k, v in full(self).items() if k != "green"}
    )
    path = tmp_path / "old.hwacc"
    path.write_bytes(with_format_version(acc.to_bytes(), 5))
    monkeypatch.setattr(Accumulator, "state", full)
    old = store.load(path)
    assert old is not None and not old.green_whole
    assert old.green_share(np.array([7, 9])).tolist() == [-1.0, -1.0]
    old.update(_coloured_roll(1, seed=3)[0], 1.8e9, 100.0, b"x" * 16)
    assert old.green_share(np.array([7])).tolist() == [-1.0]
    # evidence that does not say which colour: from then on, not known
    ev = _coloured_roll(1, seed=4)[0]
    acc.update(dataclasses.replace(ev, pos_chan=None), 1.9e9, 100.0, b"y" * 16)
    assert acc.green_share(np.array([7])).tolist() == [-1.0]


def test_kill_during_saves_leaves_old_or_new_state(tmp_path):
    """SIGKILL a process that saves in a loop: what is on disk always loads."""
    path = tmp_path / "acc.hwacc"
    code = textwrap.dedent(f"""
        import numpy as np, sys
        from hotwatch.state import store
        from hotwatch.core.accumulator import Accumulator
        acc = Accumulator(600, 800, "raw")
        i = 0
        while True:
            acc.frames = i
            acc.arrays["elements"][..., 0] = i % 65535
            store.save(__import__("pathlib").Path({str(path)!r}), acc)
            i += 1
            if i == 3:
                print("saving", flush=True)
    """)
    for delay in (0.05, 0.13, 0.31):
        proc = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, cwd=Path(__file__).parent.parent
        )
        assert proc.stdout.readline().strip() == b"saving"
        import time

        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        acc = store.load(path)
        assert acc is not None
        assert np.all(acc.arrays["elements"][..., 0] == acc.frames % 65535)
    assert not list(tmp_path.glob("*.damaged-*"))


def _random_evidence(rng, h, w, scene, late=False):
    """A made-up frame's evidence: outliers of all strengths, mixed opportunities; with
    ``late``, also a few elements that have just gone bad."""
    from hotwatch.core.evidence import block_shape

    bshape = block_shape(h, w)
    sides = []
    for _ in range(2):
        idx = np.unique(rng.integers(0, h * w, int(rng.integers(0, 40))))
        idx = np.unique(np.concatenate([idx, np.arange(0, h * w, 1999)]))  # a few keep showing
        bad = np.arange(5, h * w, 1501) if late else np.empty(0, np.int64)
        idx = np.unique(np.concatenate([idx, bad]))
        z = rng.uniform(3, 6, idx.size).astype(np.float32)
        z[(rng.random(idx.size) < 0.3) | np.isin(idx, bad)] *= 4  # rare strong ones
        sides.append((idx, z, rng.integers(0, 256, idx.size).astype(np.uint8)))
    opp = [rng.random(bshape) < p for p in (0.9, 0.5, 0.9, 0.3)]
    chan = rng.integers(0, 3, sides[0][0].size).astype(np.uint8)
    ev = _evidence(h, w, sides, (opp[0], opp[0] & opp[1], opp[2], opp[2] & opp[3]), scene, chan)
    return dataclasses.replace(ev, thumb_noise=float(rng.uniform(0, 0.04)))


def _evidence(h, w, sides, opp, scene, chan=None):
    """A frame's evidence from its outliers, (flat index, z, value) bright and dark, and
    where a bright defect could and surely would show, and a dark one (``chan``: the
    channel of each bright one, in an RGB frame)."""
    from hotwatch.core.evidence import FrameEvidence

    return FrameEvidence(
        shape=(h, w),
        pos_idx=sides[0][0],
        pos_z=sides[0][1],
        pos_val=sides[0][2],
        neg_idx=sides[1][0],
        neg_z=-sides[1][1],
        neg_val=sides[1][2],
        hot_opp=opp[0],
        hot_clear=opp[1],
        dead_opp=opp[2],
        dead_clear=opp[3],
        thumb=np.full((2, 2), scene, np.float16),
        phase=2,
        edge=2,
        pos_chan=chan,
    )


@pytest.mark.parametrize("kind", ["raw", "jpeg"])
@pytest.mark.parametrize("seed", range(6))
def test_merge_equals_sequential_on_random_streams(seed, kind):
    """Random evidence with runs (repeat frames) everywhere, cut after a run: every array
    of the merged accumulator, onset tables included, equals the one fed everything."""
    rng = np.random.default_rng(seed)
    h, w = 96, 128
    t, frames = 1.7e9, []
    scene = 0.2
    for i in range(80):
        if rng.random() < 0.6 and not 36 <= i < 40:  # a new scene, else a repeat of the last
            scene = float(rng.uniform(0.05, 0.9))
        t += float(rng.uniform(1, 200))
        if i == 40:
            t += RUN_GAP + 1  # the cut: stretches are split at a gap between runs
        ei = float(rng.choice([10.0, 100.0, 3000.0]))
        ev = _random_evidence(rng, h, w, scene, late=i >= 37)  # going bad in the run
        frames.append((ev, t, ei, i.to_bytes(16, "big")))
    seq, a, b = (Accumulator(h, w, kind) for _ in range(3))
    for i, (ev, t, ei, digest) in enumerate(frames):
        seq.update(ev, t, ei, digest)
        (a if i < 40 else b).update(ev, t, ei, digest)
    assert any(o.pend_idx.size for o in a.onsets.values()), "the first stretch ends in a run"
    merged = a.merge(b)
    for name, arr in seq.state().items():
        np.testing.assert_array_equal(merged.state()[name], arr, err_msg=name)
    assert merged.last_thumb_noise == seq.last_thumb_noise > 0
    back = Accumulator.from_bytes(merged.to_bytes())
    assert back.last_thumb_noise == pytest.approx(seq.last_thumb_noise)
    if kind == "jpeg":
        assert merged.green_whole and merged.arrays["green"].any()
    assert (merged.frames, merged.counted) == (seq.frames, seq.counted)


def test_the_candidates_kept_frame_by_frame_are_those_the_accumulator_gives():
    """The ingest keeps its candidates from frame to frame (what each frame brought to the
    watch, the others dropped once they are no longer significant): after every frame
    they are exactly the significant elements of the accumulator, looked up afresh."""
    acc = Accumulator(H, W, "raw")
    params = DetectParams(min_weight=12)
    known = None
    for i, raw in enumerate(_roll(30)):
        ev = extract(raw, black=200, white=4095, cfa=PATTERN)
        ei = 3000.0 if i % 4 == 0 else 20.0
        got = acc.update(ev, 1.7e9 + i * 60.0, ei, watch=least_counts(acc, params))
        assert set(got.watched.tolist()) <= set(np.concatenate([ev.pos_idx, ev.neg_idx]).tolist())
        known = grow_candidates(acc, params, known, got.watched)
        assert known.tolist() == candidates(acc, params).tolist(), i
    planted = {20 * W + 30, 50 * W + 70, 80 * W + 100}
    assert planted <= set(known.tolist())  # (with a shade, which detection then drops)


def test_a_long_stream_keeps_its_candidates_few():
    """Every element gathers chance outliers: after enough photos most have ``min_weight``
    of them. Detection, which runs after every photo, must not be handed them all (a scan
    would slow down with every photo absorbed): only the significant ones are candidates
    (here the few elements that show in every frame), and only they reach the watch."""
    rng = np.random.default_rng(3)
    h, w = 96, 128
    acc = Accumulator(h, w, "raw")
    params = DetectParams(min_weight=2)
    watched: set[int] = set()
    for i in range(300):
        scene = float(rng.uniform(0.05, 0.9))  # no repeats: every frame counts
        ev = _random_evidence(rng, h, w, scene, late=False)
        got = acc.update(ev, 1.7e9 + 900.0 * i, 100.0, watch=least_counts(acc, params))
        watched |= set(got.watched.tolist())
    total = acc.counts("pos") + acc.counts("neg")
    assert np.count_nonzero(total >= least_count(params)) > 3000  # chance outliers add up
    always = set(range(0, h * w, 1999))  # the elements _random_evidence shows in every frame
    assert set(candidates(acc, params).tolist()) == always
    assert always <= watched and len(watched) < 2 * len(always)


def test_a_count_at_its_ceiling_does_not_turn_a_defect_hot():
    """A JPEG defect seen in every frame for years: its count in ordinary frames stops at
    the 16-bit ceiling while their number grows; it showed whatever the exposure."""
    acc = Accumulator(H, W, "jpeg")
    at = 40 * W + 60
    records = acc.records()
    records[at, POS_LO], records[at, POS_HI] = CEILING, 20_000
    records[at, RANGE] = 221 | (236 << 8)  # bright whenever it stood out clearly
    by, bx = 40 // 16, 60 // 16
    acc.arrays["opp_lo"][by, bx], acc.arrays["opp_hi"][by, bx] = 60_000, 2_000
    acc.arrays["null_pos"][by, bx] = 1_000
    (d,) = describe(acc, np.array([at]))
    assert d.kind.value == "stuck"
    records[at, POS_LO] = CEILING - 40_000  # a count that did not stop: the rates tell
    (d,) = describe(acc, np.array([at]))
    assert d.kind.value == "hot"


def _night_or_day(rng, h, w, hot: int | None, scene: float):
    """A made-up frame's evidence: a few chance outliers either way, every block able to
    show a defect; with ``hot``, that element stands out bright, far."""
    from hotwatch.core.evidence import block_shape

    sides = []
    for _ in range(2):
        idx = np.unique(rng.integers(0, h * w, 4))
        if hot is not None and not sides:
            idx = np.unique(np.append(idx[idx != hot], hot))
        z = rng.uniform(3, 5, idx.size).astype(np.float32)
        z[idx == hot] = 30.0
        sides.append((idx, z, np.full(idx.size, 200, np.uint8)))
    everywhere = np.ones(block_shape(h, w), bool)
    return _evidence(h, w, sides, (everywhere,) * 4, scene)


def test_a_night_only_hot_pixel_is_dated_from_its_first_night():
    """A faint hot pixel shows only in long exposures: in 4 night photos, then in none of
    the 400 daylight photos that follow (they cannot show it), then in 4 more night
    photos, which make it a defect. Its onset is the first night's, not the second's:
    over all photos its evidence faded in the daylight ones, over the night ones it did
    not."""
    rng = np.random.default_rng(3)
    h, w, hot = 64, 64, 64 * 20 + 33
    acc = Accumulator(h, w, "raw")
    t0, t = 1.7e9, 1.7e9
    plan = [(True, 3000.0)] * 4 + [(False, 20.0)] * 400 + [(True, 3000.0)] * 4
    for i, (night, ei) in enumerate(plan):
        t = t0 + i * (RUN_GAP + 1)  # no photo repeats the last: no runs
        ev = _night_or_day(rng, h, w, hot if night else None, float(rng.uniform(0.05, 0.9)))
        acc.update(ev, t, ei, digest=i.to_bytes(16, "big"))
    assert acc.onsets["pos"].onset_of(np.array([hot]))[0] > t0 + 400 * (RUN_GAP + 1)
    found = {(d.x, d.y): d for d in detect(acc)}
    assert set(found) == {(33, 20)}
    assert found[(33, 20)].kind.value == "hot"
    assert found[(33, 20)].onset.timestamp() == t0


def _chance_or_hot(rng, h, w, hot: int | None, n: int):
    """A made-up frame's evidence: ``n`` chance outliers either way (some strong), every
    block able to show a defect; with ``hot``, that element stands out bright, far."""
    from hotwatch.core.evidence import block_shape

    sides = []
    for _ in range(2):
        idx = np.unique(rng.integers(0, h * w, n))
        if hot is not None and not sides:
            idx = np.unique(np.append(idx[idx != hot], hot))
        z = rng.uniform(3, 5, idx.size).astype(np.float32)
        z[rng.random(idx.size) < 0.1] *= 3
        z[idx == hot] = 30.0
        sides.append((idx, z, np.full(idx.size, 200, np.uint8)))
    everywhere = np.ones(block_shape(h, w), bool)
    return _evidence(h, w, sides, (everywhere,) * 4, float(rng.uniform(0.05, 0.9)))


def _photos_to_report(age: int, params: DetectParams) -> int | None:
    """A body's photos, each with 1 % of its elements chance outliers; from photo ``age``
    on, one element is hot. How many photos from then until detection reports it (None:
    not within 60); nothing is reported before."""
    rng = np.random.default_rng(3)
    h, w, hot = 64, 64, 64 * 20 + 33
    acc = Accumulator(h, w, "raw")
    for i in range(age + 60):
        ev = _chance_or_hot(rng, h, w, hot if i >= age else None, 40)
        acc.update(ev, 1.7e9 + i * (RUN_GAP + 1), 100.0, digest=i.to_bytes(16, "big"))
        if i >= age - 20:
            found = [(d.x, d.y) for d in detect(acc, params)]
            assert i >= age or not found, f"photo {i} of a clean body: {found}"
            if found:
                assert found == [(33, 20)]
                return i - age + 1
    return None


def test_a_defect_on_an_old_body_is_reported_as_soon_as_on_a_new_one():
    """Every photo adds to each element's null expectation: on a body 1,500 photos old, a
    count must be many times what it was on a new one before it stands out (the count alone
    takes over 60 photos here). The onset statistic forgets the chance outliers of the
    years before; a hot pixel that appears on an old body is reported within a few photos
    of when it would be on a new one, and a clean body's 1,500 photos report nothing."""
    young = _photos_to_report(10, DetectParams())
    assert young is not None and young <= 10
    old = _photos_to_report(1500, DetectParams())
    assert old is not None and old <= young + 3
    assert _photos_to_report(1500, DetectParams(rise=np.inf)) is None
