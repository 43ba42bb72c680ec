"""Reading the SQLite journal's own statements, for tests that spy on them
through a :class:`sqlite3.Connection` subclass (``SqliteStore(dir, factory)``).

The journal writes a batch of records as one ``INSERT INTO records``
statement (:meth:`deployctl.state.sqlite.SqliteJournal._insert`): its
parameters are the batch's time, then a row of
:data:`~deployctl.state.sqlite.RECORD_FIELDS` per record, then the fence's
three if the run holds a lock.
"""

from __future__ import annotations

from collections.abc import Sequence
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
