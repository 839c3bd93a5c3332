"""A magnified crop of each defect from a photo that shows it, beside the same crop healed
the way the darktable plugin heals it (:mod:`hotwatch.outputs.report.healing`)."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from hotwatch.core.errors import HotwatchError
from hotwatch.core.model import DefectKind, Frame
from hotwatch.state.rows import AccumulatorRow, DefectRow, FileRow

from .healing import heal
from .times import ts

log = logging.getLogger(__name__)


CROP_HALF = 7  #: a crop is (2 * CROP_HALF + 1) px square, the defect at its centre
CROP_SCALE = 10  #: nearest-neighbour magnification of the crop PNGs
WINDOW_HALF = 64  #: pixels read around a defect: room for the heal source search
MAX_CROPS = 60  #: crops per accumulator (strongest first); the HTML stays a few MB
NEWEST_PHOTOS = 12  #: newest photos tried per accumulator for the crops...
OLDER_PHOTOS = 12  #: ...then this many older ones spread over the history (a run of dark frames)
MAX_GAIN = 8.0  #: at most this brightening of a dark crop


# CFA colour index -> tint of a photosite in RAW crops (0=R, 1=G, 2=B, 3=second green)
_CFA_TINT = np.array(
    [[1.0, 0.42, 0.38], [0.5, 1.0, 0.5], [0.45, 0.6, 1.0], [0.5, 1.0, 0.5]], dtype=np.float64
)


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


def best_crops(acc: AccumulatorRow, defects: Sequence[DefectRow], files: Sequence[FileRow]) -> dict:
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
        (f for f in files if f.taken_at is not None), key=lambda f: ts(f.taken_at), reverse=True
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
    return ts(f.taken_at) >= ts(d.onset) - 1.0  # onsets are capture times: allow rounding


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
        before=png_bytes(crop_rgb(before, colours, gain=gain)),
        after=png_bytes(crop_rgb(after, colours, gain=gain)),
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


def png_bytes(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, "PNG", optimize=True)
    return buf.getvalue()
