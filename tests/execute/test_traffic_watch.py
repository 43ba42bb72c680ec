"""Traffic is never unwatched: gates read a team's own alarms, a paused run
judges its pause before going on, ``--wait-for-approval`` keeps watching,
and a rollback lets the side it emptied drain before the next undo."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from deployctl.actions.registry import Backend
from deployctl.core.plan import MetricDef, MetricQuery, Plan
from deployctl.core.ports import StepRequest
from deployctl.execute import api
from deployctl.execute.runner import Executor, Options
from deployctl.testing.clock import VirtualClock
from deployctl.testing.fake import FakeAction, FakeMetrics, FakeWorld, fake_registry
from deployctl.testing.plans import Recorder, make_plan, step

R = "us-east-1"
ERROR_RATE = MetricDef("ErrorRate", query=MetricQuery("App", "ErrorRate", "Average"))
TRIGGER = {"metric": "ErrorRate", "op": ">", "value": 0.05, "unit": "%", "text": "ErrorRate>5%"}


def gate(sid: str, deps: tuple[str, ...], traffic: int, **params: Any) -> Any:
    return step(
        sid,
        "gate.analysis",
        deps,
        region=R,
        traffic=traffic,
        wait=60.0,
        params={
            "duration": 60.0,
            "interval": 60.0,
            "triggers": [TRIGGER],
            "metrics": ["ErrorRate"],
            "missing_data": "ignore",
            **params,
        },
    )


def canary(*, alarms: tuple[str, ...] = ()) -> Plan:
    """10% behind a gate, an approval, then 100%."""
    extra = {"alarms": list(alarms)} if alarms else {}
    return make_plan(
        step(f"{R}/shift-1", region=R, traffic=10),
        gate(f"{R}/analysis", (f"{R}/shift-1",), 10, **extra),
        step(f"{R}/approve", "approval", (f"{R}/analysis",), region=R),
        step(f"{R}/shift-2", deps=(f"{R}/approve",), region=R, traffic=100),
        metrics={"ErrorRate": ERROR_RATE},
    )


class Hooked(VirtualClock):
    """A virtual clock that runs ``hook`` once, during the wait that reaches ``at``."""

    def __init__(self) -> None:
        super().__init__()
        self.at: float | None = None
        self.hook: Callable[[], None] | None = None

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        # The hook happens during this wait: before it ends, so it can cut it short.
        if self.hook is not None and self.at is not None and self.now() + seconds >= self.at:
            hook, self.hook = self.hook, None
            hook()
        return super().sleep(seconds, cancel)


@pytest.fixture
def hooked() -> Hooked:
    return Hooked()


@pytest.fixture
def executor(tmp_path: Path, world: FakeWorld, hooked: Hooked) -> Callable[..., Executor]:
    def make(registry: Any = None) -> Executor:
        backend = Backend(registry or fake_registry(world), hooked, FakeMetrics(world))
        return Executor(str(tmp_path / "state"), backend, Recorder())

    return make


def healthy(world: FakeWorld, rate: float = 0.0) -> None:
    world.data["metrics"]["*"] = {"ErrorRate": rate}


# --- gates on existing CloudWatch alarms -----------------------------------------------


@pytest.mark.parametrize(
    ("alarms", "code", "why"),
    [
        ({"api-5xx": "OK"}, 6, None),
        ({"api-5xx": "ALARM"}, 3, "alarm api-5xx in ALARM"),
        ({}, 3, "alarm api-5xx does not exist"),
    ],
)
def test_a_gate_fails_on_an_alarm_in_alarm_and_on_a_missing_one(
    executor: Callable[..., Executor],
    world: FakeWorld,
    alarms: dict[str, str],
    code: int,
    why: str | None,
) -> None:
    healthy(world)
    world.data["alarms"] = alarms
    outcome = executor().apply(canary(alarms=("api-5xx",)))
    assert outcome.exit_code == code, outcome.message
    if why:
        assert f"rollback trigger tripped: {why}" in outcome.message
        assert world.ops("undo") == [f"{R}/shift-1"]


# --- a paused run judges its pause -------------------------------------------------------


def paused_at_the_approval(executor: Callable[..., Executor], world: FakeWorld) -> str:
    healthy(world)
    outcome = executor().apply(canary())
    assert outcome.exit_code == 6, outcome.message
    return outcome.run_id


def test_resume_rolls_back_when_a_trigger_tripped_while_the_run_was_paused(
    executor: Callable[..., Executor], world: FakeWorld, hooked: Hooked
) -> None:
    rid = paused_at_the_approval(executor, world)
    healthy(world, 0.5)  # the 10% on the new version went bad overnight
    hooked.advance(8 * 3600)
    ex = executor()
    ex.approve(rid)
    outcome = ex.resume(rid)
    assert outcome.exit_code == 3, outcome.message
    assert "rollback trigger tripped while the run was paused (8h unwatched)" in outcome.message
    assert world.ops("undo") == [f"{R}/shift-1"]
    assert f"{R}/shift-2" not in world.ops("apply")
    checks = [r for r in ex.journal.records(rid) if r.type == api.CHECK]
    assert checks[-1].data["paused_window"] == 8 * 3600.0


def test_resume_goes_on_when_the_paused_window_was_healthy(
    executor: Callable[..., Executor], world: FakeWorld, hooked: Hooked
) -> None:
    rid = paused_at_the_approval(executor, world)
    hooked.advance(600)
    ex = executor()
    ex.approve(rid)
    outcome = ex.resume(rid)
    assert outcome.exit_code == 0, outcome.message
    assert any("checked the 10m the run was paused" in m for m in ex.reporter.reporters[0].messages)


# --- apply --wait-for-approval ------------------------------------------------------------


def test_waiting_for_approval_goes_on_as_soon_as_someone_approves(
    executor: Callable[..., Executor], world: FakeWorld, hooked: Hooked
) -> None:
    healthy(world)
    start = hooked.now()
    hooked.at = start + 30 * 60

    def approve() -> None:
        other = executor()
        other.approve(other.journal.runs()[0].run_id)
        other.close()

    hooked.hook = approve
    outcome = executor().apply(canary(), Options(wait_for_approval=4 * 3600))
    assert outcome.exit_code == 0, outcome.message
    assert world.ops("apply") == [f"{R}/shift-1", f"{R}/shift-2"]
    # Went on within one poll of the approval, not at the end of the four hours.
    assert hooked.now() - start < 30 * 60 + 60 + 15


def test_waiting_for_approval_rolls_back_when_a_trigger_trips_meanwhile(
    executor: Callable[..., Executor], world: FakeWorld, hooked: Hooked
) -> None:
    healthy(world)
    hooked.at = hooked.now() + 20 * 60
    hooked.hook = lambda: healthy(world, 0.5)
    outcome = executor().apply(canary(), Options(wait_for_approval=3600))
    assert outcome.exit_code == 3, outcome.message
    assert "tripped while the run was paused" in outcome.message
    assert world.ops("undo") == [f"{R}/shift-1"]


def test_waiting_for_approval_pauses_with_exit_6_when_nobody_approves(
    executor: Callable[..., Executor], world: FakeWorld, hooked: Hooked
) -> None:
    healthy(world)
    start = hooked.now()
    outcome = executor().apply(canary(), Options(wait_for_approval=3600))
    assert outcome.exit_code == 6, outcome.message
    assert 3600 <= hooked.now() - start < 3600 + 120
    assert world.ops("undo") == []


# --- a rollback drains the side it emptied ---------------------------------------------------


class Draining(FakeAction):
    def undo(self, request: StepRequest, outputs: Mapping[str, Any]) -> Mapping[str, Any]:
        super().undo(request, outputs)
        return {"drain_seconds": 120.0}


def test_a_rollback_waits_for_the_emptied_side_to_drain_before_the_next_undo(
    executor: Callable[..., Executor], world: FakeWorld, hooked: Hooked
) -> None:
    registry = fake_registry(world)
    registry.register("shift", Draining(world))
    world.data["fail"]["after"] = 1
    plan = make_plan(
        step("stack"), step("switch", "shift", ("stack",)), step("after", deps=("switch",))
    )
    # The process is interrupted during the drain: the drain is waited again, whole.
    hooked.at = hooked.now() + 1
    first = executor(registry)
    hooked.hook = first.interrupt
    cut = first.apply(plan)
    assert cut.exit_code == 130, cut.message
    assert world.ops("undo") == ["switch"]
    done = executor(registry).resume(cut.run_id)
    assert done.exit_code == 3, done.message
    assert world.ops("undo") == ["switch", "stack"]
    records = executor(registry).journal.records(cut.run_id)
    kinds = [(r.type, r.step_id) for r in records if r.step_id in ("switch", "stack")]
    assert kinds[-4:] == [
        ("undone", "switch"),
        ("drained", "switch"),
        ("undo_intent", "stack"),
        ("undone", "stack"),
    ]
    assert hooked.slept.count(120.0) == 2
