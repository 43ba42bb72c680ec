"""ECS services behind an ALB listener: ``ecs.discover`` and, for one
service per colour, ``ecs.update_service``; and what every ECS action
shares (its clients, the resources it reads for the plan diff).

The listener itself moves with ``alb.shift`` and drains with ``alb.drain``,
exactly as for an ALB target.  What ECS adds is the side that receives the
new version, and the rules around it:

- **before**: the idle side gets no traffic (a deploy onto a side that
  already serves would put the new version in front of users before any
  gate), the service (or, :mod:`.ecs_tasksets`, the task set) reaches a
  steady state on the new task definition, and its target group is
  healthy (:func:`~deployctl.actions.target_health.wait_healthy`) before
  the step is done, so the first shift never waits on a cold side;
- **fencing**: what a write replaces is journaled before the first intent
  (``before``); a service found neither so nor as this step leaves it
  stops the run as stale (:class:`~deployctl.errors.ResourceChanged`);
- **undo**: the service goes back to the task definition and count it had,
  only once its target group gets no traffic again (the listener's undo
  runs first); otherwise the undo fails and leaves it serving.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from deployctl.actions import alb
from deployctl.actions import ecs_live as live
from deployctl.actions.aws import Clients
from deployctl.actions.common import COLORS, ActionError, ReadAction, other
from deployctl.actions.target_health import Unhealthy, group_name, read_health, wait_healthy
from deployctl.core.kinds import StepKind
from deployctl.core.params import (
    AlbListener,
    EcsDiscoverParams,
    EcsService,
    EcsUpdateServiceParams,
)
from deployctl.core.plan import Step
from deployctl.core.ports import (
    Action,
    Observation,
    Preview,
    Registry,
    ResourceState,
    StepRequest,
)
from deployctl.core.refs import is_unresolved
from deployctl.errors import ResourceChanged


class EcsAction(Action):
    """The clients and the plan-diff reads every ECS action shares: the
    listener (``alb-listener``), services (``ecs-service``) and task
    definition families (``ecs-task-definition``, :mod:`.ecs_taskdef`)."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def ecs(self, step: Step) -> Any:
        return self.clients.client("ecs", step.region)

    def elb(self, step: Step) -> Any:
        return self.clients.client("elbv2", step.region)

    def describe(self, step: Step, params: Mapping[str, Any], key: str) -> ResourceState:
        if key.startswith("alb-listener "):
            return alb.listener_state(self.clients, step, AlbListener.from_params(params), key)
        if key.startswith("ecs-task-definition "):
            from deployctl.actions.ecs_taskdef import family_state  # noqa: PLC0415 - a cycle

            return family_state(self.ecs(step), key)
        name = key.rsplit("/", 1)[1]
        client = self.ecs(step)
        found = client.describe_services(cluster=params["cluster"], services=[name])
        services = [s for s in found.get("services") or () if s.get("status") != "INACTIVE"]
        if not services:
            return ResourceState(key, None, "(no such service)")
        state = live.service_state(client, services[0])
        groups = live.groups_of(AlbListener.from_params(params))
        return ResourceState(key, state, live.display(state, groups))

    def weights_now(self, request: StepRequest) -> dict[str, int]:
        return alb.read_weights(self.clients, request.step, AlbListener.from_params(request.params))

    def group(self, request: StepRequest, color: str) -> str:
        """``color``'s target group, as the listener in the step's params names it."""
        return live.groups_of(AlbListener.from_params(request.params))[color]

    def idle_gets_nothing(self, request: StepRequest, color: str, what: str) -> None:
        """Refuse to touch the side ``color`` while the listener sends it traffic."""
        weights = self.weights_now(request)
        if weights[color] > 0:
            raise ActionError(
                request.step.kind,
                f"{what}: {color}'s target group {group_name(self.group(request, color))} "
                f"receives {weights[color]}% of the traffic now (blue {weights['blue']}% / green "
                f"{weights['green']}%); nothing was changed",
            )

    def healthy(self, request: StepRequest, color: str) -> dict[str, Any]:
        """Wait until ``color``'s target group may receive traffic (issue 8's rule)."""
        listener = AlbListener.from_params(request.params)
        try:
            found = wait_healthy(
                self.elb(request.step),
                live.groups_of(listener)[color],
                min_healthy=int(listener.min_healthy or 1),
                timeout=float(listener.health_timeout),
                clock=request.clock,
                cancel=request.cancel,
            )
        except Unhealthy as exc:
            raise ActionError(request.step.kind, f"{color} side: {exc}") from None
        return found.to_json()

    def settle(
        self, request: StepRequest, wait: Callable[[], object], back: Callable[[], str]
    ) -> None:
        """Run ``wait``; if the new side never becomes steady and healthy, put
        it back as it was (``back``, which says what it did) before failing:
        a failed step is not undone by the rollback, and what it made must
        not stay behind (nor block the next run)."""
        kind = request.step.kind
        try:
            wait()
        except ActionError as exc:
            why = str(exc).removeprefix(f"{kind}: ")
            try:
                done = back()
            except Exception as again:  # both said: a person takes over
                raise ActionError(kind, f"{why}; putting it back failed too: {again}") from None
            raise ActionError(kind, f"{why}; {done}") from None

    def healthy_now(self, request: StepRequest, color: str) -> bool:
        listener = AlbListener.from_params(request.params)
        health = read_health(self.elb(request.step), live.groups_of(listener)[color])
        return health.ok(int(listener.min_healthy or 1))


