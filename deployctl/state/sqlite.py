"""The local state store: journal and locks in one SQLite file under
``--state-dir`` (:mod:`deployctl.state.sqlitedb` opens it).

WAL with ``synchronous=FULL``, so a record is on disk when ``append``
returns (an intent must survive the crash it exists for).  Locks live in
the same file, so one transaction sees both: a fenced write checks the lock
row and inserts its records in the same ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from deployctl.core.plan import Plan
from deployctl.errors import LockLost, StateError, UserError
from deployctl.state.api import (
    RUNNING,
    Deferred,
    Fence,
    Journal,
    Lock,
    LockInfo,
    Record,
    RunInfo,
    StateStore,
)
from deployctl.state.lease import LeasedLock, LockRow
from deployctl.state.runs import new_run_id
from deployctl.state.sqlitedb import Database, open_database, release

_RUNS = (
    "SELECT run_id, project, environment, digest, source, status, created, updated, user FROM runs"
)
_LOCKS = (
    "SELECT lock_id, holder, pid, host, boot, token, epoch, run_id, created, lease_until FROM locks"
)
_LOCK = _LOCKS + " WHERE lock_id = ?"
_PUT_LOCK = (
    "INSERT OR REPLACE INTO locks "
    "(lock_id, holder, pid, host, boot, token, epoch, run_id, created, lease_until) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def check_fence(conn: sqlite3.Connection, fence: Fence | None) -> None:
    """Inside a write transaction: the lock is still held under ``fence``."""
    if fence is None:
        return
    row = conn.execute(_LOCK, (fence.lock_id,)).fetchone()
    current = LockRow(*row) if row else None
    if current is None or (current.token, current.epoch) != (fence.token, fence.epoch):
        now = (
            "now " + current.info().describe()
            if current is not None and current.held
            else "now free"
        )
        raise LockLost(fence.lock_id, fence.holder, now)


def _record_encoder() -> Callable[[Any], str]:
    """``json.dumps(value, sort_keys=True, default=str, check_circular=False)``
    with its C encoder built once: ``JSONEncoder.encode`` builds a new one
    (and a cycle-check dict) for every call, twice per step.  Records hold
    JSON-like data, never a cycle (one would end in RecursionError)."""
    plain = json.JSONEncoder(sort_keys=True, default=str, check_circular=False).encode
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # an interpreter without the C accelerator
        return plain
    try:
        chunks = make(
            None, str, json.encoder.encode_basestring_ascii, None, ": ", ", ", True, False, True
        )

        def encode(value: Any) -> str:
            return "".join(chunks(value, 0))

        # The accelerator's signature is not a promise: check it says the same.
        if encode(_PROBE) != plain(_PROBE):
            return plain
    except (TypeError, ValueError):
        return plain
    return encode


# JSON's kinds, an escape, a float JSON lacks, and values only default=str encodes.
_PROBE = {"b": [1, 2.5, None, True, "\u00e9\n", (3, 4)], "a": {"z": {5}}, "c": float("inf")}


_encode = _record_encoder()
# ``json.loads`` of a body ``_encode`` made (no leading blank, nothing after):
# the decoder's scanner itself, without the three Python calls around it.
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]

# Pages of -wal that Journal.make_room writes ahead per record to come, and
# at most.  A commit writes two or three pages (the records table's and its
# index's), shared by the records it holds: bench (b) wrote 150 to 210
# frames for its 160 records when each commit also wrote an AUTOINCREMENT
# counter's page.  The room is written out by the first commit after it
# (before the walk), about 3 ms per 100 pages on this disk, so it is sized
# for the common case, not the worst.  SQLite checkpoints at 1,000 pages,
# after which the next commit starts the -wal over from its beginning: no
# room is needed beyond.
ROOM_PER_RECORD = 1
ROOM_MAX = 1000

# A batch of records is one statement: the time, then a row of these per
# record, in this order (a _Pending's values; deployctl/testing/journal.py
# reads the statement back for the tests' spies).
RECORD_FIELDS = ("run_id", "type", "step_id", "attempt", "token", "data")
_INSERT = f"INSERT INTO records ({', '.join(RECORD_FIELDS)}, at) SELECT *, ?"
ROW = "(" + ", ".join("?" * len(RECORD_FIELDS)) + ")"
# The fence, in a write statement's WHERE (SqliteJournal._fenced).
_FENCE = "EXISTS (SELECT 1 FROM locks WHERE lock_id = ? AND token = ? AND epoch = ?)"
# Records per INSERT statement (SQLite allows 32,766 parameters; 7 per record).
CHUNK = 1000


class _Pending:
    """One record waiting for a group commit."""

    def __init__(
        self, values: tuple[str, str, str | None, int, str | None, str], *, deferred: bool = False
    ) -> None:
        self.values = values
        self.deferred = deferred
        self.seq = 0
        self.at = 0.0
        self.error: BaseException | None = None
        self.finished = False
        self._record: Record | None = None

    def result(self) -> Record:
        """The record as stored, once its commit is over (or what that
        commit raised).  Built by the thread that asks, not by the commit's
        leader: the next commit need not wait for records to be decoded."""
        if self.error is not None:
            raise self.error
        if self._record is None:
            run_id, kind, step_id, attempt, token, body = self.values
            self._record = Record(
                self.seq, run_id, kind, step_id, attempt, token, self.at, _scan(body, 0)[0]
            )
        return self._record


class _Settle(Deferred):
    def __init__(self, journal: SqliteJournal, pending: _Pending) -> None:
        self.journal = journal
        self.pending = pending

    def ready(self) -> bool:
        return self.pending.finished

    def settle(self, grace: float = 0.0) -> Record:
        return self.journal._settle(self.pending, grace)


class SqliteJournal(Journal):
    def __init__(
        self,
        state_dir: str,
        now: Callable[[], float] = time.time,
        factory: type[sqlite3.Connection] = sqlite3.Connection,
    ) -> None:
        self.state_dir = state_dir
        self.db: Database | None = open_database(state_dir, factory)
        self.now = now
        self.fence: Fence | None = None
        # Held with ``with self._mutex``, waited on through ``self._group``:
        # entering the lock itself is one C call, entering the Condition a
        # Python one, on every record.  (An RLock: the Condition asks it in
        # C whether it is held, where a Lock needs a Python call.)
        self._mutex = threading.RLock()
        self._group = threading.Condition(self._mutex)
        self._queue: list[_Pending] = []
        self._writing = False
        self._broken: BaseException | None = None  # a deferred record's commit failed

    @property
    def _db(self) -> Database:
        assert self.db is not None, "journal closed"
        return self.db

    def hold(self, fence: Fence | None) -> None:
        self.fence = fence

    def create_run(self, plan: Plan, user: str, stored: Mapping[str, Any]) -> RunInfo:
        now = self.now()
        run_id = new_run_id(now)
        body = json.dumps(stored, sort_keys=True)
        with self._db.transaction() as conn:
            check_fence(conn, self.fence)
            conn.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    plan.project,
                    plan.environment,
                    plan.digest,
                    plan.source,
                    RUNNING,
                    now,
                    now,
                    user,
                    body,
                ),
            )
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> RunInfo:
        rows = self._db.query(_RUNS + " WHERE run_id = ?", (run_id,))
        if not rows:
            raise UserError(f"no run {run_id!r} in {self.state_dir} (see: deployctl runs)")
        return RunInfo(*rows[0])

    def runs(self, project: str | None = None, environment: str | None = None) -> list[RunInfo]:
        query = _RUNS
        where, args = [], []
        if project is not None:
            where.append("project = ?")
            args.append(project)
        if environment is not None:
            where.append("environment = ?")
            args.append(environment)
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY created DESC, rowid DESC"
        return [RunInfo(*row) for row in self._db.query(query, args)]

    def plan_json(self, run_id: str) -> dict[str, Any]:
        self.get_run(run_id)
        rows = self._db.query("SELECT plan FROM runs WHERE run_id = ?", (run_id,))
        plan: dict[str, Any] = json.loads(rows[0][0])
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
        # Queued like a deferred record, then settled at once: whoever finds
        # no write in progress commits it with everything queued before it.
        pending = self._enqueue((run_id, type, step_id, attempt, token), data, deferred=False)
        return self._settle(pending, 0.0)

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
        pending = self._enqueue((run_id, type, step_id, attempt, token), data, deferred=True)
        return _Settle(self, pending)

    def _enqueue(
        self,
        head: tuple[str, str, str | None, int, str | None],
        data: Mapping[str, Any] | None,
        *,
        deferred: bool,
    ) -> _Pending:
        """Queue a record (``head``: run, type, step, attempt, token) for the
        next commit, in order; refused once a deferred record was lost."""
        pending = _Pending((*head, _encode(dict(data or {}))), deferred=deferred)
        with self._mutex:
            if self._broken is not None:
                raise self._broken
            self._queue.append(pending)
        return pending

    def make_room(self, records: int) -> None:
        self._db.make_room(min(ROOM_MAX, ROOM_PER_RECORD * records))

    def _settle(self, pending: _Pending, grace: float) -> Record:
        """``pending`` once durable: after a commit in progress (which may
        hold it), or after ``grace`` seconds for a record to join it (a
        dependent's intent), this thread commits everything queued so far in
        one transaction (group commit: one fsync for parallel steps' records).
        It does not wait for more: what comes meanwhile shares the next."""
        deadline = time.monotonic() + grace
        batch: list[_Pending] = []
        with self._mutex:
            while not pending.finished:
                left = deadline - time.monotonic()
                if self._writing or left > 0:
                    self._group.wait(left if not self._writing and left > 0 else None)
                    continue
                self._writing = True
                batch, self._queue = self._queue, []
                break
        if batch:
            self._commit(batch)
        return pending.result()

    def _commit(self, batch: list[_Pending]) -> None:
        """Write ``batch`` in order, durable on return: one ``INSERT`` per
        chunk of at most :data:`CHUNK` records, each its own transaction
        (autocommit), fenced inside the statement.  One statement, not
        ``BEGIN``, a lock read, an insert per record and ``COMMIT``: every
        call into SQLite lets go of the GIL, and on the critical path each
        is a chance for another thread to keep it (docs/performance.md,
        "Executor")."""
        error: BaseException | None = None
        done = 0
        try:
            now = self.now()
            for start in range(0, len(batch), CHUNK):
                chunk = batch[start : start + CHUNK]
                first = self._insert(chunk, now)
                for n, item in enumerate(chunk):
                    item.seq, item.at = first + n, now
                done += len(chunk)
        except BaseException as exc:  # each record's caller raises it (_Pending.result)
            error = exc
        with self._mutex:
            for n, item in enumerate(batch):
                item.error = error if n >= done else None
                item.finished = True
            if error is not None and any(item.deferred for item in batch[done:]):
                # A deferred record was lost: nothing written after it may
                # commit without it (the journal's order; see Journal.defer).
                self._broken = error
            self._writing = False
            self._group.notify_all()

    def _insert(self, chunk: list[_Pending], now: float) -> int:
        """Insert ``chunk`` in one statement, only while the lock is held
        under this journal's fence; the first record's ``seq`` (the others
        follow it: one statement under SQLite's write lock numbers its rows
        one after another)."""
        rows = ", ".join([ROW] * len(chunk))
        args: list[Any] = [now]
        for item in chunk:
            args.extend(item.values)
        sql, args = self._fenced(f"{_INSERT} FROM (VALUES {rows}) WHERE 1", args)
        cursor = self._db.write(sql, args)
        if cursor.rowcount != len(chunk):  # nothing written: the lock row said no
            self._refused()
            raise StateError(f"journal {self._db.path}: {len(chunk)} records not written")
        last = cursor.lastrowid
        assert last is not None
        return last - len(chunk) + 1

    def records(self, run_id: str) -> list[Record]:
        rows = self._db.query(
            "SELECT seq, run_id, type, step_id, attempt, token, at, data FROM records "
            "WHERE run_id = ? ORDER BY seq",
            (run_id,),
        )
        return [
            Record(seq, rid, kind, step, attempt, token, at, json.loads(data))
            for seq, rid, kind, step, attempt, token, at, data in rows
        ]

    def set_status(self, run_id: str, status: str, *, durable: bool = True) -> None:
        sql, args = self._fenced(
            "UPDATE runs SET status = ?, updated = ? WHERE run_id = ?", [status, self.now(), run_id]
        )
        if self._db.write(sql, args, sync=durable).rowcount == 0:
            self._refused()
            raise UserError(f"no run {run_id!r} in {self.state_dir} (see: deployctl runs)")

    def _fenced(self, sql: str, args: list[Any]) -> tuple[str, list[Any]]:
        """``sql`` (which ends in a ``WHERE`` clause) changed so that it
        writes nothing unless this journal's fence still holds the lock: the
        check is in the statement, so it and the write are one transaction,
        one call into SQLite."""
        fence = self.fence
        if fence is None:
            return sql, args
        return f"{sql} AND {_FENCE}", [*args, fence.lock_id, fence.token, fence.epoch]

    def _refused(self) -> None:
        """A fenced write changed nothing: if the lock is lost, say so."""
        if self.fence is not None:
            with self._db.transaction() as conn:
                check_fence(conn, self.fence)

    def close(self) -> None:
        if self.db is not None:
            release(self.db)
            self.db = None


class SqliteLock(LeasedLock):
    """The lock as a row of the ``locks`` table."""

    def __init__(self, db: Database, lock_id: str, holder: str, pid: int, **kw: Any) -> None:
        super().__init__(lock_id, holder, pid, **kw)
        self.db: Database | None = db

    @property
    def _db(self) -> Database:
        assert self.db is not None, "lock closed"
        return self.db

    def _read(self) -> LockRow | None:
        rows = self._db.query(_LOCK, (self.lock_id,))
        return LockRow(*rows[0]) if rows else None

    def _swap(self, current: LockRow | None, new: LockRow) -> bool:
        with self._db.transaction() as conn:
            row = conn.execute(_LOCK, (self.lock_id,)).fetchone()
            if (LockRow(*row) if row else None) != current:
                return False
            conn.execute(
                _PUT_LOCK,
                (
                    new.lock_id,
                    new.holder,
                    new.pid,
                    new.host,
                    new.boot,
                    new.token,
                    new.epoch,
                    new.run_id,
                    new.created,
                    new.lease_until,
                ),
            )
        return True

    def _update(self, changes: Mapping[str, Any]) -> bool:
        assert self.fence is not None, "acquire first"
        names = sorted(changes)
        with self._db.transaction() as conn:
            sets = ", ".join(f"{name} = ?" for name in names)  # names: run_id, lease_until
            cursor = conn.execute(
                f"UPDATE locks SET {sets} WHERE lock_id = ? AND token = ? AND epoch = ?",  # noqa: S608
                (*(changes[n] for n in names), self.lock_id, self.token, self.fence.epoch),
            )
            return cursor.rowcount == 1

    def _free(self) -> None:
        if self.fence is None:
            return
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE locks SET holder = '', token = '', lease_until = 0 "
                "WHERE lock_id = ? AND token = ? AND epoch = ?",
                (self.lock_id, self.token, self.fence.epoch),
            )

    def close(self) -> None:
        if self.db is not None:
            release(self.db)
            self.db = None


class SqliteStore(StateStore):
    """The default: ``journal.sqlite`` in a local directory.

    ``factory`` (a :class:`sqlite3.Connection` subclass) is used if this
    process has no connection to the file yet; tests pass one that fails.
    """

    def __init__(
        self, state_dir: str, factory: type[sqlite3.Connection] = sqlite3.Connection
    ) -> None:
        self.state_dir = self.name = state_dir
        self.factory = factory

    def journal(self, now: Callable[[], float] = time.time) -> Journal:
        return SqliteJournal(self.state_dir, now=now, factory=self.factory)

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
        db = open_database(self.state_dir, self.factory)
        return SqliteLock(db, lock_id, holder, pid, lease=lease, now=now, monotonic=monotonic)

    def locks(self) -> list[LockInfo]:
        db = open_database(self.state_dir, self.factory)
        try:
            rows = db.query(_LOCKS + " WHERE holder != '' ORDER BY lock_id")
        finally:
            release(db)
        return [LockRow(*row).info() for row in rows]

    def unlock(self, lock_id: str) -> LockInfo:
        db = open_database(self.state_dir, self.factory)
        try:
            with db.transaction() as conn:
                row = conn.execute(_LOCK + " AND holder != ''", (lock_id,)).fetchone()
                if row is None:
                    held = conn.execute(
                        "SELECT lock_id FROM locks WHERE holder != '' ORDER BY lock_id"
                    ).fetchall()
                    known = ", ".join(r[0] for r in held) or "none"
                    raise UserError(f"no lock {lock_id!r} (held locks: {known})")
                conn.execute(
                    "UPDATE locks SET holder = '', token = '', lease_until = 0 WHERE lock_id = ?",
                    (lock_id,),
                )
        finally:
            release(db)
        return LockRow(*row).info()
