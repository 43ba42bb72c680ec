"""Reading ECS: a service, its task sets and the images its task definitions
run, in the shape the ECS actions, the plan diff and saved plans share; and
the wait for a steady state, on the run's clock.

A service's state (:func:`service_state`) keeps what a deployment decides
and nothing that moves by itself (running counts, stability, timestamps), so
a saved plan's fingerprint changes only when someone changed the service.

Steady state:

- a service (two-services shape): botocore's own ``services_stable``
  acceptors (one deployment, ``runningCount == desiredCount``; a missing,
  draining or inactive service fails), judged on each ``DescribeServices``
  answer of our poll, plus the service running the wanted task definition;
  a deployment the circuit breaker marked ``FAILED`` fails at once;
- a task set: ``stabilityStatus`` ``STEADY_STATE`` (ECS: running equals the
  computed desired count, none pending, the load balancer reports them
  healthy) and, where ECS reports them, as many running tasks as computed.

The poll re-reads every ``delay`` seconds of the injected clock (botocore's
waiter delay, 15 s) up to the plan's ``stable_timeout`` (default: the
waiter's delay times its attempts, 10 minutes); nothing calls ``time.sleep``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from deployctl.actions.common import ActionError
from deployctl.core.params import AlbListener, EcsService
from deployctl.core.ports import Clock
from deployctl.manifest.durations import format_duration

STEADY = "STEADY_STATE"
GONE = ("DRAINING", "INACTIVE")  # a task set or service on its way out serves nothing
DEFAULT_STABLE_TIMEOUT = 600.0
T = TypeVar("T")


def short(arn: str | None) -> str:
    """``arn:...:task-definition/web:7`` -> ``web:7``; ``.../task-set/c/s/ecs-svc/1`` -> ``ecs-svc/1``."""
    if not arn:
        return "none"
    if ":task-set/" in arn:
        return "/".join(arn.split("/")[-2:])
    return arn.rsplit("/", 1)[-1]


def family_of(arn: str) -> str:
    """The family of a task definition ARN or ``family:revision``."""
    return short(arn).split(":", 1)[0]


def service_key(region: str | None, cluster: str, service: str) -> str:
    return f"ecs-service {region} {cluster.rsplit('/', 1)[-1]}/{service}"


def idle_service(target: EcsService, color: str) -> str:
    """The service of ``color`` of a target with one service per colour."""
    return str((target.services or {})[color])


# --- reading ------------------------------------------------------------------------


def describe_services(
    client: Any, cluster: str, names: list[str], kind: str
) -> list[dict[str, Any]]:
    """One ``DescribeServices`` for all ``names``, in that order; a missing or
    inactive service fails the step."""
    found = client.describe_services(cluster=cluster, services=names)
    by_name = {
        s.get("serviceName"): dict(s)
        for s in found.get("services") or ()
        if s.get("status") != "INACTIVE"
    }
    for name in names:
        if name not in by_name:
            raise ActionError(kind, f"service {name} not found in cluster {cluster}")
    return [by_name[name] for name in names]


def describe_service(client: Any, cluster: str, service: str, kind: str) -> dict[str, Any]:
    return describe_services(client, cluster, [service], kind)[0]


def task_sets(service: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The service's task sets that still serve (not draining)."""
    return [dict(t) for t in service.get("taskSets") or () if t.get("status") not in GONE]


def primary(service: Mapping[str, Any]) -> dict[str, Any] | None:
    return next((t for t in task_sets(service) if t.get("status") == "PRIMARY"), None)


def target_groups(item: Mapping[str, Any]) -> list[str]:
    """The target groups a service or task set registers its tasks in."""
    return [
        str(lb["targetGroupArn"])
        for lb in item.get("loadBalancers") or ()
        if lb.get("targetGroupArn")
    ]


def serving_container(item: Mapping[str, Any]) -> str | None:
    """The container the load balancer sends traffic to."""
    for lb in item.get("loadBalancers") or ():
        if lb.get("containerName"):
            return str(lb["containerName"])
    return None


def images(client: Any, task_definition: str | None) -> dict[str, str]:
    """Container name -> image of a task definition (one ``DescribeTaskDefinition``)."""
    if not task_definition:
        return {}
    found = client.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    return {str(c["name"]): str(c.get("image")) for c in found.get("containerDefinitions") or ()}


def service_state(client: Any, service: Mapping[str, Any]) -> dict[str, Any]:
    """What a deployment decides about a service, with its task definitions' images."""
    sets = sorted(task_sets(service), key=lambda t: (t.get("status") != "PRIMARY", t["taskSetArn"]))
    defs = {str(service.get("taskDefinition") or "")} | {str(t["taskDefinition"]) for t in sets}
    shown = {td: images(client, td) for td in sorted(d for d in defs if d)}
    return {
        "task_definition": service.get("taskDefinition"),
        "desired_count": service.get("desiredCount"),
        "target_groups": target_groups(service),
        "task_sets": [
            {
                "arn": t["taskSetArn"],
                "status": t.get("status"),
                "task_definition": t.get("taskDefinition"),
                "target_groups": target_groups(t),
                "scale": float((t.get("scale") or {}).get("value", 100.0)),
            }
            for t in sets
        ],
        "images": shown,
    }


def _images_text(state: Mapping[str, Any], td: str | None) -> str:
    found = (state.get("images") or {}).get(td or "") or {}
    return ", ".join(f"{name}: {image}" for name, image in sorted(found.items()))


