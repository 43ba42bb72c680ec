"""Seed an ECS target: the cluster, the live task definition, and blue's
service (two services: blue's with tasks, green's scaled in) or the one
EXTERNAL service with its primary task set on blue, every load balancer
entry in the seeded target groups.

The live task definition is the plan's own file when it names one (the
release before this one, as far as the sandbox can tell), else a small one
named after the cluster.  moto 5.2 starts the tasks of a task set only on
FARGATE (it has no container instances) and fails on awsvpc tasks, so the
task sets run FARGATE with the file's bridge or host networking; a file
with ``networkMode: awsvpc`` cannot run in the sandbox.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from deployctl import files
from deployctl.core.kinds import StepKind

if TYPE_CHECKING:
    from deployctl.actions.sandbox.seed import Seeder

DESIRED = 2
PORT = 8080


def _file(seeder: Seeder, region: str) -> dict[str, Any] | None:
    """The task definition file the plan's ``ecs.register`` step reads, if any."""
    for step in seeder.plan.steps:
        path = step.params.get("file") if step.kind == StepKind.ECS_REGISTER else None
        if (step.region or region) != region or not isinstance(path, str):
            continue
        if files.check(path, files.MAX_TASK_DEFINITION_BYTES, "task definition") is None:
            try:
                with open(path, encoding="utf-8") as fh:
                    data = json.load(fh)
            except (OSError, ValueError):
                return None
            return data if isinstance(data, dict) else None
    return None


def live_task_definition(seeder: Seeder, region: str, cluster: str) -> dict[str, Any]:
    found = _file(seeder, region)
    if found and found.get("family") and found.get("containerDefinitions"):
        return found
    return {
        "family": cluster,
        "containerDefinitions": [
            {
                "name": "app",
                "image": f"sandbox.invalid/{cluster}:live",
                "memory": 512,
                "portMappings": [{"containerPort": PORT}],
            }
        ],
    }


def _balancer(definition: Mapping[str, Any], group: str) -> list[dict[str, Any]]:
    containers = definition["containerDefinitions"]
    serving = next((c for c in containers if c.get("portMappings")), containers[0])
    port = (serving.get("portMappings") or [{}])[0].get("containerPort", PORT)
    return [{"targetGroupArn": group, "containerName": serving["name"], "containerPort": port}]


def seed(seeder: Seeder, region: str, p: Mapping[str, Any]) -> None:
    cluster = str(p["cluster"])
    ecs = seeder.client("ecs", region)
    if seeder.once("ecs-cluster", region, cluster):
        ecs.create_cluster(clusterName=cluster)
    definition = live_task_definition(seeder, region, cluster)
    groups = {c: seeder.ids.inward(str(p[f"{c}_target_group"])) for c in ("blue", "green")}
    names = (
        [str(p["service"])]
        if p.get("service")
        else [str(p["services"][c]) for c in ("blue", "green")]
    )
    if not all(seeder.once("service", region, cluster, name) for name in names):
        return
    live = ecs.register_task_definition(**definition)["taskDefinition"]["taskDefinitionArn"]
    if p.get("service"):
        ecs.create_service(
            cluster=cluster,
            serviceName=names[0],
            desiredCount=DESIRED,
            deploymentController={"type": "EXTERNAL"},
        )
        made = ecs.create_task_set(
            cluster=cluster,
            service=names[0],
            taskDefinition=live,
            launchType="FARGATE",
            loadBalancers=_balancer(definition, groups["blue"]),
            scale={"value": 100.0, "unit": "PERCENT"},
        )["taskSet"]
        ecs.update_service_primary_task_set(
            cluster=cluster, service=names[0], primaryTaskSet=made["taskSetArn"]
        )
        return
    for color, name in zip(("blue", "green"), names, strict=True):
        count = DESIRED if color == "blue" else 0
        ecs.create_service(
            cluster=cluster,
            serviceName=name,
            taskDefinition=live,
            desiredCount=count,
            loadBalancers=_balancer(definition, groups[color]),
        )
        # moto counts a service's tasks as running only once an update sets them.
        ecs.update_service(cluster=cluster, service=name, desiredCount=count)
