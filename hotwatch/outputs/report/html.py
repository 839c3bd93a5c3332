"""The sensor health report: one self-contained HTML file that shows a body's sensor.

Why it looks like this: photographers would rather look than read. For each camera body the
report draws the sensor with every defect on it (inline SVG, so it scales and each marker is
an element a test can count), a magnified crop of each defect from a recent photo beside the
same crop healed the way the darktable plugin heals it
(:mod:`hotwatch.outputs.report.healing`), a timeline of photos per month and of defects
present over time with a growth rate, and the plain facts (photos counted, date range, what
was skipped and why).

Everything is read from the catalogue and from the photos still on disk; nothing touches the
network and the file embeds its images as ``data:`` URIs, so it opens from disk anywhere and
can be mailed as is. ``--png`` also draws the map and the timeline with Pillow for sharing.

Layers: :func:`collect` reads (catalogue, photo files) into plain dataclasses;
:func:`render_html`, :func:`sensor_map_svg`, :func:`timeline_svg`, :func:`sensor_map_png` and
:func:`timeline_png` only draw; :func:`write_report` writes the files.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from hotwatch.core.errors import HotwatchError
from hotwatch.core.model import DefectKind, FileStatus, Frame, FrameKind
from hotwatch.io.fileio import write_atomically
from hotwatch.outputs.report.healing import heal
from hotwatch.state.catalogue import AccumulatorRow, BodyRow, Catalogue, DefectRow, FileRow
from hotwatch.state.config import Paths

log = logging.getLogger(__name__)

CROP_HALF = 7  #: a crop is (2 * CROP_HALF + 1) px square, the defect at its centre
CROP_SCALE = 10  #: nearest-neighbour magnification of the crop PNGs
WINDOW_HALF = 64  #: pixels read around a defect: room for the heal source search
MAX_CROPS = 60  #: crops per accumulator (strongest first); the HTML stays a few MB
NEWEST_PHOTOS = 12  #: newest photos tried per accumulator for the crops...
OLDER_PHOTOS = 12  #: ...then this many older ones spread over the history (a run of dark frames)
MIN_GROWTH_DAYS = 90  #: no growth rate over a shorter history: a rate over weeks is noise
MAP_WIDTH_PX = 520  #: on-screen width of a sensor map
LATE_AFTER_HOURS = 24.0  #: "appeared later" = onset this long after the first photo
MAX_GAIN = 8.0  #: at most this brightening of a dark crop

#: colour and shape per defect kind (the legend, the SVG and the PNGs use the same)
KIND_STYLE: dict[DefectKind, tuple[str, str]] = {
    DefectKind.HOT: ("#e8443a", "circle"),
    DefectKind.STUCK: ("#f0b400", "square"),
    DefectKind.DEAD: ("#3d8bfd", "triangle"),
}
# CFA colour index -> tint of a photosite in RAW crops (0=R, 1=G, 2=B, 3=second green)
_CFA_TINT = np.array(
    [[1.0, 0.42, 0.38], [0.5, 1.0, 0.5], [0.45, 0.6, 1.0], [0.5, 1.0, 0.5]], dtype=np.float64
)


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Crop:
    """A defect's neighbourhood in one photo, before and after the plugin's heal.

    ``before``/``after`` are PNGs of (2 * CROP_HALF + 1)^2 cells, each CROP_SCALE px square,
    the defect in the centre cell; cells outside the frame are hatched. ``shows`` tells
    whether the defect stands out in this photo (``contrast`` = signed robust z-score of the
    centre against same-colour neighbours).
    """

    x: int
    y: int
    before: bytes
    after: bytes
    path: str
    taken_at: datetime | None
    shows: bool
    contrast: float
    gain: float = 1.0  # brightening applied to both PNGs (dark photos are where hot pixels show)


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


@dataclass(frozen=True)
class Report:
    title: str
    generated: datetime
    bodies: list[BodySection]
    all_files: dict[str, dict[str, int]] | None = None  # whole catalogue, all-bodies report
    # files no body could be read for (skipped or failed before identification), by reason
    unattributed: dict[str, dict[str, int]] = field(default_factory=dict)


# --------------------------------------------------------------------------- naming


def body_slug(body: BodyRow) -> str:
    """File-name-safe body name: ``nikon-d80-3012345``."""
    text = f"{body.make} {body.model} {body.serial or 'no-serial'}".lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-") or "body"


def default_output(paths: Paths, body: BodyRow | None) -> Path:
    """``<reports>/<body-slug>.html``, or ``all-bodies.html`` for every body."""
    name = f"{body_slug(body)}.html" if body is not None else "all-bodies.html"
    return paths.reports / name


# --------------------------------------------------------------------------- time helpers


def _ts(value: datetime) -> float:
    """Seconds for ordering; a naive time is taken as UTC (hotwatch stores aware ones)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _day(value: datetime | None) -> str:
    return value.date().isoformat() if value is not None else "unknown"


