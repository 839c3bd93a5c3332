"""The report as one HTML document: no scripts, no external resources, images inline."""

from __future__ import annotations

import base64
from pathlib import Path

from hotwatch.core.model import DefectKind
from hotwatch.state.rows import DefectRow

from .collect import MIN_GROWTH_DAYS, AccSection, BodySection, Growth, Report, late
from .crops import CROP_HALF, CROP_SCALE, MAX_CROPS, Crop
from .svg import (
    ACC_DASH,
    KIND_STYLE,
    LINE_COLOURS,
    esc,
    sensor_map_svg,
    shape_svg,
    timeline_svg,
    unified_map_svg,
)
from .times import day


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


_CSS = """
:root { color-scheme: light; --ink:#1f2328; --muted:#5b6470; --line:#d8dde3; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink);
  margin: 0 auto; max-width: 1100px; padding: 24px; background: #f6f7f9; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { margin-top: 36px; border-bottom: 2px solid
  var(--line); padding-bottom: 4px; } h3 { margin: 24px 0 8px; }
.muted, .note { color: var(--muted); } .note { font-size: 13px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px;
  margin: 12px 0; }
table { border-collapse: collapse; } td, th { padding: 3px 10px 3px 0; text-align: left;
  vertical-align: top; } th { color: var(--muted); font-weight: 600; }
table.defects td, table.defects th { border-bottom: 1px solid #eceff2; font-size: 13px; }
.num { font-variant-numeric: tabular-nums; text-align: right; }
.maps { display: flex; flex-wrap: wrap; gap: 16px; }
.map { flex: 1 1 440px; background: #15171a; color: #e8eaed; border-radius: 8px;
  padding: 12px; }
.map h3 { margin: 0 0 8px; font-size: 15px; } .map .note { color: #aab1ba; }
svg.sensor-map { width: 100%; height: auto; display: block; }
svg.sensor-map a.marker:hover > :not(title) { stroke: #fff; stroke-width: 3; }
svg.timeline { width: 100%; height: auto; display: block; }
.legend { display: flex; gap: 16px; flex-wrap: wrap; font-size: 13px; margin-top: 8px; }
.legend svg { vertical-align: middle; }
.crops { display: flex; flex-wrap: wrap; gap: 14px; }
figure.crop { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 8px;
  padding: 10px; width: fit-content; }
figure.crop:target { outline: 3px solid #3d8bfd; }
.pair { display: flex; gap: 8px; }
.view { position: relative; line-height: 0; }
.view img { image-rendering: pixelated; image-rendering: crisp-edges; display: block; }
.view .centre { position: absolute; box-sizing: border-box; border: 2px solid #00e5ff;
  border-radius: 2px; }
.view .label { position: absolute; left: 4px; top: 4px; line-height: 1.2; font-size: 11px;
  background: rgba(0,0,0,.6); color: #fff; padding: 1px 4px; border-radius: 3px; }
figcaption { font-size: 12px; color: var(--muted); margin-top: 6px; max-width: 310px;
  overflow-wrap: anywhere; }
.kind { display: inline-block; padding: 0 6px; border-radius: 3px; color: #fff;
  font-size: 12px; }
.warn { color: #a15c00; }
"""


def _kind_badge(kind: DefectKind) -> str:
    colour = KIND_STYLE[kind][0]
    return f'<span class="kind" style="background:{colour}">{esc(kind.value)}</span>'


def _legend() -> str:
    items = []
    for kind in DefectKind:
        shape = shape_svg(kind, 8, 8, 6)
        items.append(f'<span><svg width="16" height="16">{shape}</svg> {kind.value}</span>')
    ring = shape_svg(DefectKind.HOT, 8, 8, 6, ' stroke="#fff" stroke-width="2"')
    items.append(
        f'<span><svg width="16" height="16">{ring}</svg> ringed, with a date: appeared after '
        "the first day of photos</span>"
    )
    return '<div class="legend">' + "".join(items) + "</div>"


def _facts(body: BodySection) -> str:
    b = body.body
    rows = [
        ("Body", esc(b.label)),
        ("Make / model / serial", esc(f"{b.make} / {b.model} / {b.shown or 'none read'}")),
        ("Photos counted", f"{b.frames_raw} RAW + {b.frames_jpeg} JPEG = {b.frames}"),
        ("Taken", f"{day(body.first)} to {day(body.last)}"),
        ("Watched since", day(b.first_seen)),
    ]
    if body.undated:
        rows.append(("Undated photos", _undated_line(body.undated)))
    for sec in body.accs:
        a = sec.acc
        rows.append(
            (
                esc(sec.title),
                f"{a.frames} photos, {len(sec.defects)} defects"
                + (f" ({len(sec.gone)} gone since)" if sec.gone else "")
                + f", {day(a.first_taken)} to {day(a.last_taken)}",
            )
        )
    placed = _placement(body)
    if placed:
        rows.append(("One sensor", placed))
    rows += _status_rows(body.status)
    if not b.serial:
        rows.append(
            (
                '<span class="warn">No serial</span>',
                "these files carry no body serial: several bodies of this model may be mixed "
                "in one sensor map",
            )
        )
    body_rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="facts">{body_rows}</table>'


