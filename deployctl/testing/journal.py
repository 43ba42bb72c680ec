"""The SQLite journal's own statements, for tests that spy on them or fail
them through a :class:`sqlite3.Connection` subclass (``SqliteStore(dir,
factory)``): :func:`written` reads a statement's records back, and
:class:`FailingDisk` makes chosen statements fail.

The journal writes a batch of records as one ``INSERT INTO records``
statement (:meth:`deployctl.state.sqlite.SqliteJournal._insert`): its
parameters are the batch's time, then a row of
:data:`~deployctl.state.sqlite.RECORD_FIELDS` per record, then the fence's
three if the run holds a lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from deployctl.state.sqlite import RECORD_FIELDS, ROW

_WIDTH = len(RECORD_FIELDS)
_TYPE, _STEP = RECORD_FIELDS.index("type"), RECORD_FIELDS.index("step_id")


def written(sql: str, args: Sequence[Any]) -> list[tuple[str, str | None]]:
    """``(type, step_id)`` of each record the statement writes, in order;
    empty for any other statement."""
    if not sql.lstrip().startswith("INSERT INTO records") or not args:
        return []
    rows = args[0][1:]  # after the batch's time
    return [(rows[n * _WIDTH + _TYPE], rows[n * _WIDTH + _STEP]) for n in range(sql.count(ROW))]


def writes(sql: str, args: Sequence[Any] = ()) -> bool:
    """Whether the statement changes the file (what a full disk refuses)."""
    return sql.lstrip().startswith(("INSERT", "UPDATE", "COMMIT"))


class FailingDisk:
    """The disk under a test's SQLite journal (``SqliteStore(dir, disk.connection)``):
    while ``full`` is set, the statements that ``fails(sql, args)`` picks
    raise ``error`` as SQLite would (by default SQLITE_FULL's message).
    Each test makes its own, so nothing global is left to put back."""

    def __init__(
        self,
        fails: Callable[[str, Sequence[Any]], bool] = writes,
        *,
        full: bool = False,
        error: str = "database or disk is full",
    ) -> None:
        self.full = full
        disk = self

        class Connection(sqlite3.Connection):
            def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
                if disk.full and fails(sql, args):
                    raise sqlite3.OperationalError(error)
                return super().execute(sql, *args)

        self.connection: type[sqlite3.Connection] = Connection

    def fill(self) -> None:
        self.full = True
