"""What each target contributes to a region's chain: how to learn the live side,
how to shift traffic, and how that shift is undone.  Pure data, no AWS."""

from __future__ import annotations

import os.path
from dataclasses import asdict
from typing import Any

from deployctl.core.kinds import StepKind
from deployctl.manifest import model as m
from deployctl.manifest.triggers import Trigger
from deployctl.plan import ecs
from deployctl.plan.api import metric_json

NEW = "${new_version}"
STABLE = "${stable_version}"
IDLE = "${idle_color}"


def code_params(code: m.LambdaCode) -> dict[str, Any]:
    return {k: v for k, v in asdict(code).items() if v is not None}


def target_params(target: m.Target) -> dict[str, Any]:
    """The target's identity, as every step that touches it needs it."""
    if isinstance(target, m.LambdaTarget):
        return {"function": target.function, "alias": target.alias}
    if isinstance(target, m.AlbTarget):
        return ecs.listener_params(target)
    if isinstance(target, m.EcsTarget):
        return ecs.service_params(target)
    if isinstance(target, m.Route53Target):
        out: dict[str, Any] = {
            "hosted_zone_id": target.hosted_zone_id,
            "record_name": target.record_name,
            "record_type": target.record_type,
            "ttl": target.ttl,
            "blue": _side(target.blue),
            "green": _side(target.green),
        }
        if target.blue.health_check_id or target.green.health_check_id:
            out["health_timeout"] = target.health_timeout
        return out
    if isinstance(target, m.CloudFrontTarget):
        return {
            "distribution_id": target.distribution_id,
            "blue_origin": target.blue_origin,
            "green_origin": target.green_origin,
        }
    return cfn_params(target)


def _side(side: m.Route53Side) -> dict[str, Any]:
    return {k: v for k, v in asdict(side).items() if v is not None}


def cfn_params(stack: m.CloudFormationTarget, base_dir: str = "") -> dict[str, Any]:
    template = os.path.normpath(os.path.join(base_dir, stack.template))
    return {
        "stack": stack.stack,
        "template": template,
        "parameters": dict(stack.parameters),
        "capabilities": list(stack.capabilities),
    }


def name_of(target: m.Target) -> str:
    if isinstance(target, m.LambdaTarget):
        return f"{target.function}:{target.alias}"
    if isinstance(target, m.AlbTarget):
        listener = (target.rule_arn or target.listener_arn).rsplit("/", 1)[-1]
        return f"{'rule' if target.rule_arn else 'listener'} {listener}"
    if isinstance(target, m.Route53Target):
        return target.record_name
    if isinstance(target, m.CloudFrontTarget):
        return f"distribution {target.distribution_id}"
    if isinstance(target, m.EcsTarget):
        return ecs.name_of(target)
    return f"stack {target.stack}"


def shift(target: m.Target, weight: int) -> tuple[str, dict[str, Any], str, str]:
    """(kind, params, description, undo) for sending ``weight``% to the new side."""
    if isinstance(target, m.EcsTarget):  # the listener moves, as for an ALB target
        return shift(target.listener, weight)
    params = target_params(target)
    label = name_of(target)
    if isinstance(target, m.LambdaTarget):
        # alias_revision chains each shift onto the revision the last one left.
        params |= {
            "new_version": NEW,
            "stable_version": STABLE,
            "weight": weight,
            "alias_revision": "${alias_revision}",
        }
        if weight == 100:
            what = f"alias {target.alias}: {NEW} at 100% (promote)"
        else:
            what = f"alias {target.alias}: {NEW} at {weight}%, {STABLE} at {100 - weight}%"
        return (
            StepKind.LAMBDA_SHIFT,
            params,
            what,
            f"alias {target.alias} back to version {STABLE} at 100%",
        )
    kind = {
        m.AlbTarget: StepKind.ALB_SHIFT,
        m.Route53Target: StepKind.ROUTE53_SHIFT,
        m.CloudFrontTarget: StepKind.CLOUDFRONT_SHIFT,
    }[type(target)]
    params |= {"to": IDLE, "weight": weight}
    if isinstance(target, m.CloudFrontTarget):
        if weight == 100:
            what = f"{label}: default origin -> {IDLE}"
        else:
            what = f"{label}: continuous deployment, {weight}% to {IDLE} (staging)"
    else:
        what = f"{label}: {weight}% to {IDLE}, {100 - weight}% to the live side"
    if isinstance(target, m.AlbTarget):
        what += f", once {IDLE} has {target.min_healthy} healthy target(s)"
    return kind, params, what, f"{label}: weights back to where they were"


def stack_rollback(
    stack: m.CloudFormationTarget,
    triggers: tuple[Trigger, ...],
    metrics: tuple[m.MetricDef, ...],
    monitoring_time: float | None,
) -> dict[str, Any]:
    """CloudFormation's own rollback triggers: one CloudWatch alarm per trigger
    (at most 5, CloudFormation's limit), and ``MonitoringTimeInMinutes``.

    An alarm compares the raw metric, so the threshold is the trigger's value
    divided by the metric's ``scale``; a ratio becomes a metric-math alarm.
    """
    by_name = {d.name: d for d in metrics}
    alarms = [
        {
            "name": f"deployctl-{stack.stack}-{t.metric}-{n}",
            "trigger": t.text,
            "op": t.op,
            "threshold": t.value / (by_name[t.metric].scale or 1.0),
            "metric": metric_json(by_name[t.metric]),
        }
        for n, t in enumerate(triggers[:5], start=1)
        if t.metric in by_name
    ]
    minutes = min(180, int(-(-(monitoring_time or 0.0) // 60)))
    return {"rollback_alarms": alarms, "monitoring_minutes": minutes}
