"""Route 53 weighted blue/green on Step Functions: ``route53.discover`` and
``route53.shift`` (and its undo) as states, the way
:mod:`deployctl.actions.route53` runs them locally.

As for an ALB (:mod:`deployctl.stepfunctions.alb`), each step keeps a
weights record, the live side first: ``{"live_color", "aw": the live side's
weight, "bw": the idle side's}``.  Discover reads it from
``listResourceRecordSets``; each shift writes the weights it set; a shift's
undo writes back the record of the step before it, the weights live before
the shift, as the local undo restores its journaled ``previous_weights``.
Every write is one ``UPSERT`` of both weighted records, waited to
``INSYNC`` with ``getChange``.

A record's weight is found without a filter expression (moto fails one that
matches nothing): a ``Map`` over the record sets gives the side's weight for
its own record and 0 for every other, and the distinct values of that list
are ``[]``, ``[0]``, ``[w]`` or ``[0, w]``, whose sum is the weight.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from deployctl.actions.route53 import fqdn
from deployctl.plan.api import Step
from deployctl.stepfunctions.alb import COLOR_REFS

if TYPE_CHECKING:
    from deployctl.stepfunctions.asl import _Translator

R53 = "route53"
SYNC_POLL_SECONDS = 5
COLORS = ("blue", "green")


def weights_key(params: Mapping[str, Any]) -> str:
    return f"route53 weights {params['hosted_zone_id']} {fqdn(params['record_name'])}"


def refuse(step: Step) -> bool:
    """A side with a Route 53 health check (the machine does not read checker
    results yet), or a side named other than by the discover's colours."""
    p = step.params
    if any((p.get(c) or {}).get("health_check_id") for c in COLORS):
        return True
    if step.kind == "route53.shift":
        return str(p["to"]) not in COLOR_REFS or not str(p["weight"]).isdigit()
    return False


def discover(t: _Translator, step: Step) -> list[tuple[str, dict[str, Any]]]:
    p = step.params
    k = t.key(step)
    x = f"$.x.{k}"
    done = f"$.o.{k}"
    n = t.name
    name, rtype = fqdn(p["record_name"]), str(p["record_type"])
    t.out_paths[step.id] = {
        "live_color": f"{done}.live_color",
        "idle_color": f"{done}.idle_color",
        weights_key(p): done,
    }
    chain: list[tuple[str, dict[str, Any]]] = [
        (
            n(step, "read"),
            t.task(
                step,
                "",
                f"{R53}:listResourceRecordSets",
                {
                    "HostedZoneId": p["hosted_zone_id"],
                    "StartRecordName": name,
                    "StartRecordType": rtype,
                    "MaxItems": "20",
                },
                ResultSelector={"sets.$": "$.ResourceRecordSets"},
                ResultPath=x,
            ),
        )
    ]
    for color in COLORS:
        sid = str(p[color]["set_identifier"])
        r = "$.r"
        item = {
            "StartAt": "match?",
            "States": {
                "match?": {
                    "Type": "Choice",
                    # in order: a field is compared only once it is known to be there
                    "Choices": [
                        {"Not": {"Variable": f"{r}.SetIdentifier", "IsPresent": True},
                         "Next": "other"},
                        {"Not": {"Variable": f"{r}.Weight", "IsPresent": True}, "Next": "other"},
                        {"And": [{"Variable": f"{r}.Name", "StringEquals": name},
                                 {"Variable": f"{r}.Type", "StringEquals": rtype},
                                 {"Variable": f"{r}.SetIdentifier", "StringEquals": sid}],
                         "Next": "weight"},
                    ],
                    "Default": "other",
                },
                "weight": {"Type": "Pass", "OutputPath": f"{r}.Weight", "End": True},
                "other": {"Type": "Pass", "Result": 0, "End": True},
            },
        }  # fmt: skip
        u = f"{x}.{color}"
        then = n(step, "green weights") if color == "blue" else n(step, "live?")
        chain += [
            (
                n(step, f"{color} weights"),
                {
                    "Type": "Map",
                    "ItemsPath": f"{x}.sets",
                    "ItemSelector": {"r.$": "$$.Map.Item.Value"},
                    "ItemProcessor": item,
                    "ResultSelector": {
                        "u.$": "States.ArrayUnique($)",
                        "n.$": "States.ArrayLength(States.ArrayUnique($))",
                    },
                    "ResultPath": u,
                    "Next": n(step, f"{color} how many?"),
                },
            ),
            (
                n(step, f"{color} how many?"),
                {
                    "Type": "Choice",
                    "Choices": [
                        {"Variable": f"{u}.n", "NumericEquals": 0, "Next": n(step, f"{color} none")},
                        {"Variable": f"{u}.n", "NumericEquals": 1, "Next": n(step, f"{color} one")},
                    ],
                    "Default": n(step, f"{color} two"),
                },
            ),
            (
                n(step, f"{color} none"),
                {"Type": "Pass", "Result": {"w": 0}, "ResultPath": f"{u}.p", "Next": then},
            ),
            (
                n(step, f"{color} one"),
                {"Type": "Pass", "Parameters": {"w.$": f"States.ArrayGetItem({u}.u, 0)"},
                 "ResultPath": f"{u}.p", "Next": then},
            ),
            (
                n(step, f"{color} two"),
                {"Type": "Pass",
                 "Parameters": {"w.$": f"States.MathAdd(States.ArrayGetItem({u}.u, 0), "
                                       f"States.ArrayGetItem({u}.u, 1))"},
                 "ResultPath": f"{u}.p", "Next": then},
            ),
        ]  # fmt: skip
    chain.append(
        (
            n(step, "live?"),
            {
                "Type": "Choice",
                # the larger weight is live; a tie counts as blue
                "Choices": [
                    {
                        "Variable": f"{x}.green.p.w",
                        "NumericGreaterThanPath": f"{x}.blue.p.w",
                        "Next": n(step, "green live"),
                    }
                ],
                "Default": n(step, "blue live"),
            },
        )
    )
    for live, idle in (("green", "blue"), ("blue", "green")):
        chain.append(
            (
                n(step, f"{live} live"),
                {
                    "Type": "Pass",
                    "Parameters": {
                        "live_color": live,
                        "idle_color": idle,
                        "aw.$": f"{x}.{live}.p.w",
                        "bw.$": f"{x}.{idle}.p.w",
                    },
                    "ResultPath": done,
                    "Next": n(step, "found"),
                },
            )
        )
    chain.append((n(step, "found"), {"Type": "Pass", "Result": True, "ResultPath": x}))
    return chain


