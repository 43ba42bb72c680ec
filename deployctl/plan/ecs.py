"""The ECS steps of a region's chain.  Pure data, no AWS.

Before traffic moves (``phase:deploy``)::

    REGION/discover                  ecs.discover     live and idle colour, the live task
                                                      definition (and task set)
    REGION/deploy/task-definition    ecs.register     the new task definition (a revision
                                                      with the same content is reused)
    REGION/deploy/service            ecs.update_service    two services: the idle colour's
                                                      service runs it, stable and healthy
    REGION/deploy/task-set           ecs.create_task_set   one service: a task set on the
                                                      idle target group, stable and healthy

Then the listener moves with ``alb.shift`` steps, as for an ALB target.  With
task sets, the promotion to 100% is followed by ``REGION/<strategy>/primary``
(``ecs.set_primary``), and the run ends with ``REGION/cleanup/old-task-set``
(``ecs.delete_task_set``, a one-way door: the old task set is what a
rollback would go back to).
"""

from __future__ import annotations

import os.path
from typing import Any

from deployctl.core.kinds import StepKind
from deployctl.manifest import model as m
from deployctl.plan.api import Step
from deployctl.plan.graph import StepGraph

IDLE = "${idle_color}"
NEW_TASK_DEFINITION = "${task_definition}"


def listener_params(target: m.AlbTarget) -> dict[str, Any]:
    """What an ``alb.*`` step needs of the listener (and an ECS step, to read it)."""
    params: dict[str, Any] = {
        "listener_arn": target.listener_arn,
        "blue_target_group": target.blue_target_group,
        "green_target_group": target.green_target_group,
    }
    if target.rule_arn:
        params["rule_arn"] = target.rule_arn
    # Before traffic moves onto a side, that side's target group must have
    # this many healthy targets (actions/target_health.py).
    params["min_healthy"] = target.min_healthy
    params["health_timeout"] = target.health_timeout
    if target.drain is not None:
        params["drain"] = target.drain
    return params


def service_params(target: m.EcsTarget) -> dict[str, Any]:
    """The target's identity, as every ECS step needs it."""
    out: dict[str, Any] = {"cluster": target.cluster}
    if target.service:
        out["service"] = target.service
    else:
        out["services"] = {"blue": target.blue_service, "green": target.green_service}
    return out | listener_params(target.listener) | {"stable_timeout": target.stable_timeout}


def name_of(target: m.EcsTarget) -> str:
    if target.service:
        return f"service {target.service}"
    return f"services {target.blue_service}/{target.green_service}"


def _register_params(deploy: m.EcsDeploy, cluster: str, base_dir: str) -> dict[str, Any]:
    params: dict[str, Any] = {"cluster": cluster, "base": "${live_task_definition}"}
    if deploy.task_definition:
        params["file"] = os.path.normpath(os.path.join(base_dir, deploy.task_definition))
    if deploy.image:
        params["image"] = deploy.image
    if deploy.container:
        params["container"] = deploy.container
    elif deploy.image:  # the container the load balancer reaches, as discover finds it
        params["serving_container"] = "${serving_container}"
    return params


def _what(deploy: m.EcsDeploy) -> str:
    if deploy.task_definition and deploy.image:
        return f"{deploy.task_definition} with image {deploy.image}"
    if deploy.task_definition:
        return deploy.task_definition
    return f"the live task definition with image {deploy.image}"


def prepare(
    graph: StepGraph,
    target: m.EcsTarget,
    deploy: m.EcsDeploy,
    region: str,
    p: str,
    after: list[str],
    base_dir: str,
) -> list[str]:
    """Find the live side, register the task definition, run it on the idle side."""
    tags = (f"region:{region}", "phase:deploy")
    params = service_params(target)
    outputs = [
        "live_color",
        "idle_color",
        "new_target_group",
        "live_task_definition",
        "serving_container",
    ]
    if target.task_sets:
        outputs.append("stable_task_set")
    found = graph.add(
        Step(
            f"{p}/discover",
            StepKind.ECS_DISCOVER,
            f"find the live side of {name_of(target)} and the task definition it runs",
            params,
            tuple(after),
            region,
            tags,
            mutating=False,
            outputs=tuple(outputs),
        )
    )
    registered = graph.add(
        Step(
            f"{p}/deploy/task-definition",
            StepKind.ECS_REGISTER,
            f"register a task definition: {_what(deploy)} (reused if the latest revision is it)",
            _register_params(deploy, target.cluster, base_dir),
            (found,),
            region,
            tags,
            outputs=("task_definition", "image"),
        )
    )
    run = params | {"to": IDLE, "task_definition": NEW_TASK_DEFINITION}
    wait = f"until stable and {target.listener.min_healthy} target(s) are healthy"
    if target.task_sets:
        step = Step(
            f"{p}/deploy/task-set",
            StepKind.ECS_CREATE_TASK_SET,
            f"service {target.service}: a task set of {NEW_TASK_DEFINITION} on {IDLE}'s "
            f"target group at 100% scale, {wait}",
            run | {"stable_task_set": "${stable_task_set}"},
            (registered,),
            region,
            tags,
            undo="delete the task set this run created (no traffic reaches it by then)",
            outputs=("task_set",),
        )
    else:
        step = Step(
            f"{p}/deploy/service",
            StepKind.ECS_UPDATE_SERVICE,
            f"the {IDLE} service runs {NEW_TASK_DEFINITION} with the live side's task "
            f"count, {wait}",
            run,
            (registered,),
            region,
            tags,
            undo="the ${to} service back to the task definition and count it had",
            outputs=("previous_task_definition", "previous_desired_count"),
        )
    return [graph.add(step)]


def primary(target: m.EcsTarget, step_id: str, deps: list[str], region: str, stage: int) -> Step:
    """After the promotion to 100%: the new task set becomes the service's primary."""
    return Step(
        step_id,
        StepKind.ECS_SET_PRIMARY,
        f"service {target.service}: the new task set becomes primary",
        {
            "cluster": target.cluster,
            "service": target.service,
            "task_set": "${task_set}",
            "previous": "${stable_task_set}",
        },
        tuple(deps),
        region,
        (f"region:{region}", f"stage:{stage}"),
        traffic=100,
        undo="task set ${previous} primary again",
    )


def cleanup(target: m.EcsTarget, step_id: str, deps: list[str], region: str) -> Step:
    """The old task set goes once the run has watched the new one: a one-way door."""
    return Step(
        step_id,
        StepKind.ECS_DELETE_TASK_SET,
        f"service {target.service}: delete the old task set (it gets no traffic by now)",
        service_params(target)
        | {"task_set": "${stable_task_set}", "keep": "${task_set}", "from": "${live_color}"},
        tuple(deps),
        region,
        (f"region:{region}", "phase:cleanup"),
        reversible=False,
        one_way=True,
    )
