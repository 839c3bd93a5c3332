"""Scoring against a simulated camera's truth: what counts as found, missed and false."""

from __future__ import annotations

from datetime import UTC, datetime

from hotwatch.sim.scoring import score

T0 = datetime(2024, 3, 2, tzinfo=UTC)


def _defect(x: int, y: int) -> dict:
    return {"x": x, "y": y, "kind": "hot", "accepted_kinds": ["hot"], "onset_index": 0}


def test_a_report_at_a_planted_defect_too_faint_to_ask_for_is_not_false():
    """The truth holds the defects a detector can be asked to find; a report at one planted
    but left out of it (too faint) is a real defect, neither a hit nor a false report."""
    asked = [_defect(10, 10), _defect(50, 20)]
    planted = [*asked, _defect(80, 40)]
    found = [{**_defect(x, y), "onset": None} for x, y in ((10, 10), (50, 20), (80, 40), (5, 5))]
    s = score(found, asked, [T0], kind="raw", planted=planted)
    assert (s.matched, s.false_positives, s.beyond) == (2, [(5, 5)], 1)
    assert s.precision == 2 / 3 and s.recall == 1.0
    assert "1 beyond the truth" in s.summary()
    without = score(found, asked, [T0], kind="raw")
    assert without.false_positives == [(80, 40), (5, 5)] and without.precision == 0.5
