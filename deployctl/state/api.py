"""The state contracts: the journal, the lock and the store that opens both.

Implementations sit beside this module (``sqlite.py``, ``dynamodb.py``); the
lease and takeover rules every lock follows are written once, in
``lease.py``.  One contract test suite (``tests/state/``) runs against every
backend.  This package imports nothing of the executor or the actions: they
import it.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from deployctl.core.records import Record, RunInfo
from deployctl.core.status import RunStatus

if TYPE_CHECKING:
    from deployctl.core.plan import Plan
    from deployctl.state.lease import LeaseClock

__all__ = ["RUNNING", "Deferred", "LockInfo", "Record", "RunInfo", "utc_stamp"]

RUNNING = RunStatus.RUNNING  # the status a run is created with


def utc_stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


@dataclass(frozen=True)
class LockInfo:
    """Who holds a (project, environment) lock, as stored."""

    lock_id: str
    holder: str  # user@host
    pid: int
    run_id: str
    created: float
    lease_until: float
    epoch: int = 0  # how many times the lock was taken: each holder has its own

    def describe(self) -> str:
        return (
            f"{self.lock_id}: {self.holder} (pid {self.pid}), run {self.run_id}, "
            f"since {utc_stamp(self.created)}, lease until {utc_stamp(self.lease_until)}"
        )


@dataclass(frozen=True)
class Fence:
    """One holding of a lock: what every fenced journal write is checked against.

    ``token`` is random per acquisition and ``epoch`` grows by one with each
    acquisition of the lock, so a holder whose lock was taken over (or freed
    by hand) can no longer write, whatever it believes about its lease.
    """

    lock_id: str
    holder: str
    token: str
    epoch: int


class Deferred(abc.ABC):
    """A record queued by :meth:`Journal.defer`, not yet known to be durable."""

    @staticmethod
    def done(record: Record) -> Deferred:
        """A handle on a record that is already durable."""
        return _Durable(record)

    @abc.abstractmethod
    def ready(self) -> bool:
        """Whether :meth:`settle` would return at once (the commit has ended)."""

    @abc.abstractmethod
    def settle(self, grace: float = 0.0) -> Record:
        """The record once durable.  Waits up to ``grace`` seconds for another
        write to commit it, then commits it itself.  Raises what the commit raised."""


class _Durable(Deferred):
    def __init__(self, record: Record) -> None:
        self.record = record

    def ready(self) -> bool:
        return True

    def settle(self, grace: float = 0.0) -> Record:
        return self.record


class Journal(abc.ABC):
    """Durable, ordered record of runs.  ``append`` returns only once the record
    is durable: the executor writes an intent *before* a mutating call and
    relies on it surviving a crash.

    Once :meth:`hold` is given the fence of the lock this process took, every
    write (``create_run``, ``append``, ``set_status``) commits only if that
    lock is still held under that fence, checked in the same transaction as
    the write; otherwise nothing is written and :class:`LockLost` is raised.
    A store that cannot be read or written raises
    :class:`~deployctl.errors.StateUnavailable`, a damaged one
    :class:`~deployctl.errors.JournalDamaged`: never an empty journal.
    """

    @abc.abstractmethod
    def hold(self, fence: Fence | None) -> None:
        """Fence every later write on ``fence`` (``None``: writes are not fenced)."""

    @abc.abstractmethod
    def create_run(self, plan: Plan, user: str, stored: Mapping[str, Any]) -> RunInfo:
        """A new run of ``plan``; ``stored`` is the plan as the run keeps it
        (JSON, already stripped of secret values by the caller)."""

    @abc.abstractmethod
    def get_run(self, run_id: str) -> RunInfo:
        """Raises :class:`deployctl.errors.UserError` for an unknown id."""

    @abc.abstractmethod
    def runs(self, project: str | None = None, environment: str | None = None) -> list[RunInfo]:
        """Newest first."""

    @abc.abstractmethod
    def plan_json(self, run_id: str) -> dict[str, Any]:
        """The plan the run was started from, as given to ``create_run``."""

    @abc.abstractmethod
    def append(
        self,
        run_id: str,
        type: str,
        *,
        step_id: str | None = None,
        attempt: int = 0,
        token: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Record: ...

    def defer(
        self,
        run_id: str,
        type: str,
        *,
        step_id: str | None = None,
        attempt: int = 0,
        token: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Deferred:
        """Queue a record to commit with the next write of this journal; the
        handle's :meth:`Deferred.settle` returns it once durable.

        Records keep their order: one queued here commits no later than, and
        before, any record appended after it (a step's done record and its
        dependents' intents share one commit).  If the commit that holds it
        fails, every later write fails too, so nothing queued after it can
        become durable without it.  The default appends at once.
        """
        record = self.append(run_id, type, step_id=step_id, attempt=attempt, token=token, data=data)
        return Deferred.done(record)

    def make_room(self, records: int) -> None:
        """A hint, before a run writes: about ``records`` records follow.  A
        store may prepare for them so that each commit costs less (SQLite
        grows its ``-wal`` ahead).  Writes nothing; the default does nothing."""
        return None

    @abc.abstractmethod
    def records(self, run_id: str) -> list[Record]: ...

    @abc.abstractmethod
    def set_status(self, run_id: str, status: str, *, durable: bool = True) -> None:
        """The run's status in the runs listing.  ``durable=False``: a record
        already durable decides it (``run_finished`` before ``succeeded``), so
        a store may skip its own flush: lost to a power cut, the run reads as
        running and the next ``apply`` resumes it, finds every step done and
        finishes it again, as after a kill between the two writes."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release resources (connections, file handles)."""


class Lock(abc.ABC):
    """One run per (project, environment): the lock a running apply holds.

    ``acquire`` takes it or raises :class:`deployctl.errors.LockHeld` (exit 4)
    naming the live holder; a holder whose lease expired (or whose process is
    provably gone from this machine) is replaced and remembered in
    ``taken_over``.  After ``acquire``, ``fence`` names this holding and
    ``lease`` tracks, on this process's monotonic clock, how long the lease is
    sure to last.  The walker calls ``renew`` often; it writes only every
    lease/4.  ``release`` frees the lock only if this holding still has it.
    The rules are :class:`deployctl.state.lease.LeasedLock`; a backend
    supplies its four storage primitives.
    """

    lock_id: str
    holder: str
    pid: int
    taken_over: LockInfo | None
    fence: Fence | None
    lease: LeaseClock

    @abc.abstractmethod
    def acquire(self, run_id: str = "") -> None: ...

    @abc.abstractmethod
    def set_run(self, run_id: str) -> None: ...

    @abc.abstractmethod
    def renew(self, *, force: bool = False) -> None: ...

    @abc.abstractmethod
    def release(self) -> None: ...

    @abc.abstractmethod
    def close(self) -> None:
        """Release resources (connections); the lock itself is freed by ``release``."""


class StateStore(abc.ABC):
    """Opens journals and locks on one backend; ``name`` is how messages show it."""

    name: str

    @abc.abstractmethod
    def journal(self, now: Callable[[], float] = time.time) -> Journal:
        """A journal whose run timestamps follow ``now`` (the backend's clock)."""

    @abc.abstractmethod
    def lock(
        self,
        lock_id: str,
        holder: str,
        pid: int,
        *,
        lease: float | None = None,
        now: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> Lock:
        """A lock handle, not yet acquired.  ``lease`` defaults to
        :data:`~deployctl.state.lease.LEASE_SECONDS`; ``now`` is wall-clock
        time for the stored lease, ``monotonic`` this process's own view of it."""

    @abc.abstractmethod
    def locks(self) -> list[LockInfo]:
        """Every held lock, by id."""

    @abc.abstractmethod
    def unlock(self, lock_id: str) -> LockInfo:
        """Free a lock by hand; what it was.  Unknown id: :class:`UserError`."""
