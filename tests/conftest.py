"""Fixtures only: a simulated camera roll with known defects, and a hotwatch home. What
tests call lives in ``tests.support``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.rolls import Roll, make_roll


@pytest.fixture(scope="session")
def roll(tmp_path_factory) -> Roll:
    """120 frames, JPEG + DNG, 320x240, 9 planted defects (some appearing late)."""
    return make_roll(tmp_path_factory.mktemp("roll") / "DCIM")


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"
