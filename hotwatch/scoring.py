"""Scoring detections against a simulated camera's ground truth.

Used by the tests, ``hotwatch demo`` and the benchmarks, so that "found every
simulated defect" means the same thing everywhere: a RAW defect must be found
at its exact photosite, a JPEG one within ``jpeg_tolerance`` pixels (the
smear of one photosite is reported at its centre, which rounding can move by
one); the kind must be one the truth accepts; onset error is counted in frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Score:
    found: int
    truth: int
    matched: int
    false_positives: list[tuple[int, int]] = field(default_factory=list)
    missed: list[tuple[int, int]] = field(default_factory=list)
    wrong_kind: list[tuple[int, int, str, str]] = field(default_factory=list)
    onset_errors: list[int] = field(default_factory=list)
    #: (x, y, found onset minus true onset, in frames) of every matched defect with an onset
    onset_details: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.matched / self.found if self.found else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.truth if self.truth else 1.0

    def summary(self) -> str:
        on = sorted(self.onset_errors)
        med = on[len(on) // 2] if on else 0
        return (
            f"precision {self.precision:.3f} recall {self.recall:.3f} "
            f"({self.matched}/{self.truth} found, {len(self.false_positives)} false), "
            f"onset error median {med} max {max(on, default=0)} frames"
        )


def frame_index(when: datetime | None, shot_times: Sequence[datetime]) -> int | None:
    """Index of the first shot taken at or after ``when``."""
    if when is None:
        return None
    for i, t in enumerate(shot_times):
        if t >= when:
            return i
    return len(shot_times)


def score(
    found: Sequence[dict],
    truth: Sequence[dict],
    shot_times: Sequence[datetime],
    *,
    kind: str,
    jpeg_tolerance: int = 1,
    check_kind: bool = True,
    first_shown: str = "first_visible_index",
) -> Score:
    """Match ``found`` ({x, y, kind, onset}) to ``truth`` (camsim.ground_truth rows).

    ``truth`` should hold only the defects a detector can be asked to find
    (see the benchmarks for the visibility rule); ``first_shown`` names its field
    holding the first frame that shows each defect (onsets are dated against it).
    """
    tol = 0 if kind == "raw" else jpeg_tolerance
    used: set[int] = set()
    matched, fps, wrong, onset_err, details = 0, [], [], [], []
    for f in found:
        best = None
        for j, t in enumerate(truth):
            if j in used:
                continue
            if abs(t["x"] - f["x"]) <= tol and abs(t["y"] - f["y"]) <= tol:
                best = j
                break
        if best is None:
            fps.append((f["x"], f["y"]))
            continue
        used.add(best)
        t = truth[best]
        accepted = t.get("accepted_kinds") or [t["kind"]]
        if check_kind and f["kind"] not in accepted:
            wrong.append((f["x"], f["y"], f["kind"], t["kind"]))
        matched += 1
        onset = f.get("onset")
        if isinstance(onset, str):
            onset = datetime.fromisoformat(onset)
        idx = frame_index(onset, shot_times)
        if idx is not None:
            # Dated against the first frame that could show it, when the truth knows it:
            # a defect under a clipped sky or in daylight is present but invisible.
            first = t.get(first_shown, t["onset_index"])
            onset_err.append(abs(idx - int(first)))
            details.append((f["x"], f["y"], idx - int(first)))
    missed = [(t["x"], t["y"]) for j, t in enumerate(truth) if j not in used]
    return Score(len(found), len(truth), matched, fps, missed, wrong, onset_err, details)
