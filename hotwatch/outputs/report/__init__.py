"""The sensor health report: one self-contained HTML file that shows a body's sensor.

Why it looks like this: photographers would rather look than read. For each camera body the
report draws the sensor with every defect on it (inline SVG, so it scales and each marker is
an element a test can count), a magnified crop of each defect from a recent photo beside the
same crop healed the way the darktable plugin heals it, a timeline of photos per month and
of defects present over time with a growth rate, and the plain facts (photos counted, date
range, what was skipped and why).

Everything is read from the catalogue and from the photos still on disk; nothing touches the
network and the file embeds its images as ``data:`` URIs, so it opens from disk anywhere and
can be mailed as is. ``--png`` also draws the map and the timeline with Pillow for sharing.

Layers, one module each: :mod:`.collect` reads (catalogue, photo files, through
:mod:`.crops`) into plain dataclasses; :mod:`.svg`, :mod:`.png` and :mod:`.html` only draw;
:func:`write_report` here writes the files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hotwatch.io.fileio import write_atomically
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.config import Paths
from hotwatch.state.rows import BodyRow

from .collect import Report, body_slug, collect
from .html import render_html
from .png import sensor_map_png, timeline_png


def default_output(paths: Paths, body: BodyRow | None) -> Path:
    """``<reports>/<body-slug>.html``, or ``all-bodies.html`` for every body."""
    name = f"{body_slug(body)}.html" if body is not None else "all-bodies.html"
    return paths.reports / name


def write_report(
    cat: Catalogue,
    output: Path,
    bodies: Sequence[BodyRow] | None = None,
    *,
    png: bool = False,
) -> list[Path]:
    """Write the HTML report (and with ``png`` the maps and timelines); return the paths.

    The HTML is written to a temporary name and renamed, so a browser or the tray never
    opens a half-written report. PNGs are named ``<stem>-<body>-map-<kind>-<w>x<h>.png`` and
    ``<stem>-<body>-timeline.png`` beside it.
    """
    report = collect(cat, bodies)
    output = Path(output)
    write_atomically(output, render_html(report), sync=False)
    written = [output]
    if png:
        written += _write_pngs(report, output)
    return written


def _write_pngs(report: Report, output: Path) -> list[Path]:
    out = []
    for body in report.bodies:
        stem = f"{output.stem}-{body.slug}"
        for sec in body.accs:
            a = sec.acc
            path = output.with_name(f"{stem}-map-{a.kind.value}-{a.width}x{a.height}.png")
            sensor_map_png(sec).save(path, "PNG", optimize=True)
            out.append(path)
        path = output.with_name(f"{stem}-timeline.png")
        timeline_png(body).save(path, "PNG", optimize=True)
        out.append(path)
    return out
