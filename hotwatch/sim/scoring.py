"""Scoring detections against a simulated camera's ground truth.

Used by the tests, ``hotwatch demo`` and the benchmarks, so that "found every
simulated defect" means the same thing everywhere: a RAW defect must be found
at its exact photosite, a JPEG one within ``jpeg_tolerance`` pixels (the
smear of one photosite is reported at its centre, which rounding can move by
one); the kind must be one the truth accepts; onset error is counted in frames.
Reports are matched to planted defects nearest first, so that two defects side
by side are each matched by the report at their own position.
"""

from __future__ import annotations

from collections import Counter
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
    #: the onset errors of the defects that appeared part-way through the roll
    emerging_errors: list[int] = field(default_factory=list)
    #: per category of the truth (its ``category``, else its kind): (matched, planted)
    categories: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: per planted kind: (matched with an accepted kind, matched)
    kinds: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: reports at planted defects the truth left out (too faint to be asked for): real
    #: defects, neither found nor false
    beyond: int = 0

    @property
    def precision(self) -> float:
        judged = self.found - self.beyond
        return self.matched / judged if judged else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.truth if self.truth else 1.0

    @property
    def kind_accuracy(self) -> float:
        right = sum(r for r, _ in self.kinds.values())
        return right / self.matched if self.matched else 1.0

    def summary(self) -> str:
        return (
            f"precision {self.precision:.3f} recall {self.recall:.3f} "
            f"({self.matched}/{self.truth} found, {len(self.false_positives)} false"
            f"{f', {self.beyond} beyond the truth' if self.beyond else ''}), "
            f"kind right {self.kind_accuracy:.3f}, "
            f"onset error (frames) of those that emerge {_spread(self.emerging_errors)},"
            f" of all {_spread(self.onset_errors)}"
        )

    def table(self) -> str:
        """Recall per category and kind accuracy per planted kind, one line each."""
        lines = [
            f"    {name:<10} recall {m / n:.2f} ({m}/{n})"
            for name, (m, n) in sorted(self.categories.items())
        ]
        lines += [
            f"    kind {name:<7} right {r / n:.2f} ({r}/{n})"
            for name, (r, n) in sorted(self.kinds.items())
            if n
        ]
        return "\n".join(lines)


def _spread(errors: list[int]) -> str:
    on = sorted(errors)
    return f"median {on[len(on) // 2]} max {on[-1]}" if on else "-"


def frame_index(when: datetime | None, shot_times: Sequence[datetime]) -> int | None:
    """Index of the first shot taken at or after ``when``."""
    if when is None:
        return None
    for i, t in enumerate(shot_times):
        if t >= when:
            return i
    return len(shot_times)


def match(found: Sequence[dict], truth: Sequence[dict], tolerance: int) -> list[tuple[int, int]]:
    """(found index, truth index) pairs, each side used once, nearest pairs first.

    A report matches a planted defect within ``tolerance`` pixels on each axis; where
    several could, the nearest pairs are made first, so that a report at one defect of
    a pair is not spent on its neighbour.
    """
    near = sorted(
        (
            max(abs(t["x"] - f["x"]), abs(t["y"] - f["y"])),
            abs(t["x"] - f["x"]) + abs(t["y"] - f["y"]),
            i,
            j,
        )
        for i, f in enumerate(found)
        for j, t in enumerate(truth)
        if abs(t["x"] - f["x"]) <= tolerance and abs(t["y"] - f["y"]) <= tolerance
    )
    used_f: set[int] = set()
    used_t: set[int] = set()
    pairs = []
    for *_, i, j in near:
        if i in used_f or j in used_t:
            continue
        used_f.add(i)
        used_t.add(j)
        pairs.append((i, j))
    return sorted(pairs)


def score(
    found: Sequence[dict],
    truth: Sequence[dict],
    shot_times: Sequence[datetime],
    *,
    kind: str,
    jpeg_tolerance: int = 1,
    check_kind: bool = True,
    first_shown: str = "first_visible_index",
    planted: Sequence[dict] = (),
) -> Score:
    """Match ``found`` ({x, y, kind, onset}) to ``truth`` (camsim.ground_truth rows).

    ``truth`` should hold only the defects a detector can be asked to find
    (see the benchmarks for the visibility rule); ``first_shown`` names its field
    holding the first frame that shows each defect (onsets are dated against it).
    ``planted``: every defect planted; a report at one that ``truth`` leaves out is a
    real defect found beyond what was asked, not a false report.
    """
    tolerance = 0 if kind == "raw" else jpeg_tolerance
    pairs = match(found, truth, tolerance)
    wrong, onset_err, details, emerging = [], [], [], []
    kinds_right: Counter = Counter()
    kinds_seen: Counter = Counter()
    for i, j in pairs:
        f, t = found[i], truth[j]
        accepted = t.get("accepted_kinds") or [t["kind"]]
        kinds_seen[t["kind"]] += 1
        if f["kind"] in accepted:
            kinds_right[t["kind"]] += 1
        elif check_kind:
            wrong.append((f["x"], f["y"], f["kind"], t["kind"]))
        onset = f.get("onset")
        if isinstance(onset, str):
            onset = datetime.fromisoformat(onset)
        idx = frame_index(onset, shot_times)
        if idx is not None:
            # Right anywhere from its true onset to the first frame that shows it (when
            # the truth knows it): a defect under a clipped sky or in daylight is present
            # but invisible, and one that shows faintly before it stands out clearly may
            # be dated from its faint start.
            first = int(t.get(first_shown, t["onset_index"]))
            start = min(int(t["onset_index"]), first)
            off = idx - first if idx > first else min(0, idx - start)
            onset_err.append(abs(off))
            details.append((f["x"], f["y"], off))
            if t["onset_index"] > 0:
                emerging.append(abs(off))
    matched_f = {i for i, _ in pairs}
    matched_t = {j for _, j in pairs}
    asked = {(t["x"], t["y"]) for t in truth}
    rest = [i for i in range(len(found)) if i not in matched_f]
    faint = [t for t in planted if (t["x"], t["y"]) not in asked]
    beyond = {rest[i] for i, _ in match([found[i] for i in rest], faint, tolerance)}
    asked_per = Counter(t.get("category") or t["kind"] for t in truth)
    hit = Counter((truth[j].get("category") or truth[j]["kind"]) for j in matched_t)
    return Score(
        found=len(found),
        truth=len(truth),
        matched=len(pairs),
        false_positives=[
            (f["x"], f["y"]) for i, f in enumerate(found) if i not in matched_f | beyond
        ],
        missed=[(t["x"], t["y"]) for j, t in enumerate(truth) if j not in matched_t],
        wrong_kind=wrong,
        onset_errors=onset_err,
        onset_details=details,
        emerging_errors=emerging,
        categories={c: (hit[c], n) for c, n in asked_per.items()},
        kinds={k: (kinds_right[k], n) for k, n in kinds_seen.items()} if check_kind else {},
        beyond=len(beyond),
    )
