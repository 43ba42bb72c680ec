"""Gates: checks every interval, failure_limit, missing data, triggers."""

from __future__ import annotations

from contextlib import closing
from dataclasses import replace
from typing import Any

from deployctl.actions.common import CheckAction
from deployctl.actions.registry import Backend
from deployctl.core.params import SmokeHttpParams
from deployctl.core.plan import MetricDef, MetricQuery, Plan
from deployctl.core.ports import NO_DATA, CheckResult, StepRequest
from deployctl.execute.runner import Executor
from deployctl.execute.stored import plan_from_json, stored_plan
from deployctl.testing.fake import FakeMetrics, fake_registry
from deployctl.testing.plans import Recorder, make_plan, step

METRICS = {
    "ErrorRate": MetricDef(
        "ErrorRate",
        numerator=MetricQuery(
            "AWS/Lambda", "Errors", "Sum", (("ExecutedVersion", "${new_version}"),)
        ),
        denominator=MetricQuery("AWS/Lambda", "Invocations", "Sum"),
    ),
    "Latency": MetricDef("Latency", query=MetricQuery("AWS/Lambda", "Duration", "p99"), unit="ms"),
}
TRIGGERS = [
    {"metric": "ErrorRate", "op": ">", "value": 0.05, "unit": "%", "text": "ErrorRate>5%"},
    {"metric": "Latency", "op": ">", "value": 1000.0, "unit": "ms", "text": "Latency>1000ms"},
]


def gate_plan(**params: Any):
    gate = {
        "duration": 300.0,
        "interval": 60.0,
        "metric": "ErrorRate",
        "threshold": 0.01,
        "failure_limit": 0,
        "missing_data": "fail",
        "triggers": TRIGGERS,
        "metrics": ["ErrorRate", "Latency"],
        **params,
    }
    return make_plan(
        step(
            "pub",
            "lambda.publish",
            params={"function": "f"},
            outputs=("new_version", "stable_version"),
        ),
        step(
            "shift",
            "lambda.shift",
            deps=("pub",),
            region="r1",
            params={"new_version": "${new_version}"},
        ),
        step(
            "gate",
            "gate.analysis",
            deps=("shift",),
            region="r1",
            params=gate,
            wait=gate["duration"],
        ),
        step("promote", "lambda.shift", deps=("gate",), region="r1"),
        metrics=METRICS,
    )


def set_metrics(world, **values: Any) -> None:
    world.data["metrics"]["r1"] = values


def checks(executor) -> list[dict[str, Any]]:
    (run,) = executor.journal.runs()
    return [dict(r.data) for r in executor.journal.records(run.run_id) if r.type == "check"]


def test_a_healthy_gate_checks_every_interval_for_its_duration(make_executor, world, clock):
    set_metrics(world, ErrorRate=0.001, Latency=120)
    executor = make_executor()
    assert executor.apply(gate_plan()).exit_code == 0
    assert [c["status"] for c in checks(executor)] == ["pass"] * 5
    assert clock.slept == [60.0] * 5
    assert world.ops("apply")[-1] == "promote"


def test_one_fetch_per_check_covers_every_metric_with_references_resolved(make_executor, world):
    set_metrics(world, ErrorRate=0.001, Latency=120)
    executor = make_executor()
    executor.apply(gate_plan(duration=120.0))
    fetches = executor.backend.metrics.fetches
    assert fetches == [("r1", ("ErrorRate", "Latency"))] * 2


def test_a_check_over_threshold_fails_the_gate_and_rolls_back(make_executor, world):
    set_metrics(world, ErrorRate=[0.001, 0.02], Latency=120)
    executor = make_executor()
    outcome = executor.apply(gate_plan())
    assert outcome.exit_code == 3
    assert [c["status"] for c in checks(executor)] == ["pass", "fail"]
    assert "promote" not in world.ops("apply")
    assert world.ops("undo") == ["shift", "pub"]


def test_failure_limit_tolerates_that_many_failed_checks(make_executor, world):
    set_metrics(world, ErrorRate=[0.02, 0.02, 0.001], Latency=120)
    assert make_executor().apply(gate_plan(failure_limit=2)).exit_code == 0


def test_failure_limit_fails_when_failed_checks_exceed_it(make_executor, world):
    set_metrics(world, ErrorRate=[0.02, 0.02, 0.02, 0.001], Latency=120)
    executor = make_executor()
    assert executor.apply(gate_plan(failure_limit=2)).exit_code == 3
    assert len(checks(executor)) == 3


def test_a_tripped_trigger_fails_at_once_whatever_the_failure_limit(make_executor, world):
    set_metrics(world, ErrorRate=0.001, Latency=[100, 1500])
    executor = make_executor()
    outcome = executor.apply(gate_plan(failure_limit=10))
    assert outcome.exit_code == 3
    assert checks(executor)[-1]["tripped"] == ["Latency>1000ms"]
    assert "Latency>1000ms" in outcome.message


def test_missing_data_fail_counts_as_a_failed_check(make_executor, world):
    set_metrics(world, ErrorRate=None, Latency=120)
    executor = make_executor()
    assert executor.apply(gate_plan(missing_data="fail")).exit_code == 3
    assert checks(executor)[0]["status"] == "no_data"


def test_missing_data_is_never_a_silent_pass_even_with_no_series_at_all(make_executor, world):
    executor = make_executor()
    assert executor.apply(gate_plan(missing_data="fail")).exit_code == 3


def test_missing_data_ignore_skips_the_check(make_executor, world):
    set_metrics(world, ErrorRate=[None, None, 0.001], Latency=120)
    assert make_executor().apply(gate_plan(missing_data="ignore")).exit_code == 0


