"""A group commit on SQLite is one ``INSERT`` statement per chunk of
records, fenced inside the statement: the records keep the order they were
queued in, each gets the ``seq`` it is stored under, a lost lock writes
none of them, and a chunk that fails loses only itself and what follows."""

from __future__ import annotations

import itertools
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest
from state_helpers import PLAN, STORED

from deployctl.errors import LockLost, StateUnavailable
from deployctl.state import sqlite
from deployctl.state.sqlite import SqliteStore
from deployctl.testing.journal import FailingDisk, written


def test_a_batch_over_several_statements_keeps_its_order_and_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite, "CHUNK", 3)
    journal = SqliteStore(str(tmp_path)).journal()
    run = journal.create_run(PLAN, "me@here", STORED)
    queued = [journal.defer(run.run_id, "done", step_id=f"s{n}", data={"n": n}) for n in range(7)]
    last = journal.append(run.run_id, "intent", step_id="next")  # commits all eight
    settled = [d.settle() for d in queued] + [last]
    stored = journal.records(run.run_id)
    assert [(r.seq, r.type, r.step_id, r.data) for r in settled] == [
        (r.seq, r.type, r.step_id, r.data) for r in stored
    ]
    assert [r.step_id for r in stored] == [f"s{n}" for n in range(7)] + ["next"]
    assert [r.seq for r in stored] == list(range(stored[0].seq, stored[0].seq + 8))
    journal.close()


def test_a_lost_lock_writes_none_of_the_batch_and_names_the_new_holder(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path))
    journal = store.journal()
    run = journal.create_run(PLAN, "me@here", STORED)
    mine = store.lock("p/e", "me@here", 1)
    mine.acquire()
    journal.hold(mine.fence)
    journal.append(run.run_id, "intent", step_id="a")
    store.unlock("p/e")
    theirs = store.lock("p/e", "amy@there", 2)
    theirs.acquire()
    queued = journal.defer(run.run_id, "done", step_id="a")
    with pytest.raises(LockLost, match="amy@there"):
        journal.append(run.run_id, "intent", step_id="b")
    with pytest.raises(LockLost):
        queued.settle()
    assert [(r.type, r.step_id) for r in journal.records(run.run_id)] == [("intent", "a")]
    theirs.release()
    journal.close()


def test_a_failed_chunk_loses_itself_and_what_follows_never_what_went_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite, "CHUNK", 2)
    inserts = itertools.count(1)
    # The disk fills up at the second statement that writes records.
    disk = FailingDisk(lambda sql, args: bool(written(sql, args)) and next(inserts) == 2)
    journal = SqliteStore(str(tmp_path), disk.connection).journal()
    run = journal.create_run(PLAN, "me@here", STORED)
    queued = [journal.defer(run.run_id, "done", step_id=f"s{n}") for n in range(3)]
    disk.fill()
    with pytest.raises(StateUnavailable, match="disk is full"):
        journal.append(run.run_id, "intent", step_id="next")
    disk.full = False
    assert [d.settle().step_id for d in queued[:2]] == ["s0", "s1"]  # durable before the failure
    with pytest.raises(StateUnavailable):
        queued[2].settle()
    # s2 was deferred and lost: nothing may be written after it without it.
    with pytest.raises(StateUnavailable):
        journal.append(run.run_id, "intent", step_id="later")
    assert [r.step_id for r in journal.records(run.run_id)] == ["s0", "s1"]
    journal.close()


class Statements(sqlite3.Connection):
    """Every statement run on the connection, up to its WHERE."""

    seen: ClassVar[list[str]] = []

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        Statements.seen.append(sql.split(" WHERE", maxsplit=1)[0])
        return super().execute(sql, *args)


def test_a_status_that_a_durable_record_decides_skips_only_its_own_fsync(tmp_path: Path) -> None:
    journal = SqliteStore(str(tmp_path), Statements).journal()
    run = journal.create_run(PLAN, "me@here", STORED)
    journal.append(run.run_id, "run_finished", data={"status": "succeeded"})
    Statements.seen = []
    journal.set_status(run.run_id, "succeeded", durable=False)
    assert Statements.seen == [
        "PRAGMA synchronous = NORMAL",
        "UPDATE runs SET status = ?, updated = ?",
        "PRAGMA synchronous = FULL",
    ]
    Statements.seen = []
    journal.set_status(run.run_id, "succeeded")  # durable: no change of mode
    assert Statements.seen == ["UPDATE runs SET status = ?, updated = ?"]
    assert journal.get_run(run.run_id).status == "succeeded"
    conn = journal._db.conn  # type: ignore[attr-defined]
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL for every other write
    journal.close()


def test_a_failed_unsynced_status_leaves_the_connection_fully_synced(tmp_path: Path) -> None:
    disk = FailingDisk(lambda sql, _: sql.startswith("UPDATE"))
    journal = SqliteStore(str(tmp_path), disk.connection).journal()
    run = journal.create_run(PLAN, "me@here", STORED)
    disk.fill()
    with pytest.raises(StateUnavailable, match="disk is full"):
        journal.set_status(run.run_id, "succeeded", durable=False)
    disk.full = False
    conn = journal._db.conn  # type: ignore[attr-defined]
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert journal.get_run(run.run_id).status == "running"
    journal.close()


WRITER = """
import json, sys
from deployctl.state.sqlite import SqliteStore
journal = SqliteStore(sys.argv[1]).journal()
claimed = []
print("ready", flush=True)
sys.stdin.readline()  # both start writing at once
for n in range(150):
    queued = [journal.defer(sys.argv[2], "done", step_id=f"{sys.argv[3]}-{n}-{k}") for k in range(2)]
    last = journal.append(sys.argv[2], "intent", step_id=f"{sys.argv[3]}-{n}")
    claimed += [[d.settle().seq, d.settle().step_id] for d in queued] + [[last.seq, last.step_id]]
journal.close()
print(json.dumps(claimed))
"""


def test_processes_writing_one_journal_at_once_each_get_the_seq_their_records_hold(
    tmp_path: Path,
) -> None:
    # Each statement numbers its rows under SQLite's write lock, taken when
    # the statement starts: another process's batch can never land between.
    journal = SqliteStore(str(tmp_path)).journal()
    run = journal.create_run(PLAN, "me@here", STORED)
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), run.run_id, tag],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for tag in ("a", "b")
    ]
    for writer in writers:
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
    claimed = {}
    for writer in writers:
        out, _ = writer.communicate(timeout=60)
        assert writer.returncode == 0
        claimed.update({seq: sid for seq, sid in json.loads(out)})
    stored = {r.seq: r.step_id for r in journal.records(run.run_id)}
    assert len(stored) == 2 * 150 * 3
    assert claimed == stored
    journal.close()