def _side(state: Mapping[str, Any], arns: Mapping[str, str]) -> Callable[[list[str]], str]:
    by_arn = {arn: color for color, arn in arns.items()}
    return lambda groups: "/".join(by_arn.get(g, short(g)) for g in groups) or "no target group"


def display(state: Mapping[str, Any] | None, groups: Mapping[str, str]) -> str:
    """One line for people: the task definition (and image) of a service or its task sets."""
    if state is None:
        return "(no such service)"
    side = _side(state, groups)
    sets = state.get("task_sets") or []
    if not sets:
        td = state.get("task_definition")
        return (
            f"{short(td)} ({_images_text(state, td)}), {state.get('desired_count')} task(s), "
            f"on {side(state.get('target_groups') or [])}"
        )
    parts = [
        f"{'primary' if t['status'] == 'PRIMARY' else t['status'].lower()} "
        f"{short(t['task_definition'])} ({_images_text(state, t['task_definition'])}) "
        f"on {side(t['target_groups'])} at {t['scale']:g}%"
        for t in sets
    ]
    return "; ".join(parts)


def groups_of(listener: AlbListener) -> dict[str, str]:
    return {"blue": str(listener.blue_target_group), "green": str(listener.green_target_group)}


# --- waiting ------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """One look at something we wait for: done, failed for good, or not yet (why)."""

    done: bool = False
    failed: str | None = None
    why: str = ""


def wait_until(
    read: Callable[[], T],
    judge: Callable[[T], Verdict],
    *,
    clock: Clock,
    timeout: float,
    delay: float,
    cancel: threading.Event | None,
    what: str,
    kind: str,
) -> T:
    """Read and judge every ``delay`` seconds of ``clock`` until done; a failed
    verdict, the ``timeout`` or ``cancel`` raise :class:`ActionError` saying why."""
    start = clock.now()
    deadline = start + max(0.0, timeout)
    while True:
        found = read()
        verdict = judge(found)
        if verdict.failed:
            raise ActionError(kind, f"{what}: {verdict.failed}")
        if verdict.done:
            return found
        now = clock.now()
        if now >= deadline:
            waited = format_duration(now - start)
            raise ActionError(kind, f"{what} not steady after {waited}: {verdict.why}")
        if not clock.sleep(min(delay, deadline - now), cancel):
            raise ActionError(kind, f"{what}: interrupted while waiting ({verdict.why})")


def service_verdict(client: Any, wanted: str) -> Callable[[Mapping[str, Any]], Verdict]:
    """Judge a ``DescribeServices`` answer with botocore's ``services_stable``
    acceptors, and the service running ``wanted``."""
    acceptors = client.get_waiter("services_stable").config.acceptors

    def judge(answer: Mapping[str, Any]) -> Verdict:
        service = (answer.get("services") or [{}])[0]
        for deployment in service.get("deployments") or ():
            if deployment.get("status") == "PRIMARY" and deployment.get("rolloutState") == "FAILED":
                reason = deployment.get("rolloutStateReason") or "the deployment failed"
                return Verdict(failed=f"ECS rolled the deployment back: {reason}")
        state = next((a.state for a in acceptors if a.matcher_func(answer)), None)
        if state == "failure":
            return Verdict(failed=f"service is {service.get('status') or 'missing'}")
        running = f"{service.get('runningCount')} of {service.get('desiredCount')} task(s) running"
        deployments = len(service.get("deployments") or ())
        events = service.get("events") or []
        last = f"; last event: {events[0].get('message')}" if events else ""
        why = f"{running}, {deployments} deployment(s){last}"
        if service.get("taskDefinition") != wanted:
            return Verdict(why=f"runs {short(service.get('taskDefinition'))}, not {short(wanted)}")
        return Verdict(done=state == "success", why=why)

    return judge


def task_set_verdict(answer: Mapping[str, Any]) -> Verdict:
    """Judge a ``DescribeTaskSets`` answer (one task set)."""
    sets = answer.get("taskSets") or []
    if not sets or sets[0].get("status") in GONE:
        return Verdict(failed="the task set is gone")
    found = sets[0]
    computed, running = found.get("computedDesiredCount"), found.get("runningCount")
    why = f"{found.get('stabilityStatus')}"
    if computed is not None:
        why += f", {running} of {computed} task(s) running, {found.get('pendingCount', 0)} pending"
    counted = computed is None or (running is not None and running >= computed)
    return Verdict(done=found.get("stabilityStatus") == STEADY and counted, why=why)


def waiter_delay(client: Any) -> tuple[float, float]:
    """(delay, default timeout) of botocore's ``services_stable`` waiter."""
    config = client.get_waiter("services_stable").config
    return float(config.delay), float(config.delay * config.max_attempts)


def stable_timeout(target: EcsService, default: float) -> float:
    value = target.stable_timeout
    return default if value is None else float(value)


def not_found(exc: ClientError) -> bool:
    """A task set or task definition that does not exist."""
    code = exc.response.get("Error", {}).get("Code", "")
    message = str(exc.response.get("Error", {}).get("Message", ""))
    return code in ("TaskSetNotFoundException", "ServiceNotFoundException") or (
        code in ("ClientException", "InvalidParameterException")
        and ("does not exist" in message or "not found" in message.lower())
    )
