"""Multi-region waves: the primary first, then active-active replicas in
parallel, then active-passive replicas one by one in failover-priority order."""

from __future__ import annotations

from deployctl.manifest import model as m
from deployctl.manifest.triggers import Trigger
from deployctl.plan.api import Step
from deployctl.plan.deployment import Ctx, region_chain


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
        before = set(ctx.graph.steps)
        for replica in wave:
            ends += region_chain(ctx, d, replica.region, after, latency_trigger(replica))
        if d.regions:
            ctx.graph.tag([s for s in ctx.graph.steps if s not in before], f"wave:{number}")
        after = ends
    if d.regions and d.regions.routing:
        after = [ctx.graph.add(_routing(ctx, d.regions, after))]
    return after


def _routing(ctx: Ctx, regions: m.Regions, after: list[str]) -> Step:
    rt = regions.routing
    assert rt is not None
    names = [regions.primary, *(r.region for r in regions.replicas)]
    given = dict(rt.values)
    records = {
        name: given.get(name) or (rt.value or "").replace("${region}", name) for name in names
    }
    failover = {regions.primary: "PRIMARY"} if rt.policy == "failover" else {}
    return Step(
        id=f"{ctx.prefix}routing/route53",
        kind="route53.routing",
        description=f"{rt.record_name}: {rt.policy} records for {', '.join(names)} (UPSERT)",
        params={
            "hosted_zone_id": rt.hosted_zone_id,
            "record_name": rt.record_name,
            "record_type": rt.record_type,
            "ttl": rt.ttl,
            "policy": rt.policy,
            "records": records,
            "failover": failover,
        },
        deps=tuple(after),
        region=regions.primary,
        tags=("phase:routing",),
        undo=f"{rt.record_name}: records back to their previous values",
    )
