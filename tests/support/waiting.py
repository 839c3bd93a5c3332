"""Waiting for what real processes do, without fixed sleeps: poll a condition until it
holds or a timeout passes."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(predicate: Callable[[], object], timeout: float, step: float = 0.1) -> bool:
    """Poll ``predicate`` until truthy or ``timeout`` seconds pass; whether it became so."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def wait_until(what: str, cond: Callable[[], object], timeout: float = 60.0) -> object:
    """``cond``'s first truthy value, polled; fail naming ``what`` after ``timeout`` seconds."""
    seen: list[object] = []

    def holds() -> object:
        seen[:] = [cond()]
        return seen[0]

    if not wait_for(holds, timeout, step=0.05):
        raise AssertionError(f"timed out waiting for {what}")
    return seen[0]
