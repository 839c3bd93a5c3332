"""The report's drawings as inline SVG: the sensor map (a marker per defect, at its
position) and the timeline (photos per month, defects present over time)."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

from hotwatch.core.model import DefectKind, FrameKind
from hotwatch.core.sensor import SensorDefect
from hotwatch.state.rows import AccumulatorRow, DefectRow

from .collect import LATE_AFTER_HOURS, AccSection, BodySection, late
from .times import day, month_end, month_start, ts

MAP_WIDTH_PX = 520  #: on-screen width of a sensor map
#: colour and shape per defect kind (the legend, the SVG and the PNGs use the same)
KIND_STYLE: dict[DefectKind, tuple[str, str]] = {
    DefectKind.HOT: ("#e8443a", "circle"),
    DefectKind.STUCK: ("#f0b400", "square"),
    DefectKind.DEAD: ("#3d8bfd", "triangle"),
}


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def describe(d: DefectRow) -> str:
    return (
        f"{d.kind.value} {'photosite' if d.frame_kind is FrameKind.RAW else 'pixel'} "
        f"x={d.x} y={d.y} · onset {day(d.onset)} · confirmed {day(d.confirmed)} · "
        f"score {d.score:.1f}"
    )


def shape_svg(kind: DefectKind, x: float, y: float, r: float, extra: str = "") -> str:
    colour, shape = KIND_STYLE[kind]
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{colour}"{extra}/>'
    if shape == "square":
        s = r * 0.9
        return (
            f'<rect x="{x - s:.1f}" y="{y - s:.1f}" width="{2 * s:.1f}" height="{2 * s:.1f}" '
            f'fill="{colour}"{extra}/>'
        )
    pts = (
        f"{x:.1f},{y - 1.15 * r:.1f} {x + r:.1f},{y + 0.75 * r:.1f} {x - r:.1f},{y + 0.75 * r:.1f}"
    )
    return f'<polygon points="{pts}" fill="{colour}"{extra}/>'


def sensor_map_svg(section: AccSection, anchor: str = "") -> str:
    """The frame outline with a marker per active defect (shape and colour by kind).

    Coordinates are the sensor's own (viewBox = frame size), so a marker's position is its
    defect's position. Defects that appeared after the first photo get a white ring and a
    label with their onset date. Each marker is ``<a class="marker" data-x data-y ...>``
    linking to its crop, with a ``<title>`` for the hover text.
    """
    acc = section.acc
    w, h = acc.width, acc.height
    s = max(w, h) / MAP_WIDTH_PX  # sensor units per screen pixel
    r = 6.5 * s
    font = 11 * s
    out = _frame_svg(w, h, f'data-acc="{esc(acc.slug)}"', section.title)
    label_all = len(section.defects) <= 40
    for d in sorted(section.defects, key=lambda d: (d.kind.value, d.y, d.x)):
        is_late = late(d, acc)
        ring = f' stroke="#ffffff" stroke-width="{2 * s:.2f}"' if is_late else ""
        onset = d.onset.isoformat() if d.onset else ""
        confirmed = d.confirmed.isoformat() if d.confirmed else ""
        out.append(
            f'<a class="marker" href="#{anchor}crop-{d.id}" data-x="{d.x}" data-y="{d.y}" '
            f'data-kind="{d.kind.value}" data-onset="{esc(onset)}" '
            f'data-confirmed="{esc(confirmed)}" data-score="{d.score:.2f}" '
            f'data-late="{int(is_late)}"><title>{esc(describe(d))}</title>'
            + shape_svg(d.kind, d.x + 0.5, d.y + 0.5, r, ring)
        )
        if is_late and label_all:
            out.append(
                f'<text x="{d.x + 0.5 + 1.6 * r:.1f}" y="{d.y + 0.5 + 0.4 * font:.1f}" '
                f'font-size="{font:.1f}" fill="#ffffff">since {esc(day(d.onset))}</text>'
            )
        out.append("</a>")
    out.append("</svg>")
    return "".join(out)


def describe_sensor_defect(d: SensorDefect) -> str:
    """The hover text of a physical defect: kind, where it sits in each geometry (and which
    showed it), onset, confirmation, score."""
    shown = set(d.shown_in)
    where = "; ".join(
        f"{g.label}: x={x} y={y}{'' if g in shown else ' (mapped)'}"
        for g, (x, y) in sorted(d.positions.items(), key=lambda item: item[0].rank)
    )
    site = "photosite" if d.exact else "approximate photosite"
    return (
        f"{d.kind.value} {site} · {where} · onset {day(d.onset)} · confirmed "
        f"{day(d.confirmed)} · score {d.score:.1f} · seen in "
        + " and ".join(k.value.upper() for k in d.kinds)
    )


def unified_map_svg(body: BodySection, anchor: str = "") -> str:
    """One map of the body's sensor (its RAW geometry), one marker per physical defect at
    its photosite, whichever files showed it; hover for its position in every geometry.

    A defect only JPEGs showed is placed at the photosite its blob maps back to, drawn
    hollow (``data-exact="0"``): a JPEG pixel pins a photosite only to a pixel or so.
    Markers carry ``data-positions`` ("raw 640x480:41,50;jpeg 624x464:31,44") and
    ``data-shown-in``, and link to the defect's close-up.
    """
    view = body.sensor
    assert view is not None and view.sensor is not None
    g = view.sensor
    w, h = g.width, g.height
    s = max(w, h) / MAP_WIDTH_PX
    r = 6.5 * s
    first = body.sensor_section.acc if body.sensor_section else None
    out = _frame_svg(w, h, f'data-sensor="{esc(g.label)}"', f"sensor {g.label}")
    for d in sorted(view.defects, key=lambda d: (d.kind.value, d.id)):
        if d.photosite is None:
            continue
        x, y = d.photosite
        is_late = first is not None and _late_on(d, first)
        ring = f' stroke="#ffffff" stroke-width="{2 * s:.2f}"' if is_late else ""
        if not d.exact:
            ring = (
                f' fill-opacity="0.15" stroke="{KIND_STYLE[d.kind][0]}" stroke-width="{2 * s:.2f}"'
            )
        crop = body.crop_of(d)
        href = f"#{anchor}crop-{crop[1]}" if crop else f"#{anchor}defect-{d.id}"
        positions = ";".join(f"{k}:{px},{py}" for k, (px, py) in d.labelled_positions().items())
        out.append(
            f'<a class="marker" href="{href}" data-id="{d.id}" data-x="{x}" data-y="{y}" '
            f'data-kind="{d.kind.value}" data-onset="{esc(_iso(d.onset))}" '
            f'data-confirmed="{esc(_iso(d.confirmed))}" data-score="{d.score:.2f}" '
            f'data-exact="{int(d.exact)}" data-positions="{esc(positions)}" '
            f'data-shown-in="{esc(",".join(gg.label for gg in d.shown_in))}" '
            f'data-late="{int(is_late)}"><title>{esc(describe_sensor_defect(d))}</title>'
            + shape_svg(d.kind, x + 0.5, y + 0.5, r, ring)
            + "</a>"
        )
    out.append("</svg>")
    return "".join(out)


def _iso(value: object) -> str:
    return value.isoformat() if value is not None else ""  # type: ignore[attr-defined]


def _late_on(d: SensorDefect, acc: AccumulatorRow) -> bool:
    if d.onset is None or acc.first_taken is None:
        return False
    return ts(d.onset) > ts(acc.first_taken) + LATE_AFTER_HOURS * 3600.0


def _frame_svg(w: int, h: int, data: str, title: str) -> list[str]:
    """The opening of a map: the frame outline, a quarter grid and its size labels."""
    s = max(w, h) / MAP_WIDTH_PX  # sensor units per screen pixel
    m = 24 * s
    font = 11 * s
    out = [
        f'<svg class="sensor-map" {data} data-width="{w}" data-height="{h}" '
        f'viewBox="{-m:.1f} {-m:.1f} {w + 2 * m:.1f} {h + 2 * m:.1f}" role="img" '
        f'aria-label="sensor map {esc(title)}" preserveAspectRatio="xMidYMid meet">',
        f'<rect class="frame" x="0" y="0" width="{w}" height="{h}" fill="#202327" '
        f'stroke="#9aa0a6" stroke-width="{1.5 * s:.2f}"/>',
    ]
    for i in (1, 2, 3):  # quarter grid for orientation
        out.append(
            f'<line x1="{w * i / 4:.1f}" y1="0" x2="{w * i / 4:.1f}" y2="{h}" stroke="#33373c" '
            f'stroke-width="{s:.2f}"/>'
            f'<line x1="0" y1="{h * i / 4:.1f}" x2="{w}" y2="{h * i / 4:.1f}" stroke="#33373c" '
            f'stroke-width="{s:.2f}"/>'
        )
    for tx, ty, label, anchor_pos in (
        (0, -6 * s, "0", "start"),
        (w, -6 * s, f"x={w}", "end"),
        (-6 * s, h, f"y={h}", "end"),
    ):
        out.append(
            f'<text x="{tx:.1f}" y="{ty:.1f}" font-size="{font:.1f}" fill="#9aa0a6" '
            f'text-anchor="{anchor_pos}">{esc(label)}</text>'
        )
    return out


def defect_steps(section: AccSection) -> tuple[list[tuple[float, int]], int]:
    """((time, defects present) after each onset, defects without an onset date).

    Undated defects count as present from the start.
    """
    times = sorted(ts(d.onset) for d in section.defects if d.onset is not None)
    base = sum(1 for d in section.defects if d.onset is None)
    return [(t, base + i + 1) for i, t in enumerate(times)], base


@dataclass(frozen=True)
class TimelineGeometry:
    """Shared by the SVG and the PNG timeline so both say the same thing."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    t0: float
    t1: float
    photos_max: int
    defects_max: int

    def x(self, t: float) -> float:
        return self.left + (t - self.t0) / max(self.t1 - self.t0, 1.0) * (
            self.width - self.left - self.right
        )

    def y_photos(self, n: float) -> float:
        span = self.height - self.top - self.bottom
        return self.height - self.bottom - n / max(self.photos_max, 1) * span

    def y_defects(self, n: float) -> float:
        span = self.height - self.top - self.bottom
        return self.height - self.bottom - n / max(self.defects_max, 1) * span


