"""ALB blue/green on Step Functions: ``alb.discover``, ``alb.shift`` (and its
undo) and ``alb.drain`` as states, the way :mod:`deployctl.actions.alb` runs
them locally.

Every step that knows the listener's weights keeps them in one record, the
live side first: ``{"a": live target group, "aw": its weight, "b": idle
target group, "bw": its weight}``.  ``alb.discover`` writes the record it
read (which side is live, as :func:`deployctl.actions.alb.live_color`
decides: the larger weight, a tie is blue); each shift writes the weights it
set.  A shift's undo writes back the record of the step before it (the
previous shift of the listener, or the discover): the weights that were live
before the shift, exactly as the local undo restores its journaled
``previous_weights``.

Before traffic moves onto a side (forward or undo), that side must be
healthy, as :func:`deployctl.actions.target_health.wait_healthy` requires:
``describeTargetHealth`` every 10 s up to the step's ``health_timeout``,
until a target is ``healthy`` and none is ``initial`` or ``unhealthy``.  A
shift that finds the receiving side unhealthy fails into the rollback
before it writes; an undo that finds it unhealthy stops the rollback
(``deployctl.RollbackStopped``, exit 7) with traffic left where it is.

What the machine cannot keep, it refuses at run time before anything moves
(``deployctl.ListenerNotTranslated``, rolled back): a listener or rule with
more than one action, a forward to a third target group, stickiness on.
The local engine keeps those as they are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from deployctl.plan.api import Step
from deployctl.stepfunctions.states import to_rollback, which_states

if TYPE_CHECKING:
    from deployctl.stepfunctions.asl import _Translator

ELB = "elasticloadbalancingv2"
POLL_SECONDS = 10
NOT_TRANSLATED = "deployctl.ListenerNotTranslated"
UNHEALTHY = "deployctl.Unhealthy"
COLOR_REFS = {"${idle_color}": "b", "${live_color}": "a"}  # which side of the record


def weights_key(params: Mapping[str, Any]) -> str:
    """The out name under which discover and shifts keep a listener's record."""
    return f"alb weights {params.get('rule_arn') or params['listener_arn']}"


def refuse(step: Step) -> bool:
    """Params the machine cannot run: a side named other than by the discover's
    colours, or more than one healthy target required (the machine counts
    ``healthy`` with ``States.ArrayContains``, which has no count)."""
    p = step.params
    if int(p.get("min_healthy") or 1) > 1:
        return True
    if step.kind == "alb.shift":
        return str(p["to"]) not in COLOR_REFS or not str(p["weight"]).isdigit()
    if step.kind == "alb.drain":
        return str(p["from"]) not in COLOR_REFS
    return False


def _read(t: _Translator, step: Step) -> dict[str, Any]:
    """The forward action of the step's rule, or else of its listener."""
    p = step.params
    if p.get("rule_arn"):
        api, request, actions = (
            "describeRules",
            {"RuleArns": [p["rule_arn"]]},
            "$.Rules[*].Actions[*]",
        )
    else:
        api, request = "describeListeners", {"ListenerArns": [p["listener_arn"]]}
        actions = "$.Listeners[*].DefaultActions[*]"
    # A [*] path to objects is a list on AWS and on moto alike ([0] is a one-element
    # list on moto, and a [*] path ending in one string is that string there).
    return t.task(
        step,
        "",
        f"{ELB}:{api}",
        request,
        ResultSelector={
            "n.$": f"States.ArrayLength({actions})",
            "fw.$": f"States.ArrayGetItem({actions}, 0)",
        },
        ResultPath=f"$.x.{t.key(step)}",
    )


