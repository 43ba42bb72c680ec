"""The receiving side is healthy before traffic moves onto it, and the side
traffic left drains first: ALB target health through EC2 instance states
(moto reports a stopped instance ``unused``/``Target.InvalidState``),
deregistration delays, and the CloudWatch alarms gates and monitors use."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from deployctl.actions.alb import register
from deployctl.actions.aws import Clients
from deployctl.actions.cloudwatch import CloudWatchMetrics, alarm_spec
from deployctl.actions.common import ActionError
from deployctl.actions.target_health import DISABLED, Target, wait_healthy
from deployctl.core.params import Alarm
from deployctl.core.ports import Registry
from deployctl.testing.aws import REGION, request
from deployctl.testing.clock import VirtualClock
from deployctl.testing.worlds import alb
from deployctl.testing.worlds.alb import params
from deployctl.testing.worlds.alb import weights as forward_weights


@pytest.fixture
def lb(clients: Clients) -> dict[str, Any]:
    """A listener forwarding to blue, one healthy instance behind each side."""
    return alb.kept(clients)


@pytest.fixture
def registry(clients: Clients) -> Registry:
    reg = Registry()
    register(reg, clients)
    return reg


def weights(lb: dict[str, Any]) -> dict[str, int]:
    """Weights by colour; the fixture's plain forward (never shifted) is 100% blue."""
    actions = lb["client"].describe_listeners(ListenerArns=[lb["listener"]])["Listeners"][0][
        "DefaultActions"
    ]
    if "ForwardConfig" not in actions[0]:
        return {
            c: 100 if arn == actions[0]["TargetGroupArn"] else 0 for c, arn in lb["tgs"].items()
        }
    return forward_weights(lb)


def stop(lb: dict[str, Any], color: str) -> None:
    lb["ec2"].stop_instances(InstanceIds=[lb["instances"][color]])


def test_a_shift_onto_a_side_whose_only_target_is_stopped_fails_naming_it_and_moves_nothing(
    registry: Registry, lb: dict[str, Any], clock: VirtualClock
) -> None:
    stop(lb, "green")
    req = request("alb.shift", params(lb, to="green", weight=100, health_timeout=60), clock)
    with pytest.raises(ActionError) as failed:
        registry.get("alb.shift").apply(req)
    text = str(failed.value)
    assert "target group web-green has 0 healthy target(s), needs 1" in text
    assert f"{lb['instances']['green']}:80 unused (Target.InvalidState:" in text
    assert "stopped state" in text and "no traffic was moved" in text
    assert weights(lb) == {"blue": 100, "green": 0}
    assert sum(clock.slept) == 60.0  # waited on the plan's clock, up to the timeout


def test_min_healthy_asks_for_that_many_healthy_targets(
    registry: Registry, lb: dict[str, Any]
) -> None:
    req = request("alb.shift", params(lb, to="green", weight=10, min_healthy=2, health_timeout=0))
    with pytest.raises(ActionError, match="has 1 healthy target\\(s\\), needs 2"):
        registry.get("alb.shift").apply(req)
    assert weights(lb) == {"blue": 100, "green": 0}


class StartsAfter(VirtualClock):
    """A virtual clock on which the stopped instance comes up after the first wait."""

    def __init__(self, lb: dict[str, Any], color: str) -> None:
        super().__init__()
        self.lb, self.color = lb, color

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        self.lb["ec2"].start_instances(InstanceIds=[self.lb["instances"][self.color]])
        return super().sleep(seconds, cancel)


def test_a_side_that_becomes_healthy_while_the_shift_waits_receives_the_traffic(
    registry: Registry, lb: dict[str, Any]
) -> None:
    stop(lb, "green")
    clock = StartsAfter(lb, "green")
    out = registry.get("alb.shift").apply(
        request("alb.shift", params(lb, to="green", weight=25), clock)
    )
    assert weights(lb) == {"blue": 75, "green": 25}
    assert clock.slept == [10.0]  # one poll
    assert out["health"] == {"green": {"healthy": 1, "targets": 1}}


def test_an_undo_onto_a_blue_with_no_healthy_target_fails_and_leaves_traffic_where_it_is(
    registry: Registry, lb: dict[str, Any]
) -> None:
    req = request("alb.shift", params(lb, to="green", weight=100, health_timeout=0))
    out = registry.get("alb.shift").apply(req)
    stop(lb, "blue")
    with pytest.raises(ActionError, match="blue side: target group web-blue has 0 healthy"):
        registry.get("alb.shift").undo(req, out)
    assert weights(lb) == {"blue": 0, "green": 100}


