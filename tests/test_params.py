"""deployctl/core/params.py: one params class per built-in step kind, and every
step of every example plan reads back into its class and out again unchanged
(same keys, same order), so the planner and the actions agree on the params."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest

from deployctl.core.kinds import StepKind
from deployctl.core.params import (
    PARAMS,
    AlbDrainParams,
    AlbListener,
    AlbShiftParams,
    CheckTiming,
    CommandRunParams,
    FlagSetParams,
    GateAnalysisParams,
    LambdaShiftParams,
    ParamsError,
    RdsSnapshotParams,
    SmokeHttpParams,
    SmokeLambdaParams,
    gate_timing,
    missing_policy,
)
from deployctl.manifest import LoadOptions, load_file
from deployctl.manifest import model as m
from deployctl.plan import compile_plan
from deployctl.plan.deployment import PLANNERS
from deployctl.testing.golden import case_names, run_case

ROOT = Path(__file__).parent.parent
CASES = Path(__file__).parent / "cases"


def test_every_built_in_step_kind_has_a_params_class() -> None:
    assert set(PARAMS) == set(StepKind)
    assert all(kind == cls.KIND for kind, cls in PARAMS.items())


def _plan_steps(path: Path) -> Iterator[dict[str, Any]]:
    before = os.getcwd()
    os.chdir(path.parent)
    try:
        plan = compile_plan(load_file(path.name, LoadOptions(environ={})), path.name)
    finally:
        os.chdir(before)
    yield from (step.to_json() for step in plan.steps)


def _example_steps() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted((ROOT / "plans").glob("*.yaml")):
        for step in _plan_steps(path):
            yield f"plans/{path.name}", step
    for name in case_names(CASES):
        for step in run_case(CASES / name).get("steps", ()):
            yield f"tests/cases/{name}", step


STEPS = list(_example_steps())


def test_the_examples_cover_every_built_in_step_kind() -> None:
    assert {step["kind"] for _, step in STEPS} == set(StepKind)


@pytest.mark.parametrize("kind", sorted(StepKind))
def test_every_example_step_survives_from_params_then_to_params(kind: StepKind) -> None:
    cls = PARAMS[kind]
    for where, step in STEPS:
        if step["kind"] != kind:
            continue
        params = step["params"]
        again = cls.from_params(params).to_params()
        assert list(again.items()) == list(params.items()), f"{where}: {step['id']}"


def test_a_missing_required_key_is_named_with_its_kind() -> None:
    with pytest.raises(ParamsError, match=r"lambda\.shift step params have no 'weight'"):
        LambdaShiftParams.from_params(
            {"function": "f", "alias": "live", "new_version": "2", "stable_version": "1"}
        )
    with pytest.raises(ParamsError, match=r"alb\.shift step params have no 'listener_arn'"):
        AlbShiftParams.from_params({"to": "blue", "weight": 10})
    with pytest.raises(ParamsError, match=r"flag\.set step params have no 'store\.kind'"):
        FlagSetParams.from_params({"store": {"path": "/f"}, "flag": "x", "value": {}})


def test_unknown_keys_are_ignored_and_keys_added_since_take_their_defaults() -> None:
    old = {
        "listener_arn": "arn:l",
        "blue_target_group": "arn:b",
        "green_target_group": "arn:g",
        "from": "blue",
        "retired": True,
    }
    drain = AlbDrainParams.from_params(old)
    assert (drain.target.min_healthy, drain.target.health_timeout, drain.drain) == (1, 300.0, None)
    assert drain.from_ == "blue"


def test_a_resolved_reference_keeps_the_value_the_earlier_step_returned() -> None:
    shift = LambdaShiftParams.from_params(
        {
            "function": "f",
            "alias": "live",
            "new_version": "${new_version}",
            "stable_version": "${stable_version}",
            "weight": 10,
            "alias_revision": "${alias_revision}",
        }
    )
    assert shift.new_version == "${new_version}"
    payload = {"items": [1, [2, 3]]}
    invoke = SmokeLambdaParams(function="f", payload=payload, expect=[1])
    assert SmokeLambdaParams.from_params(invoke.to_params()).payload is payload


def test_unset_optional_keys_are_left_out_as_the_planner_always_did() -> None:
    assert RdsSnapshotParams(cluster="db").to_params() == {"cluster": "db"}
    command = CommandRunParams(argv=("make", "check"), cwd="ops")
    assert command.to_params() == {"argv": ["make", "check"], "timeout": 3600.0, "cwd": "ops"}
    with_env = CommandRunParams(argv=("make",), env={"A": "1"}).to_params()
    assert list(with_env) == ["argv", "timeout", "cwd", "env"]


def test_every_target_kind_of_the_manifest_has_one_planner() -> None:
    assert set(PLANNERS) == set(get_args(m.Target))


# --- gates: what the executor's gate loop reads (execute/gates.py) --------------------


def test_planned_gates_state_the_manifests_missing_data_default() -> None:
    gates = [step["params"] for _, step in STEPS if step["kind"] == StepKind.GATE_ANALYSIS]
    assert gates
    # The planner writes the manifest's choice into every gate, its default
    # (inconclusive) included...
    assert all("missing_data" in params for params in gates)
    read = {GateAnalysisParams.from_params(params).missing_data for params in gates}
    assert read == {"inconclusive"}


def test_a_stored_gate_without_missing_data_fails_on_no_data() -> None:
    # ...so only a hand-made or old stored plan lacks the key: fail-closed.
    old = {"duration": 300.0, "interval": 60.0, "metric": "ErrorRate", "threshold": 0.01}
    timing = gate_timing(StepKind.GATE_ANALYSIS, old)
    assert timing.missing_data == "fail"
    assert missing_policy(timing) == "fail"
    stated = GateAnalysisParams(duration=60.0, missing_data="inconclusive").to_params()
    assert missing_policy(gate_timing(StepKind.GATE_ANALYSIS, stated)) == "inconclusive"


@pytest.mark.parametrize("value", ["breach", "", None, "FAIL", 0])
def test_an_unknown_missing_data_value_fails(value: object) -> None:
    timing = gate_timing(StepKind.GATE_ANALYSIS, {"duration": 60.0, "missing_data": value})
    assert missing_policy(timing) == "fail"


def test_a_gate_analysis_step_is_timed_by_its_typed_params() -> None:
    params = GateAnalysisParams(
        duration=600.0, interval=30.0, failure_limit=2, missing_data="ignore"
    )
    timing = gate_timing(StepKind.GATE_ANALYSIS, params.to_params())
    assert (timing.duration, timing.interval, timing.failure_limit) == (600.0, 30.0, 2)
    assert timing.missing_data == "ignore"
    with pytest.raises(ParamsError, match=r"gate\.analysis step params have no 'duration'"):
        gate_timing(StepKind.GATE_ANALYSIS, {"interval": 30.0})


def test_smoke_tests_have_no_timing_of_their_own_one_check_and_no_data_fails() -> None:
    smoke = SmokeHttpParams(url="https://example.com/health").to_params()
    timing = gate_timing(StepKind.SMOKE_HTTP, smoke)
    assert timing == CheckTiming()
    assert (timing.duration, timing.interval, timing.failure_limit) == (None, None, 0)
    assert missing_policy(timing) == "fail"
    lam = SmokeLambdaParams(function="f", expect={"ok": True}).to_params()
    assert gate_timing(StepKind.SMOKE_LAMBDA, lam) == CheckTiming()


def test_a_drain_is_checked_every_interval_its_params_hold() -> None:
    target = AlbListener(listener_arn="arn:l", blue_target_group="b", green_target_group="g")
    drain = AlbDrainParams(target=target, from_="blue", interval=15.0).to_params()
    assert gate_timing(StepKind.ALB_DRAIN, drain) == CheckTiming(interval=15.0)


def test_a_plugins_gate_may_carry_any_timing_key() -> None:
    params = {"duration": 90, "interval": 30, "failure_limit": 1, "missing_data": "ignore", "x": 1}
    timing = gate_timing("acme.gate", params)
    assert timing == CheckTiming(duration=90, interval=30, failure_limit=1, missing_data="ignore")
