"""Real camera files the tests read but the project never commits: ``../shared/data/<name>``.

Why: files copied from public repositories stay outside the repository (their licences and
sizes are not the project's), beside it at ``<repo>/../shared/data``. A developer without
them gets one line saying where they come from; CI (``CI`` set in the environment) must have
them, so there a missing folder fails instead of skipping.

Use both: ``skip_module_without(name, origin)`` at module level (one skip line for the whole
module), and ``shared_data(name, origin)`` where the files are read (the folder, or a
failure under CI that leaves the rest of the run going). The collections so kept:
``camera-samples`` (:data:`CAMERA_SAMPLES`: real cameras' files, mostly metadata-only, from
the ExifTool, Exiv2 and rawpy test data) and ``digicam-s40`` (a real sensor's raws).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: ``<repository>/../shared/data``
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _missing(name: str, origin: str) -> str | None:
    """The one-line explanation when ``../shared/data/<name>`` is missing, else None."""
    folder = SHARED_DATA / name
    return None if folder.is_dir() else f"{folder} is missing; it holds {origin}"


def in_ci() -> bool:
    return "CI" in os.environ


def shared_data(name: str, origin: str) -> Path:
    """The folder ``../shared/data/<name>`` beside the repository.

    When it is missing: fail when the environment variable ``CI`` is set, else skip, with
    one line naming ``origin`` (where the files come from).
    """
    message = _missing(name, origin)
    if message is None:
        return SHARED_DATA / name
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)


def skip_module_without(name: str, origin: str) -> None:
    """At module level: skip the whole module with one line when the folder is missing.

    Under CI it does nothing: each test then fails in ``shared_data`` instead (a failure at
    import would abort the whole run's collection).
    """
    message = _missing(name, origin)
    if message is not None and not in_ci():
        pytest.skip(message, allow_module_level=True)


#: the real camera files of ``../shared/data/camera-samples`` and where they come from
CAMERA_SAMPLES = "camera-samples"
CAMERA_SAMPLES_ORIGIN = (
    "real camera files from the test data of exiftool/exiftool (t/images), Exiv2/exiv2 "
    "(test/data) and letmaik/rawpy (test), as listed with their licences in its SOURCES.md"
)
