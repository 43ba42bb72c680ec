"""Which steps of a walk may start, and what became of those that ended.

The walker's main loop and its workers share it: a worker whose step
releases a dependent starts that dependent itself (:meth:`Schedule.release`),
with no hand-off to the main loop on the critical path, and the worker that
settles a released step's done record after the next intent reports that
step's end itself (:meth:`Schedule.ended`; ``Walker._settle``).  So every
method takes the lock; the main loop stays the one that decides: failures,
approvals, errors and what starts next.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Collection

from deployctl.core.kinds import StepKind
from deployctl.core.plan import Plan
from deployctl.core.ports import StepResult
from deployctl.core.status import StepStatus

DONE = StepStatus.DONE
STALE = StepStatus.STALE


class Schedule:
    def __init__(
        self, plan: Plan, complete: Collection[str], parallelism: int, halt: threading.Event
    ) -> None:
        self.plan = plan
        self.parallelism = parallelism
        self.halt = halt
        self._lock = threading.Lock()
        self.order = {s.id: n for n, s in enumerate(plan.steps)}
        self.complete = set(complete)
        # One pass, plain loops: this runs between the run's start and its
        # first step.
        complete = self.complete
        self.blockers: dict[str, int] = {}
        self.dependents: dict[str, list[str]] = {s.id: [] for s in plan.steps}
        for s in plan.steps:
            waits = 0
            for dep in s.deps:
                self.dependents[dep].append(s.id)
                if dep not in complete:
                    waits += 1
            self.blockers[s.id] = waits
        self._ready = [
            (self.order[sid], sid)
            for sid, n in self.blockers.items()
            if n == 0 and sid not in self.complete
        ]
        heapq.heapify(self._ready)
        self.inflight: set[str] = set()
        # In flight only to make their done record durable: their dependents
        # already run, and they take no worker of the parallelism.
        self.settling: set[str] = set()
        # Their call returned and they release no one: only their done
        # record is left to write (last_to_finish).
        self.finishing: set[str] = set()
        self.failed: list[str] = []
        self.reasons: list[str] = []
        self.waiting: list[str] = []
        self.stale: list[str] = []
        self.stale_reasons: list[str] = []

    def take(self) -> str | None:
        """The next step to start, in plan order, if one may start now: it is
        in flight from here (an approval is not: the main loop runs it)."""
        with self._lock:
            if not self._room():
                return None
            _, sid = heapq.heappop(self._ready)
            if self.plan.by_id[sid].kind != StepKind.APPROVAL:
                self.inflight.add(sid)
            return sid

    def release(self, sid: str, result: StepResult) -> str | None:
        """``sid`` is done, its done record queued (not yet durable): its
        dependents become ready, it stops counting against the parallelism,
        and the step returned (the next in plan order, never an approval) is
        for the caller's thread to start.  Nothing a dependent sends goes out
        before its own intent, queued after that done record, is durable."""
        with self._lock:
            self._finish(sid, result)
            self.settling.add(sid)
            if not self._room() or self.plan.by_id[self._ready[0][1]].kind == StepKind.APPROVAL:
                return None
            _, nxt = heapq.heappop(self._ready)
            self.inflight.add(nxt)
            return nxt

    def ended(self, sid: str, result: StepResult | None, *, released: bool = False) -> None:
        """``sid`` is over: ``result`` (None: the journal or the lock failed
        under it), already counted by :meth:`release` if ``released``."""
        with self._lock:
            self.inflight.discard(sid)
            self.settling.discard(sid)
            if result is not None and not released:
                self._finish(sid, result)

    def finish(self, sid: str, result: StepResult) -> None:
        """An approval's result (the main loop runs approvals itself)."""
        with self._lock:
            self._finish(sid, result)

    def last_to_finish(self, sid: str) -> bool:
        """Count ``sid`` as finishing (its call returned, it releases no one:
        its done record is all it has left to write) and say whether it is
        the walk's last step: every other step complete or finishing, so no
        record but theirs comes before the run's end.  Only the last of such
        steps to ask is told so."""
        with self._lock:
            if sid in self.complete:
                return False
            self.finishing.add(sid)
            return len(self.complete) + len(self.finishing) == len(self.plan.steps)

    def saturated(self) -> bool:
        """Steps are ready and wait for a worker."""
        with self._lock:
            return bool(self._ready)

    def startable(self) -> bool:
        """A ready step may start now (the main loop should look)."""
        with self._lock:
            return self._room()

    def idle(self) -> bool:
        with self._lock:
            return not self.inflight

    def _room(self) -> bool:
        return (
            bool(self._ready)
            and not (self.halt.is_set() or self.waiting)
            and len(self.inflight) - len(self.settling) < self.parallelism
        )

    def _finish(self, sid: str, result: StepResult) -> None:
        self.finishing.discard(sid)
        if result.status == DONE:
            self.complete.add(sid)
            for child in self.dependents[sid]:
                self.blockers[child] -= 1
                if self.blockers[child] == 0:
                    heapq.heappush(self._ready, (self.order[child], child))
        elif result.status == StepStatus.FAILED:
            self.failed.append(sid)
            self.reasons.append(result.error or "failed")
            self.halt.set()
        elif result.status == StepStatus.WAITING:
            self.waiting.append(sid)
        elif result.status == STALE:
            self.stale.append(sid)
            self.stale_reasons.append(result.error or "stale")
            self.halt.set()
