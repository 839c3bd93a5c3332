"""Registration of a camera JPEG against the raw of the same shot: one fit of the frame map.

Why: the JPEG <-> raw map (:mod:`hotwatch.core.frame_map`) of a body is not in every file
(Nikon and Sony record at most the JPEG's size), but a RAW+JPEG pair of one shot shows the
same scene twice, so the map can be measured. numpy only (FFT phase correlation, least
squares): a 10 MP pair takes a second or two, and only a body's first pairs are registered.

Method (measured on simulated pairs to 0.1 photosite, and on real Canon S40 and GoPro pairs,
see the issue-17 research notes):

1. The raw becomes a "bin" image: the mean of the green sites of each CFA block (2x2 Bayer,
   3x3 X-Trans), black-subtracted, gamma-encoded like a JPEG; bin (i, j) sits at the block's
   green centroid. Green only: red and blue sit at block corners and would pull the fit by a
   tenth of a photosite, opposite ways for RGGB and BGGR.
2. The JPEG's luma is box-blurred (centred, fractional width) to a bin's footprint.
3. From a first guess (centres aligned, scale = the size ratio, or 1), a whole-frame phase
   correlation at a quarter size finds the translation; then, a few times over, the JPEG is
   warped onto the bin grid (separable Lanczos-3, which keeps phase where bilinear would bias
   the result toward whole pixels), a grid of tiles is phase-correlated (cross-power spectrum
   whitened, then Gaussian-weighted below the frequencies where resampling and JPEG error
   dominate; the peak refined by a log-parabola), and (sx, tx), (sy, ty) are fitted to the
   tile shifts by least squares, outliers dropped.
4. Confidence = correlation of the high-passed images x share of tiles that agree / (1 +
   their RMS residual). A featureless frame (lens cap, clipped sky) gives little confidence;
   a JPEG corrected for lens distortion in camera (no affine map exists) gives a large RMS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .frame_map import FrameMap

#: a fit is worth keeping with at least this confidence, this many agreeing tiles and a
#: tile RMS below this many photosites
MIN_CONFIDENCE = 0.4
MIN_INLIERS = 8
MAX_RMS = 0.35
_TILES = 5  #: tiles per axis
_TILE = 256  #: bins per tile side, at most
_BAND = 0.12  #: sigma of the Gaussian weighting of the whitened spectrum, cycles per pixel
_STRONG_PEAK = 8.0  #: a tile's correlation peak over its spread, to be believed
_EDGE = 12  #: bins kept clear of the frame's edge (the crop is a few photosites in)


@dataclass(frozen=True)
class Registration:
    """One RAW+JPEG pair's fit of the frame map, and how far to trust it."""

    map: FrameMap
    confidence: float
    inliers: int  # tiles that agree with the fit
    tiles: int  # tiles with enough detail to correlate
    rms: float  # photosites: the agreeing tiles' residual

    @property
    def accepted(self) -> bool:
        return (
            self.confidence >= MIN_CONFIDENCE
            and self.inliers >= MIN_INLIERS
            and self.rms <= MAX_RMS
        )


