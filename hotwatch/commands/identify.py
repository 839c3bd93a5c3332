"""``hotwatch identify PHOTO... [--json]``: what hotwatch reads in each file, and what a scan
would do with it. Reads files and the catalogue; changes nothing."""

from __future__ import annotations

import argparse
import json
from contextlib import ExitStack
from pathlib import Path

from hotwatch.commands.common import add_json, open_catalogue
from hotwatch.io.exiftool import optional_exiftool
from hotwatch.pipeline.explain import FAIL, INGEST, Explanation, explain


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "identify",
        help="say which body took each photo, where each fact was read, and what a scan "
        "would do with it",
        description=(
            "For each PHOTO, one line (or with --json one JSON object per line): the body "
            "(make, model, serial as the camera shows it, and the key hotwatch files it "
            "under), which reader found each of them (exifread, a maker note, XMP, "
            "exiftool), the frame kind and size, the capture time, exposure and ISO with "
            "the tag each came from, and what a scan would do: ingest it into which "
            "accumulator, or skip it and why. Reads the files; changes no state. "
            "Example: hotwatch identify IMG_0001.CR2 --json"
        ),
    )
    p.add_argument("photos", nargs="+", type=Path, metavar="PHOTO")
    add_json(p)
    p.set_defaults(func=run_identify)


def run_identify(args: argparse.Namespace) -> int:
    answers = []
    with optional_exiftool() as et, ExitStack() as stack:
        cat = None  # identify never creates state: the catalogue only if there is one
        if args.paths.catalogue.exists():
            cat = stack.enter_context(open_catalogue(args.paths, readonly=True))
        for path in args.photos:
            answers.append(explain(path, et, cat))
    for a in answers:
        print(json.dumps(to_dict(a)) if args.json else line(a))
    return 1 if any(a.action == FAIL and a.reason == "no such file" for a in answers) else 0


def to_dict(a: Explanation) -> dict:
    """The JSON object of one file."""
    body = a.body
    shot = a.shot
    return {
        "file": str(a.path),
        "action": a.action,
        "reason": a.reason,
        "body": None if body is None else body.fields(),
        "sources": dict(a.sources),
        "exiftool_asked": a.exiftool,
        "frame": None
        if a.frame is None
        else {"kind": a.frame[0].value, "width": a.frame[1], "height": a.frame[2]},
        "taken_at": shot.taken_at.isoformat() if shot and shot.taken_at else None,
        "exposure": shot.exposure if shot else None,
        "iso": shot.iso if shot else None,
        "accumulator": None
        if a.accumulator is None
        else {"slug": a.accumulator.slug, "photos_so_far": a.photos_so_far},
    }


def _fact(value: str | None, source: str | None) -> str:
    if value is None:
        return "none"
    return f"{value} ({source})" if source else value


def line(a: Explanation) -> str:
    """One line: ``IMG_1.CR2: CANON EOS 40D #0830512345 [key ...] (make: ..., serial: ...);
    raw 3908x2602; taken ... (...), 1/250 s (...), ISO 400 (...); scan: ingest into ...``."""
    parts = []
    if a.body is not None:
        src = a.sources
        where = ", ".join(f"{k}: {src[k]}" for k in ("make", "model", "serial") if k in src)
        serial = "" if a.body.serial else "; no serial in any tag"
        parts.append(f"{a.body.label} [key {a.body.key}] ({where}{serial})")
    if a.frame is not None:
        kind, w, h = a.frame
        parts.append(f"{kind.value} {w}x{h}")
    if a.shot is not None:
        s, src = a.shot, a.sources
        exposure = None if s.exposure is None else _exposure(s.exposure)
        iso = None if s.iso is None else f"ISO {s.iso:g}"
        taken = None if s.taken_at is None else s.taken_at.isoformat()
        parts.append(
            f"taken {_fact(taken, src.get('taken_at'))}, "
            f"{_fact(exposure, src.get('exposure'))}, {_fact(iso, src.get('iso'))}"
        )
    parts.append("scan: " + _action(a))
    return f"{a.path.name}: " + "; ".join(parts)


def _exposure(seconds: float) -> str:
    """As exiftool prints it: a fraction up to 1/4 s, decimals above (0.4 s is not 1/2)."""
    if 0 < seconds <= 0.25:
        return f"1/{round(1 / seconds)} s"
    return f"{seconds:g} s"


def _action(a: Explanation) -> str:
    if a.action == INGEST and a.accumulator is not None:
        k = a.accumulator
        into = f"{k.body.label} {k.kind.value} {k.width}x{k.height}"
        if a.photos_so_far is None:
            return f"ingest into {into} ({a.reason})"
        return f"ingest into {into} ({a.photos_so_far} photos so far)"
    return f"{a.action}: {a.reason}" if a.reason else a.action