def _placement(body: BodySection) -> str:
    """How the body's frame sizes are placed on one sensor (its RAW photosites)."""
    view = body.sensor
    if view is None or len(body.accs) < 2:
        return ""
    if view.sensor is None:
        return esc(
            "no RAW photos: each JPEG size's defects are listed apart (pixels of different "
            "sizes are never matched by equal coordinates)"
        )
    lines = []
    for g, fmap in sorted(view.maps.items(), key=lambda item: item[0].rank):
        ox, oy = fmap.crop_origin()
        lines.append(
            f"{g.label}: the crop from photosite {ox:.1f},{oy:.1f} of {view.sensor.label}"
            + ("" if fmap.unscaled else f", scaled ×{fmap.scale:.4f}")
        )
    for g in view.apart:
        lines.append(f"{g.label}: not placed yet (no known map): its defects are listed apart")
    items = "".join(f"<li>{esc(line)}</li>" for line in lines)
    return f"defects are placed on {esc(view.sensor.label)}<ul>{items}</ul>"


def _undated_line(n: int) -> str:
    """Why some photos did not date anything (see hotwatch.io.exif.frame_time)."""
    photos = "1 photo" if n == 1 else f"{n} photos"
    return (
        f"{photos} had no capture date; they date no defect (a defect first seen in them is "
        "dated by the photos before them, or its onset is unknown)"
    )


def _status_rows(status: dict[str, dict[str, int]]) -> list[tuple[str, str]]:
    rows = []
    for name, label in (("skipped", "Skipped"), ("failed", "Could not be read")):
        reasons = status.get(name, {})
        total = sum(reasons.values())
        if not total:
            rows.append((label, "none"))
            continue
        items = "".join(
            f"<li>{n} × {esc(reason or 'no reason recorded')}</li>"
            for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1])
        )
        rows.append((label, f"{total} file(s)<ul>{items}</ul>"))
    return rows


def _defect_table(sec: AccSection, anchor: str) -> str:
    if not sec.defects:
        return '<p class="muted">No defects found in these photos.</p>'
    head = (
        "<tr><th>kind</th><th class='num'>x</th><th class='num'>y</th><th>onset</th>"
        "<th>confirmed</th><th class='num'>score</th><th>crop</th></tr>"
    )
    rows = []
    for d in sorted(sec.defects, key=lambda d: (d.y, d.x)):
        link = f'<a href="#{anchor}crop-{d.id}">view</a>' if d.id in sec.crops else "–"
        rows.append(
            f'<tr class="defect" data-x="{d.x}" data-y="{d.y}"><td>{_kind_badge(d.kind)}'
            f"{' <b>new</b>' if late(d, sec.acc) else ''}</td>"
            f"<td class='num'>{d.x}</td><td class='num'>{d.y}</td><td>{day(d.onset)}</td>"
            f"<td>{day(d.confirmed)}</td><td class='num'>{d.score:.1f}</td><td>{link}</td></tr>"
        )
    for d in sec.gone:
        rows.append(
            f'<tr class="gone"><td>{_kind_badge(d.kind)} gone</td><td class="num">{d.x}</td>'
            f'<td class="num">{d.y}</td><td>{day(d.onset)}</td><td>–</td>'
            f'<td class="num">{d.score:.1f}</td><td>–</td></tr>'
        )
    return f'<table class="defects">{head}{"".join(rows)}</table>'


