"""The lease and takeover rules, written once for every lock backend.

A lock is a stored row (:class:`LockRow`) with a wall-clock ``lease_until``.
It is *live* while its lease has not run out and its holder's process is not
provably gone; a live lock is never taken.  Otherwise it is taken over with a
compare-and-set on exactly the row that was read, and its ``epoch`` grows by
one, so every holding has its own :class:`~deployctl.state.api.Fence`.

Wall time is what processes share; each holder also keeps a monotonic view
(:class:`LeaseClock`): the lease is counted from the moment *before* the
write that took or renewed it was sent, so the holder's view never outlasts
the stored lease.  The executor renews every quarter lease and, right before
every mutating call, refuses to send when less than :data:`SEND_MARGIN` of
its lease is left (:class:`SendGuard`): a call that is sent lands before any
other process can take the lock over.
"""

from __future__ import annotations

import abc
import getpass
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import psutil

from deployctl.errors import DeployctlError, LeaseExpiring, LockHeld, LockLost
from deployctl.state.api import Fence, Lock, LockInfo, utc_stamp

LEASE_SECONDS = 120.0
RENEW_FRACTION = 0.25  # renew once a quarter of the lease has passed
# Margin = 3/8 of the lease (45 s of the default 120 s): longer than one AWS
# call may take (deployctl.actions.aws: 10 s to connect + 30 s to read), and
# reached only after three missed renewals.
MARGIN_FRACTION = 0.375
SEND_MARGIN = LEASE_SECONDS * MARGIN_FRACTION
_RACES = 5  # lost compare-and-sets before giving up


def lock_id_for(project: str, environment: str) -> str:
    return f"{project}/{environment}"


def who() -> str:
    """``user@host``: what locks and approvals record about a person."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def boot_id() -> str:
    """This machine's boot: two CI machines may share a host name, never a boot id."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def process_gone(host: str, pid: int, since: float | None = None) -> bool:
    """The holder ran on this host and its process is gone (SIGKILL, OOM):
    its lease cannot be renewed, so waiting it out would only delay the resume.

    A process with that pid that started after ``since`` (when the lock was
    taken) is another program that got the pid again, not the holder.  psutil
    answers the same on Linux, macOS and Windows (``os.kill(pid, 0)`` would
    terminate the process on Windows)."""
    if host != socket.gethostname():
        return False
    try:
        started = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return True
    except psutil.AccessDenied:
        return False
    # create_time is rounded by the platform: a second of slack
    return since is not None and started > since + 1.0


@dataclass(frozen=True)
class LockRow:
    """A lock as stored.  A freed lock keeps its row (holder ``""``) so the
    next holder's epoch still grows."""

    lock_id: str
    holder: str
    pid: int
    host: str
    boot: str
    token: str
    epoch: int
    run_id: str
    created: float
    lease_until: float

    @property
    def held(self) -> bool:
        return bool(self.holder)

    def dead(self) -> bool:
        """The holder's process is gone, and it provably ran on this very
        machine (same host name and boot): a pid means nothing elsewhere."""
        return self.boot == boot_id() and process_gone(self.host, self.pid, self.created)

    def live(self, now: float) -> bool:
        return self.held and self.lease_until > now and not self.dead()

    def info(self) -> LockInfo:
        return LockInfo(
            self.lock_id,
            self.holder,
            self.pid,
            self.run_id,
            self.created,
            self.lease_until,
            self.epoch,
        )

    def fence(self) -> Fence:
        return Fence(self.lock_id, self.holder, self.token, self.epoch)