def timeline_geometry(body: BodySection, width: int = 760, height: int = 280) -> TimelineGeometry:
    months = [m for m, _, _ in body.months]
    t0, t1 = month_start(months[0]), month_end(months[-1])
    photos_max = max((r + j for _, r, j in body.months), default=1)
    defects_max = max((len(a.defects) for a in body.accs), default=1)
    return TimelineGeometry(
        width, height, 56, 56, 20, 44, t0, t1, _nice_max(photos_max), _nice_max(defects_max)
    )


def _nice_max(n: int) -> int:
    """An axis top >= n that reads well: 1, 2, 5, 10, 20, 50..."""
    if n <= 1:
        return 1
    mag = 10 ** math.floor(math.log10(n))
    for step in (1, 2, 5, 10):
        if step * mag >= n:
            return step * mag
    return 10 * mag


ACC_DASH = {FrameKind.RAW: "", FrameKind.JPEG: "6 4"}
LINE_COLOURS = ("#7b4fd6", "#0f9d8a", "#d0487f", "#8a6d1f", "#2b6cb0")  # not kind colours
BAR_RAW = "#5b6470"
BAR_JPEG = "#a3acb9"


def timeline_svg(body: BodySection) -> str:
    """Photos ingested per month (stacked bars: RAW, JPEG) and defects present over time.

    One step line per accumulator, rising at each defect's onset (a dot with a hover text
    marks each onset). Left axis: photos per month; right axis: defects present.
    """
    if not body.months:
        return '<p class="timeline-empty">No dated photos: no timeline.</p>'
    g = timeline_geometry(body)
    out = [
        f'<svg class="timeline" viewBox="0 0 {g.width} {g.height}" role="img" '
        f'aria-label="photos per month and defects over time">',
        f'<rect x="0" y="0" width="{g.width}" height="{g.height}" fill="#ffffff"/>',
    ]
    base_y = g.height - g.bottom
    for frac in (0.0, 0.5, 1.0):
        y = g.y_photos(frac * g.photos_max)
        out.append(
            f'<line x1="{g.left}" y1="{y:.1f}" x2="{g.width - g.right}" y2="{y:.1f}" '
            f'stroke="#e3e6ea"/>'
            f'<text x="{g.left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="#5b6470">{frac * g.photos_max:g}</text>'
            f'<text x="{g.width - g.right + 6}" y="{y + 4:.1f}" font-size="11" '
            f'fill="#7b4fd6">{frac * g.defects_max:g}</text>'
        )
    every = max(1, math.ceil(len(body.months) / 12))
    for i, (month, raw, jpg) in enumerate(body.months):
        x0, x1 = g.x(month_start(month)), g.x(month_end(month))
        bw = max(1.0, (x1 - x0) * 0.7)
        bx = x0 + (x1 - x0 - bw) / 2
        y_raw = g.y_photos(raw)
        y_all = g.y_photos(raw + jpg)
        out.append(
            f'<g class="month" data-month="{month}" data-raw="{raw}" data-jpeg="{jpg}">'
            f"<title>{month}: {raw} RAW + {jpg} JPEG photos</title>"
            f'<rect x="{bx:.1f}" y="{y_raw:.1f}" width="{bw:.1f}" height="{base_y - y_raw:.1f}" '
            f'fill="{BAR_RAW}"/>'
            f'<rect x="{bx:.1f}" y="{y_all:.1f}" width="{bw:.1f}" height="{y_raw - y_all:.1f}" '
            f'fill="{BAR_JPEG}"/></g>'
        )
        if i % every == 0:
            out.append(
                f'<text x="{(x0 + x1) / 2:.1f}" y="{base_y + 16}" font-size="11" '
                f'text-anchor="middle" fill="#5b6470">{month}</text>'
            )
    out.append(
        f'<line x1="{g.left}" y1="{base_y}" x2="{g.width - g.right}" y2="{base_y}" '
        f'stroke="#5b6470"/>'
    )
    for i, sec in enumerate(body.accs):
        colour = LINE_COLOURS[i % len(LINE_COLOURS)]
        steps, base = defect_steps(sec)
        pts = [(g.x(g.t0), g.y_defects(base))]
        for t, n in steps:
            x = g.x(t)
            pts += [(x, pts[-1][1]), (x, g.y_defects(n))]
        pts.append((g.x(g.t1), pts[-1][1]))
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        dash = ACC_DASH.get(sec.acc.kind, "")
        out.append(
            f'<polyline class="defect-line" data-acc="{esc(sec.acc.slug)}" points="{path}" '
            f'fill="none" stroke="{colour}" stroke-width="2.5"'
            + (f' stroke-dasharray="{dash}"' if dash else "")
            + "/>"
        )
        for d in sec.defects:
            if d.onset is None:
                continue
            n = 1 + sum(1 for e in steps if e[0] < ts(d.onset))
            out.append(
                f'<circle class="onset" cx="{g.x(ts(d.onset)):.1f}" '
                f'cy="{g.y_defects(base + n):.1f}" r="3.5" fill="{colour}">'
                f"<title>{esc(describe(d))}</title></circle>"
            )
    out.append(
        f'<text x="{g.left}" y="13" font-size="11" fill="#5b6470">photos per month</text>'
        f'<text x="{g.width - g.right}" y="13" font-size="11" text-anchor="end" '
        f'fill="#7b4fd6">defects present</text></svg>'
    )
    return "".join(out)