def _record(p: Mapping[str, Any], color: str, weight: int | str) -> dict[str, Any]:
    side = p[color]
    return {
        "Name": fqdn(p["record_name"]),
        "Type": p["record_type"],
        "SetIdentifier": side["set_identifier"],
        **({"Weight.$": weight} if isinstance(weight, str) else {"Weight": weight}),
        "TTL": int(p.get("ttl") or 60),
        "ResourceRecords": [{"Value": side["value"]}],
    }


def _write(
    t: _Translator, step: Step, label: str, prev: str, weights: Mapping[str, int | str]
) -> list[tuple[str, dict[str, Any]]]:
    """UPSERT both records with ``weights`` (``{"a": live, "b": idle}``, numbers
    or JSONPaths), the live side read from ``prev``; then wait for INSYNC."""
    p = step.params
    k = t.key(step)
    n = t.name
    c = f"$.x.{k}c{label.replace(' ', '')}"
    synced = n(step, f"{label} in sync?")
    chain: list[tuple[str, dict[str, Any]]] = [
        (
            n(step, f"{label} which?"),
            {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": f"{prev}.live_color",
                        "StringEquals": "green",
                        "Next": n(step, f"{label} green live"),
                    }
                ],
                "Default": n(step, f"{label} blue live"),
            },
        )
    ]
    for live, idle in (("green", "blue"), ("blue", "green")):
        records = [_record(p, live, weights["a"]), _record(p, idle, weights["b"])]
        records.sort(key=lambda r: str(r["SetIdentifier"]))
        chain.append(
            (
                n(step, f"{label} {live} live"),
                t.task(
                    step,
                    "",
                    f"{R53}:changeResourceRecordSets",
                    {
                        "HostedZoneId": p["hosted_zone_id"],
                        "ChangeBatch": {
                            "Comment": f"deployctl {step.kind} {step.id}"[:256],
                            "Changes": [
                                {"Action": "UPSERT", "ResourceRecordSet": r} for r in records
                            ],
                        },
                    },
                    ResultSelector={"id.$": "$.ChangeInfo.Id"},
                    ResultPath=c,
                    Next=synced,
                ),
            )
        )
    chain += [
        (
            synced,
            t.task(
                step,
                "",
                f"{R53}:getChange",
                {"Id.$": f"{c}.id"},
                ResultSelector={"status.$": "$.ChangeInfo.Status"},
                ResultPath=f"{c}.sync",
                Next=n(step, f"{label} synced?"),
            ),
        ),
        (
            n(step, f"{label} synced?"),
            {
                "Type": "Choice",
                "Choices": [
                    {
                        "Not": {"Variable": f"{c}.sync.status", "StringEquals": "INSYNC"},
                        "Next": n(step, f"{label} sync wait"),
                    }
                ],
                "Default": n(step, f"{label} written"),
            },
        ),
        (
            n(step, f"{label} sync wait"),
            {"Type": "Wait", "Seconds": t.wait_seconds(SYNC_POLL_SECONDS), "Next": synced},
        ),
    ]
    return chain


def _previous(t: _Translator, step: Step) -> str:
    found = t.path_of(step, weights_key(step.params))
    if found is None:
        t.refuse(step)  # no route53.discover of this name before it
    return found


def shift(t: _Translator, step: Step) -> list[tuple[str, dict[str, Any]]]:
    p = step.params
    k = t.key(step)
    prev = _previous(t, step)
    weight = int(p["weight"])
    to = COLOR_REFS[str(p["to"])]
    want = {to: weight, ("a" if to == "b" else "b"): 100 - weight}
    t.out_paths[step.id] = {weights_key(p): f"$.o.{k}"}
    chain = _write(t, step, "write", prev, want)
    chain.append(
        (
            t.name(step, "write written"),
            {
                "Type": "Pass",
                "Parameters": {
                    "live_color.$": f"{prev}.live_color",
                    "aw": want["a"],
                    "bw": want["b"],
                },
                "ResultPath": f"$.o.{k}",
            },
        )
    )
    return chain


def shift_undo(t: _Translator, step: Step, undo_name: str) -> list[tuple[str, dict[str, Any]]]:
    """Write back the weights of the record before the shift."""
    prev = _previous(t, step)
    chain = _write(t, step, "undo", prev, {"a": f"{prev}.aw", "b": f"{prev}.bw"})
    # the rollback path names an undo's first state; its last one ends the group
    chain.append((t.name(step, "undo written"), {"Type": "Pass"}))
    chain[0] = (undo_name, chain[0][1])
    return chain
