"""A body's defects as one sensor's, read from the catalogue, and announced once each.

The catalogue keeps what each accumulator found (one row per frame kind and size) and the
body's JPEG <-> raw maps; :mod:`hotwatch.core.sensor` unifies them. This module reads them
into that form (:func:`sensor_view`), learns a map from defects that show in both kinds when
no pair of photos gave one (:func:`learn_from_defects`), and writes the announcements
(:func:`announce`): one ``new_defect`` event per physical defect, whichever kind of file
showed it first; a later sighting of a defect already announced joins it without a word.
"""

from __future__ import annotations

from dataclasses import replace

from hotwatch.core.events import NewDefect
from hotwatch.core.frame_map import MAX_PAIRS, STALE_PHOTOS, FrameMap, from_defects
from hotwatch.core.model import FrameKind
from hotwatch.core.sensor import (
    Geometry,
    SensorDefect,
    SensorView,
    Sighting,
    announcements,
    choose_sensor,
    unify,
)

from .catalogue import Catalogue
from .rows import KNOWN, LEARNING, AccumulatorRow, BodyRow, DefectRow, MapRow


def geometry_of(acc: AccumulatorRow) -> Geometry:
    return Geometry(acc.kind, acc.width, acc.height)


def sighting(row: DefectRow) -> Sighting:
    return Sighting(
        id=row.id,
        geometry=Geometry(row.frame_kind, row.width, row.height),
        x=row.x,
        y=row.y,
        kind=row.kind,
        score=row.score,
        onset=row.onset,
        confirmed=row.confirmed,
        announced=row.announced,
        seen=row.seen,
    )


def _maps(cat: Catalogue, body: BodyRow) -> list[MapRow]:
    """The body's own map rows, then its model's known ones (another body of the model
    learned them) for the geometries it has none known of."""
    own = cat.frame_maps(body.key)
    known = {(m.raw_size, m.jpeg_size) for m in own if m.status == KNOWN}
    for m in cat.model_maps(body.make, body.model):
        if (m.raw_size, m.jpeg_size) not in known:
            known.add((m.raw_size, m.jpeg_size))
            own.append(m)
    return own


def known_maps(cat: Catalogue, body: BodyRow, sensor: Geometry | None) -> dict[Geometry, FrameMap]:
    """JPEG geometry -> the known map from ``sensor`` (the body's, else its model's)."""
    if sensor is None:
        return {}
    out: dict[Geometry, FrameMap] = {}
    for m in _maps(cat, body):
        if m.status == KNOWN and m.map is not None and m.raw_size == (sensor.width, sensor.height):
            out.setdefault(Geometry(FrameKind.JPEG, *m.jpeg_size), m.map)
    return out


def learning(cat: Catalogue, body: BodyRow, sensor: Geometry | None) -> set[Geometry]:
    """The JPEG geometries whose map from ``sensor`` is being learned right now: pairs were
    seen, fewer than MAX_PAIRS were tried, and the last less than STALE_PHOTOS photos ago."""
    if sensor is None:
        return set()
    known = set(known_maps(cat, body, sensor))
    out = set()
    for m in cat.frame_maps(body.key):
        g = Geometry(FrameKind.JPEG, *m.jpeg_size)
        fresh = body.frames - m.tried_at_frames < STALE_PHOTOS and m.attempts < MAX_PAIRS
        on_sensor = m.raw_size == (sensor.width, sensor.height)
        if m.status == LEARNING and fresh and on_sensor and g not in known:
            out.add(g)
    return out


def map_statuses(cat: Catalogue, body: BodyRow, view: SensorView) -> dict[Geometry, str]:
    """Per JPEG geometry of the body: ``known`` (placed on the sensor), ``learning``,
    ``failed`` (pairs did not give one map), or absent (no pair seen yet)."""
    out: dict[Geometry, str] = {g: "known" for g in view.maps}
    if view.sensor is None:
        return out
    for m in cat.frame_maps(body.key):
        g = Geometry(FrameKind.JPEG, *m.jpeg_size)
        if m.raw_size == (view.sensor.width, view.sensor.height):
            out.setdefault(g, m.status)
    return out


def sensor_view(cat: Catalogue, body: BodyRow) -> SensorView:
    """The body's active defects, one per physical defect."""
    frames = {geometry_of(a): a.frames for a in cat.accumulators(body_key=body.key)}
    sensor = choose_sensor(frames)
    seen = [sighting(r) for r in cat.defects(body_key=body.key)]
    return unify(seen, frames, known_maps(cat, body, sensor))


