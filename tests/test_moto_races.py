"""Where moto's threads race and AWS does not, the harness makes moto behave
as AWS (deployctl.testing.moto.thread_safe_moto): these tests show the race
is real and closed, so a test that fails on it fails on deployctl."""

from __future__ import annotations

import threading

import boto3

from deployctl.testing.aws import REGION
from deployctl.testing.moto import consistent_alarms, consistent_parameters


def put_alarm(cloudwatch: object, name: str) -> None:
    cloudwatch.put_metric_alarm(  # type: ignore[attr-defined]
        AlarmName=name,
        MetricName="Errors",
        Namespace="AWS/Lambda",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanThreshold",
    )


def test_alarms_read_while_others_are_put_never_fail(aws: None, busy_switching: None) -> None:
    """Many Step Functions executions read their alarms while others create
    theirs; on moto that raised 'dictionary changed size during iteration'."""
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    for n in range(50):
        put_alarm(cloudwatch, f"seed-{n}")
    failures: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                cloudwatch.describe_alarms(AlarmNames=["seed-1"])
                cloudwatch.describe_alarms(AlarmNamePrefix="seed-")
            except Exception as exc:  # any failure is the finding
                failures.append(exc)
                return

    with consistent_alarms():
        readers = [threading.Thread(target=read) for _ in range(2)]
        for reader in readers:
            reader.start()
        for n in range(120):
            put_alarm(cloudwatch, f"new-{n}")
        done.set()
        for reader in readers:
            reader.join()
    assert failures == []
    assert len(cloudwatch.describe_alarms()["MetricAlarms"]) == 170  # every put landed


def test_parameters_read_while_others_are_put_never_fail(aws: None, busy_switching: None) -> None:
    """A test polls for the approval token a Step Functions execution is
    putting; on moto a read between the put's two halves raised IndexError."""
    ssm = boto3.client("ssm", region_name=REGION)
    failures: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                ssm.get_parameters_by_path(Path="/race", Recursive=True)
            except Exception as exc:  # any failure is the finding
                failures.append(exc)
                return

    with consistent_parameters():
        readers = [threading.Thread(target=read) for _ in range(2)]
        for reader in readers:
            reader.start()
        for n in range(120):
            ssm.put_parameter(Name=f"/race/p{n}", Value="token", Type="String")
        done.set()
        for reader in readers:
            reader.join()
    assert failures == []
    found = ssm.get_parameters_by_path(Path="/race", Recursive=True, MaxResults=10)
    assert len(found["Parameters"]) == 10  # the puts landed
