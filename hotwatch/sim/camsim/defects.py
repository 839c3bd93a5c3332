"""Planting defects in a simulated sensor, and the ground truth a detector is scored on."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from .specs import DEFECT_KINDS, PlantedDefect, SensorSpec, ShotSpec

_DEFAULT_STRENGTHS: dict[str, tuple[float, float]] = {
    "hot": (10.0, 10000.0),  # e-/s, log-uniform: from night-only to visible in daylight
    "partial": (0.01, 0.10),  # fraction of (white - black), log-uniform, stored as DN
    "stuck": (0.5, 1.0),  # one of the two ends: mid or high
    "dead": (0.0, 0.0),
}


def plant_defects(
    sensor: SensorSpec,
    counts: dict[str, int],
    late_fraction: float = 0.0,
    seed: int = 0,
    *,
    n_shots: int = 100,
    onset_range: tuple[float, float] = (0.5, 0.8),
    spacing: int = 8,
    edge: int = 4,
    strengths: dict[str, tuple[float, float]] | None = None,
    avoid: Sequence[tuple[int, int]] = (),
) -> list[PlantedDefect]:
    """Plant ``counts[kind]`` defects at random positions at least ``spacing`` px apart.

    A ``late_fraction`` of them (rounded, over all kinds) appear part-way, at an onset index
    drawn in ``onset_range`` x ``n_shots``; the rest are present from shot 0. Positions keep
    ``edge`` px from the frame border (0: anywhere, the outermost rows included) and
    ``spacing`` px from every position in ``avoid`` (defects planted otherwise).
    """
    unknown = set(counts) - set(DEFECT_KINDS)
    if unknown:
        raise ValueError(f"unknown defect kinds: {sorted(unknown)}")
    if not 0.0 <= late_fraction <= 1.0:
        raise ValueError(f"late_fraction must be in [0, 1], got {late_fraction}")
    rng = np.random.default_rng([seed, 0xDEFEC7])
    ranges = {**_DEFAULT_STRENGTHS, **(strengths or {})}
    kinds = [k for k in DEFECT_KINDS for _ in range(int(counts.get(k, 0)))]
    positions = _spaced_positions(
        rng, len(kinds), sensor.width, sensor.height, spacing, edge, avoid
    )
    n_late = round(len(kinds) * late_fraction)
    late = set(rng.choice(len(kinds), size=n_late, replace=False).tolist()) if n_late else set()
    lo = max(1, int(onset_range[0] * n_shots))
    hi = max(lo + 1, int(onset_range[1] * n_shots))
    out = []
    for i, (kind, (x, y)) in enumerate(zip(kinds, positions, strict=True)):
        onset = int(rng.integers(lo, hi)) if i in late else 0
        out.append(PlantedDefect(int(x), int(y), kind, _strength(rng, kind, ranges, sensor), onset))
    return out


def _strength(
    rng: np.random.Generator, kind: str, ranges: dict[str, tuple[float, float]], s: SensorSpec
) -> float:
    lo, hi = ranges[kind]
    if kind == "stuck":
        return float(rng.choice([lo, hi]))
    if kind == "dead":
        return 0.0
    value = float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if lo > 0 else float(hi)
    if kind == "partial":
        return round(value * (s.white_level - s.black_level), 1)
    return round(value, 2)


def _spaced_positions(
    rng: np.random.Generator,
    n: int,
    width: int,
    height: int,
    spacing: int,
    edge: int,
    avoid: Sequence[tuple[int, int]] = (),
) -> list[tuple[int, int]]:
    """Rejection sampling on a grid hash: O(n) and plenty for the few hundred defects used."""
    if n == 0:
        return []
    if width - 2 * edge <= 0 or height - 2 * edge <= 0:
        raise ValueError("frame too small for the edge margin")
    taken: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for x, y in avoid:
        taken.setdefault((x // spacing, y // spacing), []).append((x, y))
    out: list[tuple[int, int]] = []
    for _ in range(200):
        xs = rng.integers(edge, width - edge, size=4 * n + 16)
        ys = rng.integers(edge, height - edge, size=4 * n + 16)
        for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
            cx, cy = x // spacing, y // spacing
            near = (
                p
                for gx in (cx - 1, cx, cx + 1)
                for gy in (cy - 1, cy, cy + 1)
                for p in taken.get((gx, gy), ())
            )
            if any(max(abs(px - x), abs(py - y)) < spacing for px, py in near):
                continue
            taken.setdefault((cx, cy), []).append((x, y))
            out.append((x, y))
            if len(out) == n:
                return out
    raise ValueError(f"cannot place {n} defects {spacing} px apart in {width}x{height}")


#: Neighbouring defects planted by :func:`plant_hard_cases`: (dx, dy) from the first to the
#: second, their kinds, and whether the second appears later. On a Bayer sensor one step
#: apart is always another colour (a diagonal step on a green site: the other green), two
#: steps in a line the same colour, a knight's move another colour.
PAIRS: tuple[tuple[int, int, str, str, bool], ...] = (
    (1, 0, "hot", "hot", False),
    (1, 0, "hot", "dead", False),  # a hot photosite directly beside a dead one
    (0, 1, "stuck", "hot", True),
    (1, 1, "hot", "hot", True),  # diagonal: the two greens when planted on a green site
    (2, 0, "hot", "dead", False),  # two steps: same colour, each in the other's neighbourhood
    (2, 0, "hot", "hot", True),
    (0, 2, "partial", "hot", False),
    (2, 1, "stuck", "dead", False),
)


_WEAK_HOT = (30.0, 150.0)  #: e-/s: shows only in long night exposures
_STRONG_HOT = (400.0, 5000.0)
_BORDER_KINDS = ("hot", "stuck", "dead", "partial", "hot", "dead", "partial", "hot", "stuck", "hot")


def plant_hard_cases(
    sensor: SensorSpec,
    seed: int = 0,
    *,
    n_shots: int = 100,
    onset_range: tuple[float, float] = (0.3, 0.7),
    spacing: int = 12,
    plain: int = 4,
) -> list[PlantedDefect]:
    """The defects that real sensors have and simple detectors miss, one category each.

    * ``border``: on the frame's first and last two rows and columns, and in two corners;
    * ``pair``: the :data:`PAIRS`, one and two photosites apart, of the same and of
      different colours, with the same and with different onsets;
    * ``weak``: hot photosites that stand out only in long night exposures (RAW finds them);
    * ``emerging``: hot, stuck, dead and partially stuck photosites appearing part-way;
    * ``hot``, ``partial``, ``stuck``, ``dead``: ``plain`` ordinary ones of each kind.

    Every group keeps ``spacing`` px from every other; late onsets fall in ``onset_range``
    x ``n_shots``.
    """
    rng = np.random.default_rng([seed, 0x4A2D])
    w, h = sensor.width, sensor.height
    lo, hi = max(1, int(onset_range[0] * n_shots)), max(2, int(onset_range[1] * n_shots))
    out: list[PlantedDefect] = []

    def add(x: int, y: int, kind: str, category: str, late: bool = False, **k: float) -> None:
        strength = _hard_strength(rng, kind, sensor, **k)
        onset = int(rng.integers(lo, hi)) if late else 0
        out.append(PlantedDefect(int(x), int(y), kind, strength, onset, category))

    # along each side, away from the corners (planted there too) and from each other
    along_x = [x + spacing for x, _ in _spaced_positions(rng, 4, w - 2 * spacing, 1, spacing, 0)]
    along_y = [y + spacing for _, y in _spaced_positions(rng, 4, 1, h - 2 * spacing, spacing, 0)]
    sides = [(0, along_y[0]), (1, along_y[1]), (w - 1, along_y[2]), (w - 2, along_y[3])]
    sides += [(along_x[0], 0), (along_x[1], 1), (along_x[2], h - 1), (along_x[3], h - 2)]
    sides += [(0, 0), (w - 1, h - 1)]
    for (x, y), kind in zip(sides, _BORDER_KINDS, strict=True):
        add(x, y, kind, "border")
    anchors = _spaced_positions(rng, len(PAIRS), w, h, spacing, spacing, _xy(out))
    for (x, y), (dx, dy, first, second, later) in zip(anchors, PAIRS, strict=True):
        if dx and dy and sensor.period == 2 and (x + y) % 2 == 0:
            x += 1  # the diagonal pair on a green site: the two greens
        add(x, y, first, "pair")
        add(x + dx, y + dy, second, "pair", later)
    for x, y in _spaced_positions(rng, 4, w, h, spacing, spacing, _xy(out)):
        add(x, y, "hot", "weak", rate=_WEAK_HOT)
    late_kinds = ("hot", "stuck", "dead", "partial", "hot", "hot")
    for (x, y), kind in zip(
        _spaced_positions(rng, len(late_kinds), w, h, spacing, spacing, _xy(out)),
        late_kinds,
        strict=True,
    ):
        add(x, y, kind, "emerging", True)
    for kind in ("hot", "partial", "stuck", "dead"):
        for x, y in _spaced_positions(rng, plain, w, h, spacing, spacing, _xy(out)):
            add(x, y, kind, kind)
    return out


def _xy(defects: Iterable[PlantedDefect]) -> list[tuple[int, int]]:
    return [(d.x, d.y) for d in defects]


def _hard_strength(
    rng: np.random.Generator,
    kind: str,
    s: SensorSpec,
    rate: tuple[float, float] = _STRONG_HOT,
) -> float:
    if kind == "hot":
        return _strength(rng, kind, {"hot": rate}, s)
    return _strength(rng, kind, _DEFAULT_STRENGTHS, s)


def ground_truth(defects: Iterable[PlantedDefect], shots: Sequence[ShotSpec]) -> list[dict]:
    """JSON-friendly truth: x, y, kind, accepted DefectKinds, strength, onset index and time,
    and the category a benchmark reports it under (its kind when it has none)."""
    out = []
    for d in defects:
        onset = d.onset_at(shots)
        out.append(
            {
                "x": d.x,
                "y": d.y,
                "kind": d.kind,
                "accepted_kinds": [k.value for k in d.accepted_kinds],
                "strength": d.strength,
                "onset_index": d.onset_index,
                "onset": onset.isoformat() if onset else None,
                "category": d.category or d.kind,
            }
        )
    return out