def _sensor_table(body: BodySection, anchor: str) -> str:
    """One row per physical defect: kind, photosite, its position in each JPEG size,
    dates, which kinds of file showed it, score, close-up."""
    view = body.sensor
    assert view is not None and view.sensor is not None
    jpegs = [g for g in view.geometries if g != view.sensor and g in view.maps]
    if not view.defects:
        return '<p class="muted">No defects found in these photos.</p>'
    cols = "".join(f"<th>{esc(g.label)}</th>" for g in jpegs)
    head = (
        f"<tr><th>kind</th><th>photosite</th>{cols}<th>onset</th><th>confirmed</th>"
        "<th>seen in</th><th class='num'>score</th><th>crop</th></tr>"
    )
    rows = []
    for d in sorted(view.defects, key=lambda d: d.photosite or (0, 0)):
        if d.photosite is None:
            continue
        x, y = d.photosite
        site = f"{x},{y}" if d.exact else f"≈{x},{y}"
        shown = set(d.shown_in)
        cells = "".join(f"<td>{_position(d.positions.get(g), g in shown)}</td>" for g in jpegs)
        crop = body.crop_of(d)
        link = f'<a href="#{anchor}crop-{crop[1]}">view</a>' if crop else "–"
        seen = " + ".join(k.value.upper() for k in d.kinds)
        rows.append(
            f'<tr class="defect sensor-defect" id="{anchor}defect-{d.id}" data-x="{x}" '
            f'data-y="{y}" data-exact="{int(d.exact)}"><td>{_kind_badge(d.kind)}</td>'
            f"<td>{site}</td>{cells}<td>{day(d.onset)}</td><td>{day(d.confirmed)}</td>"
            f"<td>{seen}</td><td class='num'>{d.score:.1f}</td><td>{link}</td></tr>"
        )
    return f'<table class="defects sensor">{head}{"".join(rows)}</table>'


def _position(at: tuple[int, int] | None, shown: bool) -> str:
    if at is None:
        return "–"
    return f"{at[0]},{at[1]}" + ("" if shown else ' <span class="muted">(mapped)</span>')


def _crop_figure(sec: AccSection, d: DefectRow, crop: Crop, anchor: str) -> str:
    size = 2 * CROP_HALF + 1
    px = size * CROP_SCALE
    c0 = CROP_HALF * CROP_SCALE - 3  # the outline sits just outside the centre cell
    box = CROP_SCALE + 6
    views = []
    for cls, png, label in (("before", crop.before, "photo"), ("after", crop.after, "healed")):
        views.append(
            f'<div class="view {cls}"><img class="crop-{cls}" src="{_data_uri(png)}" '
            f'width="{px}" height="{px}" alt="{label} around x={d.x} y={d.y}">'
            f'<span class="centre" data-x="{d.x}" data-y="{d.y}" style="left:{c0}px;top:{c0}px;'
            f'width:{box}px;height:{box}px"></span>'
            f'<span class="label">{label}</span></div>'
        )
    name = Path(crop.path).name
    seen = (
        "shows clearly"
        if crop.shows
        else "barely shows in the newest photos; the clearest is shown"
    )
    return (
        f'<figure class="crop" id="{anchor}crop-{d.id}" data-x="{d.x}" data-y="{d.y}" '
        f'data-kind="{d.kind.value}" data-acc="{esc(sec.acc.slug)}" data-size="{size}" '
        f'data-scale="{CROP_SCALE}" data-shows="{int(crop.shows)}">'
        f'<div class="pair">{"".join(views)}</div>'
        f"<figcaption>{_kind_badge(d.kind)} x={d.x} y={d.y}, onset {day(d.onset)} · "
        f"{esc(name)}, {day(crop.taken_at)} ({seen}; contrast {crop.contrast:+.1f}σ"
        + (f"; shown ×{crop.gain:.1f} brighter" if crop.gain > 1.05 else "")
        + ")"
        "</figcaption></figure>"
    )


def _per_year(g: Growth) -> str:
    return "" if g.per_year is None else f"{g.per_year:.3f}"


