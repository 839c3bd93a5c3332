"""The bridge the darktable Lua script calls: ``hotwatch darktable info`` and ``heal``.

Each photo is identified from its own EXIF (body) and pixels (frame kind and size), never
from its name; its defects are those its body's sensor is known to have at a position in a
frame of its kind and size (seen there, or placed there from the photosite a raw showed),
limited to the ones already present when it was taken (every one, when the photo keeps no
capture date: see :func:`hotwatch.darktable.heal.defects_applicable`). Anything that does
not line up (unknown body, a size the body was never seen at, a sidecar that cannot be
parsed) is a :class:`Refusal` with a reason, and nothing is written. Refusals are answers,
not errors: the command still prints JSON for the Lua script to read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from hotwatch.core.errors import HotwatchError, UnreadableFile, UnsupportedFile
from hotwatch.core.model import BodyId, FrameKind
from hotwatch.io.exif import read_camera_file
from hotwatch.io.exiftool import ExifTool
from hotwatch.io.fileio import write_atomically
from hotwatch.io.frames import read_frame
from hotwatch.state import sensors
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.rows import AccumulatorRow, DefectRow

from .heal import SidecarTarget, defects_applicable, heal_shapes, patch_mismatch
from .xmp import SidecarError, patch_sidecar, sidecar_paths, sidecar_state, write_sidecar_atomically


class Refusal(HotwatchError):
    """A photo we will not touch; ``code`` is short and stable, ``reason`` is for people."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class Photo:
    """A photo matched to one of its body's accumulators."""

    path: Path
    body: BodyId
    acc: AccumulatorRow
    target: SidecarTarget
    taken_at: datetime | None  #: None: the photo keeps no capture date
    taken_from: str  # "exif", or "none" when it keeps no capture date
    applicable: list[DefectRow] = field(default_factory=list)
    later: list[DefectRow] = field(default_factory=list)
    #: rates heal sources by how well they match the defect's surroundings in this photo
    scorer: Callable[[int, int, int, int], float] | None = None


def identify(path: Path, cat: Catalogue | None, exiftool: ExifTool | None) -> Photo:
    """Body from EXIF, kind and size from the pixels, then the matching accumulator."""
    if cat is None:
        raise Refusal("no catalogue", "nothing scanned yet: run hotwatch scan first")
    if not path.is_file():
        raise Refusal("not found", f"{path} is not a file")
    try:
        camera = read_camera_file(path, exiftool)
        frame = read_frame(path)
    except (UnsupportedFile, UnreadableFile) as exc:
        raise Refusal("unreadable", f"not a photo hotwatch can use: {exc}") from exc
    body = camera.body
    row = cat.body(body.key)
    if row is None:
        raise Refusal("unknown body", f"hotwatch has seen no photo of {body.label} yet")
    accs = cat.accumulators(body_key=body.key)
    acc = next(
        (
            a
            for a in accs
            if a.kind is frame.kind and (a.width, a.height) == (frame.width, frame.height)
        ),
        None,
    )
    if acc is None:
        known = ", ".join(f"{a.kind.value} {a.width}x{a.height}" for a in accs) or "none"
        raise Refusal(
            "size mismatch",
            f"{frame.kind.value} {frame.width}x{frame.height} matches no recorded geometry of "
            f"{body.label} ({known})",
        )
    orientation = camera.shot.orientation
    try:
        if frame.kind is FrameKind.RAW:
            target = SidecarTarget.raw(
                frame.raw_width or frame.width,
                frame.raw_height or frame.height,
                frame.width,
                frame.height,
                frame.left_margin,
                frame.top_margin,
                orientation,
            )
        else:
            target = SidecarTarget.jpeg(frame.width, frame.height, orientation)
    except ValueError as exc:
        raise Refusal("size mismatch", f"unexpected sensor layout: {exc}") from exc
    # the capture time; none for a photo that keeps no date (never its file's time, which
    # dates nothing: hotwatch.core.dating), and then every defect applies
    taken = camera.shot.taken_at
    source = "exif" if taken is not None else "none"
    # the body's defects known at a position in this geometry: seen here, or placed here
    # from the photosite a raw showed (one sensor: hotwatch.state.sensors)
    defects = sensors.defects_for_geometry(cat, row, frame.kind, frame.width, frame.height)
    applicable = defects_applicable(defects, taken)
    chosen = {d.id for d in applicable}
    later = [d for d in defects if d.id not in chosen]
    scorer = patch_mismatch(frame.data)
    return Photo(path, body, acc, target, taken, source, applicable, later, scorer)


