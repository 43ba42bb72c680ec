"""One ECS service with the EXTERNAL deployment controller: the new version
is a task set (the CodeDeploy ECS model).

- ``ecs.create_task_set``: a task set of the new task definition on the idle
  colour's target group, at 100% of the service's desired count, copying
  how the primary task set runs (launch type or capacity providers,
  platform version, network configuration, the load balancer's container
  and port); it waits for a steady state and a healthy target group.  The
  task set carries ``externalId`` ``deployctl:<token>``, so a retry after a
  crash finds it instead of creating a second one (and ``clientToken`` is
  the same token).  Undo deletes it, refusing while it is primary or its
  target group still gets traffic.
- ``ecs.set_primary``: after the promotion, the new task set becomes the
  service's primary; undo makes the journaled previous one primary again.
- ``ecs.delete_task_set``: when the run has watched the new version, the
  old task set goes (a one-way door: it is what a rollback would return
  to), refusing while it is primary or its target group gets traffic.

Service registries (Cloud Map) are not copied: a new task set registered
there would take discovery traffic before any gate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from deployctl.actions import ecs_live as live
from deployctl.actions.aws import Clients
from deployctl.actions.common import ActionError
from deployctl.actions.ecs import EcsAction
from deployctl.actions.target_health import group_name
from deployctl.core.kinds import StepKind
from deployctl.core.params import (
    EcsCreateTaskSetParams,
    EcsDeleteTaskSetParams,
    EcsSetPrimaryParams,
)
from deployctl.core.plan import Step
from deployctl.core.ports import Observation, Preview, Registry, StepRequest
from deployctl.core.refs import is_unresolved
from deployctl.errors import ResourceChanged

COPIED = ("launchType", "capacityProviderStrategy", "networkConfiguration")


def marker(token: str) -> str:
    """The ``externalId`` of the task set one (run, step) creates."""
    return f"deployctl:{token}"


def _service(params: Mapping[str, Any]) -> tuple[str, str]:
    """(cluster, service): the keys every task-set step's params share."""
    return str(params["cluster"]), str(params["service"])


class _TaskSets(EcsAction):
    def resources(self, step: Step, params: Mapping[str, Any]) -> tuple[str, ...]:
        return (live.service_key(step.region, *_service(params)),)

    def service(self, request: StepRequest) -> dict[str, Any]:
        cluster, name = _service(request.params)
        return live.describe_service(self.ecs(request.step), cluster, name, request.step.kind)

    def key(self, request: StepRequest) -> str:
        return live.service_key(request.step.region, *_service(request.params))

    def find(self, service: Mapping[str, Any], arn: str | None) -> dict[str, Any] | None:
        return next((t for t in live.task_sets(service) if t["taskSetArn"] == arn), None)


def _set_status(state: Mapping[str, Any], arn: str, status: str | None) -> dict[str, Any]:
    """A predicted service state with task set ``arn``'s status changed (None: removed)."""
    sets = []
    for item in state.get("task_sets") or ():
        if item["arn"] != arn:
            sets.append(dict(item) | ({"status": "ACTIVE"} if status == "PRIMARY" else {}))
        elif status is not None:
            sets.append(dict(item) | {"status": status})
    return dict(state) | {"task_sets": sets}


