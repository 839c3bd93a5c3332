"""One body, one sensor: the defects its RAW and JPEG accumulators found, one per photosite.

Why: a body shooting RAW+JPEG (or L and M JPEGs) has an accumulator per frame kind and size,
and each finds the same bad photosite on its own, at its own coordinates and often as its
own kind (a strong hot pixel reads as stuck in a JPEG). A photographer has one sensor and
wants one answer per physical defect. The accumulators stay apart (their pixels never mix);
their defects are unified here, where they are reported.

How: each defect an accumulator confirmed is a :class:`Sighting` in its frame
:class:`Geometry`. The body's sensor is its RAW geometry (the one with most photos). Each
JPEG geometry with a known :class:`~hotwatch.core.frame_map.FrameMap` from the sensor places
its sightings on the photosites, within ``LINK_PIXELS`` of its own pixels; a sighting there
joins the nearest defect within reach (which may hold another sighting of its geometry: a
resampled JPEG can split one photosite's blob over two pixels), or starts one. A RAW
sighting is exact; a JPEG one maps back to a photosite only as well as its blob's centre
(and a resampled JPEG's pixel spans several photosites). A JPEG geometry without a known map
stays apart, each of its sightings a defect of its own: defects are never matched by equal
coordinates, which for a cropped JPEG name different photosites.

The unified defect has one kind (the RAW one's, else that of the largest JPEG that shows
it, its strongest sighting there), the earliest onset and confirmation any sighting has,
its position in every geometry it is known in, and which geometries showed it.
:func:`announcements` says which defects are new to the user: exactly one announcement per
physical defect, whichever kind of frame showed it first.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from .events import geometry_label
from .frame_map import LINK_PIXELS, FrameMap
from .model import DefectKind, FrameKind


@dataclass(frozen=True, order=True)
class Geometry:
    """A frame kind and stored size: one accumulator of a body."""

    kind: FrameKind
    width: int
    height: int

    @property
    def label(self) -> str:
        return geometry_label(self.kind, self.width, self.height)

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def rank(self) -> tuple[bool, int]:
        """How geometries are listed: raws first, then the larger frames."""
        return self.kind is not FrameKind.RAW, -self.pixels


@dataclass(frozen=True)
class Sighting:
    """A defect one accumulator confirmed, at its position in that accumulator's frames."""

    id: int
    geometry: Geometry
    x: int
    y: int
    kind: DefectKind
    score: float
    onset: datetime | None
    confirmed: datetime | None
    announced: bool = True
    seen: bool = True


@dataclass(frozen=True)
class SensorDefect:
    """One physical defect of a body's sensor, however many accumulators showed it."""

    id: int  #: the first of its sightings' ids: stable as more sightings join
    photosite: tuple[int, int] | None  #: on the sensor (RAW geometry); None without one
    exact: bool  #: the photosite was seen in a raw, not mapped back from a JPEG
    #: in every geometry where it is known: where the map puts its photosite when a raw
    #: showed it, else where the JPEG showed it
    positions: Mapping[Geometry, tuple[int, int]]
    sightings: tuple[Sighting, ...]
    kind: DefectKind
    onset: datetime | None
    confirmed: datetime | None
    score: float

    @property
    def shown_in(self) -> tuple[Geometry, ...]:
        """The geometries whose photos showed it (the others' positions are mapped)."""
        return tuple(sorted({s.geometry for s in self.sightings}, key=lambda g: g.rank))

    @property
    def kinds(self) -> tuple[FrameKind, ...]:
        """Which kinds of file showed it (RAW first)."""
        return tuple(dict.fromkeys(g.kind for g in self.shown_in))

    @property
    def announced(self) -> bool:
        return any(s.announced for s in self.sightings)

    @property
    def seen(self) -> bool:
        """The user has seen it: every sighting that was announced is marked seen."""
        told = [s for s in self.sightings if s.announced]
        return bool(told) and all(s.seen for s in told)

    def position(self, geometry: Geometry) -> tuple[int, int] | None:
        return self.positions.get(geometry)

    def labelled_positions(self) -> dict[str, tuple[int, int]]:
        return {g.label: self.positions[g] for g in sorted(self.positions, key=lambda g: g.rank)}


