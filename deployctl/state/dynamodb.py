"""The shared state store: journal and locks in one DynamoDB table.

``--state-dir dynamodb://TABLE`` puts every run, record and lock in one table
that every CI machine reaches, so a job re-run on another machine resumes the
run and two machines exclude each other.  The table has a string partition
key ``pk`` and a string sort key ``sk``, and no index::

    pk                       sk                 item
    scope#<project>/<env>    run#<run_id>       run summary (status, digest, created...)
    scopes                   <project>/<env>    a scope that has runs (for ``deployctl runs``)
    run#<run_id>             meta               project, environment, the plan
    run#<run_id>             plan#0000...       pieces of a plan too big for one item
    run#<run_id>             rec#000000000001   journal record 1 of the run
    locks                    <project>/<env>    a lock (freed: holder "", kept for its epoch)

No index on purpose: ``apply`` picks the run to continue from ``runs(project,
environment)`` while it holds the lock, and a GSI is only eventually
consistent, so a run created seconds ago by a runner that then died could be
missed and started again.  Every read here is a strongly consistent
``GetItem`` or ``Query``; listing all runs costs one query per scope.

Records are conditional puts (``attribute_not_exists``): a record is never
overwritten, and ``append`` returns only after DynamoDB acknowledged the
write.  Once the journal holds a lock's fence, each write is one
``TransactWriteItems``: the put and a ``ConditionCheck`` that the lock item
still has this holding's token and epoch.  A record number taken by a
writer that holds no lock (``deployctl approve``) is retried with the next.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from deployctl.core.plan import Plan
from deployctl.errors import DeployctlError, JournalConflict, UserError
from deployctl.state import DYNAMODB
from deployctl.state.api import (
    RUNNING,
    Fence,
    Journal,
    Lock,
    LockInfo,
    Record,
    RunInfo,
    StateStore,
)
from deployctl.state.dynamolock import DynamoLock, fence_check, lock_row, lost
from deployctl.state.dynamotable import (
    PIECE,
    Cancelled,
    Table,
    body,
    n,
    read_body,
    s,
    unpack,
)
from deployctl.state.lease import lock_id_for
from deployctl.state.runs import new_run_id

_SEQ_DIGITS = 12
_RUN_FIELDS = ("run_id", "project", "environment", "digest", "source", "status", "user")
_TRIES = 5  # record numbers taken by lockless writers before giving up


class DynamoStore(StateStore):
    """``dynamodb://TABLE``: journal and locks shared by every machine that can reach it."""

    def __init__(
        self,
        table: str,
        *,
        profile: str | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        session: Any = None,
        page_size: int | None = None,
    ) -> None:
        self.name = f"{DYNAMODB}{table}"
        self.table = Table(
            table, session=session, profile=profile, region=region, endpoint_url=endpoint_url
        )
        self.page_size = page_size  # records per Query page (tests make it small)

    def journal(self, now: Callable[[], float] = time.time) -> Journal:
        return DynamoJournal(self.table, self.name, now=now, page_size=self.page_size)

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
        return DynamoLock(
            self.table, lock_id, holder, pid, lease=lease, now=now, monotonic=monotonic
        )

    def locks(self) -> list[LockInfo]:
        rows = [lock_row(item) for item in self.table.query("locks", "")]
        return [row.info() for row in rows if row.held]

    def unlock(self, lock_id: str) -> LockInfo:
        item = self.table.get("locks", lock_id)
        if item is None or not lock_row(item).held:
            known = ", ".join(lock.lock_id for lock in self.locks()) or "none"
            raise UserError(f"no lock {lock_id!r} (held locks: {known})")
        # Free what was shown, not a lock someone took since.
        if not self.table.update(
            "locks",
            lock_id,
            "SET holder = :none, #t = :none, lease_until = :zero",
            "#t = :t",
            ExpressionAttributeNames={"#t": "token"},
            ExpressionAttributeValues={":t": item["token"], ":none": s(""), ":zero": n(0)},
        ):
            raise UserError(f"lock {lock_id} changed while unlocking it; look again")
        return lock_row(item).info()