class CreateTaskSet(_TaskSets):
    """``ecs.create_task_set``: outputs ``task_set`` (its ARN) and ``health``."""

    def resources(self, step: Step, params: Mapping[str, Any]) -> tuple[str, ...]:
        p = EcsCreateTaskSetParams.from_params(params)
        if is_unresolved(p.task_definition):
            # (``plan`` reads the service once the revision to run is predicted)
            return (f"ecs-service {step.region} {p.target.cluster}/${{task_definition}}",)
        return super().resources(step, params)

    def preview(self, step: Step, params: Mapping[str, Any], states: Mapping[str, Any]) -> Preview:
        p = EcsCreateTaskSetParams.from_params(params)
        (key,) = self.resources(step, params)
        state = dict(states[key] or {})
        to = str(p.to)
        group = live.groups_of(p.target.listener).get(to, to)  # to: "${idle_color}" in a plan
        wanted = str(p.task_definition)
        new: dict[str, Any] = {
            "arn": "(new task set)",
            "status": "ACTIVE",
            "task_definition": wanted,
            "target_groups": [group],
            "scale": 100.0,
        }
        state["task_sets"] = [*(state.get("task_sets") or []), new]
        shown = (
            f"+ task set {live.short(wanted)} on {to} at 100%, "
            "stable and healthy before any traffic"
        )
        return Preview(shown, True, {key: state}, outputs={"task_set": "(new task set)"})

    def before(self, request: StepRequest) -> Mapping[str, Any]:
        first = live.primary(self.service(request))
        return {"primary": first["taskSetArn"] if first else None}

    def _mine(self, service: Mapping[str, Any], request: StepRequest) -> dict[str, Any] | None:
        wanted = marker(request.token)
        return next((t for t in live.task_sets(service) if t.get("externalId") == wanted), None)

    def observe(self, request: StepRequest) -> Observation:
        mine = self._mine(self.service(request), request)
        if mine is None:
            return Observation(False, detail="no task set of this run")
        judged = live.task_set_verdict({"taskSets": [mine]})
        to = str(EcsCreateTaskSetParams.from_params(request.params).to)
        if not judged.done or not self.healthy_now(request, to):
            return Observation(
                False, detail=f"task set created, not steady and healthy ({judged.why})"
            )
        return Observation(True, {"task_set": mine["taskSetArn"]}, detail="task set is steady")

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        p = EcsCreateTaskSetParams.from_params(request.params)
        kind, to = request.step.kind, str(p.to)
        cluster, name = _service(request.params)
        group = live.groups_of(p.target.listener)[to]
        self.idle_gets_nothing(request, to, f"a task set for service {name}")
        service = self.service(request)
        mine = self._mine(service, request)
        first = live.primary(service)
        journaled = request.before.get("primary", p.stable_task_set)
        now = first["taskSetArn"] if first else None
        if now != journaled:
            raise ResourceChanged(
                self.key(request),
                f"primary task set {live.short(journaled)} as journaled before this step",
                f"primary task set {live.short(now)}",
            )
        assert first is not None  # discover refused a service without one
        own = mine["taskSetArn"] if mine else None
        others = [
            t
            for t in live.task_sets(service)
            if group in live.target_groups(t) and t["taskSetArn"] != own
        ]
        if others:
            names = ", ".join(f"{live.short(t['taskSetArn'])} ({t.get('status')})" for t in others)
            raise ActionError(
                kind,
                f"{to}'s target group {group_name(group)} already has task set(s) {names}: "
                "delete them (or finish the run that made them), then deploy",
            )
        client = self.ecs(request.step)
        if mine is None:
            args: dict[str, Any] = {k: first[k] for k in COPIED if first.get(k)}
            if first.get("launchType") == "FARGATE" and first.get("platformVersion"):
                args["platformVersion"] = first["platformVersion"]
            balancers = [
                dict(lb) | {"targetGroupArn": group} for lb in first.get("loadBalancers") or ()
            ]
            mine = client.create_task_set(
                cluster=cluster,
                service=name,
                taskDefinition=p.task_definition,
                externalId=marker(request.token),
                loadBalancers=balancers[:1],
                scale={"value": 100.0, "unit": "PERCENT"},
                clientToken=request.token,
                **args,
            )["taskSet"]
        arn = str(mine["taskSetArn"])
        delay, default = live.waiter_delay(client)
        health: dict[str, Any] = {}

        def wait() -> None:
            live.wait_until(
                lambda: client.describe_task_sets(cluster=cluster, service=name, taskSets=[arn]),
                live.task_set_verdict,
                clock=request.clock,
                timeout=live.stable_timeout(p.target, default),
                delay=delay,
                cancel=request.cancel,
                what=f"task set {live.short(arn)} of service {name}",
                kind=kind,
            )
            health.update(self.healthy(request, to))

        def back() -> str:
            _delete(client, request.params, arn)
            return f"task set {live.short(arn)} was deleted again"

        self.settle(request, wait, back)
        return {"task_set": arn, "health": health}

    def undo(self, request: StepRequest, outputs: Mapping[str, Any]) -> Mapping[str, Any] | None:
        to = str(EcsCreateTaskSetParams.from_params(request.params).to)
        service = self.service(request)
        found = self.find(service, outputs.get("task_set")) or self._mine(service, request)
        if found is None:
            return {"note": "the task set was already gone"}
        if found.get("status") == "PRIMARY":
            raise ActionError(
                request.step.kind,
                f"task set {live.short(found['taskSetArn'])} is the primary; not deleted",
            )
        self.idle_gets_nothing(request, to, f"task set {live.short(found['taskSetArn'])} kept")
        _delete(self.ecs(request.step), request.params, str(found["taskSetArn"]))
        return {"deleted": live.short(found["taskSetArn"])}