class LeaseClock:
    """A holder's own, monotonic view of its lease."""

    def __init__(self, seconds: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.monotonic = monotonic
        self._from = float("-inf")  # monotonic time the current lease was counted from

    def renewed(self, sent_at: float) -> None:
        """The write that took or renewed the lease was sent at ``sent_at``."""
        self._from = sent_at

    def due(self) -> bool:
        return self.monotonic() - self._from >= self.seconds * RENEW_FRACTION

    def left(self) -> float:
        return self._from + self.seconds - self.monotonic()


class SendGuard:
    """Checked right before every mutating call (by the executor before each
    apply and undo, and by the AWS clients before each request they send).

    Unarmed (no lock held: ``plan``, ``db restore``) it lets everything
    through; armed with a held lock it raises :class:`LeaseExpiring` when less
    than ``margin`` seconds of the lease are left.
    """

    def __init__(self) -> None:
        self._held: tuple[str, LeaseClock, float] | None = None
        self._mutex = threading.Lock()

    def arm(self, lock_id: str, lease: LeaseClock, margin: float) -> None:
        with self._mutex:
            self._held = (lock_id, lease, margin)

    def disarm(self) -> None:
        with self._mutex:
            self._held = None

    def check(self, what: str) -> None:
        held = self._held
        if held is None:
            return
        lock_id, lease, margin = held
        left = lease.left()
        if left < margin:
            raise LeaseExpiring(lock_id, what, left, margin)


def margin_for(lease: float) -> float:
    """The send margin for a lease of ``lease`` seconds (45 s for the default)."""
    return lease * MARGIN_FRACTION


class LeasedLock(Lock):
    """The lease and takeover rules; a backend implements the four primitives
    (:meth:`_read`, :meth:`_swap`, :meth:`_update`, :meth:`_free`), each one
    atomic in its store."""

    def __init__(
        self,
        lock_id: str,
        holder: str,
        pid: int,
        *,
        lease: float | None = None,
        now: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        host: str | None = None,
    ) -> None:
        self.lock_id = lock_id
        self.holder = holder
        self.pid = pid
        self.seconds = LEASE_SECONDS if lease is None else lease
        self.now = now
        self.monotonic = monotonic
        # The host a pid belongs to: the holder's ``user@host``.
        self.host = host or holder.rpartition("@")[2] or socket.gethostname()
        self.token = secrets.token_hex(8)  # this acquisition, whoever shares holder and pid
        self.taken_over: LockInfo | None = None
        self.fence: Fence | None = None
        self.lease = LeaseClock(self.seconds, monotonic)

    # -- storage primitives ---------------------------------------------------------

    @abc.abstractmethod
    def _read(self) -> LockRow | None:
        """The stored row (held or freed), ``None`` if there never was one."""

    @abc.abstractmethod
    def _swap(self, current: LockRow | None, new: LockRow) -> bool:
        """Store ``new`` if the row is still exactly ``current`` (absent for
        ``None``); False when someone else changed it first."""

    @abc.abstractmethod
    def _update(self, changes: Mapping[str, Any]) -> bool:
        """Set ``changes`` (``run_id``, ``lease_until``) if this holding
        (token and epoch) still has the lock; False otherwise."""

    @abc.abstractmethod
    def _free(self) -> None:
        """Free the lock if this holding still has it; otherwise leave it."""

    # -- the rules ------------------------------------------------------------------------

    def acquire(self, run_id: str = "") -> None:
        """Take the lock or raise :class:`LockHeld`; remembers a lock it took over."""
        for _ in range(_RACES):  # each lost race re-reads; a live winner ends it
            sent_at = self.monotonic()
            now = self.now()
            current = self._read()
            if current is not None and current.live(now):
                info = current.info()
                raise LockHeld(
                    info.lock_id,
                    info.holder,
                    info.pid,
                    info.run_id,
                    utc_stamp(info.created),
                    utc_stamp(info.lease_until),
                )
            new = LockRow(
                self.lock_id,
                self.holder,
                self.pid,
                self.host,
                boot_id(),
                self.token,
                (current.epoch if current is not None else 0) + 1,
                run_id,
                now,
                now + self.seconds,
            )
            if self._swap(current, new):
                self.taken_over = current.info() if current is not None and current.held else None
                self.fence = new.fence()
                self.lease.renewed(sent_at)
                return
        raise DeployctlError(f"lock {self.lock_id}: too many processes racing for it; try again")

    def set_run(self, run_id: str) -> None:
        self._mine({"run_id": run_id})

    def renew(self, *, force: bool = False) -> None:
        """Extend the lease; cheap to call often (writes once a quarter lease)."""
        if not force and not self.lease.due():
            return
        sent_at = self.monotonic()
        self._mine({"lease_until": self.now() + self.seconds})
        self.lease.renewed(sent_at)

    def release(self) -> None:
        # Not ours any more (taken over, unlocked by hand): leave it to its holder.
        self._free()

    def _mine(self, changes: Mapping[str, Any]) -> None:
        if not self._update(changes):
            self.lease.renewed(float("-inf"))  # nothing more may be sent under it
            current = self._read()
            now_held = (
                "now " + current.info().describe()
                if current is not None and current.held
                else "now free"
            )
            raise LockLost(self.lock_id, self.holder, now_held)
