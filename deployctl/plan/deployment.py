"""Deployment -> steps: per region, prepare the new version, smoke-test it,
move traffic stage by stage behind gates, then watch; regions in waves.

What differs per target kind is its planner (``targets.py``), looked up by the
target's model type in :data:`PLANNERS`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from deployctl.core.params import CommandRunParams
from deployctl.manifest import model as m
from deployctl.manifest.triggers import Trigger
from deployctl.plan.api import Step
from deployctl.plan.cloudformation import CloudFormationPlanner, deploy_step
from deployctl.plan.ecs import EcsPlanner
from deployctl.plan.gates import gate_step
from deployctl.plan.graph import Ctx
from deployctl.plan.lambda_ import LambdaPlanner, update_code
from deployctl.plan.smoke import smoke_steps
from deployctl.plan.targets import AlbPlanner, CloudFrontPlanner, Route53Planner, TargetPlanner

__all__ = ["PLANNERS", "Ctx", "planner", "region_chain"]

PLANNERS: dict[type, TargetPlanner[Any]] = {
    m.LambdaTarget: LambdaPlanner(),
    m.AlbTarget: AlbPlanner(),
    m.EcsTarget: EcsPlanner(),
    m.Route53Target: Route53Planner(),
    m.CloudFrontTarget: CloudFrontPlanner(),
    m.CloudFormationTarget: CloudFormationPlanner(),
}


def planner(target: m.Target) -> TargetPlanner[Any]:
    return PLANNERS[type(target)]


def _prepare(ctx: Ctx, d: m.Deployment, region: str, p: str, after: list[str]) -> list[str]:
    """Steps before traffic moves: the target's own, then what ``deploy:`` adds."""
    g, tags = ctx.graph, (f"region:{region}", "phase:deploy")
    tgt = planner(d.target)
    after = tgt.prepare(ctx, d, d.target, region, p, after)
    if d.deploy and d.deploy.cloudformation:
        stack = d.deploy.cloudformation
        after = [deploy_step(ctx, f"{p}/deploy/stack", stack, after, region, tags)]
    code, function = (d.deploy.lambda_code, d.deploy.lambda_function) if d.deploy else (None, None)
    # Another function the new version needs, e.g. behind an ALB target group.
    if code and function and tgt.own_function(d.target) != function:
        after = [update_code(ctx, f"{p}/deploy/lambda-code", function, code, after, region, tags)]
    if d.deploy and d.deploy.command:
        params = CommandRunParams(
            argv=d.deploy.command,
            timeout=3600.0,
            cwd=ctx.base_dir or ".",  # paths relative to the plan file
        )
        after = [
            g.add(
                Step(
                    f"{p}/deploy/command",
                    params.KIND,
                    f"run {' '.join(d.deploy.command)}",
                    params.to_params(),
                    tuple(after),
                    region,
                    tags,
                )
            )
        ]
    return after


def region_chain(
    ctx: Ctx, d: m.Deployment, region: str, after: list[str], extra: Sequence[Trigger] = ()
) -> list[str]:
    """Every step for one region; returns the chain's last steps."""
    p = f"{ctx.prefix}{region}"
    triggers = (*d.rollback.triggers, *extra)
    after = _prepare(ctx, d, region, p, after)
    after = (
        smoke_steps(
            ctx.graph, d.smoke, f"{p}/smoke", region, after, (f"region:{region}", "phase:smoke")
        )
        or after
    )
    tgt = planner(d.target)
    after = tgt.traffic(ctx, d, d.target, region, p, after, triggers)
    if d.rollback.monitoring_time:
        # The last stage's threshold and alarms, when it stays ('stable'),
        # gate this watch after promotion: every threshold gates something.
        last = d.strategy.stages[-1]
        final = last if last.duration is None else m.Stage(100, None)
        after = [
            ctx.graph.add(
                gate_step(
                    f"{p}/monitor",
                    duration=d.rollback.monitoring_time,
                    interval=d.strategy.interval,
                    threshold=final.metric_threshold,
                    alarms=(*d.rollback.alarms, *final.alarms),
                    analysis=d.analysis,
                    triggers=triggers,
                    deps=after,
                    region=region,
                    tags=(f"region:{region}", "phase:monitor"),
                    traffic=100,
                    label="monitor",
                )
            )
        ]
    return tgt.cleanup(ctx, d.target, region, p, after)
