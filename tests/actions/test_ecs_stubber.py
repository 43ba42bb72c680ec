"""What moto cannot show about ECS, with botocore's Stubber on the ECS client
(the load balancer stays on in-process moto): a service's new deployment
rolling out (two deployments until the old one drains), the deployment
circuit breaker's ``FAILED`` rollout, a service that never settles, and a
task set ``STABILIZING`` before its ``STEADY_STATE``.  moto's services are
stable at once and its task sets carry no counts.  The answers have the
shapes DescribeServices and DescribeTaskSets really give."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from deployctl.actions import ecs as ecs_actions
from deployctl.actions import ecs_live as live
from deployctl.actions.aws import Clients
from deployctl.actions.common import ActionError
from deployctl.core.ports import Registry
from deployctl.testing.aws import request
from deployctl.testing.clock import VirtualClock
from deployctl.testing.worlds import ecs

ACCOUNT = "arn:aws:ecs:us-east-1:123456789012"
OLD = f"{ACCOUNT}:task-definition/media-register:1"
NEW = f"{ACCOUNT}:task-definition/media-register:2"
WHEN = datetime.datetime(2024, 1, 20, 10, 0, tzinfo=datetime.UTC)


def deployment(
    status: str, td: str, running: int, desired: int, rollout: str, why: str = ""
) -> dict[str, Any]:
    return {
        "id": f"ecs-svc/{abs(hash((status, td))) % 10**18}",
        "status": status,
        "taskDefinition": td,
        "desiredCount": desired,
        "pendingCount": desired - running,
        "runningCount": running,
        "failedTasks": 0,
        "createdAt": WHEN,
        "updatedAt": WHEN,
        "launchType": "EC2",
        "rolloutState": rollout,
        "rolloutStateReason": why or f"ECS deployment {rollout.lower()}.",
    }


def service(
    name: str,
    td: str,
    running: int,
    desired: int,
    deployments: list[dict[str, Any]],
    events: tuple[str, ...] = (),
) -> dict[str, Any]:
    return {
        "serviceArn": f"{ACCOUNT}:service/media-register/{name}",
        "serviceName": name,
        "clusterArn": f"{ACCOUNT}:cluster/media-register",
        "status": "ACTIVE",
        "desiredCount": desired,
        "runningCount": running,
        "pendingCount": desired - running,
        "taskDefinition": td,
        "deploymentController": {"type": "ECS"},
        "deployments": deployments,
        "events": [{"id": str(n), "createdAt": WHEN, "message": m} for n, m in enumerate(events)],
    }


def described(*services: dict[str, Any]) -> dict[str, Any]:
    return {"services": list(services), "failures": []}


@pytest.fixture
def world(clients: Clients) -> Iterator[tuple[Registry, Stubber, dict[str, str]]]:
    arns = ecs.build(clients, "services")  # the listener and target groups, on moto
    registry = Registry()
    ecs_actions.register(registry, clients)
    stub = Stubber(clients.client("ecs", "us-east-1"))
    with stub:
        yield registry, stub, arns
    stub.assert_no_pending_responses()


def step_params(arns: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "cluster": "media-register",
        "services": dict(ecs.COLOR_SERVICES),
        "listener_arn": arns["listener"],
        "blue_target_group": arns["blue_target_group"],
        "green_target_group": arns["green_target_group"],
        "min_healthy": 1,
        "health_timeout": 0.0,
        "to": "green",
        "task_definition": NEW,
    } | extra


def expect_reads(stub: Stubber, green: dict[str, Any]) -> None:
    blue = service(
        "media-register-blue", OLD, 2, 2, [deployment("PRIMARY", OLD, 2, 2, "COMPLETED")]
    )
    # One DescribeServices for both: the idle colour's service, then the live one.
    stub.add_response(
        "describe_services",
        described(green, blue),
        {"cluster": "media-register", "services": [green["serviceName"], blue["serviceName"]]},
    )
    stub.add_response(
        "update_service",
        {"service": green},
        {
            "cluster": "media-register",
            "service": "media-register-green",
            "taskDefinition": NEW,
            "desiredCount": 2,
        },
    )


def poll(stub: Stubber, answer: dict[str, Any]) -> None:
    stub.add_response(
        "describe_services",
        described(answer),
        {"cluster": "media-register", "services": ["media-register-green"]},
    )


def test_stubber_a_rolling_deployment_is_waited_for_on_the_runs_clock(
    world: tuple[Registry, Stubber, dict[str, str]],
) -> None:
    registry, stub, arns = world
    idle = service(
        "media-register-green", OLD, 0, 0, [deployment("PRIMARY", OLD, 0, 0, "COMPLETED")]
    )
    expect_reads(stub, idle)
    rolling = [
        deployment("PRIMARY", NEW, 1, 2, "IN_PROGRESS"),
        deployment("ACTIVE", OLD, 0, 0, "COMPLETED"),
    ]
    poll(
        stub,
        service(
            "media-register-green",
            NEW,
            1,
            2,
            rolling,
            ["(service media-register-green) has started 2 tasks"],
        ),
    )
    poll(
        stub,
        service("media-register-green", NEW, 2, 2, [deployment("PRIMARY", NEW, 2, 2, "COMPLETED")]),
    )
    clock = VirtualClock()
    start = clock.now()
    out = registry.get("ecs.update_service").apply(
        request("ecs.update_service", step_params(arns), clock)
    )
    assert clock.now() - start == 15.0  # one poll of botocore's services_stable delay
    assert out["previous_task_definition"] == OLD and out["previous_desired_count"] == 0


def test_stubber_a_deployment_the_circuit_breaker_failed_fails_at_once_and_is_put_back(
    world: tuple[Registry, Stubber, dict[str, str]],
) -> None:
    registry, stub, arns = world
    idle = service(
        "media-register-green", OLD, 0, 0, [deployment("PRIMARY", OLD, 0, 0, "COMPLETED")]
    )
    expect_reads(stub, idle)
    why = "ECS deployment circuit breaker: tasks failed to start."
    failed = [
        deployment("PRIMARY", NEW, 0, 2, "FAILED", why),
        deployment("ACTIVE", OLD, 0, 0, "COMPLETED"),
    ]
    poll(stub, service("media-register-green", NEW, 0, 2, failed))
    stub.add_response(
        "update_service",
        {"service": idle},
        {
            "cluster": "media-register",
            "service": "media-register-green",
            "taskDefinition": OLD,
            "desiredCount": 0,
        },
    )
    clock = VirtualClock()
    start = clock.now()
    with pytest.raises(ActionError) as caught:
        registry.get("ecs.update_service").apply(
            request("ecs.update_service", step_params(arns), clock)
        )
    assert clock.now() == start  # no wait: FAILED is final
    assert f"ECS rolled the deployment back: {why}" in str(caught.value)
    assert "service media-register-green is back on media-register:1 with 0 task(s)" in str(
        caught.value
    )


def test_stubber_a_service_that_never_settles_fails_after_stable_timeout_saying_why(
    world: tuple[Registry, Stubber, dict[str, str]],
) -> None:
    registry, stub, arns = world
    idle = service(
        "media-register-green", OLD, 0, 0, [deployment("PRIMARY", OLD, 0, 0, "COMPLETED")]
    )
    expect_reads(stub, idle)
    stuck = [
        deployment("PRIMARY", NEW, 1, 2, "IN_PROGRESS"),
        deployment("ACTIVE", OLD, 0, 0, "COMPLETED"),
    ]
    message = "(service media-register-green) was unable to place a task because no container instance met all of its requirements."
    for _ in range(3):  # at 0 s, 15 s and 30 s: then the 30 s timeout
        poll(stub, service("media-register-green", NEW, 1, 2, stuck, [message]))
    stub.add_response(
        "update_service",
        {"service": idle},
        {
            "cluster": "media-register",
            "service": "media-register-green",
            "taskDefinition": OLD,
            "desiredCount": 0,
        },
    )
    with pytest.raises(ActionError) as caught:
        registry.get("ecs.update_service").apply(
            request("ecs.update_service", step_params(arns, stable_timeout=30.0), VirtualClock())
        )
    text = str(caught.value)
    assert (
        "service media-register-green not steady after 30s: 1 of 2 task(s) running, 2 deployment(s)"
        in text
    )
    assert "last event: (service media-register-green) was unable to place a task" in text


def task_set(status: str, stability: str, running: int, computed: int) -> dict[str, Any]:
    return {
        "id": "ecs-svc/1234567890123456789",
        "taskSetArn": f"{ACCOUNT}:task-set/media-register/media-register/ecs-svc/1234567890123456789",
        "serviceArn": f"{ACCOUNT}:service/media-register/media-register",
        "clusterArn": f"{ACCOUNT}:cluster/media-register",
        "externalId": "deployctl:tok-1",
        "status": status,
        "taskDefinition": NEW,
        "computedDesiredCount": computed,
        "pendingCount": computed - running,
        "runningCount": running,
        "launchType": "FARGATE",
        "scale": {"value": 100.0, "unit": "PERCENT"},
        "stabilityStatus": stability,
        "stabilityStatusAt": WHEN,
    }


def test_stubber_a_stabilizing_task_set_is_steady_only_with_all_its_tasks_running(
    clients: Clients,
) -> None:
    client = clients.client("ecs", "us-east-1")
    stub = Stubber(client)
    answers = [
        task_set("ACTIVE", "STABILIZING", 0, 2),
        task_set("ACTIVE", "STEADY_STATE", 1, 2),  # steady by its flag, but a task short
        task_set("ACTIVE", "STEADY_STATE", 2, 2),
    ]
    for found in answers:
        stub.add_response(
            "describe_task_sets",
            {"taskSets": [found], "failures": []},
            {"cluster": "c", "service": "s", "taskSets": ANY},
        )
    clock = VirtualClock()
    start = clock.now()
    with stub:
        got = live.wait_until(
            lambda: client.describe_task_sets(cluster="c", service="s", taskSets=["x"]),
            live.task_set_verdict,
            clock=clock,
            timeout=600.0,
            delay=15.0,
            cancel=None,
            what="task set",
            kind="ecs.create_task_set",
        )
    assert got["taskSets"][0]["runningCount"] == 2
    assert clock.now() - start == 30.0
    stub.assert_no_pending_responses()
    assert (
        live.task_set_verdict({"taskSets": [task_set("DRAINING", "STABILIZING", 0, 0)]}).failed
        == "the task set is gone"
    )
