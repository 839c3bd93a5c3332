"""The per-body accumulator: evidence over time, one frame at a time.

State is one compact record per element (8 bytes in memory, far less on disk
where most of it is zero), per-block counts, and the few elements whose
evidence is on the rise (:mod:`hotwatch.core.onset`), so any number of frames costs
the same memory.

Per element, four 16-bit fields side by side (``elements[y, x]``: the update of
a hit and the check of its total then touch one cache line, not four arrays):

* ``POS_LO``/``POS_HI`` - weighted count of frames in which it stood out
  bright, in ordinary and in long/high-ISO ("high exposure index") frames, in
  quarters of a weight;
* ``NEG`` - the same for dark;
* ``RANGE`` - the range of its own value over those frames, lowest in the low
  byte and highest in the high byte (a stuck pixel reads one value whatever
  the scene);

and, in a JPEG, the weighted count of the bright outliers that stood out in the green
channel (``green``: a JPEG pixel mixes the photosites around it, and which colour its
evidence is in tells a green photosite's defect from a red or blue one's beside it);
and per side (bright, dark) the excursions of the change-point statistic that
dates an onset, and a third over the long or high-ISO frames alone ("hi"): a hot
pixel that shows only in night photos is missing from every daylight photo between
two nights, and the statistic over all frames forgot it there (its onset restarted
with each night). That one takes no note of runs: a night time-lapse counts once,
and its first frame dates a defect there closely enough.

A hit is weighed by how rare such outliers were in its frame (and in its
position of the JPEG 8x8 grid or the CFA): a star field or a noisy night frame
full of outliers says little. Frames that repeat the previous scene (bursts,
tripod runs) are counted as frames but add no evidence, or a burst of 50 would
make every pixel of one scene look stuck.

Every statistic is a sum, a min/max, or a max-plus affine map (the onsets), so
two accumulators fed consecutive stretches of a roll merge into exactly the
accumulator fed the whole roll (when the stretches are split at a gap longer
than ``RUN_GAP``). Re-identification uses this to fold a body's photos read
under a weaker key into the body they belong to. (``hotwatch scan --workers``
needs no merge: its workers decode and extract evidence, and one process
feeds it in capture order.)
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass, field

import numpy as np
import zstandard
from numba import njit

from hotwatch.core import evidence as ev_mod
from hotwatch.core import onset
from hotwatch.core.evidence import BLOCK, STRONG_Z, FrameEvidence
from hotwatch.core.kernels import divmod_by
from hotwatch.core.model import DefectKind
from hotwatch.core.onset import Excursions

FORMAT_VERSION = 6
#: formats this hotwatch reads: format 2 counted whole weights, and its counts are
#: converted to quarters as it loads (what it lacks, the fractions of the frames it
#: absorbed, is lost; nothing else changes); a RAW accumulator of format 3 reads as it is
#: (its edges simply have no evidence yet); formats before 5 kept no onset statistic over
#: the long or high-ISO frames alone, which starts empty (it dates from the next such
#: frames); before 6 a JPEG's green counts were not kept, and they start at zero, known
#: to be incomplete. Older formats are rebuilt (hotwatch.pipeline.rebuild).
READS = (2, 3, 4, 5, 6)
#: the first format whose JPEG evidence this hotwatch can use: before it, a JPEG frame
#: counted every pixel of a defect's smear, since then only the peak
JPEG_READS_FROM = 4
MAGIC = b"HOTWATCH-ACC\n"
EI_HIGH = 400.0  #: exposure time x ISO from which dark current shows (e.g. 1 s at ISO 400)
ONSET_WEIGHT = 2  #: least weight of an outlier whose value counts in the value range
RUN_GAP = 600.0  #: seconds: a frame further from the previous one always starts a new run
RUN_DIFF = 0.05  #: relative thumbnail difference under which a frame repeats the last counted one
#: ... or a difference under this many times what the two frames' noise alone gives (a
#: night tripod run at high ISO differs by more than RUN_DIFF in its dark thumbnails)
RUN_NOISE = 2.0
SIDES = ("pos", "neg")
#: the onset statistics: per side, and the bright side over long or high-ISO frames alone
ONSETS = (*SIDES, "hi")

POS_LO, POS_HI, NEG, RANGE = range(4)  #: the fields of an element's record
#: weights are kept in quarters: an outlier in a frame where 3% of the elements stand out
#: as much is weak evidence, but not none (in whole weights it was 0, and the onset of a
#: defect first seen in a noisy frame was dated from a later one)
WEIGHT_STEPS = 4
MAX_WEIGHT = 7
#: where a count stops (16 bits: 16383 weights, some 4,000 frames of a strong defect)
CEILING = 65535
#: per_phase / count from which an outlier weighs 1, 2, ... quarters
_RARITY = np.array(
    [10.0 ** (1 + k / WEIGHT_STEPS) for k in range(1, MAX_WEIGHT * WEIGHT_STEPS + 1)]
)
EMPTY_RANGE = 0x00FF  #: lowest 255, highest 0: no value seen yet
_BLOCK_ARRAYS = {
    "opp_lo": np.uint32,
    "opp_hi": np.uint32,
    "opp_dead": np.uint32,
    "null_pos": np.uint32,
    "null_neg": np.uint32,
    "cost_pos": np.uint32,  #: the onset statistic's total cost (see hotwatch.core.onset)
    "cost_neg": np.uint32,
    "cost_hi": np.uint32,
}
#: the onset tables, per side, in the order stored
_EXCURSION_FIELDS = ("idx", "s", "tail", "pend_idx", "pend_time", "pend_s")
#: null expectations are kept in thousandths of a weight, as integers, so sums are exact
#: in any order (float sums are not associative, and merging must equal one long feed)
NULL_SCALE = 1000


@dataclass(eq=False)
class Accumulator:
    """Evidence about every element of one (body, frame kind, size)."""

    height: int
    width: int
    kind: str  #: "raw" or "jpeg"
    cfa: tuple[tuple[int, ...], ...] | None = None
    #: JPEG: pixels per chroma sample (across, down) of the frames absorbed, the coarsest
    chroma: tuple[int, int] = (1, 1)
    frames: int = 0  #: frames absorbed
    counted: int = 0  #: frames that added evidence (not repeats of a run)
    frames_hi: int = 0  #: counted frames with a high exposure index
    first_time: float | None = None
    last_time: float | None = None
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    onsets: dict[str, Excursions] = field(default_factory=dict)
    last_thumb: np.ndarray | None = None
    last_thumb_noise: float = 0.0  #: its thumb_noise (see FrameEvidence)
    absorbed: list[bytes] = field(default_factory=list)
    #: flat index -> (capture time of the frame that confirmed it, onset and kind then);
    #: kept here, not only in the catalogue, so that what is reported never depends
    #: on when checkpoints fell or whether the process was killed in between
    confirmed: dict[int, tuple[float, float | None, DefectKind]] = field(default_factory=dict)
    #: JPEG: ``green`` holds every bright outlier's channel (not when it was read from an
    #: older format, or fed evidence that did not say)
    green_whole: bool = True
    _absorbed_set: set[bytes] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        if self.height <= 0 or self.width <= 0:
            raise ValueError("height and width must be positive")
        shape = (self.height, self.width)
        bshape = ev_mod.block_shape(self.height, self.width)
        if "elements" not in self.arrays:
            self.arrays["elements"] = np.zeros((*shape, 4), dtype=np.uint16)
            self.arrays["elements"][..., RANGE] = EMPTY_RANGE
        for name, dtype in _BLOCK_ARRAYS.items():
            if name not in self.arrays:
                self.arrays[name] = np.zeros(bshape, dtype=dtype)
        if self.kind == "jpeg" and "green" not in self.arrays:
            self.arrays["green"] = np.zeros(shape, dtype=np.uint16)
        for side in ONSETS:
            self.onsets.setdefault(side, Excursions.empty())
        self._absorbed_set = set(self.absorbed)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    def has_absorbed(self, digest: bytes) -> bool:
        """Whether a file with this content digest is already counted."""
        return digest in self._absorbed_set

    def state(self) -> dict[str, np.ndarray]:
        """Every array of the evidence (dense, per block and the onset tables), by name."""
        out = dict(self.arrays)
        for side in ONSETS:
            for name in _EXCURSION_FIELDS:
                out[f"onset_{side}_{name}"] = getattr(self.onsets[side], name)
        return out

    # -- one frame ---------------------------------------------------------

    def update(
        self,
        ev: FrameEvidence,
        taken: float,
        exposure_index: float | None,
        digest: bytes | None = None,
        *,
        watch: int | np.ndarray = 0,
    ) -> Absorbed:
        """Absorb one frame's evidence.

        ``taken`` is the capture time (Unix seconds), ``exposure_index`` the
        exposure time x ISO (None if unknown: treated as an ordinary frame).
        A frame whose ``digest`` was already absorbed is ignored, so nothing is
        counted twice. ``watch``: a weighted count worth knowing about (detection's
        least), for all elements or per block (0: none); the elements this frame hit
        that are there are noted while their records are at hand.
        """
        if ev.shape != self.shape:
            raise ValueError(f"frame is {ev.shape}, accumulator is {self.shape}")
        if digest is not None:
            if digest in self._absorbed_set:
                return Absorbed(False)
            self.absorbed.append(digest)
            self._absorbed_set.add(digest)
        self.frames += 1
        self.chroma = _coarsest(self.chroma, ev.chroma)
        repeat = self._repeats_run(ev.thumb, ev.thumb_noise, taken)
        self.first_time = taken if self.first_time is None else min(self.first_time, taken)
        self.last_time = taken if self.last_time is None else max(self.last_time, taken)
        now = max(1.0, float(taken))  # an onset time; 0 means "none"
        high = exposure_index is not None and exposure_index >= EI_HIGH
        opp = {"pos": ev.hot_opp, "neg": ev.dead_opp}
        n_opp = {side: _elements_in(opp[side], self.height, self.width) for side in SIDES}
        hits = {side: self._hits(ev, side, n_opp[side]) for side in SIDES}
        if repeat:
            for side, (idx, weights) in hits.items():
                self.onsets[side] = self.onsets[side].note_repeat(idx, weights, now)
            return Absorbed(False)
        self.last_thumb, self.last_thumb_noise = ev.thumb, ev.thumb_noise
        self.counted += 1
        self.frames_hi += int(high)
        watched = []
        per_block = np.ascontiguousarray(np.broadcast_to(np.asarray(watch, np.int64), ev.blocks))
        least = int(per_block.min()) if per_block.size else 0
        marks = (per_block, least, self.width)  # see _scatter
        costs = {side: _cost(ev, side, high) for side in SIDES}
        for side, (idx, weights) in hits.items():
            watched.append(self._absorb_side(ev, side, idx, weights, high, n_opp[side], marks))
            self._step_onset(side, idx, weights, costs[side], now)
        if high:
            self._step_onset("hi", *hits["pos"], costs["pos"], now)
        return Absorbed(True, np.union1d(*watched))

    def _step_onset(
        self, name: str, idx: np.ndarray, weights: np.ndarray, cost: np.ndarray, now: float
    ) -> None:
        self.arrays[f"cost_{name}"] += cost.astype(np.uint32)
        self.onsets[name] = self.onsets[name].step(idx, weights, cost, self.width, now)

    def _repeats_run(self, thumb: np.ndarray, noise: float, taken: float) -> bool:
        if self.last_thumb is None or self.last_time is None:
            return False
        if abs(taken - self.last_time) > RUN_GAP or thumb.shape != self.last_thumb.shape:
            return False
        a, b = thumb.astype(np.float32), self.last_thumb.astype(np.float32)
        # relative to the brightness: two different night scenes differ little in
        # absolute (linear) terms, but a lot compared with how bright they are
        scale = (a.mean() + b.mean()) / 2 + 0.002
        diff = float(np.abs(a - b).mean())
        # ... and two frames of one noisy night scene differ by their noise: a tripod run
        # at ISO 4000 not seen as one made its stars and lights look like hot pixels
        chance = RUN_NOISE * float(np.hypot(noise, self.last_thumb_noise))
        return diff / scale < RUN_DIFF or diff < chance

    def _hits(self, ev: FrameEvidence, side: str, n_opp: int) -> tuple[np.ndarray, np.ndarray]:
        """This side's outliers (sorted flat indices) and their weights."""
        idx, z = (ev.pos_idx, ev.pos_z) if side == "pos" else (ev.neg_idx, -ev.neg_z)
        return idx, hit_weights(idx, z, self.shape, ev.phase, ev.edge, n_opp)

    def _absorb_side(
        self,
        ev: FrameEvidence,
        side: str,
        idx: np.ndarray,
        weights: np.ndarray,
        high: bool,
        n_opp: int,
        watch: tuple[np.ndarray, int, int],
    ) -> np.ndarray:
        """Add one side's hits; return those whose total weighted count reached ``watch``
        (as :func:`_scatter` takes it)."""
        a = self.arrays
        if side == "pos":
            val, opp = ev.pos_val, ev.hot_opp
            counts, field = (a["opp_hi"], POS_HI) if high else (a["opp_lo"], POS_LO)
        else:
            val, opp, counts, field = ev.neg_val, ev.dead_opp, a["opp_dead"], NEG
        counts += opp
        if n_opp:
            share = np.uint32(round(NULL_SCALE * float(weights.sum()) / n_opp))
            a[f"null_{side}"] += opp.astype(np.uint32) * share
        # the value range over clear outliers only: one chance outlier of a healthy
        # pixel before it got stuck must not make its one value look like many
        clear = ONSET_WEIGHT * WEIGHT_STEPS
        green, chan = self._green_counts(ev, side)
        return _scatter(idx, weights, val, self.records(), field, clear, watch, green, chan)

    def _green_counts(self, ev: FrameEvidence, side: str) -> tuple[np.ndarray, np.ndarray]:
        """Where this side's hits add their weights when they stood out in green, and their
        channels (empty: nowhere). A JPEG's evidence without channels leaves the counts
        incomplete from then on."""
        if side != "pos" or self.kind != "jpeg":
            return _NO_GREEN
        if ev.pos_chan is None:
            self.green_whole = False
            return _NO_GREEN
        return self.arrays["green"].reshape(-1), ev.pos_chan

    def green_share(self, at: np.ndarray) -> np.ndarray:
        """JPEG: of each element's bright evidence (at flat indices), the share that stood
        out in the green channel; -1 where that is not known (no bright evidence, or green
        counts not kept for all of it)."""
        if self.kind != "jpeg" or not self.green_whole:
            return np.full(np.shape(at), -1.0)
        bright = self.field(POS_LO, at).astype(np.float64) + self.field(POS_HI, at)
        green = self.arrays["green"].reshape(-1)[at]
        return np.where(bright > 0, green / np.maximum(bright, 1.0), -1.0)

    def records(self) -> np.ndarray:
        """The element records as (elements, 4): a view, indexed by flat index."""
        return self.arrays["elements"].reshape(-1, 4)

    def field(self, name: int, at: np.ndarray | None = None) -> np.ndarray:
        """One field of the records (a strided view), or its values at flat indices."""
        if at is None:
            return self.arrays["elements"][..., name]
        return self.records()[at, name]

    def value_range(self, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lowest and highest own value (0-255) of the clear outliers, at flat indices."""
        packed = self.field(RANGE, at).astype(np.int32)
        return packed & 0xFF, packed >> 8

    def counts(self, side: str) -> np.ndarray:
        """Per element, the weighted outlier count in quarters that feeds onset statistic
        ``side`` (one of ``ONSETS``)."""
        if side == "pos":
            return self.field(POS_LO).astype(np.int32) + self.field(POS_HI)
        return self.field(POS_HI if side == "hi" else NEG)

    # -- merging -------------------------------------------------------------

    def merge(self, later: Accumulator) -> Accumulator:
        """This accumulator followed by ``later``, as if fed both in order.

        Exact when ``later``'s frames were all taken after this one's, with a
        gap longer than ``RUN_GAP`` between them (so no run spans the cut), and
        no weighted count reaches its 16-bit ceiling (``CEILING``: a defect seen in
        thousands of frames).
        """
        if (later.height, later.width, later.kind) != (self.height, self.width, self.kind):
            raise ValueError("can only merge accumulators of one size and kind")
        dup = self._absorbed_set & later._absorbed_set
        if dup:
            raise ValueError(f"{len(dup)} frames were absorbed by both accumulators")
        if not later.frames or not self.frames:  # nothing to add (a run's first frame counts)
            return self if later.frames == 0 else later
        a, b = self.arrays, later.arrays
        out: dict[str, np.ndarray] = {}
        ea, eb = a["elements"].astype(np.uint32), b["elements"]
        elements = np.minimum(ea + eb, CEILING).astype(np.uint16)
        low = np.minimum(ea[..., RANGE] & 0xFF, eb[..., RANGE] & 0xFF)
        high = np.maximum(ea[..., RANGE] >> 8, eb[..., RANGE] >> 8)
        elements[..., RANGE] = low | (high << 8)
        out["elements"] = elements
        if "green" in a:
            out["green"] = np.minimum(a["green"].astype(np.uint32) + b["green"], CEILING)
            out["green"] = out["green"].astype(np.uint16)
        for name in _BLOCK_ARRAYS:
            out[name] = a[name] + b[name]  # uint32: 4 billion frames before they wrap
        onsets = {
            side: self.onsets[side].merge(
                later.onsets[side],
                later.counts(side).reshape(-1),
                later.arrays[f"cost_{side}"],
                self.width,
            )
            for side in ONSETS
        }
        times = [t for t in (self.first_time, later.first_time) if t is not None]
        lasts = [t for t in (self.last_time, later.last_time) if t is not None]
        return Accumulator(
            height=self.height,
            width=self.width,
            kind=self.kind,
            cfa=self.cfa or later.cfa,
            chroma=_coarsest(self.chroma, later.chroma),
            frames=self.frames + later.frames,
            counted=self.counted + later.counted,
            frames_hi=self.frames_hi + later.frames_hi,
            first_time=min(times) if times else None,
            last_time=max(lasts) if lasts else None,
            arrays=out,
            onsets=onsets,
            last_thumb=later.last_thumb if later.last_thumb is not None else self.last_thumb,
            last_thumb_noise=(
                later.last_thumb_noise if later.last_thumb is not None else self.last_thumb_noise
            ),
            absorbed=self.absorbed + later.absorbed,
            confirmed={**later.confirmed, **self.confirmed},  # the earlier confirmation wins
            green_whole=self.green_whole and later.green_whole,
        )

    # -- persistence -----------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Serialise with a version, the array layout and a SHA-256 checksum.

        Compressed with zstd (three times as fast as zlib on these arrays, and
        smaller: a checkpoint of a 10 MP body takes a tenth of a second or two);
        sorted index arrays are stored as differences, which compress far better.
        """
        state = self.state()
        meta = {
            "version": FORMAT_VERSION,
            "height": self.height,
            "width": self.width,
            "kind": self.kind,
            "cfa": self.cfa,
            "chroma": list(self.chroma),
            "frames": self.frames,
            "counted": self.counted,
            "frames_hi": self.frames_hi,
            "first_time": self.first_time,
            "last_time": self.last_time,
            "arrays": [[n, a.dtype.str, list(a.shape)] for n, a in state.items()],
            "thumb": None if self.last_thumb is None else list(self.last_thumb.shape),
            "thumb_noise": self.last_thumb_noise,
            "absorbed": len(self.absorbed),
            "confirmed": sorted([i, t, o, k.value] for i, (t, o, k) in self.confirmed.items()),
            "green_whole": self.green_whole,
        }
        comp = zstandard.ZstdCompressor(level=1).compressobj()
        chunks = [comp.compress(_encode(n, a)) for n, a in state.items()]
        if self.last_thumb is not None:
            chunks.append(comp.compress(self.last_thumb.astype(np.float16).tobytes()))
        chunks.append(comp.compress(b"".join(self.absorbed)))
        chunks.append(comp.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH))
        head = json.dumps(meta, sort_keys=True).encode("utf-8")
        body = MAGIC + struct.pack("<I", len(head)) + head + b"".join(chunks)
        return body + hashlib.sha256(body).digest()

    @classmethod
    def from_bytes(cls, blob: bytes) -> Accumulator:
        """Inverse of :meth:`to_bytes`; raises ``ValueError`` on any damage.

        An accumulator of a format this hotwatch does not read raises
        :class:`FormatVersionError`; one of format 2 is converted.
        """
        if len(blob) < len(MAGIC) + 36 or not blob.startswith(MAGIC):
            raise ValueError("not a hotwatch accumulator (bad magic)")
        body, digest = blob[:-32], blob[-32:]
        if hashlib.sha256(body).digest() != digest:
            raise ValueError("accumulator checksum mismatch")
        pos = len(MAGIC)
        (hlen,) = struct.unpack_from("<I", body, pos)
        meta = json.loads(body[pos + 4 : pos + 4 + hlen])
        version = meta.get("version")
        if not readable(meta):
            raise FormatVersionError(version, meta.get("kind"))
        raw = zstandard.ZstdDecompressor().decompressobj().decompress(body[pos + 4 + hlen :])
        state: dict[str, np.ndarray] = {}
        off = 0
        for name, dtype, shape in meta["arrays"]:
            arr = np.frombuffer(raw, dtype=np.dtype(dtype), count=int(np.prod(shape)), offset=off)
            state[name] = _decode(name, arr.reshape(shape))
            off += arr.nbytes
        thumb = None
        if meta["thumb"] is not None:
            thumb = np.frombuffer(raw, np.float16, int(np.prod(meta["thumb"])), off).copy()
            thumb = thumb.reshape(meta["thumb"])
            off += thumb.nbytes
        absorbed = [raw[off + 16 * i : off + 16 * (i + 1)] for i in range(meta["absorbed"])]
        cfa = tuple(tuple(r) for r in meta["cfa"]) if meta["cfa"] else None
        confirmed = {
            int(i): (float(t), o, DefectKind(k)) for i, t, o, k in meta.get("confirmed", [])
        }
        if version == 2:
            _from_format_2(state)
        onsets = {
            side: Excursions(*(state.pop(f"onset_{side}_{n}") for n in _EXCURSION_FIELDS))
            for side in ONSETS
            if f"onset_{side}_idx" in state  # (before format 5: no "hi"; it starts empty)
        }
        return cls(
            height=meta["height"],
            width=meta["width"],
            kind=meta["kind"],
            cfa=cfa,
            chroma=tuple(meta.get("chroma", (1, 1))),
            frames=meta["frames"],
            counted=meta["counted"],
            frames_hi=meta["frames_hi"],
            first_time=meta["first_time"],
            last_time=meta["last_time"],
            arrays=state,
            onsets=onsets,
            last_thumb=thumb,
            last_thumb_noise=float(meta.get("thumb_noise", 0.0)),
            absorbed=absorbed,
            confirmed=confirmed,
            green_whole=meta["kind"] != "jpeg"
            or (bool(meta.get("green_whole")) and "green" in state),
        )

    def nbytes(self) -> int:
        """Memory held by the state arrays."""
        return sum(a.nbytes for a in self.state().values())


