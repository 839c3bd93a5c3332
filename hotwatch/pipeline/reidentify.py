"""Re-key camera bodies that an older, weaker reading identified: migrate, never split.

Why: a body's key is ``make|model|serial`` as read when its photos were
ingested. Installing exiftool later (it reads serials exifread cannot: Pentax,
Panasonic, Sony, Olympus maker notes, CR3, RAF...) or a newer hotwatch that
spells makes, models or serials differently ("NIKON CORPORATION" -> "NIKON",
``012345678`` -> ``12345678``) would send the same camera's next photos to a
second body, splitting its evidence in two. So, before ingesting, the bodies
whose key may be weak are read again from their own files, and moved (renamed,
or merged into the body they really are) with their accumulators, defects,
files and events.

Which bodies are read again (the cheap check, no file opened):

* a body whose stored make/model/serial differ from what today's normalisers
  give for those very values;
* a body not yet checked by the current reader: the reader is the source of
  ``hotwatch.io.exif`` (every module of it) and ``hotwatch.io.exiftool`` plus which
  exiftool is installed
  (a fingerprint kept per body in the catalogue's ``meta`` table), so
  installing exiftool or upgrading hotwatch re-checks every body once, and
  nothing is read again after that.

How a body is read again: all its ingested files still on disk and unchanged
when it has no serial (to tell whether it mixed several cameras), else up to
``SAMPLE`` files spread over its history. If they all give one key, different
from the stored one, the body migrates. If they give several, the body mixed
several cameras: it is left alone (its evidence cannot be unmixed) and reported
as "mixed" (``hotwatch cameras`` shows it); new photos then go to each body.

Never a downgrade: without exiftool, a body that has a serial is not read
again (exifread alone could only give a weaker serial than the one stored);
its stored values are only re-normalised. A reading without a serial never
replaces a stored serial, unless today's normaliser says the stored serial is a
placeholder ("0", ``KFFFFFFF``).

Crash safety: for each accumulator, the file under the new slug is written
first (atomically; merged with the target's when the target body already has
one of that kind and size), then the catalogue moves in one transaction, then
the old files are removed. After a crash in between, the next run finds the
target file already holding every frame of the old one and does not add them
twice. Run it before any :class:`~hotwatch.pipeline.ingest.Ingestor` of the same state
directory has loaded accumulators (``hotwatch scan`` and the daemon do it at
their start).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hotwatch.core.accumulator import Accumulator
from hotwatch.core.errors import DamagedState, HotwatchError
from hotwatch.core.events import BodyMigrated
from hotwatch.core.model import AccumulatorKey, BodyId, FileStatus, FrameKind
from hotwatch.io import exif
from hotwatch.io import exiftool as exiftool_module
from hotwatch.io.exif import read_camera_file
from hotwatch.io.exif.names import normalise_make, normalise_model, normalise_serial
from hotwatch.io.exiftool import ExifTool
from hotwatch.io.fileio import write_atomically
from hotwatch.state import store
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.config import Paths
from hotwatch.state.rows import BodyRow, FileRow

log = logging.getLogger(__name__)

SAMPLE = 20  #: files read again for a body that has a serial
STATE_PREFIX = "reidentify:"  #: meta key of a body's last check

RENAMED = "renamed"  #: moved to a key no body had yet
MERGED = "merged"  #: moved into a body that already existed
MIXED = "mixed"  #: its photos come from several bodies: left alone, reported
FAILED = "failed"  #: could not be moved (accumulators that cannot be merged)


@dataclass(frozen=True)
class Migration:
    """What re-identification did (or refused to do) with one body."""

    status: str  # RENAMED, MERGED, MIXED or FAILED
    old: BodyId
    new: BodyId | None = None
    photos: int = 0  # ingested files moved
    found: tuple[tuple[BodyId, int], ...] = ()  # MIXED: each reading, files read as it
    reason: str = ""  # FAILED: why

    @property
    def line(self) -> str:
        """One line for the user."""
        if self.status == MERGED and self.new is not None:
            return f"merged {self.old.label} into {self.new.label}: {self.photos} photos"
        if self.status == RENAMED and self.new is not None:
            return f"re-identified {self.old.label} as {self.new.label}: {self.photos} photos"
        if self.status == MIXED:
            parts = ", ".join(f"{_short(b)}: {n}" for b, n in self.found)
            return (
                f"{self.old.label} holds photos of {len(self.found)} bodies ({parts} of the "
                "files read again): kept as one body, whose defects may mix them; "
                "new photos go to each body separately"
            )
        return f"could not re-identify {self.old.label}: {self.reason}"


def _short(body: BodyId) -> str:
    return f"#{body.serial}" if body.serial else "no serial"


# --------------------------------------------------------------------------- the check


def reader_fingerprint(exiftool: ExifTool | None) -> str:
    """Identifies the current reader: hotwatch's identity code and the exiftool installed.

    A body checked by this very reader gives the same key again, so it is not re-read.
    """
    h = hashlib.sha1()
    # what is read, and how it is ranked and spelled: every module of the EXIF reader
    sources = sorted(Path(exif.__file__ or "").parent.glob("*.py"))
    for source in [*sources, Path(exiftool_module.__file__ or "")]:
        h.update(source.read_bytes())
    if exiftool is None:
        h.update(b"|no exiftool")
    else:
        try:
            st = os.stat(exiftool.executable)
            h.update(f"|{exiftool.executable}|{st.st_size}|{st.st_mtime_ns}".encode())
        except OSError:
            h.update(f"|{exiftool.executable}".encode())
    return h.hexdigest()[:16]


def normalised(body: BodyId) -> BodyId:
    """The stored values as today's normalisers spell them."""
    return BodyId(
        normalise_make(body.make, body.model),
        normalise_model(body.make, body.model),
        normalise_serial(body.serial, body.make) if body.serial is not None else None,
    )


