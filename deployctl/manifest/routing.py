"""What Route 53 can express for a multi-region plan's routing records.

``validate`` uses :func:`problems` so a shape AWS would refuse (two
geolocation records for one continent, failover with two standbys) is an
error at the routing block's line, not a failure after every region has
been deployed.  The planner uses :func:`failover_roles` to compile the
seed's three regions (a primary, an active-active and an active-passive
replica) into a shape Route 53 accepts:

- the active regions (the primary and its active-active replicas) get
  latency records under ``active.<record_name>``, each with its region's
  health check;
- ``<record_name>`` gets a PRIMARY failover record aliasing that set (with
  ``EvaluateTargetHealth``: it fails over once every active region is
  unhealthy) and a SECONDARY record to the active-passive replica.

Two regions stay a plain PRIMARY/SECONDARY pair, the primary's record with
its health check.
"""

from __future__ import annotations

from deployctl.core.frozen import Frozen, frozen
from deployctl.manifest import model as m

# Region name prefix -> Route 53 continent code.
CONTINENTS = {
    "us": "NA",
    "ca": "NA",
    "mx": "NA",
    "sa": "SA",
    "eu": "EU",
    "ap": "AS",
    "me": "AS",
    "il": "AS",
    "cn": "AS",
    "af": "AF",
}
ACTIVE_PREFIX = "active."  # the latency set beneath a PRIMARY failover alias


def continent(region: str) -> str | None:
    return CONTINENTS.get(region.split("-", 1)[0])


def region_names(regions: m.Regions) -> list[str]:
    return [regions.primary, *(r.region for r in regions.replicas)]


def _standbys(regions: m.Regions) -> list[str]:
    passive = [r for r in regions.replicas if r.replication_type == "active-passive"]
    passive.sort(key=lambda r: (r.failover_priority is None, r.failover_priority or 0))
    return [r.region for r in passive]


@frozen
class FailoverRoles(Frozen):
    """The regions behind a failover pair's PRIMARY record, and its SECONDARY."""

    active: tuple[str, ...]  # behind the PRIMARY record
    standby: str  # the SECONDARY record

    @property
    def layered(self) -> bool:
        """More than one active region: latency records beneath the PRIMARY alias."""
        return len(self.active) > 1


def failover_roles(regions: m.Regions) -> FailoverRoles | str:
    """The roles of each region under failover routing, or why Route 53
    cannot express this set of regions with one failover pair."""
    names = region_names(regions)
    if len(names) < 2:
        return "failover routing needs a second region to fail over to (add a replica)"
    if len(names) == 2:
        return FailoverRoles((names[0],), names[1])
    standbys = _standbys(regions)
    if not standbys:
        return (
            f"failover routing sends users to one standby region, and none of the "
            f"{len(names) - 1} replicas is active-passive: make one active-passive, "
            "or use latency routing"
        )
    if len(standbys) > 1:
        return (
            f"failover routing has exactly one standby, but {', '.join(standbys)} are all "
            "active-passive: keep one active-passive replica, or use latency or geolocation routing"
        )
    active = tuple(n for n in names if n != standbys[0])
    return FailoverRoles(active, standbys[0])


def problems(regions: m.Regions) -> list[str]:
    """Why Route 53 would refuse the routing records of ``regions`` (empty: it accepts them)."""
    rt = regions.routing
    if rt is None:
        return []
    names = region_names(regions)
    out: list[str] = []
    if rt.policy == "failover":
        roles = failover_roles(regions)
        if isinstance(roles, str):
            out.append(roles)
    elif rt.policy == "geolocation":
        seen: dict[str, str] = {}
        for name in names:
            code = continent(name)
            if code is None:
                out.append(
                    f"no continent is known for region {name!r}: use latency routing "
                    "(geolocation records route by continent)"
                )
            elif code in seen:
                out.append(
                    f"{seen[code]} and {name} are both in continent {code}, and Route 53 "
                    "allows one geolocation record per continent: use latency routing"
                )
            else:
                seen[code] = name
    missing = [n for n in names if not rt.value and n not in dict(rt.values)]
    if rt.values and missing:
        out.append(f"values has no record value for {', '.join(missing)}")
    return out
