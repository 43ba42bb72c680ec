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
    locks                    <project>/<env>    a held lock

No index on purpose: ``apply`` picks the run to continue from ``runs(project,
environment)`` while it holds the lock, and a GSI is only eventually
consistent, so a run created seconds ago by a runner that then died could be
missed and started again.  Every read here is a strongly consistent
``GetItem`` or ``Query``; listing all runs costs one query per scope.

Records are conditional puts (``attribute_not_exists``): a record is never
overwritten, and ``append`` returns only after DynamoDB acknowledged the write
(it is then durable, replicated across three zones).  A failed condition on a
record means two processes write one run: :class:`JournalConflict`.
"""

from __future__ import annotations

import base64
import gzip
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError, NoRegionError

from deployctl.actions.aws import Clients
from deployctl.errors import DeployctlError, JournalConflict, LockHeld, LockLost, UserError
from deployctl.execute.api import RUNNING, Journal, Lock, LockInfo, Record, RunInfo, utc_stamp
from deployctl.execute.journal import new_run_id, stored_plan
from deployctl.execute.lock import LEASE_SECONDS, lock_id_for, process_gone
from deployctl.execute.store import DYNAMODB, StateStore
from deployctl.plan.api import Plan

INLINE = 64_000  # bytes of JSON stored as is; more is gzipped (items are at most 400 KB)
PIECE = 300_000  # characters of gzip+base64 per item
_SEQ_DIGITS = 12
_RUN_FIELDS = ("run_id", "project", "environment", "digest", "source", "status", "user")


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float) -> dict[str, str]:
    return {"N": repr(value)}


def _pack(text: str) -> str:
    return base64.b64encode(gzip.compress(text.encode(), mtime=0)).decode("ascii")


def _unpack(text: str) -> str:
    return gzip.decompress(base64.b64decode(text)).decode()


def _body(text: str) -> dict[str, dict[str, str]]:
    """A JSON body as item attributes: plain, or gzip+base64 when it is large."""
    if len(text.encode()) <= INLINE:
        return {"body": _s(text)}
    return {"body_z": _s(_pack(text))}


def _read_body(item: Mapping[str, Any]) -> str:
    return str(item["body"]["S"]) if "body" in item else _unpack(item["body_z"]["S"])


def boot_id() -> str:
    """This machine's boot: two CI machines may share a host name, never a boot id."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        return ""


