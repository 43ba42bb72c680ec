"""The local state database: one SQLite file, opened the way SQLite's WAL
documentation asks.

- **One connection per process per file.**  Every journal, lock and command
  in a process shares it (:func:`open_database` counts the users).  Nothing
  else ever opens or closes the file: POSIX drops *every* lock a process
  holds on a file when *any* descriptor of it is closed, and a connection
  that lost its locks lets another process's close checkpoint and delete
  the ``-wal`` under it.
- **Created whole, then moved into place.**  A new journal is built under a
  temporary name (0600, WAL, schema) and hard-linked to ``journal.sqlite``,
  so a journal that exists is never legitimately empty: a zero-length or
  unreadable one is damage, reported as such, never read as "no runs".
- **Checked at open.**  ``journal_mode`` really is WAL, ``synchronous`` really
  is FULL, the file is a deployctl journal of a known version, and
  ``PRAGMA quick_check`` passes.  A network file system is refused: WAL
  needs shared memory that NFS and SMB cannot give.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

from deployctl.errors import JournalDamaged, StateError, StateUnavailable
from deployctl.state.files import private_dir, unwritable

DB_NAME = "journal.sqlite"
APPLICATION_ID = 0x64706C79  # "dply"
SCHEMA_VERSION = 2
BUSY_MS = 30_000
# File systems whose locking or shared memory WAL cannot trust (SQLite: "WAL
# does not work over a network filesystem").
NETWORK_FS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "fuse.sshfs", "vboxsf"}
)

# ``records.seq`` is a plain INTEGER PRIMARY KEY: a new row gets the largest
# seq plus one, and records are never deleted, so no seq is ever reused and
# seq stays the commit order.  AUTOINCREMENT would promise the same at the
# price of its counter's page in every commit: one more page written and
# fsynced per record batch, 0.1-0.17 ms of a 1.1-1.5 ms commit after an idle
# call on this disk (docs/performance.md, "Executor").  Journals made before
# keep the keyword; both read and write the same.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, project TEXT NOT NULL, environment TEXT NOT NULL,
    digest TEXT NOT NULL, source TEXT NOT NULL, status TEXT NOT NULL,
    created REAL NOT NULL, updated REAL NOT NULL, user TEXT NOT NULL, plan TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL, type TEXT NOT NULL,
    step_id TEXT, attempt INTEGER NOT NULL, token TEXT, at REAL NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_run ON records (run_id, seq);
CREATE TABLE IF NOT EXISTS locks (
    lock_id TEXT PRIMARY KEY, holder TEXT NOT NULL, pid INTEGER NOT NULL,
    run_id TEXT NOT NULL, created REAL NOT NULL, lease_until REAL NOT NULL,
    host TEXT NOT NULL DEFAULT '', boot TEXT NOT NULL DEFAULT '',
    token TEXT NOT NULL DEFAULT '', epoch INTEGER NOT NULL DEFAULT 0
);
"""
# Version 1 (before fencing) had no host, boot, token or epoch on locks.
_FROM_1 = [
    f"ALTER TABLE locks ADD COLUMN {column}"
    for column in (
        "host TEXT NOT NULL DEFAULT ''",
        "boot TEXT NOT NULL DEFAULT ''",
        "token TEXT NOT NULL DEFAULT ''",
        "epoch INTEGER NOT NULL DEFAULT 0",
    )
]


def translate(exc: sqlite3.Error, path: str) -> StateError:
    """One line for what SQLite said, naming the file and what to do."""
    detail = str(exc)
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    folder = os.path.dirname(path) or "."
    if primary in (11, 26) or "malformed" in detail or "not a database" in detail:
        return damaged(path, detail)
    if primary == 13 or "disk is full" in detail:
        return StateUnavailable(
            f"journal {path}: the disk is full ({detail}); nothing recorded was lost: "
            "free space on that disk"
        )
    if primary == 8 or "readonly" in detail:
        return StateUnavailable(
            f"state dir {folder} is read-only ({detail}); deployctl keeps its journal there: "
            "make it and the journal writable, or pick another --state-dir"
        )
    if primary == 14 or "unable to open" in detail:
        return StateUnavailable(
            f"journal {path} cannot be opened ({detail}): {folder} must be a writable "
            "directory on a local disk"
        )
    if primary == 5 or "locked" in detail:
        return StateUnavailable(
            f"journal {path} stayed locked by another process for {BUSY_MS // 1000} s "
            f"({detail}); try again"
        )
    return StateUnavailable(f"journal {path}: {detail}")