def _month_key(value: datetime) -> str:
    return f"{value.year:04d}-{value.month:02d}"


def _month_range(first: str, last: str) -> list[str]:
    y, m = int(first[:4]), int(first[5:7])
    out = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _month_start(key: str) -> float:
    return datetime(int(key[:4]), int(key[5:7]), 1, tzinfo=UTC).timestamp()


def _month_end(key: str) -> float:
    y, m = int(key[:4]), int(key[5:7])
    y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return datetime(y, m, 1, tzinfo=UTC).timestamp()


# --------------------------------------------------------------------------- collect


def collect(cat: Catalogue, bodies: Sequence[BodyRow] | None = None) -> Report:
    """Read everything the report shows: the given bodies (default: all), crops from disk."""
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
        crops = _crops(acc, active, acc_files)
        accs.append(AccSection(acc, active, gone, crops, growth(acc, active)))
    dated = [f for f in files if f.taken_at is not None]
    months: list[tuple[str, int, int]] = []
    first = min((f.taken_at for f in dated), key=_ts, default=None)  # type: ignore[arg-type]
    last = max((f.taken_at for f in dated), key=_ts, default=None)  # type: ignore[arg-type]
    if first is not None and last is not None:
        raw = Counter(_month_key(f.taken_at) for f in dated if f.kind is FrameKind.RAW)  # type: ignore[arg-type]
        jpg = Counter(_month_key(f.taken_at) for f in dated if f.kind is not FrameKind.RAW)  # type: ignore[arg-type]
        keys = sorted(set(raw) | set(jpg))
        months = [(k, raw[k], jpg[k]) for k in _month_range(keys[0], keys[-1])]
    return BodySection(
        body=body,
        slug=body_slug(body),
        accs=accs,
        months=months,
        undated=sum(1 for f in files if f.undated),
        first=first,
        last=last,
        status=cat.status_counts(body.key),
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
    start = _ts(acc.first_taken)
    days = (_ts(acc.last_taken) - start) / 86400.0
    new = sum(1 for d in defects if _late(d, acc))
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


# --------------------------------------------------------------------------- crops


def _crops(acc: AccumulatorRow, defects: Sequence[DefectRow], files: Sequence[FileRow]) -> dict:
    """A crop per defect (the MAX_CROPS strongest) from the newest photo that shows it.

    Candidates are the accumulator's NEWEST_PHOTOS newest ingested photos still on disk, then
    OLDER_PHOTOS older ones spread evenly over the rest (the newest photos may all be one
    night's time-lapse, where a dead pixel cannot show). Each is decoded once, newest first.
    A defect takes the newest candidate taken at or after its onset in which it stands out,
    and more than anything else of its colour in the crop; if none does, the candidate
    where it stands out most (``Crop.shows`` is then False).
    """
    if not defects:
        return {}
    chosen = sorted(defects, key=lambda d: -d.score)[:MAX_CROPS]
    everyone = [(d.x, d.y) for d in defects]
    dated = sorted(
        (f for f in files if f.taken_at is not None), key=lambda f: _ts(f.taken_at), reverse=True
    )  # type: ignore[arg-type]
    undated = [f for f in files if f.taken_at is None]
    candidates = _spread([f for f in dated + undated if Path(f.path).is_file()])
    best: dict[int, Crop] = {}
    todo = list(chosen)
    for f in candidates:
        fits = [d for d in todo if _after_onset(f, d)]
        if not fits:
            continue
        frame = _decode(Path(f.path), acc)
        if frame is None:
            continue
        for d in fits:
            crop = _crop(frame, d, everyone, f)
            old = best.get(d.id)
            if old is None or (not old.shows and _rank(crop, d) > _rank(old, d)):
                best[d.id] = crop
        todo = [d for d in todo if not (d.id in best and best[d.id].shows)]
        if not todo:
            break
    return best


def _spread(files: Sequence[FileRow]) -> list[FileRow]:
    """The NEWEST_PHOTOS first files, then OLDER_PHOTOS evenly spaced among the rest."""
    head, rest = list(files[:NEWEST_PHOTOS]), files[NEWEST_PHOTOS:]
    if len(rest) <= OLDER_PHOTOS:
        return head + list(rest)
    picks = np.linspace(0, len(rest) - 1, OLDER_PHOTOS).round().astype(int)
    return head + [rest[i] for i in sorted(set(picks.tolist()))]


def _after_onset(f: FileRow, d: DefectRow) -> bool:
    if d.onset is None or f.taken_at is None:
        return True
    return _ts(f.taken_at) >= _ts(d.onset) - 1.0  # onsets are capture times: allow rounding


def _rank(crop: Crop, d: DefectRow) -> float:
    c = crop.contrast
    return -c if d.kind is DefectKind.DEAD else c if d.kind is DefectKind.HOT else abs(c)


def _decode(path: Path, acc: AccumulatorRow) -> Frame | None:
    """The photo's frame, or None if it cannot be read any more or changed size."""
    from hotwatch.io.frames import read_frame

    try:
        frame = read_frame(path, acc.kind, min_pixels=1)
    except (HotwatchError, OSError) as exc:
        log.warning("report: cannot read %s for a crop: %s", path, exc)
        return None
    if (frame.width, frame.height) != (acc.width, acc.height):
        log.warning(
            "report: %s is %dx%d now, not %dx%d",
            path,
            frame.width,
            frame.height,
            acc.width,
            acc.height,
        )
        return None
    return frame


def _crop(frame: Frame, d: DefectRow, everyone: Sequence[tuple[int, int]], f: FileRow) -> Crop:
    values = normalised_window(frame, d.x, d.y, WINDOW_HALF)
    period = int(frame.cfa.shape[0]) if frame.cfa is not None else 1
    near = [
        (px - d.x + WINDOW_HALF, py - d.y + WINDOW_HALF)
        for px, py in everyone
        if abs(px - d.x) <= WINDOW_HALF and abs(py - d.y) <= WINDOW_HALF
    ]
    healed = heal(values, near, period=period)
    lo, hi = WINDOW_HALF - CROP_HALF, WINDOW_HALF + CROP_HALF + 1
    before, after = values[lo:hi, lo:hi], healed[lo:hi, lo:hi]
    colours = _cfa_colours(frame.cfa, d.x, d.y) if frame.cfa is not None else None
    contrast = centre_contrast(before, colours, floor=0.001 if frame.cfa is not None else 0.004)
    gain = display_gain(before, raw=frame.cfa is not None)
    shows = _shows(contrast, d.kind) and _stands_out_most(before, colours)
    return Crop(
        x=d.x,
        y=d.y,
        before=_png(crop_rgb(before, colours, gain=gain)),
        after=_png(crop_rgb(after, colours, gain=gain)),
        path=f.path,
        taken_at=f.taken_at,
        shows=shows,
        contrast=contrast,
        gain=gain,
    )


def display_gain(crop: np.ndarray, *, raw: bool) -> float:
    """Brightening (1..MAX_GAIN) that lifts a dark crop's surroundings to mid-grey.

    The defect itself is left out, so a hot pixel does not keep its dark neighbourhood dark.
    RAW values are linear (0.25 linear is mid-grey after the 2.2 gamma); JPEG values are
    already display values.
    """
    c = crop.shape[0] // 2
    around = crop.copy()
    around[c, c] = np.nan
    vals = around[np.isfinite(around)]
    if vals.size == 0:
        return 1.0
    p90 = float(np.percentile(vals, 90))
    target = 0.25 if raw else 0.5
    return float(np.clip(target / max(p90, 1e-6), 1.0, MAX_GAIN))


def normalised_window(frame: Frame, x: int, y: int, half: int) -> np.ndarray:
    """:func:`normalised` of only the window around (x, y): a 24 MP frame is never copied."""
    h, w = frame.height, frame.width
    y0, y1 = max(y - half, 0), min(y + half + 1, h)
    x0, x1 = max(x - half, 0), min(x + half + 1, w)
    part = frame.data[y0:y1, x0:x1].astype(np.float64)
    black = np.asarray(frame.black, dtype=np.float64)
    if black.ndim == 2 and frame.data.ndim == 2:
        n = black.shape[0]
        yy, xx = np.mgrid[y0:y1, x0:x1]
        black = black[yy % n, xx % n]
    vals = (part - black) / np.maximum(float(frame.white) - black, 1e-9)
    full = np.full((2 * half + 1, 2 * half + 1, *frame.data.shape[2:]), np.nan)
    full[y0 - (y - half) : y1 - (y - half), x0 - (x - half) : x1 - (x - half)] = vals
    return full


def _cfa_colours(cfa: np.ndarray, x: int, y: int) -> np.ndarray:
    """CFA colour index of every crop cell (frame coordinates continue into the padding)."""
    n = cfa.shape[0]
    yy, xx = np.mgrid[y - CROP_HALF : y + CROP_HALF + 1, x - CROP_HALF : x + CROP_HALF + 1]
    return cfa[yy % n, xx % n]


def centre_contrast(crop: np.ndarray, colours: np.ndarray | None, floor: float = 0.004) -> float:
    """Signed robust z-score of the centre cell against its same-colour neighbours.

    RAW: cells of the centre's CFA colour; JPEG: every cell, in the channel where the centre
    stands out most. Padding (NaN) is ignored. The noise ``floor`` (in units of the range: about
    one 8-bit step for JPEG) keeps a flat, clipped or quantised crop from turning a tiny step
    into a huge score.
    """
    c = crop.shape[0] // 2
    planes = crop if crop.ndim == 3 else crop[..., None]
    same = np.ones(crop.shape[:2], dtype=bool)
    if colours is not None:
        same = colours == colours[c, c]
    same[c, c] = False
    best = 0.0
    for ch in range(planes.shape[2]):
        plane = planes[..., ch]
        neigh = plane[same & np.isfinite(plane)]
        if neigh.size < 4 or not np.isfinite(plane[c, c]):
            continue
        med = float(np.median(neigh))
        sigma = 1.4826 * float(np.median(np.abs(neigh - med))) + floor
        z = (float(plane[c, c]) - med) / sigma
        if abs(z) > abs(best):
            best = z
    return best


def _stands_out_most(crop: np.ndarray, colours: np.ndarray | None) -> bool:
    """Whether the centre is what stands out most in the crop, among the cells of its
    colour, in the channel where it stands out most: a crop where some edge of the scene
    outshines the defect does not show the user their defect."""
    c = crop.shape[0] // 2
    planes = crop if crop.ndim == 3 else crop[..., None]
    same = np.ones(crop.shape[:2], dtype=bool) if colours is None else colours == colours[c, c]
    same &= np.isfinite(planes).all(axis=2)
    dev = np.abs(planes - np.median(planes[same], axis=0))
    ch = int(np.argmax(dev[c, c]))
    return bool(dev[c, c, ch] >= dev[..., ch][same].max())


def _shows(z: float, kind: DefectKind) -> bool:
    if kind is DefectKind.HOT:
        return z >= 5.0
    if kind is DefectKind.DEAD:
        return z <= -5.0
    return abs(z) >= 5.0


def crop_rgb(
    crop: np.ndarray, colours: np.ndarray | None, scale: int = CROP_SCALE, gain: float = 1.0
) -> np.ndarray:
    """Magnified uint8 RGB of a 0..1 crop times ``gain``: nearest-neighbour cells, padding hatched.

    RAW photosites (2-D crop with CFA ``colours``) are shown with a gamma of 2.2 and tinted
    by their filter colour, so the mosaic reads as a sensor; JPEG pixels are shown as they are.
    """
    if crop.ndim == 2:
        v = np.clip(np.nan_to_num(crop) * gain, 0.0, 1.0) ** (1 / 2.2)
        tint = _CFA_TINT[colours] if colours is not None else np.ones((*crop.shape, 3))
        rgb = v[..., None] * tint
        pad = ~np.isfinite(crop)
    else:
        rgb = np.clip(np.nan_to_num(crop) * gain, 0.0, 1.0)
        pad = ~np.isfinite(crop).all(axis=2)
    cells = np.round(rgb * 255.0).astype(np.uint8)
    big = np.repeat(np.repeat(cells, scale, axis=0), scale, axis=1)
    if pad.any():
        big_pad = np.repeat(np.repeat(pad, scale, axis=0), scale, axis=1)
        yy, xx = np.mgrid[: big.shape[0], : big.shape[1]]
        stripe = ((xx + yy) // 3) % 2 == 0
        big[big_pad & stripe] = (70, 70, 76)
        big[big_pad & ~stripe] = (38, 38, 42)
    return big


def _png(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# --------------------------------------------------------------------------- SVG


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _late(d: DefectRow, acc: AccumulatorRow) -> bool:
    """Appeared after the first day of photos of its accumulator (a defect the sensor grew).

    A day of slack: the detector dates a defect to the first photo that *shows* it, which
    for one present all along can be a few shots into the first session.
    """
    if d.onset is None or acc.first_taken is None:
        return False
    return _ts(d.onset) > _ts(acc.first_taken) + LATE_AFTER_HOURS * 3600.0


def _describe(d: DefectRow) -> str:
    return (
        f"{d.kind.value} {'photosite' if d.frame_kind is FrameKind.RAW else 'pixel'} "
        f"x={d.x} y={d.y} · onset {_day(d.onset)} · confirmed {_day(d.confirmed)} · "
        f"score {d.score:.1f}"
    )


def _shape_svg(kind: DefectKind, x: float, y: float, r: float, extra: str = "") -> str:
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
    r, m = 6.5 * s, 24 * s
    font = 11 * s
    out = [
        f'<svg class="sensor-map" data-acc="{_esc(acc.slug)}" data-width="{w}" data-height="{h}" '
        f'viewBox="{-m:.1f} {-m:.1f} {w + 2 * m:.1f} {h + 2 * m:.1f}" role="img" '
        f'aria-label="sensor map {_esc(section.title)}" preserveAspectRatio="xMidYMid meet">',
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
            f'text-anchor="{anchor_pos}">{_esc(label)}</text>'
        )
    label_all = len(section.defects) <= 40
    for d in sorted(section.defects, key=lambda d: (d.kind.value, d.y, d.x)):
        late = _late(d, acc)
        ring = f' stroke="#ffffff" stroke-width="{2 * s:.2f}"' if late else ""
        onset = d.onset.isoformat() if d.onset else ""
        confirmed = d.confirmed.isoformat() if d.confirmed else ""
        out.append(
            f'<a class="marker" href="#{anchor}crop-{d.id}" data-x="{d.x}" data-y="{d.y}" '
            f'data-kind="{d.kind.value}" data-onset="{_esc(onset)}" '
            f'data-confirmed="{_esc(confirmed)}" data-score="{d.score:.2f}" '
            f'data-late="{int(late)}"><title>{_esc(_describe(d))}</title>'
            + _shape_svg(d.kind, d.x + 0.5, d.y + 0.5, r, ring)
        )
        if late and label_all:
            out.append(
                f'<text x="{d.x + 0.5 + 1.6 * r:.1f}" y="{d.y + 0.5 + 0.4 * font:.1f}" '
                f'font-size="{font:.1f}" fill="#ffffff">since {_esc(_day(d.onset))}</text>'
            )
        out.append("</a>")
    out.append("</svg>")
    return "".join(out)


def _defect_steps(section: AccSection) -> tuple[list[tuple[float, int]], int]:
    """((time, defects present) after each onset, defects without an onset date).

    Undated defects count as present from the start.
    """
    times = sorted(_ts(d.onset) for d in section.defects if d.onset is not None)
    base = sum(1 for d in section.defects if d.onset is None)
    return [(t, base + i + 1) for i, t in enumerate(times)], base


@dataclass(frozen=True)
class _TimelineGeometry:
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


def _timeline_geometry(body: BodySection, width: int = 760, height: int = 280) -> _TimelineGeometry:
    months = [m for m, _, _ in body.months]
    t0, t1 = _month_start(months[0]), _month_end(months[-1])
    photos_max = max((r + j for _, r, j in body.months), default=1)
    defects_max = max((len(a.defects) for a in body.accs), default=1)
    return _TimelineGeometry(
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


_ACC_DASH = {FrameKind.RAW: "", FrameKind.JPEG: "6 4"}
_LINE_COLOURS = ("#7b4fd6", "#0f9d8a", "#d0487f", "#8a6d1f", "#2b6cb0")  # not kind colours
_BAR_RAW, _BAR_JPEG = "#5b6470", "#a3acb9"


def timeline_svg(body: BodySection) -> str:
    """Photos ingested per month (stacked bars: RAW, JPEG) and defects present over time.

    One step line per accumulator, rising at each defect's onset (a dot with a hover text
    marks each onset). Left axis: photos per month; right axis: defects present.
    """
    if not body.months:
        return '<p class="timeline-empty">No dated photos: no timeline.</p>'
    g = _timeline_geometry(body)
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
        x0, x1 = g.x(_month_start(month)), g.x(_month_end(month))
        bw = max(1.0, (x1 - x0) * 0.7)
        bx = x0 + (x1 - x0 - bw) / 2
        y_raw = g.y_photos(raw)
        y_all = g.y_photos(raw + jpg)
        out.append(
            f'<g class="month" data-month="{month}" data-raw="{raw}" data-jpeg="{jpg}">'
            f"<title>{month}: {raw} RAW + {jpg} JPEG photos</title>"
            f'<rect x="{bx:.1f}" y="{y_raw:.1f}" width="{bw:.1f}" height="{base_y - y_raw:.1f}" '
            f'fill="{_BAR_RAW}"/>'
            f'<rect x="{bx:.1f}" y="{y_all:.1f}" width="{bw:.1f}" height="{y_raw - y_all:.1f}" '
            f'fill="{_BAR_JPEG}"/></g>'
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
        colour = _LINE_COLOURS[i % len(_LINE_COLOURS)]
        steps, base = _defect_steps(sec)
        pts = [(g.x(g.t0), g.y_defects(base))]
        for t, n in steps:
            x = g.x(t)
            pts += [(x, pts[-1][1]), (x, g.y_defects(n))]
        pts.append((g.x(g.t1), pts[-1][1]))
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        dash = _ACC_DASH.get(sec.acc.kind, "")
        out.append(
            f'<polyline class="defect-line" data-acc="{_esc(sec.acc.slug)}" points="{path}" '
            f'fill="none" stroke="{colour}" stroke-width="2.5"'
            + (f' stroke-dasharray="{dash}"' if dash else "")
            + "/>"
        )
        for d in sec.defects:
            if d.onset is None:
                continue
            n = 1 + sum(1 for e in steps if e[0] < _ts(d.onset))
            out.append(
                f'<circle class="onset" cx="{g.x(_ts(d.onset)):.1f}" '
                f'cy="{g.y_defects(base + n):.1f}" r="3.5" fill="{colour}">'
                f"<title>{_esc(_describe(d))}</title></circle>"
            )
    out.append(
        f'<text x="{g.left}" y="13" font-size="11" fill="#5b6470">photos per month</text>'
        f'<text x="{g.width - g.right}" y="13" font-size="11" text-anchor="end" '
        f'fill="#7b4fd6">defects present</text></svg>'
    )
    return "".join(out)


# --------------------------------------------------------------------------- PNG (Pillow)


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


def sensor_map_png(section: AccSection, width: int = 960):
    """The sensor map as a Pillow image, drawn directly (no SVG rasteriser needed)."""
    from PIL import Image, ImageDraw

    acc = section.acc
    margin, legend = 40, 36
    scale = (width - 2 * margin) / acc.width
    height = int(acc.height * scale) + 2 * margin + legend
    img = Image.new("RGB", (width, height), "#15171a")
    draw = ImageDraw.Draw(img)
    font = _font(13)
    x0, y0 = margin, margin
    x1, y1 = margin + acc.width * scale, margin + acc.height * scale
    draw.rectangle((x0, y0, x1, y1), fill="#202327", outline="#9aa0a6", width=2)
    for i in (1, 2, 3):
        draw.line((x0 + (x1 - x0) * i / 4, y0, x0 + (x1 - x0) * i / 4, y1), fill="#33373c")
        draw.line((x0, y0 + (y1 - y0) * i / 4, x1, y0 + (y1 - y0) * i / 4), fill="#33373c")
    title = f"{section.acc.body.label} · {section.title} · {len(section.defects)} defects"
    draw.text((x0, 12), title, fill="#e8eaed", font=font)
    r = 7
    for d in section.defects:
        cx, cy = x0 + (d.x + 0.5) * scale, y0 + (d.y + 0.5) * scale
        late = _late(d, acc)
        _draw_shape(draw, d.kind, cx, cy, r, "#ffffff" if late else None)
        if late and len(section.defects) <= 40:
            draw.text((cx + 1.7 * r, cy - 7), f"since {_day(d.onset)}", fill="#ffffff", font=font)
    lx = x0
    ly = height - legend + 6
    for kind in DefectKind:
        _draw_shape(draw, kind, lx + 8, ly + 8, 6, None)
        draw.text((lx + 20, ly), kind.value, fill="#e8eaed", font=font)
        lx += 90
    _draw_shape(draw, DefectKind.HOT, lx + 8, ly + 8, 6, "#ffffff")
    draw.text(
        (lx + 20, ly), "ringed: appeared after the first day of photos", fill="#e8eaed", font=font
    )
    return img


def _draw_shape(draw, kind: DefectKind, cx: float, cy: float, r: float, ring: str | None) -> None:
    colour, shape = KIND_STYLE[kind]
    width = 2 if ring else 0
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour, outline=ring, width=width)
    elif shape == "square":
        s = 0.9 * r
        draw.rectangle((cx - s, cy - s, cx + s, cy + s), fill=colour, outline=ring, width=width)
    else:
        pts = [(cx, cy - 1.15 * r), (cx + r, cy + 0.75 * r), (cx - r, cy + 0.75 * r)]
        draw.polygon(pts, fill=colour, outline=ring, width=width)


def timeline_png(body: BodySection, scale: int = 2):
    """The timeline as a Pillow image (same geometry as the SVG, drawn at ``scale``)."""
    from PIL import Image, ImageDraw

    if not body.months:
        img = Image.new("RGB", (760 * scale, 60 * scale), "#ffffff")
        ImageDraw.Draw(img).text((10, 10), "no dated photos", fill="#000000", font=_font(24))
        return img
    g = _timeline_geometry(body)
    img = Image.new("RGB", (g.width * scale, g.height * scale), "#ffffff")
    draw = ImageDraw.Draw(img)
    font = _font(11 * scale)

    def p(x: float, y: float) -> tuple[float, float]:
        return x * scale, y * scale

    base_y = g.height - g.bottom
    for frac in (0.0, 0.5, 1.0):
        y = g.y_photos(frac * g.photos_max)
        draw.line((*p(g.left, y), *p(g.width - g.right, y)), fill="#e3e6ea", width=scale)
        draw.text(
            p(g.left - 6, y - 7), f"{frac * g.photos_max:g}", fill="#5b6470", font=font, anchor="ra"
        )
        draw.text(
            p(g.width - g.right + 6, y - 7), f"{frac * g.defects_max:g}", fill="#7b4fd6", font=font
        )
    every = max(1, math.ceil(len(body.months) / 12))
    for i, (month, raw, jpg) in enumerate(body.months):
        x0, x1 = g.x(_month_start(month)), g.x(_month_end(month))
        bw = max(1.0, (x1 - x0) * 0.7)
        bx = x0 + (x1 - x0 - bw) / 2
        if raw:
            draw.rectangle((*p(bx, g.y_photos(raw)), *p(bx + bw, base_y)), fill=_BAR_RAW)
        if jpg:
            draw.rectangle(
                (*p(bx, g.y_photos(raw + jpg)), *p(bx + bw, g.y_photos(raw))), fill=_BAR_JPEG
            )
        if i % every == 0:
            draw.text(p((x0 + x1) / 2, base_y + 6), month, fill="#5b6470", font=font, anchor="ma")
    draw.line((*p(g.left, base_y), *p(g.width - g.right, base_y)), fill="#5b6470", width=scale)
    for i, sec in enumerate(body.accs):
        colour = _LINE_COLOURS[i % len(_LINE_COLOURS)]
        steps, base = _defect_steps(sec)
        pts = [(g.x(g.t0), g.y_defects(base))]
        for t, n in steps:
            pts += [(g.x(t), pts[-1][1]), (g.x(t), g.y_defects(n))]
        pts.append((g.x(g.t1), pts[-1][1]))
        draw.line([p(x, y) for x, y in pts], fill=colour, width=2 * scale)
        label = f"{sec.title}: {len(sec.defects)} defects"
        draw.text(p(g.left + 4, 16 + 14 * i), label, fill=colour, font=font)
    draw.text(p(g.left, 2), "photos per month (dark RAW, light JPEG)", fill="#5b6470", font=font)
    return img


# --------------------------------------------------------------------------- HTML

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
    return f'<span class="kind" style="background:{colour}">{_esc(kind.value)}</span>'


def _legend() -> str:
    items = []
    for kind in DefectKind:
        shape = _shape_svg(kind, 8, 8, 6)
        items.append(f'<span><svg width="16" height="16">{shape}</svg> {kind.value}</span>')
    ring = _shape_svg(DefectKind.HOT, 8, 8, 6, ' stroke="#fff" stroke-width="2"')
    items.append(
        f'<span><svg width="16" height="16">{ring}</svg> ringed, with a date: appeared after '
        "the first day of photos</span>"
    )
    return '<div class="legend">' + "".join(items) + "</div>"


def _facts(body: BodySection) -> str:
    b = body.body
    rows = [
        ("Body", _esc(b.label)),
        ("Make / model / serial", _esc(f"{b.make} / {b.model} / {b.serial or 'none read'}")),
        ("Photos counted", f"{b.frames_raw} RAW + {b.frames_jpeg} JPEG = {b.frames}"),
        ("Taken", f"{_day(body.first)} to {_day(body.last)}"),
        ("Watched since", _day(b.first_seen)),
    ]
    if body.undated:
        rows.append(("Undated photos", _undated_line(body.undated)))
    for sec in body.accs:
        a = sec.acc
        rows.append(
            (
                _esc(sec.title),
                f"{a.frames} photos, {len(sec.defects)} defects"
                + (f" ({len(sec.gone)} gone since)" if sec.gone else "")
                + f", {_day(a.first_taken)} to {_day(a.last_taken)}",
            )
        )
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
            f"<li>{n} × {_esc(reason or 'no reason recorded')}</li>"
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
            f"{' <b>new</b>' if _late(d, sec.acc) else ''}</td>"
            f"<td class='num'>{d.x}</td><td class='num'>{d.y}</td><td>{_day(d.onset)}</td>"
            f"<td>{_day(d.confirmed)}</td><td class='num'>{d.score:.1f}</td><td>{link}</td></tr>"
        )
    for d in sec.gone:
        rows.append(
            f'<tr class="gone"><td>{_kind_badge(d.kind)} gone</td><td class="num">{d.x}</td>'
            f'<td class="num">{d.y}</td><td>{_day(d.onset)}</td><td>–</td>'
            f'<td class="num">{d.score:.1f}</td><td>–</td></tr>'
        )
    return f'<table class="defects">{head}{"".join(rows)}</table>'


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
        f'data-kind="{d.kind.value}" data-acc="{_esc(sec.acc.slug)}" data-size="{size}" '
        f'data-scale="{CROP_SCALE}" data-shows="{int(crop.shows)}">'
        f'<div class="pair">{"".join(views)}</div>'
        f"<figcaption>{_kind_badge(d.kind)} x={d.x} y={d.y}, onset {_day(d.onset)} · "
        f"{_esc(name)}, {_day(crop.taken_at)} ({seen}; contrast {crop.contrast:+.1f}σ"
        + (f"; shown ×{crop.gain:.1f} brighter" if crop.gain > 1.05 else "")
        + ")"
        "</figcaption></figure>"
    )


def _per_year(g: Growth) -> str:
    return "" if g.per_year is None else f"{g.per_year:.3f}"


def _body_html(body: BodySection, anchor: str) -> str:
    parts = [f'<section class="body" id="{anchor}" data-body="{_esc(body.body.key)}">']
    parts.append(f"<h2>{_esc(body.body.label)}</h2>")
    parts.append(f'<div class="card">{_facts(body)}</div>')
    parts.append("<h3>Sensor map</h3>")
    parts.append(
        '<p class="note">The whole frame, as stored (never rotated). Hover a marker for its '
        "position, kind, onset, confirmation and score; click it for its crop.</p>"
    )
    maps = []
    for sec in body.accs:
        maps.append(
            f'<div class="map"><h3>{_esc(sec.title)} · {len(sec.defects)} defects · '
            f"{sec.acc.frames} photos</h3>{sensor_map_svg(sec, anchor + '-')}{_legend()}</div>"
        )
    parts.append('<div class="maps">' + "".join(maps) + "</div>")
    parts.append("<h3>Timeline</h3>")
    parts.append(f'<div class="card">{timeline_svg(body)}')
    lines = []
    for i, sec in enumerate(body.accs):
        colour = _LINE_COLOURS[i % len(_LINE_COLOURS)]
        dash = "dashed" if _ACC_DASH.get(sec.acc.kind) else "solid"
        lines.append(
            f'<li><span style="color:{colour}">■</span> {_esc(sec.title)} ({dash} line): '
            f'<span class="growth" data-acc="{_esc(sec.acc.slug)}" '
            f'data-per-year="{_per_year(sec.growth)}">'
            f"{_esc(sec.growth.note)}</span></li>"
        )
    parts.append(
        f'<ul class="note">{"".join(lines)}</ul><p class="note">Bars: photos per month '
        "(dark RAW, light JPEG). Lines: defects present, rising when each appeared. Growth rate "
        "= defects that appeared after the first day of photos ÷ years from the first to the last "
        f"photo; not given for less than {MIN_GROWTH_DAYS} days of history.</p></div>"
    )
    parts.append('<h3 class="defects-title">Defects</h3>')
    for sec in body.accs:
        parts.append(
            f'<div class="card defect-list"><b>{_esc(sec.title)}</b>'
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
        parts.append(f"<h3>{_esc(sec.title)}</h3>{note}<div class='crops'>{''.join(figures)}</div>")
    parts.append("</section>")
    return "".join(parts)


def render_html(report: Report) -> str:
    """The whole report as one HTML document: no scripts, no external resources."""
    anchors = [f"body-{b.slug}" for b in report.bodies]
    toc = ""
    if len(report.bodies) > 1:
        items = "".join(
            f'<li><a href="#{a}">{_esc(b.body.label)}</a>: '
            f"{sum(len(s.defects) for s in b.accs)} defects, {b.body.frames} photos</li>"
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
        f"<title>{_esc(report.title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_esc(report.title)}</h1>"
        f'<p class="muted">Generated by hotwatch on {generated}.</p>'
        f"{toc}{empty}{sections}{everything}</body></html>\n"
    )


# --------------------------------------------------------------------------- files


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
