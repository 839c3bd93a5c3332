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


def neighbour_sum2(values: np.ndarray, cfa: np.ndarray | None, y0: int = 0) -> np.ndarray:
    """Twice the robust same-colour neighbour level of every element of a 2-D strip.

    ``values`` (an integer array, so that the work stays in 16-bit arithmetic
    where the values allow) must carry ``border(cfa)`` extra rows above and
    below the rows of interest (a halo); the result has the rows of interest
    only, and the outermost ``border`` columns hold twice the element's own
    value (no evidence there). ``y0`` is the frame row of the first row of
    interest, so that the CFA phase is right.

    The level is the mean of the middle two of the four neighbours (the
    highest and the lowest left out), so one defective neighbour does not
    move it; returning the sum of the two keeps it exact in integers.
    """
    r = border(cfa)
    h = values.shape[0] - 2 * r
    w = values.shape[1]
    out = values[r : r + h] * 2
    offsets = neighbour_offsets(cfa)
    if len(offsets) == 1 or (cfa is not None and np.asarray(cfa).shape[0] == 2):
        _middle_two(values, offsets[0], r, 0, 1, h, w, out, 0)
        return out
    n = np.asarray(cfa).shape[0]
    for py in range(n):
        for px in range(n):
            row0 = (py - y0) % n
            _middle_two(values, offsets[py * n + px], r, row0, n, h, w, out, px, n)
    return out


def _middle_two(
    values: np.ndarray,
    offs: tuple[tuple[int, int], ...],
    r: int,
    row0: int,
    rstep: int,
    h: int,
    w: int,
    out: np.ndarray,
    col0: int,
    cstep: int = 1,
) -> None:
    """Write the sum of the middle two neighbours into ``out[row0::rstep, col0::cstep]``."""
    rows = range(row0, h, rstep)
    if len(rows) == 0:
        return
    c_first = col0 + ((r - col0 + cstep - 1) // cstep) * cstep if col0 < r else col0
    c_last = w - r  # exclusive
    if c_first >= c_last:
        return
    ncols = len(range(c_first, c_last, cstep))
    views = []
    for dy, dx in offs:
        ys = slice(r + row0 + dy, r + row0 + dy + rstep * (len(rows) - 1) + 1, rstep)
        xs = slice(c_first + dx, c_first + dx + cstep * (ncols - 1) + 1, cstep)
        views.append(values[ys, xs])
    a, b, c, d = views[:4]
    lo = np.minimum(a, b)
    hi = np.maximum(a, b)
    np.maximum(lo, np.minimum(c, d), out=lo)  # the larger of the two pair minima
    np.minimum(hi, np.maximum(c, d), out=hi)  # the smaller of the two pair maxima
    lo += hi
    out[row0::rstep, c_first:c_last:cstep] = lo
