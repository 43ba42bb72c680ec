"""Is the receiving side healthy?  ALB target health, waited for with the
plan's clock.

The rule every traffic-moving action keeps (ALB shifts today; an ECS or
any other target group based target can call the same function): before
traffic moves onto a target group, it has at least ``min_healthy`` healthy
targets and none still ``initial`` or ``unhealthy``.  :func:`wait_healthy`
re-reads ``DescribeTargetHealth`` every ``poll`` seconds of the injected
clock up to ``timeout``; then it raises :class:`Unhealthy`, which names
every target that is not healthy and why (``i-0abc:80 unused
(Target.InvalidState: Target is in the stopped state)``), so the step fails
before any traffic moves.

Targets that are ``unused`` (stopped, not in an enabled zone), ``draining``
or ``unavailable`` get no traffic from the load balancer: they do not count
as healthy and do not block.  A Lambda target group with health checks
turned off reports ``unavailable`` / ``Target.HealthCheckDisabled``; the
load balancer sends it traffic, so it counts as healthy.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from deployctl.core.ports import Clock
from deployctl.errors import DeployctlError
from deployctl.manifest.durations import format_duration

HEALTHY = "healthy"
BLOCKING = ("initial", "unhealthy")  # may yet receive traffic, and is failing or unproven
DISABLED = "Target.HealthCheckDisabled"
POLL_SECONDS = 10.0


@dataclass(frozen=True)
class Target:
    id: str
    port: int | None
    state: str
    reason: str | None = None
    description: str | None = None

    @property
    def healthy(self) -> bool:
        return self.state == HEALTHY or (self.state == "unavailable" and self.reason == DISABLED)

    def line(self) -> str:
        where = f"{self.id}:{self.port}" if self.port else self.id
        why = ": ".join(x for x in (self.reason, self.description) if x)
        return f"{where} {self.state}" + (f" ({why})" if why else "")


@dataclass(frozen=True)
class Health:
    target_group: str
    targets: tuple[Target, ...]

    @property
    def healthy(self) -> int:
        return sum(t.healthy for t in self.targets)

    @property
    def blocking(self) -> tuple[Target, ...]:
        return tuple(t for t in self.targets if t.state in BLOCKING)

    def ok(self, min_healthy: int) -> bool:
        return self.healthy >= min_healthy and not self.blocking

    def to_json(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "targets": len(self.targets)}

    def problem(self, min_healthy: int) -> str:
        name = group_name(self.target_group)
        parts = [f"target group {name} has {self.healthy} healthy target(s), needs {min_healthy}"]
        if self.blocking:
            parts[0] += f" and none initial or unhealthy ({len(self.blocking)} are)"
        bad = [t.line() for t in self.targets if not t.healthy]
        parts.append("; ".join(bad) if bad else "no targets are registered")
        return ": ".join(parts)


class Unhealthy(DeployctlError):
    """The receiving side did not become healthy in time: nothing was moved."""

    def __init__(self, health: Health, min_healthy: int, waited: float, why: str = "") -> None:
        self.health = health
        self.min_healthy = min_healthy
        after = why or f"after waiting {format_duration(waited)}"
        super().__init__(f"{health.problem(min_healthy)} ({after}); no traffic was moved")


def group_name(arn: str) -> str:
    """``arn:...:targetgroup/NAME/id`` -> ``NAME``."""
    tail = arn.rpartition(":targetgroup/")[2]
    return tail.split("/", 1)[0] if tail else arn


def read_health(client: Any, target_group_arn: str) -> Health:
    """One ``DescribeTargetHealth`` of every registered target."""
    found = client.describe_target_health(TargetGroupArn=target_group_arn)
    targets = []
    for item in found.get("TargetHealthDescriptions") or ():
        target, health = item.get("Target") or {}, item.get("TargetHealth") or {}
        targets.append(
            Target(
                str(target.get("Id")),
                target.get("Port"),
                str(health.get("State")),
                health.get("Reason"),
                health.get("Description"),
            )
        )
    return Health(target_group_arn, tuple(targets))


def wait_healthy(
    client: Any,
    target_group_arn: str,
    *,
    min_healthy: int = 1,
    timeout: float = 300.0,
    clock: Clock,
    cancel: threading.Event | None = None,
    poll: float = POLL_SECONDS,
) -> Health:
    """Wait (on ``clock``) until the target group is healthy enough to receive
    traffic; raise :class:`Unhealthy` naming the targets if ``timeout``
    passes (or ``cancel`` is set) first.  ``client`` is an elbv2 client."""
    start = clock.now()
    deadline = start + max(0.0, timeout)
    while True:
        health = read_health(client, target_group_arn)
        if health.ok(min_healthy):
            return health
        now = clock.now()
        if now >= deadline:
            raise Unhealthy(health, min_healthy, now - start)
        if not clock.sleep(min(poll, deadline - now), cancel):
            raise Unhealthy(health, min_healthy, clock.now() - start, "interrupted while waiting")


def deregistration_delay(client: Any, target_group_arn: str) -> float:
    """Seconds the target group lets in-flight requests finish (0 when the
    attribute does not apply, as for a Lambda target group)."""
    found = client.describe_target_group_attributes(TargetGroupArn=target_group_arn)
    for attribute in found.get("Attributes") or ():
        if attribute.get("Key") == "deregistration_delay.timeout_seconds":
            return float(attribute.get("Value") or 0)
    return 0.0
