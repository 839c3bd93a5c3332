"""What one frame says about each photosite: the per-frame half of detection.

Every element (a RAW photosite, or a JPEG pixel) is compared with the robust
level of its same-colour neighbours. The residual is scaled by the noise of its
16x16 block in *this* frame, so a noisy night frame or a busy texture needs a
bigger residual than a clean sky to count. Only the few elements that stand out
where they could show are returned (sparse): a bright one not among bright
neighbours (a hot pixel cannot stand out in a clipped highlight), a dark one
not among black ones (nor a dead pixel in a black shadow). With them come
block-level facts: where a bright or dark defect could show in most of the
block, and where it would surely have shown.

The per-element work (neighbour levels, residuals, block sums, the threshold
pass) is compiled, in :mod:`hotwatch.core.kernels`; what the numbers mean is decided
here, on the small per-block arrays. No frame-sized temporary is made: memory
stays bounded by the decoded frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hotwatch.core import cfa as cfa_mod
from hotwatch.core import kernels

BLOCK = kernels.BLOCK  #: block size (elements) for local noise and opportunity
HIT_Z = 3.0  #: an element is an outlier in a frame above this many local sigmas
NOISE_PER_ABS = 1.2533  #: sigma / mean |residual| of Gaussian noise (sqrt(pi / 2))
#: how far out an outlier is, in classes: each is weighed by how rare outliers at least
#: as far out were in its frame (a hot pixel at 20 sigma is rarer evidence than one at 6)
STRONG_Z = (6.0, 12.0, 24.0)
BRIGHT = 0.80  #: neighbour level above which a hot pixel cannot stand out
DARK_JPEG = 0.12  #: neighbour level (gamma-encoded) below which a dead pixel cannot stand out
DARK_RAW = 0.02  #: the same in linear raw values (mid-grey is about 0.18 there)
CLEAR_Z = 3 * HIT_Z  #: a block where a dead photosite would stand this far out shows health
QUIET_RAW = 0.006  #: block noise under which a bright defect of 2% of the range stands 3x out
QUIET_JPEG = 0.012
THUMB = 8  #: blocks per thumbnail cell edge for burst detection


@dataclass(frozen=True, eq=False)
class FrameEvidence:
    """Sparse outliers and block-level opportunities of one frame.

    ``*_idx`` are flat indices (``y * width + x``) of the elements whose
    residual stood above ``HIT_Z`` (pos) or below ``-HIT_Z`` (neg) local sigmas
    where it could show; ``*_z`` their scaled residuals and ``*_val`` their own
    values (0-255). ``hot_opp``/``dead_opp`` are (blocks_y, blocks_x) booleans:
    where a bright / dark defect could show in most of the block (the frame's
    opportunities, for the null rates and the onset costs); ``hot_clear``/
    ``dead_clear`` where it could not have failed to show (so not showing is
    strong evidence of health); ``thumb`` a small brightness map used to
    recognise bursts and tripod runs. ``pos_chan``: in an RGB frame, the channel each
    bright outlier stood out in (0, 1, 2: red, green, blue).
    """

    shape: tuple[int, int]
    pos_idx: np.ndarray
    pos_z: np.ndarray
    pos_val: np.ndarray
    neg_idx: np.ndarray
    neg_z: np.ndarray
    neg_val: np.ndarray
    hot_opp: np.ndarray
    dead_opp: np.ndarray
    dead_clear: np.ndarray
    hot_clear: np.ndarray
    thumb: np.ndarray
    phase: int  #: period of the recurring-artefact grid (8 for JPEG, the CFA size for RAW)
    edge: int  #: rows and columns at each edge judged against one-sided neighbours
    chroma: tuple[int, int] = (1, 1)  #: JPEG: pixels per chroma sample (see model.Frame)
    pos_chan: np.ndarray | None = None  #: None: not an RGB frame, or not known
    #: the standard error of a thumbnail cell's brightness that this frame's noise alone
    #: gives (0..1 scale; 0: not known)
    thumb_noise: float = 0.0

    @property
    def blocks(self) -> tuple[int, int]:
        return self.hot_opp.shape


def block_shape(height: int, width: int) -> tuple[int, int]:
    return (-(-height // BLOCK), -(-width // BLOCK))


def extract(
    data: np.ndarray,
    *,
    black: float | np.ndarray,
    white: float,
    cfa: np.ndarray | None,
    chroma: tuple[int, int] = (1, 1),
) -> FrameEvidence:
    """Compute the evidence of one frame.

    ``data`` is (H, W) raw photosites with ``cfa`` their pattern, or (H, W, C)
    demosaiced pixels with ``cfa=None``, as stored integers. ``black`` (a number,
    or the per-colour pattern) and ``white`` give the 0..1 scale used for the
    brightness rules; residuals need no scale (same-colour neighbours share the
    black level). For a demosaiced frame each pixel keeps its most deviant channel,
    whichever its sign.
    """
    if white <= 0 or np.any(np.asarray(black) >= white):
        raise ValueError("white level must be above the black level")
    if data.ndim not in (2, 3):
        raise ValueError(f"frame data must be 2-D (raw) or 3-D (rgb), got {data.ndim}-D")
    if not np.issubdtype(data.dtype, np.integer):
        raise TypeError(f"frame data must hold integers, got {data.dtype}")
    height, width = data.shape[:2]
    grid = Grid.of(data, cfa, white)
    scale = _Scale.of(np.asarray(black) / 2**grid.shift, white / 2**grid.shift, cfa)
    stats, (pos_idx, pos_z, pos_val, pos_chan), (neg_idx, neg_z, neg_val) = _frame_pass(grid, scale)
    blocks = _judge(stats, scale)
    return FrameEvidence(
        shape=(height, width),
        pos_idx=pos_idx,
        pos_z=pos_z,
        pos_val=pos_val,
        neg_idx=neg_idx,
        neg_z=neg_z,
        neg_val=neg_val,
        hot_opp=blocks.hot_opp,
        dead_opp=blocks.dead_opp,
        dead_clear=blocks.dead_clear,
        hot_clear=blocks.hot_clear,
        thumb=thumbnail(blocks.level_mean),
        thumb_noise=blocks.thumb_noise,
        phase=8 if cfa is None else int(np.asarray(cfa).shape[0]),
        edge=grid.border,
        chroma=chroma,
        pos_chan=pos_chan if data.ndim == 3 and data.shape[2] == 3 else None,
    )


@dataclass(frozen=True, eq=False)
class Grid:
    """A frame as the kernels see it: (H, W*C) elements and their neighbour offsets."""

    v: np.ndarray  #: (H, W*C) uint8 or uint16, channels interleaved
    c: int  #: channels
    offs: np.ndarray  #: (P, P, 4, 2) same-colour neighbour offsets (dy, dcolumn)
    period: int  #: P: 1 when every element has the same offsets
    border: int  #: pixels at each edge without a full set of neighbours
    shift: int  #: bits the values were shifted down to fit the 16-bit arithmetic
    edge: cfa_mod.EdgeTable  #: the neighbours of the elements near the edge

    @classmethod
    def of(cls, data: np.ndarray, cfa: np.ndarray | None, white: float) -> Grid:
        """``data`` as the kernels take it; a raw whose white level is above
        ``kernels.TOP`` (16-bit raws) is shifted down by the bits it needs: its
        lowest bits are far below its noise."""
        channels = 1 if data.ndim == 2 else int(data.shape[2])
        if cfa is not None and np.asarray(cfa).shape[0] > 2 and channels != 1:
            raise ValueError("a colour filter pattern needs a single-channel mosaic")
        shift = max(0, int(np.ceil(np.log2((white + 1) / (kernels.TOP + 1)))))
        if shift or data.dtype not in (np.uint8, np.uint16):
            if data.size and (int(data.min()) < 0 or int(data.max()) >= 2**32):
                raise ValueError("frame values must lie in 0 .. 2**32")
            data = (data.astype(np.uint32) >> shift).astype(np.uint16)
        v = np.ascontiguousarray(data).reshape(data.shape[0], -1)
        phases = cfa_mod.neighbour_offsets(cfa)
        uniform = all(ph == phases[0] for ph in phases)
        n = 1 if uniform else int(np.asarray(cfa).shape[0])
        offs = np.array(phases[: 1 if uniform else None], dtype=np.int64).reshape(n, n, 4, 2)
        offs[..., 1] *= channels
        edge = cfa_mod.edge_table(cfa, data.shape[0], data.shape[1], channels)
        return cls(v, channels, offs, n, cfa_mod.border(cfa), shift, edge)


@dataclass(frozen=True)
class BlockStats:
    """What :func:`kernels.frame_pass` measures, per (block row, block column, channel)."""

    abs_sum: np.ndarray
    abs_n: np.ndarray
    level_max: np.ndarray
    level_min: np.ndarray
    level_sum: np.ndarray
    level_n: np.ndarray
    sigma: np.ndarray  #: noise of resid2, doubled units (float32)


@dataclass(frozen=True)
class _Blocks:
    """Per-block judgements of one frame."""

    hot_opp: np.ndarray
    dead_opp: np.ndarray
    dead_clear: np.ndarray
    hot_clear: np.ndarray
    level_mean: np.ndarray
    thumb_noise: float


def _judge(s: BlockStats, scale: _Scale) -> _Blocks:
    """Where a bright or a dark defect could show (in most of the block), or must have."""
    mean = _across(np.divide(s.level_sum, np.maximum(s.level_n, 1)), np.maximum)
    level_mean = scale.unit(mean)
    bright = scale.unit(_across(s.level_max, np.maximum))
    dim = scale.unit(_across(s.level_min, np.minimum))
    sigma = _across(s.sigma, np.maximum) * np.float32(scale.per_unit)
    return _Blocks(
        hot_opp=level_mean < BRIGHT,
        dead_opp=level_mean > scale.dark,
        # A dead photosite would stand far out anywhere here: not showing one is proof
        # of health. (In a JPEG every channel must be bright: a dead red photosite
        # under a green leaf does not show.)
        dead_clear=(dim > scale.dark) & (dim > CLEAR_Z * sigma),
        # Quiet and nowhere bright: any bright defect of a few percent would show.
        hot_clear=(bright < BRIGHT) & (sigma < scale.quiet),
        level_mean=level_mean,
        thumb_noise=_thumb_noise(sigma, s.level_n),
    )


def _thumb_noise(sigma: np.ndarray, level_n: np.ndarray) -> float:
    """How much a thumbnail cell's brightness moves by noise alone: the frame's typical
    block noise (0..1 scale) over the root of the level samples in a cell. Why: two noisy
    night frames of one tripod scene differ by that much however alike they are (measured
    on a 0.08 MP roll at ISO 4000: their mean difference is 0.8-1.0 times this; two other
    night scenes' 3.9 times or more, but two star fields' as little as 1.3: at this scale
    one star field looks like another)."""
    by, bx = sigma.shape
    cy, cx = max(1, by // THUMB), max(1, bx // THUMB)
    points = float(np.median(level_n[..., 0])) * cy * cx
    return float(np.median(sigma)) / np.sqrt(max(points, 1.0))


def _across(a: np.ndarray, ufunc: np.ufunc) -> np.ndarray:
    """Reduce the (few) channels of per-block figures; a pairwise ufunc over the channel
    planes is many times faster than numpy's reduction along a last axis of length 3."""
    out = a[..., 0].copy()
    for c in range(1, a.shape[2]):
        ufunc(out, a[..., c], out=out)
    return out


