"""The real clock (the one place deployctl sleeps), a compressed one for the
sandbox, and a virtual one for tests."""

from __future__ import annotations

import threading
import time

from deployctl.execute.api import Clock


class RealClock(Clock):
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        if seconds <= 0:
            return not (cancel and cancel.is_set())
        if cancel is None:
            time.sleep(seconds)
            return True
        return not cancel.wait(seconds)


class ScaledClock(Clock):
    """Real time run ``speed`` times faster: ``sleep(600)`` at speed 600 really
    waits one second, and ``now`` advances ``speed`` seconds per real second,
    so gate windows and the live view stay consistent.  The sandbox's clock:
    a canary of hours plays out in seconds and can still be watched.
    """

    def __init__(self, speed: float, start: float | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._start = time.time() if start is None else start
        self._real = time.monotonic()

    def now(self) -> float:
        return self._start + (time.monotonic() - self._real) * self.speed

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        return RealClock().sleep(seconds / self.speed, cancel)


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