def test_the_undo_that_empties_a_side_asks_the_rollback_to_drain_it(
    registry: Registry, lb: dict[str, Any]
) -> None:
    lb["client"].modify_target_group_attributes(
        TargetGroupArn=lb["tgs"]["green"],
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "120"}],
    )
    action = registry.get("alb.shift")
    first = request("alb.shift", params(lb, to="green", weight=10))
    out1 = action.apply(first)
    second = request("alb.shift", params(lb, to="green", weight=50))
    out2 = action.apply(second)
    # Back to 10%: green still serves, nothing to drain.
    assert "drain_seconds" not in action.undo(second, out2)
    # Back to 0%: green's in-flight requests get its deregistration delay.
    assert action.undo(first, out1) == {
        "health": {"blue": {"healthy": 1, "targets": 1}},
        "drain_seconds": 120.0,
    }
    # The plan's drain replaces the target group's delay.
    again = request("alb.shift", params(lb, to="green", weight=10, drain=5.0))
    assert action.undo(again, action.apply(again))["drain_seconds"] == 5.0


def test_the_drain_after_promotion_lasts_the_old_sides_deregistration_delay(
    registry: Registry, lb: dict[str, Any]
) -> None:
    drain = registry.get("alb.drain")
    req = request("alb.drain", params(lb, **{"from": "blue"}))
    assert drain.gate
    assert drain.window(req) == 300.0  # the target group's default
    assert drain.window(request("alb.drain", params(lb, **{"from": "blue", "drain": 30.0}))) == 30.0
    assert drain.check(req).detail == "blue at 100%, finishing its requests"


def test_a_lambda_target_group_without_health_checks_counts_as_healthy() -> None:
    assert Target("arn:lambda", None, "unavailable", DISABLED).healthy
    assert not Target("10.0.0.1", 80, "unavailable", "Target.NotRegistered").healthy
    assert not Target("i-1", 80, "initial", "Elb.RegistrationInProgress").healthy


def test_wait_healthy_is_a_function_other_targets_can_call(
    clients: Clients, lb: dict[str, Any], clock: VirtualClock
) -> None:
    elb = clients.client("elbv2", REGION)
    found = wait_healthy(elb, lb["tgs"]["blue"], min_healthy=1, timeout=0, clock=clock)
    assert (found.healthy, len(found.targets)) == (1, 1)
    assert clock.slept == []


# --- alarms: gates on existing ones, monitors that notify ------------------------------


def test_alarm_states_read_ok_alarm_and_missing(clients: Clients) -> None:
    cw = clients.client("cloudwatch", REGION)
    for name in ("api-5xx", "api-latency"):
        cw.put_metric_alarm(
            AlarmName=name,
            MetricName="Errors",
            Namespace="App",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1.0,
            ComparisonOperator="GreaterThanThreshold",
        )
    cw.set_alarm_state(AlarmName="api-5xx", StateValue="ALARM", StateReason="test")
    states = CloudWatchMetrics(clients).alarm_states(REGION, ["api-5xx", "api-latency", "typo"])
    assert states == {"api-5xx": "ALARM", "api-latency": "OK", "typo": None}


def test_rollback_count_pages_at_the_second_rollback_and_actions_notify_their_topic(
    clients: Clients,
) -> None:
    topic = "arn:aws:sns:us-east-1:123456789012:pager"
    alarm = Alarm(
        name="rollback_frequency", metric="RollbackCount", threshold=2, period=3600, action="page"
    )
    spec = alarm_spec("Deployctl", alarm, {"Project": "p"}, {"page": topic, "warn": "x"})
    assert spec["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert spec["AlarmActions"] == [topic]
    cw = clients.client("cloudwatch", REGION)
    cw.put_metric_alarm(**spec)
    live = cw.describe_alarms(AlarmNames=[spec["AlarmName"]])["MetricAlarms"][0]
    assert live["AlarmActions"] == [topic]
    assert "AlarmActions" not in alarm_spec("Deployctl", alarm, {}, {"alert": topic})


def test_a_gate_on_alarms_fails_when_one_is_in_alarm_or_missing(clients: Clients) -> None:
    from deployctl.actions.analysis import AnalysisGate
    from deployctl.core.plan import Step
    from deployctl.core.ports import FAIL, PASS, StepRequest

    cw = clients.client("cloudwatch", REGION)
    cw.put_metric_alarm(
        AlarmName="api-5xx",
        MetricName="Errors",
        Namespace="App",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanThreshold",
    )

    def check(*alarms: str) -> Any:
        params = {
            "duration": 60.0,
            "interval": 60.0,
            "alarms": list(alarms),
            "triggers": [],
            "metrics": [],
        }
        step = Step(
            id=f"{REGION}/gate",
            kind="gate.analysis",
            description="gate",
            params=params,
            region=REGION,
        )
        return AnalysisGate().check(
            StepRequest(
                step=step,
                params=params,
                run_id="r",
                attempt=1,
                token="t",
                clock=VirtualClock(),
                metrics=CloudWatchMetrics(clients),
            )
        )

    assert check("api-5xx").status == PASS
    cw.set_alarm_state(AlarmName="api-5xx", StateValue="ALARM", StateReason="5xx")
    assert check("api-5xx").tripped == ("alarm api-5xx in ALARM",)
    missing = check("api-5xxx")
    assert (missing.status, missing.tripped) == (FAIL, ("alarm api-5xxx does not exist",))