def luma(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of an (H, W, 3) image, 0..1 (uint8 or uint16 input)."""
    top = 255.0 if rgb.dtype == np.uint8 else 65535.0
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32) / np.float32(top)
    return rgb.astype(np.float32) @ weights


def green_bins(
    raw: np.ndarray, cfa: np.ndarray, black: float, white: float
) -> tuple[np.ndarray, int, float, float]:
    """The raw reduced to the mean of each CFA block's green sites, gamma-encoded.

    Returns (image, block size b, cx, cy): bin (i, j) sits at photosite (b*j + cx, b*i + cy),
    the centroid of the block's green sites. X-Trans blocks are 3x3 (the four quarters of
    its 6x6 tile share one green layout), Bayer 2x2.
    """
    n = cfa.shape[0]
    b = 3 if n == 6 else n
    green = np.isin(cfa[:b, :b], (1, 3)).astype(np.float32)
    cy, cx = (float(v) for v in np.argwhere(green > 0).mean(axis=0))
    h, w = (raw.shape[0] // b) * b, (raw.shape[1] // b) * b
    blocks = raw[:h, :w].astype(np.float32).reshape(h // b, b, w // b, b)
    out = np.einsum("iyjx,yx->ij", blocks, green / green.sum(), optimize=True)
    out -= np.float32(black)
    out *= np.float32(1.0 / max(white - black, 1.0))
    np.clip(out, 0.0, 1.0, out=out)
    return np.power(out, np.float32(1 / 2.2), out=out), b, cx, cy


def box_blur(a: np.ndarray, width: float) -> np.ndarray:
    """Separable, centred box blur of a fractional ``width`` in pixels (none below 1.1).

    Each tap weighs the overlap of its pixel with [-width/2, width/2], so the kernel is
    symmetric for any width (an even-width box would shift the image by half a pixel).
    """
    if width < 1.1:
        return a
    half = width / 2
    n = int(np.ceil(half - 0.5))
    k = np.arange(-n, n + 1)
    taps = np.clip(np.minimum(k + 0.5, half) - np.maximum(k - 0.5, -half), 0, None)
    taps = (taps / taps.sum()).astype(np.float32)
    out = np.zeros_like(a)
    padded = np.pad(a, ((n, n), (0, 0)), mode="edge")
    for i, t in enumerate(taps):
        out += padded[i : i + a.shape[0]] * t
    padded = np.pad(out, ((0, 0), (n, n)), mode="edge")
    out = np.zeros_like(a)
    for i, t in enumerate(taps):
        out += padded[:, i : i + a.shape[1]] * t
    return out


def _lanczos_taps(pos: np.ndarray, size: int, a: int = 3) -> tuple[np.ndarray, ...]:
    """Lanczos-``a`` taps at 1-D positions: indices, weights (len, 2a), and which are whole."""
    base = np.floor(pos).astype(np.intp)
    idx = base[:, None] + np.arange(-a + 1, a + 1)[None, :]
    d = pos[:, None] - idx
    weights = np.sinc(d) * np.sinc(d / a)
    weights /= weights.sum(axis=1, keepdims=True)
    valid = (base - a + 1 >= 0) & (base + a < size)
    return np.clip(idx, 0, size - 1), weights.astype(np.float32), valid


def sample(img: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``img`` at the separable grid (xs per column, ys per row), and where it was inside."""
    h, w = img.shape
    ix, wx, vx = _lanczos_taps(np.asarray(xs, dtype=np.float64), w)
    iy, wy, vy = _lanczos_taps(np.asarray(ys, dtype=np.float64), h)
    rows = np.zeros((h, len(xs)), dtype=np.float32)
    for k in range(ix.shape[1]):
        rows += img[:, ix[:, k]] * wx[:, k]
    out = np.zeros((len(ys), len(xs)), dtype=np.float32)
    for k in range(iy.shape[1]):
        out += rows[iy[:, k]] * wy[:, k][:, None]
    return out, vy[:, None] & vx[None, :]


def _log_parabola(m1: float, c0: float, p1: float) -> float:
    """Sub-pixel offset of a Gaussian peak from three samples around it."""
    if min(m1, c0, p1) <= 0:
        den = m1 - 2 * c0 + p1
        return 0.0 if den >= 0 else float(np.clip(0.5 * (m1 - p1) / den, -0.5, 0.5))
    lm, l0, lp = math.log(m1), math.log(c0), math.log(p1)
    den = lm - 2 * l0 + lp
    return 0.0 if den >= 0 else float(np.clip(0.5 * (lm - lp) / den, -0.5, 0.5))


