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
STRIP = 64  #: rows processed at once; a multiple of BLOCK
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
    (blocks_y, blocks_x) booleans; ``thumb`` a small brightness map used to
    recognise bursts and tripod runs.
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


def planes_of(data: np.ndarray) -> list[np.ndarray]:
    """Split a frame into 2-D planes of its stored values."""
    if data.ndim == 2:
        return [data]
    if data.ndim == 3:  # one contiguous copy per channel: strips then read memory in order
        return list(np.ascontiguousarray(np.moveaxis(data, 2, 0)))
    raise ValueError(f"frame data must be 2-D (raw) or 3-D (rgb), got {data.ndim}-D")


def extract(
    data: np.ndarray,
    *,
    black: float | np.ndarray,
    white: float,
    cfa: np.ndarray | None,
) -> FrameEvidence:
    """Compute the evidence of one frame.

    ``data`` is (H, W) raw photosites with ``cfa`` their pattern, or (H, W, C)
    demosaiced pixels with ``cfa=None``. ``black`` may be a per-element black
    level pattern broadcastable over a strip (the caller builds it from the
    per-channel levels); values are scaled to 0..1 by (v - black)/(white - black).
    For a demosaiced frame each pixel keeps its most deviant channel.
    """
    if white <= 0 or np.any(np.asarray(black) >= white):
        raise ValueError("white level must be above the black level")
    height, width = data.shape[:2]
    planes = planes_of(data)
    halo = cfa_mod.border(cfa)
    by, bx = block_shape(height, width)
    scale = 1.0 / (white - np.asarray(black, dtype=np.float32))
    floor = _noise_floor(data.dtype, white, black)
    dark = DARK_JPEG if cfa is None else DARK_RAW
    quiet = QUIET_JPEG if cfa is None else QUIET_RAW

    hot_opp = np.zeros((by, bx), dtype=bool)
    dead_opp = np.zeros((by, bx), dtype=bool)
    dead_clear = np.zeros((by, bx), dtype=bool)
    hot_clear = np.zeros((by, bx), dtype=bool)
    level_sum = np.zeros((by, bx), dtype=np.float32)
    hits: dict[str, list[np.ndarray]] = {k: [] for k in ("pi", "pz", "pv", "ni", "nz", "nv")}

    for y0 in range(0, height, STRIP):
        y1 = min(height, y0 + STRIP)
        zpos, zneg, own, level, dim, sigma = _strip(
            planes, y0, y1, halo, cfa, black, scale, floor
        )
        ry0 = y0 // BLOCK
        bmax = _block_reduce(level, np.maximum, SAMPLE)
        bmin = _block_reduce(level, np.minimum, SAMPLE)
        rows = slice(ry0, ry0 + bmax.shape[0])
        hot_opp[rows] = bmax < BRIGHT
        dead_opp[rows] = bmin > dark
        # A dead photosite would stand far out here: not showing one is proof of health.
        # (In a JPEG every channel must be bright: a dead red photosite under a green
        # leaf does not show.)
        bdim = bmin if dim is level else _block_reduce(dim, np.minimum, SAMPLE)
        dead_clear[rows] = (bdim > dark) & (bdim > CLEAR_Z * sigma)
        # Quiet and not bright: any bright defect of a few percent would show here.
        hot_clear[rows] = hot_opp[rows] & (sigma < quiet)
        level_sum[rows] = _block_mean(level, SAMPLE)
        _collect(zpos, own, y0, width, hot_opp[rows], +1, hits["pi"], hits["pz"], hits["pv"])
        _collect(zneg, own, y0, width, dead_opp[rows], -1, hits["ni"], hits["nz"], hits["nv"])

    def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype)

    return FrameEvidence(
        shape=(height, width),
        pos_idx=cat(hits["pi"], np.int64),
        pos_z=cat(hits["pz"], np.float32),
        pos_val=cat(hits["pv"], np.uint8),
        neg_idx=cat(hits["ni"], np.int64),
        neg_z=cat(hits["nz"], np.float32),
        neg_val=cat(hits["nv"], np.uint8),
        hot_opp=hot_opp,
        dead_opp=dead_opp,
        dead_clear=dead_clear,
        hot_clear=hot_clear,
        thumb=_thumbnail(level_sum),
        phase=8 if cfa is None else int(np.asarray(cfa).shape[0]),
    )


def _noise_floor(dtype: np.dtype, white: float, black: float | np.ndarray) -> float:
    """The smallest noise a block may claim: quantisation of the stored values."""
    span = float(white - float(np.min(black)))
    return 1.5 / span if np.issubdtype(dtype, np.integer) else 1e-4


