"""``cloudformation.deploy``'s rollback triggers and its cancel, with botocore's
Stubber: moto ignores ``RollbackConfiguration`` and has no
``CancelUpdateStack``, so these check the real request shapes instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from deployctl.actions.cloudformation import Deploy
from deployctl.manifest import model as m
from deployctl.manifest.triggers import parse_triggers
from deployctl.plan.cloudformation import stack_rollback
from deployctl.testing.aws import request

STACK = "media-register-prod"
ARN = "arn:aws:cloudformation:us-east-1:123456789012:stack/media-register-prod/1"
CS = "arn:aws:cloudformation:us-east-1:123456789012:changeSet/x/1"
ALARM = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:"
LB = (("LoadBalancer", "app/media/1"),)
ERRORS = m.MetricDef(
    "ErrorRate",
    numerator=m.MetricQuery("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "Sum", LB),
    denominator=m.MetricQuery("AWS/ApplicationELB", "RequestCount", "Sum", LB),
)
LATENCY = m.MetricDef(
    "Latency",
    query=m.MetricQuery("AWS/ApplicationELB", "TargetResponseTime", "p99", LB),
    unit="ms",
    scale=1000.0,
)


class Stubbed:
    """A client factory handing out one stubbed client per service."""

    def __init__(self) -> None:
        session = boto3.Session(region_name="us-east-1")
        self.made = {s: session.client(s) for s in ("cloudformation", "cloudwatch")}
        self.stubs = {s: Stubber(c) for s, c in self.made.items()}

    def client(self, service: str, region: str | None = None, **_: Any) -> Any:
        return self.made[service]

    def __enter__(self) -> Stubbed:
        for stub in self.stubs.values():
            stub.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        for stub in self.stubs.values():
            stub.assert_no_pending_responses()
            stub.deactivate()


def stack(status: str, version: str = "1.0") -> dict[str, Any]:
    return {
        "Stacks": [
            {
                "StackName": STACK,
                "StackId": ARN,
                "StackStatus": status,
                "CreationTime": "2024-01-20T10:00:00Z",
                "Parameters": [{"ParameterKey": "Version", "ParameterValue": version}],
            }
        ]
    }


@pytest.fixture
def template(tmp_path: Path) -> Path:
    path = tmp_path / "stack.yaml"
    path.write_text("Resources: {}\n# v2\n", encoding="utf-8")
    return path


def params(template: Path) -> dict[str, Any]:
    target = m.CloudFormationTarget(STACK, str(template), (("Version", "2.0"),))
    triggers = parse_triggers("ErrorRate>5%,Latency>1000ms")
    watch = stack_rollback(target, triggers, (ERRORS, LATENCY), 600.0)
    return {
        "stack": STACK,
        "template": str(template),
        "parameters": {"Version": "2.0"},
        "capabilities": [],
        "rollback_alarms": list(watch.alarms),
        "monitoring_minutes": watch.minutes,
    }


def test_stubber_triggers_become_alarms_named_in_the_change_sets_rollback_configuration(
    template: Path,
) -> None:
    with Stubbed() as aws:
        cfn, cw = aws.stubs["cloudformation"], aws.stubs["cloudwatch"]
        cfn.add_response("describe_stacks", stack("UPDATE_COMPLETE"), {"StackName": STACK})
        cfn.add_response(
            "get_template",
            {"TemplateBody": "Resources: {}\n"},
            {"StackName": STACK, "TemplateStage": "Original"},
        )
        names = [f"deployctl-{STACK}-ErrorRate-1", f"deployctl-{STACK}-Latency-2"]
        lb = [{"Name": "LoadBalancer", "Value": "app/media/1"}]

        def stat(metric: str) -> dict[str, Any]:
            return {
                "Metric": {
                    "Namespace": "AWS/ApplicationELB",
                    "MetricName": metric,
                    "Dimensions": lb,
                },
                "Period": 60,
                "Stat": "Sum",
            }

        cw.add_response(
            "put_metric_alarm",
            {},
            {
                "AlarmName": names[0],
                "AlarmDescription": ANY,
                "EvaluationPeriods": 1,
                "Threshold": 0.05,
                "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "missing",
                "Metrics": [
                    {
                        "Id": "num",
                        "MetricStat": stat("HTTPCode_Target_5XX_Count"),
                        "ReturnData": False,
                    },
                    {"Id": "den", "MetricStat": stat("RequestCount"), "ReturnData": False},
                    {
                        "Id": "ratio",
                        "Expression": "num / den",
                        "Label": "ErrorRate>5%",
                        "ReturnData": True,
                    },
                ],
            },
        )
        # 1000 ms on a metric CloudWatch keeps in seconds (scale 1000): 1.0.
        cw.add_response(
            "put_metric_alarm",
            {},
            {
                "AlarmName": names[1],
                "AlarmDescription": ANY,
                "EvaluationPeriods": 1,
                "Threshold": 1.0,
                "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "missing",
                "Namespace": "AWS/ApplicationELB",
                "MetricName": "TargetResponseTime",
                "Dimensions": lb,
                "Period": 60,
                "ExtendedStatistic": "p99",
            },
        )
        cw.add_response(
            "describe_alarms",
            {"MetricAlarms": [{"AlarmName": n, "AlarmArn": ALARM + n} for n in names]},
            {"AlarmNames": names, "AlarmTypes": ["MetricAlarm"]},
        )
        cfn.add_response(
            "create_change_set",
            {"Id": CS, "StackId": ARN},
            {
                "StackName": STACK,
                "ChangeSetName": ANY,
                "TemplateBody": ANY,
                "Parameters": [{"ParameterKey": "Version", "ParameterValue": "2.0"}],
                "Capabilities": [],
                "ChangeSetType": "UPDATE",
                "RollbackConfiguration": {
                    "RollbackTriggers": [
                        {"Arn": ALARM + n, "Type": "AWS::CloudWatch::Alarm"} for n in names
                    ],
                    "MonitoringTimeInMinutes": 10,
                },
            },
        )
        done = {"Status": "CREATE_COMPLETE", "Changes": []}
        cfn.add_response("describe_change_set", done, {"ChangeSetName": CS, "StackName": STACK})
        cfn.add_response("describe_change_set", done, {"ChangeSetName": CS})
        cfn.add_response("execute_change_set", {}, {"ChangeSetName": CS})
        cfn.add_response("describe_stacks", stack("UPDATE_COMPLETE", "2.0"), {"StackName": STACK})
        cfn.add_response("describe_stacks", stack("UPDATE_COMPLETE", "2.0"), {"StackName": STACK})
        out = Deploy(aws).apply(request("cloudformation.deploy", params(template)))  # type: ignore[arg-type]
    assert out["previous_parameters"] == {"Version": "1.0"}


def test_stubber_undo_of_a_stack_still_updating_cancels_it_then_redeploys_without_triggers(
    template: Path,
) -> None:
    with Stubbed() as aws:
        cfn = aws.stubs["cloudformation"]
        cfn.add_response(
            "describe_stacks", stack("UPDATE_IN_PROGRESS", "2.0"), {"StackName": STACK}
        )
        cfn.add_response("cancel_update_stack", {}, {"StackName": STACK})
        cfn.add_response("describe_stacks", stack("UPDATE_ROLLBACK_COMPLETE"), {"StackName": STACK})
        # The old template is live again: the re-deploy finds nothing to change.
        cfn.add_response(
            "create_change_set",
            {"Id": CS, "StackId": ARN},
            {
                "StackName": STACK,
                "ChangeSetName": ANY,
                "TemplateBody": "Resources: {}\n",
                "Parameters": [{"ParameterKey": "Version", "ParameterValue": "1.0"}],
                "Capabilities": [],
                "ChangeSetType": "UPDATE",
            },
        )
        failed = {
            "Status": "FAILED",
            "StatusReason": "The submitted information didn't contain changes.",
        }
        cfn.add_response("describe_change_set", failed, {"ChangeSetName": CS, "StackName": STACK})
        cfn.add_response("describe_change_set", failed, {"ChangeSetName": CS})
        cfn.add_response("delete_change_set", {}, {"ChangeSetName": CS})
        Deploy(aws).undo(  # type: ignore[arg-type]
            request("cloudformation.deploy", params(template)),
            {"previous_template": "Resources: {}\n", "previous_parameters": {"Version": "1.0"}},
        )
