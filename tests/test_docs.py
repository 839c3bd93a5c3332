"""The README and the command line stay in step: every command is documented and has help."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from hotwatch.cli import build_parser

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def _commands() -> list[tuple[str, argparse.ArgumentParser]]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices.items())


@pytest.mark.parametrize(("name", "parser"), _commands(), ids=lambda v: str(v)[:20])
def test_every_command_is_in_the_readme_and_has_help(name, parser):
    assert re.search(rf"`hotwatch {re.escape(name)}\b", README), f"README lacks `hotwatch {name}`"
    assert (parser.description or parser.format_help()).strip()


def test_readme_opens_with_the_two_setup_commands():
    first_block = README.split("```")[1]
    lines = [ln for ln in first_block.splitlines() if ln.strip() and not ln.startswith("sh")]
    assert "pip install . && hotwatch scan" in lines[0]
    assert lines[1].endswith("pip install '.[test]' && python -m pytest")


def test_ci_runs_exactly_the_readme_test_command():
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text(encoding="utf-8")
    readme_test = README.split("```")[1].splitlines()[2].split("#")[0].strip()
    assert readme_test in [ln.strip() for ln in ci.splitlines()]