def _strip(
    planes: list[np.ndarray],
    y0: int,
    y1: int,
    halo: int,
    cfa: np.ndarray | None,
    black: float | np.ndarray,
    scale: np.ndarray,
    floor: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scaled residuals of one strip: most positive and most negative over channels.

    Also the neighbour level of the brightest and of the dimmest channel, and the
    block noise (noisiest channel).
    """
    height = planes[0].shape[0]
    a0, a1 = max(0, y0 - halo), min(height, y1 + halo)
    zpos = zneg = own = level = dim = sig = None
    for plane in planes:
        vals = plane[a0:a1].astype(np.float32)
        if np.ndim(black) == 0:
            vals -= np.float32(black)
            vals *= np.float32(scale)
        else:
            by_, bx_ = np.asarray(black).shape
            vals -= np.tile(black, (-(-vals.shape[0] // by_) + 1, -(-vals.shape[1] // bx_)))[
                (a0 % by_) : (a0 % by_) + vals.shape[0], : vals.shape[1]
            ]
            vals *= np.float32(np.max(scale))
        padded = _pad_rows(
            vals, y0 - a0 < halo and halo - (y0 - a0), a1 - y1 < halo and halo - (a1 - y1)
        )
        lev = cfa_mod.neighbour_level(padded, cfa, y0)
        mine = padded[halo : halo + (y1 - y0)]
        resid = mine - lev
        sigma = _block_sigma(resid, floor)
        z = (
            resid
            / np.repeat(np.repeat(sigma, BLOCK, 0), BLOCK, 1)[: resid.shape[0], : resid.shape[1]]
        )
        if zpos is None:
            zpos, zneg, own, level, dim, sig = z, z, mine, lev, lev, sigma
        else:
            zpos = np.maximum(zpos, z)
            zneg = np.minimum(zneg, z)
            dim = np.minimum(dim, lev)
            level = np.maximum(level, lev)
            own = np.maximum(own, mine)
            sig = np.maximum(sig, sigma)
    return zpos, zneg, own, level, dim, sig


def _pad_rows(vals: np.ndarray, top: int, bottom: int) -> np.ndarray:
    """Give a strip at the frame's top or bottom edge its missing halo rows."""
    if not top and not bottom:
        return vals
    return np.pad(vals, ((int(top), int(bottom)), (0, 0)), mode="edge")


def _block_reduce(a: np.ndarray, ufunc: np.ufunc, step: int = 1) -> np.ndarray:
    """Reduce each BLOCK x BLOCK tile (the last row/column of tiles may be partial).

    With ``step`` > 1 only every step-th row is read: block statistics (noise,
    brightness) do not need all 256 elements, and reading a third of them keeps
    the per-frame cost down. A step of 3 visits both row parities of a Bayer
    pattern, so every colour is seen.
    """
    return _reduce_rows(a[::step], a.shape[0], step, ufunc)


def _reduce_rows(sub: np.ndarray, height: int, step: int, ufunc: np.ufunc) -> np.ndarray:
    """Tile reduction of ``sub``, the every-``step``-th rows of a ``height``-row array."""
    starts_y = np.minimum(-(-np.arange(0, height, BLOCK) // step), sub.shape[0] - 1)
    starts_x = np.arange(0, sub.shape[1], BLOCK)
    return ufunc.reduceat(ufunc.reduceat(sub, starts_y, axis=0), starts_x, axis=1)


def _block_mean(a: np.ndarray, step: int = 1, *, absolute: bool = False) -> np.ndarray:
    """Mean (of the absolute values, if asked) of each tile, over the rows read."""
    sub = np.abs(a[::step]) if absolute else a[::step]
    starts_y = np.minimum(-(-np.arange(0, a.shape[0], BLOCK) // step), sub.shape[0] - 1)
    ny = np.diff(np.append(starts_y, sub.shape[0]))
    nx = np.minimum(BLOCK, a.shape[1] - np.arange(0, a.shape[1], BLOCK))
    total = _reduce_rows(sub, a.shape[0], step, np.add)
    return total / np.maximum(np.outer(ny, nx), 1).astype(np.float32)


def _block_sigma(resid: np.ndarray, floor: float) -> np.ndarray:
    """Local noise: 1.25 x mean |residual| per block (sigma for Gaussian noise)."""
    mean_abs = _block_mean(resid, SAMPLE, absolute=True)
    return np.maximum(mean_abs * np.float32(1.2533), np.float32(floor))


def _collect(
    z: np.ndarray,
    own: np.ndarray,
    y0: int,
    width: int,
    opp_rows: np.ndarray,
    sign: int,
    idx_out: list[np.ndarray],
    z_out: list[np.ndarray],
    v_out: list[np.ndarray],
) -> None:
    """Keep the outliers of a strip that lie in blocks where they could show."""
    flat = np.flatnonzero(z > HIT_Z if sign > 0 else z < -HIT_Z)
    if flat.size == 0:
        return
    ys, xs = np.divmod(flat, z.shape[1])
    ok = opp_rows[ys // BLOCK, xs // BLOCK]
    flat, ys, xs = flat[ok], ys[ok], xs[ok]
    idx_out.append(flat + y0 * width)
    z_out.append(z.reshape(-1)[flat])
    v_out.append(np.clip(own.reshape(-1)[flat] * 255.0 + 0.5, 0, 255).astype(np.uint8))


def _thumbnail(level_sum: np.ndarray) -> np.ndarray:
    """A coarse brightness map (float16) for recognising repeated scenes."""
    by, bx = level_sum.shape
    cy, cx = max(1, by // THUMB), max(1, bx // THUMB)
    trimmed = level_sum[: cy * (by // cy), : cx * (bx // cx)]
    small = trimmed.reshape(by // cy, cy, bx // cx, cx).mean(axis=(1, 3))
    return small.astype(np.float16)