def _body_html(body: BodySection, anchor: str) -> str:
    parts = [f'<section class="body" id="{anchor}" data-body="{esc(body.body.key)}">']
    parts.append(f"<h2>{esc(body.body.label)}</h2>")
    parts.append(f'<div class="card">{_facts(body)}</div>')
    parts.append("<h3>Sensor map</h3>")
    parts.append(
        '<p class="note">The whole frame, as stored (never rotated). One marker per defect of '
        "the sensor, whichever files showed it; hover a marker for its position in the RAW "
        "photosites and in each JPEG size, its kind, onset, confirmation and score; click it "
        "for its crop.</p>"
    )
    maps = []
    unified = body.sensor is not None and body.sensor.sensor is not None
    if unified:
        g = body.sensor.sensor  # type: ignore[union-attr]
        n = len(body.sensor.defects)  # type: ignore[union-attr]
        photos = sum(a.acc.frames for a in body.accs if a not in body.apart)
        maps.append(
            f'<div class="map"><h3>Sensor: RAW photosites, {g.width}×{g.height} · {n} defects · '
            f"{photos} photos</h3>{unified_map_svg(body, anchor + '-')}{_legend()}</div>"
        )
    for sec in body.apart:
        apart = '<p class="note">Listed apart: not placed on the sensor.</p>' if unified else ""
        maps.append(
            f'<div class="map"><h3>{esc(sec.title)} · {len(sec.defects)} defects · '
            f"{sec.acc.frames} photos</h3>{apart}{sensor_map_svg(sec, anchor + '-')}"
            f"{_legend()}</div>"
        )
    parts.append('<div class="maps">' + "".join(maps) + "</div>")
    parts.append("<h3>Timeline</h3>")
    parts.append(f'<div class="card">{timeline_svg(body)}')
    lines = []
    for i, sec in enumerate(body.accs):
        colour = LINE_COLOURS[i % len(LINE_COLOURS)]
        dash = "dashed" if ACC_DASH.get(sec.acc.kind) else "solid"
        lines.append(
            f'<li><span style="color:{colour}">■</span> {esc(sec.title)} ({dash} line): '
            f'<span class="growth" data-acc="{esc(sec.acc.slug)}" '
            f'data-per-year="{_per_year(sec.growth)}">'
            f"{esc(sec.growth.note)}</span></li>"
        )
    parts.append(
        f'<ul class="note">{"".join(lines)}</ul><p class="note">Bars: photos per month '
        "(dark RAW, light JPEG). Lines: defects present, rising when each appeared. Growth rate "
        "= defects that appeared after the first day of photos ÷ years from the first to the last "
        f"photo; not given for less than {MIN_GROWTH_DAYS} days of history.</p></div>"
    )
    parts.append('<h3 class="defects-title">Defects</h3>')
    if unified:
        parts.append(
            f'<div class="card defect-list"><b>The sensor: one row per defect</b>'
            f"{_sensor_table(body, anchor + '-')}</div>"
        )
    for sec in body.apart:
        parts.append(
            f'<div class="card defect-list"><b>{esc(sec.title)}</b>'
            f"{_defect_table(sec, anchor + '-')}</div>"
        )
    parts.append("<h3>Close-ups</h3>")
    parts.append(
        f'<p class="note">{2 * CROP_HALF + 1}×{2 * CROP_HALF + 1} {"px"} around each defect '
        f"(the outlined centre), magnified ×{CROP_SCALE}, from the newest photo taken after its "
        "onset in which it shows; beside it the same crop healed the way the darktable plugin "
        "heals it (a heal circle of radius 3 px from a clean patch about 10 px away). RAW "
        "photosites are tinted by their colour filter. Hatched cells lie outside the frame.</p>"
    )
    for sec in body.accs:
        if not sec.defects:
            continue
        figures = [
            _crop_figure(sec, d, sec.crops[d.id], anchor + "-")
            for d in sorted(sec.defects, key=lambda d: -d.score)
            if d.id in sec.crops
        ]
        missing = len(sec.defects) - len(figures)
        note = ""
        if missing:
            note = (
                f'<p class="note">{missing} defect(s) without a close-up: only the '
                f"{MAX_CROPS} strongest are shown, and only photos still on disk can be used.</p>"
            )
        parts.append(f"<h3>{esc(sec.title)}</h3>{note}<div class='crops'>{''.join(figures)}</div>")
    parts.append("</section>")
    return "".join(parts)


def _count(body: BodySection) -> int:
    """The body's defects, one per physical defect."""
    if body.sensor is not None:
        return len(body.sensor.defects)
    return sum(len(s.defects) for s in body.accs)


def render_html(report: Report) -> str:
    """The whole report as one HTML document: no scripts, no external resources."""
    anchors = [f"body-{b.slug}" for b in report.bodies]
    toc = ""
    if len(report.bodies) > 1:
        items = "".join(
            f'<li><a href="#{a}">{esc(b.body.label)}</a>: '
            f"{_count(b)} defects, {b.body.frames} photos</li>"
            for a, b in zip(anchors, report.bodies, strict=True)
        )
        toc = f'<div class="card"><ul>{items}</ul></div>'
    empty = "" if report.bodies else '<p class="muted">No camera bodies yet.</p>'
    everything = ""
    loose = _status_rows(report.unattributed)
    if any(v != "none" for _, v in loose):
        rows_html = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in loose)
        everything += (
            '<h2>Files not tied to a body</h2><p class="note">Files skipped or unreadable before '
            "their camera body was known (this report cannot tell which body they came from)."
            f'</p><div class="card"><table class="facts">{rows_html}</table></div>'
        )
    if report.all_files is not None:
        rows = _status_rows(report.all_files)
        ingested = sum(report.all_files.get("ingested", {}).values())
        body_rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
        everything += (
            f'<h2>All files</h2><div class="card"><table class="facts"><tr><th>Photos used'
            f"</th><td>{ingested}</td></tr>{body_rows}</table></div>"
        )
    sections = "".join(_body_html(b, a) for a, b in zip(anchors, report.bodies, strict=True))
    generated = report.generated.strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(report.title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{esc(report.title)}</h1>"
        f'<p class="muted">Generated by hotwatch on {generated}.</p>'
        f"{toc}{empty}{sections}{everything}</body></html>\n"
    )