def discover(t: _Translator, step: Step) -> list[tuple[str, dict[str, Any]]]:
    """Read the forward action, find each side's weight, name the live side."""
    p = step.params
    k = t.key(step)
    x = f"$.x.{k}"
    fw = f"{x}.fw"
    blue, green = str(p["blue_target_group"]), str(p["green_target_group"])
    done = f"$.o.{k}"
    t.out_paths[step.id] = {
        "live_color": f"{done}.live_color",
        "idle_color": f"{done}.idle_color",
        weights_key(p): done,
    }
    n = t.name
    refused = n(step, "not translated")
    w = f"{x}.w"

    def weights(name: str, blue_w: Any, green_w: Any) -> tuple[str, dict[str, Any]]:
        args = {"blue": blue_w, "green": green_w}
        return name, {
            "Type": "Pass",
            "Parameters": {(f"{c}.$" if isinstance(v, str) else c): v for c, v in args.items()},
            "ResultPath": w,
            "Next": n(step, "live?"),
        }

    tgs = f"{fw}.ForwardConfig.TargetGroups"
    t0, t1 = f"{x}.t.t0", f"{x}.t.t1"
    chain: list[tuple[str, dict[str, Any]]] = [
        (n(step, "read"), _read(t, step)),
        (
            n(step, "shape?"),
            {
                "Type": "Choice",
                # rules run in order: a field is tested only once it is known to be there
                "Choices": [
                    {"Not": {"Variable": f"{x}.n", "NumericEquals": 1}, "Next": refused},
                    {"Not": {"Variable": f"{fw}.Type", "StringEquals": "forward"}, "Next": refused},
                    {
                        "Variable": f"{fw}.ForwardConfig.TargetGroupStickinessConfig.Enabled",
                        "IsPresent": False,
                        "Next": n(step, "weighted?"),
                    },
                    {
                        "Variable": f"{fw}.ForwardConfig.TargetGroupStickinessConfig.Enabled",
                        "BooleanEquals": True,
                        "Next": refused,
                    },
                ],
                "Default": n(step, "weighted?"),
            },
        ),
        (
            n(step, "weighted?"),
            {
                "Type": "Choice",
                "Choices": [{"Variable": tgs, "IsPresent": False, "Next": n(step, "plain")}],
                "Default": n(step, "groups"),
            },
        ),
        (
            n(step, "plain"),
            {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": f"{fw}.TargetGroupArn",
                        "StringEquals": blue,
                        "Next": n(step, "plain blue"),
                    },
                    {
                        "Variable": f"{fw}.TargetGroupArn",
                        "StringEquals": green,
                        "Next": n(step, "plain green"),
                    },
                ],
                "Default": refused,
            },
        ),
        weights(n(step, "plain blue"), 100, 0),
        weights(n(step, "plain green"), 0, 100),
        (
            n(step, "groups"),
            {
                "Type": "Pass",
                "Parameters": {
                    "n.$": f"States.ArrayLength({tgs})",
                    "t0.$": f"States.ArrayGetItem({tgs}, 0)",
                },
                "ResultPath": f"{x}.t",
                "Next": n(step, "how many?"),
            },
        ),
        (
            n(step, "how many?"),
            {
                "Type": "Choice",
                "Choices": [
                    {"Variable": f"{x}.t.n", "NumericEquals": 1, "Next": n(step, "one")},
                    {"Variable": f"{x}.t.n", "NumericGreaterThan": 2, "Next": refused},
                ],
                "Default": n(step, "second"),
            },
        ),
        (
            n(step, "one"),
            {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": f"{t0}.TargetGroupArn",
                        "StringEquals": blue,
                        "Next": n(step, "only blue"),
                    },
                    {
                        "Variable": f"{t0}.TargetGroupArn",
                        "StringEquals": green,
                        "Next": n(step, "only green"),
                    },
                ],
                "Default": refused,
            },
        ),
        weights(n(step, "only blue"), f"{t0}.Weight", 0),
        weights(n(step, "only green"), 0, f"{t0}.Weight"),
        (
            n(step, "second"),
            {
                "Type": "Pass",
                "Parameters": {
                    "n.$": f"{x}.t.n",
                    "t0.$": f"{x}.t.t0",
                    "t1.$": f"States.ArrayGetItem({tgs}, 1)",
                },
                "ResultPath": f"{x}.t",
                "Next": n(step, "two"),
            },
        ),
        (
            n(step, "two"),
            {
                "Type": "Choice",
                "Choices": [
                    {
                        "And": [
                            {"Variable": f"{t0}.TargetGroupArn", "StringEquals": green},
                            {"Variable": f"{t1}.TargetGroupArn", "StringEquals": blue},
                        ],
                        "Next": n(step, "green first"),
                    },
                    {
                        "Not": {
                            "And": [
                                {"Variable": f"{t0}.TargetGroupArn", "StringEquals": blue},
                                {"Variable": f"{t1}.TargetGroupArn", "StringEquals": green},
                            ]
                        },
                        "Next": refused,
                    },
                ],
                "Default": n(step, "blue first"),
            },
        ),
        weights(n(step, "blue first"), f"{t0}.Weight", f"{t1}.Weight"),
        weights(n(step, "green first"), f"{t1}.Weight", f"{t0}.Weight"),
        (
            refused,
            to_rollback(
                NOT_TRANSLATED,
                (
                    f"{step.id}: the listener's actions are not one forward to blue "
                    "and/or green without stickiness; use the local engine"
                ),
            ),
        ),
        (
            n(step, "live?"),
            {
                "Type": "Choice",
                # the larger weight is live; a tie counts as blue (nothing moved yet)
                "Choices": [
                    {
                        "Variable": f"{w}.green",
                        "NumericGreaterThanPath": f"{w}.blue",
                        "Next": n(step, "green live"),
                    }
                ],
                "Default": n(step, "blue live"),
            },
        ),
    ]
    for live, idle, live_tg, idle_tg in (
        ("green", "blue", green, blue),
        ("blue", "green", blue, green),
    ):
        chain.append(
            (
                n(step, f"{live} live"),
                {
                    "Type": "Pass",
                    "Parameters": {
                        "live_color": live,
                        "idle_color": idle,
                        "a": live_tg,
                        "aw.$": f"{w}.{live}",
                        "b": idle_tg,
                        "bw.$": f"{w}.{idle}",
                    },
                    "ResultPath": done,
                    "Next": n(step, "found"),
                },
            )
        )
    chain.append((n(step, "found"), {"Type": "Pass", "Result": True, "ResultPath": f"{x}"}))
    return chain


