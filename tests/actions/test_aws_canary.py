"""The fraud-or-not canary end to end in one process: the real executor and
the built-in actions against in-process moto, on a virtual clock.  (The
subprocess and moto-server tests are the CLI's; this one checks that the
actions fit the planner's params and the executor's ``${...}`` outputs.)"""

from __future__ import annotations

import datetime
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aws_helpers import REGION, Calls, lambda_role, zip_bytes

from deployctl.actions.aws import Clients
from deployctl.actions.builtin import register_aws
from deployctl.actions.cloudwatch import CloudWatchMetrics
from deployctl.actions.registry import Backend, default_registry
from deployctl.execute.api import Reporter
from deployctl.execute.clock import VirtualClock
from deployctl.execute.runner import Executor, Options
from deployctl.manifest.load import LoadOptions, load_text
from deployctl.plan.api import Step
from deployctl.plan.compile import compile_plan

PLAN = Path(__file__).parents[2] / "plans" / "fraud-or-not.yaml"
FN = "api-handler"
# moto computes no percentiles (and fails GetMetricData when a p99 series has
# data), so the test plan watches the maximum Duration instead of p99.
VARS = {"stage1": "2m", "stage2": "2m", "stage3": "2m", "latency_stat": "Maximum"}


@pytest.fixture
def world(clients: Clients) -> Any:
    s3 = clients.client("s3", REGION)
    s3.create_bucket(Bucket="fraud-or-not-artifacts")
    s3.put_object(Bucket="fraud-or-not-artifacts", Key="api-handler/2024.01.20.zip",
                  Body=zip_bytes("v2"))
    lam = clients.client("lambda", REGION)
    lam.create_function(FunctionName=FN, Runtime="python3.12", Role=lambda_role(clients.session),
                        Handler="handler.main", Code={"ZipFile": zip_bytes("v1")})
    lam.publish_version(FunctionName=FN)
    lam.create_alias(FunctionName=FN, Name="live", FunctionVersion="1")
    for _ in range(8):  # the smoke invoke answers, then any others
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.moto_api._internal import moto_api_backend

        moto_api_backend.set_lambda_simple_result('{"statusCode": 200}', DEFAULT_ACCOUNT_ID, REGION)
    return lam


def metrics(clients: Clients, clock: VirtualClock, errors: float) -> None:
    """One datapoint a minute for the next two virtual hours, for version 2."""
    cw = clients.client("cloudwatch", REGION)
    dims = [{"Name": "FunctionName", "Value": FN}, {"Name": "Resource", "Value": f"{FN}:live"},
            {"Name": "ExecutedVersion", "Value": "2"}]
    start = clock.now()
    for metric, value in (("Invocations", 100.0), ("Errors", errors), ("Duration", 120.0)):
        data = [{"MetricName": metric, "Value": value, "Dimensions": dims,
                 "Timestamp": datetime.datetime.fromtimestamp(start + 60 * i, tz=datetime.UTC)}
                for i in range(121)]
        for n in range(0, len(data), 500):
            cw.put_metric_data(Namespace="AWS/Lambda", MetricData=data[n:n + 500])


class GateChecks(Reporter):
    def __init__(self) -> None:
        self.regions: Counter[str | None] = Counter()

    def gate_checked(self, step: Step, number: int, result: Any, remaining: float) -> None:
        if step.kind == "gate.analysis":
            self.regions[step.region] += 1


def run(
    clients: Clients, clock: VirtualClock, tmp_path: Path, reporter: Reporter | None = None
) -> Any:
    plan = compile_plan(load_text(PLAN.read_text(), str(PLAN), LoadOptions(vars=VARS)), str(PLAN))
    registry = default_registry(plugins=False)
    register_aws(registry, clients)
    executor = Executor(str(tmp_path / "state"), Backend(registry, clock,
                                                         CloudWatchMetrics(clients)), reporter)
    try:
        return executor.apply(plan, Options(auto_approve=True))
    finally:
        executor.close()


def alias(lam: Any) -> tuple[str, dict[str, float]]:
    got = lam.get_alias(FunctionName=FN, Name="live")
    return got["FunctionVersion"], (got.get("RoutingConfig") or {}).get(
        "AdditionalVersionWeights", {})


def test_healthy_canary_promotes_the_new_version(
    world: Any, clients: Clients, tmp_path: Path
) -> None:
    clock = VirtualClock(start=datetime.datetime(2024, 1, 20, tzinfo=datetime.UTC).timestamp())
    metrics(clients, clock, errors=0.0)
    outcome = run(clients, clock, tmp_path)
    assert outcome.exit_code == 0, outcome.message
    assert alias(world) == ("2", {})


def test_breaching_canary_rolls_the_alias_back_to_the_stable_version(
    world: Any, clients: Clients, tmp_path: Path
) -> None:
    clock = VirtualClock(start=datetime.datetime(2024, 1, 20, tzinfo=datetime.UTC).timestamp())
    metrics(clients, clock, errors=20.0)  # 20% errors: over the 5% trigger
    outcome = run(clients, clock, tmp_path)
    assert outcome.exit_code == 3, outcome.message
    assert alias(world) == ("1", {})


def test_each_gate_check_makes_exactly_one_get_metric_data_call_per_region(
    world: Any, clients: Clients, calls: Calls, tmp_path: Path
) -> None:
    clock = VirtualClock(start=datetime.datetime(2024, 1, 20, tzinfo=datetime.UTC).timestamp())
    metrics(clients, clock, errors=0.0)
    checks = GateChecks()
    before = calls["GetMetricData"]
    outcome = run(clients, clock, tmp_path, checks)
    assert outcome.exit_code == 0, outcome.message
    # Three 2-minute stages and the 10-minute monitor, checked every minute;
    # ErrorRate's two series and Latency's one share each call.
    assert checks.regions == {REGION: 2 + 2 + 2 + 10}
    assert calls["GetMetricData"] - before == sum(checks.regions.values())
