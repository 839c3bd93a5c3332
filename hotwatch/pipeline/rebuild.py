"""Accumulators written by an older hotwatch, rebuilt from their own photos.

Why: an accumulator's format changes when detection learns to keep evidence it
did not keep before (format 2 added the onset tables of a change-point
statistic), or to count it otherwise (format 4: a JPEG frame counts the peak of a
defect's smear, not every pixel of it). Such arrays cannot be converted: what they
lack was never recorded. (A format that can be converted is, as it loads: format
2's whole-weight counts become quarters; see ``hotwatch.core.accumulator.READS``.
Format 1, of the SHA-256 digests, is rebuilt, and so are JPEG accumulators of
formats before 4.)
But the catalogue knows every photo that went into an accumulator, so those
photos are read again, in capture order, through the ordinary ingest, into a
new accumulator. Photos that are gone, or changed since, are forgotten by the
catalogue (their evidence is lost; if they come back they are new photos), and
the user is told how many.

This runs at the start of ``hotwatch scan`` and of the daemon, before anything
loads an accumulator, and costs what reading those photos cost the first time.

Crash safety: the catalogue's counts of an outdated accumulator are reset, its
rows' content digests cleared and a note ``rebuild:<slug>`` written in one
transaction, before its file is set aside (``<file>.format<N>-<time>``); a
photo read again gets its content digest (XXH3-128, 32 hex digits) back in its
row when the ingest commits it, so a rebuild that was interrupted resumes with
the photos whose rows still have none. The note goes once all are done.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hotwatch.core.accumulator import FORMAT_VERSION, readable
from hotwatch.pipeline.ingest import Ingestor, prepare
from hotwatch.state import store
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.config import Paths

log = logging.getLogger(__name__)

NOTE = "rebuild:"  #: meta key prefix of an accumulator being rebuilt
DIGEST_HEX = 32  #: hex digits of today's content digest; other lengths are older ones


@dataclass(frozen=True)
class Rebuilt:
    """What rebuilding one accumulator did."""

    slug: str
    read: int  #: photos read again
    lost: int  #: photos gone or changed since: forgotten

    @property
    def line(self) -> str:
        text = f"rebuilt accumulator {self.slug} from {self.read} photos (older format)"
        if self.lost:
            text += f"; {self.lost} photos were gone or changed and are forgotten"
        return text


def rebuild_outdated(
    paths: Paths,
    catalogue: Catalogue,
    exiftool: object | None = None,
    progress: Callable[[int, int, Path], None] | None = None,
) -> list[Rebuilt]:
    """Rebuild every accumulator of another format from its photos (see the module).

    Its own Ingestor reads them, and is closed before this returns: run it before
    re-identification and before the Ingestor that goes on to read new photos.
    """
    for path in sorted(paths.accumulators.glob(f"*{store.SUFFIX}")):
        meta = store.header(path)
        if meta is not None and not readable(meta):
            _start(catalogue, path, int(meta.get("version") or 0))
    notes = catalogue.state_keys(NOTE)
    if not notes:
        return []
    ingestor = Ingestor(paths, catalogue, exiftool=exiftool)
    try:
        return [_rebuild(ingestor, note[len(NOTE) :], progress) for note in notes]
    finally:
        ingestor.close()


def _rebuild(
    ingestor: Ingestor, slug: str, progress: Callable[[int, int, Path], None] | None
) -> Rebuilt:
    catalogue = ingestor.catalogue
    todo = [f for f in catalogue.files_of(slug) if len(f.digest or "") != DIGEST_HEX]
    log.info("rebuilding accumulator %s from %d photos", slug, len(todo))
    read = lost = 0
    for i, row in enumerate(todo, 1):
        if _unchanged(Path(row.path), row.size, row.mtime_ns):
            ingestor.commit(prepare(Path(row.path), ingestor.exiftool))
            read += 1
        else:
            catalogue.forget_file(row.path)
            lost += 1
        if progress:
            progress(i, len(todo), Path(row.path))
    ingestor.checkpoint()
    catalogue.delete_state(NOTE + slug)
    done = Rebuilt(slug, read, lost)
    log.info("%s", done.line)
    return done


def _start(catalogue: Catalogue, path: Path, version: int) -> None:
    slug = path.name[: -len(store.SUFFIX)]
    with catalogue.atomic():
        if catalogue.get_state(NOTE + slug) is None:
            catalogue.reset_frames(slug)
            catalogue.clear_digests(slug)  # each row gets its digest again as it is read
            catalogue.set_state(NOTE + slug, str(version))
    aside = store.set_aside(path, f"format{version}")
    log.warning(
        "accumulator %s was written by an older hotwatch (format %d, this one writes %d):"
        " set aside as %s; its photos are read again",
        path.name,
        version,
        FORMAT_VERSION,
        aside.name,
    )


def _unchanged(path: Path, size: int, mtime_ns: int) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return st.st_size == size and st.st_mtime_ns == mtime_ns