def _previous(t: _Translator, step: Step) -> str:
    found = t.path_of(step, weights_key(step.params))
    if found is None:
        t.refuse(step)  # no alb.discover of this listener before it
    return found


def _write(
    t: _Translator, step: Step, record: str | None, want: Mapping[str, int]
) -> dict[str, Any]:
    """modifyListener/modifyRule: one forward to the record's two target groups,
    with ``want``'s weights (``{"a": .., "b": ..}``) or, with ``record`` and no
    ``want``, the record's own."""
    p = step.params
    prev = record or ""
    groups = [
        {
            "TargetGroupArn.$": f"{prev}.{side}",
            **({"Weight": want[side]} if side in want else {"Weight.$": f"{prev}.{side}w"}),
        }
        for side in ("a", "b")
    ]
    actions = [{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}]
    if p.get("rule_arn"):
        return t.task(
            step, "", f"{ELB}:modifyRule", {"RuleArn": p["rule_arn"], "Actions": actions},
            ResultPath=None,
        )  # fmt: skip
    return t.task(
        step,
        "",
        f"{ELB}:modifyListener",
        {"ListenerArn": p["listener_arn"], "DefaultActions": actions},
        ResultPath=None,
    )


def health(
    t: _Translator, step: Step, label: str, group: str, then: str, fail: str
) -> list[tuple[str, dict[str, Any]]]:
    """Wait until target group ``group`` (a JSONPath) has a healthy target and
    none initial or unhealthy, polling up to the step's ``health_timeout``;
    then go to ``then``, or to ``fail`` when the time is up."""
    k = t.key(step)
    h = f"$.h.{k}{label.replace(' ', '')}"
    n = t.name
    checks = max(1, math.ceil(float(step.params.get("health_timeout") or 300) / POLL_SECONDS)) + 1
    read = t.task(
        step,
        "",
        f"{ELB}:describeTargetHealth",
        {"TargetGroupArn.$": group},
        ResultSelector={"targets.$": "$.TargetHealthDescriptions"},
        ResultPath=f"{h}.seen",
        Next=n(step, f"{label} states"),
    )
    states = {
        **which_states(
            f"{h}.seen.targets",
            "TargetHealth.State",
            {s: s for s in ("healthy", "initial", "unhealthy")},
        ),
        "ResultPath": f"{h}.seen",
        "Next": n(step, f"{label} healthy?"),
    }
    healthy = {
        "And": [
            {"Variable": f"{h}.seen.healthy", "BooleanEquals": True},
            {"Variable": f"{h}.seen.initial", "BooleanEquals": False},
            {"Variable": f"{h}.seen.unhealthy", "BooleanEquals": False},
        ]
    }
    return [
        (
            n(step, f"{label} health"),
            {"Type": "Pass", "Result": {"n": 0}, "ResultPath": h, "Next": n(step, f"{label} read")},
        ),
        (n(step, f"{label} read"), read),
        (n(step, f"{label} states"), states),
        (
            n(step, f"{label} healthy?"),
            {
                "Type": "Choice",
                # the healthy path is the Default (export's estimate follows Defaults)
                "Choices": [
                    {
                        "And": [
                            {"Not": healthy},
                            {"Variable": f"{h}.n", "NumericGreaterThanEquals": checks - 1},
                        ],
                        "Next": fail,
                    },
                    {"Not": healthy, "Next": n(step, f"{label} again")},
                ],
                "Default": then,
            },
        ),
        (
            n(step, f"{label} again"),
            {
                "Type": "Pass",
                "Parameters": {"n.$": f"States.MathAdd({h}.n, 1)"},
                "ResultPath": h,
                "Next": n(step, f"{label} poll"),
            },
        ),
        (
            n(step, f"{label} poll"),
            {
                "Type": "Wait",
                "Seconds": t.wait_seconds(POLL_SECONDS),
                "Next": n(step, f"{label} read"),
            },
        ),
    ]


