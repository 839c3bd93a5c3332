"""What the report shows, read from the catalogue (and the photos still on disk) into plain
dataclasses that the SVG, PNG and HTML writers only draw."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hotwatch.core.model import FileStatus, FrameKind
from hotwatch.core.sensor import Geometry, SensorDefect, SensorView
from hotwatch.state import sensors
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.rows import AccumulatorRow, BodyRow, DefectRow

from .crops import Crop, best_crops
from .times import month_key, month_range, ts

MIN_GROWTH_DAYS = 90  #: no growth rate over a shorter history: a rate over weeks is noise
LATE_AFTER_HOURS = 24.0  #: "appeared later" = onset this long after the first photo


@dataclass(frozen=True)
class Growth:
    """New defects per year over an accumulator's history, or why there is no figure."""

    new: int  # defects whose onset is after the first photo
    days: float  # first to last photo
    per_year: float | None
    note: str


@dataclass(frozen=True)
class AccSection:
    """One accumulator (frame kind and size) of a body and what was found in it."""

    acc: AccumulatorRow
    defects: list[DefectRow]  # active
    gone: list[DefectRow]
    crops: dict[int, Crop]  # by defect id
    growth: Growth

    @property
    def title(self) -> str:
        unit = "photosites" if self.acc.kind is FrameKind.RAW else "pixels"
        return f"{self.acc.kind.value.upper()} {unit}, {self.acc.width}×{self.acc.height}"


@dataclass(frozen=True)
class BodySection:
    body: BodyRow
    slug: str
    accs: list[AccSection]
    months: list[tuple[str, int, int]]  # ("2024-03", raw photos, jpeg photos), no gaps
    undated: int  # ingested photos that keep no capture date (they date no defect)
    first: datetime | None
    last: datetime | None
    status: dict[str, dict[str, int]]
    #: the body's defects, one per physical defect, placed on its sensor
    sensor: SensorView | None = None

    @property
    def sensor_section(self) -> AccSection | None:
        """The accumulator of the sensor's geometry (the RAW one defects are placed on)."""
        if self.sensor is None or self.sensor.sensor is None:
            return None
        g = self.sensor.sensor
        return next((a for a in self.accs if _geometry(a.acc) == g), None)

    @property
    def apart(self) -> list[AccSection]:
        """The accumulators whose defects are listed apart (no known map to the sensor)."""
        if self.sensor is None or self.sensor.sensor is None:
            return list(self.accs)
        return [a for a in self.accs if _geometry(a.acc) in self.sensor.apart]

    def crop_of(self, d: SensorDefect) -> tuple[AccSection, int] | None:
        """The close-up of a physical defect: from the sensor's photos if they show it, else
        from the first geometry that does."""
        for s in sorted(d.sightings, key=lambda s: s.geometry.rank):
            for sec in self.accs:
                if s.id in sec.crops:
                    return sec, s.id
        return None


def _geometry(acc: AccumulatorRow) -> Geometry:
    return Geometry(acc.kind, acc.width, acc.height)


@dataclass(frozen=True)
class Report:
    title: str
    generated: datetime
    bodies: list[BodySection]
    all_files: dict[str, dict[str, int]] | None = None  # whole catalogue, all-bodies report
    # files no body could be read for (skipped or failed before identification), by reason
    unattributed: dict[str, dict[str, int]] = field(default_factory=dict)


def body_slug(body: BodyRow) -> str:
    """File-name-safe body name: ``nikon-d80-3012345``."""
    text = f"{body.make} {body.model} {body.serial or 'no-serial'}".lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-") or "body"


def collect(cat: Catalogue, bodies: Sequence[BodyRow] | None = None) -> Report:
    """Read everything the report shows: the given bodies (default: all), crops from disk,
    and each body's defects placed on its sensor, one per physical defect."""
    everyone = bodies is None
    chosen = list(cat.bodies() if bodies is None else bodies)
    sections = [_body_section(cat, b) for b in chosen]
    if everyone:
        title = "hotwatch sensor report: all bodies"
    elif len(chosen) == 1:
        title = f"hotwatch sensor report: {chosen[0].label}"
    else:
        title = "hotwatch sensor report: " + ", ".join(b.label for b in chosen)
    every_file = cat.status_counts(None)
    return Report(
        title=title,
        generated=datetime.now(UTC),
        bodies=sections,
        all_files=every_file if everyone else None,
        unattributed=_unattributed(cat, every_file),
    )


