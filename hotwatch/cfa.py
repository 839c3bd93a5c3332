"""Colour filter arrays and same-colour neighbours.

A defect is one photosite that disagrees with its neighbours *of the same
colour*: comparing a red photosite with the greens next to it would flag every
coloured edge. This module knows the patterns and, for each position in the
pattern, which nearby photosites share its colour.
"""

from __future__ import annotations

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
