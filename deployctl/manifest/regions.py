"""``regions:``: the waves' replicas and the routing records kept in step
with them, read into the model; what Route 53 can express is checked by
:mod:`deployctl.manifest.routing`."""

from __future__ import annotations

from typing import Any

from deployctl.diagnostics import Path
from deployctl.manifest import model as m
from deployctl.manifest.build import Builder, _pairs
from deployctl.manifest.routing import problems
from deployctl.manifest.safety import timeout


def regions(b: Builder) -> m.Regions | None:
    spec = b.data.get("regions")
    if not spec:
        return None
    seen = {spec["primary"]}
    priorities: dict[int, int] = {}
    replicas = []
    for i, r in enumerate(spec.get("replicas") or ()):
        path: Path = ("regions", "replicas", i)
        if r["region"] in seen:
            b.check.error(
                (*path, "region"),
                f"region {r['region']!r} appears twice (the primary is {spec['primary']})",
            )
        seen.add(r["region"])
        priority = r.get("failover_priority")
        if priority is not None:
            if priority in priorities:
                b.check.error(
                    (*path, "failover_priority"),
                    f"failover_priority {priority} is already used by replicas[{priorities[priority]}]",
                )
            priorities[priority] = i
        latency = b.check.duration(r.get("latency_threshold"), (*path, "latency_threshold"))
        replicas.append(
            m.Replica(
                r["region"],
                r["replication_type"],
                None if latency is None else latency * 1000.0,
                priority,
            )
        )
    routing = None
    if "routing" in spec:
        rt = spec["routing"]["route53"]
        routing = m.Routing(
            rt["hosted_zone_id"],
            rt["record_name"],
            rt["policy"],
            rt.get("record_type", "CNAME"),
            rt.get("ttl", 60),
            _pairs(rt.get("values")),
            rt.get("value"),
            health_check(b, rt.get("health_check")),
        )
        if not routing.value and not routing.values:
            b.check.error(
                ("regions", "routing", "route53"),
                "routing needs 'value' (with ${region}) or 'values' (region -> value)",
            )
    out = m.Regions(spec["primary"], tuple(replicas), routing)
    for problem in problems(out):
        b.check.error(("regions", "routing", "route53", "policy"), problem)
    return out


def health_check(b: Builder, spec: dict[str, Any] | None) -> m.HealthCheckSpec | None:
    if spec is None:
        return None
    path = ("regions", "routing", "route53", "health_check")
    return m.HealthCheckSpec(
        ids=_pairs(spec.get("ids")),
        type=spec.get("type", "HTTPS"),
        port=spec.get("port"),
        path=spec.get("path", "/"),
        timeout=timeout(b, spec, (*path, "timeout")),
    )
