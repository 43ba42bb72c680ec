"""Multi-region waves: the primary first, then active-active replicas in
parallel, then active-passive replicas one by one in failover-priority order."""

from __future__ import annotations

from typing import Any

from deployctl.core.params import Route53RoutingParams
from deployctl.manifest import model as m
from deployctl.manifest.routing import ACTIVE_PREFIX, failover_roles, region_names
from deployctl.manifest.triggers import Trigger
from deployctl.plan.api import Step
from deployctl.plan.deployment import region_chain
from deployctl.plan.graph import Ctx


def waves(regions: m.Regions | None, default: str) -> list[list[m.Replica]]:
    if regions is None:
        return [[m.Replica(default, "primary")]]
    out = [[m.Replica(regions.primary, "primary")]]
    active = [r for r in regions.replicas if r.replication_type == "active-active"]
    if active:
        out.append(active)
    passive = [r for r in regions.replicas if r.replication_type == "active-passive"]
    # Unnumbered replicas go last, in the order written.
    passive.sort(key=lambda r: (r.failover_priority is None, r.failover_priority or 0))
    out.extend([r] for r in passive)
    return out


def latency_trigger(replica: m.Replica) -> tuple[Trigger, ...]:
    if replica.latency_threshold is None:
        return ()
    ms = replica.latency_threshold
    return (Trigger("Latency", ">", ms, "ms", f"Latency>{ms:g}ms"),)


def rollout(ctx: Ctx, d: m.Deployment, after: list[str]) -> list[str]:
    """All waves; returns the last wave's final steps.

    Every step of wave N is tagged ``wave:N`` (1-based), so rollback can be
    scoped to the failing wave (``rollback.scope: wave``).
    """
    for number, wave in enumerate(waves(d.regions, d.header.region), start=1):
        ends: list[str] = []
        before = len(ctx.graph.steps)
        for replica in wave:
            ends += region_chain(ctx, d, replica.region, after, latency_trigger(replica))
        if d.regions:
            ctx.graph.tag(ctx.graph.added_since(before), f"wave:{number}")
        after = ends
    if d.regions and d.regions.routing:
        after = [ctx.graph.add(_routing(ctx, d.regions, after))]
    return after


def _routing(ctx: Ctx, regions: m.Regions, after: list[str]) -> Step:
    rt = regions.routing
    assert rt is not None
    names = region_names(regions)
    given = dict(rt.values)
    records = {
        name: given.get(name) or (rt.value or "").replace("${region}", name) for name in names
    }
    failover: dict[str, str] = {}
    layout: dict[str, Any] | None = None
    health_checks: dict[str, Any] | None = None
    health_timeout: float | None = None
    shape = f"{rt.policy} records for {', '.join(names)}"
    checked: list[str] = list(names) if rt.health_check else []
    if rt.policy == "failover":
        roles = failover_roles(regions)
        assert not isinstance(roles, str)  # validate refused it
        # PRIMARY records always carry a health check: without one Route 53 never fails over.
        checked = [*roles.active, *(n for n in checked if n not in roles.active)]
        if roles.layered:
            active_name = f"{ACTIVE_PREFIX}{rt.record_name}"
            layout = {
                "active": list(roles.active),
                "standby": roles.standby,
                "active_name": active_name,
            }
            shape = (
                f"failover PRIMARY -> {active_name} (latency: {', '.join(roles.active)}), "
                f"SECONDARY -> {roles.standby}"
            )
        else:
            failover = {roles.active[0]: "PRIMARY"}
    if checked:
        spec = rt.health_check or m.HealthCheckSpec()
        named = dict(spec.ids)
        port = spec.port or (80 if spec.type == "HTTP" else 443)
        health_checks = {
            name: {"id": named[name]}
            if name in named
            else {"create": {"type": spec.type, "port": port, "path": spec.path}}
            for name in checked
        }
        health_timeout = spec.timeout
        shape += f"; health checks for {', '.join(checked)} must pass first"
    params = Route53RoutingParams(
        hosted_zone_id=rt.hosted_zone_id,
        record_name=rt.record_name,
        record_type=rt.record_type,
        ttl=rt.ttl,
        policy=rt.policy,
        records=records,
        failover=failover,
        layout=layout,
        health_checks=health_checks,
        health_timeout=health_timeout,
    )
    return Step(
        id=f"{ctx.prefix}routing/route53",
        kind=params.KIND,
        description=f"{rt.record_name}: {shape} (UPSERT)",
        params=params.to_params(),
        deps=tuple(after),
        region=regions.primary,
        # What the records send users to: rollback keeps them while any of
        # these regions keeps the new version (execute/rollback.py).
        tags=("phase:routing", *(f"serves:{name}" for name in names)),
        undo=f"{rt.record_name}: records back to their previous values",
    )
