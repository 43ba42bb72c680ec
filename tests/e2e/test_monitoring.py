"""The seed's deployment monitors: a run of a plan with ``monitoring:``
(plans/fraud-or-not.yaml) publishes DeploymentSuccess, RollbackCount and
DeploymentDuration to CloudWatch when it ends, beside the alarms it made."""

from __future__ import annotations

import datetime
from pathlib import Path

from deployctl.testing.aws import around_now
from deployctl.testing.cli import run_cli
from deployctl.testing.moto import MotoServer
from deployctl.testing.worlds import fraud

DIMS = [{"Name": "Environment", "Value": "prod"}, {"Name": "Project", "Value": "fraud-or-not"}]
METRICS = ("DeploymentSuccess", "RollbackCount", "DeploymentDuration")


def published(server: MotoServer) -> dict[str, float]:
    cw = server.client("cloudwatch")
    now = datetime.datetime.now(datetime.UTC)
    out = {}
    for name in METRICS:
        points = cw.get_metric_statistics(
            Namespace="Deployctl",
            MetricName=name,
            Dimensions=DIMS,
            StartTime=now - datetime.timedelta(hours=1),
            EndTime=now + datetime.timedelta(hours=1),
            Period=3600,
            Statistics=["Sum"],
        )["Datapoints"]
        assert len(points) == 1, (name, points)
        out[name] = points[0]["Sum"]
    return out


def test_a_successful_run_publishes_the_three_metrics_the_alarms_watch(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    fraud.build(moto_server)
    moto_server.lambda_answers({"statusCode": 200})
    fraud.metrics(moto_server, around_now(), errors=0.0, duration=120.0)
    done = run_cli(*fraud.apply_argv(moto_server, tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    got = published(moto_server)
    assert (got["DeploymentSuccess"], got["RollbackCount"]) == (1.0, 0.0)
    assert 0.0 < got["DeploymentDuration"] < 120.0
    alarms = moto_server.client("cloudwatch").describe_alarms()["MetricAlarms"]
    assert {a["MetricName"] for a in alarms} == set(METRICS)
    assert all(sorted(a["Dimensions"], key=lambda d: d["Name"]) == DIMS for a in alarms)


def test_a_rolled_back_run_counts_a_rollback_and_no_success(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    fraud.build(moto_server)
    moto_server.lambda_answers({"statusCode": 500})  # the smoke invoke fails
    fraud.metrics(moto_server, around_now(), errors=0.0, duration=120.0)
    done = run_cli(*fraud.apply_argv(moto_server, tmp_path))
    assert done.returncode == 3, done.stdout + done.stderr
    got = published(moto_server)
    assert (got["DeploymentSuccess"], got["RollbackCount"]) == (0.0, 1.0)
