"""What one frame says about each photosite: the per-frame half of detection.

Every element (a RAW photosite, or a JPEG pixel) is compared with the robust
level of its same-colour neighbours. The residual is scaled by the noise of its
16x16 block in *this* frame, so a noisy night frame or a busy texture needs a
bigger residual than a clean sky to count. Only the few elements that stand out
are returned (sparse), together with block-level facts: where a hot pixel could
have shown at all (not in clipped highlights) and where a dead one could (not in
black shadows).

The frame is processed in strips of rows so that the working set stays in the
CPU cache and memory stays bounded by the decoded frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from . import cfa as cfa_mod

BLOCK = 16  #: block size (elements) for local noise and opportunity
STRIP = 96  #: rows processed at once: a multiple of BLOCK and of SAMPLE, so the rows
#: sampled for block statistics are every third row of the frame, whatever the strip
HIT_Z = 3.0  #: an element is an outlier in a frame above this many local sigmas
STRONG_Z = 6.0  #: a strong outlier; weighed by how rare such outliers are in the frame
BRIGHT = 0.80  #: neighbour level above which a hot pixel cannot stand out
DARK_JPEG = 0.12  #: neighbour level (gamma-encoded) below which a dead pixel cannot stand out
DARK_RAW = 0.02  #: the same in linear raw values (mid-grey is about 0.18 there)
CLEAR_Z = 3 * HIT_Z  #: a block where a dead photosite would stand this far out shows health
QUIET_RAW = 0.006  #: block noise under which a bright defect of 2% of the range stands 3x out
QUIET_JPEG = 0.012
SAMPLE = 3  #: block statistics read every SAMPLE-th row
THUMB = 8  #: blocks per thumbnail cell edge for burst detection


@dataclass(frozen=True, eq=False)
class FrameEvidence:
    """Sparse outliers and block-level opportunities of one frame.

    ``*_idx`` are flat indices (``y * width + x``) of the elements whose
    residual stood above ``HIT_Z`` (pos) or below ``-HIT_Z`` (neg) local sigmas
    in a block where it could show; ``*_z`` their scaled residuals and
    ``*_val`` their own values (0-255). ``hot_opp``/``dead_opp`` are
    (blocks_y, blocks_x) booleans: where a bright / dark defect could show;
    ``hot_clear``/``dead_clear`` where it could not have failed to show (so
    not showing is proof of health, which restarts an onset); ``thumb`` a small
    brightness map used to recognise bursts and tripod runs.
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

    @property
    def blocks(self) -> tuple[int, int]:
        return self.hot_opp.shape

    @cached_property
    def outliers(self) -> np.ndarray:
        """Every element that stood out either way (sorted, unique)."""
        return np.union1d(self.pos_idx, self.neg_idx)


