"""Scenes: the expected signal of each photosite, in scene units (1.0 = white at brightness 1).

A crop, flip and scale (rotated for portrait shots) of one of the bundled photos
(``hotwatch/sim/scenes/``, see SOURCES.md), decoded to linear light and turned into camera
colour at the photo's own resolution, then resampled straight onto each CFA sub-lattice, so a
10 MP frame never holds a full RGB scene; or a synthetic special scene (``sky``, ``lenscap``,
``blown``, ``stars``, ``texture``, ``glints``).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
from PIL import Image

from .specs import CAM_MIX, NEUTRAL, ShotSpec

SCENE_DIR = Path(__file__).resolve().parents[1] / "scenes"
PHOTO_SCENES: tuple[str, ...] = tuple(sorted(p.stem for p in SCENE_DIR.glob("*.jpg")))
SPECIAL_SCENES: tuple[str, ...] = ("sky", "lenscap", "blown", "stars", "texture", "glints")


@functools.lru_cache(maxsize=16)
def _photo_camera_rgb(name: str) -> np.ndarray:
    """A bundled photo in linear light, converted to camera native colour, (H, W, 3) float32."""
    path = SCENE_DIR / f"{name}.jpg"
    if not path.exists():
        raise ValueError(f"unknown scene {name!r}; photos: {PHOTO_SCENES}")
    with Image.open(path) as im:
        srgb = np.asarray(im.convert("RGB"))
    lut = _srgb_to_linear_lut()
    lin = lut[srgb]
    cam = lin @ (np.diag(NEUTRAL) @ CAM_MIX).T.astype(np.float32)
    cam.setflags(write=False)
    return cam


@functools.lru_cache(maxsize=1)
def _srgb_to_linear_lut() -> np.ndarray:
    v = np.arange(256, dtype=np.float64) / 255.0
    lin = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    return lin.astype(np.float32)


@functools.lru_cache(maxsize=1)
def linear_to_srgb_lut() -> np.ndarray:
    """4096-entry LUT: linear [0, 1] -> sRGB uint8; fast and accurate enough for a JPEG."""
    v = np.arange(4096, dtype=np.float64) / 4095.0
    s = np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)
    return np.clip(np.round(s * 255.0), 0, 255).astype(np.uint8)


def _camera_colour(rgb_linear: np.ndarray) -> np.ndarray:
    """Linear sRGB (..., 3) -> camera native, as the photos are converted."""
    return rgb_linear @ (np.diag(NEUTRAL) @ CAM_MIX).T


def _base_image(shot: ShotSpec, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """The shot's scene at the photo's own resolution, cropped to the frame's aspect ratio.

    Returns (h, w, 3) float32 camera colour, already flipped and rotated for portrait shots so
    that resampling to (height, width) gives the stored landscape frame.
    """
    scene = shot.scene
    # special scenes are built on a daylight photo; the deep-field one is too dark for that
    daylight = [p for p in PHOTO_SCENES if p != "hubble_deep_field"] or list(PHOTO_SCENES)
    photo_name = scene if scene in PHOTO_SCENES else str(rng.choice(daylight))
    src = _photo_camera_rgb(photo_name)
    portrait = shot.orientation in (5, 6, 7, 8)
    aspect = (height / width) if not portrait else (width / height)  # crop h / crop w
    sh, sw = src.shape[:2]
    cw = min(float(sw), sh / aspect)
    cw *= rng.uniform(0.55, 1.0)
    ch = cw * aspect
    x0 = int(rng.uniform(0, sw - cw + 1e-9))
    y0 = int(rng.uniform(0, sh - ch + 1e-9))
    crop = src[y0 : y0 + max(2, round(ch)), x0 : x0 + max(2, round(cw))]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    if portrait:
        crop = np.rot90(crop, 1 if shot.orientation in (6, 7) else -1)
    base = np.array(crop, dtype=np.float32)
    if scene == "sky":
        base = _add_sky(base, rng)
    elif scene == "blown":
        base = base * 1.5 + 0.3
    elif scene == "stars":
        base = _night_sky(base, rng)
    elif scene == "lenscap":
        base = np.zeros_like(base)
    elif scene == "glints":
        base = base * 0.6
    return base


def _add_sky(base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Replace the top 30-65% with a clipped bright sky over an irregular horizon."""
    h, w = base.shape[:2]
    yy = np.arange(h, dtype=np.float32)[:, None] / h
    xx = np.arange(w, dtype=np.float32)[None, :] / w
    level = rng.uniform(0.3, 0.65)
    horizon = level + 0.05 * np.sin(2 * np.pi * (xx * rng.uniform(1, 4) + rng.random()))
    sky = np.clip((horizon - yy) / 0.04, 0.0, 1.0)[..., None]
    glow = _camera_colour(np.array([1.0, 1.0, 1.05])).astype(np.float32)
    value = (1.6 + 1.5 * (1.0 - yy))[..., None] * glow  # >1 everywhere: clips after WB
    return (base * (1 - sky) + value * sky).astype(np.float32)


