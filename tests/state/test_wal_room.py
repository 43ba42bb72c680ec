"""``Journal.make_room`` on SQLite: the ``-wal`` grows ahead of the run's
commits, nothing is written to the journal, the commits that follow write
over the room instead of growing the file, and a crash at any point still
recovers exactly the committed records."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from state_helpers import PLAN, STORED

from deployctl.state.sqlite import ROOM_MAX, ROOM_PER_RECORD, SqliteJournal, SqliteStore
from deployctl.state.sqlitedb import DB_NAME
from deployctl.testing.journal import FailingDisk


def journal_in(state: Path, **kw: Any) -> SqliteJournal:
    journal = SqliteStore(str(state), **kw).journal()
    assert isinstance(journal, SqliteJournal)
    return journal


def crashed_copy(state: Path, into: Path) -> list[tuple[str, str | None]]:
    """What a process opening the journal after a crash finds: the database
    and its ``-wal`` as they are on disk now, no shared memory (recovery
    reads the ``-wal`` again)."""
    into.mkdir()
    for name in (DB_NAME, f"{DB_NAME}-wal"):
        shutil.copyfile(state / name, into / name)
    with sqlite3.connect(into / DB_NAME) as db:
        assert db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM meta WHERE key = 'wal-room'").fetchone()[0] == 0
        rows = db.execute("SELECT type, step_id FROM records ORDER BY seq").fetchall()
    return [(kind, step) for kind, step in rows]


def test_room_grows_the_wal_and_writes_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    journal = journal_in(state)
    run = journal.create_run(PLAN, "me@here", STORED)
    journal.append(run.run_id, "intent", step_id="a")
    conn = journal._db.conn
    cache = conn.execute("PRAGMA cache_size").fetchone()[0]
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    wal, db = state / f"{DB_NAME}-wal", state / DB_NAME
    before, db_before = wal.stat().st_size, db.stat().st_size

    journal.make_room(100)

    pages = ROOM_PER_RECORD * 100
    assert wal.stat().st_size >= before + pages * page * 9 // 10  # all but the cache
    assert db.stat().st_size == db_before
    assert conn.execute("PRAGMA cache_size").fetchone()[0] == cache
    assert conn.execute("SELECT count(*) FROM meta WHERE key = 'wal-room'").fetchone()[0] == 0
    assert [r.type for r in journal.records(run.run_id)] == ["intent"]
    journal.close()


def test_the_commits_after_it_write_over_the_room_instead_of_growing_the_file(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    journal = journal_in(state)
    run = journal.create_run(PLAN, "me@here", STORED)
    journal.make_room(100)
    wal = state / f"{DB_NAME}-wal"
    grown = wal.stat().st_size
    for n in range(20):  # three or four pages each: within the room
        journal.append(run.run_id, "intent", step_id=f"s{n}")
    assert wal.stat().st_size == grown
    assert len(journal.records(run.run_id)) == 20
    journal.close()


def test_a_crash_after_it_recovers_exactly_the_committed_records(tmp_path: Path) -> None:
    state = tmp_path / "state"
    journal = journal_in(state)
    run = journal.create_run(PLAN, "me@here", STORED)
    journal.append(run.run_id, "intent", step_id="a")
    journal.make_room(100)
    # Killed right after the room was made: its frames are not the journal's.
    assert crashed_copy(state, tmp_path / "k1") == [("intent", "a")]
    journal.append(run.run_id, "done", step_id="a")
    # Killed after a commit over the room: that commit and nothing else.
    assert crashed_copy(state, tmp_path / "k2") == [("intent", "a"), ("done", "a")]
    journal.close()
    reopened = journal_in(state)
    assert [r.type for r in reopened.records(run.run_id)] == ["intent", "done"]
    reopened.close()


def test_it_is_made_once_per_connection_and_capped(tmp_path: Path) -> None:
    state = tmp_path / "state"
    journal = journal_in(state)
    journal.make_room(10_000)
    assert journal._db.wal_room == ROOM_MAX
    wal = state / f"{DB_NAME}-wal"
    grown = wal.stat().st_size
    journal.make_room(10)  # less than there is: nothing written
    assert wal.stat().st_size == grown
    journal.close()


def test_a_failure_making_room_changes_nothing_and_the_journal_goes_on(tmp_path: Path) -> None:
    state = tmp_path / "state"
    disk = FailingDisk(lambda sql, _: sql.lstrip().startswith("INSERT INTO meta"))
    journal = journal_in(state, factory=disk.connection)
    run = journal.create_run(PLAN, "me@here", STORED)
    conn = journal._db.conn
    cache = conn.execute("PRAGMA cache_size").fetchone()[0]
    disk.fill()
    journal.make_room(100)  # best effort: no error
    disk.full = False
    assert journal._db.wal_room == 0  # tried again next time
    assert conn.execute("PRAGMA cache_size").fetchone()[0] == cache
    assert not conn.in_transaction
    journal.append(run.run_id, "intent", step_id="a")
    assert [r.type for r in journal.records(run.run_id)] == ["intent"]
    journal.close()
    assert os.path.exists(state / DB_NAME)