@dataclass(frozen=True, eq=False)
class Absorbed:
    """What one frame did to an accumulator."""

    counted: bool  #: it added evidence (not already absorbed, not a repeat of a run)
    #: the elements it hit whose weighted counts now add up to the ``watch`` asked for
    watched: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))


def readable(meta: dict) -> bool:
    """Whether this hotwatch reads an accumulator with this header (else it is rebuilt
    from its photos)."""
    version = meta.get("version")
    if version not in READS:
        return False
    return meta.get("kind") != "jpeg" or version >= JPEG_READS_FROM


class FormatVersionError(ValueError):
    """An accumulator written by a hotwatch whose format this one does not read."""

    def __init__(self, version: object, kind: object = None) -> None:
        reads = READS if kind != "jpeg" else tuple(v for v in READS if v >= JPEG_READS_FROM)
        what = f"{kind} accumulator" if kind else "accumulator"
        super().__init__(
            f"{what} format version {version}; this hotwatch reads {', '.join(map(str, reads))}"
        )
        self.version = version


def _from_format_2(state: dict[str, np.ndarray]) -> None:
    """Format 2's state as format 3 keeps it: whole-weight counts and null expectations
    in quarters, and the in-run change point of the elements pending in a run (format 2
    kept those that stood out in every repeat since some frame: above zero), without
    the flags of excursions begun at the first counted frame (format 3 needs none).

    The onset statistic S needs nothing: it was kept per 1/16 of a weight already.
    """
    elements = state["elements"]
    counts = elements[..., :RANGE].astype(np.uint32) * WEIGHT_STEPS
    elements[..., :RANGE] = np.minimum(counts, CEILING)
    for side in SIDES:
        state[f"null_{side}"] *= np.uint32(WEIGHT_STEPS)
        pending = state[f"onset_{side}_pend_idx"].size
        state.setdefault(f"onset_{side}_pend_s", np.ones(pending, np.int64))
        state.pop(f"onset_{side}_opened_first", None)  # what format 2's merge needed


