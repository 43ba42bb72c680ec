"""Where the journal and the locks live: the state store ``--state-dir`` names.

A plain path is the local SQLite file (:mod:`deployctl.execute.journal`,
:mod:`deployctl.execute.lock`); ``dynamodb://TABLE[?region=R]`` is one
DynamoDB table shared by every CI machine
(:mod:`deployctl.actions.dynamo_state`, imported only when named, since only
the actions layer talks to AWS).  The executor and the ``runs``, ``status``
and ``unlock`` commands see a :class:`StateStore` and nothing else.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from deployctl.errors import UserError
from deployctl.execute.api import Journal, Lock, LockInfo
from deployctl.execute.journal import SqliteJournal, connect
from deployctl.execute.lock import LEASE_SECONDS, RunLock, list_locks, unlock

DYNAMODB = "dynamodb://"
LOCAL_DEFAULT = ".deployctl"


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
        lease: float = LEASE_SECONDS,
        now: Callable[[], float] = time.time,
    ) -> Lock:
        """A lock handle, not yet acquired; ``now`` is wall-clock time for the lease."""

    @abc.abstractmethod
    def locks(self) -> list[LockInfo]:
        """Every held lock, by id."""

    @abc.abstractmethod
    def unlock(self, lock_id: str) -> LockInfo:
        """Delete a lock by hand; what it was.  Unknown id: :class:`UserError`."""


class SqliteStore(StateStore):
    """The default: ``journal.sqlite`` in a local directory."""

    def __init__(self, state_dir: str) -> None:
        self.state_dir = self.name = state_dir

    def journal(self, now: Callable[[], float] = time.time) -> Journal:
        return SqliteJournal(self.state_dir, now=now)

    def lock(
        self,
        lock_id: str,
        holder: str,
        pid: int,
        *,
        lease: float = LEASE_SECONDS,
        now: Callable[[], float] = time.time,
    ) -> Lock:
        return RunLock(connect(self.state_dir), lock_id, holder, pid, lease=lease, now=now)

    def locks(self) -> list[LockInfo]:
        conn = connect(self.state_dir)
        try:
            return list_locks(conn)
        finally:
            conn.close()

    def unlock(self, lock_id: str) -> LockInfo:
        conn = connect(self.state_dir)
        try:
            return unlock(conn, lock_id)
        finally:
            conn.close()


def is_shared(spec: str) -> bool:
    return spec.startswith(DYNAMODB)


def local_dir(spec: str) -> str:
    """A directory for local files (``crash.log``, the sandbox's journal): the
    state directory itself, or the default one when the state is in a table."""
    return LOCAL_DEFAULT if is_shared(spec) else spec


def open_store(
    spec: str,
    *,
    profile: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> StateStore:
    """The store ``--state-dir`` names.  ``?region=`` in a DynamoDB spec wins over
    ``region`` (``--region``), which wins over the profile's region."""
    if not is_shared(spec):
        return SqliteStore(spec)
    parts = urlsplit(spec)
    query = parse_qs(parts.query)
    unknown = sorted(set(query) - {"region"})
    if not parts.netloc or parts.path not in ("", "/") or unknown:
        raise UserError(
            f"--state-dir {spec}: expected dynamodb://TABLE or dynamodb://TABLE?region=REGION"
        )
    from deployctl.actions.dynamo_state import DynamoStore  # noqa: PLC0415 - boto3 only when used

    return DynamoStore(
        parts.netloc,
        profile=profile,
        region=query.get("region", [region])[-1],
        endpoint_url=endpoint_url,
    )
