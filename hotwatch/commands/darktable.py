"""``hotwatch darktable info|heal|install``: the bridge the darktable Lua script calls.

Each photo is identified from its own EXIF (body) and pixels (frame kind and
size), never from its name; its defects are those of the accumulator with the
same body, kind and size, limited to the ones already present when it was
taken. Anything that does not line up (unknown body, a size the body was never
seen at, a sidecar we cannot parse) is refused with a reason and nothing is
written. Refusals are answers, not errors: the exit status stays 0 so the Lua
script always gets JSON to read.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hotwatch.commands.common import open_catalogue
from hotwatch.core.errors import HotwatchError, UnreadableFile, UnsupportedFile, UserError
from hotwatch.core.model import BodyId, FrameKind
from hotwatch.darktable import xmp as dt
from hotwatch.darktable.install import darktable_script
from hotwatch.io.exif import read_camera_file
from hotwatch.io.exiftool import ExifTool, optional_exiftool
from hotwatch.io.frames import read_frame
from hotwatch.outputs import export
from hotwatch.state.catalogue import AccumulatorRow, Catalogue, DefectRow

# ------------------------------------------------------------------- parser


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "darktable",
        help="tag and heal photos in darktable",
        description=(
            "The darktable bridge: 'info' and 'heal' answer the Lua script, 'install' puts "
            "the script where darktable finds it. Example: hotwatch darktable heal IMG_0001.NEF"
        ),
    )
    actions = p.add_subparsers(dest="darktable_action", metavar="ACTION", required=True)

    q = actions.add_parser(
        "info",
        help="what hotwatch knows about a photo (body, frame, defects, sidecar)",
        description="Body, frame kind and size, the defects that apply to FILE (onset on or "
        "before its capture time) and what its darktable sidecar holds now.",
    )
    q.add_argument("file", type=Path, metavar="FILE")
    q.add_argument("--json", action="store_true", help="print JSON (for the Lua script)")
    q.set_defaults(func=run_info)

    q = actions.add_parser(
        "heal",
        help="write the known defects into photos' darktable sidecars",
        description="Write one retouch instance named 'hotwatch' (one heal circle per defect "
        "that applies) into FILE.xmp and its duplicates' sidecars (name_NN.ext.xmp); the "
        "user's history and shapes are kept, a second run writes nothing, and the replaced "
        "sidecar is kept as .hotwatch-bak. Refused (nothing written) when the body is "
        "unknown, the size disagrees with the body's recorded geometry, or a sidecar cannot "
        "be parsed.",
    )
    q.add_argument("files", nargs="+", type=Path, metavar="FILE")
    q.add_argument("--json", action="store_true", help="print JSON (for the Lua script)")
    q.set_defaults(func=run_heal)

    q = actions.add_parser(
        "install",
        help="install the darktable Lua script",
        description="Copy the Lua script to DIR/lua/hotwatch/hotwatch.lua, where darktable's "
        "script manager finds it; --luarc also adds 'require \"hotwatch/hotwatch\"' to "
        "DIR/luarc. Running it again changes nothing.",
    )
    q.add_argument("--uninstall", action="store_true", help="remove the script (and luarc line)")
    q.add_argument("--luarc", action="store_true", help="also load it from darktable's luarc")
    q.add_argument(
        "--darktable-config",
        type=Path,
        metavar="DIR",
        help="darktable's config folder (default: $XDG_CONFIG_HOME/darktable or "
        "~/.config/darktable)",
    )
    q.set_defaults(func=run_install)


# -------------------------------------------------------------- identifying


class Refusal(Exception):
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
    target: dt.SidecarTarget
    taken_at: datetime
    taken_from: str  # "exif" or "file time"
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
    if cat.body(body.key) is None:
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
            target = dt.SidecarTarget.raw(
                frame.raw_width or frame.width,
                frame.raw_height or frame.height,
                frame.width,
                frame.height,
                frame.left_margin,
                frame.top_margin,
                orientation,
            )
        else:
            target = dt.SidecarTarget.jpeg(frame.width, frame.height, orientation)
    except ValueError as exc:
        raise Refusal("size mismatch", f"unexpected sensor layout: {exc}") from exc
    # the capture time, or the file time as ingest used it when the file says none
    taken, source = camera.shot.taken_at, "exif"
    if taken is None:
        taken, source = datetime.fromtimestamp(path.stat().st_mtime, UTC), "file time"
    defects = cat.defects(acc_slug=acc.slug)
    applicable = dt.defects_applicable(defects, taken)
    chosen = {d.id for d in applicable}
    later = [d for d in defects if d.id not in chosen]
    scorer = dt.patch_mismatch(frame.data)
    return Photo(path, body, acc, target, taken, source, applicable, later, scorer)


def _body_dict(body: BodyId) -> dict:
    return {"make": body.make, "model": body.model, "serial": body.serial, "label": body.label}


def _defect_dict(d: DefectRow) -> dict:
    return export.defect_dict(d.to_defect())


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
        state = dt.sidecar_state(_read_sidecar(path))
    except (Refusal, dt.SidecarError) as exc:
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
        taken_at=photo.taken_at.isoformat(),
        taken_at_source=photo.taken_from,
        photos_seen=photo.acc.frames,
        defects=[_defect_dict(d) for d in photo.applicable],
        later_defects=[_defect_dict(d) for d in photo.later],
        sidecars=[_sidecar_info(p) for p in dt.sidecar_paths(path)],
    )
    return out


# ------------------------------------------------------------------ healing


def heal_one(path: Path, cat: Catalogue | None, exiftool: ExifTool | None) -> dict:
    """Patch every sidecar of one photo; all or nothing: nothing is written on a refusal."""
    out: dict = {"file": str(path)}
    try:
        photo = identify(path, cat, exiftool)
        out["body"] = _body_dict(photo.body)
        out["frame"] = photo.acc.kind.value
        try:
            shapes = dt.heal_shapes(
                [(d.x, d.y) for d in photo.applicable], photo.target, photo.scorer
            )
        except ValueError as exc:
            raise Refusal("no heal source", str(exc)) from exc
        paths = dt.sidecar_paths(path)
        existing = [p for p in paths if p.exists()]
        planned: list[tuple[Path, str | None, bool]] = []
        for p in existing or paths[:1]:
            text = _read_sidecar(p)
            try:
                new = dt.patch_sidecar(text, shapes, photo.acc.kind.value, path.name)
            except dt.SidecarError as exc:
                raise Refusal("unparsable sidecar", f"{p.name}: {exc}") from exc
            planned.append((p, new, text is None))
    except Refusal as r:
        out.update(status="refused", error=r.code, reason=r.reason)
        return out
    sidecars = []
    for p, new, created in planned:
        entry: dict = {"path": str(p), "status": "unchanged"}
        if new is not None:
            backup = dt.write_sidecar_atomically(p, new)
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


# ------------------------------------------------------------------ running


def _quiet_for_json(args: argparse.Namespace) -> None:
    """The Lua script reads stdout and stderr together: in JSON mode, log nothing."""
    if args.json:
        logging.getLogger().setLevel(logging.CRITICAL + 1)


def _resources(
    args: argparse.Namespace, stack: ExitStack
) -> tuple[Catalogue | None, ExifTool | None]:
    """The catalogue (None if nothing was scanned yet) and exiftool if installed.

    exiftool is used as ``hotwatch scan`` uses it, so a body reads the same key here.
    """
    try:
        cat = stack.enter_context(open_catalogue(args.paths, readonly=True))
    except UserError:
        cat = None
    return cat, stack.enter_context(optional_exiftool())


def run_info(args: argparse.Namespace) -> int:
    _quiet_for_json(args)
    with ExitStack() as stack:
        cat, et = _resources(args, stack)
        answer = info_dict(args.file.absolute(), cat, et)
    if args.json:
        print(json.dumps(answer, indent=2, ensure_ascii=False))
        return 0
    for line in _info_lines(answer):
        print(line)
    return 0


def _info_lines(a: dict) -> Iterator[str]:
    yield a["file"]
    if a["status"] == "refused":
        yield f"  refused ({a['error']}): {a['reason']}"
        return
    yield f"  body: {a['body']['label']}"
    yield (
        f"  frame: {a['frame']} {a['width']}x{a['height']} (darktable input "
        f"{a['pipe_width']}x{a['pipe_height']}), orientation {a['orientation']}"
    )
    yield f"  taken: {a['taken_at']} ({a['taken_at_source']})"
    yield f"  defects that apply: {len(a['defects'])}"
    for d in a["defects"]:
        yield f"    {d['kind']:<5} x={d['x']:<5} y={d['y']:<5} onset {(d['onset'] or '?')[:10]}"
    if a["later_defects"]:
        yield f"  defects that appeared after this photo (left alone): {len(a['later_defects'])}"
    for s in a["sidecars"]:
        state = (
            f"error: {s['error']}"
            if "error" in s
            else f"{s['hotwatch_shapes']} hotwatch shapes"
            + (", user edits" if s["user_history"] else "")
            if s["exists"]
            else "none yet"
        )
        yield f"  sidecar {Path(s['path']).name}: {state}"


def run_heal(args: argparse.Namespace) -> int:
    _quiet_for_json(args)
    results = []
    with ExitStack() as stack:
        cat, et = _resources(args, stack)
        for f in args.files:
            try:
                results.append(heal_one(f.absolute(), cat, et))
            except (OSError, HotwatchError) as exc:  # one bad file never stops the others
                results.append(
                    {"file": str(f), "status": "refused", "error": "failed", "reason": str(exc)}
                )
    if args.json:
        print(json.dumps({"results": results}, indent=2, ensure_ascii=False))
        return 0
    for r in results:
        name = r["file"]
        if r["status"] == "refused":
            print(f"{name}: refused ({r['error']}): {r['reason']}")
        else:
            print(f"{name}: {r['status']} ({r['defects']} defects)")
    return 0


def default_darktable_config() -> Path:
    """darktable's own rule: $XDG_CONFIG_HOME/darktable, else ~/.config/darktable."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg else Path.home() / ".config"
    return base / "darktable"


def run_install(args: argparse.Namespace) -> int:
    config = (args.darktable_config or default_darktable_config()).expanduser()
    with darktable_script() as script:
        try:
            actions = dt.install_lua(config, script, add_luarc=args.luarc, uninstall=args.uninstall)
        except OSError as exc:
            raise UserError(f"cannot write to {config}: {exc.strerror or exc}") from exc
    for a in actions:
        print(a)
    if not actions:
        print("nothing to do: " + ("not installed" if args.uninstall else "already installed"))
    if not args.uninstall:
        if not args.luarc:
            print("enable 'hotwatch' in darktable's script manager (or use --luarc)")
        if dt.read_darktablerc_write_sidecar(config) == "never":
            print(
                "warning: darktable is set to never write sidecar files; the script will tag "
                "photos but not heal them (preferences > storage > write sidecar file)",
                file=sys.stderr,
            )
    return 0
