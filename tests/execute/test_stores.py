"""The executor on each state store (SQLite, and DynamoDB on in-process moto):
a run cut off in one working directory is finished from another, a held lock
is exit 4, approvals go through the store.  ``stored`` is parametrized."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from deployctl.actions.registry import Backend
from deployctl.core.ports import Reporter
from deployctl.errors import LockHeld
from deployctl.execute.runner import Executor, Options
from deployctl.state.api import Record, StateStore
from deployctl.state.dynamodb import DynamoStore
from deployctl.state.dynamotable import create_table
from deployctl.state.sqlite import SqliteStore
from deployctl.testing.clock import VirtualClock
from deployctl.testing.fake import FakeMetrics, FakeWorld, fake_registry
from deployctl.testing.plans import Recorder, make_plan, step

PLAN = make_plan(step("a"), step("b", deps=("a",)), step("c", deps=("b",)))


@pytest.fixture(params=["sqlite", "dynamodb"])
def stored(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "sqlite":
        yield SqliteStore(str(tmp_path / "shared-state"))
        return
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        create_table(session.client("dynamodb"), "deployctl-state")
        yield DynamoStore("deployctl-state", session=session)


class DieAfter(Reporter):
    """The process 'dies' after the k-th durable record: nothing more is written."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.seen = 0

    def record(self, record: Record) -> None:
        self.seen += 1
        if self.seen == self.count:
            raise SystemExit("killed")


def executor_on(
    store: StateStore, workdir: Path, world: FakeWorld, clock: VirtualClock, **kw: Any
) -> Executor:
    backend = Backend(fake_registry(world), clock, FakeMetrics(world))
    return Executor(str(workdir), backend, Recorder(), store=store, **kw)


def test_a_run_cut_off_in_one_place_is_resumed_from_another_with_nothing_repeated(
    stored: StateStore, tmp_path: Path
) -> None:
    world, clock = FakeWorld(str(tmp_path / "world.json")), VirtualClock()
    dying = executor_on(stored, tmp_path / "machine-1", world, clock)
    dying.reporter = type(dying.reporter)([*dying.reporter.reporters, DieAfter(6)])
    with pytest.raises(SystemExit):
        dying.apply(PLAN)
    assert world.ops("apply") == ["a", "b"]
    second = executor_on(stored, tmp_path / "machine-2", world, clock)
    outcome = second.apply(PLAN)
    assert outcome.exit_code == 0
    assert world.ops("apply") == ["a", "b", "c"]
    types = [r.type for r in second.journal.records(outcome.run_id)]
    assert types.count("run_started") == 1 and types.count("resumed") == 1
    assert stored.locks() == []
    assert not (tmp_path / "machine-1").exists() and not (tmp_path / "machine-2").exists()
    assert [r.run_id for r in stored.journal().runs()] == [outcome.run_id]


def test_a_second_executor_on_the_same_store_gets_exit_4(
    stored: StateStore, tmp_path: Path
) -> None:
    world, clock = FakeWorld(str(tmp_path / "world.json")), VirtualClock()
    holder = stored.lock("demo/prod", "bob@runner-7", 4242)
    holder.acquire("20240101-000000-abcdef")
    with pytest.raises(LockHeld, match="bob@runner-7 \\(pid 4242\\)") as caught:
        executor_on(stored, tmp_path / "m", world, clock).apply(PLAN)
    assert caught.value.exit_code == 4
    assert world.log == []


def test_an_approval_pause_is_approved_and_resumed_through_the_store(
    stored: StateStore, tmp_path: Path
) -> None:
    world, clock = FakeWorld(str(tmp_path / "world.json")), VirtualClock()
    plan = make_plan(
        step("a"),
        step("ok", "approval", deps=("a",), params={"reason": "x"}),
        step("b", deps=("ok",)),
    )
    first = executor_on(stored, tmp_path / "m1", world, clock).apply(plan)
    assert first.exit_code == 6
    assert executor_on(stored, tmp_path / "m2", world, clock).approve(first.run_id) == ["ok"]
    resumed = executor_on(stored, tmp_path / "m3", world, clock).resume(first.run_id, Options())
    assert resumed.exit_code == 0
    assert world.ops("apply") == ["a", "b"]
