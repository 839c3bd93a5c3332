"""Helpers shared by the subcommand modules: opening state, choosing a body."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

from hotwatch.core.errors import UserError
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.config import Paths
from hotwatch.state.rows import BodyRow


@contextmanager
def open_catalogue(paths: Paths, *, readonly: bool = False) -> Iterator[Catalogue]:
    """The catalogue of ``paths``; read-only opens never create state."""
    if readonly and not paths.catalogue.exists():
        raise UserError(f"nothing scanned yet (no catalogue in {paths.data})")
    if not readonly:
        paths.ensure()
    cat = Catalogue(paths.catalogue, readonly=readonly)
    try:
        yield cat
    finally:
        cat.close()


def pick_body(cat: Catalogue, query: str) -> BodyRow:
    """BODY on the command line: a serial, or a unique prefix of 'make model serial'."""
    found = cat.find_bodies(query)
    if not found:
        known = ", ".join(b.label for b in cat.bodies()) or "none yet"
        raise UserError(f"no camera body matches {query!r} (known: {known})")
    if len(found) > 1:
        raise UserError(f"{query!r} matches several bodies: " + "; ".join(b.label for b in found))
    return found[0]


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
