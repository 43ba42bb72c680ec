"""A shift whose call landed but whose done record did not (the process died
in between) is reconciled by ``observe`` on resume; if the run then rolls
back, undo must restore the weights that were there before the shift, read
ahead of the first intent (``Action.before``), not guess "100% on the other
side".  Real ALB and Route 53 actions on in-process moto, the real executor."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from deployctl.actions.alb import register
from deployctl.actions.aws import Clients
from deployctl.actions.registry import Backend
from deployctl.core.plan import Plan, Step
from deployctl.core.ports import Action, Observation, Registry, StepRequest
from deployctl.execute.runner import Executor
from deployctl.testing.aws import REGION, request
from deployctl.testing.clock import VirtualClock
from deployctl.testing.worlds import alb
from deployctl.testing.worlds.alb import params, weights


class Died(BaseException):
    """The process is gone: nothing after the call runs, nothing is journaled."""


class DiesAfterCall(Action):
    def __init__(self, real: Action) -> None:
        self.real = real

    def before(self, request: StepRequest) -> Mapping[str, Any] | None:
        return self.real.before(request)

    def observe(self, request: StepRequest) -> Observation:
        return self.real.observe(request)

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        self.real.apply(request)
        raise Died


class Fails(Action):
    def observe(self, request: StepRequest) -> Observation:
        return Observation(False)

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        raise RuntimeError("smoke test failed")


@pytest.fixture
def lb(clients: Clients) -> dict[str, Any]:
    return alb.build(clients)


def plan_for(lb: dict[str, Any]) -> Plan:
    shift = Step(
        id=f"{REGION}/switch",
        kind="alb.shift",
        description="all to green",
        params=params(lb, to="green", weight=100),
        region=REGION,
        undo="put the previous weights back",
    )
    check = Step(
        id=f"{REGION}/check",
        kind="test.fails",
        description="check",
        deps=(shift.id,),
        region=REGION,
    )
    return Plan("Deployment", "web", "prod", "web.yaml", (shift, check))


def executor(clients: Clients, state: Path, *, dies: bool) -> Executor:
    registry = Registry()
    register(registry, clients)
    if dies:
        registry.register("alb.shift", DiesAfterCall(registry.get("alb.shift")), replace=True)
    registry.register("test.fails", Fails())
    return Executor(str(state), Backend(registry, VirtualClock()))


def test_undo_of_a_shift_reconciled_after_a_crash_restores_the_weights_it_replaced(
    clients: Clients, lb: dict[str, Any], tmp_path: Path
) -> None:
    # A standing experiment: 20% of traffic already on green.
    setup = Registry()
    register(setup, clients)
    setup.get("alb.shift").apply(request("alb.shift", params(lb, to="green", weight=20)))
    assert weights(lb) == {"blue": 80, "green": 20}
    plan = plan_for(lb)

    first = executor(clients, tmp_path, dies=True)
    try:
        try:
            first.apply(plan)
        except Died:
            pass
        else:
            raise AssertionError("the first process should have died after the call")
    finally:
        first.close()
    assert weights(lb) == {"blue": 0, "green": 100}  # the call landed; no done record

    second = executor(clients, tmp_path, dies=False)
    try:
        outcome = second.apply(plan)
    finally:
        second.close()

    assert outcome.exit_code == 3, outcome  # the check failed and the run rolled back
    assert weights(lb) == {"blue": 80, "green": 20}