def _service_keys(step: Step, target: EcsService) -> list[str]:
    cluster = str(target.cluster)
    if target.service is not None:
        return [live.service_key(step.region, cluster, str(target.service))]
    return [live.service_key(step.region, cluster, live.idle_service(target, c)) for c in COLORS]


def _dimension(arn: str) -> str:
    """``arn:...:targetgroup/name/id`` -> ``targetgroup/name/id`` (CloudWatch's ``TargetGroup``)."""
    return arn.rpartition(":")[2]


class Discover(EcsAction, ReadAction):
    """``ecs.discover``: the live colour (the listener's larger weight), the
    task definition it runs, the container the load balancer reaches, and
    with task sets the primary one; refuses a service or task set that
    registers its tasks in the other colour's target group."""

    def resources(self, step: Step, params: Mapping[str, Any]) -> tuple[str, ...]:
        target = EcsDiscoverParams.from_params(params).target
        return (alb.listener_key(step, target.listener), *_service_keys(step, target))

    def preview(self, step: Step, params: Mapping[str, Any], states: Mapping[str, Any]) -> Preview:
        target = EcsDiscoverParams.from_params(params).target
        weights = alb.colours(target.listener, states[alb.listener_key(step, target.listener)])
        color = alb.live_color(weights)
        keys = _service_keys(step, target)
        state = states[keys[0] if len(keys) == 1 else keys[COLORS.index(color)]] or {}
        outputs = {
            "live_color": color,
            "idle_color": other(color),
            "new_target_group": _dimension(live.groups_of(target.listener)[other(color)]),
        }
        sets = state.get("task_sets") or []
        if target.service is not None and sets and sets[0]["status"] == "PRIMARY":
            outputs["live_task_definition"] = sets[0]["task_definition"]
            outputs["stable_task_set"] = sets[0]["arn"]
        elif target.services is not None and state.get("task_definition"):
            outputs["live_task_definition"] = state["task_definition"]
        return Preview(f"live: {color}", False, outputs=outputs)

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        p, kind = EcsDiscoverParams.from_params(request.params).target, request.step.kind
        color = alb.live_color(self.weights_now(request))
        groups = live.groups_of(p.listener)
        out: dict[str, Any] = {
            "live_color": color,
            "idle_color": other(color),
            "new_target_group": _dimension(groups[other(color)]),
        }
        client = self.ecs(request.step)
        if p.service is not None:
            service = live.describe_service(client, p.cluster, p.service, kind)
            first = self._primary(service, groups, color, kind)
            out["live_task_definition"] = first["taskDefinition"]
            out["serving_container"] = live.serving_container(first)
            out["stable_task_set"] = first["taskSetArn"]
            return out
        names = [live.idle_service(p, side) for side in COLORS]
        both = live.describe_services(client, p.cluster, names, kind)
        for side, name, service in zip(COLORS, names, both, strict=True):
            found = live.target_groups(service)
            if found and groups[side] not in found:
                raise ActionError(
                    kind,
                    f"service {name} ({side}) registers its tasks in "
                    f"{', '.join(group_name(g) for g in found)}, not in {side}'s target group "
                    f"{group_name(groups[side])}",
                )
            if side == color:
                out["live_task_definition"] = service.get("taskDefinition")
                out["serving_container"] = live.serving_container(service)
        return out

    def _primary(
        self, service: Mapping[str, Any], groups: Mapping[str, str], color: str, kind: str
    ) -> dict[str, Any]:
        name = service.get("serviceName")
        controller = (service.get("deploymentController") or {}).get("type", "ECS")
        if controller != "EXTERNAL":
            raise ActionError(
                kind,
                f"service {name} uses the {controller} deployment controller; task sets need "
                "EXTERNAL (or name one service per colour under 'services')",
            )
        first = live.primary(service)
        if first is None:
            raise ActionError(kind, f"service {name} has no primary task set to deploy beside")
        if groups[color] not in live.target_groups(first):
            sides = ", ".join(group_name(g) for g in live.target_groups(first)) or "none"
            raise ActionError(
                kind,
                f"service {name}'s primary task set {live.short(first['taskSetArn'])} serves "
                f"{sides}, but the listener sends most traffic to {color} "
                f"({group_name(groups[color])}): finish or roll back the run that moved it first",
            )
        return first