def damaged(path: str, why: str) -> JournalDamaged:
    why = " ".join(why.replace("***", "").split())  # quick_check answers on several lines
    return JournalDamaged(
        f"journal {path} is damaged ({why}); deployctl will not guess at the runs it held: "
        f"restore it from a backup, or save what is readable with "
        f"'sqlite3 {path} .recover | sqlite3 {path}.recovered' and move it aside "
        "(the runs it held are then forgotten)"
    )


class Database:
    """This process's one connection to one journal file."""

    def __init__(self, path: str, conn: sqlite3.Connection) -> None:
        self.path = path
        self.key = path  # the file's real path: one Database per file and process
        self.conn = conn
        self.mutex = threading.RLock()  # one transaction at a time on the connection
        self.users = 0
        self.pid = os.getpid()
        self.wal_room = 0  # pages of -wal written ahead (make_room) on this connection

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``: takes the write lock up front, so
        two processes deciding on the same row cannot both read it as free.
        A :class:`StateError` raised inside rolls back and goes through."""
        with self.mutex, self.errors():
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
                raise

    def write(
        self, sql: str, args: tuple[Any, ...] | list[Any] = (), *, sync: bool = True
    ) -> sqlite3.Cursor:
        """One write statement, its own transaction (the connection is in
        autocommit): SQLite takes the write lock when the statement starts,
        as ``BEGIN IMMEDIATE`` would, and commits (fsync) before it returns.
        ``sync=False``: committed without the fsync (``synchronous=NORMAL``
        for this statement): it survives this process dying, and the next
        synced commit makes it durable against a power cut too."""
        with self.mutex:  # (errors() inline: this is every commit of a run)
            try:
                if sync:
                    return self.conn.execute(sql, args)
                self.conn.execute("PRAGMA synchronous = NORMAL")
                try:
                    return self.conn.execute(sql, args)
                finally:
                    self.conn.execute("PRAGMA synchronous = FULL")
            except sqlite3.Error as exc:
                raise translate(exc, self.path) from None

    def make_room(self, pages: int) -> None:
        """Grow the ``-wal`` file by about ``pages`` pages, committing nothing.

        A commit that appends to the ``-wal`` grows the file, and its fsync
        then also waits for the file system's own journal (the new size and
        blocks); one that overwrites frames already there waits for its data
        alone, on this disk a half or a third of the time
        (docs/performance.md, "Executor").  So before a run writes its
        records, a transaction that touches ``pages`` pages is rolled back
        with a small page cache: SQLite spills its pages to the ``-wal`` as
        frames past the last commit, which the rollback leaves uncommitted
        (recovery ignores them, the next commits write over them).  Nothing
        reaches the database; the next commit's fsync writes them out once.
        Best effort: an error here only means the commits append as before.
        """
        if pages <= self.wal_room:
            return
        with self.mutex, contextlib.suppress(sqlite3.Error):
            conn = self.conn
            cache = conn.execute("PRAGMA cache_size").fetchone()[0]
            size = conn.execute("PRAGMA page_size").fetchone()[0]
            conn.execute("PRAGMA cache_size = 8")
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.execute(
                        "INSERT INTO meta (key, value) VALUES ('wal-room', zeroblob(?))",
                        (pages * size,),
                    )
                finally:
                    conn.execute("ROLLBACK")
                self.wal_room = pages
            finally:
                conn.execute(f"PRAGMA cache_size = {int(cache)}")

    def query(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[Any]:
        with self.mutex, self.errors():
            return self.conn.execute(sql, args).fetchall()

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise translate(exc, self.path) from None


_open: dict[str, Database] = {}
_inherited: list[Database] = []  # from a parent process: never used, never closed
_registry = threading.Lock()


def open_database(
    state_dir: str, factory: type[sqlite3.Connection] = sqlite3.Connection
) -> Database:
    """This process's connection to ``state_dir``'s journal, opened (and
    checked) by the first user; pair every call with :func:`release`.
    ``factory`` (a :class:`sqlite3.Connection` subclass) is used when the
    connection is first made."""
    private_dir(state_dir)
    key = os.path.join(os.path.realpath(state_dir), DB_NAME)
    with _registry:
        db = _open.get(key)
        if db is not None and db.pid != os.getpid():
            _inherited.append(_open.pop(key))  # closing it here could hurt the parent
            db = None
        if db is None:
            path = os.path.join(state_dir, DB_NAME)  # as the user named it, for messages
            db = Database(path, _connect(path, factory))
            db.key = key
            _open[key] = db
        db.users += 1
        return db


def release(db: Database) -> None:
    with _registry:
        db.users -= 1
        if db.users > 0 or _open.get(db.key) is not db:
            return
        del _open[db.key]
    with db.mutex:
        db.conn.close()


def _connect(path: str, factory: type[sqlite3.Connection]) -> sqlite3.Connection:
    _refuse_network_fs(path)
    if not os.path.exists(path):
        wal = f"{path}-wal"
        if os.path.exists(wal) and os.path.getsize(wal) > 0:
            raise JournalDamaged(
                f"journal {path} is missing while {wal} still holds records: the journal "
                "was deleted or moved; put it back (deployctl will not start over)"
            )
        _create(path)
    if os.path.getsize(path) == 0:
        raise damaged(path, "it is empty: 0 bytes")
    try:
        conn = sqlite3.connect(
            path,
            timeout=BUSY_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
            factory=factory,
        )
    except sqlite3.Error as exc:
        raise translate(exc, path) from None
    try:
        _check(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _check(conn: sqlite3.Connection, path: str) -> None:
    def one(sql: str) -> Any:
        row = conn.execute(sql).fetchone()
        return row[0] if row else None

    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
        app, version = one("PRAGMA application_id"), one("PRAGMA user_version")
        if app != APPLICATION_ID:
            if app == 0 and one("SELECT count(*) FROM sqlite_master WHERE name = 'meta'"):
                version = 1  # written before deployctl stamped its journals
            else:
                raise damaged(path, "it is not a deployctl journal")
        if version > SCHEMA_VERSION:
            raise StateUnavailable(
                f"journal {path} was written by a newer deployctl (version {version}); "
                "upgrade deployctl to use it"
            )
        mode = one("PRAGMA journal_mode = WAL")
        if str(mode).lower() != "wal":
            raise StateUnavailable(
                f"journal {path}: SQLite could not use WAL mode (it is {mode}); put "
                "--state-dir on a local disk"
            )
        conn.execute("PRAGMA synchronous = FULL")
        if one("PRAGMA synchronous") != 2:
            raise StateUnavailable(f"journal {path}: SQLite refused synchronous=FULL")
        verdict = one("PRAGMA quick_check(1)")
        if verdict != "ok":
            raise damaged(path, str(verdict))
        if version < SCHEMA_VERSION:
            _migrate(conn, version)
    except sqlite3.Error as exc:
        raise translate(exc, path) from None


def _migrate(conn: sqlite3.Connection, version: int) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(locks)")}
        if version == 1 and "token" not in columns:
            for statement in _FROM_1:
                conn.execute(statement)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _create(path: str) -> None:
    """Build a complete journal under a temporary name, then link it into
    place (never over an existing one: a racing process may win)."""
    tmp = f"{path}.new-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        # No connection to ``tmp`` exists anywhere yet: closing this descriptor
        # cannot drop anyone's locks.
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        finally:
            conn.close()  # checkpoints: the file holds everything, its -wal is gone
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
        _sync_dir(os.path.dirname(path) or ".")
    except sqlite3.Error as exc:
        raise translate(exc, path) from None
    except OSError as exc:
        raise unwritable(os.path.dirname(path) or ".", exc) from None
    finally:
        for leftover in (tmp, f"{tmp}-wal", f"{tmp}-shm"):  # all of it, even on failure
            with contextlib.suppress(OSError):
                os.unlink(leftover)


def _sync_dir(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _refuse_network_fs(path: str) -> None:
    fstype = _fs_type(os.path.realpath(os.path.dirname(path) or "."))
    if fstype in NETWORK_FS:
        raise StateUnavailable(
            f"state dir {os.path.dirname(path)} is on a network file system ({fstype}); "
            "SQLite's WAL journal is only safe on a local disk: use a local --state-dir, "
            "or dynamodb://TABLE to share state between machines"
        )


def _fs_type(folder: str, mountinfo: str = "/proc/self/mountinfo") -> str:
    """The file system type of ``folder`` from the mount table ('' if unknown)."""
    best, kind = "", ""
    try:
        with open(mountinfo, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                fields = line.split()
                if "-" not in fields:
                    continue
                mount = fields[4].replace("\\040", " ")
                fstype = fields[fields.index("-") + 1]
                inside = folder == mount or folder.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) >= len(best):
                    best, kind = mount, fstype
    except OSError:
        return ""
    return kind
