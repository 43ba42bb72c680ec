"""The contracts in deployctl/core: the plan's JSON round trip, and enums
whose members are the very strings the journal and the JSON hold."""

from __future__ import annotations

import json

from deployctl.core.kinds import StepKind
from deployctl.core.plan import MetricDef, MetricQuery, Notify, Plan, Publish, Step, Webhook
from deployctl.core.refs import is_unresolved
from deployctl.core.status import RecordType, RunStatus, StepStatus, Verdict


def test_a_plan_survives_its_json_round_trip_with_the_same_digest() -> None:
    plan = Plan(
        kind="Deployment",
        project="p",
        environment="prod",
        source="p.yaml",
        steps=(
            Step("a", StepKind.LAMBDA_PUBLISH, "publish", {"fn": "f"}, outputs=("new_version",)),
            Step("b", StepKind.LAMBDA_SHIFT, "shift to ${new_version}", deps=("a",), traffic=10),
            Step("c", StepKind.APPROVAL, "approve", deps=("b",), mutating=False, one_way=True),
        ),
        metrics={
            "ErrorRate": MetricDef(
                "ErrorRate",
                numerator=MetricQuery("AWS/Lambda", "Errors", "Sum", (("FunctionName", "f"),)),
                denominator=MetricQuery("AWS/Lambda", "Invocations", "Sum"),
                unit="%",
            )
        },
        publish=Publish("Deploys", ("DeploymentSuccess",)),
        notify=Notify(sns=("arn:aws:sns:us-east-1:1:t",), webhooks=(Webhook(url_env="HOOK"),)),
    )
    data = json.loads(json.dumps(plan.to_json()))
    again = Plan.from_json(data, "p.yaml")
    assert again == plan
    assert again.digest == plan.digest
    assert data["steps"][1]["kind"] == "lambda.shift"
    assert data["summary"]["approvals"] == ["c"]
    assert data["summary"]["rollback_horizon"] == "c"


def test_enum_members_are_the_journal_strings() -> None:
    assert json.dumps([RunStatus.ROLLED_BACK, StepStatus.UNDO_FAILED, RecordType.INTENT]) == (
        '["rolled_back", "undo_failed", "intent"]'
    )
    assert RecordType.FAILED == StepStatus.FAILED == RunStatus.FAILED == "failed"
    assert f"{Verdict.NO_DATA}" == "no_data" and StepKind("gate.analysis") is StepKind.GATE_ANALYSIS


def test_an_unresolved_reference_is_told_from_a_literal() -> None:
    assert is_unresolved("${new_version}") and is_unresolved(["${a}"])
    assert not is_unresolved("v7") and not is_unresolved(7) and not is_unresolved("$x")
