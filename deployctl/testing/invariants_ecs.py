"""The ECS part of the harness's world (:class:`deployctl.testing.invariants.World`):
services and task sets read back in the plan's names, and the invariants
only an ECS target has.

- A colour the listener sends traffic to runs something: with task sets, a
  task set (not draining) on that colour's target group; with a service
  per colour, that colour's service with tasks.
- With task sets, the primary is on a target group that gets traffic, and
  there is exactly one (a rollback puts the old one back as primary; a
  finished run leaves the new one alone).
- No run registers the same task definition twice: at most one new
  revision per family.

Task set ids are made up by ECS, so a task set is shown by what it is
(status, task definition, colour): a killed run compares equal to the
uninterrupted one, and an undone run to the world before it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deployctl.core.kinds import StepKind
from deployctl.core.plan import Plan, Step


@dataclass(frozen=True)
class EcsTarget:
    region: str
    cluster: str
    services: tuple[str, ...]  # one (task sets) or blue's and green's
    listener: str
    groups: tuple[tuple[str, str], ...]  # colour -> target group ARN (plan ids)

    @property
    def task_sets(self) -> bool:
        return len(self.services) == 1


def targets(plan: Plan) -> list[EcsTarget]:
    out = []
    for s in plan.steps:
        if s.kind != StepKind.ECS_DISCOVER:
            continue
        p = s.params
        names = (
            (str(p["service"]),)
            if p.get("service")
            else tuple(str(p["services"][c]) for c in ("blue", "green"))
        )
        out.append(
            EcsTarget(
                s.region or "us-east-1",
                str(p["cluster"]),
                names,
                str(p.get("rule_arn") or p["listener_arn"]),
                tuple((c, str(p[f"{c}_target_group"])) for c in ("blue", "green")),
            )
        )
    return out


def _short(arn: Any) -> str:
    return str(arn).rsplit("/", 1)[-1]


def view(world: Any, target: EcsTarget) -> dict[str, Any]:
    ecs = world.client("ecs", target.region)
    found = ecs.describe_services(cluster=target.cluster, services=list(target.services))
    colours = {world.inward(arn): color for color, arn in target.groups}
    out: dict[str, Any] = {}
    for service in found["services"]:
        key = f"ecs-service {target.cluster}/{service['serviceName']}"
        if target.task_sets:
            out[key] = sorted(
                [
                    t["status"],
                    _short(t["taskDefinition"]),
                    colours.get(t["loadBalancers"][0]["targetGroupArn"], "?")
                    if t.get("loadBalancers")
                    else "none",
                ]
                for t in service.get("taskSets") or ()
                if t.get("status") != "DRAINING"
            )
        else:
            out[key] = {
                "task_definition": _short(service.get("taskDefinition")),
                "desired_count": service.get("desiredCount"),
            }
    families: dict[str, list[str]] = {}
    for arn in ecs.list_task_definitions()["taskDefinitionArns"]:
        family, _, revision = _short(arn).partition(":")
        families.setdefault(family, []).append(revision)
    for family, revisions in families.items():
        out[f"task-definitions {target.region} {family}"] = sorted(revisions, key=int)
    return out


def serving(target: EcsTarget, after: Mapping[str, Any]) -> list[str]:
    weights = after[f"listener {target.listener}"]
    out = []
    for color, _ in target.groups:
        if weights[color] <= 0:
            continue
        if target.task_sets:
            sets = after[f"ecs-service {target.cluster}/{target.services[0]}"]
            if not any(side == color for _, _, side in sets):
                out.append(
                    f"the listener sends {weights[color]}% to {color}, where no task set runs"
                )
        else:
            name = target.services[0 if color == "blue" else 1]
            if not after[f"ecs-service {target.cluster}/{name}"]["desired_count"]:
                out.append(
                    f"the listener sends {weights[color]}% to {color}, whose service {name} has no tasks"
                )
    if target.task_sets:
        sets = after[f"ecs-service {target.cluster}/{target.services[0]}"]
        primaries = [side for status, _, side in sets if status == "PRIMARY"]
        if len(primaries) != 1 or weights.get(primaries[0], 0) <= 0:
            out.append(
                f"service {target.services[0]}: primary task set(s) on {primaries}, weights {weights}"
            )
    return out


def registered_twice(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    out = []
    for key, revisions in after.items():
        if key.startswith("task-definitions "):
            new = len(set(revisions) - set(before.get(key) or ()))
            if new > 1:
                out.append(f"{key}: {new} revisions registered by one run")
    return out


def keys(step: Step, params: Mapping[str, Any]) -> list[str]:
    """The world keys an ECS step with an undo changes."""
    if step.kind == StepKind.ECS_UPDATE_SERVICE:
        return [f"ecs-service {params['cluster']}/{params['services'][params['to']]}"]
    if step.kind in (StepKind.ECS_CREATE_TASK_SET, StepKind.ECS_SET_PRIMARY):
        return [f"ecs-service {params['cluster']}/{params['service']}"]
    return []
