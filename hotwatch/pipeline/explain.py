"""What a scan would do with a file, and why: the answer of ``hotwatch identify``.

Why: when a body shows no serial, or a photo never counts, the user needs to see what
hotwatch read and where: the body (make, model, serial as the camera shows it, the key it is
filed under), which reader found each part (exifread, a maker note, XMP, exiftool), the
frame kind and size, the capture time, exposure and ISO with the tag each came from, and
what a scan would do: ingest the photo into which accumulator, or skip it and why. The same
steps as the ingest (:func:`hotwatch.pipeline.ingest.identify` and ``decode``), the same
reasons, and the catalogue only read: nothing is recorded, no accumulator touched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from hotwatch.core.model import AccumulatorKey, BodyId, FileStatus, FrameKind, ShotInfo
from hotwatch.io.exif import CameraFile, Identification, identify_file
from hotwatch.io.exiftool import ExifTool
from hotwatch.state.catalogue import Catalogue

from .ingest import decode, identify, is_quiet

INGEST, SKIP, FAIL, IGNORE, UNCHANGED = "ingest", "skip", "fail", "ignore", "unchanged"


@dataclass(frozen=True)
class Explanation:
    """One file as a scan would see it.

    ``action``: ``ingest`` (into ``accumulator``), ``unchanged`` (read before, not again),
    ``skip`` or ``fail`` (with the ``reason`` the catalogue would record), ``ignore`` (a
    sidecar, a video: passed over without a word).
    """

    path: Path
    action: str
    reason: str = ""
    body: BodyId | None = None
    sources: dict[str, str] = field(default_factory=dict)
    shot: ShotInfo | None = None
    frame: tuple[FrameKind, int, int] | None = None
    accumulator: AccumulatorKey | None = None
    photos_so_far: int | None = None  #: the accumulator's photos (None: a new one)
    exiftool: bool = False  #: exiftool was asked


def explain(path: Path, exiftool: ExifTool | None, cat: Catalogue | None) -> Explanation:
    """What a scan would do with ``path`` (``cat``: the catalogue if there is one)."""
    path = Path(os.path.abspath(path))
    if is_quiet(path):
        return Explanation(path, IGNORE, "a sidecar, video or other companion file")
    if not path.exists() and not path.is_symlink():
        return Explanation(path, FAIL, "no such file")
    read: list[Identification] = []  # the one reading of the file, with its sources

    def reading(path: Path, exiftool: object | None, *, data: bytes | bytearray) -> CameraFile:
        read.append(identify_file(path, exiftool, data=data))  # type: ignore[arg-type]
        return read[-1].camera

    photo = identify(path, exiftool, read=reading)
    found = read[0] if read and photo.status is None else None
    base = Explanation(
        path,
        FAIL,
        body=found.camera.body if found else None,
        sources=dict(found.sources) if found else {},
        shot=found.camera.shot if found else None,
        exiftool=found.exiftool if found else False,
    )
    decoded = decode(photo)
    if decoded.status is not None:
        action = SKIP if decoded.status is FileStatus.SKIPPED else FAIL
        return replace(base, action=action, reason=decoded.reason)
    frame = decoded.frame
    assert frame is not None and decoded.camera is not None
    shape = (frame.kind, frame.width, frame.height)
    key = AccumulatorKey(decoded.camera.body, frame.kind, frame.width, frame.height)
    base = replace(base, frame=shape, accumulator=key)
    return _against_catalogue(base, decoded.size, decoded.mtime_ns, decoded.digest, cat)


def _against_catalogue(
    base: Explanation, size: int, mtime_ns: int, digest: str | None, cat: Catalogue | None
) -> Explanation:
    """Whether the catalogue already has this file (unchanged), or its content under
    another name (a copy), and how many photos its accumulator holds."""
    if cat is None:
        return replace(base, action=INGEST, reason="nothing scanned yet: a new body")
    known = cat.file_by_path(str(base.path))
    if known and known.size == size and known.mtime_ns == mtime_ns:
        when = known.last_seen.date().isoformat()
        why = f"read on {when} ({known.status.value}{': ' + known.reason if known.reason else ''})"
        return replace(base, action=UNCHANGED, reason=why)
    if digest is not None:
        copy = cat.file_by_digest(digest)
        if copy is not None and copy.path != str(base.path):
            why = f"same content as {copy.path} (already counted)"
            return replace(base, action=SKIP, reason=why)
    assert base.accumulator is not None
    acc = next((a for a in cat.accumulators() if a.slug == base.accumulator.slug), None)
    if acc is None:
        new = "a new body" if cat.body(base.accumulator.body.key) is None else "a new size"
        return replace(base, action=INGEST, reason=new)
    return replace(base, action=INGEST, reason="", photos_so_far=acc.frames)