@dataclass(frozen=True)
class SensorView:
    """A body's defects, one per physical defect, and how its geometries relate."""

    sensor: Geometry | None  #: the RAW geometry defects are placed on (None: no raws)
    maps: Mapping[Geometry, FrameMap]  #: JPEG geometry -> map from the sensor, when known
    apart: tuple[Geometry, ...]  #: geometries listed apart: no known map to the sensor
    defects: tuple[SensorDefect, ...]
    geometries: tuple[Geometry, ...] = field(default=())

    @property
    def unified(self) -> bool:
        """Every geometry is placed on one sensor."""
        return self.sensor is not None and not self.apart


@dataclass
class _Cluster:
    x: float
    y: float
    radius: float
    members: dict[Geometry, list[Sighting]]

    def sightings(self) -> list[Sighting]:
        return [s for group in self.members.values() for s in group]


def choose_sensor(frames: Mapping[Geometry, int]) -> Geometry | None:
    """The RAW geometry with the most photos (a body's sRAW/mRAW sizes are placed apart)."""
    raws = [g for g in frames if g.kind is FrameKind.RAW]
    return max(raws, key=lambda g: (frames[g], g.pixels), default=None)


def unify(
    sightings: Iterable[Sighting],
    frames: Mapping[Geometry, int],
    maps: Mapping[Geometry, FrameMap],
) -> SensorView:
    """One entry per physical defect of a body.

    ``frames``: the body's geometries and their photo counts; ``maps``: the known maps from
    the sensor (its RAW geometry) to JPEG geometries.
    """
    by_geometry: dict[Geometry, list[Sighting]] = {g: [] for g in frames}
    for s in sightings:
        by_geometry.setdefault(s.geometry, []).append(s)
    sensor = choose_sensor(frames)
    placed = {g: m for g, m in maps.items() if sensor is not None and g in by_geometry}
    apart = tuple(
        sorted((g for g in by_geometry if g != sensor and g not in placed), key=lambda g: g.rank)
    )
    clusters: list[_Cluster] = []
    if sensor is not None:
        for s in by_geometry[sensor]:
            clusters.append(_Cluster(float(s.x), float(s.y), 0.0, {sensor: [s]}))
    for g in sorted(placed, key=lambda g: -g.pixels):  # L before M: the finest first
        fmap = placed[g]
        for s in sorted(by_geometry[g], key=lambda s: -s.score):
            _place(clusters, g, s, fmap)
    defects = [_defect(c, sensor, placed) for c in clusters]
    for g in apart:
        defects += [_alone(s) for s in by_geometry[g]]
    defects.sort(key=lambda d: d.id)
    listed = tuple(sorted(by_geometry, key=lambda g: g.rank))
    return SensorView(sensor, placed, apart, tuple(defects), listed)


def _place(clusters: list[_Cluster], g: Geometry, s: Sighting, fmap: FrameMap) -> None:
    """A JPEG sighting joins the nearest defect within reach, or starts one.

    Reach: LINK_PIXELS of its own pixels, on the photosites. A defect may take two sightings
    of one geometry: a resampled JPEG can split one photosite's blob over two pixels, and
    the detector then reports both (they are one photosite: pixels that close could not
    tell two apart anyway).
    """
    x, y = fmap.to_raw(s.x, s.y)
    reach = LINK_PIXELS / fmap.scale
    best: tuple[float, _Cluster] | None = None
    for c in clusters:
        d = math.hypot(c.x - x, c.y - y)
        if d <= reach + c.radius and (best is None or d < best[0]):
            best = (d, c)
    if best is None:
        clusters.append(_Cluster(x, y, reach, {g: [s]}))
    else:
        best[1].members.setdefault(g, []).append(s)


