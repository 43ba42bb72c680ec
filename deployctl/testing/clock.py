"""A virtual clock for tests: waits take no real time."""

from __future__ import annotations

import threading

from deployctl.core.ports import Clock


class VirtualClock(Clock):
    """Time moves only when someone sleeps, and then at once by that amount.

    Parallel sleepers add up (two 10-minute bakes side by side move it 20
    minutes); that only makes a virtual run look longer, never skips a wait.
    ``slept`` keeps every request, for tests that assert on waits.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.slept: list[float] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        with self._lock:
            self.slept.append(seconds)
            if cancel is not None and cancel.is_set():
                return False
            self._now += max(seconds, 0.0)
        return True