def learn_from_defects(cat: Catalogue, body: BodyRow) -> list[Geometry]:
    """Maps found from defects that show in the RAW and in an L-size JPEG, for the JPEG
    geometries that have none known and are not being learned from pairs either; saved,
    and returned."""
    frames = {geometry_of(a): a.frames for a in cat.accumulators(body_key=body.key)}
    sensor = choose_sensor(frames)
    if sensor is None:
        return []
    known = set(known_maps(cat, body, sensor)) | learning(cat, body, sensor)
    rows = cat.defects(body_key=body.key)
    raw = [(r.x, r.y) for r in rows if sighting(r).geometry == sensor]
    found = []
    for g in frames:
        if g.kind is not FrameKind.JPEG or g in known:
            continue
        jpeg = [(r.x, r.y) for r in rows if sighting(r).geometry == g]
        fmap = from_defects(raw, jpeg, (sensor.width, sensor.height), (g.width, g.height))
        if fmap is not None:
            cat.save_map(
                body.key,
                (sensor.width, sensor.height),
                (g.width, g.height),
                status=KNOWN,
                fmap=fmap,
                source="defects",
                note=f"{len(jpeg)} JPEG defects, {len(raw)} RAW defects",
            )
            found.append(g)
    return found


def announce(cat: Catalogue, body_key: str) -> list[NewDefect]:
    """Write one ``new_defect`` event per physical defect not yet announced (unless it waits
    for a map being learned), mark later sightings of announced defects announced; returns
    the events written."""
    body = cat.body(body_key)
    if body is None:
        return []
    learn_from_defects(cat, body)
    view = sensor_view(cat, body)
    plan = announcements(view, learning(cat, body, view.sensor))
    slugs = {geometry_of(a): a.slug for a in cat.accumulators(body_key=body.key)}
    events = []
    with cat.atomic():
        for d, fresh in plan.joined:
            cat.settle_announcements([s.id for s in fresh], seen=d.seen)
        for d in plan.new:
            cat.settle_announcements([s.id for s in d.sightings])
            event = new_defect_event(body, d, slugs)
            cat.add_event(event)
            events.append(event)
    return events


def new_defect_event(body: BodyRow, d: SensorDefect, slugs: dict[Geometry, str]) -> NewDefect:
    """The event of a new physical defect, told from the sighting that showed it (the raw
    one when there is one), with its positions in every geometry of the body."""
    lead = max(d.sightings, key=lambda s: (s.geometry.kind is FrameKind.RAW, s.geometry.pixels))
    g = lead.geometry
    return NewDefect(
        body_key=body.key,
        body=body.label,
        defect_id=lead.id,
        acc_slug=slugs.get(g, ""),
        x=lead.x,
        y=lead.y,
        kind=d.kind,
        onset=d.onset,
        confirmed=d.confirmed,
        score=d.score,
        frame_kind=g.kind,
        width=g.width,
        height=g.height,
        positions=d.labelled_positions(),
    )


def defects_for_geometry(
    cat: Catalogue, body: BodyRow, kind: FrameKind, width: int, height: int
) -> list[DefectRow]:
    """What to heal in a photo of this geometry: every defect of the body known at a
    position in it, once each: seen there, or placed there from the photosite a raw showed
    (a hot pixel the raws confirmed, in a JPEG-only shot; the map places a photosite more
    exactly than a JPEG blob's centre). Rows as the geometry's own would read (the row of
    the sighting in this geometry when there is one), with the defect's one kind and
    earliest onset.

    A raw is never healed at a photosite only a JPEG showed: mapped back from a blob's
    centre (and through an M size's scale) it may be a photosite off, the exports leave
    it out for the same reason, and the raws will show it themselves if it is there.
    """
    here = Geometry(kind, width, height)
    view = sensor_view(cat, body)
    rows = {r.id: r for r in cat.defects(body_key=body.key)}
    out: list[DefectRow] = []
    for d in view.defects:
        at = d.position(here)
        if at is None or (here.kind is FrameKind.RAW and not d.exact):
            continue
        own = next((s for s in d.sightings if s.geometry == here), None)
        lead = own or max(d.sightings, key=lambda s: s.geometry.kind is FrameKind.RAW)
        out.append(_moved(rows[lead.id], here, at, d))
    out.sort(key=lambda r: (r.y, r.x))
    return out


def _moved(row: DefectRow, g: Geometry, at: tuple[int, int], d: SensorDefect) -> DefectRow:
    """A defect's row as it would read in geometry ``g``, at its mapped position."""
    return replace(
        row,
        x=at[0],
        y=at[1],
        frame_kind=g.kind,
        width=g.width,
        height=g.height,
        kind=d.kind,
        onset=d.onset,
        confirmed=d.confirmed,
    )
