"""Several locks held as one: a plan file that deploys several projects (or
environments) locks each, taken in sorted order so two runs sharing some of
them cannot each hold a part and wait on the other."""

from __future__ import annotations

from collections.abc import Sequence

from deployctl.state.api import Lock


class LockSet(Lock):
    """``locks`` (sorted by id) acquired, renewed and released together.

    The journal is fenced on ``primary`` (the plan's own project and
    environment): its id, fence and lease are this lock's.  The others are
    renewed whenever the primary is, so none of them outlives it.
    """

    def __init__(self, locks: Sequence[Lock], primary: Lock) -> None:
        self.locks = sorted(locks, key=lambda lock: lock.lock_id)
        self.primary = primary
        self.lock_id = primary.lock_id
        self.holder = primary.holder
        self.pid = primary.pid
        self.taken_over = None
        self.fence = None
        self.lease = primary.lease

    def acquire(self, run_id: str = "") -> None:
        taken: list[Lock] = []
        try:
            for lock in self.locks:
                lock.acquire(run_id)
                taken.append(lock)
        except BaseException:
            for lock in reversed(taken):
                lock.release()
            raise
        self.fence = self.primary.fence
        self.taken_over = next((x.taken_over for x in self.locks if x.taken_over), None)

    def set_run(self, run_id: str) -> None:
        for lock in self.locks:
            lock.set_run(run_id)

    def renew(self, *, force: bool = False) -> None:
        for lock in self.locks:
            lock.renew(force=force)

    def release(self) -> None:
        for lock in reversed(self.locks):
            lock.release()

    def close(self) -> None:
        for lock in self.locks:
            lock.close()
