"""The local journal: one SQLite file under ``--state-dir``.

WAL with ``synchronous=FULL`` so a record is on disk when ``append`` returns
(an intent must survive the crash it exists for); file mode 0600 because
params and outputs can name private resources.  Locks live in the same file
(:mod:`deployctl.execute.lock`) so one transaction can see both.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from deployctl.errors import UserError
from deployctl.execute.api import RUNNING, Journal, Record, RunInfo
from deployctl.execute.stored import REDACTED
from deployctl.plan.api import Plan
from deployctl.secrets import Redactor

DB_NAME = "journal.sqlite"
SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, project TEXT NOT NULL, environment TEXT NOT NULL,
    digest TEXT NOT NULL, source TEXT NOT NULL, status TEXT NOT NULL,
    created REAL NOT NULL, updated REAL NOT NULL, user TEXT NOT NULL, plan TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, type TEXT NOT NULL,
    step_id TEXT, attempt INTEGER NOT NULL, token TEXT, at REAL NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_run ON records (run_id, seq);
CREATE TABLE IF NOT EXISTS locks (
    lock_id TEXT PRIMARY KEY, holder TEXT NOT NULL, pid INTEGER NOT NULL,
    run_id TEXT NOT NULL, created REAL NOT NULL, lease_until REAL NOT NULL
);
"""


def who() -> str:
    """``user@host``: what locks and approvals record about a person."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def connect(state_dir: str) -> sqlite3.Connection:
    """Open (creating if needed) the state database with durable settings."""
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    path = os.path.join(state_dir, DB_NAME)
    # Create the file ourselves so it is 0600 from the first byte; SQLite gives
    # the -wal and -shm files the same mode as the database.
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    with transaction(conn):
        _create(conn)
    return conn


def _create(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
    )


class transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``: takes the write lock up front, so two
    processes deciding on the same lock row cannot both read it as free."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        self.conn.execute("COMMIT" if kind is None else "ROLLBACK")


class _Pending:
    """One record waiting for a group commit."""

    def __init__(self, values: tuple[str, str, str | None, int, str | None, str]) -> None:
        self.values = values
        self.record: Record | None = None
        self.error: BaseException | None = None
        self.finished = False


def new_run_id(now: float) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    return f"{stamp}-{secrets.token_hex(3)}"


def stored_plan(plan: Plan) -> str:
    """The plan as a run keeps it: JSON, every secret value redacted (the journal
    never holds a secret; such a run continues from its plan file)."""
    stored = plan.to_json(with_summary=False)
    if plan.secret_values:
        stored = {**Redactor(plan.secret_values).data(stored), REDACTED: True}
    return json.dumps(stored, sort_keys=True)


class SqliteJournal(Journal):
    def __init__(self, state_dir: str, now: Callable[[], float] = time.time) -> None:
        self.state_dir = state_dir
        self.conn = connect(state_dir)
        self.now = now
        # One connection shared by the worker threads; SQLite serialises writers
        # anyway, and this keeps a record's insert and commit together.
        self._mutex = threading.Lock()
        self._group = threading.Condition()
        self._queue: list[_Pending] = []
        self._writing = False

    def create_run(self, plan: Plan, user: str) -> RunInfo:
        now = self.now()
        run_id = new_run_id(now)
        body = stored_plan(plan)
        with self._mutex, transaction(self.conn):
            self.conn.execute(
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
        with self._mutex:
            row = self.conn.execute(
                "SELECT run_id, project, environment, digest, source, status, created, updated, user FROM runs WHERE run_id = ?",
                (run_id,),
            ).fetchone()
        if row is None:
            raise UserError(f"no run {run_id!r} in {self.state_dir} (see: deployctl runs)")
        return RunInfo(*row)

    def runs(self, project: str | None = None, environment: str | None = None) -> list[RunInfo]:
        query = "SELECT run_id, project, environment, digest, source, status, created, updated, user FROM runs"
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
        with self._mutex:
            return [RunInfo(*row) for row in self.conn.execute(query, args)]

    def plan_json(self, run_id: str) -> dict[str, Any]:
        self.get_run(run_id)
        with self._mutex:
            row = self.conn.execute("SELECT plan FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        plan: dict[str, Any] = json.loads(row[0])
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
        pending = _Pending((run_id, type, step_id, attempt, token, body))
        with self._group:
            self._queue.append(pending)
            while self._writing and not pending.finished:
                self._group.wait()
            if not pending.finished:
                # Group commit: whoever finds no write in progress commits every
                # record queued so far in one transaction (one fsync), so parallel
                # steps do not queue up behind each other's fsyncs.
                self._writing = True
                batch, self._queue = self._queue, []
        if not pending.finished:
            self._commit(batch)
        if pending.error is not None:
            raise pending.error
        assert pending.record is not None
        return pending.record

    def _commit(self, batch: list[_Pending]) -> None:
        error: BaseException | None = None
        try:
            now = self.now()
            with self._mutex, transaction(self.conn):
                for item in batch:
                    cursor = self.conn.execute(
                        "INSERT INTO records (run_id, type, step_id, attempt, token, at, data) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (*item.values[:5], now, item.values[5]),
                    )
                    seq = cursor.lastrowid
                    assert seq is not None
                    run_id, kind, step_id, attempt, token, body = item.values
                    item.record = Record(
                        seq, run_id, kind, step_id, attempt, token, now, json.loads(body)
                    )
        except BaseException as exc:  # every waiter must hear about it, then re-raise
            error = exc
        with self._group:
            for item in batch:
                item.error = error
                item.finished = True
            self._writing = False
            self._group.notify_all()

    def records(self, run_id: str) -> list[Record]:
        with self._mutex:
            rows = self.conn.execute(
                "SELECT seq, run_id, type, step_id, attempt, token, at, data FROM records "
                "WHERE run_id = ? ORDER BY seq",
                (run_id,),
            ).fetchall()
        return [
            Record(seq, rid, kind, step, attempt, token, at, json.loads(data))
            for seq, rid, kind, step, attempt, token, at, data in rows
        ]

    def set_status(self, run_id: str, status: str) -> None:
        with self._mutex, transaction(self.conn):
            self.conn.execute(
                "UPDATE runs SET status = ?, updated = ? WHERE run_id = ?",
                (status, self.now(), run_id),
            )

    def close(self) -> None:
        with self._mutex:
            self.conn.close()
