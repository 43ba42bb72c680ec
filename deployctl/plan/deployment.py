"""Deployment -> steps: per region, prepare the new version, smoke-test it,
move traffic stage by stage behind gates, then watch; regions in waves."""

from __future__ import annotations

import os.path
from collections.abc import Sequence
from dataclasses import dataclass

from deployctl.core.kinds import StepKind
from deployctl.manifest import model as m
from deployctl.manifest.triggers import Trigger
from deployctl.plan import ecs, targets
from deployctl.plan.api import Step
from deployctl.plan.gates import gate_step
from deployctl.plan.graph import StepGraph
from deployctl.plan.smoke import smoke_steps


@dataclass(frozen=True)
class Ctx:
    graph: StepGraph
    prefix: str  # "" or "<environment>/" inside a pipeline
    base_dir: str  # plan file folder, for template and zip paths


def _update_code(
    ctx: Ctx,
    step_id: str,
    function: str,
    code: m.LambdaCode,
    after: list[str],
    region: str,
    tags: tuple[str, ...],
) -> str:
    spec = targets.code_params(code)
    if code.zip_file:
        spec["zip_file"] = os.path.normpath(os.path.join(ctx.base_dir, code.zip_file))
    return ctx.graph.add(
        Step(
            step_id,
            StepKind.LAMBDA_UPDATE_CODE,
            f"update {function} code",
            {"function": function, "code": spec},
            tuple(after),
            region,
            tags,
            outputs=("code_sha256",),
        )
    )


def _prepare(ctx: Ctx, d: m.Deployment, region: str, p: str, after: list[str]) -> list[str]:
    """Steps before traffic moves: learn the live side, put the new version on the idle one."""
    g, tags = ctx.graph, (f"region:{region}", "phase:deploy")
    tgt = d.target
    if isinstance(tgt, m.LambdaTarget):
        code = tgt.code
        if code is None and d.deploy and d.deploy.lambda_function == tgt.function:
            code = d.deploy.lambda_code
        if code:
            after = [
                _update_code(
                    ctx, f"{p}/deploy/update-code", tgt.function, code, after, region, tags
                )
            ]
        after = [
            g.add(
                Step(
                    f"{p}/deploy/publish",
                    StepKind.LAMBDA_PUBLISH,
                    f"publish a version of {tgt.function}; note the version alias {tgt.alias} serves",
                    # With new code, Lambda refuses to publish if $LATEST changed under us.
                    targets.target_params(tgt)
                    | ({"code_sha256": "${code_sha256}"} if code else {}),
                    tuple(after),
                    region,
                    tags,
                    outputs=("new_version", "stable_version", "alias_revision"),
                )
            )
        ]
    elif isinstance(tgt, m.EcsTarget):
        if d.deploy and d.deploy.ecs:
            after = ecs.prepare(g, tgt, d.deploy.ecs, region, p, after, ctx.base_dir)
    elif not isinstance(tgt, m.CloudFormationTarget):
        discover = {
            m.AlbTarget: StepKind.ALB_DISCOVER,
            m.Route53Target: StepKind.ROUTE53_DISCOVER,
            m.CloudFrontTarget: StepKind.CLOUDFRONT_DISCOVER,
        }[type(tgt)]
        after = [
            g.add(
                Step(
                    f"{p}/discover",
                    discover,
                    f"find the live side of {targets.name_of(tgt)}",
                    targets.target_params(tgt),
                    tuple(after),
                    region,
                    tags,
                    mutating=False,
                    outputs=("live_color", "idle_color"),
                )
            )
        ]
    if d.deploy and d.deploy.cloudformation:
        stack = d.deploy.cloudformation
        after = [
            g.add(
                Step(
                    f"{p}/deploy/stack",
                    StepKind.CLOUDFORMATION_DEPLOY,
                    f"update stack {stack.stack} (change set, execute, wait)",
                    targets.cfn_params(stack, ctx.base_dir),
                    tuple(after),
                    region,
                    tags,
                    undo=f"re-deploy the previous template and parameters of {stack.stack}",
                    outputs=("stack_id",),
                )
            )
        ]
    if d.deploy and d.deploy.lambda_code and d.deploy.lambda_function:
        own = isinstance(tgt, m.LambdaTarget) and tgt.function == d.deploy.lambda_function
        if not own:  # another function the new version needs, e.g. behind an ALB target group
            step_id = f"{p}/deploy/lambda-code"
            after = [
                _update_code(
                    ctx,
                    step_id,
                    d.deploy.lambda_function,
                    d.deploy.lambda_code,
                    after,
                    region,
                    tags,
                )
            ]
    if d.deploy and d.deploy.command:
        after = [
            g.add(
                Step(
                    f"{p}/deploy/command",
                    StepKind.COMMAND_RUN,
                    f"run {' '.join(d.deploy.command)}",
                    {
                        "argv": list(d.deploy.command),
                        "timeout": 3600.0,
                        "cwd": ctx.base_dir or ".",  # paths relative to the plan file
                    },
                    tuple(after),
                    region,
                    tags,
                )
            )
        ]
    return after