def _unattributed(cat: Catalogue, every_file: dict[str, dict[str, int]]) -> dict:
    """Counts of files tied to no body: every file's counts minus each body's."""
    left = {status: dict(reasons) for status, reasons in every_file.items()}
    for b in cat.bodies():
        for status, reasons in cat.status_counts(b.key).items():
            for reason, n in reasons.items():
                mine = left.setdefault(status, {})
                mine[reason] = mine.get(reason, 0) - n
    return {st: {r: n for r, n in rs.items() if n > 0} for st, rs in left.items()}


def _body_section(cat: Catalogue, body: BodyRow) -> BodySection:
    files = cat.files(status=FileStatus.INGESTED, body_key=body.key)
    accs = []
    for acc in cat.accumulators(body_key=body.key):
        rows = cat.defects(acc_slug=acc.slug)
        active = [d for d in rows if d.status == "active"]
        gone = [d for d in rows if d.status != "active"]
        acc_files = [f for f in files if f.acc_slug == acc.slug]
        crops = best_crops(acc, active, acc_files)
        accs.append(AccSection(acc, active, gone, crops, growth(acc, active)))
    dated = [f for f in files if f.taken_at is not None]
    months: list[tuple[str, int, int]] = []
    first = min((f.taken_at for f in dated), key=ts, default=None)  # type: ignore[arg-type]
    last = max((f.taken_at for f in dated), key=ts, default=None)  # type: ignore[arg-type]
    if first is not None and last is not None:
        raw = Counter(month_key(f.taken_at) for f in dated if f.kind is FrameKind.RAW)  # type: ignore[arg-type]
        jpg = Counter(month_key(f.taken_at) for f in dated if f.kind is not FrameKind.RAW)  # type: ignore[arg-type]
        keys = sorted(set(raw) | set(jpg))
        months = [(k, raw[k], jpg[k]) for k in month_range(keys[0], keys[-1])]
    return BodySection(
        body=body,
        slug=body_slug(body),
        accs=accs,
        months=months,
        undated=sum(1 for f in files if f.undated),
        first=first,
        last=last,
        status=cat.status_counts(body.key),
        sensor=sensors.sensor_view(cat, body),
    )


def growth(acc: AccumulatorRow, defects: Sequence[DefectRow]) -> Growth:
    """Defects that appeared during the history, per year of history.

    Only defects whose onset is more than LATE_AFTER_HOURS after the accumulator's first photo
    count: those present from the first day have an unknown age. The span is first to last
    photo; under MIN_GROWTH_DAYS there is no figure: one new defect in two weeks is not
    "26 a year".
    """
    if acc.first_taken is None or acc.last_taken is None:
        return Growth(0, 0.0, None, "no dated photos")
    start = ts(acc.first_taken)
    days = (ts(acc.last_taken) - start) / 86400.0
    new = sum(1 for d in defects if late(d, acc))
    if days < MIN_GROWTH_DAYS:
        note = (
            f"not computed: {days:.0f} days of photos, {new} new defect(s); "
            f"a rate needs at least {MIN_GROWTH_DAYS} days"
        )
        return Growth(new, days, None, note)
    per_year = new / (days / 365.25)
    note = (
        f"{per_year:.1f} new defects per year: {new} appeared after the first day, "
        f"over {days:.0f} days from first to last photo"
    )
    return Growth(new, days, per_year, note)


def late(d: DefectRow, acc: AccumulatorRow) -> bool:
    """Appeared after the first day of photos of its accumulator (a defect the sensor grew).

    A day of slack: the detector dates a defect to the first photo that *shows* it, which
    for one present all along can be a few shots into the first session.
    """
    if d.onset is None or acc.first_taken is None:
        return False
    return ts(d.onset) > ts(acc.first_taken) + LATE_AFTER_HOURS * 3600.0
