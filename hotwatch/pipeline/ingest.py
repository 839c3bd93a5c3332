"""The steps that take one photo file into its body's accumulator.

identify (catalogue: unchanged? same content seen?) -> read EXIF -> decode ->
accumulate -> check for new defects -> record. Accumulators are kept in memory
while a batch runs and persisted at checkpoints; the catalogue rows of the
files absorbed since the last checkpoint are committed only *after* the
accumulators are safely on disk. Each accumulator also lists the content
digests it absorbed, so after a crash between the two steps a file is
recognised as already counted: no photo is lost, none is counted twice.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import xxhash

from hotwatch.core import confirm, evidence
from hotwatch.core import detect as detect_mod
from hotwatch.core.accumulator import Accumulator, content_digest
from hotwatch.core.dating import frame_time
from hotwatch.core.errors import DamagedState, DiskFull, UnreadableFile, UnsupportedFile
from hotwatch.core.events import NewDefect, StateDamaged
from hotwatch.core.evidence import FrameEvidence
from hotwatch.core.model import (
    AccumulatorKey,
    BodyId,
    CameraFile,
    Defect,
    FileStatus,
    Frame,
    FrameKind,
)
from hotwatch.io import frames, guarded, memory
from hotwatch.io.exif import read_camera_file
from hotwatch.io.readahead import read_ahead
from hotwatch.state import sensors, store
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.config import Paths

from .pairing import Pairer

log = logging.getLogger(__name__)

#: Files that live beside photos and are never photos: ignored without a word.
_QUIET = (
    ".xmp .thm .pp3 .dop .aae .json .db .ini .txt .lrv .mov .mp4 .avi .mts .wav .pto .xml .dat "
    ".ctg .bin .log .md .pdf .cos .acr .arp .on1 .xcf .psd .lock .tmp .part .crdownload .hwacc "
    ".sqlite .sqlite-wal .sqlite-shm .html"
)
QUIET_SUFFIXES = frozenset(_QUIET.split())
CHECKPOINT_FRAMES = 25
CHECKPOINT_SECONDS = 60.0
#: a checkpoint of big accumulators takes a while (0.5 s at 10 MP): never spend more than
#: this share of the time saving (a backfill of such photos then saves every 40 s or so)
CHECKPOINT_SHARE = 0.01
SAVE_SECONDS_PER_BYTE = 3e-9  #: a first guess of the save cost, before one was measured
#: photos decoded and reduced to evidence at once, on as many threads, while another is
#: absorbed: with the absorbing thread that keeps two cores busy (measured on a 2-core
#: machine, 10 MP: one such thread left a third of the time idle, two about none)
READ_AHEAD = 2


@dataclass(frozen=True)
class Outcome:
    """What happened to one file."""

    path: Path
    status: FileStatus | None  #: None: unchanged since last time, or quietly ignored
    reason: str = ""
    body: BodyId | None = None
    kind: FrameKind | None = None
    new_defects: tuple[Defect, ...] = ()


@dataclass
class _Pending:
    """A file absorbed since the last checkpoint, waiting for its catalogue row."""

    path: Path
    size: int
    mtime_ns: int
    digest: str | None
    status: FileStatus
    reason: str
    camera: CameraFile | None = None
    key: AccumulatorKey | None = None
    taken_at: datetime | None = None
    undated: bool = False  #: a photo that keeps no capture date anywhere


@dataclass
class _Slot:
    acc: Accumulator
    dirty: bool = False
    #: elements whose evidence could make them defects: detection after every
    #: frame runs among them (not persisted: rebuilt on load)
    candidates: np.ndarray | None = None


def is_quiet(path: Path) -> bool:
    """Sidecars, videos and the like: not photos, and not worth a message."""
    return path.name.startswith((".", "~")) or path.suffix.lower() in QUIET_SUFFIXES


def digest_bytes(data: bytes | bytearray) -> str:
    """A photo's content digest (XXH3-128, hex), which says "this photo was counted".

    Not a cryptographic hash: nothing is guarded by it, it only has to tell two
    photos apart, and at several GB/s it costs a fraction of decoding the file
    (SHA-256 of a 20 MB raw took a third of the time LibRaw took to unpack it).
    """
    return xxhash.xxh3_128(data).hexdigest()


def walk(paths: Iterable[Path], on_error: Callable[[Path, str], None]) -> Iterator[Path]:
    """Every file under ``paths`` (anything given directly that is no folder is yielded as
    it is, so that a pipe or a device named like a photo is reported, not passed over)."""
    for root in paths:
        if root.is_dir():
            yield from _walk_folder(root, on_error)
        elif root.exists():
            yield root
        else:
            on_error(root, "no such file or folder")


def _walk_folder(root: Path, on_error: Callable[[Path, str], None]) -> Iterator[Path]:
    def report(err: OSError) -> None:
        on_error(Path(err.filename or root), f"cannot read folder: {err.strerror}")

    for dirpath, dirnames, filenames in os.walk(root, onerror=report):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            yield Path(dirpath) / name


@dataclass(frozen=True)
class _Read:
    """A file as hotwatch read it: where, what content, and why it cannot be used."""

    path: Path
    size: int
    mtime_ns: int
    digest: str | None
    status: FileStatus | None = None  #: set when the file cannot be used
    reason: str = ""
    #: the file could not be read for now (a stalled share): recorded nowhere, so that a
    #: later scan tries it again
    retry: bool = False


@dataclass(frozen=True)
class Prepared(_Read):
    """A file read, decoded and reduced to its evidence: the costly, stateless half.

    Picklable, so ``scan --workers`` computes these in other processes while
    one process feeds them, in capture order, into the accumulators.
    """

    camera: CameraFile | None = None
    key: AccumulatorKey | None = None
    cfa: tuple[tuple[int, ...], ...] | None = None
    evidence: FrameEvidence | None = None


@dataclass(frozen=True)
class Photo(_Read):
    """A photo file as far as it has been read: identified, then decoded.

    The steps of :func:`prepare` apart, so that threads can decode the next
    photos while another identifies and absorbs the others.
    """

    camera: CameraFile | None = None
    frame: Frame | None = None
    #: the file's bytes, read once: hashed, their EXIF read, then taken by the decoder
    data: Held | None = None


class Held:
    """A photo's bytes until the decoder takes them.

    Why not the bytes themselves: the read-ahead queue keeps each Photo until its
    evidence is extracted, and a raw's bytes (20 MB for 10 MP) must not stay alive that
    long beside its decoded frame: the decoder takes them, and they go when it is done.
    """

    __slots__ = ("_data",)

    def __init__(self, data: bytes | bytearray) -> None:
        self._data: bytes | bytearray | None = data

    def take(self) -> bytes | bytearray | None:
        data, self._data = self._data, None
        return data


def prepare(path: Path, exiftool: object | None = None) -> Prepared:
    """Hash, identify, decode and extract the evidence of one file."""
    return extract(decode(identify(path, exiftool)))


def identify(
    path: Path,
    exiftool: object | None = None,
    read: Callable[..., CameraFile] | None = None,
) -> Photo:
    """Read one file (once, under guard), hash it and read its EXIF; a file that cannot
    be used says why. ``read``: what reads the body and shot from the bytes, in place of
    :func:`read_camera_file` (``hotwatch identify`` keeps where each fact came from)."""
    try:
        st = path.stat()
    except OSError as exc:
        return Photo(path, 0, 0, None, FileStatus.FAILED, f"cannot stat: {exc.strerror}")
    size, mtime = st.st_size, st.st_mtime_ns
    what = guarded.not_regular(st.st_mode)
    if what is not None:  # never opened: a pipe would block the open for good
        return Photo(path, size, mtime, None, FileStatus.SKIPPED, f"{what}, not a photo file")
    if size == 0:
        return Photo(path, 0, mtime, None, FileStatus.SKIPPED, "empty file")
    if frames.frame_kind_for(path) is None:
        reason = f"not a photo file type ({path.suffix or 'no suffix'})"
        return Photo(path, size, mtime, None, FileStatus.SKIPPED, reason)
    try:
        data = frames.read_photo(path)
    except Exception as exc:
        return Photo(path, size, mtime, None, *_failure(path, exc))
    digest = digest_bytes(data)
    try:
        camera = (read or read_camera_file)(path, exiftool, data=data)  # type: ignore[arg-type]
    except Exception as exc:
        return Photo(path, size, mtime, digest, *_failure(path, exc))
    return Photo(path, size, mtime, digest, None, "", False, camera, data=Held(data))


def decode(photo: Photo) -> Photo:
    """An identified photo with its pixels, its bytes let go (one that cannot be used
    passes through)."""
    if photo.status is not None:
        return photo
    try:
        frame = frames.read_frame(photo.path, data=photo.data.take() if photo.data else None)
    except Exception as exc:
        return replace(photo, data=None, **_failed(photo.path, exc))
    return replace(photo, frame=frame, data=None)


def extract(photo: Photo) -> Prepared:
    """The evidence of a decoded photo (one that cannot be used passes through)."""
    head = (photo.path, photo.size, photo.mtime_ns, photo.digest)
    if photo.status is not None or photo.frame is None or photo.camera is None:
        return Prepared(*head, photo.status or FileStatus.FAILED, photo.reason, photo.retry)
    frame = photo.frame
    try:
        ev = evidence.extract(
            frame.data, black=frame.black, white=frame.white, cfa=frame.cfa, chroma=frame.chroma
        )
    except Exception as exc:
        return Prepared(*head, *_failure(photo.path, exc))
    key = AccumulatorKey(photo.camera.body, frame.kind, frame.width, frame.height)
    cfa = None if frame.cfa is None else tuple(map(tuple, frame.cfa.tolist()))
    return Prepared(*head, None, "", False, photo.camera, key, cfa, ev)


def _prepared(item: Photo | Outcome) -> Prepared | Outcome:
    return item if isinstance(item, Outcome) else extract(decode(item))


def _failure(path: Path, exc: Exception) -> tuple[FileStatus, str, bool]:
    """What a decoding error makes of a file: unsupported files are skipped, unreadable
    ones failed (those that stalled, to be tried again later), and any other error of a
    decoder on one odd file fails that file, never the batch (but running out of memory
    is no fault of the file)."""
    if isinstance(exc, UnsupportedFile):
        return FileStatus.SKIPPED, str(exc), False
    if isinstance(exc, UnreadableFile):
        return FileStatus.FAILED, str(exc), bool(getattr(exc, "transient", False))
    if isinstance(exc, MemoryError):
        raise exc
    log.debug("unexpected error reading %s", path, exc_info=exc)
    return FileStatus.FAILED, f"could not decode: {type(exc).__name__}: {exc}", False


def _failed(path: Path, exc: Exception) -> dict[str, object]:
    status, reason, retry = _failure(path, exc)
    return {"status": status, "reason": reason, "retry": retry}


class Ingestor:
    """Feeds files into accumulators and records them; one per process.

    Not thread-safe: the daemon gives it one worker thread.
    """

    def __init__(
        self,
        paths: Paths,
        catalogue: Catalogue,
        *,
        exiftool: object | None = None,
        params: detect_mod.DetectParams | None = None,
        on_new_defect: Callable[[NewDefect], None] | None = None,
    ) -> None:
        memory.tune_for_frames()
        self.paths = paths.ensure()
        self.catalogue = catalogue
        self.exiftool = exiftool
        self.params = params or detect_mod.DetectParams()
        self.on_new_defect = on_new_defect
        #: learns each body's JPEG <-> raw maps from the RAW+JPEG pairs absorbed
        self.pairer = Pairer(catalogue)
        #: bodies whose maps changed since the last checkpoint: their defects are linked again
        self._relink: set[str] = set()
        self._slots: dict[AccumulatorKey, _Slot] = {}
        self._pending: list[_Pending] = []
        self._last_checkpoint = time.monotonic()
        self._save_cost: float | None = None  #: seconds the last checkpoint took

    # -- one file ----------------------------------------------------------------

    def ingest_files(self, paths: Iterable[Path]) -> Iterator[Outcome]:
        """Take files in, in the order given, one outcome each (in that order; a file
        given twice, under any spelling, once).

        The next photos are decoded and reduced to their evidence on
        ``READ_AHEAD`` threads while this one is absorbed and the ones after are
        identified (hashed, EXIF read): see :mod:`hotwatch.io.readahead`. Stopping
        early (closing the iterator) abandons the photos not yet absorbed: nothing
        of their evidence is counted (a file that needed no decoding, such as one
        gone since, may already be recorded as such).
        """
        unique = dict.fromkeys(Path(os.path.abspath(p)) for p in paths)

        def identified() -> Iterator[Photo | Outcome]:
            for path in unique:
                yield self.triage(path) or identify(path, self.exiftool)

        ahead = read_ahead(identified(), _prepared, depth=READ_AHEAD, threads=READ_AHEAD)
        with contextlib.closing(ahead):  # the readers stop whichever way this one ends
            for got in ahead:
                yield got if isinstance(got, Outcome) else self.commit(got)

    def triage(self, path: Path) -> Outcome | None:
        """The cheap checks: an Outcome if the file needs no decoding, else None."""
        path = Path(os.path.abspath(path))
        if is_quiet(path):
            return Outcome(path, None, "ignored")
        try:
            st = path.stat()
        except OSError as exc:
            return self._done(path, 0, 0, None, FileStatus.FAILED, f"cannot stat: {exc.strerror}")
        known = self.catalogue.file_by_path(str(path))
        if known and known.size == st.st_size and known.mtime_ns == st.st_mtime_ns:
            return Outcome(path, None, "unchanged")
        if any(p.path == path for p in self._pending):
            return Outcome(path, None, "unchanged")
        return None

    def commit(self, prep: Prepared) -> Outcome:
        """Second half of ingest: dedupe, accumulate and record a prepared file."""
        path = prep.path
        if prep.retry:  # recorded nowhere: the next scan (or rescan) tries it again
            log.warning("failed for now: %s: %s", path, prep.reason)
            return Outcome(path, FileStatus.FAILED, prep.reason)
        if prep.status is not None:
            return self._done(path, prep.size, prep.mtime_ns, prep.digest, prep.status, prep.reason)
        dup = self._duplicate_of(prep.digest, path)
        if dup:
            return self._done(
                path,
                prep.size,
                prep.mtime_ns,
                prep.digest,
                FileStatus.SKIPPED,
                f"same content as {dup} (already counted)",
            )
        return self._absorb(prep)

    def _duplicate_of(self, digest_hex: str | None, path: Path) -> str | None:
        if digest_hex is None:
            return None
        row = self.catalogue.file_by_digest(digest_hex)
        if row and row.path != str(path):
            return row.path
        for p in self._pending:
            if p.digest == digest_hex and p.status is FileStatus.INGESTED and p.path != path:
                return str(p.path)
        return None

    def _absorb(self, prep: Prepared) -> Outcome:
        camera, key, ev = prep.camera, prep.key, prep.evidence
        assert camera is not None and key is not None and ev is not None and prep.digest
        try:
            slot = self._slot(key, prep.cfa)
        except DamagedState as exc:
            log.warning("%s", exc)
            self.catalogue.add_event(StateDamaged(camera.body.key, str(exc)))
            slot = self._slot(key, prep.cfa)
        taken = frame_time(camera.shot.taken_at, slot.acc.last_time)
        digest = content_digest(prep.digest)
        new: list[Defect] = []
        if not slot.acc.has_absorbed(digest):
            got = slot.acc.update(
                ev,
                taken,
                camera.shot.exposure_index,
                digest=digest,
                watch=detect_mod.least_counts(slot.acc, self.params),
            )
            slot.dirty = True
            among = self._candidates(slot, got.watched)
            new = confirm.confirm(
                slot.acc, self.params, among, taken, jpeg=key.kind is FrameKind.JPEG
            )
        self._pending.append(
            _Pending(
                prep.path,
                prep.size,
                prep.mtime_ns,
                prep.digest,
                FileStatus.INGESTED,
                "",
                camera,
                key,
                camera.shot.taken_at,
                undated=camera.shot.taken_at is None,
            )
        )
        learned = self.pairer.offer(prep.path, key, camera.shot.taken_at)
        if any(got.line for got in learned):  # a map became known (or failed): link again
            self._relink.add(key.body.key)
        self._maybe_checkpoint()
        return Outcome(prep.path, FileStatus.INGESTED, "", camera.body, key.kind, tuple(new))

    def _slot(self, key: AccumulatorKey, cfa: tuple[tuple[int, ...], ...] | None) -> _Slot:
        slot = self._slots.get(key)
        if slot is None:
            acc = store.load(store.path_for(self.paths.accumulators, key))
            if acc is None:
                acc = Accumulator(key.height, key.width, key.kind.value, cfa=cfa)
            slot = _Slot(acc)
            self._slots[key] = slot
        return slot

    def _candidates(self, slot: _Slot, strong: np.ndarray) -> np.ndarray:
        """The slot's candidates (kept between frames), with the elements a frame just
        made ``strong``."""
        slot.candidates = confirm.grow_candidates(slot.acc, self.params, slot.candidates, strong)
        return slot.candidates

    def _done(
        self,
        path: Path,
        size: int,
        mtime_ns: int,
        digest: str | None,
        status: FileStatus,
        reason: str,
    ) -> Outcome:
        self._pending.append(_Pending(path, size, mtime_ns, digest, status, reason))
        if status is FileStatus.FAILED:
            log.warning("failed: %s: %s", path, reason)
        else:
            log.info("skipped: %s: %s", path, reason)
        self._maybe_checkpoint()
        return Outcome(path, status, reason)

    # -- checkpoints --------------------------------------------------------------

    def _maybe_checkpoint(self) -> None:
        since = time.monotonic() - self._last_checkpoint
        enough = len(self._pending) >= CHECKPOINT_FRAMES
        cost = self._save_cost
        if cost is None:
            cost = SAVE_SECONDS_PER_BYTE * sum(s.acc.nbytes() for s in self._slots.values())
        if since > CHECKPOINT_SECONDS or (enough and since * CHECKPOINT_SHARE >= cost):
            self.checkpoint()

    def _retire_moved(
        self, key: AccumulatorKey, found: list[Defect], chroma: tuple[int, int], now: datetime
    ) -> set[tuple[int, int]]:
        """Defects the catalogue knows that are no longer confirmed (a JPEG blob's
        centre that moved to a neighbour): retired, with a ``defect_gone`` event. Returns
        the positions the announced ones moved to: the defect found there is not new."""
        here = {(d.x, d.y) for d in found}
        rows = [r for r in self.catalogue.defects(acc_slug=key.slug) if (r.x, r.y) not in here]
        if not rows:
            return set()
        gone = [(r.x, r.y) for r in rows]
        self.catalogue.retire_defects(key, gone, now, "merged into a neighbouring blob")
        moved = confirm.holders(gone, sorted(here), self.params, chroma)
        return {moved[(r.x, r.y)] for r in rows if r.announced and (r.x, r.y) in moved}

    def checkpoint(self) -> list[NewDefect]:
        """Persist dirty accumulators, then commit the pending catalogue rows.

        Returns the ``new_defect`` events written: one per physical defect that became
        known (:func:`hotwatch.state.sensors.announce`: a defect the raws and the JPEGs of a
        body both show is one), logged and passed to ``on_new_defect``.
        Raises DiskFull when the disk cannot take it: what was saved before
        stays as it was, and the photos since are read again next time.
        """
        try:
            return self._checkpoint()
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFull(self.paths.data) from exc
            raise
        except sqlite3.OperationalError as exc:
            if "full" in str(exc):
                raise DiskFull(self.paths.data) from exc
            raise

    def _checkpoint(self) -> list[NewDefect]:
        started = time.monotonic()
        for key, slot in self._slots.items():
            if slot.dirty:
                store.save(store.path_for(self.paths.accumulators, key), slot.acc)
        announced: list[NewDefect] = []
        now = datetime.now(UTC)
        with self.catalogue.atomic():
            for p in self._pending:
                if p.camera is not None and p.key is not None:
                    self.catalogue.ensure_body(p.camera.body, now)
                    self.catalogue.count_frame(p.key, p.taken_at)
                self.catalogue.record_file(
                    path=str(p.path),
                    size=p.size,
                    mtime_ns=p.mtime_ns,
                    digest=p.digest,
                    status=p.status,
                    reason=p.reason,
                    body_key=p.camera.body.key if p.camera else None,
                    acc_slug=p.key.slug if p.key else None,
                    kind=p.key.kind if p.key else None,
                    taken_at=p.taken_at,
                    undated=p.undated,
                )
            bodies = dict.fromkeys(sorted(self._relink))
            for key, slot in self._slots.items():
                if not slot.dirty:
                    continue
                jpeg = key.kind is FrameKind.JPEG
                among = self._candidates(slot, np.empty(0, dtype=np.int64))
                reported = confirm.reported(slot.acc, self.params, among, jpeg=jpeg)
                found = confirm.settled(slot.acc, reported)
                known = self._retire_moved(key, found, slot.acc.chroma, now)
                self.catalogue.sync_defects(key, found, now, announce=False, announced=known)
                bodies[key.body.key] = None
                slot.dirty = False
            for body_key in bodies:  # one announcement per physical defect of each body
                announced += sensors.announce(self.catalogue, body_key)
        self._pending.clear()
        self._relink.clear()
        self._last_checkpoint = time.monotonic()
        self._save_cost = self._last_checkpoint - started
        for event in announced:
            elsewhere = "".join(f", {x},{y} in {g}" for g, (x, y) in event.others.items())
            log.info(
                "new %s pixel on %s (%s %dx%d) at x=%d y=%d%s, first seen %s",
                event.kind.value,
                event.body,
                event.frame_kind.value,
                event.width,
                event.height,
                event.x,
                event.y,
                elsewhere,
                event.onset.date().isoformat() if event.onset else "unknown",
            )
            if self.on_new_defect:
                self.on_new_defect(event)
        return announced

    def close(self) -> None:
        self.checkpoint()
        self._slots.clear()
