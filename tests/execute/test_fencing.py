"""What the executor does when it may no longer act: too little lease left
to send a call, a lock taken from it, a journal that cannot be written, a
resource someone else changed.  It stops, sends and writes nothing more, and
the next process resumes with nothing done twice."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from deployctl.actions.registry import Backend
from deployctl.core.ports import Action, Observation, Reporter, StepRequest
from deployctl.core.records import Record
from deployctl.errors import LeaseExpiring, LockLost, ResourceChanged, StateUnavailable
from deployctl.execute.runner import Executor
from deployctl.state.sqlite import SqliteStore
from deployctl.testing.clock import VirtualClock
from deployctl.testing.fake import FakeMetrics, FakeWorld, fake_registry
from deployctl.testing.journal import FailingDisk
from deployctl.testing.plans import Recorder, make_plan, step

PLAN = make_plan(step("a"), step("b", deps=("a",)), step("c", deps=("b",)))


class On(Reporter):
    """Runs ``then`` right after the first durable record of ``type`` for ``step_id``."""

    def __init__(self, type: str, step_id: str, then: Callable[[], None]) -> None:
        self.type, self.step_id, self.then = type, step_id, then
        self.fired = False

    def record(self, record: Record) -> None:
        if not self.fired and (record.type, record.step_id) == (self.type, self.step_id):
            self.fired = True
            self.then()


def executor(
    state: Path, world: FakeWorld, *hooks: Reporter, store: SqliteStore | None = None, **kw: Any
) -> Executor:
    backend = Backend(fake_registry(world), VirtualClock(), FakeMetrics(world), hooks)
    return Executor(str(state), backend, Recorder(), store=store, **kw)


def types(state: Path, run_id: str) -> list[tuple[str, str | None]]:
    journal = SqliteStore(str(state)).journal()
    try:
        return [(r.type, r.step_id) for r in journal.records(run_id)]
    finally:
        journal.close()


def test_a_call_is_not_sent_when_too_little_of_the_lease_is_left(tmp_path: Path) -> None:
    world, state, mono = FakeWorld(str(tmp_path / "w.json")), tmp_path / "state", [0.0]

    def paused() -> None:  # the process stood still for 100 s of its 120 s lease
        mono[0] += 100.0

    ex = executor(state, world, On("intent", "b", paused), monotonic=lambda: mono[0])
    with pytest.raises(LeaseExpiring) as caught:
        ex.apply(PLAN)
    ex.close()
    assert caught.value.exit_code == 4
    assert str(caught.value).startswith(
        "lock demo/prod: 20.0 s of the lease left, less than the 45 s a call needs, so step b "
        "was not sent"
    )
    assert world.ops("apply") == ["a"]
    run_id = SqliteStore(str(state)).journal().runs()[0].run_id
    assert types(state, run_id)[-1] == ("intent", "b")  # nothing after the refusal
    again = executor(state, world)
    assert again.apply(PLAN).exit_code == 0
    again.close()
    assert world.ops("apply") == ["a", "b", "c"]


def test_a_lock_freed_under_a_running_apply_stops_its_writes_with_exit_4(tmp_path: Path) -> None:
    world, state = FakeWorld(str(tmp_path / "w.json")), tmp_path / "state"
    unlock = On("intent", "b", lambda: SqliteStore(str(state)).unlock("demo/prod"))
    ex = executor(state, world, unlock)
    with pytest.raises(LockLost, match=r"no longer held by .* \(now free\)") as caught:
        ex.apply(PLAN)
    ex.close()
    assert caught.value.exit_code == 4
    run_id = SqliteStore(str(state)).journal().runs()[0].run_id
    # b's call went out (the lease was fine) but its done record was refused.
    assert world.ops("apply") == ["a", "b"]
    assert types(state, run_id)[-1] == ("intent", "b")
    again = executor(state, world)
    outcome = again.apply(PLAN)
    again.close()
    assert outcome.exit_code == 0
    assert world.ops("apply") == ["a", "b", "c"]  # b reconciled by observe, never re-sent
    assert ("observed", "b") in types(state, run_id)


def test_a_full_disk_mid_run_stops_it_with_one_line_and_resume_continues(
    tmp_path: Path,
) -> None:
    world, state = FakeWorld(str(tmp_path / "w.json")), tmp_path / "state"
    disk = FailingDisk()
    # a's done record and b's intent share one commit (the critical path's
    # saving), so the disk fills once b's intent is durable: b's done and c's
    # intent, the next commit, are refused.
    store = SqliteStore(str(state), disk.connection)
    ex = executor(state, world, On("intent", "b", disk.fill), store=store)
    try:
        with pytest.raises(StateUnavailable) as caught:
            ex.apply(PLAN)
    finally:
        disk.full = False
        ex.close()
    message = str(caught.value)
    run_id = SqliteStore(str(state)).journal().runs()[0].run_id
    assert "\n" not in message and caught.value.exit_code == 1
    assert message == (
        f"journal {state / 'journal.sqlite'}: the disk is full (database or disk is "
        f"full); nothing recorded was lost: free space on that disk; run {run_id} stopped, then: "
        f"deployctl resume {run_id} --state-dir {state}"
    )
    assert world.ops("apply") == ["a", "b"]  # c's intent was refused, so c was not sent
    # The lock could not be freed on the full disk either.  A real apply has
    # exited by now and its lock is taken over at once (its pid is gone); this
    # test process lives on, so its lease is let run out instead.
    again = executor(state, world, wall=lambda: time.time() + 200)
    outcome = again.resume(run_id)
    again.close()
    assert outcome.exit_code == 0
    assert world.ops("apply") == ["a", "b", "c"]


class Moved(Action):
    """An action whose conditional write finds the resource changed."""

    def observe(self, request: StepRequest) -> Observation:
        return Observation(applied=False)

    def apply(self, request: StepRequest) -> dict[str, Any]:
        raise ResourceChanged("lambda-alias us-east-1 fn:live", "revision r1", "v2 100%")


def test_a_resource_changed_underneath_stops_the_run_as_stale_and_undoes_nothing(
    tmp_path: Path,
) -> None:
    world, state = FakeWorld(str(tmp_path / "w.json")), tmp_path / "state"
    ex = executor(state, world)
    ex.backend.registry.register("moved", Moved())
    plan = make_plan(step("a"), step("b", "moved", deps=("a",)), step("c", deps=("b",)))
    outcome = ex.apply(plan)
    ex.close()
    assert (outcome.status, outcome.exit_code) == ("stale", 5)
    assert "lambda-alias us-east-1 fn:live changed underneath this run" in outcome.message
    assert world.ops("apply") == ["a"] and world.ops("undo") == []
    stale = [
        r for r in SqliteStore(str(state)).journal().records(outcome.run_id) if r.type == "stale"
    ]
    assert stale[0].data == {
        "changed": {"lambda-alias us-east-1 fn:live": {"was": "revision r1", "now": "v2 100%"}}
    }
