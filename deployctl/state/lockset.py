"""Several locks held as one: a plan file that deploys several projects (or
environments) locks each, taken in sorted order so two runs sharing some of
them cannot each hold a part and wait on the other."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from deployctl.state.api import Lock


class LockSet(Lock):
    """``locks`` (sorted by id) acquired, renewed and released together.

    The journal is fenced on ``primary`` (the plan's own project and
    environment): its id and fence are this lock's.  The set's ``lease`` is
    the primary's, and every lock is renewed whenever any of them is due, so
    none lapses before the one the send guard watches.  Acquiring stops at
    the first lock held elsewhere and frees the ones already taken; releasing
    and closing reach every lock even when one fails (the first failure is
    raised after).
    """

    def __init__(self, locks: Sequence[Lock], primary: Lock) -> None:
        if not any(lock is primary for lock in locks):
            raise ValueError(f"primary lock {primary.lock_id} is not one of the set")
        self.locks = sorted(locks, key=lambda lock: lock.lock_id)
        self.primary = primary
        self.lock_id = primary.lock_id
        self.holder = primary.holder
        self.pid = primary.pid
        self.taken_over = None
        self.fence = None
        self.lease = primary.lease
        self._held: list[Lock] = []

    def acquire(self, run_id: str = "") -> None:
        taken: list[Lock] = []
        try:
            for lock in self.locks:
                lock.acquire(run_id)
                taken.append(lock)
        except BaseException:
            _each(reversed(taken), lambda lock: lock.release())
            raise
        self._held = taken
        self.fence = self.primary.fence
        self.taken_over = next((x.taken_over for x in self.locks if x.taken_over), None)

    def set_run(self, run_id: str) -> None:
        for lock in self._held:
            lock.set_run(run_id)

    def renew(self, *, force: bool = False) -> None:
        if not (force or any(lock.lease.due() for lock in self._held)):
            return
        for lock in self._held:
            lock.renew(force=True)

    def release(self) -> None:
        """Free every lock this set took (none if ``acquire`` failed)."""
        held, self._held = self._held, []
        _each(reversed(held), lambda lock: lock.release())

    def close(self) -> None:
        _each(self.locks, lambda lock: lock.close())


def _each(locks: Iterable[Lock], call: Callable[[Lock], None]) -> None:
    """``call`` on every lock; the first exception is raised once all were tried."""
    first: BaseException | None = None
    for lock in locks:
        try:
            call(lock)
        except BaseException as exc:  # re-raised below, once all were tried
            first = first or exc
    if first is not None:
        raise first
