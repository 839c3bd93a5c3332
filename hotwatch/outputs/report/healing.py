"""A small numpy picture of how hotwatch's darktable plugin heals a defect.

Why it exists: the report shows each defect beside the same crop *as it will look after the
plugin's fix*, without running darktable. The plugin puts one retouch *heal* circle of radius
3 px and border 1 px on each defect, with a source patch about 10 px away that stays inside
the frame and away from other defects (``hotwatch.darktable.heal.heal_shapes``). darktable's heal
is a Poisson-style blend of that source into the target; here the source patch is copied with
a per-channel offset that matches the median of a ring around the target to the median of the
same ring around the source, and feathered over the border. For the crop beside the original
the two are hard to tell apart, which is all the report needs.

RAW photosites are healed in the mosaic: the source offset is a multiple of the CFA period so
every copied photosite keeps its colour, and the offset is matched per CFA position.

Images are float arrays, (H, W) or (H, W, C), indexed ``[y, x]``; NaN marks pixels outside
the frame (the report pads crops at frame edges with NaN), and a source never touches them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from hotwatch.darktable import heal as darktable
from hotwatch.darktable.heal import BORDER_PX, RADIUS_PX, SOURCE_DISTANCE_PX

_RING_PX = 2.0  # width of the ring whose median matches source to target

__all__ = [
    "BORDER_PX",
    "RADIUS_PX",
    "SOURCE_DISTANCE_PX",
    "heal",
    "heal_source",
    "reach",
]


def reach(radius: float = RADIUS_PX, border: float = BORDER_PX) -> int:
    """Pixels from the centre a heal circle (radius + border) can touch, plus one of margin."""
    return int(radius + border) + 1


def heal_source(
    x: int,
    y: int,
    avoid: Iterable[tuple[int, int]],
    valid: np.ndarray,
    *,
    period: int = 1,
    radius: float = RADIUS_PX,
    border: float = BORDER_PX,
    image: np.ndarray | None = None,
) -> tuple[int, int] | None:
    """The source centre the plugin would pick for a defect at (x, y), or None if none fits.

    The plugin's own rule (:func:`hotwatch.darktable.heal.pick_heal_source`, scored on
    ``image`` when given, as the plugin scores on the photo); here a source also
    needs its whole disc plus a ring for the colour match where ``valid`` ((H, W)
    bool: inside the frame) is true. With ``period`` > 1 (a CFA mosaic) offsets
    are multiples of the period so colours line up.
    """
    h, w = valid.shape
    r = reach(radius, border)
    need = math.ceil(radius + border + _RING_PX)
    others = [(int(px), int(py)) for px, py in avoid if (px, py) != (x, y)]

    def usable(sx: int, sy: int) -> bool:
        if not (need <= sx < w - need and need <= sy < h - need):
            return False
        if not valid[sy - need : sy + need + 1, sx - need : sx + need + 1].all():
            return False
        return not any(abs(px - sx) <= r + 1 and abs(py - sy) <= r + 1 for px, py in others)

    scorer = None if image is None else darktable.patch_mismatch(image)
    return darktable.pick_heal_source(x, y, usable, scorer, period)


def heal(
    image: np.ndarray,
    points: Sequence[tuple[int, int]],
    *,
    period: int = 1,
    radius: float = RADIUS_PX,
    border: float = BORDER_PX,
) -> np.ndarray:
    """A healed float64 copy of ``image``: one feathered heal circle at each (x, y) point.

    Sources are read from the original image and chosen by :func:`heal_source` avoiding every
    point, so healing one defect never copies another. A point whose circle would leave the
    array, or that has no clean source, is left as it is (the plugin would refuse it too).
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {img.shape}")
    out = img.copy()
    planes = img if img.ndim == 3 else img[..., None]
    result = out if out.ndim == 3 else out[..., None]
    valid = np.isfinite(planes).all(axis=2)
    h, w = valid.shape
    span = math.ceil(radius + border + _RING_PX)
    dy, dx = np.mgrid[-span : span + 1, -span : span + 1]
    dist = np.hypot(dx, dy)
    weight = np.clip((radius + border - dist) / max(border, 1e-6), 0.0, 1.0)
    ring = (dist > radius + border) & (dist <= radius + border + _RING_PX)
    pts = [(int(x), int(y)) for x, y in points]
    for x, y in pts:
        if not (span <= x < w - span and span <= y < h - span):
            continue
        src = heal_source(x, y, pts, valid, period=period, radius=radius, border=border, image=img)
        if src is None:
            continue
        sx, sy = src
        target = planes[y - span : y + span + 1, x - span : x + span + 1]
        source = planes[sy - span : sy + span + 1, sx - span : sx + span + 1]
        offset = _ring_offset(target, source, ring, x, y, period)
        patch = source + offset
        blended = weight[..., None] * patch + (1.0 - weight[..., None]) * target
        inside = weight > 0
        window = result[y - span : y + span + 1, x - span : x + span + 1]
        window[inside] = np.where(np.isfinite(target[inside]), blended[inside], target[inside])
    return out


def _ring_offset(
    target: np.ndarray, source: np.ndarray, ring: np.ndarray, x: int, y: int, period: int
) -> np.ndarray:
    """Per channel (and per CFA position) median(target ring) - median(source ring).

    The median, not the mean: a neighbouring defect in the ring must not tint the patch.
    Returns an array shaped like the window, to be added to the source patch.
    """
    span = ring.shape[0] // 2
    offset = np.zeros_like(target)
    yy, xx = np.mgrid[-span : span + 1, -span : span + 1]
    phase = ((yy + y) % period) * period + ((xx + x) % period)
    for p in np.unique(phase):
        sel = phase == p
        use = ring & sel
        if not use.any():
            use = ring
        t = np.nanmedian(target[use], axis=0)
        s = np.nanmedian(source[use], axis=0)
        offset[sel] = np.nan_to_num(t - s)
    return offset