def _traffic(
    ctx: Ctx, d: m.Deployment, region: str, p: str, after: list[str], triggers: Sequence[Trigger]
) -> list[str]:
    g, s = ctx.graph, d.strategy
    if isinstance(d.target, m.CloudFormationTarget):
        stack = d.target
        params = (
            targets.cfn_params(stack, ctx.base_dir)
            | {"rollback_triggers": [t.text for t in d.rollback.triggers]}
            | targets.stack_rollback(
                stack, d.rollback.triggers, d.metrics, d.rollback.monitoring_time
            )
        )
        after = [
            g.add(
                Step(
                    f"{p}/stack/deploy",
                    StepKind.CLOUDFORMATION_DEPLOY,
                    f"update stack {stack.stack} (change set, execute, wait)",
                    params,
                    tuple(after),
                    region,
                    (f"region:{region}", "switch-traffic", "promote", "stage:1"),
                    traffic=100,
                    undo=f"re-deploy the previous template and parameters of {stack.stack}",
                    outputs=("stack_id",),
                )
            )
        ]
        if s.stages[0].duration:
            after = [
                g.add(
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
    single = s.type in ("blue-green", "all-at-once")
    for n, stage in enumerate(s.stages, start=1):
        base = f"{p}/{s.type}" if single else f"{p}/{s.type}/stage-{n}"
        tags = [f"region:{region}", f"stage:{n}"]
        if n == 1:
            tags.append("switch-traffic")
        if stage.traffic == 100:
            tags.append("promote")
        kind, params, what, undo = targets.shift(d.target, stage.traffic)
        shift_id = f"{base}/switch" if s.type == "blue-green" else f"{base}/shift"
        after = [
            g.add(
                Step(
                    shift_id,
                    kind,
                    what,
                    params,
                    tuple(after),
                    region,
                    tuple(tags),
                    traffic=stage.traffic,
                    undo=undo,
                    outputs=("alias_revision",) if kind == StepKind.LAMBDA_SHIFT else (),
                )
            )
        ]
        shifted = list(after)
        if stage.duration:
            label = "bake" if single else "analysis"
            after = [
                g.add(
                    gate_step(
                        f"{base}/{label}",
                        duration=stage.duration,
                        interval=s.interval,
                        threshold=stage.metric_threshold,
                        analysis=d.analysis,
                        triggers=triggers,
                        deps=after,
                        region=region,
                        tags=tags[:2],
                        traffic=stage.traffic,
                        label=label,
                        alarms=(*d.rollback.alarms, *stage.alarms),
                    )
                )
            ]
        listener = d.target.listener if isinstance(d.target, m.EcsTarget) else d.target
        if stage.traffic == 100 and isinstance(listener, m.AlbTarget):
            drained = g.add(_drain(listener, f"{base}/drain", shifted, region, s.interval))
            after.append(drained)
            if isinstance(d.target, m.EcsTarget) and d.target.task_sets:
                # Once the old side has drained: in the order CodeDeploy keeps
                # (traffic, then primary, then the old task set goes), one at a time.
                after.append(g.add(ecs.primary(d.target, f"{base}/primary", [drained], region, n)))
    return after


def _drain(
    target: m.AlbTarget, step_id: str, deps: list[str], region: str, interval: float
) -> Step:
    """Wait while the side traffic left finishes its requests: its target
    group's deregistration delay, or the plan's ``drain``."""
    how = "its deregistration delay" if target.drain is None else f"{target.drain:g}s"
    return Step(
        step_id,
        StepKind.ALB_DRAIN,
        f"{targets.name_of(target)}: let ${{live_color}} finish its requests ({how})",
        targets.target_params(target)
        | {"from": "${live_color}", "drain": target.drain, "interval": interval},
        tuple(deps),
        region,
        (f"region:{region}", "phase:drain"),
        traffic=100,
        mutating=False,
    )


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
    after = _traffic(ctx, d, region, p, after, triggers)
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
    tgt = d.target
    if isinstance(tgt, m.EcsTarget) and tgt.task_sets:
        after = [ctx.graph.add(ecs.cleanup(tgt, f"{p}/cleanup/old-task-set", after, region))]
    if isinstance(tgt, m.LambdaTarget) and tgt.keep_versions:
        after = [
            ctx.graph.add(
                Step(
                    f"{p}/cleanup/old-versions",
                    StepKind.LAMBDA_CLEANUP_VERSIONS,
                    f"delete old versions of {tgt.function}, keeping {tgt.keep_versions} and any an alias uses",
                    {"function": tgt.function, "alias": tgt.alias, "keep": tgt.keep_versions},
                    tuple(after),
                    region,
                    (f"region:{region}", "phase:cleanup"),
                )
            )
        ]
    return after
