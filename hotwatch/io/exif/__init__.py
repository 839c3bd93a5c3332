"""Which camera body took a file, and the shot facts: exifread first, exiftool when needed.

A body is normalised make + model + serial. exifread (pure Python, ~1 ms a JPEG) reads EXIF
and some maker notes; it finds no make/model at all in CR3, CRW, RAF, MRW, X3F and HEIF, and
no serial in Pentax, Panasonic, Sony and new Olympus maker notes (see tests/test_exif.py for
the per-maker table). For those files the long-lived exiftool process
(:mod:`hotwatch.io.exiftool`) is asked as well.

This module reads a file and answers (:func:`identify_file` also says which reader and tag
gave each part, for ``hotwatch identify``); the knowledge it reads with lives beside it:
:mod:`.names` (one spelling per make, model and serial), :mod:`.serials` (where a serial
sits, and the ranking both readers share), :mod:`.shot` (where the capture time, exposure
and ISO sit, and how the readers' facts merge), :mod:`.xmp` (XMP packets) and
:mod:`.values` (reading tag values). The capture time is read here, once, for everyone:
the ingest (:func:`read_camera_file`), and the scan and the daemon that put files in
capture order (:func:`capture_order`).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import exifread

from hotwatch.core.dating import frame_time
from hotwatch.core.errors import HotwatchError, UnreadableFile, UnsupportedFile
from hotwatch.core.model import BodyId, CameraFile
from hotwatch.core.serial_display import display_serial
from hotwatch.io import guarded
from hotwatch.io.exiftool import DATE_TAGS, ExifTool, ExifToolError

from .names import normalise_make, normalise_model
from .serials import (
    INTERNAL,
    JPEG_SHIFTED_SEGMENTS,
    MAKER,
    Candidate,
    best_serial,
    exifread_serials,
    exiftool_serials,
)
from .shot import (
    fill,
    lacks,
    merge,
    pick,
    pick_key,
    shot_from_exifread,
    shot_from_exiftool,
    when,
)
from .shot import sources as shot_sources
from .values import clean_text, exifread_value
from .xmp import read_xmp_packet, shot_from_xmp, xmp_serials

log = logging.getLogger(__name__)

# exifread logs a warning for every file without EXIF ("File format not
# recognized"); for a folder watcher that is noise, our own errors say it better.
logging.getLogger("exifread").setLevel(logging.ERROR)


# --------------------------------------------------------------------------
# file sniffing
# --------------------------------------------------------------------------

_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "jpeg"),
    (0, b"II*\x00", "tiff"),
    (0, b"MM\x00*", "tiff"),
    (0, b"IIRO", "tiff"),  # Olympus ORF
    (0, b"IIRS", "tiff"),
    (0, b"MMOR", "tiff"),
    (0, b"IIU\x00", "tiff"),  # Panasonic RW2
    (0, b"II\x1a\x00\x00\x00HEAPCCDR", "crw"),
    (0, b"IIII", "iiq"),
    (0, b"FUJIFILMCCD-RAW", "raf"),
    (0, b"\x00MRM", "mrw"),
    (0, b"FOVb", "x3f"),
    (4, b"ftyp", "isobmff"),  # HEIC/HEIF/AVIF/CR3
    (0, b"\x89PNG\r\n\x1a\n", "png"),
    (0, b"\xff\x0a", "jxl"),
    (0, b"\x00\x00\x00\x0cJXL ", "jxl"),
)


# Containers in which exifread finds no make/model at all (measured on real files).
_EXIFTOOL_ONLY_FORMATS = frozenset({"crw", "iiq", "raf", "mrw", "x3f", "isobmff"})


def sniff_format(head: bytes) -> str | None:
    """Container format from the first bytes, or None if it is no image we know."""
    for offset, magic, name in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def _jpeg_looks_truncated(fh: BinaryIO) -> bool:
    """A JPEG whose last bytes hold no EOI marker was cut short (copy in progress, damage)."""
    fh.seek(0, 2)
    size = fh.tell()
    fh.seek(max(0, size - 1024))
    return b"\xff\xd9" not in fh.read()


# --------------------------------------------------------------------------
# the public entry points
# --------------------------------------------------------------------------


# Brands whose maker note exifread decodes correctly and with a serial in it.
# Others are not decoded at all: exifread finds no serial there, and it reads
# Sony's "SONY DSC " and new Olympus' "OLYMPUS\0II" headers as an IFD with
# ~20,000 junk entries (30 ms a file). Old Olympus notes (0x0404, early-2000s
# compacts) would work but cannot be told apart cheaply: exiftool reads them.
_EXIFREAD_MAKER_NOTE_BRANDS = frozenset({"NIKON", "CANON", "FUJIFILM"})


def _run_exifread(fh: BinaryIO, details: bool) -> tuple[dict[str, Any], Exception | None]:
    """exifread's tags (thumbnails skipped; maker notes if ``details``) and its error."""
    fh.seek(0)
    try:
        tags = exifread.process_file(fh, details=details, extract_thumbnail=False, strict=False)
        return dict(tags), None
    except Exception as err:  # exifread raises anything on damaged files
        return {}, err


