"""One run per (project, environment): a row in the state database with a lease.

The lease is wall-clock time (it is a fact shared between processes, so it
never follows a test's virtual clock).  A live lease makes a second apply exit
4 naming the holder; an expired one may be taken over, and so may one whose
holder process on this same host no longer exists; ``deployctl unlock``
deletes a row by hand.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from collections.abc import Callable

from deployctl.errors import LockHeld, UserError
from deployctl.execute.api import Lock, LockInfo, utc_stamp
from deployctl.execute.journal import transaction

LEASE_SECONDS = 120.0


def lock_id_for(project: str, environment: str) -> str:
    return f"{project}/{environment}"


class RunLock(Lock):
    """The SQLite lock a running apply holds; ``renew`` is called from the walker's loop."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        lock_id: str,
        holder: str,
        pid: int,
        *,
        lease: float = LEASE_SECONDS,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.conn = conn
        self.lock_id = lock_id
        self.holder = holder
        self.pid = pid
        self.lease = lease
        self.now = now
        self.taken_over: LockInfo | None = None
        self._renewed = 0.0

    def acquire(self, run_id: str = "") -> None:
        """Take the lock or raise :class:`LockHeld`; remembers an expired lock it replaced."""
        now = self.now()
        with transaction(self.conn):
            current = _get(self.conn, self.lock_id)
            if current is not None and current.lease_until > now and not _dead(current):
                raise LockHeld(
                    current.lock_id,
                    current.holder,
                    current.pid,
                    current.run_id,
                    utc_stamp(current.created),
                    utc_stamp(current.lease_until),
                )
            self.taken_over = current
            self.conn.execute(
                "INSERT OR REPLACE INTO locks VALUES (?, ?, ?, ?, ?, ?)",
                (self.lock_id, self.holder, self.pid, run_id, now, now + self.lease),
            )
        self._renewed = now

    def set_run(self, run_id: str) -> None:
        with transaction(self.conn):
            self.conn.execute(
                "UPDATE locks SET run_id = ? WHERE lock_id = ? AND pid = ? AND holder = ?",
                (run_id, self.lock_id, self.pid, self.holder),
            )

    def renew(self, *, force: bool = False) -> None:
        """Extend the lease; cheap to call often (writes at most every lease/4)."""
        now = self.now()
        if not force and now - self._renewed < self.lease / 4:
            return
        with transaction(self.conn):
            self.conn.execute(
                "UPDATE locks SET lease_until = ? WHERE lock_id = ? AND pid = ? AND holder = ?",
                (now + self.lease, self.lock_id, self.pid, self.holder),
            )
        self._renewed = now

    def release(self) -> None:
        with transaction(self.conn):
            self.conn.execute(
                "DELETE FROM locks WHERE lock_id = ? AND pid = ? AND holder = ?",
                (self.lock_id, self.pid, self.holder),
            )

    def close(self) -> None:
        self.conn.close()


def _dead(lock: LockInfo) -> bool:
    return process_gone(lock.holder.rpartition("@")[2], lock.pid)


def process_gone(host: str, pid: int) -> bool:
    """The holder ran on this host and its process is gone (SIGKILL, OOM, reboot):
    its lease cannot be renewed, so waiting it out would only delay the resume."""
    if host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _get(conn: sqlite3.Connection, lock_id: str) -> LockInfo | None:
    row = conn.execute(
        "SELECT lock_id, holder, pid, run_id, created, lease_until FROM locks WHERE lock_id = ?",
        (lock_id,),
    ).fetchone()
    return LockInfo(*row) if row else None


def list_locks(conn: sqlite3.Connection) -> list[LockInfo]:
    rows = conn.execute(
        "SELECT lock_id, holder, pid, run_id, created, lease_until FROM locks ORDER BY lock_id"
    )
    return [LockInfo(*row) for row in rows]


def unlock(conn: sqlite3.Connection, lock_id: str) -> LockInfo:
    """Free a lock by hand; returns what it was so the command can say whose it was."""
    with transaction(conn):
        current = _get(conn, lock_id)
        if current is None:
            known = ", ".join(lock.lock_id for lock in list_locks(conn)) or "none"
            raise UserError(f"no lock {lock_id!r} (held locks: {known})")
        conn.execute("DELETE FROM locks WHERE lock_id = ?", (lock_id,))
    return current
