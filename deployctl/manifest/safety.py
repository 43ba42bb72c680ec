"""Traffic-safety checks that span several fields of a document.

Each one refuses, at ``validate``, a plan that would run and then leave users
on something nobody watches or that another environment overwrites:

- a stage ``metric_threshold`` (or ``alarms``) that no gate would ever
  check: the last stage's ``stable`` has no wait, so its threshold applies
  to the watch after promotion (``rollback.monitoring_time``), which must
  then exist;
- a Pipeline whose environments would shift (or deploy to) the same
  resource: the second
  environment would move the first one's users.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from deployctl.diagnostics import Path
from deployctl.manifest import model as m
from deployctl.manifest.build import Builder
from deployctl.manifest.routing import region_names

HEALTH_TIMEOUT = 300.0  # seconds a receiving side may take to become healthy


def timeout(b: Builder, spec: dict[str, Any], path: Path) -> float:
    """A health timeout (the last key of ``path`` in ``spec``); ``0s`` means look once."""
    found = b.check.duration(spec.get(str(path[-1])), path)
    return HEALTH_TIMEOUT if found is None else found


def final_stage_gated(b: Builder, strategy: m.Strategy, rollback: m.Rollback) -> None:
    """The last stage's threshold and alarms gate the watch after promotion."""
    spec = b.data["strategy"]
    last = strategy.stages[-1]
    written = "monitoring_time" in (b.data.get("rollback") or {})  # a bad one is its own error
    if last.duration is not None or rollback.monitoring_time or written:
        return
    why = (
        "gates nothing: the last stage sends 100% and stays ('stable' has no wait), so "
        "it applies to the watch after promotion, rollback.monitoring_time, which is not "
        "set; set monitoring_time (e.g. 10m)"
    )
    raw = spec.get("stages") or []
    if raw and "stages" in spec and not strategy.preset:
        index = len(raw) - 1
        for key in ("metric_threshold", "alarms"):
            if key in raw[index]:
                b.check.error(("strategy", "stages", index, key), f"{key} {why}")
    elif strategy.type in ("blue-green", "all-at-once") and "metric_threshold" in spec:
        b.check.error(
            ("strategy", "metric_threshold"),
            f"metric_threshold {why}, or a bake to watch the switch",
        )


def _shifted(doc: m.Manifest) -> Iterator[tuple[str, str]]:
    """(what, key) of every resource a document moves traffic on."""
    if not isinstance(doc, m.Deployment):
        return
    regions = region_names(doc.regions) if doc.regions else [doc.header.region]
    tgt = doc.target
    for region in regions:
        if isinstance(tgt, m.LambdaTarget):
            yield "alias", f"{region} {tgt.function}:{tgt.alias}"
        elif isinstance(tgt, m.AlbTarget):
            yield "listener", tgt.rule_arn or tgt.listener_arn
        elif isinstance(tgt, m.Route53Target):
            yield "record", f"{tgt.hosted_zone_id} {tgt.record_name.rstrip('.')} {tgt.record_type}"
        elif isinstance(tgt, m.CloudFrontTarget):
            yield "distribution", tgt.distribution_id
        elif isinstance(tgt, m.EcsTarget):
            yield "listener", tgt.listener.rule_arn or tgt.listener.listener_arn
            for service in (tgt.service, tgt.blue_service, tgt.green_service):
                if service:
                    yield "ECS service", f"{region} {tgt.cluster}/{service}"
        else:
            yield "stack", f"{region} {tgt.stack}"
        if doc.deploy and doc.deploy.cloudformation:
            yield "stack", f"{region} {doc.deploy.cloudformation.stack}"
    rt = doc.regions.routing if doc.regions else None
    if rt is not None:
        yield "record", f"{rt.hosted_zone_id} {rt.record_name.rstrip('.')} {rt.record_type}"


def pipeline_shares(
    b: Builder, envs: tuple[m.PipelineEnv, ...], children: tuple[tuple[m.Manifest, ...], ...]
) -> None:
    """Refuse environments that would shift the same listener, alias, record,
    distribution or stack: staging would switch dev's users back."""
    owner: dict[tuple[str, str], str] = {}
    for i, (env, docs) in enumerate(zip(envs, children, strict=False)):
        mine: set[tuple[str, str]] = set()
        for doc in docs:
            mine.update(_shifted(doc))
        for what, key in sorted(mine):
            first = owner.setdefault((what, key), env.name)
            if first != env.name:
                b.check.error(
                    ("environments", i, "name"),
                    f"environments {first!r} and {env.name!r} would both shift {what} {key}: "
                    "give each environment its own (per-environment vars)",
                )
