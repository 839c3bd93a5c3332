"""Learning where a body's camera JPEGs sit on its raw photosites, from RAW+JPEG pairs.

Why: a defect seen in the raws and the same one seen in the JPEGs must be told as one, and
the JPEG is a crop of the photosites (resampled at M and S sizes), so the two positions
differ (:mod:`hotwatch.core.frame_map`). Whoever shoots RAW+JPEG hands hotwatch the answer
in every shot: the two files show the same scene. The ingest offers each photo it absorbs
here; a RAW and a JPEG of one body taken at the same instant (to the sub-second the camera
writes; same file stem when several share it) are a pair, and the first pairs of each
(raw size, JPEG size) are registered (:mod:`hotwatch.core.register`) until enough fits
agree (the map is then known, and kept in the catalogue), or ``MAX_PAIRS`` pairs did not
(the map failed: the JPEG is no affine image of the raw, as when the camera corrects lens
distortion; its defects are then listed apart). A map another body of the same model
learned is taken as it is.

Cost: both files of a pair are decoded again (a registration needs their pixels, which the
ingest has long dropped) — only for a body's first pairs, about a second each at 10 MP.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hotwatch.core.errors import HotwatchError
from hotwatch.core.frame_map import MAX_PAIRS, FrameMap, settle
from hotwatch.core.model import AccumulatorKey, FrameKind
from hotwatch.core.register import Registration, luma, register
from hotwatch.io.frames import read_frame
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.rows import FAILED, KNOWN, LEARNING, MapRow

log = logging.getLogger(__name__)

RECENT_SHOTS = 32  #: shots remembered while waiting for the other file of their pair


@dataclass(frozen=True)
class _File:
    path: Path
    key: AccumulatorKey


@dataclass(frozen=True)
class Learned:
    """What one registration changed: the map's status after it, and the fit."""

    body_key: str
    raw_size: tuple[int, int]
    jpeg_size: tuple[int, int]
    status: str
    fmap: FrameMap | None
    fit: Registration | None
    line: str


