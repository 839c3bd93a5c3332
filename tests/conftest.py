"""Fixtures only: a simulated camera roll with known defects, a hotwatch home, and a running
exiftool. What tests call lives in ``tests.support``."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotwatch.io.exiftool import ExifTool
from tests.support.rolls import Roll, make_roll


@pytest.fixture(scope="session")
def roll(tmp_path_factory) -> Roll:
    """120 frames, JPEG + DNG, 320x240, 9 planted defects (some appearing late)."""
    return make_roll(tmp_path_factory.mktemp("roll") / "DCIM")


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


@pytest.fixture(scope="module")
def et():
    """One exiftool process for a test module (a missing exiftool fails, never skips)."""
    tool = ExifTool.find()
    assert tool is not None, "exiftool must be installed (Debian libimage-exiftool-perl)"
    with tool:
        yield tool
