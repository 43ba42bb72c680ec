"""A run asks its journal for room (``Journal.make_room``) before it writes
its first record, sized by its plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployctl.actions.registry import Backend
from deployctl.execute.runner import Executor
from deployctl.state.sqlite import SqliteJournal, SqliteStore
from deployctl.testing.clock import VirtualClock
from deployctl.testing.fake import FakeMetrics, FakeWorld, fake_registry
from deployctl.testing.plans import Recorder, make_plan, step


def test_a_run_makes_room_for_its_records_before_the_first_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[int, int]] = []  # (records asked for, records already written)
    real = SqliteJournal.make_room

    def spy(self: SqliteJournal, records: int) -> None:
        written = sum(len(self.records(r.run_id)) for r in self.runs())
        asked.append((records, written))
        real(self, records)

    monkeypatch.setattr(SqliteJournal, "make_room", spy)
    plan = make_plan(step("a"), step("b", deps=("a",)), step("c", deps=("b",)))
    world, state = FakeWorld(str(tmp_path / "w.json")), tmp_path / "state"
    backend = Backend(fake_registry(world), VirtualClock(), FakeMetrics(world))
    ex = Executor(str(state), backend, Recorder(), store=SqliteStore(str(state)))
    try:
        assert ex.apply(plan).exit_code == 0
        assert isinstance(ex.journal, SqliteJournal)
        assert ex.journal._db.wal_room > 0
    finally:
        ex.close()
    assert asked == [(2 * 3 + 4, 0)]