class Pairer:
    """Pairs the photos the ingest absorbs, and learns maps from the pairs. One per ingest."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self._shots: OrderedDict[tuple[str, str], list[_File]] = OrderedDict()

    def offer(self, path: Path, key: AccumulatorKey, taken_at: datetime | None) -> list[Learned]:
        """A photo absorbed: register it with the other file of its shot, if that came."""
        if taken_at is None:
            return []
        shot = (key.body.key, taken_at.isoformat())
        files = self._shots.setdefault(shot, [])
        new = _File(path, key)
        files.append(new)
        self._shots.move_to_end(shot)
        while len(self._shots) > RECENT_SHOTS:
            self._shots.popitem(last=False)
        pairs = [p for p in _pairs(files) if new in p]
        return [self._learn(raw, jpeg) for raw, jpeg in pairs]

    def _learn(self, raw: _File, jpeg: _File) -> Learned:
        body_key = raw.key.body.key
        raw_size = (raw.key.width, raw.key.height)
        jpeg_size = (jpeg.key.width, jpeg.key.height)
        row = next(
            (
                m
                for m in self.catalogue.frame_maps(body_key)
                if (m.raw_size, m.jpeg_size) == (raw_size, jpeg_size)
            ),
            None,
        )
        if row is not None and row.status in (KNOWN, FAILED):
            return Learned(body_key, raw_size, jpeg_size, row.status, row.map, None, "")
        sibling = self._model_map(raw.key, raw_size, jpeg_size)
        if sibling is not None:
            self._save(raw.key, jpeg_size, KNOWN, sibling.map, "model", (), 0, "")
            line = f"{raw.key.body.label}: its JPEG {_size(jpeg_size)} is placed as its model's"
            return Learned(body_key, raw_size, jpeg_size, KNOWN, sibling.map, None, line)
        return self._register(raw, jpeg, row)

    def _model_map(
        self, key: AccumulatorKey, raw_size: tuple[int, int], jpeg_size: tuple[int, int]
    ) -> MapRow | None:
        body = key.body
        for m in self.catalogue.model_maps(body.make, body.model):
            if (m.raw_size, m.jpeg_size) == (raw_size, jpeg_size) and m.body_key != body.key:
                return m
        return None

    def _register(self, raw: _File, jpeg: _File, row: MapRow | None) -> Learned:
        raw_size = (raw.key.width, raw.key.height)
        jpeg_size = (jpeg.key.width, jpeg.key.height)
        fits = list(row.fits) if row is not None else []
        attempts = (row.attempts if row is not None else 0) + 1
        fit, why = _fit_pair(raw.path, jpeg.path)
        if fit is not None and fit.accepted:
            fits.append((*fit.map.to_list(), fit.confidence, fit.rms))
        fmap = settle([FrameMap.from_list(f[:4]) for f in fits], *raw_size)
        label = raw.key.body.label
        if fmap is not None:
            status, note = KNOWN, f"{len(fits)} of {attempts} pairs registered"
            ox, oy = fmap.crop_origin()
            line = (
                f"{label}: learned where its JPEG {_size(jpeg_size)} sits on its raw "
                f"{_size(raw_size)}: crop from photosite {ox:.1f},{oy:.1f}, scale "
                f"{fmap.scale:.4f} ({note})"
            )
        elif attempts >= MAX_PAIRS:
            status, note = FAILED, _failed_note(fits, attempts)
            line = (
                f"{label}: could not place its JPEG {_size(jpeg_size)} on its raw "
                f"{_size(raw_size)} ({note}); their defects are listed apart"
            )
        else:
            status, note, line = LEARNING, why, ""
        self._save(raw.key, jpeg_size, status, fmap, "registration", fits, attempts, note)
        if line:
            log.info("%s", line)
        return Learned(raw.key.body.key, raw_size, jpeg_size, status, fmap, fit, line)

    def _save(
        self,
        key: AccumulatorKey,
        jpeg_size: tuple[int, int],
        status: str,
        fmap: FrameMap | None,
        source: str,
        fits: list | tuple,
        attempts: int,
        note: str,
    ) -> None:
        body = self.catalogue.body(key.body.key)
        self.catalogue.save_map(
            key.body.key,
            (key.width, key.height),
            jpeg_size,
            status=status,
            fmap=fmap,
            source=source,
            fits=fits,
            attempts=attempts,
            tried_at_frames=body.frames if body is not None else 0,
            note=note,
        )


def _pairs(files: list[_File]) -> list[tuple[_File, _File]]:
    """The (RAW, JPEG) pairs of one shot: a JPEG goes with the raw of its stem, or with the
    shot's only raw (a camera names a pair alike; a burst that shares a time to the second,
    when the camera writes no sub-seconds, pairs by name only)."""
    raws = [f for f in files if f.key.kind is FrameKind.RAW]
    out = []
    for jpeg in (f for f in files if f.key.kind is FrameKind.JPEG):
        stem = [r for r in raws if r.path.stem.upper() == jpeg.path.stem.upper()]
        raw = stem[0] if stem else raws[0] if len(raws) == 1 else None
        if raw is not None:
            out.append((raw, jpeg))
    return out


def _fit_pair(raw_path: Path, jpeg_path: Path) -> tuple[Registration | None, str]:
    """Register one pair (both files decoded again); None and why when it cannot be."""
    try:
        raw = read_frame(raw_path, FrameKind.RAW)
        jpeg = read_frame(jpeg_path, FrameKind.JPEG)
    except (HotwatchError, OSError) as exc:
        return None, f"could not read the pair {raw_path.name} + {jpeg_path.name}: {exc}"
    if raw.cfa is None:
        return None, f"{raw_path.name} has no colour pattern"
    fit = register(raw.data, raw.cfa, raw.black, raw.white, luma(jpeg.data))
    verdict = "registered" if fit.accepted else "not registered"
    why = (
        f"{raw_path.name} + {jpeg_path.name} {verdict}: confidence {fit.confidence:.2f}, "
        f"{fit.inliers} of {fit.tiles} tiles agree, RMS {fit.rms:.2f} photosites"
    )
    log.debug("%s", why)
    return fit, why


def _failed_note(fits: list, attempts: int) -> str:
    if not fits:
        return f"none of {attempts} pairs registered"
    return f"{len(fits)} of {attempts} pairs registered, but they do not agree"


def _size(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"
