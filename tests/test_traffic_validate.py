"""What ``validate`` refuses for traffic safety, each at the line to fix, and
what the planner makes of the shapes it accepts."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from deployctl.cli import main
from deployctl.commands._load import load_plan
from deployctl.core.plan import Plan

ROOT = Path(__file__).resolve().parents[1]

HEAD = """\
apiVersion: deployctl/v1
kind: Deployment
metadata: {project: cards, environment: prod}
target:
  lambda: {function: api, alias: live}
"""
REGIONS = """\
regions:
  primary: us-east-1
  replicas:
    - {region: eu-west-1, replication_type: active-active, latency_threshold: 100ms}
    - {region: ap-southeast-1, replication_type: %s, failover_priority: 2}
  routing:
    route53:
      hosted_zone_id: Z1
      record_name: api.example.com
      policy: %s
      value: "api.${region}.example.com"
"""
CANARY = """\
strategy:
  type: canary
  stages:
    - {traffic: 10, duration: 5m, metric_threshold: 0.01}
    - {traffic: 100, duration: stable, metric_threshold: 0.02}
"""


def check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    code = main(["validate", str(path)])
    return code, capsys.readouterr().err


def compile_text(tmp_path: Path, text: str, name: str = "plan.yaml") -> Plan:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_plan(str(path), argparse.Namespace(var=[], vars_file=[], region=None))


def test_the_seeds_failover_regions_compile_to_a_shape_route53_accepts(tmp_path: Path) -> None:
    text = HEAD + "strategy: {type: all-at-once}\n" + REGIONS % ("active-passive", "failover")
    text += "metrics:\n  Latency: {query: {namespace: A, metric: D, stat: Maximum}, unit: ms}\n"
    routing = compile_text(tmp_path, text).by_id["routing/route53"]
    assert routing.params["layout"] == {
        "active": ["us-east-1", "eu-west-1"],
        "standby": "ap-southeast-1",
        "active_name": "active.api.example.com",
    }
    # The PRIMARY side always gets health checks (created here: none named).
    checks = routing.params["health_checks"]
    assert sorted(checks) == ["eu-west-1", "us-east-1"]
    assert checks["us-east-1"] == {"create": {"type": "HTTPS", "port": 443, "path": "/"}}
    assert "SECONDARY -> ap-southeast-1" in routing.description
    assert {"serves:us-east-1", "serves:eu-west-1", "serves:ap-southeast-1"} <= set(routing.tags)


@pytest.mark.parametrize(
    ("kind", "policy", "message"),
    [
        ("active-active", "failover", "none of the 2 replicas is active-passive"),
        ("active-active", "geolocation", None),
    ],
)
def test_failover_needs_one_standby(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, policy: str, message: str | None
) -> None:
    text = HEAD + "strategy: {type: all-at-once}\n" + REGIONS % (kind, policy)
    text += "metrics:\n  Latency: {query: {namespace: A, metric: D, stat: Maximum}, unit: ms}\n"
    code, err = check(tmp_path, text, capsys)
    if message is None:
        assert (code, err) == (0, "")
        return
    assert code == 1
    assert ":16:15: error: regions.routing.route53.policy: failover routing sends" in err
    assert message in err


def test_failover_with_two_standbys_and_geolocation_on_one_continent_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    two = (
        HEAD
        + "strategy: {type: all-at-once}\n"
        + """\
regions:
  primary: us-east-1
  replicas:
    - {region: eu-west-1, replication_type: active-passive, failover_priority: 1}
    - {region: ap-southeast-1, replication_type: active-passive, failover_priority: 2}
    - {region: us-west-2, replication_type: active-active}
  routing:
    route53: {hosted_zone_id: Z1, record_name: api.example.com, policy: failover,
              value: "api.${region}.example.com"}
"""
    )
    code, err = check(tmp_path, two, capsys)
    assert code == 1 and "eu-west-1, ap-southeast-1 are all active-passive" in err
    geo = two.replace("policy: failover", "policy: geolocation")
    code, err = check(tmp_path, geo, capsys)
    assert code == 1
    assert "us-east-1 and us-west-2 are both in continent NA" in err
    assert "use latency routing" in err


def test_the_last_stages_threshold_needs_the_watch_after_promotion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = check(tmp_path, HEAD + CANARY, capsys)
    assert code == 1
    assert (
        ":10:58: error: strategy.stages[1].metric_threshold: metric_threshold gates nothing" in err
    )
    assert "rollback.monitoring_time, which is not set" in err
    watched = HEAD + CANARY + "rollback: {monitoring_time: 10m}\n"
    monitor = compile_text(tmp_path, watched).by_id["us-east-1/monitor"]
    assert (monitor.params["metric"], monitor.params["threshold"]) == ("ErrorRate", 0.02)


def test_a_blue_green_threshold_without_a_bake_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = check(
        tmp_path, HEAD + "strategy: {type: blue-green, metric_threshold: 0.05}\n", capsys
    )
    assert code == 1 and "strategy.metric_threshold: metric_threshold gates nothing" in err


def test_a_flag_rollouts_stable_last_stage_cannot_carry_a_threshold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = """\
apiVersion: deployctl/v1
kind: FeatureFlags
metadata: {project: cards, environment: prod}
flags:
  ui:
    rollout:
      - {percentage: 10, duration: 1m, metric_threshold: 0.01}
      - {percentage: 100, duration: stable, metric_threshold: 0.01}
