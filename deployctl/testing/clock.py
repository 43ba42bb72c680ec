"""Clocks for tests: waits take no real time."""

from __future__ import annotations

import threading
import time

from deployctl.core.ports import Clock

# The name a CLI child is asked for a SkippingClock by (deployctl.testing.cli).
SKIPPING = "skipping"


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


class SkippingClock(Clock):
    """Real time, except that a wait returns at once and moves the waiting
    thread's time on by what it would have waited: a 100 ms gate checks as
    often as on the real clock, in no time.  For CLI children of the crash
    matrices (``clock=SKIPPING`` in :mod:`deployctl.testing.cli`), whose
    gates otherwise leave a core idle for a third of each run.

    Per thread, unlike :class:`VirtualClock`: parallel gates must not
    shorten each other's windows, or the number of checks (and so the AWS
    calls a crash matrix counts and cuts after) would depend on timing.
    ``now`` stays near the real time (ahead by the waits skipped so far), so
    metrics put "now" by a test are inside a gate's window.
    """

    def __init__(self) -> None:
        self._ahead = threading.local()

    def _offset(self) -> float:
        return float(getattr(self._ahead, "seconds", 0.0))

    def now(self) -> float:
        return time.time() + self._offset()

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        if cancel is not None and cancel.is_set():
            return False
        if seconds > 0:
            self._ahead.seconds = self._offset() + seconds
        return True