class Table:
    """The few DynamoDB calls the store makes, with its errors made readable."""

    def __init__(self, clients: Clients, name: str, region: str | None) -> None:
        self.name = name
        try:
            self.client = clients.client("dynamodb", region)
        except NoRegionError:
            raise UserError(
                f"{DYNAMODB}{name}: no AWS region; use {DYNAMODB}{name}?region=REGION or --region"
            ) from None
        self.region = self.client.meta.region_name

    def call(self, operation: str, **kw: Any) -> Any:
        try:
            return getattr(self.client, operation)(TableName=self.name, **kw)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                raise UserError(
                    f"{DYNAMODB}{self.name}: no such DynamoDB table in {self.region}; create it "
                    "(docs/cli.md, section 18) or name its region with ?region="
                ) from None
            raise

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        answer = self.call("get_item", Key={"pk": _s(pk), "sk": _s(sk)}, ConsistentRead=True)
        item: dict[str, Any] | None = answer.get("Item")
        return item

    def put(self, item: Mapping[str, Any], condition: str | None = None, **kw: Any) -> bool:
        """False when ``condition`` did not hold (nothing was written)."""
        if condition is not None:
            kw["ConditionExpression"] = condition
        return self._conditional("put_item", Item=dict(item), **kw)

    def update(self, pk: str, sk: str, expression: str, condition: str, **kw: Any) -> bool:
        return self._conditional(
            "update_item",
            Key={"pk": _s(pk), "sk": _s(sk)},
            UpdateExpression=expression,
            ConditionExpression=condition,
            **kw,
        )

    def delete(self, pk: str, sk: str, condition: str, **kw: Any) -> bool:
        return self._conditional(
            "delete_item", Key={"pk": _s(pk), "sk": _s(sk)}, ConditionExpression=condition, **kw
        )

    def _conditional(self, operation: str, **kw: Any) -> bool:
        try:
            self.call(operation, **kw)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def query(
        self, pk: str, prefix: str, *, forward: bool = True, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Items of ``pk`` whose sort key starts with ``prefix``, every page of them."""
        kw: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": _s(pk)},
            "ConsistentRead": True,
            "ScanIndexForward": forward,
        }
        if prefix:  # DynamoDB refuses an empty one
            kw["KeyConditionExpression"] += " AND begins_with(sk, :prefix)"
            kw["ExpressionAttributeValues"][":prefix"] = _s(prefix)
        if limit is not None:
            kw["Limit"] = limit
        while True:
            answer = self.call("query", **kw)
            yield from answer.get("Items", [])
            if "LastEvaluatedKey" not in answer:
                return
            kw["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


class DynamoStore(StateStore):
    """``dynamodb://TABLE``: journal and locks shared by every machine that can reach it."""

    def __init__(
        self,
        table: str,
        *,
        profile: str | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        clients: Clients | None = None,
        page_size: int | None = None,
    ) -> None:
        self.name = f"{DYNAMODB}{table}"
        clients = clients or Clients(profile=profile, region=region, endpoint_url=endpoint_url)
        self.table = Table(clients, table, region)
        self.page_size = page_size  # records per Query page (tests make it small)

    def journal(self, now: Callable[[], float] = time.time) -> Journal:
        return DynamoJournal(self.table, self.name, now=now, page_size=self.page_size)

    def lock(
        self,
        lock_id: str,
        holder: str,
        pid: int,
        *,
        lease: float = LEASE_SECONDS,
        now: Callable[[], float] = time.time,
    ) -> Lock:
        return DynamoLock(self.table, lock_id, holder, pid, lease=lease, now=now)

    def locks(self) -> list[LockInfo]:
        return [_lock_info(item) for item in self.table.query("locks", "")]

    def unlock(self, lock_id: str) -> LockInfo:
        item = self.table.get("locks", lock_id)
        if item is None:
            known = ", ".join(lock.lock_id for lock in self.locks()) or "none"
            raise UserError(f"no lock {lock_id!r} (held locks: {known})")
        # Delete what was shown, not a lock someone took since.
        if not self.table.delete(
            "locks",
            lock_id,
            "#t = :t",
            ExpressionAttributeNames={"#t": "token"},
            ExpressionAttributeValues={":t": item["token"]},
        ):
            raise UserError(f"lock {lock_id} changed while unlocking it; look again")
        return _lock_info(item)


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
        # Worker threads append at once: seqs are handed out under this mutex
        # (the puts then run side by side).  A record whose append returned was
        # given its seq before any record appended after it, so seq order keeps
        # every order the executor relies on.
        self._mutex = threading.Lock()
        self._next: dict[str, int] = {}
        self._scopes: dict[str, str] = {}

    def create_run(self, plan: Plan, user: str) -> RunInfo:
        now = self.now()
        run_id = new_run_id(now)
        scope = lock_id_for(plan.project, plan.environment)
        body = stored_plan(plan)
        meta: dict[str, Any] = {
            "pk": _s(f"run#{run_id}"),
            "sk": _s("meta"),
            "project": _s(plan.project),
            "environment": _s(plan.environment),
        }
        packed = _body(body)
        if len(packed.get("body_z", {}).get("S", "")) > PIECE:
            text = packed["body_z"]["S"]
            pieces = [text[i : i + PIECE] for i in range(0, len(text), PIECE)]
            for number, piece in enumerate(pieces):
                self.table.put(
                    {"pk": meta["pk"], "sk": _s(f"plan#{number:04d}"), "body_z": _s(piece)}
                )
            meta["plan_pieces"] = _n(len(pieces))
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
        self.table.put({"pk": _s("scopes"), "sk": _s(scope)})
        if not self.table.put(meta, "attribute_not_exists(pk)"):
            raise DeployctlError(f"run id {run_id} is already taken in {self.name}; try again")
        summary = {f: _s(getattr(info, f)) for f in _RUN_FIELDS}
        summary.update(
            pk=_s(f"scope#{scope}"), sk=_s(f"run#{run_id}"), created=_n(now), updated=_n(now)
        )
        self.table.put(summary, "attribute_not_exists(pk)")
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
            text = _unpack("".join(pieces))
        else:
            text = _read_body(meta)
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
        body = json.dumps(dict(data or {}), sort_keys=True, default=str)
        packed = _body(body)
        if len(packed.get("body_z", {}).get("S", "")) > PIECE:
            raise DeployctlError(
                f"run {run_id}: a {type} record of {len(body)} bytes is too large for DynamoDB"
            )
        with self._mutex:
            seq = self._next.get(run_id) or self._last_seq(run_id) + 1
            self._next[run_id] = seq + 1
            at = self.now()
        item: dict[str, Any] = {
            "pk": _s(f"run#{run_id}"),
            "sk": _s(f"rec#{seq:0{_SEQ_DIGITS}d}"),
            "seq": _n(seq),
            "type": _s(type),
            "attempt": _n(attempt),
            "at": _n(at),
            **packed,
        }
        if step_id is not None:
            item["step_id"] = _s(step_id)
        if token is not None:
            item["token"] = _s(token)
        if not self.table.put(item, "attribute_not_exists(pk)"):
            raise JournalConflict(run_id, seq)
        return Record(seq, run_id, type, step_id, attempt, token, at, json.loads(body))

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
                json.loads(_read_body(item)),
            )
            for item in self.table.query(f"run#{run_id}", "rec#", limit=self.page_size)
        ]

    def set_status(self, run_id: str, status: str) -> None:
        if not self.table.update(
            f"scope#{self._scope(run_id)}",
            f"run#{run_id}",
            "SET #s = :s, updated = :u",
            "attribute_exists(pk)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": _s(status), ":u": _n(self.now())},
        ):
            raise UserError(f"no run {run_id!r} in {self.name} (see: deployctl runs)")

    def close(self) -> None:
        """Nothing to release: the client is shared and needs no closing."""