def _body_dict(body: BodyId) -> dict:
    """The body as the photo's tags name it: the serial as the camera shows it (the key's
    spelling beside it)."""
    return {name: value for name, value in body.fields().items() if name != "key"}


def _defect_dict(d: DefectRow) -> dict:
    return d.to_defect().to_dict()


def _read_sidecar(path: Path) -> str | None:
    """The sidecar's text, None if absent; Refusal when it cannot be read as text."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (UnicodeDecodeError, OSError) as exc:
        raise Refusal("unparsable sidecar", f"cannot read {path.name}: {exc}") from exc


def _sidecar_info(path: Path) -> dict:
    out: dict = {"path": str(path), "exists": path.exists()}
    try:
        state = sidecar_state(_read_sidecar(path))
    except (Refusal, SidecarError) as exc:
        out["error"] = str(exc)
        return out
    out["hotwatch_shapes"] = state.hotwatch_shapes
    out["user_history"] = state.has_user_history
    return out


def info_dict(path: Path, cat: Catalogue | None, exiftool: ExifTool | None) -> dict:
    """The ``info --json`` answer for one photo."""
    out: dict = {"file": str(path)}
    try:
        photo = identify(path, cat, exiftool)
    except Refusal as r:
        out.update(status="refused", error=r.code, reason=r.reason)
        return out
    t = photo.target
    out.update(
        status="ok",
        body=_body_dict(photo.body),
        frame=photo.acc.kind.value,
        width=t.visible_width,
        height=t.visible_height,
        pipe_width=t.width,
        pipe_height=t.height,
        left_margin=t.left_margin,
        top_margin=t.top_margin,
        orientation=t.orientation,
        taken_at=photo.taken_at.isoformat() if photo.taken_at else None,
        taken_at_source=photo.taken_from,
        photos_seen=photo.acc.frames,
        defects=[_defect_dict(d) for d in photo.applicable],
        later_defects=[_defect_dict(d) for d in photo.later],
        sidecars=[_sidecar_info(p) for p in sidecar_paths(path)],
    )
    return out


#: ``heal --staged`` writes each patched sidecar beside it under this suffix
STAGED_SUFFIX = ".hotwatch-staged"


def heal_one(
    path: Path, cat: Catalogue | None, exiftool: ExifTool | None, *, staged: bool = False
) -> dict:
    """Patch every sidecar of one photo; all or nothing: nothing is written on a refusal.

    ``staged`` leaves the sidecars alone and writes each patched one beside it
    (``NAME.xmp`` + :data:`STAGED_SUFFIX`), for the Lua script to hand to darktable's
    ``image:apply_sidecar``: darktable writes its sidecars in the background (5.x), and one
    of its writes landing between ours and the reload would undo the heal.
    """
    out: dict = {"file": str(path)}
    try:
        photo = identify(path, cat, exiftool)
        out["body"] = _body_dict(photo.body)
        out["frame"] = photo.acc.kind.value
        try:
            shapes = heal_shapes([(d.x, d.y) for d in photo.applicable], photo.target, photo.scorer)
        except ValueError as exc:
            raise Refusal("no heal source", str(exc)) from exc
        paths = sidecar_paths(path)
        existing = [p for p in paths if p.exists()]
        planned: list[tuple[Path, str | None, bool]] = []
        for p in existing or paths[:1]:
            text = _read_sidecar(p)
            try:
                new = patch_sidecar(text, shapes, photo.acc.kind.value, path.name)
            except SidecarError as exc:
                raise Refusal("unparsable sidecar", f"{p.name}: {exc}") from exc
            planned.append((p, new, text is None))
    except Refusal as r:
        out.update(status="refused", error=r.code, reason=r.reason)
        return out
    sidecars = []
    for p, new, created in planned:
        entry: dict = {"path": str(p), "status": "unchanged"}
        if new is not None and staged:
            target = p.with_name(p.name + STAGED_SUFFIX)
            write_atomically(target, new)
            entry["status"] = "created" if created else "healed"
            entry["staged"] = str(target)
        elif new is not None:
            backup = write_sidecar_atomically(p, new)
            entry["status"] = "created" if created else "healed"
            entry["backup"] = str(backup) if backup else None
        sidecars.append(entry)
    changed = any(e["status"] != "unchanged" for e in sidecars)
    if changed:
        status = "healed"
    elif not photo.applicable:
        status = "nothing to fix"
    else:
        status = "unchanged"
    out.update(
        status=status,
        defects=len(shapes),
        later_defects=len(photo.later),
        sidecars=sidecars,
    )
    return out
