"""Dispatch each manifest kind to its compiler and join documents into one plan."""

from __future__ import annotations

import os.path
from collections.abc import Sequence
from typing import Any

from deployctl.core.kinds import StepKind
from deployctl.core.refs import is_unresolved
from deployctl.diagnostics import Diagnostic
from deployctl.errors import UserError
from deployctl.gcpause import paused_gc
from deployctl.manifest import model as m
from deployctl.manifest.secrets import credential_values
from deployctl.plan.api import Plan, Publish, Step
from deployctl.plan.approvals import insert_approvals
from deployctl.plan.deployment import Ctx
from deployctl.plan.flags import flag_steps
from deployctl.plan.gates import gate_step
from deployctl.plan.graph import DuplicateStep, StepGraph
from deployctl.plan.migration import compile_migration
from deployctl.plan.regions import rollout
from deployctl.plan.smoke import smoke_steps
from deployctl.plan.steprefs import check_step_refs


def _alarms(ctx: Ctx, mon: m.Monitoring | None, head: m.Header) -> list[str]:
    if mon is None or not mon.alarms:
        return []
    alarms = [
        {
            "name": a.name,
            "metric": a.metric,
            "threshold": a.threshold,
            "action": a.action,
            "period": a.period,
        }
        for a in mon.alarms
    ]
    params: dict[str, Any] = {
        "namespace": mon.namespace,
        "alarms": alarms,
        # what the run-end metrics are published with
        "dimensions": {"Project": head.project, "Environment": head.environment},
    }
    if mon.actions:  # action -> SNS topic, set as each alarm's AlarmActions
        params["actions"] = dict(mon.actions)
    wired = " (notifying SNS)" if mon.actions else ""
    return [
        ctx.graph.add(
            Step(
                f"{ctx.prefix}monitoring/alarms",
                StepKind.CLOUDWATCH_ALARMS,
                f"create or update {len(alarms)} deployment alarm(s) in {mon.namespace}{wired}",
                params,
                (),
                head.region,
                ("phase:monitoring",),
            )
        )
    ]


def _flag_rollout(
    ctx: Ctx, doc: m.Deployment | m.FeatureFlags, after: list[str], interval: float
) -> list[str]:
    assert doc.store is not None
    region = doc.header.region
    ends = flag_steps(
        ctx.graph,
        doc.flags,
        doc.store,
        f"{ctx.prefix}{region}/flags",
        region,
        after,
        interval=interval,
        analysis=doc.analysis,
        triggers=doc.rollback.triggers,
        alarms=doc.rollback.alarms,
    )
    watch = doc.rollback.monitoring_time
    if not isinstance(doc, m.FeatureFlags) or not watch or not ends:
        return ends  # a Deployment's watch after promotion comes before its flags
    # The flags at their final values stay watched: the triggers and alarms
    # keep checking for monitoring_time, as after a Deployment's promotion.
    return [
        ctx.graph.add(
            gate_step(
                f"{ctx.prefix}{region}/flags/monitor",
                duration=watch,
                interval=interval,
                threshold=None,
                analysis=doc.analysis,
                triggers=doc.rollback.triggers,
                alarms=doc.rollback.alarms,
                deps=ends,
                region=region,
                tags=(f"region:{region}", "phase:monitor"),
                label="monitor",
            )
        )
    ]


def _document(ctx: Ctx, doc: m.Manifest, after: list[str]) -> tuple[list[str], list[Diagnostic]]:
    """Add one document's steps after ``after``; returns its last steps and any problems."""
    if isinstance(doc, m.Pipeline):
        return _pipeline(ctx, doc, after)
    head = doc.header
    after = _alarms(ctx, doc.monitoring, head) or after
    if isinstance(doc, m.Deployment):
        ends = rollout(ctx, doc, after)
        if doc.flags and doc.store:
            ends = _flag_rollout(ctx, doc, ends, doc.strategy.interval)
    elif isinstance(doc, m.FeatureFlags):
        ends = _flag_rollout(ctx, doc, after, doc.interval)
    else:
        ends = compile_migration(ctx, doc, after)
    return ends, insert_approvals(ctx.graph, doc.approvals, head.source, ctx.prefix)


