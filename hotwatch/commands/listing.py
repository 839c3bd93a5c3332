"""``hotwatch cameras``, ``hotwatch defects`` and ``hotwatch export``."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from hotwatch.commands.common import add_json, open_catalogue, pick_body
from hotwatch.core.errors import HotwatchError, UserError
from hotwatch.core.model import BodyId, FrameKind
from hotwatch.io.exif import written_make
from hotwatch.io.frames import read_frame
from hotwatch.outputs import export, rawtherapee
from hotwatch.pipeline.reidentify import reidentify, stored_mixed
from hotwatch.state import sensors
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.rows import BodyRow
from hotwatch.state.runfiles import daemon_pid


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cameras",
        help="list camera bodies seen",
        description=(
            "List the camera bodies seen, with their photo counts. Example: hotwatch cameras --json"
        ),
    )
    p.add_argument(
        "--reidentify",
        action="store_true",
        help="read every body's files again (e.g. after installing exiftool) and merge bodies "
        "that turn out to be one camera (hotwatch scan does this when needed)",
    )
    add_json(p)
    p.set_defaults(func=run_cameras)

    p = sub.add_parser(
        "defects",
        help="list defects per body",
        description=(
            "List the defects found, one per physical defect of each body: its photosite when "
            "a raw showed it, its position in each JPEG size, one kind, the earliest onset. "
            "--json also gives the list of each frame kind/size. BODY is a serial (as the "
            "camera shows it, or without leading zeros) or a unique prefix of 'make model "
            "serial'. Example: hotwatch defects 3012345 --json"
        ),
    )
    p.add_argument("body", nargs="?", metavar="BODY")
    add_json(p)
    p.set_defaults(func=run_defects)

    p = sub.add_parser(
        "export",
        help="write a body's defect map for other raw tools",
        description=(
            "Write BODY's defect map: dcraw/LibRaw -P (col row unix_time; onset as time), "
            "RawTherapee .badpixels (x y), or JSON (photosites and JPEG positions). dcraw maps "
            "use raw_image_visible photosites; RawTherapee maps its own raw grid (moved by the "
            "camera's camconst.json raw_crop, when it has one). One line per physical defect "
            "a raw showed, dated by the earliest evidence of any kind. "
            "Example: hotwatch export D80 --format rawtherapee"
        ),
    )
    p.add_argument("body", metavar="BODY")
    p.add_argument("--format", choices=("dcraw", "rawtherapee", "json"), default="json")
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="output file (default: stdout; for rawtherapee, FILE may be a folder)",
    )
    p.set_defaults(func=run_export)


def run_cameras(args: argparse.Namespace) -> int:
    if args.reidentify and args.paths.catalogue.exists():
        _reidentify(args)
    with open_catalogue(args.paths, readonly=True) as cat:
        rows = []
        for b in cat.bodies():
            accs = cat.accumulators(body_key=b.key)
            mixed = stored_mixed(cat, b.key)
            rows.append(
                {
                    "make": b.make,
                    "model": b.model,
                    "serial": b.shown,
                    "serial_key": b.serial,
                    "key": b.key,
                    "label": b.label,
                    "frames_raw": b.frames_raw,
                    "frames_jpeg": b.frames_jpeg,
                    "first_seen": export.iso(b.first_seen),
                    "last_photo": export.iso(b.last_photo),
                    "defects": len(sensors.sensor_view(cat, b).defects),
                    "accumulators": [
                        {
                            "frame": a.kind.value,
                            "width": a.width,
                            "height": a.height,
                            "frames": a.frames,
                        }
                        for a in accs
                    ],
                    "mixed": None
                    if mixed is None
                    else {"line": mixed.line, "bodies": [[f.serial, n] for f, n in mixed.found]},
                }
            )
    if args.json:
        print(json.dumps({"cameras": rows}, indent=2))
        return 0
    if not rows:
        print("no camera bodies yet: run hotwatch scan PATH")
    for r in rows:
        last = (r["last_photo"] or "?")[:10]
        print(
            f"{r['label']}: {r['frames_raw']} raw + {r['frames_jpeg']} jpeg photos, "
            f"{r['defects']} defects, last photo {last}"
        )
        if r["serial"] is None:
            hint = (
                "installing exiftool (libimage-exiftool-perl) lets hotwatch read serials "
                "exifread cannot"
                if shutil.which("exiftool") is None
                else "exiftool found none either"
            )
            print(
                "    no body serial in these files: several bodies of this model may be mixed;"
                f" {hint}"
            )
        if r["mixed"]:
            print(f"    {r['mixed']['line']}")
    return 0


def _reidentify(args: argparse.Namespace) -> None:
    """``cameras --reidentify``: read every body again now, print what moved."""
    from hotwatch.io.exiftool import optional_exiftool

    if daemon_pid(args.paths) is not None:
        raise UserError(
            "hotwatch watch is running: it re-identifies bodies when it starts; "
            "stop it first, or restart it"
        )
    with open_catalogue(args.paths) as cat, optional_exiftool() as exiftool:
        for migration in reidentify(args.paths, cat, exiftool, force=True):
            print(migration.line, file=sys.stderr if args.json else sys.stdout)


def _bodies(cat: Catalogue, body_query: str | None) -> list[BodyRow]:
    return [pick_body(cat, body_query)] if body_query else cat.bodies()


def camera_entries(cat: Catalogue, body_query: str | None) -> list[dict]:
    """The ``defects --json`` per-accumulator list: one entry per (body, frame kind, size)."""
    out = []
    for b in _bodies(cat, body_query):
        for acc in cat.accumulators(body_key=b.key):
            defects = [d.to_defect() for d in cat.defects(acc_slug=acc.slug)]
            defects.sort(key=lambda d: (d.y, d.x))
            out.append(
                export.camera_dict(
                    b.body, acc.kind.value, acc.width, acc.height, acc.frames, defects
                )
            )
    return out


def body_entries(cat: Catalogue, body_query: str | None) -> list[dict]:
    """The ``defects --json`` body-level list: one entry per physical defect of each body."""
    out = []
    for b in _bodies(cat, body_query):
        view = sensors.sensor_view(cat, b)
        frames = {sensors.geometry_of(a): a.frames for a in cat.accumulators(body_key=b.key)}
        out.append(export.body_dict(b.body, view, frames, sensors.map_statuses(cat, b, view)))
    return out


def run_defects(args: argparse.Namespace) -> int:
    with open_catalogue(args.paths, readonly=True) as cat:
        cams = camera_entries(cat, args.body)
        bodies = body_entries(cat, args.body)
    if args.json:
        sys.stdout.write(export.to_json(cams, bodies))
        return 0
    if not bodies:
        print("no camera bodies yet: run hotwatch scan PATH")
    for b in bodies:
        print(_body_line(b))
        if b["note"]:
            print(f"    ({b['note']})")
        for d in b["defects"]:
            print("    " + _defect_line(d))
    return 0


def _body_line(b: dict) -> str:
    kinds = ", ".join(
        f"{g['frame']} {g['width']}x{g['height']} ({g['frames']} photos)" for g in b["geometries"]
    )
    n = len(b["defects"])
    return f"{b['label']}: {n} defect{'s' if n != 1 else ''} [{kinds}]"


def _defect_line(d: dict) -> str:
    """``stuck photosite 121,101 (jpeg 624x464: 110,95; ...), onset 2024-03-02, seen in RAW
    and JPEG``: the photosite when a raw showed it, else its position in each JPEG."""
    onset = (d["onset"] or "unknown")[:10]
    where = []
    for p in d["positions"]:
        if p["frame"] == "raw" and d["photosite_exact"]:
            continue
        mark = "" if p["shown"] else " mapped"
        where.append(f"{p['frame']} {p['width']}x{p['height']}: {p['x']},{p['y']}{mark}")
    site = d["photosite"]
    head = (
        f"{d['kind']:<5} photosite {site['x']},{site['y']}"
        if site and d["photosite_exact"]
        else f"{d['kind']:<5}"
    )
    seen = " and ".join(k.upper() for k in d["kinds"])
    return f"{head} ({'; '.join(where)}), onset {onset}, seen in {seen}, score {d['score']:.1f}"


def run_export(args: argparse.Namespace) -> int:
    with open_catalogue(args.paths, readonly=True) as cat:
        body = pick_body(cat, args.body)
        accs = cat.accumulators(body_key=body.key)
        if args.format == "json":
            text = export.to_json(camera_entries(cat, body.key), body_entries(cat, body.key))
            return _emit(text, args.output, None)
        raws = [a for a in accs if a.kind is FrameKind.RAW]
        if not raws:
            raise UserError(
                f"{body.label} has no RAW photos yet: dcraw and RawTherapee maps need raw "
                "photosite coordinates (use --format json for JPEG maps)"
            )
        view = sensors.sensor_view(cat, body)
        defects = export.photosite_defects(view)
        sensor = next(a for a in raws if sensors.geometry_of(a) == view.sensor)
        raw_files = [f.path for f in cat.files(body_key=body.key) if f.acc_slug == sensor.slug]
    if args.format == "dcraw":
        return _emit(export.dcraw_lines(defects), args.output, None)
    exif_make = _exif_make(raw_files)
    grid = _rawtherapee_grid(body.body, exif_make, raw_files, (sensor.width, sensor.height))
    print(grid.note, file=sys.stderr)
    name = export.rawtherapee_name(body.body, exif_make)
    return _emit(export.rawtherapee_lines(defects, grid.offset, grid.size), args.output, name)


def _rawtherapee_grid(
    body: BodyId, exif_make: str | None, raw_files: list[str], visible: tuple[int, int]
) -> rawtherapee.Grid:
    """RawTherapee's raw grid for this body: LibRaw's margins read from one of its raws."""
    camera = export.rawtherapee_camera(body, exif_make)
    for path in reversed(raw_files[-3:]):
        try:
            frame = read_frame(Path(path), FrameKind.RAW)
        except HotwatchError:
            continue
        return rawtherapee.grid(camera, frame.left_margin, frame.top_margin, visible)
    if rawtherapee.raw_crop(camera) is not None:
        raise UserError(
            f"RawTherapee crops {camera} raws (camconst.json raw_crop): one of the body's raws "
            "must still be on disk to place the map on its grid"
        )
    return rawtherapee.grid(camera, 0, 0, visible)


def _exif_make(paths: list[str]) -> str | None:
    """The EXIF make as a raw file spells it (RawTherapee matches on it)."""
    for path in paths[-3:]:
        make = written_make(Path(path))
        if make:
            return make
    return None


def _emit(text: str, output: Path | None, default_name: str | None) -> int:
    if output is None:
        sys.stdout.write(text)
        return 0
    if output.is_dir() and default_name:
        output = output / default_name
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output}", file=sys.stderr)
    return 0
