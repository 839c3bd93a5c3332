"""Where a camera's JPEG of one size sits on its raw photosites: a per-axis affine map.

Why it is needed: a camera JPEG is not the raw's photosite grid. It is a crop of it, a few
photosites in from the visible area's corner (Canon records where, Nikon and Sony do not),
and at M and S sizes the crop is resampled. A defect at photosite (x, y) shows in the JPEG at

    m = sx * x + tx,    n = sy * y + ty

(pixel centres; both grids as stored, never rotated by Orientation): ``sx = sy = 1`` and
``(tx, ty) = -(crop origin)`` for an L-size JPEG, ``sx = w / crop width`` and
``tx = sx * (0.5 - crop left) - 0.5`` for a resampled one. Matching RAW and JPEG defects by
equal coordinates is therefore wrong; this map, learned per body (see
:mod:`hotwatch.core.register` and :func:`from_defects`), is what relates them.

Learning is by agreement: single fits (one RAW+JPEG pair each) are kept until at least
:data:`AGREEING` of them put the frame's four corners within :data:`CORNER_TOLERANCE` JPEG
pixels of each other (:func:`settle`); the map is their median, snapped to whole photosites
when it is an unscaled crop.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

AGREEING = 3  #: fits that must agree before a map is known
MAX_PAIRS = 20  #: RAW+JPEG pairs registered at most: then the map is given up (failed)
#: a map still learning after this many more photos of its body, none of them a pair, is
#: no longer waited for (the body stopped shooting RAW+JPEG)
STALE_PHOTOS = 50
CORNER_TOLERANCE = 0.5  #: JPEG pixels: how far apart agreeing fits may put a frame corner
SNAP = 0.15  #: an offset this close to a whole photosite is one (unscaled crops)
#: a JPEG defect is this many of its pixels from where its photosite maps, at most: a JPEG
#: blob's centre is found within a pixel of the photosite that caused it
LINK_PIXELS = 1.5


@dataclass(frozen=True)
class FrameMap:
    """raw_image_visible photosite (x, y) -> stored JPEG pixel (m, n), centres."""

    sx: float
    tx: float
    sy: float
    ty: float

    def to_jpeg(self, x: float, y: float) -> tuple[float, float]:
        return self.sx * x + self.tx, self.sy * y + self.ty

    def to_raw(self, m: float, n: float) -> tuple[float, float]:
        return (m - self.tx) / self.sx, (n - self.ty) / self.sy

    @property
    def scale(self) -> float:
        """JPEG pixels per photosite (1 for an L-size crop, about 0.5 to 0.75 for M/S)."""
        return (self.sx + self.sy) / 2.0

    @property
    def unscaled(self) -> bool:
        return self.sx == 1.0 and self.sy == 1.0

    def crop_origin(self) -> tuple[float, float]:
        """The photosite (x, y) where the JPEG's crop starts (its left and top edge)."""
        return 0.5 - (self.tx + 0.5) / self.sx, 0.5 - (self.ty + 0.5) / self.sy

    def corner_distance(self, other: FrameMap, raw_width: int, raw_height: int) -> float:
        """The largest distance, in JPEG pixels, at which the two maps put a frame corner."""
        worst = 0.0
        for x, y in itertools.product((0, raw_width - 1), (0, raw_height - 1)):
            (a, b), (c, d) = self.to_jpeg(x, y), other.to_jpeg(x, y)
            worst = max(worst, math.hypot(a - c, b - d))
        return worst

    def snapped(self, raw_width: int, raw_height: int) -> FrameMap:
        """Whole photosites for an unscaled crop: a scale within half a pixel of 1 across
        the frame is 1, and an offset within ``SNAP`` of an integer is that integer."""
        if abs(self.sx - 1) * raw_width >= 0.5 or abs(self.sy - 1) * raw_height >= 0.5:
            return self
        tx = round(self.tx) if abs(self.tx - round(self.tx)) < SNAP else self.tx
        ty = round(self.ty) if abs(self.ty - round(self.ty)) < SNAP else self.ty
        return FrameMap(1.0, float(tx), 1.0, float(ty))

    def to_list(self) -> list[float]:
        return [self.sx, self.tx, self.sy, self.ty]

    @classmethod
    def from_list(cls, values: Sequence[float]) -> FrameMap:
        sx, tx, sy, ty = (float(v) for v in values)
        return cls(sx, tx, sy, ty)