def _tag_text(tags: Mapping[str, Any], key: str) -> str:
    value = tags.get(key)
    return clean_text(exifread_value(value)) if value is not None else ""


@dataclass
class _Reading:
    """What the file's own bytes say (exifread, XMP), before exiftool is asked."""

    fmt: str | None
    tags: dict[str, Any]
    error: Exception | None
    make: str
    model: str
    cands: list[Candidate]
    facts: dict[str, Any]
    truncated: bool = False  #: a JPEG without its end marker (only looked at when unnamed)


def _read_own(fh: BinaryIO, path: Path) -> _Reading:
    """exifread first, without maker notes (~0.2 ms); a second pass decodes the maker
    note only for NIKON, CANON and FUJIFILM files that have no EXIF/DNG serial or lack a
    shot fact (Nikon keeps the ISO there too); then an XMP packet, when that leaves no
    serial or a shot fact missing."""
    head = fh.read(32)
    if not head:
        raise UnreadableFile(f"{path.name}: empty file (0 bytes)")
    fmt = sniff_format(head)
    tags: dict[str, Any] = {}
    error: Exception | None = None
    if fmt is not None:
        tags, error = _run_exifread(fh, details=False)
    make = _tag_text(tags, "Image Make")
    model = _tag_text(tags, "Image Model")
    cands = exifread_serials(tags, make)
    facts = shot_from_exifread(tags)
    brand = normalise_make(make) if make else ""
    if (not cands or lacks(facts)) and error is None and brand in _EXIFREAD_MAKER_NOTE_BRANDS:
        tags, error = _run_exifread(fh, details=True)  # decode the maker note
        cands = exifread_serials(tags, make)
        facts = shot_from_exifread(tags)
    if fmt == "jpeg" and "NIKON" in make.upper() and head[6:10] in JPEG_SHIFTED_SEGMENTS:
        cands = [c for c in cands if c.rank < MAKER]
    if fmt is not None and make and (not cands or lacks(facts)):
        packet = read_xmp_packet(fh, tags, fmt)
        if not cands:
            cands = xmp_serials(packet, make)
        if lacks(facts):
            fill(facts, shot_from_xmp(packet))
    truncated = fmt == "jpeg" and not (make and model) and _jpeg_looks_truncated(fh)
    return _Reading(fmt, tags, error, make, model, cands, facts, truncated)


def _read_guarded(path: Path, read: Callable[[BinaryIO], Any]) -> Any:
    """``read(fh)`` on the file under :mod:`hotwatch.io.guarded` (no hang, regular files only)."""
    try:
        return guarded.with_file(path, read)
    except OSError as err:
        raise UnreadableFile(f"cannot open {path.name}: {err.strerror or err}") from err


