"""The run-end deployment metrics (``monitoring:``) and the alarms that watch them."""

from __future__ import annotations

import datetime

import pytest
from aws_helpers import request

from deployctl.actions.aws import Clients
from deployctl.actions.cloudwatch import Alarms, DeploymentMetrics
from deployctl.execute import api
from deployctl.plan.api import Plan, Publish, Step

ALL = ("DeploymentSuccess", "RollbackCount", "DeploymentDuration")


def plan(publish: Publish | None) -> Plan:
    steps = (Step("eu-west-1/x", "noop", "x", region="eu-west-1"),)
    return Plan("Deployment", "cards", "prod", "p.yaml", steps, publish=publish)


def run_info() -> api.RunInfo:
    return api.RunInfo("r1", "cards", "prod", "d", "p.yaml", "running", 0.0, 0.0, "me")


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
