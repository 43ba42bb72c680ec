"""``cloudwatch.alarms``, ``lambda.update_code`` and ``lambda.cleanup_versions``
on Step Functions, as :mod:`deployctl.actions.cloudwatch` and
:mod:`deployctl.actions.lambda_` do them locally.  None of the three has an
undo nor is a one-way door, locally or here: the rollback path passes them by.

- ``cloudwatch.alarms``: one ``putMetricAlarm`` per alarm with exactly the
  arguments the local action writes (:func:`alarm_spec`); an upsert, no undo.
- ``lambda.update_code``: ``updateFunctionCode`` (S3 object or image), then
  ``getFunctionConfiguration`` until ``LastUpdateStatus`` is no longer
  ``InProgress`` (the local ``function_updated_v2`` waiter); ``Failed`` fails
  the step.  A local ``zip_file`` is refused: its bytes would have to sit in
  the definition.
- ``lambda.cleanup_versions``: ``listVersionsByFunction`` and ``listAliases``,
  then a ``Map`` over the versions that deletes a version unless it is
  ``$LATEST``, an alias serves it (primary or weighted) or it is among the
  newest ``keep``.  "Among the newest keep" is counted, not read from the
  list's order (Lambda does not promise one): an inner ``Map`` gives, for the
  version ``v``, every version number above ``v`` (or ``v`` itself), so
  ``ArrayLength(ArrayUnique(...)) - 1`` versions are newer than ``v``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from deployctl.actions.cloudwatch import specs
from deployctl.core.params import CloudWatchAlarmsParams
from deployctl.plan.api import Step
from deployctl.stepfunctions.states import to_rollback

if TYPE_CHECKING:
    from deployctl.stepfunctions.asl import _Translator

States = list[tuple[str, dict[str, Any]]]
UPDATE_FAILED = "deployctl.UpdateFailed"
CLEANUP_INCOMPLETE = "deployctl.TooManyVersions"
# one page of versions (their configurations sit in the state, 256 KiB at most);
# a function with more fails the step (the local engine pages)
MAX_ITEMS = 50


def refuse(step: Step) -> bool:
    if step.kind == "lambda.update_code":
        code = step.params.get("code") or {}
        return not (code.get("image_uri") or (code.get("s3_bucket") and code.get("s3_key")))
    return False


def alarms(tr: _Translator, step: Step) -> States:
    tr.out_paths[step.id] = {}
    chain: States = []
    for n, spec in enumerate(specs(CloudWatchAlarmsParams.from_params(step.params))):
        put = tr.task(step, "", "cloudwatch:putMetricAlarm", spec, ResultPath=None)
        chain.append((tr.name(step, f"alarm {n}"), put))
    done = {"Type": "Pass", "Result": {"done": True}, "ResultPath": f"$.o.{tr.key(step)}"}
    chain.append((tr.name(step), done))
    return chain


def update_code(tr: _Translator, step: Step) -> States:
    p = step.params
    k = tr.key(step)
    code: Mapping[str, Any] = p.get("code") or {}
    args: dict[str, Any] = {"FunctionName": p["function"]}
    if code.get("image_uri"):
        args["ImageUri"] = code["image_uri"]
    else:
        args["S3Bucket"], args["S3Key"] = code["s3_bucket"], code["s3_key"]
        if code.get("s3_object_version"):
            args["S3ObjectVersion"] = code["s3_object_version"]
        # Lambda reads the object as the caller: the machine's role
        tr.machine.resources.add(("s3:GetObject", step.region or "*"))
    tr.out_paths[step.id] = {"code_sha256": f"$.o.{k}.code_sha256"}
    g = f"$.g.{k}"
    send = tr.task(
        step,
        "",
        "lambda:updateFunctionCode",
        tr.params(step, args),
        ResultSelector={"code_sha256.$": "$.CodeSha256"},
        ResultPath=f"$.o.{k}c",
    )
    read_name = tr.name(step, "status")
    read = tr.task(
        step,
        "",
        "lambda:getFunctionConfiguration",
        {"FunctionName": p["function"]},
        ResultPath=g,
    )
    failed = to_rollback(UPDATE_FAILED, step.id)
    wait = {"Type": "Wait", "Seconds": max(1, tr.wait_seconds(5)), "Next": read_name}
    # Successful, or no status at all, is done (the Default, so that export's
    # transition count follows it); InProgress waits and reads again.
    status = f"{g}.LastUpdateStatus"
    updated = {
        "Type": "Choice",
        "Choices": [
            {"And": [{"Variable": status, "IsPresent": True},
                     {"Variable": status, "StringEquals": "Failed"}],
             "Next": tr.name(step, "failed")},
            {"And": [{"Variable": status, "IsPresent": True},
                     {"Variable": status, "StringEquals": "InProgress"}],
             "Next": tr.name(step, "wait")},
        ],
        "Default": tr.name(step),
    }  # fmt: skip
    done = {
        "Type": "Pass",
        "Parameters": {"code_sha256.$": f"$.o.{k}c.code_sha256"},
        "ResultPath": f"$.o.{k}",
    }
    return [
        (tr.name(step, "send"), send),
        (read_name, read),
        (tr.name(step, "updated?"), updated),
        (tr.name(step, "wait"), wait),
        (tr.name(step, "failed"), failed),
        (tr.name(step), done),
    ]


def cleanup_versions(tr: _Translator, step: Step) -> States:
    p = step.params
    k = tr.key(step)
    function = p["function"]
    keep = int(p.get("keep") or 0)
    tr.out_paths[step.id] = {}
    c = f"$.x.{k}"  # the versions' numbers ($LATEST as 0)
    a = f"$.x.{k}a"  # the versions aliases serve, as strings
    versions = tr.task(
        step,
        "",
        "lambda:listVersionsByFunction",
        {"FunctionName": function, "MaxItems": MAX_ITEMS},
        ResultPath=c,
    )
    too_many = {
        "Type": "Choice",
        "Choices": [
            {"Variable": f"{c}.NextMarker", "IsPresent": True,
             "Next": tr.name(step, "too many")},
        ],
        "Default": tr.name(step, "numbers"),
    }  # fmt: skip
    fail = to_rollback(CLEANUP_INCOMPLETE, step.id)
    # Lists by Map states: on moto 5.2.5 a [*] path that ends in one string is
    # that string, not a one-element list (see alb.py).
    numbers = {
        "Type": "Map",
        "ItemsPath": f"{c}.Versions",
        "ItemSelector": {"v.$": "$$.Map.Item.Value.Version"},
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": "latest?",
            "States": {
                "latest?": {
                    "Type": "Choice",
                    # not StringEquals "$LATEST": a value starting with $ reads as a
                    # variable (moto, and AWS since variables)
                    "Choices": [{"Variable": "$.v", "StringMatches": "*LATEST", "Next": "zero"}],
                    "Default": "number",
                },
                "zero": {"Type": "Pass", "Result": 0, "End": True},
                "number": {
                    "Type": "Pass",
                    "Parameters": {"n.$": "States.StringToJson($.v)"},
                    "OutputPath": "$.n",
                    "End": True,
                },
            },
        },
        "ResultPath": c,
    }  # fmt: skip
    aliases = tr.task(
        step,
        "",
        "lambda:listAliases",
        {"FunctionName": function, "MaxItems": MAX_ITEMS},
        ResultSelector={"aliases.$": "$.Aliases"},
        ResultPath=a,
    )
    # Versions an alias serves: its FunctionVersion and the keys of its weights,
    # split out of their JSON text ('{"3":0.1}' -> "{", "3", "0.1}"; a weight that
    # reads as a version number would only keep one more version).
    served = {
        "Type": "Map",
        "ItemsPath": f"{a}.aliases",
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": "weighted?",
            "States": {
                "weighted?": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.RoutingConfig.AdditionalVersionWeights",
                                 "IsPresent": True, "Next": "weighted"}],
                    "Default": "plain",
                },
                "weighted": {
                    "Type": "Pass",
                    "Parameters": {"v.$": "$.FunctionVersion",
                                   "w.$": "$.RoutingConfig.AdditionalVersionWeights"},
                    "End": True,
                },
                "plain": {"Type": "Pass", "Parameters": {"v.$": "$.FunctionVersion"},
                          "End": True},
            },
        },
        "ResultSelector": {"served.$": "States.StringSplit(States.JsonToString($), '[]\":, ')"},
        "ResultPath": a,
    }  # fmt: skip
    # for version v: the numbers above v, v itself for the others
    newer = {
        "Type": "Map",
        "ItemsPath": "$.numbers",
        "ItemSelector": {"u.$": "$$.Map.Item.Value", "v.$": "$.v"},
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": "newer?",
            "States": {
                "newer?": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.u", "NumericGreaterThanPath": "$.v",
                                 "Next": "newer"}],
                    "Default": "same",
                },
                "newer": {"Type": "Pass", "OutputPath": "$.u", "End": True},
                "same": {"Type": "Pass", "OutputPath": "$.v", "End": True},
            },
        },
        "ResultPath": "$.newer",
        "Next": "count",
    }  # fmt: skip
    delete = tr.task(
        step,
        "",
        "lambda:deleteFunction",
        {"FunctionName": function, "Qualifier.$": "$.version"},
        ResultPath=None,
        End=True,
        Catch=[
            # gone already (a concurrent clean-up): as locally, not an error
            {"ErrorEquals": ["Lambda.ResourceNotFoundException"], "ResultPath": None,
             "Next": "gone"},
        ],
    )  # fmt: skip
    per_version = {
        "Type": "Map",
        "ItemsPath": c,
        "MaxConcurrency": 1,
        "ItemSelector": {
            "v.$": "$$.Map.Item.Value",
            "version.$": "States.Format('{}', $$.Map.Item.Value)",
            "numbers.$": c,
            "served.$": f"{a}.served",
        },
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": "latest?",
            "States": {
                "latest?": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.v", "NumericEquals": 0, "Next": "kept"}],
                    "Default": "served",
                },
                "served": {
                    "Type": "Pass",
                    "Parameters": {
                        "served.$": "States.ArrayContains($.served, $.version)",
                        "v.$": "$.v",
                        "version.$": "$.version",
                        "numbers.$": "$.numbers",
                    },
                    "Next": "served?",
                },
                "served?": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.served", "BooleanEquals": True, "Next": "kept"}],
                    "Default": "newer",
                },
                "newer": newer,
                "count": {
                    "Type": "Pass",
                    "Parameters": {
                        "newer.$": "States.MathAdd(States.ArrayLength("
                        "States.ArrayUnique($.newer)), -1)",
                        "version.$": "$.version",
                    },
                    "Next": "newest?",
                },
                "newest?": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.newer", "NumericLessThan": keep, "Next": "kept"}],
                    "Default": "delete",
                },
                "delete": delete,
                "gone": {"Type": "Pass", "End": True},
                "kept": {"Type": "Pass", "End": True},
            },
        },
        "ResultPath": None,
    }  # fmt: skip
    done = {"Type": "Pass", "Result": {"done": True}, "ResultPath": f"$.o.{k}"}
    return [
        (tr.name(step, "versions"), versions),
        (tr.name(step, "paged?"), too_many),
        (tr.name(step, "too many"), fail),
        (tr.name(step, "numbers"), numbers),
        (tr.name(step, "aliases"), aliases),
        (tr.name(step, "served"), served),
        (tr.name(step, "delete"), per_version),
        (tr.name(step), done),
    ]
