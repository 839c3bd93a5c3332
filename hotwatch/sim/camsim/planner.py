"""The shot planner: a camera roll as a photographer shoots one.

Sessions days apart; day, indoor and night shots with realistic exposure times and ISOs;
bursts and tripod time-lapses that share one scene crop; special frames that fool detectors
(clipped skies, lens-cap frames, star fields, fine texture, glints); portrait shots stored
landscape; a sensor that warms up as it shoots.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

import numpy as np

from .scenes import PHOTO_SCENES, SPECIAL_SCENES
from .specs import ShotSpec

_DAY_EXPOSURES = (1 / 1000, 1 / 800, 1 / 640, 1 / 500, 1 / 400, 1 / 320, 1 / 250, 1 / 200)
_DAY_EXPOSURES += (1 / 160, 1 / 125, 1 / 100, 1 / 80, 1 / 60)
_DAY_ISOS = (100, 125, 160, 200, 250, 320, 400)
_INDOOR_EXPOSURES = (1 / 125, 1 / 100, 1 / 80, 1 / 60, 1 / 50, 1 / 40, 1 / 30, 1 / 25, 1 / 20)
_INDOOR_EXPOSURES += (1 / 15,)
_INDOOR_ISOS = (800, 1000, 1250, 1600, 2000, 2500, 3200)
_NIGHT_EXPOSURES = (1.0, 1.3, 1.6, 2.0, 2.5, 3.2, 4.0, 5.0, 6.0, 8.0, 10.0, 13.0, 15.0, 20.0)
_NIGHT_EXPOSURES += (25.0, 30.0)
_NIGHT_ISOS = (800, 1000, 1250, 1600, 2000, 2500, 3200, 4000, 5000, 6400)
_DEFAULT_START = datetime(2024, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=1)))


def plan_roll(
    n: int,
    seed: int = 0,
    *,
    start: datetime = _DEFAULT_START,
    bursts: bool = True,
    timelapses: bool = True,
    night: bool = True,
    specials: bool = True,
    portrait: bool = True,
    scenes: Sequence[str] | None = None,
) -> list[ShotSpec]:
    """A realistic sequence of ``n`` shots, in capture order with increasing times.

    Sessions are days apart (day, indoor or night); inside a session shots are seconds to
    minutes apart, bursts 0.1-0.3 s apart, tripod time-lapses 5-50 frames of one scene. With
    every switch off, the roll is ``n`` single daylight photo shots (the simple test case).
    ``scenes`` restricts the photos used (default: all bundled ones).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    photos = tuple(scenes) if scenes else PHOTO_SCENES
    for s in photos:
        if s not in PHOTO_SCENES and s not in SPECIAL_SCENES:
            raise ValueError(f"unknown scene {s!r}")
    rng = np.random.default_rng([seed, 0x5071])
    plan = _Planner(rng, photos, bursts, timelapses, night, specials, portrait)
    warmth = np.random.default_rng([seed, 0x7E4])  # apart: the plan stays as it was
    shots: list[ShotSpec] = []
    t = start
    while len(shots) < n:
        session = plan.session_kind(shots)
        t = plan.session_start(t, session, first=not shots)
        length = min(n - len(shots), int(rng.integers(4, 30)))
        first = len(shots)
        t = plan.session(shots, t, session, length, n)
        _warm_up(shots, first, float(warmth.uniform(0.5, 1.5)))
    return shots


def _warm_up(shots: list[ShotSpec], first: int, start: float) -> None:
    """The sensor's temperature over one session, as the dark current's scale: ``start``
    (days differ by a factor of two or so), rising 1% a shot up to 40% (measured on a
    real CCD: +34-43% over a couple of minutes of shooting)."""
    for k in range(first, len(shots)):
        rise = min(0.4, 0.01 * (k - first))
        shots[k] = replace(shots[k], dark_scale=round(start * (1.0 + rise), 4))