def _night_sky(base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A dark gradient sky with a black foreground silhouette from the photo's lower part."""
    h = base.shape[0]
    yy = np.arange(h, dtype=np.float32)[:, None, None] / h
    sky = (0.01 + 0.03 * yy) * _camera_colour(np.array([0.8, 0.9, 1.2])).astype(np.float32)
    ground = base * 0.01
    fg = (yy > rng.uniform(0.75, 0.95)).astype(np.float32)
    return (sky * (1 - fg) + ground * fg).astype(np.float32)


def _resample_to_mosaic(
    base: np.ndarray, pattern: np.ndarray, width: int, height: int, shift: tuple[float, float]
) -> np.ndarray:
    """Resample a (h, w, 3) image onto a (height, width) mosaic of ``pattern``.

    A sensor samples one optical image at every photosite. A Bayer mosaic takes each
    sub-lattice (offset oy, ox, step 2) straight from its colour's plane, resized by Pillow
    to the sub-lattice's grid with the right sub-pixel box: one value per photosite, not
    three. Larger patterns take each colour's plane at the frame's full resolution and
    keep each photosite's own colour: resized to an X-Trans sub-lattice's grid, a plane is
    smoothed over six photosites, and same-colour neighbours became far more alike than a
    sensor's (measured on 25 scenes without noise: a lone X-Trans green's mean residual
    against its neighbours was 0.36 of the pattern's mean, 0.81-0.85 at full resolution;
    Bayer's are the same either way, 0.79-1.09 against 0.77-1.10).
    """
    n = pattern.shape[0]
    step = n if n <= 2 else 1  # the sub-lattices' spacing: full resolution for X-Trans
    bh, bw = base.shape[:2]
    sx, sy = bw / width, bh / height  # source px per frame px
    dx, dy = shift[0] * sx, shift[1] * sy
    pad = math.ceil(max(step * max(sx, sy), 1.0)) + 2
    yi = np.clip(np.arange(-pad, bh + pad), 0, bh - 1)
    xi = np.clip(np.arange(-pad, bw + pad), 0, bw - 1)
    padded = base[yi][:, xi]
    planes = [Image.fromarray(np.ascontiguousarray(padded[..., c])) for c in range(3)]

    def sample(colour: int, oy: int, ox: int) -> np.ndarray:
        """The colour's plane on the sub-lattice (oy, ox, ``step``)."""
        oh, ow = len(range(oy, height, step)), len(range(ox, width, step))
        by0 = pad + dy + (oy + 0.5 - 0.5 * step) * sy
        bx0 = pad + dx + (ox + 0.5 - 0.5 * step) * sx
        box = (bx0, by0, bx0 + step * sx * ow, by0 + step * sy * oh)
        return np.asarray(planes[colour].resize((ow, oh), Image.Resampling.BILINEAR, box))

    if step == 1:
        full = [sample(c, 0, 0) for c in range(3)]
        rows, cols = np.arange(height)[:, None] % n, np.arange(width)[None, :] % n
        return np.choose(pattern[rows, cols], full).astype(np.float32)
    out = np.empty((height, width), dtype=np.float32)
    for oy in range(n):
        for ox in range(n):
            out[oy::n, ox::n] = sample(int(pattern[oy, ox]), oy, ox)
    return out


def _point_sources(
    mosaic: np.ndarray,
    pattern: np.ndarray,
    rng: np.random.Generator,
    count: int,
    flux: tuple[float, float],
    single_fraction: float,
    tint_spread: float,
) -> None:
    """Add stars or specular glints in place: single-photosite points and small 3x3 PSFs."""
    h, w = mosaic.shape
    n = pattern.shape[0]
    if count <= 0:
        return
    xs = rng.integers(1, w - 1, size=count)
    ys = rng.integers(1, h - 1, size=count)
    amp = np.exp(rng.uniform(np.log(flux[0]), np.log(flux[1]), size=count)).astype(np.float32)
    tint = np.clip(1.0 + rng.normal(0, tint_spread, size=(count, 3)), 0.3, 2.0)
    cam = _camera_colour(tint).astype(np.float32) * amp[:, None]
    single = rng.random(count) < single_fraction
    # single-photosite points: the whole flux on one site of its own colour
    sx, sy = xs[single], ys[single]
    ci = pattern[sy % n, sx % n]
    np.add.at(mosaic, (sy, sx), cam[single, ci])
    # PSF points: a 3x3 Gaussian with sigma ~0.7 px, each site taking its own colour
    k1 = np.array([0.25, 1.0, 0.25], dtype=np.float32)
    kern = np.outer(k1, k1) / np.outer(k1, k1).sum()
    px, py, pc = xs[~single], ys[~single], cam[~single]
    for ky in (-1, 0, 1):
        for kx in (-1, 0, 1):
            yy, xx = py + ky, px + kx
            c = pattern[yy % n, xx % n]
            np.add.at(mosaic, (yy, xx), pc[np.arange(len(px)), c] * kern[ky + 1, kx + 1])


def _texture(mosaic: np.ndarray, rng: np.random.Generator) -> None:
    """Multiply in place by fine fabric-like detail: gratings near Nyquist plus pixel noise."""
    h, w = mosaic.shape
    y = np.arange(h, dtype=np.float32)[:, None]
    x = np.arange(w, dtype=np.float32)[None, :]
    t = np.zeros((h, w), dtype=np.float32)
    for _ in range(2):
        period = rng.uniform(2.2, 4.0)
        angle = rng.uniform(0, np.pi)
        k = np.float32(2 * np.pi / period)
        t += np.sin(k * np.float32(np.cos(angle)) * x + k * np.float32(np.sin(angle)) * y)
    t *= np.float32(0.25)
    t += rng.uniform(-0.3, 0.3, size=(h, w)).astype(np.float32)
    t += np.float32(1.0)
    np.clip(t, 0.05, None, out=t)
    mosaic *= t


def scene_mosaic(shot: ShotSpec, width: int, height: int, pattern: np.ndarray) -> np.ndarray:
    """Expected (noise-free) signal of every photosite, scene units, (height, width) float32.

    Deterministic in ``shot.scene_seed``: shots of a burst share the crop and the point sources
    and differ only by ``shot.shift``.
    """
    if shot.scene not in PHOTO_SCENES and shot.scene not in SPECIAL_SCENES:
        raise ValueError(f"unknown scene {shot.scene!r}")
    rng = np.random.default_rng([shot.scene_seed, 0x5CE4E])
    base = _base_image(shot, width, height, rng)
    if shot.scene == "lenscap":
        return np.zeros((height, width), dtype=np.float32)
    mosaic = _resample_to_mosaic(base, pattern, width, height, shot.shift)
    area = width * height
    if shot.scene == "stars":
        count = max(20, area // 300)
        _point_sources(mosaic, pattern, rng, count, (0.02, 4.0), 0.4, 0.15)
    elif shot.scene == "glints":
        count = max(10, area // 2500)
        _point_sources(mosaic, pattern, rng, count, (1.0, 30.0), 0.3, 0.05)
    elif shot.scene == "texture":
        _texture(mosaic, rng)
    return mosaic
