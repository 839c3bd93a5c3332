"""``hotwatch darktable info|heal|install``: the commands the darktable Lua script calls.

The answers themselves come from :mod:`hotwatch.darktable.bridge`; here they are printed,
as JSON for the script (``--json``, with logging silenced: the script reads stdout and
stderr together) or as lines for a person.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

from hotwatch.commands.common import open_catalogue
from hotwatch.core.errors import HotwatchError, UserError
from hotwatch.darktable.bridge import heal_one, info_dict
from hotwatch.darktable.install import (
    darktable_script,
    default_darktable_config,
    find_script_manager,
    install_lua,
    read_darktablerc_write_sidecar,
)
from hotwatch.io.exiftool import ExifTool, optional_exiftool
from hotwatch.state.catalogue import Catalogue

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
    q.add_argument(
        "--staged",
        action="store_true",
        help="leave the sidecars alone: write each healed one beside it as "
        "NAME.xmp.hotwatch-staged (the Lua script hands it to darktable's apply_sidecar)",
    )
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


# ------------------------------------------------------------------ healing


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
    if a["taken_at"] is None:
        yield "  taken: unknown (the photo keeps no capture date: every defect applies)"
    else:
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
                results.append(heal_one(f.absolute(), cat, et, staged=args.staged))
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


def run_install(args: argparse.Namespace) -> int:
    config = (args.darktable_config or default_darktable_config()).expanduser()
    with darktable_script() as script:
        try:
            actions = install_lua(config, script, add_luarc=args.luarc, uninstall=args.uninstall)
        except OSError as exc:
            raise UserError(f"cannot write to {config}: {exc.strerror or exc}") from exc
    for a in actions:
        print(a)
    if not actions:
        print("nothing to do: " + ("not installed" if args.uninstall else "already installed"))
    if not args.uninstall:
        manager = None if args.luarc else find_script_manager(config)
        if manager is not None:
            print(f"enable 'hotwatch' in darktable's script manager ({manager})")
        elif not args.luarc:
            print(
                "warning: no darktable script manager found (darktable ships one from 5.6 "
                "on; before, it comes with darktable's lua-scripts): run again with --luarc "
                "to load the script from luarc",
                file=sys.stderr,
            )
        if read_darktablerc_write_sidecar(config) == "never":
            print(
                "warning: darktable is set to never write sidecar files; the script will tag "
                "photos but not heal them (preferences > storage > write sidecar file)",
                file=sys.stderr,
            )
    return 0