@dataclass
class _Planner:
    rng: np.random.Generator
    photos: tuple[str, ...]
    bursts: bool
    timelapses: bool
    night: bool
    specials: bool
    portrait: bool
    next_run: int = field(default=0)

    def session_kind(self, shots: list[ShotSpec]) -> str:
        """Night sessions steer the roll towards 10-20% night frames, as real rolls have."""
        r = self.rng.random()
        if self.night:
            share = sum(s.session == "night" for s in shots) / max(1, len(shots))
            p_night = 0.5 if share < 0.10 else 0.0 if share > 0.18 else 0.12
            if r < p_night:
                return "night"
        return "indoor" if self.rng.random() < 0.2 else "day"

    def session_start(self, t: datetime, session: str, first: bool) -> datetime:
        days = 0 if first else int(self.rng.integers(1, 12))
        hour = {"day": (8, 16), "indoor": (17, 21), "night": (20, 23)}[session]
        day = (t + timedelta(days=days)).replace(
            hour=int(self.rng.integers(*hour)),
            minute=int(self.rng.integers(0, 60)),
            second=int(self.rng.integers(0, 60)),
            microsecond=0,
        )
        return max(day, t + timedelta(hours=1))

    def exposure(self, session: str) -> tuple[float, int, float]:
        """(seconds, ISO, brightness) for one shot of this session."""
        table = {
            "day": (_DAY_EXPOSURES, _DAY_ISOS, (0.8, 1.2)),
            "indoor": (_INDOOR_EXPOSURES, _INDOOR_ISOS, (0.6, 1.0)),
            "night": (_NIGHT_EXPOSURES, _NIGHT_ISOS, (0.12, 0.5)),
        }
        exposures, isos, (blo, bhi) = table[session]
        return (
            float(self.rng.choice(exposures)),
            int(self.rng.choice(isos)),
            float(self.rng.uniform(blo, bhi)),
        )

    def scene(self, session: str) -> str:
        r = self.rng.random()
        if self.specials:
            if session == "night":
                if r < 0.45:
                    return "stars"
                if r < 0.65:
                    return "glints"
            else:
                for name, p in (("sky", 0.10), ("texture", 0.16), ("glints", 0.21)):
                    if r < p and (name != "sky" or session == "day"):
                        return name
        return str(self.rng.choice(self.photos))

    def orientation(self) -> int:
        if self.portrait and self.rng.random() < 0.15:
            return int(self.rng.choice([6, 8]))
        return 1

    def session(
        self, shots: list[ShotSpec], t: datetime, session: str, length: int, total: int
    ) -> datetime:
        """``length`` shots, or more when a time-lapse runs on (never past ``total``)."""
        end = len(shots) + length
        while len(shots) < end:
            left = end - len(shots)
            r = self.rng.random()
            if self.timelapses and r < 0.012 and total - len(shots) >= 5:
                count = min(total - len(shots), int(self.rng.integers(5, 51)))
                t = self._run(shots, t, session, count, True)
            elif self.bursts and session != "night" and r < 0.07 and left >= 3:
                t = self._run(shots, t, session, min(left, int(self.rng.integers(3, 11))), False)
            else:
                t = self._single(shots, t, session)
            t += timedelta(seconds=float(self.rng.uniform(5, 600)))
        return t

    def _single(self, shots: list[ShotSpec], t: datetime, session: str) -> datetime:
        exposure, iso, brightness = self.exposure(session)
        scene = self.scene(session)
        orientation = self.orientation()
        if self.specials:
            r = self.rng.random()
            if r < 0.025:  # lens cap left on: auto exposure opens up as far as it can
                scene, exposure, iso = "lenscap", 1 / 30, 6400
                brightness, orientation = 1.0, 1
            elif r < 0.05:
                scene, brightness = "blown", float(self.rng.uniform(4.0, 12.0))
        shots.append(
            ShotSpec(
                index=len(shots),
                taken_at=t,
                exposure=exposure,
                iso=iso,
                scene=scene,
                orientation=orientation,
                scene_seed=int(self.rng.integers(2**31)),
                brightness=brightness,
                session=session,
            )
        )
        return t + timedelta(seconds=exposure)

    def _run(
        self, shots: list[ShotSpec], t: datetime, session: str, count: int, tripod: bool
    ) -> datetime:
        """A burst (hand-held, 0.1-0.3 s apart) or a tripod time-lapse of one scene."""
        run = self.next_run
        self.next_run += 1
        exposure, iso, brightness = self.exposure(session)
        scene = self.scene(session) if tripod else str(self.rng.choice(self.photos))
        scene_seed = int(self.rng.integers(2**31))
        orientation = 1 if tripod else self.orientation()
        interval = exposure + (self.rng.uniform(2, 30) if tripod else self.rng.uniform(0.1, 0.3))
        jitter = 0.05 if tripod else 0.4
        for _ in range(count):
            shift = tuple(float(v) for v in self.rng.normal(0, jitter, 2))
            drift = 1.0 + float(self.rng.normal(0, 0.01))
            shots.append(
                ShotSpec(
                    index=len(shots),
                    taken_at=t,
                    exposure=exposure,
                    iso=iso,
                    scene=scene,
                    orientation=orientation,
                    burst=run,
                    scene_seed=scene_seed,
                    shift=(shift[0], shift[1]),
                    brightness=brightness * drift,
                    session=session,
                )
            )
            t += timedelta(seconds=float(interval))
        return t
