"""Dispatch each manifest kind to its compiler and join documents into one plan."""

from __future__ import annotations

import difflib
import os.path
from collections.abc import Sequence

from deployctl.core.params import Alarm, ApprovalParams, CloudWatchAlarmsParams
from deployctl.core.refs import is_unresolved
from deployctl.diagnostics import Diagnostic, Path
from deployctl.errors import UserError
from deployctl.gcpause import paused_gc
from deployctl.manifest import model as m
from deployctl.manifest.secrets import credential_values
from deployctl.plan.api import Plan, Publish, Step
from deployctl.plan.approvals import insert_approvals
from deployctl.plan.flags import flag_steps
from deployctl.plan.gates import gate_step
from deployctl.plan.graph import Ctx, DuplicateStep, StepGraph
from deployctl.plan.migration import compile_migration
from deployctl.plan.regions import rollout
from deployctl.plan.smoke import smoke_steps
from deployctl.plan.steprefs import check_step_refs


def _alarms(ctx: Ctx, mon: m.Monitoring | None, head: m.Header) -> list[str]:
    if mon is None or not mon.alarms:
        return []
    params = CloudWatchAlarmsParams(
        namespace=mon.namespace,
        alarms=tuple(
            Alarm(
                name=a.name,
                metric=a.metric,
                threshold=a.threshold,
                action=a.action,
                period=a.period,
            )
            for a in mon.alarms
        ),
        # what the run-end metrics are published with
        dimensions={"Project": head.project, "Environment": head.environment},
        actions=dict(mon.actions),  # action -> SNS topic, set as each alarm's AlarmActions
    )
    wired = " (notifying SNS)" if mon.actions else ""
    return [
        ctx.graph.add(
            Step(
                f"{ctx.prefix}monitoring/alarms",
                params.KIND,
                f"create or update {len(params.alarms)} deployment alarm(s) in {mon.namespace}{wired}",
                params.to_params(),
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
                        ApprovalParams.KIND,
                        f"wait for a person to approve deploying to {env.name}",
                        ApprovalParams(reason=f"deploy to {env.name}").to_params(),
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


def prefixes(manifests: Sequence[m.Manifest]) -> list[str]:
    """Each document's step-id namespace: its project, and its index in the
    file when another document shares the project (``orders/``, ``shop/2/``)."""
    counts: dict[str, int] = {}
    for doc in manifests:
        counts[doc.header.project] = counts.get(doc.header.project, 0) + 1
    return [
        f"{doc.header.project}/"
        if counts[doc.header.project] == 1
        else f"{doc.header.project}/{doc.header.source.document}/"
        for doc in manifests
    ]


def _compile(manifests: Sequence[m.Manifest], source: str) -> Plan:
    if not manifests:
        raise UserError(f"{source}: no documents to compile")
    # One project: today's ids, documents in file order.  Several projects (or
    # documents of one project that would plan the same step): each document's
    # ids are namespaced, and a project's documents run in file order while
    # different projects run side by side unless ``after:`` orders them.
    several = len({doc.header.project for doc in manifests}) > 1
    try:
        graph, errors = _steps(manifests, source, namespaced=several)
    except DuplicateStep:
        if several:  # pragma: no cover - namespaced ids are distinct by construction
            raise
        graph, errors = _steps(manifests, source, namespaced=True)
    metrics: dict[str, m.MetricDef] = {}
    secrets: set[str] = set()
    for doc in manifests:
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
        scopes=_scopes(manifests),
    )


def _scopes(manifests: Sequence[m.Manifest]) -> tuple[tuple[str, str], ...]:
    """Each (project, environment) of the file's documents, in file order, when
    there is more than one (a pipeline's children run under its own)."""
    scopes = tuple(dict.fromkeys((d.header.project, d.header.environment) for d in manifests))
    return scopes if len(scopes) > 1 else ()


def _steps(
    manifests: Sequence[m.Manifest], source: str, *, namespaced: bool
) -> tuple[StepGraph, list[Diagnostic]]:
    graph = StepGraph(source)
    errors: list[Diagnostic] = []
    names = prefixes(manifests) if namespaced else [""] * len(manifests)
    ends: dict[str, list[str]] = {}  # project -> the last steps of its documents so far
    last: list[str] = []
    projects = {doc.header.project for doc in manifests}
    for doc, prefix in zip(manifests, names, strict=True):
        project = doc.header.project
        if namespaced:
            after = list(ends.get(project, []))
            for name, path in doc.header.after:
                if name not in projects or name == project:
                    errors.append(_bad_after(doc, name, path, projects - {project}))
                elif name not in ends:
                    errors.append(
                        doc.header.source.diag(
                            path,
                            f"after: {name!r} is planned later in the file; "
                            "put its documents before this one",
                        )
                    )
                else:
                    after += [e for e in ends[name] if e not in after]
        else:
            after = last
            errors += [_bad_after(doc, n, p, set()) for n, p in doc.header.after]
        ctx = Ctx(graph, prefix, os.path.dirname(source))
        try:
            done, problems = _document(ctx, doc, after)
        except DuplicateStep as exc:
            if not namespaced:
                raise
            raise UserError(  # pragma: no cover - prefixes are distinct
                [doc.header.source.diag((), f"this document plans step {exc.step_id!r} twice")]
            ) from None
        errors += problems
        ends[project] = done or after
        last = done
    return graph, errors


def _bad_after(doc: m.Manifest, name: str, path: Path, others: set[str]) -> Diagnostic:
    near = difflib.get_close_matches(name, sorted(others), n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    known = ", ".join(sorted(others)) or "none"
    return doc.header.source.diag(
        path, f"after: no other project {name!r} in this file{hint} (projects: {known})"
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
