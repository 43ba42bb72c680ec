"""What only the SQLite store does: one connection per process, WAL as
documented, files 0600 in 0700 directories, and damage reported, never read
as an empty journal."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from state_helpers import PLAN, STORED

from deployctl.errors import JournalDamaged, LockLost, StateUnavailable
from deployctl.state.sqlite import SqliteJournal, SqliteLock, SqliteStore
from deployctl.state.sqlitedb import DB_NAME, _fs_type
from deployctl.testing.journal import FailingDisk


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_one_process_shares_one_connection_and_it_is_wal_and_full(tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    journal = SqliteStore(state).journal()
    lock = SqliteStore(state).lock("p/e", "me@here", 1)
    assert isinstance(journal, SqliteJournal) and isinstance(lock, SqliteLock)
    assert journal.db is lock.db  # two stores, one connection
    conn = journal.db.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    journal.close()
    assert lock.db.conn.execute("SELECT 1").fetchone() is not None  # still open for the lock
    lock.close()


def test_seqs_follow_the_commit_order_across_runs_and_reopens_without_a_counter(
    tmp_path: Path,
) -> None:
    state = str(tmp_path / "state")
    journal = SqliteStore(state).journal()
    first = journal.create_run(PLAN, "me@here", STORED)
    seqs = [journal.append(first.run_id, "intent", step_id="a").seq for _ in range(3)]
    journal.close()
    journal = SqliteStore(state).journal()
    second = journal.create_run(PLAN, "me@here", STORED)
    seqs.append(journal.append(second.run_id, "intent", step_id="a").seq)
    seqs.append(journal.append(first.run_id, "done", step_id="a").seq)
    assert seqs == sorted(set(seqs)) and len(seqs) == 5
    assert [r.seq for r in journal.records(first.run_id)] == seqs[:3] + seqs[4:]
    # No AUTOINCREMENT counter: its page would be written by every commit.
    conn = journal.db.conn  # type: ignore[attr-defined]
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "sqlite_sequence" not in tables
    journal.close()


def test_a_record_is_stored_and_read_back_as_json_dumps_wrote_it(tmp_path: Path) -> None:
    journal = SqliteStore(str(tmp_path / "state")).journal()
    run = journal.create_run(PLAN, "me@here", STORED)
    data = {
        "b": [1, 2.5, None, True, '\u00e9\n"', (3, 4)],
        "a": {"when": datetime(2026, 11, 30, tzinfo=UTC), "set": {5}},
        "c": float("inf"),
    }
    text = json.dumps(data, sort_keys=True, default=str)
    written = journal.append(run.run_id, "done", step_id="a", data=data)
    settle = journal.defer(run.run_id, "done", step_id="b", data=data)
    queued = settle.settle()
    assert written.data == queued.data == json.loads(text)
    assert [r.data for r in journal.records(run.run_id)] == [json.loads(text)] * 2
    conn = journal.db.conn  # type: ignore[attr-defined]
    assert [row[0] for row in conn.execute("SELECT data FROM records")] == [text, text]
    journal.close()


def test_an_observer_closing_in_another_process_leaves_the_wal_and_every_record(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    journal = SqliteStore(str(state)).journal()
    lock = SqliteStore(str(state)).lock("demo/prod", "me@here", 1)  # opened twice, as apply does
    lock.acquire()
    run = journal.create_run(PLAN, "me@here", STORED)
    journal.append(run.run_id, "intent", step_id="a")
    wal = state / f"{DB_NAME}-wal"
    assert wal.exists()
    observer = (
        "import sys; from deployctl.state.sqlite import SqliteStore; "
        "j = SqliteStore(sys.argv[1]).journal(); print(len(j.runs())); j.close()"
    )
    for _ in range(3):  # status, runs, a refused apply: each opens and closes
        seen = subprocess.run(
            [sys.executable, "-c", observer, str(state)], capture_output=True, text=True, check=True
        )
        assert seen.stdout.strip() == "1"
    assert wal.exists() and (state / f"{DB_NAME}-shm").exists()
    journal.append(run.run_id, "done", step_id="a")
    reader = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from deployctl.state.sqlite import SqliteStore; "
            "print([r.type for r in SqliteStore(sys.argv[1]).journal().records(sys.argv[2])])",
            str(state),
            run.run_id,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert reader.stdout.strip() == "['intent', 'done']"
    journal.close()
    lock.close()


def test_every_file_is_0600_in_0700_directories_whatever_the_umask(tmp_path: Path) -> None:
    state = tmp_path / "deep" / "er" / "state"
    old = os.umask(0)
    try:
        journal = SqliteStore(str(state)).journal()
        run = journal.create_run(PLAN, "me@here", STORED)
        journal.append(run.run_id, "intent", step_id="a")
        for folder in (tmp_path / "deep", tmp_path / "deep" / "er", state):
            assert mode(folder) == 0o700, folder
        for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm"):
            assert mode(state / name) == 0o600, name
        assert sorted(p.name for p in state.iterdir()) == [
            DB_NAME,
            f"{DB_NAME}-shm",
            f"{DB_NAME}-wal",
        ]  # no staging file left behind
        journal.close()
    finally:
        os.umask(old)


def damaged_journal(tmp_path: Path) -> Path:
    """A state dir whose journal held one run, now closed (no -wal)."""
    state = tmp_path / "state"
    journal = SqliteStore(str(state)).journal()
    run = journal.create_run(PLAN, "me@here", STORED)
    for n in range(200):
        journal.append(run.run_id, "check", step_id="a", data={"n": n, "pad": "x" * 200})
    journal.close()
    assert not (state / f"{DB_NAME}-wal").exists()
    return state / DB_NAME


def refused(state: Path) -> str:
    with pytest.raises(JournalDamaged) as caught:
        SqliteStore(str(state)).journal()
    message = str(caught.value)
    assert "\n" not in message and caught.value.exit_code == 1
    return message


def test_a_zero_length_journal_is_damage_not_an_empty_journal(tmp_path: Path) -> None:
    path = damaged_journal(tmp_path)
    path.write_bytes(b"")
    message = refused(path.parent)
    assert message.startswith(f"journal {path} is damaged (it is empty: 0 bytes)")
    assert "restore it from a backup" in message and ".recover" in message
    assert path.stat().st_size == 0  # left as found


def test_a_truncated_journal_is_damage_and_left_as_it_was(tmp_path: Path) -> None:
    path = damaged_journal(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert f"journal {path} is damaged" in refused(path.parent)
    assert path.read_bytes() == data[: len(data) // 2]


def test_a_corrupted_page_is_damage(tmp_path: Path) -> None:
    path = damaged_journal(tmp_path)
    data = bytearray(path.read_bytes())
    page = 4096
    data[2 * page : 3 * page] = b"\xff" * page  # a b-tree page of the records
    path.write_bytes(bytes(data))
    assert f"journal {path} is damaged" in refused(path.parent)


def test_a_file_that_is_not_a_journal_is_damage(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / DB_NAME).write_text("hello, I am not a database\n" * 10)
    assert "is damaged" in refused(state)
    other = tmp_path / "other"
    other.mkdir()
    sqlite3.connect(other / DB_NAME).execute("CREATE TABLE t (x)").connection.close()
    assert "it is not a deployctl journal" in refused(other)


def test_a_missing_journal_beside_its_wal_is_not_started_over(tmp_path: Path) -> None:
    state = tmp_path / "state"
    journal = SqliteStore(str(state)).journal()
    run = journal.create_run(PLAN, "me@here", STORED)
    journal.append(run.run_id, "intent", step_id="a")
    wal = (state / f"{DB_NAME}-wal").read_bytes()
    journal.close()
    (state / DB_NAME).unlink()
    (state / f"{DB_NAME}-wal").write_bytes(wal or b"x")
    assert "is missing while" in refused(state)
    assert not (state / DB_NAME).exists()


def test_a_state_dir_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    where = tmp_path / "state"
    where.write_text("not a directory")
    with pytest.raises(StateUnavailable) as caught:
        SqliteStore(str(where)).journal()
    assert str(caught.value) == (
        f"state dir {where}: {where} is a file, not a directory; point --state-dir at a "
        "directory (it is created if missing)"
    )
    assert where.read_text() == "not a directory"


def test_a_full_disk_is_one_line_and_loses_nothing_written_before(tmp_path: Path) -> None:
    state = tmp_path / "state"
    disk = FailingDisk()
    journal = SqliteStore(str(state), factory=disk.connection).journal()
    run = journal.create_run(PLAN, "me@here", STORED)
    journal.append(run.run_id, "intent", step_id="a")
    disk.fill()
    with pytest.raises(StateUnavailable) as caught:
        journal.append(run.run_id, "done", step_id="a")
    disk.full = False
    assert str(caught.value) == (
        f"journal {state / DB_NAME}: the disk is full (database or disk is full); "
        "nothing recorded was lost: free space on that disk"
    )
    journal.append(run.run_id, "done", step_id="a")  # space again: the journal goes on
    assert [r.type for r in journal.records(run.run_id)] == ["intent", "done"]
    journal.close()


def test_a_journal_from_before_fencing_is_upgraded_in_place(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    old = sqlite3.connect(state / DB_NAME, isolation_level=None)
    old.executescript(
        """
        PRAGMA journal_mode = WAL;
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '1');
        CREATE TABLE runs (run_id TEXT PRIMARY KEY, project TEXT NOT NULL,
            environment TEXT NOT NULL, digest TEXT NOT NULL, source TEXT NOT NULL,
            status TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL,
            user TEXT NOT NULL, plan TEXT NOT NULL);
        CREATE TABLE records (seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL,
            type TEXT NOT NULL, step_id TEXT, attempt INTEGER NOT NULL, token TEXT,
            at REAL NOT NULL, data TEXT NOT NULL);
        CREATE TABLE locks (lock_id TEXT PRIMARY KEY, holder TEXT NOT NULL, pid INTEGER NOT NULL,
            run_id TEXT NOT NULL, created REAL NOT NULL, lease_until REAL NOT NULL);
        INSERT INTO runs VALUES ('r1', 'demo', 'prod', 'd', 's', 'waiting', 1, 2, 'me', '{}');
        INSERT INTO locks VALUES ('demo/prod', 'bob@gone', 1, 'r1', 10, 70);
        """
    )
    old.close()
    store = SqliteStore(str(state))
    assert [r.run_id for r in store.journal().runs()] == ["r1"]
    (held,) = store.locks()
    assert (held.holder, held.epoch) == ("bob@gone", 0)
    lock = store.lock("demo/prod", "amy@here", 2, now=lambda: 100.0)
    lock.acquire()
    assert lock.fence is not None and lock.fence.epoch == 1
    with pytest.raises(LockLost):
        journal = store.journal()
        journal.hold(lock.fence)
        store.unlock("demo/prod")
        journal.append("r1", "resumed")


def test_the_mount_table_names_the_file_system_of_a_folder(tmp_path: Path) -> None:
    mounts = tmp_path / "mountinfo"
    mounts.write_text(
        "22 1 0:21 / / rw - ext4 /dev/sda1 rw\n"
        "40 22 0:35 / /mnt/share rw,relatime - nfs4 server:/export rw\n"
        "41 22 0:36 / /mnt/share2 rw - tmpfs tmpfs rw\n"
    )
    assert _fs_type("/mnt/share/ci/.deployctl", str(mounts)) == "nfs4"
    assert _fs_type("/mnt/share2", str(mounts)) == "tmpfs"
    assert _fs_type("/home/ci", str(mounts)) == "ext4"