def _state(catalogue: Catalogue, key: str) -> dict:
    text = catalogue.get_state(STATE_PREFIX + key)
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def needs_check(catalogue: Catalogue, body: BodyRow, fingerprint: str) -> bool:
    """The cheap check: could this body's key be weaker than today's reading?"""
    if normalised(body.body) != body.body:
        return True
    return _state(catalogue, body.key).get("reader") != fingerprint


def stored_mixed(catalogue: Catalogue, key: str) -> Migration | None:
    """The "mixed" finding of the last check of a body, if any (for ``hotwatch cameras``)."""
    state = _state(catalogue, key)
    if state.get("status") != MIXED:
        return None
    body = catalogue.body(key)
    if body is None:
        return None
    found = tuple(
        (BodyId(f["make"], f["model"], f["serial"]), int(f["files"])) for f in state["found"]
    )
    return Migration(MIXED, body.body, found=found)


# --------------------------------------------------------------------------- reading again


def _sample(files: Sequence[FileRow], n: int) -> list[FileRow]:
    """Up to ``n`` files spread evenly over the body's history (by capture time)."""
    ordered = sorted(files, key=lambda f: (f.taken_at is None, str(f.taken_at), f.path))
    if len(ordered) <= n:
        return ordered
    step = (len(ordered) - 1) / (n - 1)
    return [ordered[round(i * step)] for i in range(n)]


def _unchanged(row: FileRow) -> bool:
    """Still the file that was ingested (same size and time), not a later edit."""
    try:
        st = os.stat(row.path)
    except OSError:
        return False
    return st.st_size == row.size and st.st_mtime_ns == row.mtime_ns


def read_again(
    catalogue: Catalogue, body: BodyRow, exiftool: ExifTool | None, sample: int = SAMPLE
) -> Counter[BodyId]:
    """How the current reader identifies the body's files (files not read are left out)."""
    files = catalogue.files(FileStatus.INGESTED, body_key=body.key)
    chosen = files if body.serial is None else _sample(files, sample)
    readings: Counter[BodyId] = Counter()
    for row in chosen:
        if not _unchanged(row):
            continue
        try:
            readings[read_camera_file(Path(row.path), exiftool).body] += 1
        except HotwatchError as exc:
            log.debug("re-identify: %s: %s", row.path, exc)
    return readings


def _verdict(body: BodyRow, readings: Counter[BodyId]) -> tuple[BodyId | None, Migration | None]:
    """(the key to move to, or None) and the MIXED report, if any."""
    if len(readings) > 1:
        found = tuple(sorted(readings.items(), key=lambda kv: (-kv[1], kv[0].serial or "")))
        return None, Migration(MIXED, body.body, found=found)
    target = next(iter(readings)) if readings else normalised(body.body)
    if target == body.body:
        return None, None
    weaker = target.serial is None and normalise_serial(body.serial) is not None
    if weaker:
        log.info("re-identify: %s kept (reading %s has no serial)", body.label, target.label)
        return None, None
    return target, None