metrics:
  ErrorRate: {query: {namespace: A, metric: E, stat: Average}}
"""
    code, err = check(tmp_path, text, capsys)
    assert code == 1 and "flags.ui.rollout[1].metric_threshold: metric_threshold gates" in err


def test_alarms_gate_every_stage_and_the_monitor(tmp_path: Path) -> None:
    text = (
        HEAD
        + """\
strategy:
  type: canary
  stages:
    - {traffic: 10, duration: 5m, alarms: [api-5xx]}
    - {traffic: 100, duration: stable, alarms: [api-latency]}
rollback:
  alarms: [api-errors]
  monitoring_time: 10m
"""
    )
    plan = compile_text(tmp_path, text)
    assert plan.by_id["us-east-1/canary/stage-1/analysis"].params["alarms"] == [
        "api-errors",
        "api-5xx",
    ]
    assert plan.by_id["us-east-1/monitor"].params["alarms"] == ["api-errors", "api-latency"]
    assert (
        "alarm(s) api-errors, api-latency not in ALARM"
        in plan.by_id["us-east-1/monitor"].description
    )


def test_monitor_actions_are_wired_and_an_action_without_a_topic_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        HEAD
        + """\
strategy: {type: all-at-once}
monitoring:
  actions: {page: "arn:aws:sns:us-east-1:123456789012:pager"}
  alarms:
    rollback_frequency: {metric: RollbackCount, threshold: 2, period: 1h, action: page}
    deployment_duration: {metric: DeploymentDuration, threshold: 900, action: warn}
"""
    )
    code, err = check(tmp_path, text, capsys)
    assert code == 1
    assert "monitoring.alarms.deployment_duration.action: action 'warn' has no SNS topic" in err
    fixed = text.replace("action: warn}", "action: page}")
    step = compile_text(tmp_path, fixed).by_id["monitoring/alarms"]
    assert step.params["actions"] == {"page": "arn:aws:sns:us-east-1:123456789012:pager"}


APP = """\
apiVersion: deployctl/v1
kind: Deployment
metadata: {project: web, environment: any}
vars: {listener: "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/1/2"}
target:
  alb:
    listener_arn: "{{ listener }}"
    blue_target_group: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/b/1"
    green_target_group: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/g/1"
strategy: {type: blue-green}
"""


def test_a_pipeline_whose_environments_share_a_listener_is_refused_naming_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "app.yaml").write_text(APP, encoding="utf-8")
    pipeline = """\
apiVersion: deployctl/v1
kind: Pipeline
metadata: {project: web}
plan: app.yaml
environments:
  - {name: dev}
  - {name: prod, vars: {listener: "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/1/3"}}
  - {name: staging}
"""
    code, err = check(tmp_path, pipeline, capsys)
    assert code == 1
    assert err.count("error:") == 1
    assert (
        ":8:12: error: environments[2].name: environments 'dev' and 'staging' would both "
        "shift listener arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/1/2"
        in err
    )


def test_the_shipped_pipeline_gives_each_environment_its_own_listener() -> None:
    plan = load_plan(
        str(ROOT / "plans" / "media-register-pipeline.yaml"),
        argparse.Namespace(var=[], vars_file=[], region=None),
    )
    listeners = {
        s.id.split("/")[0]: s.params["listener_arn"] for s in plan.steps if s.kind == "alb.shift"
    }
    assert len(set(listeners.values())) == 3


def test_a_promotion_onto_an_alb_side_is_followed_by_a_drain(tmp_path: Path) -> None:
    plan = compile_text(
        tmp_path,
        APP.replace(
            "metadata: {project: web, environment: any}",
            "metadata: {project: web, environment: prod}",
        ),
    )
    drain = plan.by_id["us-east-1/blue-green/drain"]
    assert drain.kind == "alb.drain" and drain.deps == ("us-east-1/blue-green/switch",)
    assert drain.params["from"] == "${live_color}" and drain.params["drain"] is None
    switch = plan.by_id["us-east-1/blue-green/switch"]
    assert (switch.params["min_healthy"], switch.params["health_timeout"]) == (1, 300.0)
