"""``hotwatch tray``, ``hotwatch tray install`` and ``hotwatch tray uninstall``.

Nothing here imports pystray (nor ``hotwatch.desktop.tray``) at registration time: the
CLI must work, and ``hotwatch tray`` must fail with one line, without a display.
"""

from __future__ import annotations

import argparse

from hotwatch.core.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tray",
        help="show a status icon and desktop notifications",
        description=(
            "Show a tray icon with each camera body's sensor health and announce new defects "
            "as desktop notifications. Runs apart from the watcher (it only reads the "
            "catalogue). Example: hotwatch tray install (start it on every login)"
        ),
    )
    p.add_argument(
        "--interval",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="how often to look for news (default: 3)",
    )
    p.set_defaults(func=run_tray)
    tray_sub = p.add_subparsers(dest="tray_command", metavar="ACTION")
    i = tray_sub.add_parser(
        "install",
        help="start the tray on every login (XDG autostart entry)",
        description="Write ~/.config/autostart/hotwatch-tray.desktop ($XDG_CONFIG_HOME honoured).",
    )
    i.set_defaults(func=run_install)
    u = tray_sub.add_parser(
        "uninstall",
        help="no longer start the tray on login",
        description="Remove the XDG autostart entry written by `hotwatch tray install`.",
    )
    u.set_defaults(func=run_uninstall)
    pop = tray_sub.add_parser("popup", description="(internal) show a menu read from stdin")
    pop.set_defaults(func=run_popup)


def run_tray(args: argparse.Namespace) -> int:
    if args.interval <= 0:
        raise UserError("--interval must be positive")
    from hotwatch.desktop.tray import run_tray as run

    return run(args.paths, interval=args.interval)


def run_popup(args: argparse.Namespace) -> int:
    from hotwatch.desktop.tray import run_popup as run

    return run()


def run_install(args: argparse.Namespace) -> int:
    from hotwatch.desktop.autostart import install

    path = install(args.paths)
    print(f"hotwatch tray will start on login: {path}")
    return 0


def run_uninstall(args: argparse.Namespace) -> int:
    from hotwatch.desktop.autostart import uninstall

    path = uninstall()
    if path is None:
        print("hotwatch tray was not set to start on login")
    else:
        print(f"removed {path}")
    return 0