# --------------------------------------------------------------------------- moving


def _load(path: Path) -> Accumulator | None:
    try:
        return store.load(path)
    except DamagedState as exc:  # set aside by store.load; its evidence is gone either way
        log.warning("%s", exc)
        return None


def _file(folder: Path, slug: str) -> Path:
    return folder / f"{slug}{store.SUFFIX}"


def move_accumulator_file(folder: Path, old_slug: str, new_slug: str) -> None:
    """Write the accumulator ``old_slug`` under ``new_slug``, merged with one already there.

    The old file is left in place (removed after the catalogue has moved).
    Idempotent: a target that already holds every frame of the old one (a
    crash after this step) is left as it is. Raises ValueError when the two
    share some frames but not all (they cannot be added without counting
    those twice).
    """
    src, dst = _file(folder, old_slug), _file(folder, new_slug)
    if not src.exists():
        return
    if not dst.exists():
        write_atomically(dst, src.read_bytes())
        return
    before, after = _load(src), _load(dst)
    if before is None:
        return
    if after is None:
        write_atomically(dst, before.to_bytes())
        return
    if before.absorbed and set(before.absorbed) <= set(after.absorbed):
        return  # already merged
    # merge() is exact when the later accumulator's frames all follow the earlier's
    first, second = sorted((before, after), key=lambda a: (a.first_time is None, a.first_time))
    store.save(dst, first.merge(second))


def migrate(
    paths: Paths, catalogue: Catalogue, body: BodyRow, new: BodyId, fingerprint: str
) -> Migration:
    """Move one body (accumulator files first, then the catalogue, then clean up)."""
    existed = catalogue.body(new.key) is not None
    slugs = {
        a.slug: AccumulatorKey(new, FrameKind(a.kind), a.width, a.height).slug
        for a in catalogue.accumulators(body_key=body.key)
    }
    folder = paths.accumulators
    try:
        for old_slug, new_slug in slugs.items():
            move_accumulator_file(folder, old_slug, new_slug)
    except ValueError as exc:
        return Migration(FAILED, body.body, new, reason=str(exc))
    with catalogue.atomic():
        photos = catalogue.migrate_body(body.key, new, slugs)
        catalogue.add_event(
            BodyMigrated(
                body_key=new.key,
                from_key=body.key,
                from_body=body.label,
                body=new.label,
                merged=existed,
                photos=photos,
                accumulators=slugs,
            )
        )
        catalogue.delete_state(STATE_PREFIX + body.key)
        catalogue.set_state(STATE_PREFIX + new.key, json.dumps({"reader": fingerprint}))
    for old_slug in slugs:
        _file(folder, old_slug).unlink(missing_ok=True)
    migration = Migration(MERGED if existed else RENAMED, body.body, new, photos)
    log.info("%s", migration.line)
    return migration


def reidentify(
    paths: Paths,
    catalogue: Catalogue,
    exiftool: ExifTool | None,
    *,
    force: bool = False,
    sample: int = SAMPLE,
) -> list[Migration]:
    """Re-identify the bodies whose key may be weak; return what was moved or found mixed.

    ``force`` reads every body again, whatever the cheap check says
    (``hotwatch cameras --reidentify``). A second run does nothing.
    """
    fingerprint = reader_fingerprint(exiftool)
    done: list[Migration] = []
    for listed in catalogue.bodies():
        body = catalogue.body(listed.key)  # fresh counts: an earlier migration may have merged
        if body is None or not (force or needs_check(catalogue, body, fingerprint)):
            continue
        if exiftool is None and body.serial is not None:
            readings: Counter[BodyId] = Counter()  # exifread alone could only do worse
        else:
            readings = read_again(catalogue, body, exiftool, sample)
        target, mixed = _verdict(body, readings)
        if target is not None:
            done.append(migrate(paths, catalogue, body, target, fingerprint))
            continue
        same = [b for b in readings if b == body.body and b.shown]
        if mixed is None and same:  # the serial as the camera writes it, if not yet kept
            catalogue.ensure_body(same[0], body.first_seen)
        state: dict = {"reader": fingerprint, "status": MIXED if mixed else "ok"}
        if mixed is not None:
            state["found"] = [
                {"make": b.make, "model": b.model, "serial": b.serial, "files": n}
                for b, n in mixed.found
            ]
            done.append(mixed)
            log.warning("%s", mixed.line)
        catalogue.set_state(STATE_PREFIX + body.key, json.dumps(state))
    return done
