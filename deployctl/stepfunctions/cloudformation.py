"""``cloudformation.deploy`` on Step Functions: the states that do what
:class:`deployctl.actions.cloudformation.Deploy` does locally.

First the stack as it is (``describeStacks``; an error such as "does not
exist", or ``REVIEW_IN_PROGRESS``, means a new stack), and for a stack that
exists its template (``getTemplate``, stage ``Original``) and parameters:
what the undo re-deploys.  Then the plan's rollback-trigger alarms
(``putMetricAlarm``, their ARNs from ``describeAlarms``) as the change set's
``RollbackConfiguration``, ``createChangeSet`` (``UPDATE`` or ``CREATE``), a
``describeChangeSet`` loop until ``CREATE_COMPLETE`` (a change set that
failed because nothing changes is a success, not executed),
``executeChangeSet``, and a ``describeStacks`` loop until the stack is
``*_COMPLETE``: ``CREATE_COMPLETE``/``UPDATE_COMPLETE`` is done, anything
else (a rollback, a failure) fails the step into the rollback path.

The undo re-deploys the recorded template and parameters the same way
(``NoEcho`` values as ``UsePreviousValue``), with no rollback triggers (the
alarms that fired must not stop it); a stack the step created is deleted.
An undo that does not end ``UPDATE_COMPLETE`` stops the rollback.

The template is read when the plan is translated and sits in the
definition (``TemplateBody``, at most 51,200 bytes, as locally).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deployctl import files
from deployctl.actions.cloudformation import MAX_BODY, NOECHO, alarm_request
from deployctl.core.refs import REF
from deployctl.errors import UserError
from deployctl.plan.api import Step
from deployctl.stepfunctions.states import to_rollback

if TYPE_CHECKING:
    from deployctl.stepfunctions.asl import _Translator

CFN = "cloudformation"
CW = "cloudwatch"
POLL_SECONDS = 10
FAILED = "deployctl.StackFailed"


def _body(t: _Translator, step: Step) -> str:
    path = str(step.params["template"])
    try:
        body = files.read(path, files.MAX_TEMPLATE_BYTES, "template").decode("utf-8")
    except (UserError, UnicodeDecodeError) as exc:
        raise UserError(f"{t.plan.source}: step {step.id}: template {path}: {exc}") from None
    if len(body.encode()) > MAX_BODY:
        raise UserError(f"{t.plan.source}: step {step.id}: template over {MAX_BODY} bytes")
    return body


def _describe(t: _Translator, step: Step, stack: Any, path: str, **state: Any) -> dict[str, Any]:
    """describeStacks of ``stack``; the stack (or its error) at ``path``."""
    name_key, name_value = t.value(step, "StackName", stack)
    return t.task(
        step,
        "",
        f"{CFN}:describeStacks",
        {name_key: name_value},
        # ArrayGetItem, not [0]: [0] is a one-element list on moto 5.2.5
        ResultSelector={"stack.$": "States.ArrayGetItem($.Stacks, 0)"},
        ResultPath=path,
        **state,
    )


def _stack_status(
    t: _Translator, step: Step, label: str, stack: Any, then: str, fail: str, *, gone: str = ""
) -> list[tuple[str, dict[str, Any]]]:
    """A describeStacks loop until the stack leaves ``*_IN_PROGRESS``:
    CREATE/UPDATE_COMPLETE (or DELETE_COMPLETE, or gone when ``gone`` names
    where to go then) -> ``then``; anything else -> ``fail``."""
    n = t.name
    k = t.key(step)
    s = f"$.x.{k}{label.replace(' ', '')}"
    read = _describe(t, step, stack, s, Next=n(step, f"{label} done?"))
    if gone:
        read["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": gone}]
    ok = ["CREATE_COMPLETE", "UPDATE_COMPLETE"] + (["DELETE_COMPLETE"] if gone else [])
    return [
        (n(step, f"{label} status"), read),
        (
            n(step, f"{label} done?"),
            {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": f"{s}.stack.StackStatus",
                        "StringMatches": "*_IN_PROGRESS",
                        "Next": n(step, f"{label} wait"),
                    },
                    {
                        "Not": {
                            "Or": [
                                {"Variable": f"{s}.stack.StackStatus", "StringEquals": v}
                                for v in ok
                            ]
                        },
                        "Next": fail,
                    },
                ],
                "Default": then,
            },
        ),
        (
            n(step, f"{label} wait"),
            {
                "Type": "Wait",
                "Seconds": t.wait_seconds(POLL_SECONDS),
                "Next": n(step, f"{label} status"),
            },
        ),
    ]


def _change_set(
    t: _Translator,
    step: Step,
    label: str,
    args: dict[str, Any],
    then: str,
    fail: str,
    same: str,
) -> list[tuple[str, dict[str, Any]]]:
    """createChangeSet, wait for it, execute it, wait for the stack, then
    ``then``; a change set with no changes goes to ``same``, not executed."""
    n = t.name
    k = t.key(step)
    c = f"$.x.{k}{label.replace(' ', '')}c"
    create = t.task(
        step,
        "",
        f"{CFN}:createChangeSet",
        {
            **args,
            "ChangeSetName.$": f"States.Format('deployctl-{label.replace(' ', '-')}-{{}}', $.run_id)",
        },
        ResultSelector={"id.$": "$.Id"},
        ResultPath=c,
        Next=n(step, f"{label} change set"),
    )
    read = t.task(
        step,
        "",
        f"{CFN}:describeChangeSet",
        {"ChangeSetName.$": f"{c}.id"},
        ResultSelector={"status.$": "$.Status", "all.$": "$"},
        ResultPath=f"{c}.d",
        Next=n(step, f"{label} change set ready?"),
    )
    chain: list[tuple[str, dict[str, Any]]] = [
        (n(step, f"{label} create"), create),
        (n(step, f"{label} change set"), read),
        (
            n(step, f"{label} change set ready?"),
            {
                "Type": "Choice",
                "Choices": [
                    {
                        "And": [
                            {"Variable": f"{c}.d.status", "StringEquals": "FAILED"},
                            {"Variable": f"{c}.d.all.StatusReason", "IsPresent": True},
                        ],
                        "Next": n(step, f"{label} no changes?"),
                    },
                    {"Variable": f"{c}.d.status", "StringEquals": "FAILED", "Next": fail},
                    {
                        "Not": {"Variable": f"{c}.d.status", "StringEquals": "CREATE_COMPLETE"},
                        "Next": n(step, f"{label} change set wait"),
                    },
                ],
                "Default": n(step, f"{label} execute"),
            },
        ),
        (
            n(step, f"{label} no changes?"),
            {
                "Type": "Choice",
                "Choices": [
                    {
                        "Or": [
                            {
                                "Variable": f"{c}.d.all.StatusReason",
                                "StringMatches": "*didn't contain changes*",
                            },
                            {
                                "Variable": f"{c}.d.all.StatusReason",
                                "StringMatches": "*No updates are to be performed*",
                            },
                        ],
                        "Next": same,
                    }
                ],
                "Default": fail,
            },
        ),
        (
            n(step, f"{label} change set wait"),
            {
                "Type": "Wait",
                "Seconds": t.wait_seconds(POLL_SECONDS),
                "Next": n(step, f"{label} change set"),
            },
        ),
        (
            n(step, f"{label} execute"),
            t.task(
                step,
                "",
                f"{CFN}:executeChangeSet",
                {"ChangeSetName.$": f"{c}.id"},
                ResultPath=None,
                Next=n(step, f"{label} status"),
            ),
        ),
    ]
    return chain + _stack_status(t, step, label, step.params["stack"], then, fail)


def deploy(t: _Translator, step: Step) -> list[tuple[str, dict[str, Any]]]:
    p = step.params
    k = t.key(step)
    n = t.name
    x = f"$.x.{k}"
    prev = f"$.o.{k}p"  # what the undo re-deploys
    done = f"$.o.{k}"
    body = _body(t, step)
    t.out_paths[step.id] = {"stack_id": f"{done}.stack_id"}
    name_key, name_value = t.value(step, "StackName", p["stack"])
    failed = n(step, "failed")
    chain: list[tuple[str, dict[str, Any]]] = [
        (
            n(step, "read"),
            _describe(
                t,
                step,
                p["stack"],
                x,
                Next=n(step, "exists?"),
                # "does not exist" (or any error a retry did not clear): a new stack;
                # if it does exist after all, CREATE fails and nothing was changed
                Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": n(step, "new")}],
            ),
        ),
        (
            n(step, "exists?"),
            {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": f"{x}.stack.StackStatus",
                        "StringEquals": "REVIEW_IN_PROGRESS",
                        "Next": n(step, "new"),
                    }
                ],
                "Default": n(step, "template"),
            },
        ),
        (
            n(step, "new"),
            {
                "Type": "Pass",
                "Result": {"existed": False, "type": "CREATE"},
                "ResultPath": prev,
                "Next": n(step, "alarms"),
            },
        ),
        (
            n(step, "template"),
            t.task(
                step,
                "",
                f"{CFN}:getTemplate",
                {name_key: name_value, "TemplateStage": "Original"},
                ResultSelector={"body.$": "$.TemplateBody"},
                ResultPath=f"{x}.t",
                Next=n(step, "has parameters?"),
            ),
        ),
        (
            n(step, "has parameters?"),
            {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": f"{x}.stack.Parameters",
                        "IsPresent": False,
                        "Next": n(step, "no parameters"),
                    }
                ],
                "Default": n(step, "parameters"),
            },
        ),
        (
            n(step, "no parameters"),
            {
                "Type": "Pass",
                "Parameters": {
                    "existed": True,
                    "type": "UPDATE",
                    "body.$": f"{x}.t.body",
                    "parameters": [],
                },
                "ResultPath": prev,
                "Next": n(step, "alarms"),
            },
        ),
        (
            n(step, "parameters"),
            {
                # as createChangeSet takes them: a NoEcho value ("****") as UsePreviousValue
                "Type": "Map",
                "ItemsPath": f"{x}.stack.Parameters",
                "ItemSelector": {"p.$": "$$.Map.Item.Value"},
                "ItemProcessor": {
                    "StartAt": "noecho?",
                    "States": {
                        "noecho?": {
                            "Type": "Choice",
                            "Choices": [
                                {
                                    "Variable": "$.p.ParameterValue",
                                    "StringEquals": NOECHO,
                                    "Next": "previous",
                                }
                            ],
                            "Default": "value",
                        },
                        "previous": {
                            "Type": "Pass",
                            "Parameters": {
                                "ParameterKey.$": "$.p.ParameterKey",
                                "UsePreviousValue": True,
                            },
                            "End": True,
                        },
                        "value": {
                            "Type": "Pass",
                            "Parameters": {
                                "ParameterKey.$": "$.p.ParameterKey",
                                "ParameterValue.$": "$.p.ParameterValue",
                            },
                            "End": True,
                        },
                    },
                },
                "ResultSelector": {"existed": True, "type": "UPDATE", "parameters.$": "$"},
                "ResultPath": prev,
                "Next": n(step, "keep template"),
            },
        ),
        (
            n(step, "keep template"),
            {
                "Type": "Pass",
                "InputPath": f"{x}.t.body",
                "ResultPath": f"{prev}.body",
                "Next": n(step, "alarms"),
            },
        ),
    ]
    args: dict[str, Any] = {
        name_key: name_value,
        "TemplateBody": body,
        "Parameters": [
            dict([("ParameterKey", str(key)), t.value(step, "ParameterValue", str(value))])
            for key, value in sorted((p.get("parameters") or {}).items())
        ],
        "Capabilities": list(p.get("capabilities") or ()),
        "ChangeSetType.$": f"{prev}.type",
    }
    alarms = list(p.get("rollback_alarms") or ())
    minutes = int(p.get("monitoring_minutes") or 0)
    chain.append(
        (
            n(step, "alarms"),
            {"Type": "Pass", "Next": n(step, "alarm 0") if alarms else n(step, "deploy create")},
        )
    )
    for i, alarm in enumerate(alarms):
        request = alarm_request(REF.sub("*", str(p["stack"])), alarm)
        chain.append(
            (
                n(step, f"alarm {i}"),
                t.task(step, "", f"{CW}:putMetricAlarm", request, ResultPath=None,
                       Next=n(step, f"alarm {i + 1}") if i + 1 < len(alarms)
                       else n(step, "alarm arns")),
            )
        )  # fmt: skip
    if alarms:
        chain.append(
            (
                n(step, "alarm arns"),
                t.task(
                    step,
                    "",
                    f"{CW}:describeAlarms",
                    {"AlarmNames": [a["name"] for a in alarms], "AlarmTypes": ["MetricAlarm"]},
                    # a Map: a list on AWS and moto alike, whatever the number of alarms
                    ResultSelector={"alarms.$": "$.MetricAlarms"},
                    ResultPath=f"{x}.a",
                    Next=n(step, "triggers"),
                ),
            )
        )
        chain.append(
            (
                n(step, "triggers"),
                {
                    "Type": "Map",
                    "ItemsPath": f"{x}.a.alarms",
                    "ItemSelector": {"Arn.$": "$$.Map.Item.Value.AlarmArn",
                                     "Type": "AWS::CloudWatch::Alarm"},
                    "ItemProcessor": {"StartAt": "trigger",
                                      "States": {"trigger": {"Type": "Pass", "End": True}}},
                    "ResultPath": f"{x}.triggers",
                    "Next": n(step, "deploy create"),
                },
            )
        )  # fmt: skip
    if alarms or minutes:
        args["RollbackConfiguration"] = {
            **({"RollbackTriggers.$": f"{x}.triggers"} if alarms else {}),
            "MonitoringTimeInMinutes": minutes,
        }
    unchanged = n(step, "unchanged")
    chain += _change_set(t, step, "deploy", args, n(step, "deployed"), failed, unchanged)
    chain += [
        (
            failed,
            to_rollback(FAILED, f"{step.id}: the stack did not deploy"),
        ),
        (
            n(step, "deployed"),
            {
                "Type": "Pass",
                "Parameters": {"stack_id.$": f"$.x.{k}deploy.stack.StackId"},
                "ResultPath": done,
                "Next": n(step, "done"),
            },
        ),
        (
            unchanged,
            {
                "Type": "Pass",
                "Parameters": {"stack_id.$": f"{x}.stack.StackId"},
                "ResultPath": done,
                "Next": n(step, "done"),
            },
        ),
        # the scratch holds what CloudFormation answered, timestamps included
        # (moto keeps them as datetimes and cannot serialize the output): drop it
        (n(step, "done"), {"Type": "Pass", "Result": {}, "ResultPath": "$.x"}),
    ]
    return chain


def deploy_undo(t: _Translator, step: Step, undo_name: str) -> list[tuple[str, dict[str, Any]]]:
    """Re-deploy what the stack had, or delete the stack the step created."""
    p = step.params
    k = t.key(step)
    n = t.name
    prev = t.done_path(step).removesuffix(f".{k}") + f".{k}p"
    name_key, name_value = t.value(step, "StackName", p["stack"])
    undone = n(step, "undone")
    args = {
        name_key: name_value,
        "TemplateBody.$": f"{prev}.body",
        "Parameters.$": f"{prev}.parameters",
        "Capabilities": list(p.get("capabilities") or ()),
        "ChangeSetType": "UPDATE",
    }
    chain: list[tuple[str, dict[str, Any]]] = [
        (
            undo_name,
            {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": f"{prev}.existed",
                        "BooleanEquals": False,
                        "Next": n(step, "delete"),
                    }
                ],
                "Default": n(step, "undo create"),
            },
        ),
        (
            n(step, "delete"),
            t.task(
                step,
                "",
                f"{CFN}:deleteStack",
                {name_key: name_value},
                ResultPath=None,
                Next=n(step, "delete status"),
            ),
        ),
    ]
    chain += _stack_status(t, step, "delete", p["stack"], undone, "RollbackStopped", gone=undone)
    chain += _change_set(t, step, "undo", args, undone, "RollbackStopped", undone)
    chain.append((undone, {"Type": "Pass", "Result": {}, "ResultPath": "$.x"}))
    t.stops = True
    return chain
