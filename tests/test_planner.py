"""Planner semantics that golden files show but do not explain: waves,
approvals, doors, ordering, cycles."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from deployctl.core.plan import Plan, Step
from deployctl.errors import CycleError
from deployctl.manifest import LoadOptions, load_file, load_text
from deployctl.manifest.presets import Preset, parse_preset
from deployctl.plan import compile_plan
from deployctl.plan.graph import StepGraph

ROOT = Path(__file__).resolve().parents[1]


def compile_text(text: str) -> Plan:
    return compile_plan(
        load_text(textwrap.dedent(text), "plan.yaml", LoadOptions(environ={})), "plan.yaml"
    )


def ancestors(plan: Plan, step_id: str) -> set[str]:
    seen: set[str] = set()
    todo = [step_id]
    while todo:
        for dep in plan.by_id[todo.pop()].deps:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_people_cards_regions_run_in_waves() -> None:
    plan = compile_plan(load_file(str(ROOT / "plans/people-cards.yaml")), "plans/people-cards.yaml")
    eu_start = ancestors(plan, "eu-west-1/deploy/update-code")
    ap_start = ancestors(plan, "ap-southeast-1/deploy/update-code")
    # the active-active replica waits for the whole primary, the active-passive one for both
    assert "us-east-1/canary/stage-2/shift" in eu_start
    assert "eu-west-1/canary/stage-2/shift" in ap_start
    assert not any(s.startswith("ap-southeast-1/") for s in eu_start)


def test_active_active_replicas_run_in_parallel() -> None:
    plan = compile_text("""
        apiVersion: deployctl/v1
        kind: Deployment
        metadata: {project: demo, environment: prod}
        target: {lambda: {function: api, alias: live}}
        strategy: {type: all-at-once}
        regions:
          primary: us-east-1
          replicas:
            - {region: eu-west-1, replication_type: active-active}
            - {region: us-west-2, replication_type: active-active}
            - {region: ap-south-1, replication_type: active-passive}
    """)
    eu = ancestors(plan, "eu-west-1/all-at-once/shift")
    us_west = ancestors(plan, "us-west-2/all-at-once/shift")
    assert not any(s.startswith("us-west-2/") for s in eu)
    assert not any(s.startswith("eu-west-1/") for s in us_west)
    passive = ancestors(plan, "ap-south-1/deploy/publish")
    assert {"eu-west-1/all-at-once/shift", "us-west-2/all-at-once/shift"} <= passive
    # active-passive replicas go in failover priority order, then unnumbered ones
    assert plan.summary.critical_path[-1] == "ap-south-1/all-at-once/shift"


def test_failover_priority_orders_passive_regions() -> None:
    plan = compile_text("""
        apiVersion: deployctl/v1
        kind: Deployment
        metadata: {project: demo, environment: prod}
        target: {lambda: {function: api, alias: live}}
        strategy: {type: all-at-once}
        regions:
          primary: us-east-1
          replicas:
            - {region: eu-west-1, replication_type: active-passive, failover_priority: 3}
            - {region: ap-south-1, replication_type: active-passive, failover_priority: 2}
    """)
    assert "ap-south-1/all-at-once/shift" in ancestors(plan, "eu-west-1/deploy/publish")


def test_approval_waits_for_what_the_step_waited_for() -> None:
    plan = compile_text("""
        apiVersion: deployctl/v1
        kind: Deployment
        metadata: {project: demo, environment: prod}
        target: {lambda: {function: api, alias: live}}
        strategy: {preset: Canary10Percent5Minutes}
        approvals: [{before: promote}]
    """)
    approval = plan.by_id["us-east-1/approve/before-promote"]
    assert approval.deps == ("us-east-1/canary/stage-1/analysis",)
    assert plan.by_id["us-east-1/canary/stage-2/shift"].deps == (
        "us-east-1/canary/stage-1/analysis",
        "us-east-1/approve/before-promote",
    )
    assert plan.summary.approvals == ("us-east-1/approve/before-promote",)


def test_migration_cleanup_is_a_one_way_door_behind_an_approval() -> None:
    plan = compile_plan(load_file(str(ROOT / "plans/people-cards.yaml")), "plans/people-cards.yaml")
    cleanup = plan.by_id["us-east-1/migration/cleanup"]
    assert cleanup.one_way and not cleanup.reversible
    assert cleanup.deps == ("us-east-1/migration/approve-cleanup",)
    assert plan.summary.one_way_doors == ("us-east-1/migration/cleanup",)
    assert plan.summary.rollback_horizon == "us-east-1/migration/cleanup"
    assert plan.by_id["us-east-1/migration/validate"].mutating is False


def test_every_traffic_shift_says_how_it_is_undone() -> None:
    for path in sorted((ROOT / "plans").glob("*.yaml")):
        plan = compile_plan(load_file(str(path)), str(path))
        for step in plan.steps:
            if step.kind.endswith(".shift") or step.kind == "flag.set":
                assert step.undo, step.id


def test_linear_strategy_expands_to_even_steps() -> None:
    plan = compile_text("""
        apiVersion: deployctl/v1
        kind: Deployment
        metadata: {project: demo, environment: prod}
        target: {lambda: {function: api, alias: live}}
        strategy: {type: linear, step: 30, every: 1m}
    """)
    assert [s.traffic for s in plan.steps if s.kind == "lambda.shift"] == [30, 60, 90, 100]
    assert plan.summary.min_wall_seconds == 180


@pytest.mark.parametrize(
    ("name", "preset"),
    [
        ("Canary10Percent5Minutes", Preset("canary", 10, 5)),
        ("LambdaCanary10Percent30Minutes", Preset("canary", 10, 30)),
        ("CodeDeployDefault.ECSLinear10PercentEvery3Minutes", Preset("linear", 10, 3)),
        ("LambdaLinear10PercentEvery1Minute", Preset("linear", 10, 1)),
        ("LambdaAllAtOnce", Preset("all-at-once")),
        ("Canary10Percent", None),
        ("Blue", None),
    ],
)
def test_presets_parse_like_codedeploy_names(name: str, preset: Preset | None) -> None:
    assert parse_preset(name) == preset


def test_step_order_is_stable_and_follows_the_manifest() -> None:
    text = """
        apiVersion: deployctl/v1
        kind: FeatureFlags
        metadata: {project: demo, environment: prod}
        flags:
          zeta: {enabled: true}
          alpha: {enabled: false}
          mid: {enabled: true, percentage: 5}
    """
    ids = [s.id for s in compile_text(text).steps]
    assert ids == [
        "us-east-1/flags/zeta/set",
        "us-east-1/flags/alpha/set",
        "us-east-1/flags/mid/set",
    ]


def test_feature_flags_stay_watched_for_monitoring_time_after_every_flag() -> None:
    text = """
        apiVersion: deployctl/v1
        kind: FeatureFlags
        metadata: {project: demo, environment: prod}
        flags:
          a: {enabled: true}
          b:
            enabled: true
            rollout: [{percentage: 10, duration: 5m}, {percentage: 100, duration: stable}]
        metrics:
          ErrorRate: {query: {namespace: AWS/Lambda, metric: Errors, stat: Sum}}
        rollback: {triggers: "ErrorRate>5%", monitoring_time: 10m, alarms: [demo-5xx]}
    """
    plan = compile_text(text)
    watch = plan.by_id["us-east-1/flags/monitor"]
    assert watch.kind == "gate.analysis" and watch.wait == 600.0
    assert set(watch.deps) == {"us-east-1/flags/a/set", "us-east-1/flags/b/stage-2/set"}
    assert "ErrorRate>5%" in watch.description and "demo-5xx" in watch.description
    # Without monitoring_time the flags end the plan, as before.
    assert (
        "us-east-1/flags/monitor"
        not in compile_text(text.replace(", monitoring_time: 10m", "")).by_id
    )


def test_a_cycle_is_reported_once_and_spelled_out() -> None:
    graph = StepGraph("plan.yaml")
    graph.add(Step("a", "noop", "a", deps=("c",)))
    graph.add(Step("b", "noop", "b", deps=("a",)))
    graph.add(Step("c", "noop", "c", deps=("b",)))
    graph.add(Step("d", "noop", "d"))
    with pytest.raises(CycleError) as caught:
        graph.finish()
    assert len(caught.value.diagnostics) == 1
    message = caught.value.diagnostics[0].render()
    assert message.startswith("plan.yaml: error: dependency cycle: ")
    loop = message.split(": ")[-1].split(" -> ")
    assert loop[0] == loop[-1] and sorted(loop[:-1]) == ["a", "b", "c"]


def test_a_graph_lists_what_was_added_since_a_count_even_after_steps_change() -> None:
    graph = StepGraph("plan.yaml")
    graph.add(Step("a", "noop", "a"))
    count = len(graph.steps)
    graph.add(Step("b", "noop", "b"))
    graph.add(Step("c", "noop", "c"))
    graph.tag(["a", "c"], "wave:1")  # replaces steps, adds none
    graph.add_deps("b", ["a"])
    assert graph.added_since(count) == ["b", "c"]
    assert graph.added_since(0) == list(graph.steps)


def test_each_wave_s_steps_and_only_those_carry_its_tag() -> None:
    plan = compile_plan(load_file(str(ROOT / "plans/people-cards.yaml")), "plans/people-cards.yaml")
    waves = {s.id: [t for t in s.tags if t.startswith("wave:")] for s in plan.steps if s.region}
    assert waves["us-east-1/deploy/update-code"] == ["wave:1"]
    assert waves["eu-west-1/deploy/update-code"] == ["wave:2"]
    assert all(len(tags) <= 1 for tags in waves.values())


def test_pipeline_environments_run_in_order_behind_their_gates() -> None:
    plan = compile_plan(load_file(str(ROOT / "plans/media-register-pipeline.yaml")), "pipeline")
    prod_gate = plan.by_id["prod/approve"]
    assert "staging/tests/us-east-1/health" in ancestors(plan, prod_gate.id)
    assert "dev/us-east-1/blue-green/bake" in ancestors(plan, "staging/us-east-1/discover")
    # each environment's plan is rendered with its own name and vars
    assert plan.by_id["dev/us-east-1/blue-green/bake"].wait == 60
    assert plan.by_id["prod/us-east-1/blue-green/bake"].wait == 900
    assert (
        plan.by_id["staging/us-east-1/deploy/stack"].params["stack"]
        == "media-register-staging-${idle_color}"
    )


def test_plan_digest_changes_with_the_plan_and_only_then() -> None:
    base = """
        apiVersion: deployctl/v1
        kind: Deployment
        metadata: {project: demo, environment: prod}
        target: {lambda: {function: api, alias: live}}
        strategy: {type: blue-green, bake: BAKE}
    """
    assert (
        compile_text(base.replace("BAKE", "5m")).digest
        == compile_text(base.replace("BAKE", "5m")).digest
    )
    assert (
        compile_text(base.replace("BAKE", "5m")).digest
        != compile_text(base.replace("BAKE", "6m")).digest
    )
