"""The compiled kernels, built before the first photo needs them.

Why: the per-element kernels (:mod:`hotwatch.core.kernels`, and the few in the accumulator,
detection and onsets) are compiled by numba on first use. A first scan used to pay that
before its first photo: 15-25 s on a two-core machine, one core busy, nothing said. Later
runs load the compiled code from numba's cache in a fraction of a second.

So a scan (and the demo) first asks, in a moment, what is cached (:func:`missing`: the
kernels are called on tiny frames with compiling refused, which loads whatever is cached).
What is not is built in the background (:class:`Warmup`), by one process per *variant*:
the evidence pass (most of the build) in one, everything after the evidence in the other,
so that on two cores the build takes little longer than the evidence pass alone, while this
process finds the files and reads their capture times; the scan waits for it only before
its first photo is read. The builders share numba's cache, their reads and writes of it
taken in turn (see :mod:`hotwatch.core.compiled`).

The tiny frames go through the same public functions a photo goes through (evidence,
accumulator, detection, onsets), so whatever types those pass is what gets compiled; the
accumulator's builder makes its evidence in numpy, with the types the evidence pass gives.
``tests/test_warmup.py`` checks that a scan after the warm-up compiles nothing.
"""

from __future__ import annotations

import fcntl
import os
import site
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np

import hotwatch
from hotwatch.core import compiled, confirm, detect, evidence
from hotwatch.core.accumulator import Accumulator, content_digest

