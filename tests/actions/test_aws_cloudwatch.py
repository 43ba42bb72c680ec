"""The CloudWatch metrics source (one GetMetricData per fetch, ratios computed
here) and the deployment alarms, against in-process moto."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from botocore.stub import Stubber

from deployctl.actions.aws import Clients
from deployctl.actions.cloudwatch import CloudWatchMetrics, aggregate, register
from deployctl.core.plan import MetricDef, MetricQuery
from deployctl.core.ports import Registry
from deployctl.testing.aws import REGION, Calls, request

END = datetime.datetime(2024, 1, 20, 12, 0, tzinfo=datetime.UTC).timestamp()
START = END - 300
DIMS = (("FunctionName", "api-handler"), ("Resource", "api-handler:live"), ("ExecutedVersion", "7"))


def q(metric: str, stat: str = "Sum") -> MetricQuery:
    return MetricQuery("AWS/Lambda", metric, stat, DIMS, 60)


ERROR_RATE = MetricDef("ErrorRate", numerator=q("Errors"), denominator=q("Invocations"))
LATENCY = MetricDef("Latency", query=q("Duration", "Average"), unit="ms")
P99 = MetricDef("P99", query=q("Duration", "p99"), unit="ms")
SECONDS = MetricDef("Seconds", query=q("Duration", "Maximum"), scale=0.001)


def put(clients: Clients, metric: str, values: list[float], dims: tuple[Any, ...] = DIMS) -> None:
    cw = clients.client("cloudwatch", REGION)
    data = [
        {
            "MetricName": metric,
            "Value": v,
            "Unit": "None",
            "Timestamp": datetime.datetime.fromtimestamp(END - 60 * (i + 1), tz=datetime.UTC),
            "Dimensions": [{"Name": k, "Value": val} for k, val in dims],
        }
        for i, v in enumerate(values)
    ]
    cw.put_metric_data(Namespace="AWS/Lambda", MetricData=data)


def test_ratio_is_the_sum_of_numerators_over_the_sum_of_denominators(
    clients: Clients, calls: Calls
) -> None:
    put(clients, "Errors", [1, 3])
    put(clients, "Invocations", [100, 100])
    put(clients, "Duration", [100, 300])
    values = CloudWatchMetrics(clients).fetch(
        REGION, {"ErrorRate": ERROR_RATE, "Latency": LATENCY, "Seconds": SECONDS}, START, END
    )
    assert values == {
        "ErrorRate": pytest.approx(0.02),
        "Latency": pytest.approx(200.0),
        "Seconds": pytest.approx(0.3),
    }
    assert calls["GetMetricData"] == 1


def test_one_call_queries_each_series_once(clients: Clients, calls: Calls) -> None:
    sent: list[Any] = []
    clients.client("cloudwatch", REGION).meta.events.register(
        "provide-client-params.cloudwatch.GetMetricData",
        lambda params, **_: sent.append(params["MetricDataQueries"]),
    )
    same_denominator = MetricDef("Other", numerator=q("Throttles"), denominator=q("Invocations"))
    CloudWatchMetrics(clients).fetch(
        REGION, {"ErrorRate": ERROR_RATE, "Other": same_denominator}, START, END
    )
    assert calls["GetMetricData"] == 1
    names = [x["MetricStat"]["Metric"]["MetricName"] for x in sent[0]]
    assert sorted(names) == ["Errors", "Invocations", "Throttles"]
    assert all("Expression" not in x for x in sent[0])


def test_no_invocations_is_no_data_not_a_zero_error_rate(clients: Clients) -> None:
    put(clients, "Errors", [0])
    values = CloudWatchMetrics(clients).fetch(REGION, {"ErrorRate": ERROR_RATE}, START, END)
    assert values == {"ErrorRate": None}


def test_a_missing_numerator_counts_as_zero_errors(clients: Clients) -> None:
    put(clients, "Invocations", [50])
    values = CloudWatchMetrics(clients).fetch(REGION, {"ErrorRate": ERROR_RATE}, START, END)
    assert values == {"ErrorRate": 0.0}


def test_other_dimensions_do_not_leak_into_the_new_version(clients: Clients) -> None:
    old = tuple((k, "6" if k == "ExecutedVersion" else v) for k, v in DIMS)
    put(clients, "Errors", [50], old)
    put(clients, "Invocations", [50], old)
    put(clients, "Invocations", [10])
    values = CloudWatchMetrics(clients).fetch(REGION, {"ErrorRate": ERROR_RATE}, START, END)
    assert values == {"ErrorRate": 0.0}


def test_percentiles_without_datapoints_are_no_data(clients: Clients) -> None:
    # moto 5.2 computes no percentiles: with datapoints present it fails the
    # whole GetMetricData call (it cannot serialise the missing value), so the
    # values are stubbed in the next test.
    assert CloudWatchMetrics(clients).fetch(REGION, {"P99": P99}, START, END) == {"P99": None}


def test_stubber_percentile_takes_the_largest_period_value_and_follows_next_token(
    clients: Clients,
) -> None:
    client = clients.client("cloudwatch", REGION)
    with Stubber(client) as stub:
        stub.add_response(
            "get_metric_data",
            {
                "MetricDataResults": [
                    {
                        "Id": "m0",
                        "Label": "p99",
                        "Values": [120.0, 480.0],
                        "StatusCode": "PartialData",
                    }
                ],
                "NextToken": "more",
            },
        )
        stub.add_response(
            "get_metric_data",
            {
                "MetricDataResults": [
                    {"Id": "m0", "Label": "p99", "Values": [300.0], "StatusCode": "Complete"}
                ]
            },
        )
        values = CloudWatchMetrics(clients).fetch(REGION, {"P99": P99}, START, END)
        stub.assert_no_pending_responses()
    assert values == {"P99": 480.0}


def test_aggregate_follows_the_stat() -> None:
    assert aggregate("Sum", [1, 2, 3]) == 6
    assert aggregate("SampleCount", [1, 2]) == 3
    assert aggregate("Average", [1, 2, 3]) == 2
    assert aggregate("Minimum", [4, 2, 3]) == 2
    assert aggregate("Maximum", [4, 2, 3]) == 4
    assert aggregate("p99", [120, 480, 300]) == 480  # the conservative stand-in
    assert aggregate("Sum", []) is None


def test_fetch_without_queries_is_all_no_data(clients: Clients, calls: Calls) -> None:
    empty = MetricDef("Nothing")
    assert CloudWatchMetrics(clients).fetch(REGION, {"Nothing": empty}, START, END) == {
        "Nothing": None
    }
    assert calls["GetMetricData"] == 0


# --- alarms ---------------------------------------------------------------------------

ALARMS = {
    "namespace": "Deployctl",
    "alarms": [
        {
            "action": "warn",
            "metric": "DeploymentDuration",
            "name": "deployment_duration",
            "period": 300.0,
            "threshold": 900.0,
        },
        {
            "action": "alert",
            "metric": "DeploymentSuccess",
            "name": "deployment_success_rate",
            "period": 300.0,
            "threshold": 0.95,
        },
        {
            "action": "page",
            "metric": "RollbackCount",
            "name": "rollback_frequency",
            "period": 3600.0,
            "threshold": 2.0,
        },
    ],
}


def test_alarms_round_trip_and_apply_writes_each_alarm_without_reading(
    clients: Clients, calls: Calls
) -> None:
    reg = Registry()
    register(reg, clients)
    action = reg.get("cloudwatch.alarms")
    req = request("cloudwatch.alarms", ALARMS)
    assert not action.observe(req).applied
    first = action.apply(req)
    assert calls["PutMetricAlarm"] == 3
    assert calls["DescribeAlarms"] == 1  # observe's read, not apply's
    assert action.observe(req).applied
    assert action.apply(req) == first  # an upsert: the same alarms again
    assert len(first["alarms"]) == 3
    live = {
        a["AlarmName"]: a
        for a in clients.client("cloudwatch", REGION).describe_alarms()["MetricAlarms"]
    }
    success = live["Deployctl-deployment_success_rate"]
    assert success["ComparisonOperator"] == "LessThanThreshold"
    assert live["Deployctl-rollback_frequency"]["Statistic"] == "Sum"
    assert live["Deployctl-rollback_frequency"]["Period"] == 3600


def test_alarms_of_two_projects_and_environments_do_not_overwrite_each_other(
    clients: Clients,
) -> None:
    reg = Registry()
    register(reg, clients)
    action = reg.get("cloudwatch.alarms")
    scopes = [("fraud-or-not", "prod"), ("media-register", "prod"), ("media-register", "dev")]
    for project, env in scopes:
        dims = {"Project": project, "Environment": env}
        action.apply(request("cloudwatch.alarms", {**ALARMS, "dimensions": dims}))
    live = clients.client("cloudwatch", REGION).describe_alarms(
        AlarmNamePrefix="Deployctl-", MaxRecords=100
    )["MetricAlarms"]
    assert len(live) == 3 * len(ALARMS["alarms"])
    duration = {
        a["AlarmName"]: {d["Name"]: d["Value"] for d in a["Dimensions"]}
        for a in live
        if a["MetricName"] == "DeploymentDuration"
    }
    assert duration == {
        f"Deployctl-{p}-{e}-deployment_duration": {"Project": p, "Environment": e}
        for p, e in scopes
    }


def test_the_period_in_progress_at_the_window_start_counts(clients: Clients) -> None:
    put(clients, "Invocations", [10])  # one datapoint at END - 60
    values = CloudWatchMetrics(clients).fetch(REGION, {"ErrorRate": ERROR_RATE}, END - 30, END)
    assert values == {"ErrorRate": 0.0}


def test_a_check_right_on_a_period_boundary_asks_for_a_non_empty_window(
    clients: Clients, calls: Calls
) -> None:
    # A zero-length gate window starting on a minute: start == end after rounding.
    boundary = END - END % 60
    values = CloudWatchMetrics(clients).fetch(REGION, {"ErrorRate": ERROR_RATE}, boundary, boundary)
    assert values == {"ErrorRate": None}
    assert calls["GetMetricData"] == 1
