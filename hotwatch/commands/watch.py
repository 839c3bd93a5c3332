"""``hotwatch watch``, ``hotwatch folders``, ``hotwatch status`` and ``hotwatch service``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from hotwatch.commands.common import add_json
from hotwatch.core.errors import UserError
from hotwatch.desktop import service
from hotwatch.state import folders as folders_mod
from hotwatch.state.config import Paths
from hotwatch.state.runfiles import read_status


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "watch",
        help="watch folders and ingest new photos as they arrive (the daemon)",
        description=(
            "Run in the foreground, watching PATHs (default: the folders of `hotwatch folders "
            "list`) recursively. A photo is read once it is complete (unchanged for "
            "settle_seconds); on start, photos that arrived while hotwatch was stopped are "
            "caught up. Stop with SIGTERM or ^C. Example: hotwatch watch ~/Pictures/import"
        ),
    )
    p.add_argument("folders", nargs="*", type=Path, metavar="PATH")
    p.add_argument(
        "--poll",
        action="store_true",
        help="poll the folders instead of using inotify (network shares)",
    )
    p.add_argument(
        "--settle",
        type=float,
        metavar="SECONDS",
        help="how long a file must stay unchanged before it is read (default: config, 2)",
    )
    p.add_argument(
        "--rescan-minutes",
        type=float,
        metavar="MINUTES",
        help="rescan every folder this often, 0 = never (default: config, 30)",
    )
    p.set_defaults(func=run_watch)

    p = sub.add_parser(
        "folders",
        help="add, remove or list the folders `hotwatch watch` watches",
        description=(
            "Manage the watched folders, kept in the [watch] table of config.toml. "
            "Example: hotwatch folders add ~/Pictures/import"
        ),
    )
    fsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, text in (("add", "watch PATH"), ("remove", "stop watching PATH")):
        q = fsub.add_parser(action, help=text)
        q.add_argument("path", metavar="PATH")
        q.set_defaults(func=run_folders)
    q = fsub.add_parser("list", help="list the watched folders")
    add_json(q)
    q.set_defaults(func=run_folders)

    p = sub.add_parser(
        "status",
        help="is the daemon running, what does it watch, what did it read last",
        description="Show whether `hotwatch watch` runs, its folders, queue and last photo. "
        "Example: hotwatch status --json",
    )
    add_json(p)
    p.set_defaults(func=run_status)

    p = sub.add_parser(
        "service",
        help="install or remove the systemd user service",
        description=(
            "Install the systemd user unit that runs `hotwatch watch` at login "
            "(~/.config/systemd/user/hotwatch.service), reload systemd and enable it; or "
            "remove it. Example: hotwatch service install"
        ),
    )
    ssub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = ssub.add_parser("install", help="write the unit, enable and start it")
    q.add_argument("--no-enable", action="store_true", help="only write the unit file")
    q.set_defaults(func=run_service)
    q = ssub.add_parser("uninstall", help="stop, disable and remove the unit")
    q.set_defaults(func=run_service)


# --------------------------------------------------------------------------- watch


def run_watch(args: argparse.Namespace) -> int:
    from hotwatch.daemon.daemon import Daemon, WatchOptions

    cfg = folders_mod.read_config(args.paths)
    if args.folders:
        missing = [str(f) for f in args.folders if not f.is_dir()]
        if missing:
            raise UserError(f"not a folder: {', '.join(missing)}")
        chosen = tuple(Path(folders_mod.normalise(f)) for f in args.folders)
    else:
        chosen = tuple(Path(f) for f in cfg.folders)
    settle = cfg.settle_seconds if args.settle is None else args.settle
    rescan = cfg.rescan_minutes if args.rescan_minutes is None else args.rescan_minutes
    if settle < 0 or rescan < 0:
        raise UserError("--settle and --rescan-minutes must not be negative")
    options = WatchOptions(
        folders=chosen, poll=args.poll or cfg.poll, settle_seconds=settle, rescan_minutes=rescan
    )
    return Daemon(args.paths, options).run()


# --------------------------------------------------------------------------- folders


def run_folders(args: argparse.Namespace) -> int:
    paths: Paths = args.paths
    if args.action == "add":
        added = folders_mod.add_folder(paths, args.path)
        name = folders_mod.normalise(args.path)
        print(f"watching {name}" if added else f"already watched: {name}")
        if added:
            print("restart the daemon to pick it up (systemctl --user restart hotwatch)")
        return 0
    if args.action == "remove":
        if not folders_mod.remove_folder(paths, args.path):
            raise UserError(f"not a watched folder: {args.path}")
        print(f"no longer watching {args.path}")
        return 0
    found = folders_mod.list_folders(paths)
    if args.json:
        print(json.dumps({"folders": found}, indent=2))
    elif not found:
        print("no watched folders: hotwatch folders add PATH")
    else:
        for f in found:
            print(f + ("" if os.path.isdir(f) else "  (missing)"))
    return 0


# --------------------------------------------------------------------------- status


def run_status(args: argparse.Namespace) -> int:
    data = read_status(args.paths)
    if not data.get("folders"):
        data["folders"] = folders_mod.list_folders(args.paths)
    data.setdefault("last_photo", None)
    data.setdefault("last_photo_at", None)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    if data["running"]:
        pid = data.get("pid") or "?"
        paused = ", paused" if data["paused"] else ""
        print(f"hotwatch watch is running (pid {pid}{paused}): {data.get('state', '?')}")
        print(f"queue: {data.get('queue', 0)} file(s)")
    else:
        print("hotwatch watch is not running" + (" (paused flag set)" if data["paused"] else ""))
    print("folders: " + (", ".join(data["folders"]) or "none (hotwatch folders add PATH)"))
    if data["last_photo"]:
        print(f"last photo: {data['last_photo']} (read {data['last_photo_at']})")
    else:
        print("last photo: none yet")
    return 0


# --------------------------------------------------------------------------- service


def run_service(args: argparse.Namespace) -> int:
    target = service.unit_path()
    if args.action == "uninstall":
        return _uninstall(target)
    target = service.write_unit(args.paths)
    print(f"wrote {target}")
    if args.no_enable:
        print(
            "enable it with: systemctl --user daemon-reload && systemctl --user enable --now "
            "hotwatch"
        )
        return 0
    problem = service.enable()
    if problem:
        print(f"could not enable it ({problem}); in your session run:", file=sys.stderr)
        print("    systemctl --user daemon-reload", file=sys.stderr)
        print("    systemctl --user enable --now hotwatch", file=sys.stderr)
        return 0
    print("enabled and started: systemctl --user status hotwatch; journalctl --user -u hotwatch")
    return 0


def _uninstall(target: Path) -> int:
    if not target.exists():
        raise UserError(f"no unit installed at {target}")
    problem = service.remove_unit(target)
    if problem:
        print(f"note: could not stop or disable it ({problem})", file=sys.stderr)
    print(f"removed {target}")
    return 0