@dataclass(frozen=True)
class Identification:
    """A file's body and shot facts, and where each was read.

    ``sources`` names the reader and tag of each part found: ``make``, ``model``, ``serial``,
    ``taken_at``, ``exposure`` and ``iso`` (e.g. "exifread Image Make", "maker note
    (exifread) MakerNote SerialNumber", "exiftool Canon:SerialNumber", "xmp
    exif:DateTimeOriginal"); a part found nowhere has no entry. ``serials`` are every serial
    found, best first; ``exiftool`` tells whether exiftool was asked (it is only when the
    file's own tags leave a gap) and ``exiftool_error`` what it said when it failed.
    """

    camera: CameraFile
    format: str | None
    sources: Mapping[str, str]
    serials: tuple[Candidate, ...] = ()
    exiftool: bool = False
    exiftool_error: str | None = None


def read_camera_file(
    path: Path, exiftool: ExifTool | None = None, *, data: bytes | bytearray | None = None
) -> CameraFile:
    """The body (make, model, serial) and shot facts of one image file.

    ``data`` is the file's content when the caller has read it already (the ingest
    reads each photo once); otherwise only the parts the readers need are read, under
    guard (:mod:`hotwatch.io.guarded`). exifread first (see ``_read_own``), then exiftool
    (if given) when that leaves no make, no model or no serial ranked above
    InternalSerialNumber, or no capture date, exposure or ISO: the best-ranked serial of
    both readers wins, and exiftool fills the shot facts the file's own tags lack. A
    file with no capture date anywhere has ``shot.taken_at`` None (see
    :func:`hotwatch.core.dating.frame_time` for the time it counts at). Raises
    UnsupportedFile when the file is no image or has no camera make/model (a scan, a
    screenshot, an export that dropped EXIF), UnreadableFile when it is empty or cannot be
    parsed (truncated, damaged). :func:`identify_file` says where each part was read.
    """
    return identify_file(path, exiftool, data=data).camera


def identify_file(
    path: Path, exiftool: ExifTool | None = None, *, data: bytes | bytearray | None = None
) -> Identification:
    """:func:`read_camera_file`, with where each part of the answer was read."""
    path = Path(path)
    if data is not None:
        own = _read_own(guarded.MemoryFile(data), path)
    else:
        own = _read_guarded(path, lambda fh: _read_own(fh, path))
    make, model, best = own.make, own.model, best_serial(own.cands)
    cands = list(own.cands)
    where = {"make": "exifread Image Make", "model": "exifread Image Model"}
    meta: dict[str, Any] = {}
    exiftool_error: str | None = None
    need_exiftool = (
        not make or not model or best is None or best.rank >= INTERNAL or bool(lacks(own.facts))
    )
    asked = exiftool is not None and need_exiftool
    if exiftool is not None and need_exiftool:
        try:
            meta = exiftool.read(path)
        except ExifToolError as err:
            exiftool_error = str(err)
            log.warning("exiftool failed on %s: %s", path, err)
        exiftool_error = exiftool_error or clean_text(meta.get("ExifTool:Error") or "") or None
        for name, have in (("Make", make), ("Model", model)):
            key = pick_key(meta, name)
            if not have and key is not None:
                where[name.lower()] = f"exiftool {key}"
        make = make or clean_text(pick(meta, "Make") or "")
        model = model or clean_text(pick(meta, "Model") or "")
        cands += exiftool_serials(meta, make)
        best = best_serial(cands)

    if not make or not model:
        raise _no_make_model(path, own, exiftool, exiftool_error)

    brand = normalise_make(make, model)
    model_name = normalise_model(make, model)
    serial = best.serial if best else None
    shown = display_serial(brand, model_name, serial, best.written if best else None)
    body = BodyId(make=brand, model=model_name, serial=serial, shown=shown)
    more = shot_from_exiftool(meta) if meta else {}
    shot = merge(own.facts, more)
    sources = {**where, **shot_sources(own.facts, more)}
    if best is not None:
        sources["serial"] = best.source
    log.debug("%s: %s (serial from %s)", path.name, body.label, best.source if best else "-")
    if shot.taken_at is None:
        log.debug("%s: no capture date in any tag", path.name)
    ranked = tuple(sorted(cands, key=lambda c: c.rank))
    return Identification(
        CameraFile(body=body, shot=shot), own.fmt, sources, ranked, asked, exiftool_error
    )


