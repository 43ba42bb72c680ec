"""``target.ecs`` and ``deploy.ecs``: ECS services behind an ALB listener.

The schema has checked the shapes; this reads them into the model and
refuses, at the field, what would only fail mid-run: both shapes at once
(or neither), one service for both colours, an ECS target with nothing to
deploy, and ``deploy.ecs`` on a target that is not ECS.
"""

from __future__ import annotations

from typing import Any

from deployctl.diagnostics import Path
from deployctl.manifest import model as m
from deployctl.manifest import safety
from deployctl.manifest.build import Builder

STABLE_TIMEOUT = 600.0  # botocore's services_stable waiter: 40 reads, 15 s apart


def listener(b: Builder, spec: dict[str, Any], path: Path) -> m.AlbTarget:
    """The listener part every target on an ALB shares (alb, ecs)."""
    if spec["blue_target_group"] == spec["green_target_group"]:
        b.check.error(
            (*path, "green_target_group"), "blue and green must be different target groups"
        )
    return m.AlbTarget(
        spec["listener_arn"],
        spec["blue_target_group"],
        spec["green_target_group"],
        spec.get("rule_arn"),
        spec.get("min_healthy", 1),
        safety.timeout(b, spec, (*path, "health_timeout")),
        b.check.duration(spec.get("drain"), (*path, "drain")),
    )


def target(b: Builder, spec: dict[str, Any]) -> m.EcsTarget:
    path: Path = ("target", "ecs")
    services = spec.get("services") or {}
    if ("service" in spec) == ("services" in spec):
        b.check.error(
            path,
            "an ecs target needs exactly one of 'service' (one service with the EXTERNAL "
            "deployment controller: task sets) or 'services' (one service per colour: "
            "{blue: NAME, green: NAME})",
        )
    elif services and services["blue"] == services["green"]:
        b.check.error(
            (*path, "services", "green"),
            "blue and green must be different services (for one service, use 'service' "
            "with the EXTERNAL deployment controller)",
        )
    stable = b.check.duration(spec.get("stable_timeout"), (*path, "stable_timeout"))
    return m.EcsTarget(
        spec["cluster"],
        listener(b, spec, path),
        spec.get("service"),
        services.get("blue"),
        services.get("green"),
        STABLE_TIMEOUT if stable is None else stable,
    )


def deploy(b: Builder, spec: dict[str, Any]) -> m.EcsDeploy:
    path: Path = ("deploy", "ecs")
    if "task_definition" not in spec and "image" not in spec:
        b.check.error(
            path,
            "deploy.ecs needs 'task_definition' (a JSON file, RegisterTaskDefinition's "
            "input) or 'image' (the live task definition with a new image), or both",
        )
    return m.EcsDeploy(spec.get("task_definition"), spec.get("image"), spec.get("container"))


def check_pairing(b: Builder, target: m.Target, deployed: m.Deploy | None) -> None:
    """An ECS target deploys through ``deploy.ecs``, and only an ECS target does."""
    has_deploy = deployed is not None and deployed.ecs is not None
    if isinstance(target, m.EcsTarget) and not has_deploy:
        b.check.error(
            ("target", "ecs"),
            "an ecs target needs deploy.ecs: the task definition to deploy "
            "({task_definition: FILE} or {image: URI})",
        )
    elif has_deploy and not isinstance(target, m.EcsTarget):
        b.check.error(("deploy", "ecs"), "deploy.ecs needs an ecs target")
