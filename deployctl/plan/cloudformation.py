"""The CloudFormation target's planner: traffic moves with one stack update,
watched by CloudFormation's own rollback triggers, then an optional bake.
Pure data, no AWS."""

from __future__ import annotations

import os.path
from collections.abc import Sequence
from typing import Any, NamedTuple

from deployctl.core.params import CloudFormationDeployParams
from deployctl.manifest import model as m
from deployctl.manifest.triggers import Trigger
from deployctl.plan.api import Step, metric_json
from deployctl.plan.gates import gate_step
from deployctl.plan.graph import Ctx
from deployctl.plan.targets import TargetPlanner


class StackRollback(NamedTuple):
    alarms: tuple[dict[str, Any], ...]  # one CloudWatch alarm per trigger
    minutes: int  # MonitoringTimeInMinutes


def stack_rollback(
    stack: m.CloudFormationTarget,
    triggers: tuple[Trigger, ...],
    metrics: tuple[m.MetricDef, ...],
    monitoring_time: float | None,
) -> StackRollback:
    """CloudFormation's own rollback triggers: one CloudWatch alarm per trigger
    (at most 5, CloudFormation's limit), and ``MonitoringTimeInMinutes``.

    An alarm compares the raw metric, so the threshold is the trigger's value
    divided by the metric's ``scale``; a ratio becomes a metric-math alarm.
    """
    by_name = {d.name: d for d in metrics}
    alarms = tuple(
        {
            "name": f"deployctl-{stack.stack}-{t.metric}-{n}",
            "trigger": t.text,
            "op": t.op,
            "threshold": t.value / (by_name[t.metric].scale or 1.0),
            "metric": metric_json(by_name[t.metric]),
        }
        for n, t in enumerate(triggers[:5], start=1)
        if t.metric in by_name
    )
    minutes = min(180, int(-(-(monitoring_time or 0.0) // 60)))
    return StackRollback(alarms, minutes)


def deploy_step(
    ctx: Ctx,
    step_id: str,
    stack: m.CloudFormationTarget,
    after: list[str],
    region: str,
    tags: tuple[str, ...],
    *,
    traffic: int | None = None,
    rollback: tuple[tuple[str, ...], StackRollback] | None = None,
) -> str:
    """A stack update (change set, execute, wait); ``rollback``: its trigger
    texts and CloudFormation's own rollback configuration for them."""
    texts, watch = rollback if rollback else (None, None)
    params = CloudFormationDeployParams(
        stack=stack.stack,
        template=os.path.normpath(os.path.join(ctx.base_dir, stack.template)),
        parameters=dict(stack.parameters),
        capabilities=stack.capabilities,
        rollback_triggers=texts,
        rollback_alarms=watch.alarms if watch else None,
        monitoring_minutes=watch.minutes if watch else None,
    )
    return ctx.graph.add(
        Step(
            step_id,
            params.KIND,
            f"update stack {stack.stack} (change set, execute, wait)",
            params.to_params(),
            tuple(after),
            region,
            tags,
            traffic=traffic,
            undo=f"re-deploy the previous template and parameters of {stack.stack}",
            outputs=("stack_id",),
        )
    )


class CloudFormationPlanner(TargetPlanner[m.CloudFormationTarget]):
    def name(self, target: m.CloudFormationTarget) -> str:
        return f"stack {target.stack}"

    def traffic(
        self,
        ctx: Ctx,
        d: m.Deployment,
        target: m.CloudFormationTarget,
        region: str,
        p: str,
        after: list[str],
        triggers: Sequence[Trigger],
    ) -> list[str]:
        s = d.strategy
        texts = tuple(t.text for t in d.rollback.triggers)
        watch = stack_rollback(target, d.rollback.triggers, d.metrics, d.rollback.monitoring_time)
        after = [
            deploy_step(
                ctx,
                f"{p}/stack/deploy",
                target,
                after,
                region,
                (f"region:{region}", "switch-traffic", "promote", "stage:1"),
                traffic=100,
                rollback=(texts, watch),
            )
        ]
        if s.stages[0].duration:
            after = [
                ctx.graph.add(
                    gate_step(
                        f"{p}/stack/bake",
                        duration=s.stages[0].duration,
                        interval=s.interval,
                        threshold=s.stages[0].metric_threshold,
                        analysis=d.analysis,
                        triggers=triggers,
                        deps=after,
                        region=region,
                        tags=(f"region:{region}", "stage:1"),
                        traffic=100,
                        label="bake",
                        alarms=(*d.rollback.alarms, *s.stages[0].alarms),
                    )
                )
            ]
        return after
