"""rollback.scope (wave | all), rollback.automatic: false, the run-end
observers, and flags in a Deployment: never left on where it rolled back."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from deployctl.actions.registry import Backend
from deployctl.commands._load import load_plan
from deployctl.core.plan import Plan
from deployctl.core.records import RunInfo
from deployctl.errors import UserError
from deployctl.execute import api
from deployctl.execute.runner import Executor, Options
from deployctl.execute.stored import stored_plan
from deployctl.testing.fake import FakeMetrics, fake_registry
from deployctl.testing.plans import Recorder, make_plan, step

ROOT = Path(__file__).resolve().parents[2]
HEALTHY = {"ErrorRate": 0.0, "Latency": 50.0}


def people_cards(**changes: Any) -> Plan:
    args = argparse.Namespace(var=[], vars_file=[], region=None)
    plan = load_plan(str(ROOT / "plans" / "people-cards.yaml"), args)
    return dataclasses.replace(plan, **changes)


def region_steps(plan: Plan, region: str) -> set[str]:
    return {s.id for s in plan.steps if s.id.startswith(f"{region}/") and "wave:" in str(s.tags)}


def undoable(plan: Plan, ids: set[str]) -> set[str]:
    return {sid for sid in ids if plan.by_id[sid].undo is not None}


def test_a_breach_in_the_last_wave_undoes_only_that_wave(make_executor, world):
    plan = people_cards()
    assert plan.rollback_scope == "wave"
    world.data["metrics"] = {"*": HEALTHY, "ap-southeast-1": {"ErrorRate": 0.5, "Latency": 50}}
    outcome = make_executor().apply(plan, Options(auto_approve=True))
    assert outcome.exit_code == 3, outcome.message
    assert "earlier waves kept" in outcome.message
    applied = set(world.ops("apply"))
    ap = region_steps(plan, "ap-southeast-1") & applied
    assert set(world.ops("undo")) == undoable(plan, ap)
    # The primary and the active-active replica keep the new version at 100%.
    for region in ("us-east-1", "eu-west-1"):
        assert f"{region}/canary/stage-2/shift" in world.state
    # ap-southeast-1's alias is back on its stable version (published versions stay).
    assert "ap-southeast-1/canary/stage-1/shift" in ap
    assert not any(sid in world.state for sid in undoable(plan, ap))
    # Nothing after the rollout ran: no routing, migration or flags.
    assert "routing/route53" not in applied


def test_scope_all_undoes_every_wave(make_executor, world):
    plan = people_cards(rollback_scope="all")
    world.data["metrics"] = {"*": HEALTHY, "ap-southeast-1": {"ErrorRate": 0.5, "Latency": 50}}
    outcome = make_executor().apply(plan, Options(auto_approve=True))
    assert outcome.exit_code == 3
    assert set(world.ops("undo")) == undoable(plan, set(world.ops("apply")))
    assert not any(plan.by_id[sid].undo for sid in world.state)


def test_a_failure_after_the_rollout_keeps_the_waves_and_undoes_what_ran_after(
    make_executor, world
):
    plan = people_cards()
    world.data["metrics"] = {"*": HEALTHY}
    world.data["fail"]["us-east-1/migration/switch_read"] = 1
    outcome = make_executor().apply(plan, Options(auto_approve=True))
    assert outcome.exit_code == 3
    undone = world.ops("undo")
    # The migration's flag goes back; every region keeps the release, and so
    # the routing records that send users to them stay (they serve those regions).
    assert undone == ["us-east-1/migration/dual_write"]
    assert "routing/route53" in world.state
    assert all(
        f"{r}/canary/stage-2/shift" in world.state
        for r in ("us-east-1", "eu-west-1", "ap-southeast-1")
    )


def test_a_failed_migration_validate_keeps_the_routing_of_regions_on_the_new_version(
    make_executor, world
):
    plan = people_cards()
    world.data["metrics"] = {"*": HEALTHY}
    world.data["fail"]["us-east-1/migration/validate"] = 1
    outcome = make_executor().apply(plan, Options(auto_approve=True))
    assert outcome.exit_code == 3, outcome.message
    assert "routing/route53" in world.state
    assert "routing/route53" not in world.ops("undo")


def test_with_scope_all_the_routing_goes_back_with_the_regions(make_executor, world):
    plan = people_cards(rollback_scope="all")
    world.data["metrics"] = {"*": HEALTHY}
    world.data["fail"]["us-east-1/migration/validate"] = 1
    outcome = make_executor().apply(plan, Options(auto_approve=True))
    assert outcome.exit_code == 3, outcome.message
    undone = world.ops("undo")
    assert "routing/route53" in undone
    # The records go back before the regions they send users to.
    assert undone.index("routing/route53") < undone.index("us-east-1/canary/stage-2/shift")


def test_without_automatic_rollback_a_failure_stops_with_exit_1_and_undoes_nothing(
    make_executor, world
):
    world.data["fail"]["b"] = 1
    plan = make_plan(
        step("a"), step("b", deps=("a",)), step("c", deps=("b",)), rollback_automatic=False
    )
    executor = make_executor()
    outcome = executor.apply(plan)
    assert (outcome.exit_code, outcome.status) == (1, "failed")
    assert "not rolled back" in outcome.message
    assert (
        str(outcome.left[0])
        == f"roll back with: deployctl rollback {outcome.run_id} --state-dir " + executor.state_dir
    )
    assert world.ops("undo") == [] and set(world.state) == {"a"}
    with pytest.raises(UserError, match="was not rolled back"):
        make_executor().apply(plan)
    with pytest.raises(UserError, match="only a paused or cut-off run resumes"):
        make_executor().resume(outcome.run_id)
    by_hand = make_executor().rollback(outcome.run_id)
    assert (by_hand.exit_code, by_hand.status) == (3, "rolled_back")
    assert "after: fake failure applying b" in by_hand.message
    assert world.ops("undo") == ["a"]


def test_without_automatic_rollback_a_resumed_run_that_failed_before_a_crash_stops_too(
    make_executor, world
):
    plan = make_plan(step("a"), step("b", deps=("a",)), rollback_automatic=False)
    executor = make_executor()
    run = executor.journal.create_run(plan, "tester", stored_plan(plan))
    executor.journal.append(run.run_id, api.DONE, step_id="a", attempt=1, data={"outputs": {}})
    executor.journal.append(run.run_id, api.FAILED, step_id="b", attempt=1, data={"error": "boom"})
    outcome = executor.apply(plan)
    assert outcome.status == "failed" and "boom (step b)" in outcome.message
    assert world.ops("undo") == []


class Observed(api.RunObserver):
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, str, float]] = []
        self.steps: list[dict[str, str]] = []
        self.fail = fail

    def run_ended(self, plan: Plan, run: RunInfo, outcome: api.Outcome, duration: float) -> None:
        self.calls.append((plan.project, outcome.status, duration))
        self.steps.append(dict(outcome.steps))
        if self.fail:
            raise RuntimeError("cloudwatch is down")


def executor_with(tmp_path, world, clock, *observers: api.RunObserver) -> Executor:
    backend = Backend(fake_registry(world), clock, FakeMetrics(world), observers=observers)
    return Executor(str(tmp_path / "state"), backend, Recorder())


@pytest.mark.parametrize(("fail", "status"), [(None, "succeeded"), ("b", "rolled_back")])
def test_observers_hear_each_ended_run_with_its_duration(tmp_path, world, clock, fail, status):
    if fail:
        world.data["fail"][fail] = 1
    seen = Observed()
    ex = executor_with(tmp_path, world, clock, seen)
    plan = make_plan(step("a", wait=120.0), step("b", deps=("a",)))
    try:
        ex.apply(plan)
    finally:
        ex.close()
    assert seen.calls == [("demo", status, 120.0)]
    # Each step's final status, for observers that report per environment.
    assert seen.steps == [
        {"a": "done", "b": "done"} if not fail else {"a": "undone", "b": "failed"}
    ]


def test_observers_are_not_told_of_a_pause_and_their_errors_change_nothing(tmp_path, world, clock):
    seen = Observed(fail=True)
    ex = executor_with(tmp_path, world, clock, seen)
    plan = make_plan(step("ok", "approval"), step("a", deps=("ok",)))
    try:
        paused = ex.apply(plan)
        assert paused.exit_code == 6 and seen.calls == []
        ex.approve(paused.run_id)
        done = ex.resume(paused.run_id)
    finally:
        ex.close()
    assert done.exit_code == 0
    assert [c[1] for c in seen.calls] == ["succeeded"]
    assert "Observed: cloudwatch is down" in ex.reporter.reporters[0].messages


FLAGGED = """\
apiVersion: deployctl/v1
kind: Deployment
metadata: {project: cards, environment: prod}
aws: {region: us-east-1}
target:
  lambda: {function: api, alias: live}