def _defect(
    c: _Cluster, sensor: Geometry | None, maps: Mapping[Geometry, FrameMap]
) -> SensorDefect:
    raws = c.members.get(sensor, []) if sensor is not None else []
    raw = raws[0] if raws else None
    photosite = (raw.x, raw.y) if raw is not None else (round(c.x), round(c.y))
    positions: dict[Geometry, tuple[int, int]] = {}
    if sensor is not None:
        positions[sensor] = photosite
    for g, fmap in maps.items():
        own = max(c.members.get(g, []), key=lambda s: s.score, default=None)
        if own is not None and raw is None:
            positions[g] = (own.x, own.y)
            continue
        # from the photosite a raw showed: the map places it to a fraction of a pixel, where
        # a JPEG blob's centre (a resampled one's above all) is a pixel off at times
        m, n = fmap.to_jpeg(*photosite)
        if 0 <= round(m) < g.width and 0 <= round(n) < g.height:
            positions[g] = (round(m), round(n))
        elif own is not None:
            positions[g] = (own.x, own.y)
    return _summary(c.sightings(), photosite, raw is not None, positions)


def _alone(s: Sighting) -> SensorDefect:
    photosite = (s.x, s.y) if s.geometry.kind is FrameKind.RAW else None
    exact = photosite is not None
    return _summary([s], photosite, exact, {s.geometry: (s.x, s.y)})


def _summary(
    members: Sequence[Sighting],
    photosite: tuple[int, int] | None,
    exact: bool,
    positions: Mapping[Geometry, tuple[int, int]],
) -> SensorDefect:
    """The unified facts: the RAW kind, else the largest JPEG's; the earliest dates."""
    lead = max(
        members, key=lambda s: (s.geometry.kind is FrameKind.RAW, s.geometry.pixels, s.score)
    )
    return SensorDefect(
        id=min(s.id for s in members),
        photosite=photosite,
        exact=exact,
        positions=dict(positions),
        sightings=tuple(sorted(members, key=lambda s: s.id)),
        kind=lead.kind,
        onset=earliest(s.onset for s in members),
        confirmed=earliest(s.confirmed for s in members),
        score=max(s.score for s in members),
    )


def earliest(values: Iterable[datetime | None]) -> datetime | None:
    """The earliest of the known times (naive and aware ones compared by wall clock)."""
    known = [v for v in values if v is not None]
    if not known:
        return None
    mixed = len({v.tzinfo is None for v in known}) > 1
    return min(known, key=lambda v: v.replace(tzinfo=None) if mixed else v)


@dataclass(frozen=True)
class Announcements:
    """What to tell the user after new sightings: ``new`` defects (one notification each);
    ``joined``: sightings of defects already announced, to mark announced without a word
    (with the defect's seen mark); ``held``: defects waiting for their geometry's map."""

    new: tuple[SensorDefect, ...] = ()
    joined: tuple[tuple[SensorDefect, tuple[Sighting, ...]], ...] = ()
    held: tuple[SensorDefect, ...] = ()


def announcements(view: SensorView, learning: Iterable[Geometry] = ()) -> Announcements:
    """Exactly one announcement per physical defect, whichever kind of frame showed it first.

    A defect with an announced sighting is known: its new sightings join it silently. One
    with none is new, unless it may yet turn out to be a known one: it was seen in a
    geometry whose map to the sensor is still being learned (``learning``), or on the sensor
    while such a geometry has sightings, and the other side has sightings it could be. It
    then waits for the map (or for learning to give up).
    """
    pending = set(learning)
    busy = {s.geometry for d in view.defects for s in d.sightings}
    new, joined, held = [], [], []
    for d in view.defects:
        fresh = tuple(s for s in d.sightings if not s.announced)
        if not fresh:
            continue
        if d.announced:
            joined.append((d, fresh))
        elif _may_be_known(d, view.sensor, pending, busy):
            held.append(d)
        else:
            new.append(d)
    return Announcements(tuple(new), tuple(joined), tuple(held))


def _may_be_known(
    d: SensorDefect, sensor: Geometry | None, pending: set[Geometry], busy: set[Geometry]
) -> bool:
    if sensor is None or len(d.shown_in) != 1:
        return False
    (g,) = d.shown_in
    if g in pending:
        return sensor in busy
    return g == sensor and bool(pending & busy)