def phase_correlate(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """The shift (dx, dy) with b(x) ~ a(x - d), and its peak's strength (peak / spread)."""
    h, w = a.shape
    window = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    fa = np.fft.rfft2((a - a.mean()) * window)
    fb = np.fft.rfft2((b - b.mean()) * window)
    cross = fb * np.conj(fa)
    cross /= np.abs(cross) + 1e-12
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    cross *= np.exp(-(fx**2 + fy**2) / (2 * _BAND**2))
    c = np.fft.irfft2(cross, s=(h, w))
    iy, ix = np.unravel_index(int(np.argmax(c)), c.shape)
    peak = float(c[iy, ix])
    dy = (iy if iy <= h // 2 else iy - h) + _log_parabola(
        c[(iy - 1) % h, ix], peak, c[(iy + 1) % h, ix]
    )
    dx = (ix if ix <= w // 2 else ix - w) + _log_parabola(
        c[iy, (ix - 1) % w], peak, c[iy, (ix + 1) % w]
    )
    return float(dx), float(dy), peak / (float(c.std()) + 1e-12)


def _highpass(a: np.ndarray) -> np.ndarray:
    return a - box_blur(a, 9)


@dataclass
class _Grid:
    """Where the bins sit on the raw (block size and green centroid) and how many there are."""

    b: int
    cx: float
    cy: float
    rows: int
    cols: int

    def raw_x(self, j: np.ndarray | float) -> np.ndarray | float:
        return self.b * j + self.cx

    def raw_y(self, i: np.ndarray | float) -> np.ndarray | float:
        return self.b * i + self.cy


def _warp(jpeg: np.ndarray, fmap: FrameMap, grid: _Grid) -> tuple[np.ndarray, np.ndarray]:
    """The JPEG luma sampled at the bin centres through ``fmap``."""
    xs = np.asarray(grid.raw_x(np.arange(grid.cols, dtype=np.float64)))
    ys = np.asarray(grid.raw_y(np.arange(grid.rows, dtype=np.float64)))
    m, _ = fmap.to_jpeg(xs, 0.0)  # type: ignore[arg-type]
    _, n = fmap.to_jpeg(0.0, ys)  # type: ignore[arg-type]
    return sample(jpeg, np.asarray(m), np.asarray(n))


def _reduce(a: np.ndarray, f: int) -> np.ndarray:
    h, w = a.shape[0] // f * f, a.shape[1] // f * f
    return a[:h, :w].reshape(h // f, f, w // f, f).mean(axis=(1, 3))


def register(
    raw: np.ndarray,
    cfa: np.ndarray,
    black: float,
    white: float,
    jpeg_luma: np.ndarray,
    *,
    iterations: int = 6,
) -> Registration:
    """Fit the map from ``raw`` (raw_image_visible photosites) to the JPEG of the same shot.

    ``jpeg_luma`` is the JPEG's luma at its stored size (:func:`luma`). First guesses, in
    order until one fits: centres aligned at the size ratio, then at scale 1 (an L-size
    crop, whose size ratio is a little under 1). Returns the most confident fit.
    """
    bins, b, cx, cy = green_bins(raw, cfa, black, white)
    grid = _Grid(b, cx, cy, bins.shape[0], bins.shape[1])
    h, w = raw.shape
    jh, jw = jpeg_luma.shape
    ratio = max(jw / w, jh / h)
    guesses = [ratio] + ([1.0] if abs(ratio - 1.0) < 0.06 and ratio != 1.0 else [])
    reference = _highpass(bins)
    best: Registration | None = None
    for s0 in guesses:
        blurred = box_blur(jpeg_luma.astype(np.float32), b * s0)
        start = FrameMap(s0, (jw - 1) / 2 - s0 * (w - 1) / 2, s0, (jh - 1) / 2 - s0 * (h - 1) / 2)
        fit = _fit(reference, blurred, start, grid, iterations)
        if best is None or fit.confidence > best.confidence:
            best = fit
        if fit.accepted:
            break
    assert best is not None
    return best


def _fit(
    reference: np.ndarray,
    jpeg: np.ndarray,
    fmap: FrameMap,
    grid: _Grid,
    iterations: int,
) -> Registration:
    """Coarse translation, then tile fits until the map stops moving."""
    warped, _ = _warp(jpeg, fmap, grid)
    dx, dy, _ = phase_correlate(_reduce(reference, 4), _reduce(_highpass(warped), 4))
    fmap = FrameMap(
        fmap.sx, fmap.tx + fmap.sx * dx * 4 * grid.b, fmap.sy, fmap.ty + fmap.sy * dy * 4 * grid.b
    )
    inliers, tiles, rms = 0, 0, math.inf
    for _ in range(iterations):
        step = _tile_fit(reference, jpeg, fmap, grid)
        if step is None:
            break
        fmap, inliers, tiles, rms, moved = step
        if moved < 0.01:
            break
    warped, valid = _warp(jpeg, fmap, grid)
    ncc = _correlation(reference, _highpass(warped), valid)
    share = inliers / max(tiles, 1)
    confidence = max(0.0, ncc) * share * min(1.0, inliers / 6) / (1 + rms)
    return Registration(fmap, float(confidence), inliers, tiles, float(rms))


def _tile_fit(
    reference: np.ndarray, jpeg: np.ndarray, fmap: FrameMap, grid: _Grid
) -> tuple[FrameMap, int, int, float, float] | None:
    """One round: tile shifts under the current map, a least-squares correction of it.
    Returns (new map, agreeing tiles, tiles, their RMS in photosites, how far it moved)."""
    warped, valid = _warp(jpeg, fmap, grid)
    moving = _highpass(warped)
    ts = min(_TILE, grid.rows // 2, grid.cols // 2)
    centres_y = np.linspace(ts / 2 + _EDGE, grid.rows - ts / 2 - _EDGE, _TILES)
    centres_x = np.linspace(ts / 2 + _EDGE, grid.cols - ts / 2 - _EDGE, _TILES)
    points, strengths = [], []
    for yc in centres_y:
        for xc in centres_x:
            y0, x0 = int(yc - ts / 2), int(xc - ts / 2)
            window = (slice(y0, y0 + ts), slice(x0, x0 + ts))
            if not valid[window].all():
                continue
            a, c = reference[window], moving[window]
            if a.std() < 1e-3 or c.std() < 1e-3:
                continue  # featureless: sky, lens cap, clipped
            ddx, ddy, strength = phase_correlate(a, c)
            x = float(grid.raw_x(x0 + ts / 2 - 0.5))
            y = float(grid.raw_y(y0 + ts / 2 - 0.5))
            points.append((x, y, x + grid.b * ddx, y + grid.b * ddy))
            strengths.append(strength)
    p = np.array(points).reshape(-1, 4)
    p = p[np.array(strengths) > _STRONG_PEAK] if len(points) else p
    if len(p) < 3:
        return None
    keep = np.ones(len(p), dtype=bool)
    for _ in range(2):
        (ax, cx), (ay, cy) = (
            np.linalg.lstsq(np.stack([p[keep, src], np.ones(keep.sum())], 1), p[keep, dst], None)[0]
            for src, dst in ((0, 2), (1, 3))
        )
        residual = np.hypot(ax * p[:, 0] + cx - p[:, 2], ay * p[:, 1] + cy - p[:, 3])
        spread = float(np.median(residual[keep])) * 1.4826 + 0.02
        keep = residual < max(3 * spread, 0.15)
        if keep.sum() < 3:
            return None
    # a feature drawn at raw x by the old map truly sits at ax * x + cx: map(x) = old(a x + c)
    new = FrameMap(fmap.sx * ax, fmap.sx * cx + fmap.tx, fmap.sy * ay, fmap.sy * cy + fmap.ty)
    w, h = grid.cols * grid.b, grid.rows * grid.b
    moved = max(abs(cx) + abs(ax - 1) * w, abs(cy) + abs(ay - 1) * h)
    rms = float(np.sqrt(np.mean(residual[keep] ** 2)))
    return new, int(keep.sum()), len(p), rms, float(moved)


def _correlation(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> float:
    inside = valid.copy()
    inside[:8], inside[-8:], inside[:, :8], inside[:, -8:] = False, False, False, False
    x, y = a[inside], b[inside]
    if x.size < 2 or x.std() == 0 or y.std() == 0:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])