strategy: {type: canary, stages: [{traffic: 10, duration: 1m}, {traffic: 100, duration: stable}]}
store:
  ssm: {path: /cards/prod/flags}
flags:
  new-ui:
    enabled: true
    percentage: 100
    rollout:
      - {percentage: 10, duration: 1m}
      - {percentage: 100, duration: stable}
rollback:
  triggers: "ErrorRate>5%"
"""


def test_a_deployments_flags_run_after_promotion_and_are_undone_when_it_rolls_back(
    tmp_path, make_executor, world
):
    path = tmp_path / "flagged.yaml"
    path.write_text(FLAGGED, encoding="utf-8")
    plan = load_plan(str(path), argparse.Namespace(var=[], vars_file=[], region=None))
    flags = [s for s in plan.steps if s.kind == "flag.set"]
    promote = next(s for s in plan.steps if "promote" in s.tags)
    assert len(flags) == 2
    assert all(nx.has_path(plan.graph, promote.id, f.id) for f in flags)
    world.data["metrics"] = {"*": HEALTHY}
    world.data["fail"][flags[-1].id] = 1  # the flag's last stage breaks
    outcome = make_executor().apply(plan)
    assert outcome.exit_code == 3
    assert flags[0].id in world.ops("apply") and flags[0].id in world.ops("undo")
    # The deployment went back with it: the alias serves the stable version.
    assert promote.id in world.ops("undo")
    assert not any(plan.by_id[sid].undo for sid in world.state)
