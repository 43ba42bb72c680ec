"""The real clock (the one place deployctl sleeps) and a compressed one for the
sandbox.  Tests use :class:`deployctl.testing.clock.VirtualClock`."""

from __future__ import annotations

import threading
import time

from deployctl.core.ports import Clock


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
