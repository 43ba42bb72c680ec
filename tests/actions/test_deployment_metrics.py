"""The run-end deployment metrics (``monitoring:``) and the alarms that watch them."""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path
from typing import Any

import pytest

from deployctl.actions.aws import Clients
from deployctl.actions.cloudwatch import Alarms, DeploymentMetrics
from deployctl.core.plan import Plan, Publish, Step
from deployctl.core.records import RunInfo
from deployctl.execute import api
from deployctl.manifest import load_file
from deployctl.plan import compile_plan
from deployctl.testing.aws import request

PLANS = Path(__file__).resolve().parents[2] / "plans"

ALL = ("DeploymentSuccess", "RollbackCount", "DeploymentDuration")


def plan(publish: Publish | None) -> Plan:
    steps = (Step("eu-west-1/x", "noop", "x", region="eu-west-1"),)
    return Plan("Deployment", "cards", "prod", "p.yaml", steps, publish=publish)


def run_info() -> RunInfo:
    return RunInfo("r1", "cards", "prod", "d", "p.yaml", "running", 0.0, 0.0, "me")


def sums(clients: Clients, region: str = "eu-west-1") -> dict[str, float]:
    cw = clients.client("cloudwatch", region)
    now = datetime.datetime.now(datetime.UTC)
    out = {}
    for name in ALL:
        points = cw.get_metric_statistics(
            Namespace="Deployctl",
            MetricName=name,
            Dimensions=[
                {"Name": "Environment", "Value": "prod"},
                {"Name": "Project", "Value": "cards"},
            ],
            StartTime=now - datetime.timedelta(hours=1),
            EndTime=now + datetime.timedelta(hours=1),
            Period=3600,
            Statistics=["Sum"],
        )["Datapoints"]
        out[name] = sum(p["Sum"] for p in points)
    return out


@pytest.mark.parametrize(
    ("status", "success", "rollbacks"),
    [
        ("succeeded", 1.0, 0.0),
        ("rolled_back", 0.0, 1.0),
        ("rollback_incomplete", 0.0, 1.0),
        ("failed", 0.0, 0.0),
    ],
)
def test_an_ended_run_publishes_the_three_metrics_with_project_and_environment(
    clients, calls, status, success, rollbacks
):
    observer = DeploymentMetrics(clients)
    outcome = api.Outcome("r1", status, 0, "")
    observer.run_ended(plan(Publish("Deployctl", ALL)), run_info(), outcome, 42.5)
    assert calls["PutMetricData"] == 1
    assert sums(clients) == {
        "DeploymentSuccess": success,
        "RollbackCount": rollbacks,
        "DeploymentDuration": 42.5,
    }


def test_a_plan_without_monitoring_publishes_nothing(clients, calls):
    DeploymentMetrics(clients).run_ended(
        plan(None), run_info(), api.Outcome("r1", "succeeded", 0, ""), 1.0
    )
    assert calls["PutMetricData"] == 0


def test_alarms_watch_the_published_dimensions(clients):
    params = {
        "namespace": "Deployctl",
        "dimensions": {"Project": "cards", "Environment": "prod"},
        "alarms": [
            {
                "name": "rollback_frequency",
                "metric": "RollbackCount",
                "threshold": 2,
                "period": 3600,
                "action": "page",
            }
        ],
    }
    Alarms(clients).apply(request("cloudwatch.alarms", params))
    (alarm,) = clients.client("cloudwatch", "us-east-1").describe_alarms()["MetricAlarms"]
    assert sorted((d["Name"], d["Value"]) for d in alarm["Dimensions"]) == [
        ("Environment", "prod"),
        ("Project", "cards"),
    ]


MONITORING = """
monitoring:
  namespace: Deployctl
  alarms:
    rollback_frequency: {metric: RollbackCount, threshold: 2, period: 1h, action: page}
    deployment_success_rate: {metric: DeploymentSuccess, threshold: 0.95, action: alert}
"""


def pipeline_with_monitoring(tmp_path: Path) -> Plan:
    """plans/media-register-pipeline.yaml (Environment 'all') over a copy of
    its child plan with a monitoring: block, compiled the way apply does."""
    shutil.copytree(PLANS, tmp_path / "plans")
    child = tmp_path / "plans" / "media-register.yaml"
    child.write_text(child.read_text(encoding="utf-8") + MONITORING, encoding="utf-8")
    path = str(tmp_path / "plans" / "media-register-pipeline.yaml")
    return compile_plan(load_file(path), path)


