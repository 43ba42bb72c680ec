"""Reading the SQLite journal's own statements, for tests that spy on them
through a :class:`sqlite3.Connection` subclass (``SqliteStore(dir, factory)``).

The journal writes a batch of records as one ``INSERT INTO records``
statement (:meth:`deployctl.state.sqlite.SqliteJournal._insert`): its
parameters are the batch's time, then six per record (run, type, step,
attempt, token, data), then the fence's three if the run holds a lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_FIELDS = 6  # run_id, type, step_id, attempt, token, data
_ROW = "(" + ", ".join(["?"] * _FIELDS) + ")"


def written(sql: str, args: Sequence[Any]) -> list[tuple[str, str | None]]:
    """``(type, step_id)`` of each record the statement writes, in order;
    empty for any other statement."""
    if not sql.lstrip().startswith("INSERT INTO records") or not args:
        return []
    params = args[0]
    rows = sql.count(_ROW)
    return [(params[1 + n * _FIELDS + 1], params[1 + n * _FIELDS + 2]) for n in range(rows)]