class DynamoJournal(Journal):
    """The :class:`Journal` contract on DynamoDB; see the module docstring for the items."""

    def __init__(
        self,
        table: Table,
        name: str,
        *,
        now: Callable[[], float] = time.time,
        page_size: int | None = None,
    ) -> None:
        self.table = table
        self.name = name
        self.now = now
        self.page_size = page_size
        self.fence: Fence | None = None
        # Worker threads append at once: seqs are handed out under this mutex
        # (the puts then run side by side).  A record whose append returned was
        # given its seq before any record appended after it, so seq order keeps
        # every order the executor relies on.
        self._mutex = threading.Lock()
        self._next: dict[str, int] = {}
        self._scopes: dict[str, str] = {}

    def hold(self, fence: Fence | None) -> None:
        self.fence = fence

    def _write(self, item: Mapping[str, Any], condition: str) -> bool:
        """Put ``item`` if ``condition`` holds, fenced when the journal holds a
        lock; False when ``condition`` failed, :class:`LockLost` when the fence did."""
        fence = self.fence
        if fence is None:
            return self.table.put(item, condition)
        try:
            self.table.transact(
                [
                    {"Put": {"Item": dict(item), "ConditionExpression": condition}},
                    fence_check(fence),
                ]
            )
        except Cancelled as exc:
            if exc.reasons[1:2] == ("ConditionalCheckFailed",):
                raise lost(self.table, fence) from None
            if exc.reasons[:1] == ("ConditionalCheckFailed",):
                return False
            raise DeployctlError(f"{self.name}: DynamoDB cancelled a write ({exc})") from None
        return True

    def create_run(self, plan: Plan, user: str, stored: Mapping[str, Any]) -> RunInfo:
        now = self.now()
        run_id = new_run_id(now)
        scope = lock_id_for(plan.project, plan.environment)
        text = json.dumps(stored, sort_keys=True)
        meta: dict[str, Any] = {
            "pk": s(f"run#{run_id}"),
            "sk": s("meta"),
            "project": s(plan.project),
            "environment": s(plan.environment),
        }
        packed = body(text)
        if len(packed.get("body_z", {}).get("S", "")) > PIECE:
            zipped = packed["body_z"]["S"]
            pieces = [zipped[i : i + PIECE] for i in range(0, len(zipped), PIECE)]
            for number, piece in enumerate(pieces):
                self.table.put(
                    {"pk": meta["pk"], "sk": s(f"plan#{number:04d}"), "body_z": s(piece)}
                )
            meta["plan_pieces"] = n(len(pieces))
        else:
            meta.update(packed)
        info = RunInfo(
            run_id,
            plan.project,
            plan.environment,
            plan.digest,
            plan.source,
            RUNNING,
            now,
            now,
            user,
        )
        # The summary goes last: until it exists the run is invisible, so a
        # crash part-way leaves nothing that looks like a run.
        self.table.put({"pk": s("scopes"), "sk": s(scope)})
        if not self.table.put(meta, "attribute_not_exists(pk)"):
            raise DeployctlError(f"run id {run_id} is already taken in {self.name}; try again")
        summary = {f: s(getattr(info, f)) for f in _RUN_FIELDS}
        summary.update(
            pk=s(f"scope#{scope}"), sk=s(f"run#{run_id}"), created=n(now), updated=n(now)
        )
        self._write(summary, "attribute_not_exists(pk)")
        with self._mutex:
            self._scopes[run_id] = scope
            self._next[run_id] = 1
        return info

    def _scope(self, run_id: str) -> str:
        with self._mutex:
            known = self._scopes.get(run_id)
        if known is not None:
            return known
        meta = self.table.get(f"run#{run_id}", "meta")
        if meta is None:
            raise UserError(f"no run {run_id!r} in {self.name} (see: deployctl runs)")
        scope = lock_id_for(meta["project"]["S"], meta["environment"]["S"])
        with self._mutex:
            self._scopes[run_id] = scope
        return scope

    def get_run(self, run_id: str) -> RunInfo:
        item = self.table.get(f"scope#{self._scope(run_id)}", f"run#{run_id}")
        if item is None:
            raise UserError(f"no run {run_id!r} in {self.name} (see: deployctl runs)")
        return _run_info(item)

    def runs(self, project: str | None = None, environment: str | None = None) -> list[RunInfo]:
        if project is not None and environment is not None:
            scopes = [lock_id_for(project, environment)]
        else:
            scopes = [item["sk"]["S"] for item in self.table.query("scopes", "")]
        found = []
        for scope in scopes:
            for item in self.table.query(f"scope#{scope}", "run#"):
                info = _run_info(item)
                if project in (None, info.project) and environment in (None, info.environment):
                    found.append(info)
        return sorted(found, key=lambda r: (r.created, r.run_id), reverse=True)

    def plan_json(self, run_id: str) -> dict[str, Any]:
        meta = self.table.get(f"run#{run_id}", "meta")
        if meta is None:
            raise UserError(f"no run {run_id!r} in {self.name} (see: deployctl runs)")
        if "plan_pieces" in meta:
            pieces = [i["body_z"]["S"] for i in self.table.query(f"run#{run_id}", "plan#")]
            if len(pieces) != int(meta["plan_pieces"]["N"]):
                raise DeployctlError(f"run {run_id}: the stored plan is incomplete")
            text = unpack("".join(pieces))
        else:
            text = read_body(meta)
        plan: dict[str, Any] = json.loads(text)
        return plan

    def append(
        self,
        run_id: str,
        type: str,
        *,
        step_id: str | None = None,
        attempt: int = 0,
        token: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Record:
        text = json.dumps(dict(data or {}), sort_keys=True, default=str)
        packed = body(text)
        if len(packed.get("body_z", {}).get("S", "")) > PIECE:
            raise DeployctlError(
                f"run {run_id}: a {type} record of {len(text)} bytes is too large for DynamoDB"
            )
        seq = 0
        for _ in range(_TRIES):
            with self._mutex:
                seq = self._next.get(run_id) or self._last_seq(run_id) + 1
                self._next[run_id] = seq + 1
                at = self.now()
            item: dict[str, Any] = {
                "pk": s(f"run#{run_id}"),
                "sk": s(f"rec#{seq:0{_SEQ_DIGITS}d}"),
                "seq": n(seq),
                "type": s(type),
                "attempt": n(attempt),
                "at": n(at),
                **packed,
            }
            if step_id is not None:
                item["step_id"] = s(step_id)
            if token is not None:
                item["token"] = s(token)
            if self._write(item, "attribute_not_exists(pk)"):
                return Record(seq, run_id, type, step_id, attempt, token, at, json.loads(text))
            # Another writer (one holding no lock: an approval) took this number.
            last = self._last_seq(run_id)
            with self._mutex:
                self._next[run_id] = max(self._next.get(run_id, 0), last + 1)
        raise JournalConflict(run_id, seq)

    def _last_seq(self, run_id: str) -> int:
        newest = next(self.table.query(f"run#{run_id}", "rec#", forward=False, limit=1), None)
        return int(newest["seq"]["N"]) if newest is not None else 0

    def records(self, run_id: str) -> list[Record]:
        return [
            Record(
                int(item["seq"]["N"]),
                run_id,
                item["type"]["S"],
                item["step_id"]["S"] if "step_id" in item else None,
                int(item["attempt"]["N"]),
                item["token"]["S"] if "token" in item else None,
                float(item["at"]["N"]),
                json.loads(read_body(item)),
            )
            for item in self.table.query(f"run#{run_id}", "rec#", limit=self.page_size)
        ]

    def set_status(self, run_id: str, status: str, *, durable: bool = True) -> None:
        key = {"pk": s(f"scope#{self._scope(run_id)}"), "sk": s(f"run#{run_id}")}
        update = {
            "Key": key,
            "UpdateExpression": "SET #s = :s, updated = :u",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":s": s(status), ":u": n(self.now())},
        }
        fence = self.fence
        try:
            self.table.transact([{"Update": update}, *([fence_check(fence)] if fence else [])])
        except Cancelled as exc:
            if fence is not None and exc.reasons[1:2] == ("ConditionalCheckFailed",):
                raise lost(self.table, fence) from None
            raise UserError(f"no run {run_id!r} in {self.name} (see: deployctl runs)") from None

    def close(self) -> None:
        """Nothing to release: the client needs no closing."""


def _run_info(item: Mapping[str, Any]) -> RunInfo:
    fields = {f: item[f]["S"] for f in _RUN_FIELDS}
    return RunInfo(
        **fields, created=float(item["created"]["N"]), updated=float(item["updated"]["N"])
    )