def datapoints(clients: Clients, alarm: dict[str, Any]) -> list[dict[str, Any]]:
    now = datetime.datetime.now(datetime.UTC)
    return clients.client("cloudwatch", "us-east-1").get_metric_statistics(
        Namespace=alarm["Namespace"],
        MetricName=alarm["MetricName"],
        Dimensions=alarm["Dimensions"],
        StartTime=now - datetime.timedelta(hours=1),
        EndTime=now + datetime.timedelta(hours=1),
        Period=3600,
        Statistics=["Sum"],
    )["Datapoints"]


def test_a_pipeline_run_publishes_what_each_environments_alarms_watch(clients, tmp_path):
    pipeline = pipeline_with_monitoring(tmp_path)
    assert pipeline.environment == "all"
    alarm_steps = [s for s in pipeline.steps if s.kind == "cloudwatch.alarms"]
    assert [s.params["dimensions"]["Environment"] for s in alarm_steps] == [
        "dev",
        "staging",
        "prod",
    ]
    watched_dims = []
    for step in alarm_steps:
        Alarms(clients).apply(request("cloudwatch.alarms", step.params, region=step.region))
        watched_dims += [
            alarm["Dimensions"]
            for alarm in clients.client("cloudwatch", step.region).describe_alarms()["MetricAlarms"]
        ]
    outcome = api.Outcome("r1", "rolled_back", 3, "")
    DeploymentMetrics(clients).run_ended(pipeline, run_info(), outcome, 60.0)
    # Whatever alarm the three environments leave behind sees the run.
    for alarm in clients.client("cloudwatch", "us-east-1").describe_alarms()["MetricAlarms"]:
        assert datapoints(clients, alarm), alarm["Dimensions"]
    # Every series an environment's alarm was made to watch has the run's data ...
    for env in ("dev", "staging", "prod"):
        dims = [
            {"Name": "Environment", "Value": env},
            {"Name": "Project", "Value": "media-register"},
        ]
        assert dims in watched_dims
        points = datapoints(
            clients, {"Namespace": "Deployctl", "MetricName": "RollbackCount", "Dimensions": dims}
        )
        assert sum(p["Sum"] for p in points) == 1.0, env
    # ... and nothing goes to the pipeline's own 'all', which no alarm watches.
    everything = [
        {"Name": "Environment", "Value": "all"},
        {"Name": "Project", "Value": "media-register"},
    ]
    assert not datapoints(
        clients, {"Namespace": "Deployctl", "MetricName": "RollbackCount", "Dimensions": everything}
    )


def test_a_pipeline_publishes_each_environment_as_its_own_steps_ended(clients, tmp_path):
    pipeline = pipeline_with_monitoring(tmp_path)
    # dev finished; staging failed and was rolled back; prod was never reached
    # (only its alarms step, which runs first in each environment, is done).
    steps = {}
    for step in pipeline.steps:
        env = step.id.split("/", 1)[0]
        if env == "dev" or step.id.endswith("monitoring/alarms"):
            steps[step.id] = "done"
        elif env == "staging":
            steps[step.id] = "undone"
        else:
            steps[step.id] = "pending"
    failed = next(
        s.id for s in pipeline.steps if s.id.startswith("staging/") and s.kind == "gate.analysis"
    )
    steps[failed] = "failed"
    outcome = api.Outcome("r1", "rolled_back", 3, "", steps=steps)

    DeploymentMetrics(clients).run_ended(pipeline, run_info(), outcome, 60.0)

    def total(env: str, metric: str) -> float | None:
        dims = [
            {"Name": "Environment", "Value": env},
            {"Name": "Project", "Value": "media-register"},
        ]
        points = datapoints(
            clients, {"Namespace": "Deployctl", "MetricName": metric, "Dimensions": dims}
        )
        return sum(p["Sum"] for p in points) if points else None

    assert (total("dev", "DeploymentSuccess"), total("dev", "RollbackCount")) == (1.0, 0.0)
    assert (total("staging", "DeploymentSuccess"), total("staging", "RollbackCount")) == (0.0, 1.0)
    assert (total("prod", "DeploymentSuccess"), total("prod", "RollbackCount")) == (None, None)