#: what one builder process compiles: the evidence pass (frames of every type: its
#: passes are compiled for 16-bit rows only, see ``kernels.frame_pass``), or all the rest
VARIANTS = ("evidence", "accumulator")
#: the tiny frames' edge: big enough that an outlier in every frame weighs enough to make
#: a defect within ``FRAMES`` (so detection and its grouping run), and cheap to run
SIZE = 128
FRAMES = 16
REPEAT = 6  #: this frame repeats the one before: a burst, and an onset left pending
RGGB = np.array([[0, 1], [3, 2]], dtype=np.uint8)  #: a Bayer pattern as rawpy gives it
START = 1_700_000_000.0  #: capture time of the first tiny frame (Unix seconds)
HOT = (SIZE // 3, SIZE // 3 + 1)  #: where the tiny frames have a hot element
DEAD = (2 * SIZE // 3, 2 * SIZE // 3 - 1)  #: and a dead one


# --------------------------------------------------------------------------- the work


def exercise(variant: str) -> None:
    """Run the kernels of ``variant`` once on tiny frames (compiling or loading them)."""
    if variant == "evidence":
        kinds = (
            (np.uint8, 255, 3, None),  # camera JPEG
            (np.uint16, 4095, 1, RGGB),  # raw
            (np.uint16, 65535, 3, None),  # 16-bit TIFF
        )
        for dtype, white, channels, cfa in kinds:
            frame = next(_frames(dtype, white, channels))
            black = 64.0 if cfa is not None else 0.0
            chroma = (1, 1) if cfa is not None else (2, 2)
            evidence.extract(frame, black=black, white=float(white), cfa=cfa, chroma=chroma)
    elif variant == "accumulator":
        raw = [_evidence(f, 4095, RGGB) for f in _frames(np.uint16, 4095, channels=1)]
        rgb = [_evidence(f, 255, None) for f in _frames(np.uint8, 255, channels=3)]
        _accumulate(Accumulator(SIZE, SIZE, "raw", cfa=tuple(map(tuple, RGGB.tolist()))), raw)
        _accumulate(Accumulator(SIZE, SIZE, "jpeg", chroma=(2, 2)), rgb)
    else:
        raise ValueError(f"no warm-up variant {variant!r}")


def _frames(dtype: type, white: int, channels: int) -> Iterator[np.ndarray]:
    """Noisy frames of a few brightnesses (so that each counts), with a hot and a dead
    element; one frame repeats the one before (a burst has a path of its own)."""
    rng = np.random.default_rng(16)
    shape = (SIZE, SIZE) if channels == 1 else (SIZE, SIZE, channels)
    frame = np.zeros(shape, dtype)
    for i in range(FRAMES):
        if i != REPEAT:
            level = white * (0.15 + 0.05 * (i % 5))
            frame = np.clip(rng.normal(level, white * 0.004, shape), 0, white).astype(dtype)
            frame[HOT] = white * 0.9
            frame[DEAD] = 0
        yield frame


def _evidence(frame: np.ndarray, white: int, cfa: np.ndarray | None) -> evidence.FrameEvidence:
    """What :func:`evidence.extract` makes of a tiny frame, built here without its compiled
    pass: so that the accumulator's kernels build beside the evidence pass's, not after
    it. (It is the types that matter; a scan after the warm-up compiling nothing, which
    ``tests/test_warmup.py`` checks, shows they are the real ones.)"""
    by, bx = evidence.block_shape(SIZE, SIZE)
    level = frame.reshape(by, SIZE // by, bx, SIZE // bx, -1).mean(axis=(1, 3, 4)) / white
    chance = np.random.default_rng(int(level.sum() * 1e6)).integers(0, SIZE * SIZE, 3)
    pos = np.unique(np.append(chance, HOT[0] * SIZE + HOT[1])).astype(np.int64)
    opp = np.ones((by, bx), bool)
    return evidence.FrameEvidence(
        shape=(SIZE, SIZE),
        pos_idx=pos,
        pos_z=np.where(pos == HOT[0] * SIZE + HOT[1], 300.0, 6.0).astype(np.float32),
        pos_val=np.full(pos.size, 200, np.uint8),
        neg_idx=np.array([DEAD[0] * SIZE + DEAD[1]], np.int64),
        neg_z=np.array([-60.0], np.float32),
        neg_val=np.zeros(1, np.uint8),
        hot_opp=opp,
        dead_opp=opp.copy(),
        dead_clear=opp.copy(),
        hot_clear=opp.copy(),
        thumb=evidence.thumbnail(level),
        phase=8 if cfa is None else int(cfa.shape[0]),
        edge=2,
        chroma=(1, 1) if cfa is not None else (2, 2),
    )


def _accumulate(acc: Accumulator, frames: Sequence[evidence.FrameEvidence]) -> None:
    """Feed ``frames`` as a scan does (update, candidates, confirm), then detect."""
    params = detect.DetectParams()
    known = None
    for i, ev in enumerate(frames):
        # a new session every hour; the repeat a second after the frame it repeats
        taken = START + 3600.0 * i - (3599.0 if i == REPEAT else 0.0)
        got = acc.update(
            ev,
            taken,
            500.0 if i % 2 else 10.0,  # high and low exposure indices both
            digest=content_digest(f"{i:032x}"),
            watch=detect.least_counts(acc, params),
        )
        known = confirm.grow_candidates(acc, params, known, got.watched)
        confirm.confirm(acc, params, known, taken, jpeg=acc.kind == "jpeg")
    detect.detect(acc, params)


# --------------------------------------------------------------------------- what is cached


def missing() -> list[str]:
    """The variants whose kernels numba's cache lacks; those it has are loaded now."""
    me = threading.get_ident()
    out = []
    for variant in VARIANTS:
        try:
            with compiled.from_cache_only(lambda: threading.get_ident() == me):
                exercise(variant)
        except compiled.NotCompiled:
            out.append(variant)
    return out


# --------------------------------------------------------------------------- building


class Warmup:
    """The kernels made ready in the background: loaded from numba's cache on a thread of
    this process, and those not cached built by builder processes.

    ``variants`` is None until the cache was looked at, then what is being built (empty:
    everything was cached). ``wait`` before the first photo (or anything else that runs
    the kernels) is read: the kernels are then loaded or in the cache, never compiled
    twice. A build that fails leaves ``failure`` set; the kernels are then compiled as the
    photos need them, as without a warm-up.
    """

    def __init__(self, on_build: Callable[[], None] | None = None) -> None:
        """Start looking (on a thread); ``on_build`` is called on that thread, once, if
        builders are started (a caller says so at once, whatever it is doing)."""
        self.started = time.monotonic()
        self._on_build = on_build
        self.variants: tuple[str, ...] | None = None
        self.finished: float | None = None
        self.failure: str | None = None
        self._guard = threading.Lock()
        self._stopped = False
        self._lock: Path | None = None
        self._logs: list[Path] = []
        self._procs: list[subprocess.Popen] = []
        self._probe = threading.Thread(target=self._look, name="hotwatch-warmup", daemon=True)
        self._probe.start()

    @property
    def building(self) -> bool:
        """Are (or were) builder processes at work?"""
        return bool(self._procs)

    def _look(self) -> None:
        try:
            lacking = missing()
        except Exception as exc:  # a kernel that fails on the tiny frames: a bug, said later
            self.failure = f"{type(exc).__name__}: {exc}"
            lacking = []
        with self._guard:
            self.variants = tuple(lacking)
            if not lacking or self._stopped:
                return
            self._spawn(lacking)
        if self._on_build is not None:
            self._on_build()

    def _spawn(self, variants: Sequence[str]) -> None:
        self._lock = Path(tempfile.mkstemp(prefix="hotwatch-warmup-", suffix=".lock")[1])
        groups = [(v,) for v in variants] if _parallel_ok() else [tuple(variants)]
        env = dict(os.environ)
        pythonpath = _package_root(env.get("PYTHONPATH"))
        if pythonpath:
            env["PYTHONPATH"] = pythonpath
        for group in groups:
            log = Path(tempfile.mkstemp(prefix="hotwatch-warmup-", suffix=".log")[1])
            self._logs.append(log)
            with open(log, "w") as out:
                self._procs.append(
                    subprocess.Popen(
                        [sys.executable, "-c", _BUILD, str(self._lock), *group],
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        env=env,
                    )
                )

    def done_within(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the kernels; whether they are ready."""
        end = time.monotonic() + seconds
        self._probe.join(max(0.0, end - time.monotonic()))
        if self._probe.is_alive():
            return False
        for proc in self._procs:
            try:
                proc.wait(timeout=max(0.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                return False
        return True

    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def wait(self) -> float:
        """Wait until the kernels are ready; the seconds since the start."""
        if self.finished is None:
            self._probe.join()
            codes = [p.wait() for p in self._procs]
            self.finished = time.monotonic()
            bad = [log for code, log in zip(codes, self._logs, strict=True) if code != 0]
            if bad:
                tail = bad[0].read_text(errors="replace").strip().splitlines()[-1:]
                self.failure = tail[0] if tail else "a builder failed"
            self._clean()
        return self.elapsed()

    def stop(self) -> None:
        """End the build (nothing needs the kernels after all); the next run builds them."""
        with self._guard:
            self._stopped = True
        self._probe.join()
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self._clean()

    def _clean(self) -> None:
        for path in (self._lock, *self._logs):
            if path is not None:
                path.unlink(missing_ok=True)


def start(on_build: Callable[[], None] | None = None) -> Warmup | None:
    """Make the kernels ready in the background (None: numba compiles nothing here);
    ``on_build``: see :class:`Warmup`."""
    if os.environ.get("NUMBA_DISABLE_JIT") == "1":
        return None
    return Warmup(on_build)


def build(lock: Path, variants: Sequence[str]) -> None:
    """A builder process: compile ``variants``, taking numba's cache in turn with the other
    builders (through the file lock ``lock``)."""

    @contextmanager
    def held() -> Iterator[None]:
        with open(lock, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield

    compiled.serialised_cache_io(held)
    if "evidence" not in variants:
        _yield_cpu()  # the evidence pass's build is the longest: this one yields to it
    # On a thread of its own: CPython 3.11 maps a new 16 KiB piece of its frame stack
    # whenever a call crosses the end of one, and unmaps it on the way back. numba's
    # compiler recurses deep, and from this process's main thread it crossed such an edge
    # 225,000 times (1.6 s of system time in a 10 s build); from a fresh thread 95,000.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: [exercise(v) for v in variants]).result()


def _yield_cpu() -> None:
    """Run only on a core nothing else wants (Linux's idle scheduling class), else as
    nicely as allowed: on two cores, a third busy process slows the evidence pass's build
    by a quarter, and that build is what the first photo waits for."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(19)


def _parallel_ok() -> bool:
    """Can builders share numba's cache safely here (its index taken in turn)?"""
    return compiled.can_serialise_cache_io()


def _package_root(pythonpath: str | None) -> str | None:
    """PYTHONPATH for the builders: the folder this hotwatch was imported from first, so
    that they compile the same source (numba's cache is keyed by the source file), unless
    it is an installed one (site-packages come after the standard library, and stay so)."""
    root = str(Path(hotwatch.__file__).resolve().parent.parent)
    installed = {str(Path(p).resolve()) for p in (*site.getsitepackages(), site.USER_SITE) if p}
    if root in installed:
        return pythonpath
    return os.pathsep.join(p for p in (root, pythonpath) if p)


_BUILD = (
    "import sys; from pathlib import Path; from hotwatch.pipeline.warmup import build; "
    "build(Path(sys.argv[1]), sys.argv[2:])"
)
