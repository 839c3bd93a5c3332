"""Colour filter arrays and same-colour neighbours.

A defect is one photosite that disagrees with its neighbours *of the same
colour*: comparing a red photosite with the greens next to it would flag every
coloured edge. This module knows the patterns and, for each position in the
pattern, which nearby photosites share its colour.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# Colour indices: 0 red, 1 green, 2 blue.
BAYER: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "RGGB": ((0, 1), (1, 2)),
    "BGGR": ((2, 1), (1, 0)),
    "GRBG": ((1, 0), (2, 1)),
    "GBRG": ((1, 2), (0, 1)),
}

# Fujifilm X-Trans (X-Trans II/III/IV), as LibRaw reports it for a typical body.
XTRANS: tuple[tuple[int, ...], ...] = (
    (1, 1, 0, 1, 1, 2),
    (1, 1, 2, 1, 1, 0),
    (2, 0, 1, 0, 2, 1),
    (1, 1, 2, 1, 1, 0),
    (1, 1, 0, 1, 1, 2),
    (0, 2, 1, 2, 0, 1),
)

#: Neighbours used for a demosaiced (JPEG) channel: a JPEG smears one bad
#: photosite over about a 3x3 blob, so compare with pixels two away.
RING2: tuple[tuple[int, int], ...] = ((-2, 0), (2, 0), (0, -2), (0, 2))


def pattern(name: str) -> np.ndarray:
    """The CFA pattern for a name such as ``"RGGB"`` or ``"XTRANS"``."""
    key = name.upper()
    if key == "XTRANS":
        return np.array(XTRANS, dtype=np.uint8)
    if key in BAYER:
        return np.array(BAYER[key], dtype=np.uint8)
    raise ValueError(f"unknown CFA pattern name: {name!r}")


def normalise_pattern(cfa: np.ndarray) -> np.ndarray:
    """Fold a second green (LibRaw colour 3) into green and check the shape."""
    arr = np.asarray(cfa, dtype=np.uint8).copy()
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] not in (2, 6):
        raise ValueError(f"cfa must be a 2x2 or 6x6 pattern, got shape {arr.shape}")
    arr[arr == 3] = 1
    return arr


def neighbour_offsets(
    cfa: np.ndarray | None, count: int = 4
) -> tuple[tuple[tuple[int, int], ...], ...]:
    """Same-colour neighbour offsets (dy, dx) for every phase of the pattern.

    Returns one tuple of offsets per phase, phases in row-major order of the
    pattern. For a Bayer or demosaiced frame every phase gets the four
    photosites two steps away, so the caller can use one vectorised pass.
    """
    if cfa is None:
        return (RING2,)
    return _offsets_for(tuple(map(tuple, normalise_pattern(cfa).tolist())), count)


@lru_cache(maxsize=16)
def _offsets_for(
    cfa: tuple[tuple[int, ...], ...], count: int
) -> tuple[tuple[tuple[int, int], ...], ...]:
    arr = np.array(cfa, dtype=np.uint8)
    n = arr.shape[0]
    if n == 2:
        # Bayer: the four orthogonal photosites two away are always the same colour.
        return tuple(RING2 for _ in range(4))
    radius = 3
    candidates = [
        (dy, dx)
        for dy in range(-radius, radius + 1)
        for dx in range(-radius, radius + 1)
        if (dy, dx) != (0, 0)
    ]
    candidates.sort(key=lambda o: (o[0] ** 2 + o[1] ** 2, o))
    phases = []
    for py in range(n):
        for px in range(n):
            colour = arr[py, px]
            same = [o for o in candidates if arr[(py + o[0]) % n, (px + o[1]) % n] == colour]
            phases.append(_balanced(same, count))
    return tuple(phases)


def _balanced(offsets: list[tuple[int, int]], count: int) -> tuple[tuple[int, int], ...]:
    """The nearest ``count`` offsets, preferring ones spread around the centre."""
    chosen: list[tuple[int, int]] = []
    for o in offsets:
        # Skip an offset pointing the same way as one already chosen at the
        # same distance, so that the neighbours surround the photosite.
        if any(np.sign(o[0]) == np.sign(c[0]) and np.sign(o[1]) == np.sign(c[1]) for c in chosen):
            continue
        chosen.append(o)
        if len(chosen) == count:
            return tuple(chosen)
    for o in offsets:  # not enough distinct directions: fill with the nearest
        if o not in chosen:
            chosen.append(o)
        if len(chosen) == count:
            break
    return tuple(chosen)


def border(cfa: np.ndarray | None) -> int:
    """How many rows/columns at each edge lack a full set of neighbours."""
    return max(max(abs(dy), abs(dx)) for ph in neighbour_offsets(cfa) for dy, dx in ph)


#: how far an element near the frame's edge looks for same-colour neighbours in the frame
EDGE_REACH = 4


@dataclass(frozen=True, eq=False)
class EdgeTable:
    """The neighbours of the elements near a frame's edge, row by row.

    Why: an element within :func:`border` of the edge lacks some of the neighbours the
    others use; it is compared with its four nearest same-colour neighbours that lie in
    the frame instead (one-sided at an edge, and at the X-Trans offsets of its own
    colour), so that a defect on the outermost rows and columns is judged like any other.

    For a frame as the kernels see it, (H, W*C) elements: the elements of row ``y`` near
    an edge are ``col[ptr[y]:ptr[y + 1]]`` (element columns, every channel of a pixel),
    each with ``off[k]`` = four (dy, dcolumn) offsets.
    """

    ptr: np.ndarray  #: (H + 1,) int64
    col: np.ndarray  #: (n,) int64
    off: np.ndarray  #: (n, 4, 2) int64


def edge_table(cfa: np.ndarray | None, height: int, width: int, channels: int) -> EdgeTable:
    """The :class:`EdgeTable` of a frame of this pattern, size and channel count."""
    key = None if cfa is None else tuple(map(tuple, normalise_pattern(cfa).tolist()))
    return _edge_table(key, height, width, channels)


def edge_offsets(
    cfa: np.ndarray | None, y: int, x: int, height: int, width: int
) -> tuple[tuple[int, int], ...]:
    """The four same-colour neighbours (dy, dx) in the frame that an element at (y, x) uses
    when it is near an edge: the nearest, preferring ones spread around it."""
    key = None if cfa is None else tuple(map(tuple, normalise_pattern(cfa).tolist()))
    return _situation(key, *_where(key, y, x, height, width))


def _where(
    key: tuple[tuple[int, ...], ...] | None, y: int, x: int, height: int, width: int
) -> tuple[int, int, int, int, int, int]:
    """What decides an element's edge neighbours: its phase and how far each edge is."""
    n = 1 if key is None else len(key)
    reach = EDGE_REACH
    return (
        y % n,
        x % n,
        min(y, reach),
        min(height - 1 - y, reach),
        min(x, reach),
        min(width - 1 - x, reach),
    )