def crop(left: float, top: float, width: float, height: float, out_w: int, out_h: int) -> FrameMap:
    """The map of a JPEG that is the crop (left, top, width x height photosites) resampled to
    out_w x out_h pixels with centres aligned (what every resampler does)."""
    sx, sy = out_w / width, out_h / height
    return FrameMap(sx, sx * (0.5 - left) - 0.5, sy, sy * (0.5 - top) - 0.5)


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def settle(
    fits: Sequence[FrameMap],
    raw_width: int,
    raw_height: int,
    *,
    agreeing: int = AGREEING,
    tolerance: float = CORNER_TOLERANCE,
) -> FrameMap | None:
    """The map that ``agreeing`` or more fits agree on (the largest such group, its
    per-parameter median, snapped), or None while they do not."""
    best: list[FrameMap] = []
    for anchor in fits:
        group = [f for f in fits if f.corner_distance(anchor, raw_width, raw_height) <= tolerance]
        if len(group) > len(best):
            best = group
    if len(best) < agreeing:
        return None
    median = FrameMap(*(_median([f.to_list()[i] for f in best]) for i in range(4)))
    return median.snapped(raw_width, raw_height)


#: the share of the smaller side's defects the crop's offset must explain (see from_defects)
SHARE = 0.5


def from_defects(
    raw_points: Sequence[tuple[int, int]],
    jpeg_points: Sequence[tuple[int, int]],
    raw_size: tuple[int, int],
    jpeg_size: tuple[int, int],
    *,
    agreeing: int = AGREEING,
) -> FrameMap | None:
    """An unscaled crop's map from defects that show in both kinds, or None.

    Why: a body shot only at night, or only of featureless scenes, gives no registration,
    but its strong defects show in RAW and JPEG alike. Only an L-size JPEG (no larger than
    the raw, and under 5% smaller) is tried: every (RAW, JPEG) pair whose offset could be
    the crop's votes for it. An offset is the crop's when ``agreeing`` distinct defects on
    both sides support it, each within a pixel (a JPEG blob's centre), and these are at
    least ``SHARE`` of the smaller side's defects, and no other offset gathers half as
    many; the map is their median offset, rounded to whole photosites.
    """
    (rw, rh), (jw, jh) = raw_size, jpeg_size
    if not (0.95 * rw <= jw <= rw and 0.95 * rh <= jh <= rh):
        return None
    # the crop lies inside the raw: its offset is between -(size difference) and 0; no
    # offset at all is left to registration (it is what equal coordinates would say)
    votes = [
        (m - x, n - y)
        for x, y in raw_points
        for m, n in jpeg_points
        if jw - rw - 1 <= m - x <= 1 and jh - rh - 1 <= n - y <= 1
    ]
    votes = [v for v in votes if max(abs(v[0]), abs(v[1])) > 1]
    groups = sorted(
        ([(a, b) for a, b in votes if abs(a - dx) <= 1 and abs(b - dy) <= 1] for dx, dy in votes),
        key=len,
        reverse=True,
    )
    if not groups:
        return None
    best = groups[0]
    chosen = set(best)
    pairs = [
        (r, j) for r in raw_points for j in jpeg_points if (j[0] - r[0], j[1] - r[1]) in chosen
    ]
    support = min(len({r for r, _ in pairs}), len({j for _, j in pairs}))
    # Hundreds of unrelated points agree by chance on some offset: the crop's must explain
    # most of the defects the smaller side shows, and clearly beat any other offset.
    runner_up = next((g for g in groups if not chosen & set(g)), [])
    if (
        support < agreeing
        or support < SHARE * min(len(set(raw_points)), len(set(jpeg_points)))
        or len(runner_up) * 2 > len(best)
    ):
        return None
    tx = round(_median([float(a) for a, _ in best]))
    ty = round(_median([float(b) for _, b in best]))
    return FrameMap(1.0, float(tx), 1.0, float(ty))