def test_inconclusive_pauses_for_a_person_who_can_let_it_pass(make_executor, world):
    set_metrics(world, ErrorRate=[0.001, None], Latency=120)
    executor = make_executor()
    outcome = executor.apply(gate_plan(missing_data="inconclusive"))
    assert outcome.exit_code == 6
    assert any("approve" in str(line) and "gate" in str(line) for line in outcome.left)
    assert world.ops("apply") == ["pub", "shift"]
    assert executor.approve(outcome.run_id) == ["gate"]
    assert make_executor().resume(outcome.run_id).exit_code == 0
    assert world.ops("apply") == ["pub", "shift", "promote"]


def test_a_resumed_gate_restarts_its_window(make_executor, world, clock):
    set_metrics(world, ErrorRate=[0.001, 0.001, None, 0.001], Latency=120)
    executor = make_executor()
    first = executor.apply(gate_plan(missing_data="inconclusive"))
    assert first.exit_code == 6
    clock.slept.clear()
    # Not approved: the next apply watches the gate from the start again.
    assert make_executor().apply(gate_plan(missing_data="inconclusive")).exit_code == 0
    assert clock.slept == [60.0] * 5


def test_smoke_checks_are_gates_too(make_executor, world):
    world.data["fail_check"]["smoke"] = 1
    plan = make_plan(
        step("a"), step("smoke", "smoke.http", deps=("a",)), step("b", deps=("smoke",))
    )
    assert make_executor().apply(plan).exit_code == 3
    assert world.ops("apply") == ["a"]


def old_gate_plan(*before: Any, **params: Any):
    """``gate_plan`` as a plan written without ``missing_data`` stores it (a
    hand-made plan; one saved or journaled by a deployctl that omitted it)."""
    plan = gate_plan(**params)
    steps = []
    for s in plan.steps:
        if s.id != "gate":
            steps.append(s)
            continue
        kept = {k: v for k, v in s.params.items() if k != "missing_data"}
        steps.append(replace(s, params=kept, deps=(*s.deps, *before)))
    return replace(plan, steps=tuple(steps))


def test_a_stored_gate_without_missing_data_fails_on_no_data(make_executor, world):
    set_metrics(world, ErrorRate=None, Latency=120)
    stored = stored_plan(old_gate_plan())
    assert "missing_data" not in next(s for s in stored["steps"] if s["id"] == "gate")["params"]
    plan = plan_from_json(stored, "plans/demo.yaml", Plan.from_json(stored, "x").digest)
    executor = make_executor()
    assert executor.apply(plan).exit_code == 3  # failed and rolled back: not paused, not passed
    assert [c["status"] for c in checks(executor)] == ["no_data"]
    assert checks(executor)[0]["policy"] == "fail"
    assert "promote" not in world.ops("apply")


def test_a_journaled_run_without_missing_data_resumes_into_a_failing_gate(make_executor, world):
    set_metrics(world, ErrorRate=None, Latency=120)
    base = old_gate_plan("ok")
    plan = replace(base, steps=(step("ok", "approval"), *base.steps))
    executor = make_executor()
    paused = executor.apply(plan)
    assert paused.exit_code == 6  # at the approval, before the gate
    assert executor.approve(paused.run_id, "ok") == ["ok"]
    # resume reads the plan back from the journal
    resumed = make_executor().resume(paused.run_id)
    assert resumed.exit_code == 3
    assert [c["policy"] for c in checks(executor)] == ["fail"]


def test_an_unknown_missing_data_value_fails_on_no_data(make_executor, world):
    set_metrics(world, ErrorRate=None, Latency=120)
    executor = make_executor()
    # "breach" was never a value (fail | inconclusive | ignore): not a pass, not a pause
    assert executor.apply(gate_plan(missing_data="breach")).exit_code == 3
    assert checks(executor)[0]["policy"] == "fail"


class NoData(CheckAction):
    """A check that never has data (a smoke test, a plugin's gate)."""

    def check(self, request: StepRequest) -> CheckResult:
        return CheckResult(NO_DATA, detail="nothing yet")


def no_data_executor(tmp_path, world, clock, kind: str) -> Executor:
    registry = fake_registry(world)
    registry.register(kind, NoData(), replace=True)
    backend = Backend(registry, clock, FakeMetrics(world))
    return Executor(str(tmp_path / "state"), backend, reporter=Recorder())


def test_a_smoke_check_with_no_data_fails_it(tmp_path, world, clock):
    smoke = SmokeHttpParams(url="https://example.com/health").to_params()
    plan = make_plan(
        step("a"),
        step("smoke", "smoke.http", deps=("a",), params=smoke),
        step("b", deps=("smoke",)),
    )
    with closing(no_data_executor(tmp_path, world, clock, "smoke.http")) as executor:
        assert executor.apply(plan).exit_code == 3
        assert [(c["policy"], c["window"]) for c in checks(executor)] == [("fail", 0.0)]
    assert world.ops("apply") == ["a"]


def test_a_plugins_gate_is_timed_by_its_own_params(tmp_path, world, clock):
    params = {"duration": 180.0, "interval": 60.0, "missing_data": "ignore"}
    plan = make_plan(step("a"), step("g", "acme.gate", deps=("a",), params=params, mutating=False))
    with closing(no_data_executor(tmp_path, world, clock, "acme.gate")) as executor:
        assert executor.apply(plan).exit_code == 0
        assert [c["policy"] for c in checks(executor)] == ["ignore"] * 3
    assert clock.slept == [60.0] * 3