def _delete(client: Any, params: Mapping[str, Any], arn: str) -> None:
    cluster, service = _service(params)
    try:
        client.delete_task_set(cluster=cluster, service=service, taskSet=arn)
    except ClientError as exc:
        if not live.not_found(exc):
            raise


class SetPrimary(_TaskSets):
    """``ecs.set_primary``: task set ``task_set`` becomes the service's
    primary; ``before`` journals the one that was, which undo restores."""

    def preview(self, step: Step, params: Mapping[str, Any], states: Mapping[str, Any]) -> Preview:
        (key,) = self.resources(step, params)
        task_set = EcsSetPrimaryParams.from_params(params).task_set
        state = _set_status(states[key] or {}, str(task_set), "PRIMARY")
        return Preview("the new task set is primary", True, {key: state})

    def before(self, request: StepRequest) -> Mapping[str, Any]:
        first = live.primary(self.service(request))
        return {"previous": first["taskSetArn"] if first else None}

    def observe(self, request: StepRequest) -> Observation:
        first = live.primary(self.service(request))
        now = first["taskSetArn"] if first else None
        task_set = EcsSetPrimaryParams.from_params(request.params).task_set
        return Observation(now == task_set, detail=f"primary: {live.short(now)}")

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        p = EcsSetPrimaryParams.from_params(request.params)
        first = live.primary(self.service(request))
        now = first["taskSetArn"] if first else None
        was = request.before.get("previous", p.previous)
        if now == p.task_set:
            return {"previous": was}
        if now != was:
            raise ResourceChanged(
                self.key(request),
                f"primary task set {live.short(was)} as journaled before this step",
                f"primary task set {live.short(now)}",
            )
        self.ecs(request.step).update_service_primary_task_set(
            cluster=p.cluster, service=p.service, primaryTaskSet=p.task_set
        )
        return {"previous": was}

    def undo(self, request: StepRequest, outputs: Mapping[str, Any]) -> Mapping[str, Any] | None:
        p = EcsSetPrimaryParams.from_params(request.params)
        previous = outputs.get("previous")
        service = self.service(request)
        if not previous or self.find(service, str(previous)) is None:
            raise ActionError(
                request.step.kind,
                f"the previous primary task set {live.short(previous)} is gone; "
                f"{live.short(p.task_set)} stays primary",
            )
        first = live.primary(service)
        if first is None or first["taskSetArn"] != previous:
            self.ecs(request.step).update_service_primary_task_set(
                cluster=p.cluster, service=p.service, primaryTaskSet=previous
            )
        return {"primary": live.short(previous)}


class DeleteTaskSet(_TaskSets):
    """``ecs.delete_task_set``: the old task set (``task_set``) goes, unless it
    is primary or its side (``from``) still gets traffic; ``keep`` (the new
    one) is never deleted."""

    def preview(self, step: Step, params: Mapping[str, Any], states: Mapping[str, Any]) -> Preview:
        (key,) = self.resources(step, params)
        old = str(EcsDeleteTaskSetParams.from_params(params).task_set)
        state = _set_status(states[key] or {}, old, None)
        return Preview(f"- task set {live.short(old)}", True, {key: state})

    def observe(self, request: StepRequest) -> Observation:
        old = str(EcsDeleteTaskSetParams.from_params(request.params).task_set)
        gone = self.find(self.service(request), old) is None
        return Observation(gone, detail="deleted" if gone else "still there")

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        p, kind = EcsDeleteTaskSetParams.from_params(request.params), request.step.kind
        old = str(p.task_set)
        if old == p.keep:
            raise ActionError(kind, f"task set {live.short(old)} is the new one; not deleted")
        found = self.find(self.service(request), old)
        if found is None:
            return {"deleted": live.short(old)}
        if found.get("status") == "PRIMARY":
            raise ActionError(kind, f"task set {live.short(old)} is still primary; not deleted")
        side = str(p.from_)
        self.idle_gets_nothing(request, side, f"old task set {live.short(old)} kept")
        if live.groups_of(p.target.listener)[side] not in live.target_groups(found):
            raise ActionError(kind, f"task set {live.short(old)} is not on {side}; not deleted")
        _delete(self.ecs(request.step), request.params, old)
        return {"deleted": live.short(old), "from": side}


def register(registry: Registry, clients: Clients) -> None:
    registry.register(StepKind.ECS_CREATE_TASK_SET, CreateTaskSet(clients))
    registry.register(StepKind.ECS_SET_PRIMARY, SetPrimary(clients))
    registry.register(StepKind.ECS_DELETE_TASK_SET, DeleteTaskSet(clients))