@lru_cache(maxsize=256)
def _situation(
    key: tuple[tuple[int, ...], ...] | None,
    py: int,
    px: int,
    up: int,
    down: int,
    left: int,
    right: int,
) -> tuple[tuple[int, int], ...]:
    inside = [
        (dy, dx)
        for dy, dx in _edge_candidates(key, py, px)
        if -up <= dy <= down and -left <= dx <= right
    ]
    if len(inside) < 4:
        raise ValueError("frame too small to find four same-colour neighbours in it")
    return _balanced(inside, 4)


@lru_cache(maxsize=64)
def _edge_candidates(
    key: tuple[tuple[int, ...], ...] | None, py: int, px: int
) -> tuple[tuple[int, int], ...]:
    """Same-colour offsets within ``EDGE_REACH``, nearest first: for a demosaiced frame the
    pixels outside the demosaic smear (two or more away), for Bayer the photosites of its
    own lattice (both steps even: never the other green), for X-Trans those of its colour."""
    reach = EDGE_REACH
    out = []
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            if key is None:
                ok = max(abs(dy), abs(dx)) >= 2
            elif len(key) == 2:
                ok = (dy, dx) != (0, 0) and dy % 2 == 0 and dx % 2 == 0
            else:
                n = len(key)
                ok = (dy, dx) != (0, 0) and key[(py + dy) % n][(px + dx) % n] == key[py][px]
            if ok:
                out.append((dy, dx))
    out.sort(key=lambda o: (o[0] ** 2 + o[1] ** 2, o))
    return tuple(out)


@lru_cache(maxsize=8)
def _edge_table(
    key: tuple[tuple[int, ...], ...] | None, height: int, width: int, channels: int
) -> EdgeTable:
    cfa = None if key is None else np.array(key, dtype=np.uint8)
    r = border(cfa)
    ptr = np.zeros(height + 1, np.int64)
    cols: list[int] = []
    offs: list[tuple[tuple[int, int], ...]] = []
    for y in range(height):
        edge_row = y < r or y >= height - r
        xs = range(width) if edge_row else [*range(min(r, width)), *range(max(r, width - r), width)]
        for x in xs:
            pick = _situation(key, *_where(key, y, x, height, width))
            for c in range(channels):
                cols.append(x * channels + c)
                offs.append(pick)
        ptr[y + 1] = len(cols)
    off = np.array(offs, dtype=np.int64).reshape(-1, 4, 2)
    off[..., 1] *= channels
    return EdgeTable(ptr, np.array(cols, dtype=np.int64), off)