class DynamoLock(Lock):
    """One item per lock.  Every write is conditional: taking a free lock on its
    absence, taking over an expired one on the lease (and token) that was read,
    renewing, re-pointing and releasing on this holder's token, so two
    machines never both believe they hold it."""

    def __init__(
        self,
        table: Table,
        lock_id: str,
        holder: str,
        pid: int,
        *,
        lease: float = LEASE_SECONDS,
        now: Callable[[], float] = time.time,
        host: str | None = None,
    ) -> None:
        self.table = table
        self.lock_id = lock_id
        self.holder = holder
        self.pid = pid
        self.lease = lease
        self.now = now
        # The host a pid belongs to; like the SQLite lock, the holder's ``user@host``.
        self.host = host or holder.rpartition("@")[2] or socket.gethostname()
        self.token = secrets.token_hex(8)  # this acquisition, whoever else shares holder and pid
        self.taken_over: LockInfo | None = None
        self._renewed = 0.0

    def acquire(self, run_id: str = "") -> None:
        for _ in range(5):  # each lost race re-reads; a live winner ends it with LockHeld
            now = self.now()
            current = self.table.get("locks", self.lock_id)
            item = {
                "pk": _s("locks"),
                "sk": _s(self.lock_id),
                "holder": _s(self.holder),
                "pid": _n(self.pid),
                "host": _s(self.host),
                "boot": _s(boot_id()),
                "token": _s(self.token),
                "run_id": _s(run_id),
                "created": _n(now),
                "lease_until": _n(now + self.lease),
            }
            if current is None:
                taken = self.table.put(item, "attribute_not_exists(pk)")
            else:
                info = _lock_info(current)
                if info.lease_until > now and not _dead(current):
                    raise LockHeld(
                        info.lock_id,
                        info.holder,
                        info.pid,
                        info.run_id,
                        utc_stamp(info.created),
                        utc_stamp(info.lease_until),
                    )
                taken = self.table.put(
                    item,
                    "lease_until = :old AND #t = :token",
                    ExpressionAttributeNames={"#t": "token"},
                    ExpressionAttributeValues={
                        ":old": current["lease_until"],
                        ":token": current["token"],
                    },
                )
            if taken:
                self.taken_over = None if current is None else _lock_info(current)
                self._renewed = now
                return
        raise DeployctlError(f"lock {self.lock_id}: too many processes racing for it; try again")

    def _mine(self, expression: str, values: dict[str, Any]) -> None:
        if not self.table.update(
            "locks",
            self.lock_id,
            expression,
            "#t = :token",
            ExpressionAttributeNames={"#t": "token"},
            ExpressionAttributeValues={":token": _s(self.token), **values},
        ):
            current = self.table.get("locks", self.lock_id)
            now_held = "now " + _lock_info(current).describe() if current else "now free"
            raise LockLost(self.lock_id, self.holder, now_held)

    def set_run(self, run_id: str) -> None:
        self._mine("SET run_id = :run", {":run": _s(run_id)})

    def renew(self, *, force: bool = False) -> None:
        now = self.now()
        if not force and now - self._renewed < self.lease / 4:
            return
        self._mine("SET lease_until = :until", {":until": _n(now + self.lease)})
        self._renewed = now

    def release(self) -> None:
        # Not ours any more (taken over, unlocked by hand): leave it to its holder.
        self.table.delete(
            "locks",
            self.lock_id,
            "#t = :token",
            ExpressionAttributeNames={"#t": "token"},
            ExpressionAttributeValues={":token": _s(self.token)},
        )

    def close(self) -> None:
        """Nothing to release: the client is shared and needs no closing."""


def _dead(item: Mapping[str, Any]) -> bool:
    """The holder's process is gone, and it provably ran on this very machine
    (same host name and boot): a pid means nothing on another machine."""
    if item.get("boot", {}).get("S", "") != boot_id():
        return False
    return process_gone(item["host"]["S"], int(item["pid"]["N"]))


def _lock_info(item: Mapping[str, Any]) -> LockInfo:
    return LockInfo(
        item["sk"]["S"],
        item["holder"]["S"],
        int(item["pid"]["N"]),
        item["run_id"]["S"],
        float(item["created"]["N"]),
        float(item["lease_until"]["N"]),
    )


def _run_info(item: Mapping[str, Any]) -> RunInfo:
    fields = {f: item[f]["S"] for f in _RUN_FIELDS}
    return RunInfo(
        **fields, created=float(item["created"]["N"]), updated=float(item["updated"]["N"])
    )
