"""Crash hooks: SIGKILL the process at a chosen point of a run.

The crash matrices cut a real ``deployctl apply`` at every point where a
crash can leave the world and the journal out of step, then apply again
and check that the run ends as if nothing had happened.  The points:

- ``record``: right after the K-th journal record is durable;
- ``call``: right after the K-th AWS call returned (botocore's
  ``after-call`` event): AWS changed, the journal does not know yet;
- ``apply``: right after the fake world's K-th mutation took effect
  (the same cut on :mod:`deployctl.testing.fake`).

Production code never reads these: the test harness installs them in the
process it runs the CLI in (:mod:`deployctl.testing.forkserver`), where it
assembles the backend.  A :class:`Trace` writes the same points to a file
instead, so a test can count them in an uninterrupted run, and a
:class:`Pauser` stops the process (SIGSTOP) at chosen points instead of
killing it, so one run yields the world as a kill at each point would leave
it (:mod:`deployctl.testing.cuts`).
"""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter as Tally
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from deployctl.core.ports import Reporter
from deployctl.core.records import Record

Kind = Literal["record", "call", "apply"]


@dataclass(frozen=True)
class CrashPoint:
    """Where to kill: after the ``at``-th event of ``kind`` (1-based)."""

    kind: Kind
    at: int

    def __post_init__(self) -> None:
        if self.kind not in ("record", "call", "apply") or self.at < 1:
            raise ValueError(f"bad crash point {self.kind}:{self.at}")

    def __str__(self) -> str:
        return f"{self.kind}:{self.at}"

    @classmethod
    def parse(cls, text: str) -> CrashPoint:
        kind, _, at = text.partition(":")
        return cls(kind, int(at))  # type: ignore[arg-type]


def kill_self() -> None:
    """What a power cut does: no handler runs, no buffer is flushed."""
    os.kill(os.getpid(), signal.SIGKILL)


class Counter:
    """Counts events of one kind; kills the process at the ``at``-th."""

    def __init__(self, at: int | None) -> None:
        self.at = at
        self.seen = 0
        self._lock = threading.Lock()

    def tick(self) -> None:
        with self._lock:
            self.seen += 1
            if self.at is not None and self.seen >= self.at:
                kill_self()


class KillAfterRecords(Reporter):
    """SIGKILL this process right after the K-th durable journal record."""

    def __init__(self, count: int) -> None:
        self.counter = Counter(count)

    def record(self, record: Record) -> None:
        self.counter.tick()


class KillAfterCalls:
    """A botocore ``after-call`` handler: SIGKILL after the K-th AWS call."""

    def __init__(self, count: int) -> None:
        self.counter = Counter(count)

    def __call__(self, **_: Any) -> None:
        self.counter.tick()


class Trace(Reporter):
    """Appends one line per journal record and per AWS call to ``path``:
    ``record TYPE STEP`` or ``call OPERATION``, in the order they happened."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _line(self, text: str) -> None:
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")

    def record(self, record: Record) -> None:
        self._line(f"record {record.type} {record.step_id or '-'}")

    def after_call(self, model: Any, **_: Any) -> None:
        self._line(f"call {model.name}")


class Pauser(Reporter):
    """Stops this process right after each chosen event, as a kill there
    would, but for a while: it appends the point (``record:3``) to ``log``
    and sends itself SIGSTOP, which halts every thread at once.  Whoever the
    stop is reported to (the fork server tells its client) copies the world
    and the state as they are, then sends SIGCONT and the run goes on.

    ``points`` are :class:`CrashPoint` texts; ``KIND:*`` stops at every
    event of that kind."""

    def __init__(self, points: Iterable[str], log: str) -> None:
        self.points = frozenset(points)
        for point in self.points:
            if not point.endswith(":*"):
                CrashPoint.parse(point)  # a typo fails here, not as a stop never made
        self.log = log
        self.seen: Tally[str] = Tally()
        self._lock = threading.Lock()

    def tick(self, kind: Kind) -> None:
        # Held while stopped: no other thread counts an event in between.
        with self._lock:
            self.seen[kind] += 1
            point = f"{kind}:{self.seen[kind]}"
            if point in self.points or f"{kind}:*" in self.points:
                with open(self.log, "a", encoding="utf-8") as fh:
                    fh.write(point + "\n")
                # To this thread: it stops on leaving the call, the others
                # right after.  (Sent to the process, the stop is taken by the
                # main thread while this one runs on, past the point.)
                signal.pthread_kill(threading.get_ident(), signal.SIGSTOP)

    def record(self, record: Record) -> None:
        self.tick("record")

    def after_call(self, **_: Any) -> None:
        self.tick("call")

    def after_apply(self) -> None:
        self.tick("apply")


def read_trace(path: str) -> list[str]:
    """The lines a :class:`Trace` wrote (none if it never ran)."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as fh:
        return fh.read().splitlines()
