"""A step's done record, queued for the next step's intent to commit, is
settled by the thread that runs that next step right after the intent (no
other thread wakes for it), unless the next step may read AWS before its
intent (``Action.before``): then another thread bounds the wait as before.
A failed shared commit still stops both steps and sends nothing more."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from deployctl.actions.registry import Backend
from deployctl.core.plan import Plan
from deployctl.core.ports import Action, Observation, Registry, SecretSource, StepRequest
from deployctl.errors import StateError
from deployctl.execute import context, walker
from deployctl.execute.runner import Executor
from deployctl.state.sqlite import SqliteStore
from deployctl.testing.clock import VirtualClock
from deployctl.testing.journal import FailingDisk, written
from deployctl.testing.plans import Recorder, make_plan, step

CHAIN = make_plan(step("a"), step("b", deps=("a",)), step("c", deps=("b",)))


class Applies(Action):
    """Records which thread applied each step."""

    def __init__(self) -> None:
        self.threads: dict[str, int] = {}

    def observe(self, request: StepRequest) -> Observation:
        return Observation(applied=False)

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        self.threads[request.step.id] = threading.get_ident()
        return {}


class ReadsFirst(Applies):
    def before(self, request: StepRequest) -> Mapping[str, Any] | None:
        return {}


def settles(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    action: Applies,
    plan: Plan = CHAIN,
    secrets: SecretSource | None = None,
    **kw: Any,
) -> dict[str, int]:
    """Which thread settled each step's queued done record."""
    seen: dict[str, int] = {}
    real = walker.Walker._settle

    def spy(self: walker.Walker, step_id: str, early: Any, **kw: Any) -> None:
        seen[step_id] = threading.get_ident()
        real(self, step_id, early, **kw)

    monkeypatch.setattr(walker.Walker, "_settle", spy)
    registry = Registry()
    registry.register("noop", action)
    if secrets is not None:
        registry.register_secrets("ssm", secrets)
    state = tmp_path / "state"
    ex = Executor(str(state), Backend(registry, VirtualClock()), Recorder(), **kw)
    try:
        assert ex.apply(plan).exit_code == 0
    finally:
        ex.close()
    return seen


def test_the_next_step_s_thread_settles_the_record_its_intent_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bound, not a wait: generous so a loaded machine cannot split the pair.
    monkeypatch.setattr(context, "DEFER_GRACE", 10.0)
    action = Applies()
    seen = settles(tmp_path, monkeypatch, action)
    assert seen == {"a": action.threads["b"], "b": action.threads["c"]}


def test_a_next_step_that_reads_first_leaves_the_record_to_another_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    action = ReadsFirst()
    seen = settles(tmp_path, monkeypatch, action)
    assert set(seen) == {"a", "b"}
    assert seen["a"] != action.threads["b"] and seen["b"] != action.threads["c"]


def test_a_failed_shared_commit_stops_both_steps_and_sends_nothing_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(context, "DEFER_GRACE", 10.0)
    action = Applies()
    state = tmp_path / "state"
    registry = Registry()
    registry.register("noop", action)
    # The commit that holds a's done record and b's intent fails.
    disk = FailingDisk(
        lambda sql, args: ("intent", "b") in written(sql, args), full=True, error="disk I/O error"
    )
    store = SqliteStore(str(state), disk.connection)
    ex = Executor(str(state), Backend(registry, VirtualClock()), Recorder(), store=store)
    try:
        with pytest.raises(StateError, match="disk I/O error"):
            ex.apply(CHAIN)
    finally:
        ex.close()
    assert list(action.threads) == ["a"]  # b was never sent
    journal = SqliteStore(str(state)).journal()
    try:
        [run] = journal.runs()
        assert [(r.type, r.step_id) for r in journal.records(run.run_id)] == [
            ("run_started", None),
            ("intent", "a"),
        ]
    finally:
        journal.close()


class Finished(Recorder):
    """Which thread reported each step's end."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: dict[str, int] = {}

    def step_finished(self, step: Any, result: Any) -> None:
        super().step_finished(step, result)
        self.threads[step.id] = threading.get_ident()


def test_that_thread_also_reports_the_step_finished_without_waking_the_main_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(context, "DEFER_GRACE", 10.0)
    action, finished = Applies(), Finished()
    registry = Registry()
    registry.register("noop", action)
    state = tmp_path / "state"
    ex = Executor(str(state), Backend(registry, VirtualClock()), finished)
    try:
        assert ex.apply(CHAIN).exit_code == 0
    finally:
        ex.close()
    assert finished.threads["a"] == action.threads["b"]
    assert finished.threads["b"] == action.threads["c"]
    main = threading.get_ident()
    assert finished.threads["c"] == main  # the last step's end: the main loop, as before


class Secrets(SecretSource):
    def read(self, name: str, region: str | None) -> str:
        return "s3cr3t-value"


def test_a_next_step_with_a_secret_to_read_leaves_the_record_to_another_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    action = Applies()
    plan = make_plan(
        step("a"),
        step("b", deps=("a",), params={"password": "${ssm:/db/password}"}),
        step("c", deps=("b",)),
    )
    seen = settles(tmp_path, monkeypatch, action, plan, Secrets())
    assert seen["a"] != action.threads["b"]  # b may read SSM before its intent
    assert seen["b"] == action.threads["c"]