def _pipeline(ctx: Ctx, pipe: m.Pipeline, after: list[str]) -> tuple[list[str], list[Diagnostic]]:
    errors: list[Diagnostic] = []
    for env, docs in zip(pipe.environments, pipe.children, strict=True):
        child = Ctx(ctx.graph, f"{ctx.prefix}{env.name}/", ctx.base_dir)
        if env.approval:
            after = [
                ctx.graph.add(
                    Step(
                        f"{child.prefix}approve",
                        StepKind.APPROVAL,
                        f"wait for a person to approve deploying to {env.name}",
                        {"reason": f"deploy to {env.name}"},
                        tuple(after),
                        pipe.header.region,
                        (f"env:{env.name}",),
                        mutating=False,
                    )
                )
            ]
        for doc in docs:
            after, problems = _document(child, doc, after)
            errors += problems
            if env.tests == "smoke" and isinstance(doc, m.Deployment):
                region = doc.header.region
                base = f"{child.prefix}tests/{region}"
                after = (
                    smoke_steps(
                        ctx.graph,
                        doc.smoke,
                        base,
                        region,
                        after,
                        (f"env:{env.name}", "phase:tests"),
                    )
                    or after
                )
    return after, errors


def compile_plan(manifests: Sequence[m.Manifest], source: str) -> Plan:
    """One plan from every document of a file; documents run in file order."""
    with paused_gc():
        return _compile(manifests, source)


def _compile(manifests: Sequence[m.Manifest], source: str) -> Plan:
    if not manifests:
        raise UserError(f"{source}: no documents to compile")
    graph = StepGraph(source)
    ctx = Ctx(graph, "", os.path.dirname(source))
    after: list[str] = []
    errors: list[Diagnostic] = []
    metrics: dict[str, m.MetricDef] = {}
    secrets: set[str] = set()
    for doc in manifests:
        try:
            after, problems = _document(ctx, doc, after)
        except DuplicateStep as exc:
            raise UserError(
                [
                    doc.header.source.diag(
                        (),
                        (
                            f"this document plans step {exc.step_id!r}, which an earlier document in the file "
                            "already plans; deploy the same target and region from separate files or a Pipeline"
                        ),
                    )
                ]
            ) from None
        errors += problems
        for child in _flatten(doc):
            metrics.update({d.name: d for d in getattr(child, "metrics", ())})
            secrets |= {
                str(v)
                for k, v in child.header.vars
                # "${ssm:/path}" in a secret var stays visible as the reference it is
                if k in child.header.secret_vars and v and not is_unresolved(v)
            }
            secrets.update(child.header.env_secrets)
    if errors:
        raise UserError(errors)
    steps = graph.finish()
    problems = check_step_refs(steps, [c for doc in manifests for c in _flatten(doc)], source)
    if problems:
        raise UserError(problems)
    # A credential-looking param (a header "Authorization: Bearer ...", a stack
    # parameter DbPassword) is a secret wherever it came from, so every output
    # that redacts the plan's secrets redacts it too.  Values holding a
    # ${...} reference are known only at run time, where the executor hides them.
    for step in steps:
        secrets.update(credential_values(step.params, literal_only=True))
    first = manifests[0]
    notify = next((d.header.notify for d in flat_docs(manifests) if d.header.notify), None)
    # A webhook URL written in the plan carries its token: a secret, like a secret var.
    secrets.update(w.url for w in (notify.webhooks if notify else ()) if w.url)
    # A file's documents share one run, so the strictest rollback settings win.
    flat = [c for doc in manifests for c in _flatten(doc)]
    deployments = [d for d in flat if isinstance(d, (m.Deployment, m.FeatureFlags))]
    strategy = first.strategy.type if isinstance(first, m.Deployment) else None
    return Plan(
        kind=first.header.kind,
        project=first.header.project,
        environment=first.header.environment,
        source=source,
        steps=steps,
        metrics=metrics,
        strategy=strategy,
        rollback_automatic=all(d.rollback.automatic for d in deployments),
        rollback_scope="all" if any(d.rollback.scope == "all" for d in deployments) else "wave",
        publish=_publish(flat),
        notify=notify,
        secret_values=frozenset(secrets),
    )


def _publish(docs: Sequence[m.Manifest]) -> Publish | None:
    """The first ``monitoring:`` block that publishes anything names the namespace;
    a run publishes once, whatever number of documents ask for it."""
    blocks = [mon for d in docs if (mon := getattr(d, "monitoring", None)) is not None]
    wanted = [name for mon in blocks for name in mon.publish]
    if not wanted:
        return None
    namespace = next(mon.namespace for mon in blocks if mon.publish)
    return Publish(namespace, tuple(dict.fromkeys(wanted)))


def flat_docs(manifests: Sequence[m.Manifest]) -> list[m.Manifest]:
    return [c for doc in manifests for c in _flatten(doc)]


def _flatten(doc: m.Manifest) -> list[m.Manifest]:
    if isinstance(doc, m.Pipeline):
        return [doc, *(c for docs in doc.children for c in docs)]
    return [doc]
