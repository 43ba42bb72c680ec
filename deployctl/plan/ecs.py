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

from deployctl.core.params import (
    EcsCreateTaskSetParams,
    EcsDeleteTaskSetParams,
    EcsDiscoverParams,
    EcsRegisterParams,
    EcsService,
    EcsSetPrimaryParams,
    EcsUpdateServiceParams,
    StepParams,
)
from deployctl.manifest import model as m
from deployctl.plan.api import Step
from deployctl.plan.graph import Ctx
from deployctl.plan.targets import IDLE, AlbPlanner, Shift, StagedPlanner, listener

NEW_TASK_DEFINITION = "${task_definition}"


def service(target: m.EcsTarget) -> EcsService:
    """The target's identity, as every ECS step needs it."""
    return EcsService(
        cluster=target.cluster,
        service=target.service or None,
        services=_services(target),
        listener=listener(target.listener),
        stable_timeout=target.stable_timeout,
    )


def _services(target: m.EcsTarget) -> dict[str, str] | None:
    """Two services, one per colour, when the target names no single service."""
    if target.service:
        return None
    assert target.blue_service and target.green_service  # validate asks for both
    return {"blue": target.blue_service, "green": target.green_service}


def _register(deploy: m.EcsDeploy, cluster: str, base_dir: str) -> EcsRegisterParams:
    file = deploy.task_definition
    return EcsRegisterParams(
        cluster=cluster,
        base="${live_task_definition}",
        file=os.path.normpath(os.path.join(base_dir, file)) if file else None,
        image=deploy.image or None,
        container=deploy.container or None,
        # Without a container named: the one the load balancer reaches, as discover finds it.
        serving_container="${serving_container}" if deploy.image and not deploy.container else None,
    )


def _what(deploy: m.EcsDeploy) -> str:
    if deploy.task_definition and deploy.image:
        return f"{deploy.task_definition} with image {deploy.image}"
    if deploy.task_definition:
        return deploy.task_definition
    return f"the live task definition with image {deploy.image}"


class EcsPlanner(StagedPlanner[m.EcsTarget]):
    """Find the live side, register the task definition, run it on the idle
    side; then the listener moves as for an ALB target."""

    alb = AlbPlanner()

    def name(self, target: m.EcsTarget) -> str:
        if target.service:
            return f"service {target.service}"
        return f"services {target.blue_service}/{target.green_service}"

    def prepare(
        self, ctx: Ctx, d: m.Deployment, target: m.EcsTarget, region: str, p: str, after: list[str]
    ) -> list[str]:
        if not (d.deploy and d.deploy.ecs):
            return after
        deploy = d.deploy.ecs
        graph = ctx.graph
        tags = (f"region:{region}", "phase:deploy")
        ident = service(target)
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
                EcsDiscoverParams.KIND,
                f"find the live side of {self.name(target)} and the task definition it runs",
                EcsDiscoverParams(target=ident).to_params(),
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
                EcsRegisterParams.KIND,
                f"register a task definition: {_what(deploy)} (reused if the latest revision is it)",
                _register(deploy, target.cluster, ctx.base_dir).to_params(),
                (found,),
                region,
                tags,
                outputs=("task_definition", "image"),
            )
        )
        wait = f"until stable and {target.listener.min_healthy} target(s) are healthy"
        params: StepParams
        if target.task_sets:
            params = EcsCreateTaskSetParams(
                target=ident,
                to=IDLE,
                task_definition=NEW_TASK_DEFINITION,
                stable_task_set="${stable_task_set}",
            )
            step = Step(
                f"{p}/deploy/task-set",
                params.KIND,
                f"service {target.service}: a task set of {NEW_TASK_DEFINITION} on {IDLE}'s "
                f"target group at 100% scale, {wait}",
                params.to_params(),
                (registered,),
                region,
                tags,
                undo="delete the task set this run created (no traffic reaches it by then)",
                outputs=("task_set",),
            )
        else:
            params = EcsUpdateServiceParams(
                target=ident, to=IDLE, task_definition=NEW_TASK_DEFINITION
            )
            step = Step(
                f"{p}/deploy/service",
                params.KIND,
                f"the {IDLE} service runs {NEW_TASK_DEFINITION} with the live side's task "
                f"count, {wait}",
                params.to_params(),
                (registered,),
                region,
                tags,
                undo="the ${to} service back to the task definition and count it had",
                outputs=("previous_task_definition", "previous_desired_count"),
            )
        return [graph.add(step)]

    def shift(self, target: m.EcsTarget, weight: int) -> Shift:
        return self.alb.shift(target.listener, weight)  # the listener moves

    def promoted(
        self,
        ctx: Ctx,
        target: m.EcsTarget,
        base: str,
        shifted: list[str],
        region: str,
        interval: float,
        stage: int,
    ) -> list[str]:
        drained = ctx.graph.add(
            self.alb.drain(target.listener, f"{base}/drain", shifted, region, interval)
        )
        if not target.task_sets:
            return [drained]
        # Once the old side has drained: in the order CodeDeploy keeps
        # (traffic, then primary, then the old task set goes), one at a time.
        return [
            drained,
            ctx.graph.add(_primary(target, f"{base}/primary", [drained], region, stage)),
        ]

    def cleanup(
        self, ctx: Ctx, target: m.EcsTarget, region: str, p: str, after: list[str]
    ) -> list[str]:
        if not target.task_sets:
            return after
        return [ctx.graph.add(_cleanup(target, f"{p}/cleanup/old-task-set", after, region))]


def _primary(target: m.EcsTarget, step_id: str, deps: list[str], region: str, stage: int) -> Step:
    """After the promotion to 100%: the new task set becomes the service's primary."""
    assert target.service is not None  # task sets run in one service
    params = EcsSetPrimaryParams(
        cluster=target.cluster,
        service=target.service,
        task_set="${task_set}",
        previous="${stable_task_set}",
    )
    return Step(
        step_id,
        params.KIND,
        f"service {target.service}: the new task set becomes primary",
        params.to_params(),
        tuple(deps),
        region,
        (f"region:{region}", f"stage:{stage}"),
        traffic=100,
        undo="task set ${previous} primary again",
    )


def _cleanup(target: m.EcsTarget, step_id: str, deps: list[str], region: str) -> Step:
    """The old task set goes once the run has watched the new one: a one-way door."""
    params = EcsDeleteTaskSetParams(
        target=service(target),
        task_set="${stable_task_set}",
        keep="${task_set}",
        from_="${live_color}",
    )
    return Step(
        step_id,
        params.KIND,
        f"service {target.service}: delete the old task set (it gets no traffic by now)",
        params.to_params(),
        tuple(deps),
        region,
        (f"region:{region}", "phase:cleanup"),
        reversible=False,
        one_way=True,
    )