def block_shape(height: int, width: int) -> tuple[int, int]:
    return (-(-height // BLOCK), -(-width // BLOCK))


def extract(
    data: np.ndarray,
    *,
    black: float | np.ndarray,
    white: float,
    cfa: np.ndarray | None,
) -> FrameEvidence:
    """Compute the evidence of one frame.

    ``data`` is (H, W) raw photosites with ``cfa`` their pattern, or (H, W, C)
    demosaiced pixels with ``cfa=None``, as stored integers. ``black`` (a number,
    or the per-colour pattern) and ``white`` give the 0..1 scale used for the
    brightness rules; residuals need no scale (same-colour neighbours share the
    black level). For a demosaiced frame each pixel keeps its most deviant channel.

    The per-element work stays in 16-bit integers where the values allow (twice
    the stored value must fit): it is the hot path of every ingest.
    """
    if white <= 0 or np.any(np.asarray(black) >= white):
        raise ValueError("white level must be above the black level")
    if data.ndim not in (2, 3):
        raise ValueError(f"frame data must be 2-D (raw) or 3-D (rgb), got {data.ndim}-D")
    if not np.issubdtype(data.dtype, np.integer):
        raise TypeError(f"frame data must hold integers, got {data.dtype}")
    height, width = data.shape[:2]
    # the arithmetic's width follows the largest stored value, in case a raw says
    # a white level below what its photosites actually hold
    shape = _Scale.of(black, white, cfa, peak=float(data.max()))
    by, bx = block_shape(height, width)
    hot_opp = np.zeros((by, bx), dtype=bool)
    dead_opp = np.zeros((by, bx), dtype=bool)
    dead_clear = np.zeros((by, bx), dtype=bool)
    hot_clear = np.zeros((by, bx), dtype=bool)
    level_mean = np.zeros((by, bx), dtype=np.float32)
    pos: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    neg: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    for y0 in range(0, height, STRIP):
        y1 = min(height, y0 + STRIP)
        strip = [
            _channel_strip(p, y0, y1, height, cfa, shape)
            for p in _strip_planes(data, y0, y1, shape)
        ]
        rows = slice(y0 // BLOCK, y0 // BLOCK + strip[0].sigma.shape[0])
        bright = shape.unit(np.max([c.level_max for c in strip], axis=0))
        lit = shape.unit(np.max([c.level_min for c in strip], axis=0))
        dim = shape.unit(np.min([c.level_min for c in strip], axis=0))
        sigma = np.max([c.sigma for c in strip], axis=0) * shape.per_unit
        hot_opp[rows] = bright < BRIGHT
        dead_opp[rows] = lit > shape.dark
        # A dead photosite would stand far out here: not showing one is proof of health.
        # (In a JPEG every channel must be bright: a dead red photosite under a green
        # leaf does not show.)
        dead_clear[rows] = (dim > shape.dark) & (dim > CLEAR_Z * sigma)
        # Quiet and not bright: any bright defect of a few percent would show here.
        hot_clear[rows] = hot_opp[rows] & (sigma < shape.quiet)
        level_mean[rows] = shape.unit(np.max([c.level_mean for c in strip], axis=0))
        bright_out, dark_out = _outliers(strip, hot_opp[rows], dead_opp[rows], y0, width, shape)
        pos.append(bright_out)
        neg.append(dark_out)

    pos_idx, pos_z, pos_val = (np.concatenate(parts) for parts in zip(*pos, strict=True))
    neg_idx, neg_z, neg_val = (np.concatenate(parts) for parts in zip(*neg, strict=True))
    return FrameEvidence(
        shape=(height, width),
        pos_idx=pos_idx,
        pos_z=pos_z,
        pos_val=pos_val,
        neg_idx=neg_idx,
        neg_z=neg_z,
        neg_val=neg_val,
        hot_opp=hot_opp,
        dead_opp=dead_opp,
        dead_clear=dead_clear,
        hot_clear=hot_clear,
        thumb=_thumbnail(level_mean),
        phase=8 if cfa is None else int(np.asarray(cfa).shape[0]),
    )


@dataclass(frozen=True)
class _Scale:
    """How stored values map to the 0..1 scale of the brightness rules."""

    black: float
    span: float  #: white - black
    work: type  #: integer type of the per-element arithmetic
    halo: int
    dark: float
    quiet: float

    @classmethod
    def of(
        cls, black: float | np.ndarray, white: float, cfa: np.ndarray | None, peak: float
    ) -> _Scale:
        b = float(np.mean(black))
        work = np.int16 if 2 * max(white, peak) <= np.iinfo(np.int16).max else np.int32
        dark, quiet = (DARK_JPEG, QUIET_JPEG) if cfa is None else (DARK_RAW, QUIET_RAW)
        return cls(b, float(white) - b, work, cfa_mod.border(cfa), dark, quiet)

    @property
    def per_unit(self) -> float:
        """Factor from doubled stored units (the arithmetic's) to the 0..1 scale."""
        return 1.0 / (2.0 * self.span)

    def unit(self, doubled: np.ndarray) -> np.ndarray:
        """Doubled stored values (levels) on the 0..1 scale."""
        return (doubled.astype(np.float32) / 2.0 - self.black) / self.span

    @property
    def floor(self) -> float:
        """The least noise a block may claim, in doubled units: quantisation."""
        return 3.0


@dataclass(frozen=True, eq=False)
class _ChannelStrip:
    """One channel of one strip: residuals (doubled units) and block statistics."""

    resid2: np.ndarray  #: 2 x value - 2 x neighbour level, integers
    own: np.ndarray  #: stored values
    sigma: np.ndarray  #: block noise of resid2 (float)
    level_max: np.ndarray  #: block max / min / mean of 2 x neighbour level
    level_min: np.ndarray
    level_mean: np.ndarray


def _strip_planes(data: np.ndarray, y0: int, y1: int, shape: _Scale) -> list[np.ndarray]:
    """The rows y0..y1 plus the halo, one contiguous working-type plane per channel.

    Copying the rows and splitting the channels in one step keeps the later
    arithmetic on contiguous memory.
    """
    height, halo = data.shape[0], shape.halo
    a0, a1 = max(0, y0 - halo), min(height, y1 + halo)
    rows = data[a0:a1]
    if rows.ndim == 3:
        stack = np.empty((rows.shape[2], *rows.shape[:2]), dtype=shape.work)
        stack[...] = np.moveaxis(rows, 2, 0)
        planes = list(stack)
    else:
        planes = [rows.astype(shape.work)]
    return [_pad_rows(p, halo - (y0 - a0), halo - (a1 - y1)) for p in planes]


def _channel_strip(
    padded: np.ndarray, y0: int, y1: int, height: int, cfa: np.ndarray | None, shape: _Scale
) -> _ChannelStrip:
    halo = shape.halo
    level2 = cfa_mod.neighbour_sum2(padded, cfa, y0)
    own = padded[halo : halo + (y1 - y0)]
    resid2 = own * 2
    resid2 -= level2
    # The first and last rows lack real neighbours above or below (the padding
    # repeats the edge row, of another colour): no evidence there, as in the
    # border columns.
    resid2[: max(0, halo - y0)] = 0
    resid2[max(0, height - halo - y0) :] = 0
    # Noise from every third row (about 85 residuals a block); the smooth
    # neighbour level from every third row and column (about 30).
    mean_abs = _block_mean(resid2, (SAMPLE, 1), absolute=True)
    sigma = np.maximum(mean_abs * np.float32(1.2533), np.float32(shape.floor))
    grid = (SAMPLE, SAMPLE)
    return _ChannelStrip(
        resid2=resid2,
        own=own,
        sigma=sigma,
        level_max=_block_reduce(level2, np.maximum, grid),
        level_min=_block_reduce(level2, np.minimum, grid),
        level_mean=_block_mean(level2, grid),
    )


def _pad_rows(vals: np.ndarray, top: int, bottom: int) -> np.ndarray:
    """Give a strip at the frame's top or bottom edge its missing halo rows."""
    if top <= 0 and bottom <= 0:
        return vals
    return np.pad(vals, ((max(top, 0), max(bottom, 0)), (0, 0)), mode="edge")


def _starts(n: int, step: int) -> np.ndarray:
    """Where each BLOCK-long stretch of ``n`` begins among every ``step``-th element."""
    return np.minimum(-(-np.arange(0, n, BLOCK) // step), -(-n // step) - 1)


def _block_reduce(a: np.ndarray, ufunc: np.ufunc, step: tuple[int, int] = (1, 1)) -> np.ndarray:
    """Reduce each BLOCK x BLOCK tile (the last row/column of tiles may be partial).

    With ``step`` only every step-th row and column is read: block statistics
    (noise, brightness) do not need all 256 elements, and reading fewer keeps
    the per-frame cost down. A step of 3 visits both parities of a Bayer
    pattern, so every colour is seen.
    """
    sub = a[:: step[0], :: step[1]]
    rows = ufunc.reduceat(sub, _starts(a.shape[0], step[0]), axis=0)
    return ufunc.reduceat(rows, _starts(a.shape[1], step[1]), axis=1)


def _block_mean(
    a: np.ndarray, step: tuple[int, int] = (1, 1), *, absolute: bool = False
) -> np.ndarray:
    """Mean (of the absolute values, if asked) of each tile, over the elements read."""
    sub = a[:: step[0], :: step[1]].astype(np.float32)
    if absolute:
        np.abs(sub, out=sub)
    sy, sx = _starts(a.shape[0], step[0]), _starts(a.shape[1], step[1])
    ny = np.diff(np.append(sy, sub.shape[0]))
    nx = np.diff(np.append(sx, sub.shape[1]))
    total = np.add.reduceat(np.add.reduceat(sub, sy, axis=0), sx, axis=1)
    return total / np.maximum(np.outer(ny, nx), 1).astype(np.float32)


def _outliers(
    strip: list[_ChannelStrip],
    hot_opp: np.ndarray,
    dead_opp: np.ndarray,
    y0: int,
    width: int,
    shape: _Scale,
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """This strip's outliers, bright and dark (flat index, z, own value 0-255), in
    blocks where they could show; a pixel out in several channels keeps its most
    deviant one."""
    pos: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    neg: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for c in strip:
        flat = _beyond_threshold(c, shape)
        if flat.size == 0:
            continue
        ys, xs = np.divmod(flat, c.resid2.shape[1])
        by, bx = ys // BLOCK, xs // BLOCK
        r = c.resid2.reshape(-1)[flat]
        z = (r / c.sigma[by, bx]).astype(np.float32)
        value = (c.own.reshape(-1)[flat] - shape.black) / shape.span
        value = np.clip(value * 255.0 + 0.5, 0, 255).astype(np.uint8)
        flat = flat + y0 * width
        for out, side, opp in ((pos, r > 0, hot_opp), (neg, r < 0, dead_opp)):
            keep = side & opp[by, bx]
            out.append((flat[keep], z[keep], value[keep]))
    return _most_deviant(pos, +1), _most_deviant(neg, -1)


def _beyond_threshold(c: _ChannelStrip, shape: _Scale) -> np.ndarray:
    """Flat indices of the strip whose |residual| exceeds HIT_Z of their block's noise."""
    h, w = c.resid2.shape
    thr = np.minimum(np.ceil(HIT_Z * c.sigma), np.iinfo(shape.work).max).astype(shape.work)
    size = np.abs(c.resid2)
    if h % BLOCK == 0 and w % BLOCK == 0:  # compare tile by tile, no expanded copy
        tiles = size.reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK)
        return np.flatnonzero(tiles > thr[:, None, :, None])
    thr = np.repeat(np.repeat(thr, BLOCK, 0), BLOCK, 1)[:h, :w]
    return np.flatnonzero(size > thr)


def _most_deviant(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], sign: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not parts:
        return np.empty(0, np.int64), np.empty(0, np.float32), np.empty(0, np.uint8)
    idx, z, val = (np.concatenate(p) for p in zip(*parts, strict=True))
    if len(parts) > 1:  # keep, per pixel, the channel furthest out
        order = np.lexsort((-sign * z, idx))
        idx, z, val = idx[order], z[order], val[order]
        first = np.ones(idx.size, dtype=bool)
        first[1:] = idx[1:] != idx[:-1]
        idx, z, val = idx[first], z[first], val[first]
    return idx.astype(np.int64), z, val


def _thumbnail(level_sum: np.ndarray) -> np.ndarray:
    """A coarse brightness map (float16) for recognising repeated scenes."""
    by, bx = level_sum.shape
    cy, cx = max(1, by // THUMB), max(1, bx // THUMB)
    trimmed = level_sum[: cy * (by // cy), : cx * (bx // cx)]
    small = trimmed.reshape(by // cy, cy, bx // cx, cx).mean(axis=(1, 3))
    return small.astype(np.float16)