class UpdateService(EcsAction):
    """``ecs.update_service``: the service of colour ``to`` runs
    ``task_definition`` with as many tasks as the live colour's service,
    waits for a steady state and a healthy target group.  Outputs (and
    journals before the first intent) the task definition and count it had;
    undo puts them back once that side gets no traffic."""

    def _names(self, p: EcsUpdateServiceParams) -> tuple[str, str]:
        to = str(p.to)
        return live.idle_service(p.target, to), live.idle_service(p.target, other(to))

    def resources(self, step: Step, params: Mapping[str, Any]) -> tuple[str, ...]:
        p = EcsUpdateServiceParams.from_params(params)
        cluster = str(p.target.cluster)
        if is_unresolved(p.to) or is_unresolved(p.task_definition):
            # (``plan`` reads the service once the revision to run is predicted)
            return (f"ecs-service {step.region} {cluster}/${{idle_color}}",)
        idle, serving = self._names(p)
        return (
            live.service_key(step.region, cluster, idle),
            live.service_key(step.region, cluster, serving),
        )

    def preview(self, step: Step, params: Mapping[str, Any], states: Mapping[str, Any]) -> Preview:
        p = EcsUpdateServiceParams.from_params(params)
        key, serving = self.resources(step, params)
        now, source = states[key], states[serving] or {}
        wanted, count = str(p.task_definition), source.get("desired_count")
        if now and now.get("task_definition") == wanted and now.get("desired_count") == count:
            return Preview(live.display(now, live.groups_of(p.target.listener)), False)
        after = dict(now or {}) | {"task_definition": wanted, "desired_count": count}
        shown = f"{live.short(wanted)}, {count} task(s), stable and healthy before any traffic"
        return Preview(shown, True, {key: after})

    def _read(self, request: StepRequest) -> tuple[dict[str, Any], dict[str, Any]]:
        p = EcsUpdateServiceParams.from_params(request.params)
        client = self.ecs(request.step)
        idle, serving = live.describe_services(
            client, p.target.cluster, list(self._names(p)), request.step.kind
        )
        return idle, serving

    def before(self, request: StepRequest) -> Mapping[str, Any]:
        idle, _ = self._read(request)
        return {
            "previous_task_definition": idle.get("taskDefinition"),
            "previous_desired_count": idle.get("desiredCount"),
        }

    def observe(self, request: StepRequest) -> Observation:
        p = EcsUpdateServiceParams.from_params(request.params)
        idle, serving = self._read(request)
        wanted = str(p.task_definition)
        if (idle.get("taskDefinition"), idle.get("desiredCount")) != (
            wanted,
            serving.get("desiredCount"),
        ):
            return Observation(False, detail=f"runs {live.short(idle.get('taskDefinition'))}")
        judged = live.service_verdict(self.ecs(request.step), wanted)({"services": [idle]})
        if not judged.done or not self.healthy_now(request, str(p.to)):
            return Observation(False, detail=f"updated, not steady and healthy yet ({judged.why})")
        return Observation(True, dict(request.before), detail=f"runs {live.short(wanted)}")

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        p = EcsUpdateServiceParams.from_params(request.params)
        kind, to, cluster = request.step.kind, str(p.to), p.target.cluster
        name, _ = self._names(p)
        self.idle_gets_nothing(request, to, f"service {name}")
        idle, serving = self._read(request)
        wanted, count = str(p.task_definition), int(serving.get("desiredCount") or 0)
        now = (idle.get("taskDefinition"), idle.get("desiredCount"))
        was = (
            request.before.get("previous_task_definition", now[0]),
            request.before.get("previous_desired_count", now[1]),
        )
        if now not in (was, (wanted, count)):
            raise ResourceChanged(
                live.service_key(request.step.region, str(cluster), name),
                f"{live.short(was[0])}, {was[1]} task(s) as journaled before this step",
                f"{live.short(now[0])}, {now[1]} task(s)",
            )
        client = self.ecs(request.step)
        if now != (wanted, count):
            client.update_service(
                cluster=cluster, service=name, taskDefinition=wanted, desiredCount=count
            )
        delay, default = live.waiter_delay(client)
        health: dict[str, Any] = {}

        def wait() -> None:
            live.wait_until(
                lambda: client.describe_services(cluster=cluster, services=[name]),
                live.service_verdict(client, wanted),
                clock=request.clock,
                timeout=live.stable_timeout(p.target, default),
                delay=delay,
                cancel=request.cancel,
                what=f"service {name}",
                kind=kind,
            )
            health.update(self.healthy(request, to))

        def back() -> str:
            client.update_service(
                cluster=cluster,
                service=name,
                taskDefinition=str(was[0]),
                desiredCount=int(was[1] or 0),
            )
            return f"service {name} is back on {live.short(was[0])} with {was[1]} task(s)"

        self.settle(request, wait, back)
        return {
            "previous_task_definition": was[0],
            "previous_desired_count": was[1],
            "health": health,
        }

    def undo(self, request: StepRequest, outputs: Mapping[str, Any]) -> Mapping[str, Any] | None:
        p = EcsUpdateServiceParams.from_params(request.params)
        to = str(p.to)
        name, _ = self._names(p)
        previous = outputs.get("previous_task_definition")
        if not previous:
            raise ActionError(request.step.kind, f"service {name}: no journaled task definition")
        self.idle_gets_nothing(request, to, f"service {name} left on the new version")
        idle, _ = self._read(request)
        count = outputs.get("previous_desired_count")
        if (idle.get("taskDefinition"), idle.get("desiredCount")) != (previous, count):
            self.ecs(request.step).update_service(
                cluster=p.target.cluster,
                service=name,
                taskDefinition=previous,
                desiredCount=int(count or 0),
            )
        return {"task_definition": live.short(previous), "desired_count": count}


def register(registry: Registry, clients: Clients) -> None:
    from deployctl.actions import ecs_taskdef, ecs_tasksets  # noqa: PLC0415 - they import this

    registry.register(StepKind.ECS_DISCOVER, Discover(clients))
    registry.register(StepKind.ECS_UPDATE_SERVICE, UpdateService(clients))
    ecs_taskdef.register(registry, clients)
    ecs_tasksets.register(registry, clients)
