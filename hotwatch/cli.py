"""The ``hotwatch`` command line: parse, call the library, print.

Each group of subcommands lives in its own module under ``hotwatch.commands``
and registers itself with ``register(subparsers)``; this module owns the
global options, logging, and the mapping of errors to exit codes: every error a
user can meet is a :class:`~hotwatch.core.errors.HotwatchError` (one line, its
``exit_status``), a full disk one line, ^C and a closed pipe end quietly, and
anything else is a bug that shows its traceback. It is the only place that calls
``sys.exit``.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import sqlite3
import sys
from collections.abc import Sequence

from hotwatch.core.errors import DiskFull, HotwatchError
from hotwatch.state.config import resolve_paths

#: Modules under hotwatch.commands, in the order their commands appear in --help.
COMMAND_MODULES = (
    "scan",
    "listing",
    "identify",
    "watch",
    "tray",
    "report",
    "demo",
    "darktable",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hotwatch",
        description="Watch your camera bodies' sensors for hot, stuck and dead pixels.",
    )
    parser.add_argument(
        "--home",
        metavar="DIR",
        help="keep all state (catalogue, accumulators, config, exports) in DIR "
        "(default: $HOTWATCH_HOME, else the platform's user data/config dirs)",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log lines")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"hotwatch.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"hotwatch.commands.{name}":
                raise
            continue
        module.register(sub)
    return parser


def setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(levelname)s %(message)s" if verbose else "%(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("exifread").setLevel(logging.ERROR)
    logging.getLogger("watchdog").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    setup_logging(args.verbose, args.quiet)
    args.paths = resolve_paths(args.home)
    try:
        return int(args.func(args) or 0)
    except HotwatchError as exc:
        where = f"hotwatch {args.command}" if exc.names_command else "hotwatch"
        print(f"{where}: {exc}", file=sys.stderr)
        return exc.exit_status
    except sqlite3.OperationalError as exc:
        if "full" not in str(exc):
            raise
        print(f"hotwatch: {DiskFull(args.paths.data)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            return 0
        if exc.errno == errno.ENOSPC:
            print(f"hotwatch: disk full: {exc}", file=sys.stderr)
            return 1
        if exc.filename is not None and exc.strerror:  # a path the user gave or set up
            print(f"hotwatch {args.command}: {exc.strerror}: {exc.filename}", file=sys.stderr)
            return 1
        raise


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