def _coarsest(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return (max(a[0], b[0]), max(a[1], b[1]))


def _encode(name: str, a: np.ndarray) -> bytes:
    """An array's bytes; sorted index arrays as differences from the previous index."""
    if name.endswith("_idx"):
        return np.diff(a, prepend=np.int64(0)).astype(np.int64).tobytes()
    return np.ascontiguousarray(a).tobytes()


def _decode(name: str, a: np.ndarray) -> np.ndarray:
    return np.cumsum(a).astype(np.int64) if name.endswith("_idx") else a.copy()


def _cost(ev: FrameEvidence, side: str, high: bool) -> np.ndarray:
    """The onset statistic's cost k of this frame, per block (see hotwatch.core.onset)."""
    if side == "pos":
        if not high:
            return np.where(ev.hot_opp, onset.COST_LOW, 0).astype(np.int32)
        return np.select([ev.hot_clear, ev.hot_opp], [onset.COST_CLEAR, onset.COST_HIGH], 0).astype(
            np.int32
        )
    return np.select([ev.dead_clear, ev.dead_opp], [onset.COST_CLEAR, onset.COST_LOW], 0).astype(
        np.int32
    )


def content_digest(digest_hex: str) -> bytes:
    """The 16-byte form of a file's content digest kept in ``absorbed``."""
    return bytes.fromhex(digest_hex)[:16]


def hit_weights(
    idx: np.ndarray,
    z: np.ndarray,
    shape: tuple[int, int],
    phase: int,
    edge: int,
    n_opp: int,
) -> np.ndarray:
    """Weight of each outlier: -log10 of how common such outliers were, minus one
    (0 to 7, in ``WEIGHT_STEPS``-ths: quarters, rounded down).

    Rates are taken per position in the recurring grid (``phase`` x ``phase``:
    the JPEG 8x8 blocks, or the CFA), because compression artefacts recur at
    fixed phases; the elements within ``edge`` of the frame's edge are a class of
    their own, because their one-sided neighbours estimate their level less well
    (they stand out three to five times as often). A strong outlier (above a level
    of ``STRONG_Z``) is weighed by the rate of outliers of its class at least as
    strong, which is far lower in a clean frame.
    """
    if idx.size == 0 or n_opp == 0:
        return np.zeros(idx.size, dtype=np.int32)
    height, width = shape
    inner = max(0, height - 2 * edge) * max(0, width - 2 * edge)
    share = n_opp / (height * width)  # of the elements, those where the side could show
    per_phase = max(1.0, share * inner / (phase * phase))
    per_edge = max(1.0, share * (height * width - inner))
    levels = np.array(STRONG_Z, dtype=np.float32)
    return _weights(idx, z, width, height, phase, edge, per_phase, per_edge, levels, _RARITY)


@njit(cache=True, nogil=True)
def _weights(idx, z, width, height, phase, edge, per_phase, per_edge, levels, rarity):
    n = idx.size
    classes = phase * phase + 1  # the grid's phases, and the edge
    grades = levels.size + 1  # how far out: under the first level, ..., over the last
    ph = np.empty(n, np.int64)
    gr = np.empty(n, np.int64)
    count = np.zeros((classes, grades), np.int64)
    inv_w, inv_p = 1.0 / width, 1.0 / phase
    for i in range(n):
        y, x = divmod_by(idx[i], width, inv_w)
        if y < edge or y >= height - edge or x < edge or x >= width - edge:
            p = classes - 1
        else:
            p = divmod_by(y, phase, inv_p)[1] * phase + divmod_by(x, phase, inv_p)[1]
        g = 0
        while g < levels.size and z[i] > levels[g]:
            g += 1
        ph[i], gr[i] = p, g
        count[p, g] += 1
    weight = np.empty((classes, grades), np.int32)
    for p in range(classes):
        base = per_edge if p == classes - 1 else per_phase
        at_least = 0  # outliers of this class at least as far out
        for g in range(grades - 1, -1, -1):
            at_least += count[p, g]
            weight[p, g] = _weight_of(max(at_least, 1), base, rarity)
    out = np.empty(n, np.int32)
    for i in range(n):
        out[i] = weight[ph[i], gr[i]]
    return out


@njit(cache=True, nogil=True)
def _weight_of(count, per_phase, rarity):
    """log10(per_phase / count) - 1 in quarters, rounded down, 0 to 7 x 4: by comparison
    with the table of rarities (exact at whole weights, which are powers of ten)."""
    w = 0
    while w < rarity.size and per_phase >= count * rarity[w]:
        w += 1
    return w


#: no green counts to keep (see Accumulator._green_counts)
_NO_GREEN = (np.zeros(0, np.uint16), np.zeros(0, np.uint8))


@njit(cache=True, nogil=True)
def _scatter(idx, weights, val, records, field, clear_weight, watch, green, chan):
    """Add each hit's weight to its element's count (saturating), and to its green count
    when it stood out in green (``chan`` 1; ``green`` empty: none kept), widen the value
    range of the clear ones, and return the elements whose counts now add up to ``watch``
    (while their record is in the cache: a later pass would fetch it again): per block,
    with the least of the blocks' (0: none) and the frame's width to find the block."""
    per_block, least, width = watch
    inv_w = 1.0 / width
    watched = np.empty(idx.size, np.int64)
    n = 0
    for i in range(idx.size):
        w = weights[i]
        if w <= 0:
            continue
        rec = records[idx[i]]
        rec[field] = min(np.int64(rec[field]) + w, CEILING)
        if green.size and chan[i] == 1:
            green[idx[i]] = min(np.int64(green[idx[i]]) + w, CEILING)
        if w >= clear_weight:
            low = min(rec[RANGE] & 0xFF, val[i])
            high = max(rec[RANGE] >> 8, val[i])
            rec[RANGE] = low | (high << 8)
        total = np.int64(rec[POS_LO]) + rec[POS_HI] + rec[NEG]
        if least > 0 and total >= least:  # then the block's own (on a long roll, most are)
            y, x = divmod_by(idx[i], width, inv_w)
            if total >= per_block[y // BLOCK, x // BLOCK]:
                watched[n] = idx[i]
                n += 1
    return watched[:n].copy()


def _elements_in(opp: np.ndarray, height: int, width: int) -> int:
    """How many elements lie in the blocks marked True."""
    ny = np.minimum(BLOCK, height - np.arange(0, height, BLOCK))
    nx = np.minimum(BLOCK, width - np.arange(0, width, BLOCK))
    return int((opp * np.outer(ny, nx)).sum())