def shift(t: _Translator, step: Step) -> list[tuple[str, dict[str, Any]]]:
    """Check each side that gains traffic, then write ``weight`` to the side
    ``to`` names and the rest to the other; record the weights set."""
    p = step.params
    k = t.key(step)
    prev = _previous(t, step)
    to = COLOR_REFS[str(p["to"])]
    weight = int(p["weight"])
    want = {to: weight, ("a" if to == "b" else "b"): 100 - weight}
    t.out_paths[step.id] = {weights_key(p): f"$.o.{k}"}
    n = t.name
    write_name = n(step)
    failed = n(step, "unhealthy")
    chain: list[tuple[str, dict[str, Any]]] = []
    for side in ("a", "b"):
        if want[side] == 0:
            continue
        after = n(step, "b gains?") if side == "a" and want["b"] else write_name
        check = health(t, step, side, f"{prev}.{side}", after, failed)
        chain.append(
            (
                n(step, f"{side} gains?"),
                {
                    "Type": "Choice",
                    "Choices": [
                        {
                            "Variable": f"{prev}.{side}w",
                            "NumericGreaterThanEquals": want[side],
                            "Next": after,
                        }
                    ],
                    "Default": check[0][0],
                },
            )
        )
        chain += check
    write = _write(t, step, prev, want)
    write["Next"] = n(step, "set")
    chain.append((write_name, write))
    chain.append(
        (
            n(step, "set"),
            {
                "Type": "Pass",
                "Parameters": {
                    "a.$": f"{prev}.a",
                    "aw": want["a"],
                    "b.$": f"{prev}.b",
                    "bw": want["b"],
                },
                "ResultPath": f"$.o.{k}",
                "Next": n(step, "done"),
            },
        )
    )
    chain.append(
        (
            failed,
            to_rollback(
                UNHEALTHY,
                f"{step.id}: the receiving side is not healthy; no traffic was moved",
            ),
        )
    )
    chain.append((n(step, "done"), {"Type": "Pass", "Result": True, "ResultPath": f"$.x.{k}"}))
    return chain


def shift_undo(t: _Translator, step: Step, undo_name: str) -> list[tuple[str, dict[str, Any]]]:
    """Write back the weights before the shift (the previous record), once each
    side that gains traffic by it is healthy; an unhealthy one stops the rollback."""
    prev = _previous(t, step)
    now = t.done_path(step)
    n = t.name
    chain: list[tuple[str, dict[str, Any]]] = []
    for side in ("a", "b"):
        after = n(step, "undo b gains?") if side == "a" else undo_name
        check = health(t, step, f"undo {side}", f"{prev}.{side}", after, "RollbackStopped")
        chain.append(
            (
                n(step, f"undo {side} gains?"),
                {
                    "Type": "Choice",
                    "Choices": [
                        {
                            "Variable": f"{prev}.{side}w",
                            "NumericGreaterThanPath": f"{now}.{side}w",
                            "Next": check[0][0],
                        }
                    ],
                    "Default": after,
                },
            )
        )
        chain += check
    t.stops = True
    chain.append((undo_name, _write(t, step, prev, {})))
    return chain


def drain(t: _Translator, step: Step) -> list[tuple[str, dict[str, Any]]]:
    """Wait while the side that lost traffic finishes its requests: the plan's
    ``drain``, or the target group's deregistration delay."""
    p = step.params
    k = t.key(step)
    n = t.name
    t.out_paths[step.id] = {}
    done = (n(step, "drained"), {"Type": "Pass", "Result": True, "ResultPath": f"$.o.{k}"})
    if p.get("drain") is not None:
        fixed = {"Type": "Wait", "Seconds": t.wait_seconds(float(p["drain"]))}
        return [(n(step), fixed), done]
    side = COLOR_REFS[str(p["from"])]
    record = t.path_of(step, weights_key(p))
    if record is None:
        t.refuse(step)
    read = t.task(
        step,
        "",
        f"{ELB}:describeTargetGroupAttributes",
        {"TargetGroupArn.$": f"{record}.{side}"},
        ResultSelector={
            "seconds.$": (
                "States.StringToJson(States.ArrayGetItem("
                "$.Attributes[?(@.Key=='deregistration_delay.timeout_seconds')].Value, 0))"
            )
        },
        ResultPath=f"$.x.{k}",
        # no deregistration delay (a Lambda target group): nothing to wait for
        Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": n(step, "drained")}],
    )
    # Tests and benchmarks shrink every Wait (--time-scale): a delay read at run
    # time cannot be scaled in ASL, so a scaled machine does not wait it.
    wait: dict[str, Any] = (
        {"Type": "Wait", "SecondsPath": f"$.x.{k}.seconds"}
        if t.options.wait_scale == 1
        else {"Type": "Wait", "Seconds": 0}
    )
    return [(n(step, "delay"), read), (n(step), wait), done]