def _no_make_model(
    path: Path, own: _Reading, exiftool: ExifTool | None, exiftool_error: str | None
) -> HotwatchError:
    """Why a file without a make or model cannot be used: not an image, damaged, or a
    container only exiftool reads, or an image without camera EXIF."""
    fmt = own.fmt
    if fmt is None:
        return UnsupportedFile(f"{path.name}: not an image (unrecognised file format)")
    damaged = (
        own.error is not None
        or (exiftool is not None and exiftool_error is not None)
        or own.truncated
        or (fmt == "tiff" and not own.tags)  # a TIFF always has an IFD0 with tags
    )
    if damaged:
        why = own.error or exiftool_error or "truncated"
        return UnreadableFile(f"{path.name}: cannot parse metadata ({why})")
    if exiftool is None and fmt in _EXIFTOOL_ONLY_FORMATS:
        return UnsupportedFile(
            f"{path.name}: no camera make/model ({fmt} needs exiftool, not found)"
        )
    return UnsupportedFile(f"{path.name}: no camera make/model in EXIF")


def _read_date(fh: BinaryIO) -> dict[str, Any]:
    """The dates of a file from its own tags (EXIF IFD, IFD0, XMP), nothing else."""
    fmt = sniff_format(fh.read(32))
    if fmt is None:
        return {}
    tags, _ = _run_exifread(fh, details=False)
    facts = shot_from_exifread(tags)
    if facts["taken_at"] is None:
        facts["taken_at"] = shot_from_xmp(read_xmp_packet(fh, tags, fmt))["taken_at"]
    return facts


def capture_time(path: Path, exiftool: ExifTool | None = None) -> datetime | None:
    """When a photo was taken, as :func:`read_camera_file` reads it (the same tags, in the
    same order: EXIF IFD or IFD0, XMP, exiftool if given, IFD0 DateTime), or None when the
    file keeps no date or cannot be read. Cheap (no maker notes, no body serial): for
    putting files in capture order before they are read."""
    path = Path(path)
    try:
        own = guarded.with_file(path, _read_date)
    except (OSError, HotwatchError):
        return None
    more: dict[str, Any] = {}
    if own.get("taken_at") is None and exiftool is not None:
        with contextlib.suppress(ExifToolError):
            more = shot_from_exiftool(exiftool.read(path, DATE_TAGS))
    return when(own, more)


def capture_order(path: Path, exiftool: ExifTool | None = None) -> float:
    """A photo's place in capture order: its capture time, as
    :func:`hotwatch.core.dating.frame_time` counts it.

    A file that keeps no date takes its place by its modification time (the camera's
    write time, when a card import kept it): a place in the order only, never a date;
    the time it counts at is ``frame_time``'s.
    """
    taken = capture_time(path, exiftool)
    if taken is not None:
        return frame_time(taken, None)
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def written_make(path: Path) -> str | None:
    """The EXIF make exactly as the file writes it ("NIKON CORPORATION"), None if absent or
    unreadable: RawTherapee matches its file names on this spelling."""

    def read(fh: BinaryIO) -> str:
        if sniff_format(fh.read(32)) is None:
            return ""
        tags, _ = _run_exifread(fh, details=False)
        return _tag_text(tags, "Image Make")

    try:
        return guarded.with_file(path, read) or None
    except (OSError, HotwatchError):
        return None