def _frame_pass(
    grid: Grid, scale: _Scale
) -> tuple[BlockStats, tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """The compiled pass, given room for the outliers (retried with more if short)."""
    cap = max(1024, grid.v.size // 32)
    while True:
        stats, pos, neg, complete = kernels.frame_pass(
            grid.v,
            grid.offs,
            grid.period,
            grid.border,
            grid.c,
            grid.edge.ptr,
            grid.edge.col,
            grid.edge.off,
            HIT_Z,
            NOISE_PER_ABS,
            scale.floor,
            scale.level2(BRIGHT, np.ceil),
            scale.level2(scale.dark, np.floor),
            scale.black,
            scale.span,
            cap,
        )
        if complete:
            return BlockStats(*stats), pos, neg
        cap = grid.v.size + 1


@dataclass(frozen=True)
class _Scale:
    """How stored values map to the 0..1 scale of the brightness rules."""

    black: float
    span: float  #: white - black
    dark: float
    quiet: float

    @classmethod
    def of(cls, black: float | np.ndarray, white: float, cfa: np.ndarray | None) -> _Scale:
        b = float(np.mean(black))
        dark, quiet = (DARK_JPEG, QUIET_JPEG) if cfa is None else (DARK_RAW, QUIET_RAW)
        return cls(b, float(white) - b, dark, quiet)

    @property
    def per_unit(self) -> float:
        """Factor from doubled stored units (the arithmetic's) to the 0..1 scale."""
        return 1.0 / (2.0 * self.span)

    def unit(self, doubled: np.ndarray) -> np.ndarray:
        """Doubled stored values (levels) on the 0..1 scale."""
        return (np.asarray(doubled).astype(np.float32) / 2.0 - self.black) / self.span

    def level2(self, unit: float, rounding: np.ufunc) -> np.int16:
        """The doubled stored level of a point of the 0..1 scale, as the kernels compare
        it: ``level2 < level2(u, ceil)`` exactly when ``unit(level2) < u``, and
        ``level2 > level2(u, floor)`` exactly when ``unit(level2) > u``."""
        value = rounding(2.0 * (self.black + unit * self.span))
        return np.int16(np.clip(value, -32768, 32767))

    @property
    def floor(self) -> float:
        """The least noise a block may claim, in doubled units: quantisation."""
        return 3.0


def thumbnail(level_mean: np.ndarray) -> np.ndarray:
    """A coarse brightness map (float16) for recognising repeated scenes."""
    by, bx = level_mean.shape
    cy, cx = max(1, by // THUMB), max(1, bx // THUMB)
    trimmed = level_mean[: cy * (by // cy), : cx * (bx // cx)]
    small = trimmed.reshape(by // cy, cy, bx // cx, cx).mean(axis=(1, 3))
    return small.astype(np.float16)
