"""Where a photo's defects land in darktable, and where each is healed from.

The plugin heals a defect with one retouch heal circle of radius 3 px (border 1 px) whose
source is a clean patch about 10 px away: inside the frame, away from other defects and,
with a scorer, the candidate whose surroundings look most like the defect's (a source
across an edge would paint the edge into the heal). :func:`pick_heal_source` is that
choice; the report's healed crops make it too (:mod:`hotwatch.outputs.report.healing`), so
they show what darktable will do. :class:`SidecarTarget` maps stored-frame coordinates to
darktable's normalised pipe input (the uncropped sensor buffer for RAW, the pixel grid for
JPEG, mirrored as the EXIF orientation says).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from .params import HealCircle, form_ids

RADIUS_PX = 3.0  # retouch skips masks <= 2 px wide
BORDER_PX = 1.0
SOURCE_DISTANCE_PX = 10


# EXIF orientation -> (sensor x mirrored, sensor y mirrored) on display
_MIRRORS = {
    1: (False, False),
    2: (True, False),
    3: (True, True),
    4: (False, True),
    5: (False, False),
    6: (False, True),
    7: (True, True),
    8: (True, False),
}


@dataclass(frozen=True)
class SidecarTarget:
    """Where a photo's defects land in darktable's pipe input.

    ``width``/``height`` are the pipe input size darktable normalises masks by:
    for RAW the uncropped sensor buffer (rawpy ``raw_width``/``raw_height``),
    for JPEG the pixel grid. Defect coordinates are in the stored visible frame
    (``raw_image_visible`` for RAW) and are shifted by the margins.
    """

    kind: str  # "raw" | "jpeg"
    width: int
    height: int
    visible_width: int
    visible_height: int
    left_margin: int = 0
    top_margin: int = 0
    orientation: int = 1

    def __post_init__(self) -> None:
        if self.kind not in ("raw", "jpeg"):
            raise ValueError(f"kind must be 'raw' or 'jpeg', not {self.kind!r}")
        if min(self.width, self.height, self.visible_width, self.visible_height) <= 0:
            raise ValueError("sizes must be positive")
        if (
            self.left_margin < 0
            or self.top_margin < 0
            or self.left_margin + self.visible_width > self.width
            or self.top_margin + self.visible_height > self.height
        ):
            raise ValueError("the visible area must lie inside the pipe input")
        if self.orientation not in _MIRRORS:
            raise ValueError(
                f"orientation must be an EXIF orientation 1..8, not {self.orientation}"
            )

    @classmethod
    def jpeg(cls, width: int, height: int, orientation: int = 1) -> SidecarTarget:
        return cls("jpeg", width, height, width, height, 0, 0, orientation)

    @classmethod
    def raw(
        cls,
        raw_width: int,
        raw_height: int,
        visible_width: int,
        visible_height: int,
        left_margin: int,
        top_margin: int,
        orientation: int = 1,
    ) -> SidecarTarget:
        return cls(
            "raw",
            raw_width,
            raw_height,
            visible_width,
            visible_height,
            left_margin,
            top_margin,
            orientation,
        )


def defects_applicable(defects: Iterable, taken_at: datetime | None) -> list:
    """The defects already present when the photo was taken (onset <= capture time).

    A defect without an onset always applies, and so does every defect to a photo
    without a capture time: we cannot tell what was defective then, and healing a
    pixel that was still sound costs nothing a print shows, where leaving a hot one
    does.
    """
    out = []
    for d in defects:
        onset = d.get("onset") if isinstance(d, dict) else getattr(d, "onset", None)
        if isinstance(onset, str):
            onset = datetime.fromisoformat(onset)
        if onset is None or taken_at is None or _comparable(onset, taken_at):
            out.append(d)
    return out


def _comparable(onset: datetime, taken_at: datetime) -> bool:
    """onset <= taken_at, comparing naive and aware datetimes by wall clock."""
    if (onset.tzinfo is None) != (taken_at.tzinfo is None):
        onset, taken_at = onset.replace(tzinfo=None), taken_at.replace(tzinfo=None)
    return onset <= taken_at


def heal_shapes(
    defects: Sequence[tuple[int, int]],
    geometry: SidecarTarget,
    scorer: Callable[[int, int, int, int], float] | None = None,
) -> list[HealCircle]:
    """One heal circle per defect, with a heal source that avoids defects and edges.

    Positions are sorted and deduplicated so the same list always gives the
    same circles (and form ids) whatever order the caller used. ``scorer(x, y,
    sx, sy)``, when given, rates a candidate source by how unlike the defect's
    surroundings it looks (lower is better; see :func:`patch_mismatch`): a
    source across an edge would paint the edge into the heal.
    """
    g = geometry
    points = sorted({(int(x), int(y)) for x, y in defects})
    for x, y in points:
        if not (0 <= x < g.visible_width and 0 <= y < g.visible_height):
            raise ValueError(
                f"defect ({x}, {y}) lies outside the {g.visible_width}x{g.visible_height} frame"
            )
    mirror_x, mirror_y = _MIRRORS[g.orientation]
    dx, dy = (1 if mirror_x else 0), (1 if mirror_y else 0)
    scale = float(min(g.width, g.height))
    ids = form_ids(g.kind, points)
    taken = set(points)
    out = []
    for (x, y), formid in zip(points, ids, strict=True):
        sx, sy = _heal_source(x, y, taken, g, scorer)
        bx, by = x + g.left_margin + dx, y + g.top_margin + dy
        out.append(
            HealCircle(
                x=x,
                y=y,
                formid=formid,
                center=(bx / g.width, by / g.height),
                radius=RADIUS_PX / scale,
                border=BORDER_PX / scale,
                source=(
                    (sx + g.left_margin + dx) / g.width,
                    (sy + g.top_margin + dy) / g.height,
                ),
            )
        )
    return out


def _heal_source(
    x: int,
    y: int,
    defects: set[tuple[int, int]],
    g: SidecarTarget,
    scorer: Callable[[int, int, int, int], float] | None = None,
) -> tuple[int, int]:
    """A source whose whole disc is inside the frame and free of defects."""
    reach = int(RADIUS_PX + BORDER_PX) + 1  # pixels the source disc can touch

    def usable(sx: int, sy: int) -> bool:
        inside = reach <= sx < g.visible_width - reach and reach <= sy < g.visible_height - reach
        return inside and not any(
            abs(px - sx) <= reach + 1 and abs(py - sy) <= reach + 1 for px, py in defects
        )

    found = pick_heal_source(x, y, usable, scorer)
    if found is None:
        raise ValueError(f"no clean heal source near ({x}, {y}): frame too small or too crowded")
    return found


def pick_heal_source(
    x: int,
    y: int,
    usable: Callable[[int, int], bool],
    scorer: Callable[[int, int, int, int], float] | None = None,
    period: int = 1,
) -> tuple[int, int] | None:
    """The plugin's choice of heal source for a defect at (x, y), or None.

    Candidates lie 10, 12, ... px away in the four axis and four diagonal
    directions (offsets rounded to multiples of ``period``, for a CFA mosaic);
    ``usable`` says which may be used. Without a scorer the nearest usable one
    wins; with one, the best-matching usable one within 10-24 px. The report's
    healed crops use this too, so they show what darktable will do.
    """
    if period < 1:
        raise ValueError(f"period must be >= 1, got {period}")
    best: tuple[float, tuple[int, int]] | None = None
    for dist in range(SOURCE_DISTANCE_PX, SOURCE_DISTANCE_PX + 40, 2):
        if best is not None and (scorer is None or dist > SOURCE_DISTANCE_PX + 14):
            return best[1]
        for ox, oy in _source_offsets(dist, period):
            sx, sy = x + ox, y + oy
            if not usable(sx, sy):
                continue
            if scorer is None:
                return sx, sy
            cost = scorer(x, y, sx, sy)
            if best is None or cost < best[0]:
                best = (cost, (sx, sy))
    return best[1] if best is not None else None


def _source_offsets(dist: int, period: int) -> list[tuple[int, int]]:
    """The eight offsets at ``dist``: axes first, then diagonals (snapped, never to zero)."""

    def snap(v: int) -> int:
        if period == 1 or v == 0:
            return v
        s = round(abs(v) / period) * period or period
        return s if v > 0 else -s

    d, diag = snap(dist), snap(round(dist / 1.4142))
    return [
        (d, 0),
        (-d, 0),
        (0, d),
        (0, -d),
        (diag, diag),
        (-diag, diag),
        (diag, -diag),
        (-diag, -diag),
    ]


def patch_mismatch(image: np.ndarray, half: int = 5) -> Callable[[int, int, int, int], float]:
    """A heal-source scorer: mean absolute difference of the two neighbourhoods.

    ``image`` is the stored frame (RAW mosaic or RGB). The 2x2-averaged image
    is compared over a (2*half+1)^2 window around the defect and around the
    candidate, leaving out the defect's own 5x5 core, so colour filter phase
    and the defect itself do not count.
    """
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 3:
        img = img.mean(axis=2)
    smooth = img.copy()
    smooth[:-1, :-1] = (img[:-1, :-1] + img[1:, :-1] + img[:-1, 1:] + img[1:, 1:]) / 4
    h, w = smooth.shape
    core = np.ones((2 * half + 1, 2 * half + 1), dtype=bool)
    core[half - 2 : half + 3, half - 2 : half + 3] = False

    def window(cx: int, cy: int) -> np.ndarray | None:
        if cx - half < 0 or cy - half < 0 or cx + half >= w or cy + half >= h:
            return None
        return smooth[cy - half : cy + half + 1, cx - half : cx + half + 1]

    def score(x: int, y: int, sx: int, sy: int) -> float:
        a, b = window(x, y), window(sx, sy)
        if a is None or b is None:
            return float("inf")
        cost = float(np.abs(a - b)[core].mean())
        return cost if np.isfinite(cost) else float("inf")

    return score
