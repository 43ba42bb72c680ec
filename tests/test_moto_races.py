"""Where moto's threads race and AWS does not, the harness makes moto behave
as AWS (deployctl.testing.moto.thread_safe_moto): these tests show the race
is real and closed, so a test that fails on it fails on deployctl."""

from __future__ import annotations

import threading
from collections.abc import Callable

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


def read_while(read: Callable[[], object], write: Callable[[int], object]) -> list[Exception]:
    """Two threads call ``read`` over and over while this one calls
    ``write(0..119)``: what the reads raised (any failure is the finding)."""
    failures: list[Exception] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            try:
                read()
            except Exception as exc:
                failures.append(exc)
                return

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for thread in readers:
        thread.start()
    try:
        for n in range(120):
            write(n)
    finally:
        done.set()
        for thread in readers:
            thread.join()
    return failures


def test_alarms_read_while_others_are_put_never_fail(aws: None, busy_switching: None) -> None:
    """Many Step Functions executions read their alarms while others create
    theirs; on moto that raised 'dictionary changed size during iteration'."""
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    for n in range(50):
        put_alarm(cloudwatch, f"seed-{n}")

    def read() -> None:
        cloudwatch.describe_alarms(AlarmNames=["seed-1"])
        cloudwatch.describe_alarms(AlarmNamePrefix="seed-")

    with consistent_alarms():
        failures = read_while(read, lambda n: put_alarm(cloudwatch, f"new-{n}"))
    assert failures == []
    assert len(cloudwatch.describe_alarms()["MetricAlarms"]) == 170  # every put landed


def test_parameters_read_while_others_are_put_never_fail(aws: None, busy_switching: None) -> None:
    """A test polls for the approval token a Step Functions execution is
    putting; on moto a read between the put's two halves raised IndexError."""
    ssm = boto3.client("ssm", region_name=REGION)

    def put(n: int) -> None:
        ssm.put_parameter(Name=f"/race/p{n}", Value="token", Type="String")

    with consistent_parameters():
        failures = read_while(lambda: ssm.get_parameters_by_path(Path="/race", Recursive=True), put)
    assert failures == []
    found = ssm.get_parameters_by_path(Path="/race", Recursive=True, MaxResults=10)
    assert len(found["Parameters"]) == 10  # the puts landed
