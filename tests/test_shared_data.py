"""Files the project never commits are read from ``../shared/data``: a checkout without
them skips with one line naming where they come from; CI (``CI`` set) fails instead."""

from __future__ import annotations

import pytest

from tests.support import shared_data as module
from tests.support.shared_data import shared_data, skip_module_without


def test_a_missing_folder_skips_naming_its_source_and_fails_under_ci(tmp_path, monkeypatch):
    monkeypatch.setattr(module, "SHARED_DATA", tmp_path)
    monkeypatch.delenv("CI", raising=False)
    line = f"{tmp_path / 'gone'} is missing; it holds the files of somewhere"
    with pytest.raises(pytest.skip.Exception) as skipped:
        shared_data("gone", "the files of somewhere")
    assert str(skipped.value) == line and "\n" not in line
    with pytest.raises(pytest.skip.Exception):
        skip_module_without("gone", "the files of somewhere")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception) as failed:
        shared_data("gone", "the files of somewhere")
    assert str(failed.value) == line
    skip_module_without("gone", "the files of somewhere")  # under CI: each test fails instead
    (tmp_path / "here").mkdir()
    assert shared_data("here", "x") == tmp_path / "here"
