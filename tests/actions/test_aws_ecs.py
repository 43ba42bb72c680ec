"""ECS actions against in-process moto (ECS, ELBv2, EC2) and a virtual clock:
discover the live side, register a task definition once, put the new
version on the idle side (a service per colour, or a task set), make it
primary, delete the old one, and undo each exactly as journaled."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from deployctl.actions import alb
from deployctl.actions import ecs as ecs_actions
from deployctl.actions.aws import Clients
from deployctl.actions.common import ActionError
from deployctl.core.ports import Registry, StepRequest
from deployctl.errors import ResourceChanged
from deployctl.testing.aws import Calls, request
from deployctl.testing.clock import VirtualClock
from deployctl.testing.motostate import kept
from deployctl.testing.worlds import ecs, media

NEW = ecs.NEW_IMAGE


@pytest.fixture
def registry(clients: Clients) -> Registry:
    reg = Registry()
    ecs_actions.register(reg, clients)
    alb.register(reg, clients)
    return reg


def build(clients: Clients, shape: str, calls: Calls | None = None) -> dict[str, str]:
    """The ECS world of ``shape``, built once per process and put back after;
    the world's own calls are not counted in ``calls``."""
    before = Counter(calls.seen) if calls else None
    arns = kept(("media-register-ecs", shape), lambda: ecs.build(clients, shape))
    if calls and before is not None:
        calls.seen = before
    return arns


def params(arns: dict[str, str], shape: str, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "cluster": ecs.CLUSTER,
        "listener_arn": arns["listener"],
        "blue_target_group": arns["blue_target_group"],
        "green_target_group": arns["green_target_group"],
        "min_healthy": 1,
        "health_timeout": 0.0,
        "stable_timeout": 0.0,
    }
    if shape == "task-sets":
        out["service"] = ecs.SERVICE
    else:
        out["services"] = dict(ecs.COLOR_SERVICES)
    return out | extra


def call(reg: Registry, kind: str, p: dict[str, Any], **kw: Any) -> StepRequest:
    return request(kind, p, kw.pop("clock", None) or VirtualClock(), **kw)


def discover(reg: Registry, arns: dict[str, str], shape: str) -> dict[str, Any]:
    return dict(reg.get("ecs.discover").apply(call(reg, "ecs.discover", params(arns, shape))))


def registered(reg: Registry, base: str, **extra: Any) -> str:
    p = {"cluster": ecs.CLUSTER, "base": base, "image": NEW, "container": "api"} | extra
    return str(reg.get("ecs.register").apply(call(reg, "ecs.register", p))["task_definition"])


# --- discover ----------------------------------------------------------------------


def test_discover_finds_blue_live_its_task_definition_and_primary_task_set(
    registry: Registry, clients: Clients
) -> None:
    arns = build(clients, "task-sets")
    found = discover(registry, arns, "task-sets")
    assert found["live_color"] == "blue" and found["idle_color"] == "green"
    assert found["live_task_definition"].endswith(":task-definition/media-register:1")
    assert found["serving_container"] == "api"
    assert ":task-set/media-register/media-register/" in found["stable_task_set"]
    # CloudWatch's TargetGroup dimension of the side the new version goes to.
    assert found["new_target_group"] == arns["green_target_group"].split(":")[-1]


def test_discover_of_two_services_reads_the_live_colours_task_definition(
    registry: Registry, clients: Clients
) -> None:
    arns = build(clients, "services")
    found = discover(registry, arns, "services")
    assert (found["live_color"], found["serving_container"]) == ("blue", "api")
    assert "stable_task_set" not in found


def test_discover_refuses_a_service_without_the_external_controller(
    registry: Registry, clients: Clients
) -> None:
    arns = build(clients, "services")
    p = params(arns, "task-sets", service="media-register-blue")
    with pytest.raises(
        ActionError, match="uses the ECS deployment controller; task sets need EXTERNAL"
    ):
        registry.get("ecs.discover").apply(call(registry, "ecs.discover", p))


def test_discover_refuses_colours_swapped_between_services_and_target_groups(
    registry: Registry, clients: Clients
) -> None:
    arns = build(clients, "services")
    p = params(
        arns, "services", services={"blue": "media-register-green", "green": "media-register-blue"}
    )
    with pytest.raises(
        ActionError,
        match=r"service media-register-green \(blue\) registers its tasks in media-register-green",
    ):
        registry.get("ecs.discover").apply(call(registry, "ecs.discover", p))


def test_discover_refuses_a_primary_task_set_on_the_side_without_traffic(
    registry: Registry, clients: Clients
) -> None:
    arns = build(clients, "task-sets")
    registry.get("alb.shift").apply(
        call(registry, "alb.shift", params(arns, "task-sets", to="green", weight=100))
    )
    with pytest.raises(ActionError, match="but the listener sends most traffic to green"):
        discover(registry, arns, "task-sets")


# --- register ------------------------------------------------------------------------


def test_register_puts_the_image_on_the_file_and_registers_it_once(
    registry: Registry, clients: Clients, calls: Calls
) -> None:
    build(clients, "task-sets", calls)
    p = {"cluster": ecs.CLUSTER, "file": str(ecs.TASK_DEFINITION), "image": NEW, "container": "api"}
    action = registry.get("ecs.register")
    first = action.apply(call(registry, "ecs.register", p))
    assert first["task_definition"].endswith("media-register:2") and first["registered"]
    assert ecs.images(clients)["media-register:2"] == NEW
    # A second run (or a retry after a crash) finds the revision by its digest.
    assert action.observe(call(registry, "ecs.register", p)).outputs == {
        "task_definition": first["task_definition"]
    }
    again = action.apply(call(registry, "ecs.register", p))
    assert (again["task_definition"], again["registered"]) == (first["task_definition"], False)
    assert calls["RegisterTaskDefinition"] == 1  # this step's one
    assert sorted(ecs.images(clients)) == ["media-register:1", "media-register:2"]


def test_register_from_the_live_one_keeps_what_ecs_adds_out(
    registry: Registry, clients: Clients
) -> None:
    live = discover(registry, build(clients, "services"), "services")["live_task_definition"]
    arn = registered(registry, live)
    found = clients.client("ecs", "us-east-1").describe_task_definition(
        taskDefinition=arn, include=["TAGS"]
    )
    container = found["taskDefinition"]["containerDefinitions"][0]
    assert (container["image"], container["portMappings"][0]["containerPort"]) == (NEW, 8080)
    assert [t["key"] for t in found["tags"]] == ["deployctl:digest"]


def test_register_with_the_image_the_live_one_runs_registers_nothing(
    registry: Registry, clients: Clients, calls: Calls
) -> None:
    live = discover(registry, build(clients, "services", calls), "services")["live_task_definition"]
    image = ecs.task_definition()["containerDefinitions"][0]["image"]
    assert registered(registry, live, image=image) == live
    assert calls["RegisterTaskDefinition"] == 0


def test_register_names_a_container_the_task_definition_lacks(
    registry: Registry, clients: Clients
) -> None:
    live = discover(registry, build(clients, "services"), "services")["live_task_definition"]
    with pytest.raises(
        ActionError, match="container 'web' is not in the task definition; it has api"
    ):
        registered(registry, live, container="web")


def test_register_refuses_a_file_with_fields_ecs_does_not_take(
    registry: Registry, clients: Clients, tmp_path: Path
) -> None:
    build(clients, "services")
    bad = ecs.task_definition() | {"revision": 7, "status": "ACTIVE"}
    path = tmp_path / "td.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    p = {"cluster": ecs.CLUSTER, "file": str(path)}
    with pytest.raises(ActionError, match="revision, status are not RegisterTaskDefinition fields"):
        registry.get("ecs.register").apply(call(registry, "ecs.register", p))


# --- two services ------------------------------------------------------------------------


def update(arns: dict[str, str], td: str, **extra: Any) -> dict[str, Any]:
    return params(arns, "services", to="green", task_definition=td) | extra


def test_update_service_runs_the_new_version_on_green_with_blues_count_and_undo_restores(
    registry: Registry, clients: Clients
) -> None:
    arns = build(clients, "services")
    td = registered(registry, discover(registry, arns, "services")["live_task_definition"])
    action = registry.get("ecs.update_service")
    req = call(registry, "ecs.update_service", update(arns, td))
    before = action.before(req)
    assert before == {
        "previous_task_definition": td.replace(":2", ":1"),
        "previous_desired_count": 0,
    }
    out = action.apply(req)
    assert ecs.services(clients) == {
        "blue": ("media-register:1", 2),
        "green": ("media-register:2", 2),
    }
    assert out["health"] == {"healthy": 1, "targets": 1}
    assert action.observe(req).applied
    action.undo(req, out)
    assert ecs.services(clients) == {
        "blue": ("media-register:1", 2),
        "green": ("media-register:1", 0),
    }


def test_update_service_refuses_a_side_that_already_gets_traffic(
    registry: Registry, clients: Clients
) -> None:
    arns = build(clients, "services")
    registry.get("alb.shift").apply(
        call(registry, "alb.shift", params(arns, "services", to="green", weight=20))
    )
    td = registered(registry, ecs.revision(clients, 1))
    with pytest.raises(ActionError, match="green's target group media-register-green receives 20%"):
        registry.get("ecs.update_service").apply(
            call(registry, "ecs.update_service", update(arns, td))
        )
    assert ecs.services(clients)["green"] == ("media-register:1", 0)


def test_update_service_onto_unhealthy_targets_fails_and_puts_the_service_back(
    registry: Registry, clients: Clients
) -> None:
    arns = build(clients, "services")
    ecs.stop_green(clients, arns)
    td = registered(registry, ecs.revision(clients, 1))
    clock = VirtualClock()
    p = update(arns, td, health_timeout=120.0)
    with pytest.raises(ActionError) as failed:
        registry.get("ecs.update_service").apply(
            call(registry, "ecs.update_service", p, clock=clock)
        )
    text = str(failed.value)
    assert "green side: target group media-register-green has 0 healthy target(s)" in text
    assert "unused (Target.InvalidState" in text
    assert "service media-register-green is back on media-register:1 with 0 task(s)" in text
    assert clock.now() - VirtualClock().now() >= 120.0  # it waited on the run's clock
    assert ecs.services(clients)["green"] == ("media-register:1", 0)
    assert media.weights(clients, arns) == {"blue": 100, "green": 0}


def test_update_service_stops_as_stale_when_the_service_changed_after_the_journal(
    registry: Registry, clients: Clients
) -> None:
    arns = build(clients, "services")
    td = registered(registry, ecs.revision(clients, 1))
    action = registry.get("ecs.update_service")
    req = call(registry, "ecs.update_service", update(arns, td))
    journaled = dict(action.before(req))
    clients.client("ecs", "us-east-1").update_service(
        cluster=ecs.CLUSTER, service="media-register-green", desiredCount=5
    )
    with pytest.raises(ResourceChanged, match="0 task\\(s\\) as journaled before this step"):
        action.apply(replace(req, before=journaled))
    assert ecs.services(clients)["green"] == ("media-register:1", 5)


def test_undo_of_update_service_refuses_while_green_still_gets_traffic(
    registry: Registry, clients: Clients
) -> None:
    arns = build(clients, "services")
    td = registered(registry, ecs.revision(clients, 1))
    action = registry.get("ecs.update_service")
    req = call(registry, "ecs.update_service", update(arns, td))
    out = action.apply(req)
    registry.get("alb.shift").apply(
        call(registry, "alb.shift", params(arns, "services", to="green", weight=50))
    )
    with pytest.raises(
        ActionError, match=r"left on the new version: green's target group .* receives 50%"
    ):
        action.undo(req, out)
    assert ecs.services(clients)["green"] == ("media-register:2", 2)


# --- task sets -------------------------------------------------------------------------------


def create(arns: dict[str, str], td: str, stable: str, **extra: Any) -> dict[str, Any]:
    return params(arns, "task-sets", to="green", task_definition=td, stable_task_set=stable) | extra


def test_create_task_set_runs_the_new_version_beside_the_primary_once(
    registry: Registry, clients: Clients, calls: Calls
) -> None:
    arns = build(clients, "task-sets", calls)
    found = discover(registry, arns, "task-sets")
    td = registered(registry, found["live_task_definition"])
    action = registry.get("ecs.create_task_set")
    req = call(registry, "ecs.create_task_set", create(arns, td, found["stable_task_set"]))
    assert action.before(req) == {"primary": found["stable_task_set"]}
    out = action.apply(req)
    assert ecs.task_sets(clients, arns) == [
        ("PRIMARY", "media-register:1", "blue"),
        ("ACTIVE", "media-register:2", "green"),
    ]
    made = clients.client("ecs", "us-east-1").describe_task_sets(
        cluster=ecs.CLUSTER, service=ecs.SERVICE, taskSets=[out["task_set"]]
    )["taskSets"][0]
    assert made["externalId"] == "deployctl:tok-1"  # the step's token finds it again
    assert (made["launchType"], made["scale"]["value"]) == ("FARGATE", 100.0)
    assert made["loadBalancers"][0]["containerName"] == "api"
    # A retry (the process died after the call) creates nothing more.
    assert action.observe(req).outputs == {"task_set": out["task_set"]}
    assert action.apply(req)["task_set"] == out["task_set"]
    assert calls["CreateTaskSet"] == 1  # this one (the world's primary is not counted)
    action.undo(req, out)
    assert ecs.task_sets(clients, arns) == [("PRIMARY", "media-register:1", "blue")]


def test_create_task_set_refuses_a_leftover_task_set_on_the_idle_side(
    registry: Registry, clients: Clients
) -> None:
    arns = build(clients, "task-sets")
    found = discover(registry, arns, "task-sets")
    td = registered(registry, found["live_task_definition"])
    other = call(registry, "ecs.create_task_set", create(arns, td, found["stable_task_set"]))
    registry.get("ecs.create_task_set").apply(other)
    mine = request(
        "ecs.create_task_set",
        create(arns, td, found["stable_task_set"]),
        VirtualClock(),
        step_id="us-east-1/another",
    )
    mine = replace_token(mine, "tok-2")
    with pytest.raises(
        ActionError, match=r"green's target group media-register-green already has task set\(s\)"
    ):
        registry.get("ecs.create_task_set").apply(mine)


def replace_token(req: StepRequest, token: str) -> StepRequest:
    return replace(req, token=token)


def test_create_task_set_onto_unhealthy_targets_fails_and_deletes_it_again(
    registry: Registry, clients: Clients
) -> None:
    arns = build(clients, "task-sets")
    ecs.stop_green(clients, arns)
    found = discover(registry, arns, "task-sets")
    td = registered(registry, found["live_task_definition"])
    req = call(registry, "ecs.create_task_set", create(arns, td, found["stable_task_set"]))
    with pytest.raises(ActionError, match=r"0 healthy target.*was deleted again"):
        registry.get("ecs.create_task_set").apply(req)
    assert ecs.task_sets(clients, arns) == [("PRIMARY", "media-register:1", "blue")]


def test_set_primary_and_its_undo_and_the_old_task_set_deleted_only_without_traffic(
    registry: Registry, clients: Clients
) -> None:
    arns = build(clients, "task-sets")
    found = discover(registry, arns, "task-sets")
    old = found["stable_task_set"]
    td = registered(registry, found["live_task_definition"])
    new = registry.get("ecs.create_task_set").apply(
        call(registry, "ecs.create_task_set", create(arns, td, old))
    )["task_set"]
    primary = registry.get("ecs.set_primary")
    req = call(
        registry,
        "ecs.set_primary",
        {"cluster": ecs.CLUSTER, "service": ecs.SERVICE, "task_set": new, "previous": old},
    )
    assert primary.before(req) == {"previous": old}
    out = primary.apply(req)
    assert primary.observe(req).applied
    assert ecs.task_sets(clients, arns)[0] == ("PRIMARY", "media-register:2", "green")
    primary.undo(req, out)
    assert ecs.task_sets(clients, arns)[0] == ("PRIMARY", "media-register:1", "blue")
    primary.apply(req)
    delete = registry.get("ecs.delete_task_set")
    gone = call(
        registry,
        "ecs.delete_task_set",
        params(arns, "task-sets", task_set=old, keep=new, **{"from": "blue"}),
    )
    with pytest.raises(
        ActionError, match=r"old task set .* kept: blue's target group .* receives 100%"
    ):
        delete.apply(gone)
    registry.get("alb.shift").apply(
        call(registry, "alb.shift", params(arns, "task-sets", to="green", weight=100))
    )
    assert not delete.observe(gone).applied
    delete.apply(gone)
    assert ecs.task_sets(clients, arns) == [("PRIMARY", "media-register:2", "green")]
    assert delete.observe(gone).applied
    delete.apply(gone)  # again: nothing left to delete, no error


def test_undo_of_set_primary_fails_when_the_old_task_set_is_gone(
    registry: Registry, clients: Clients
) -> None:
    arns = build(clients, "task-sets")
    found = discover(registry, arns, "task-sets")
    td = registered(registry, found["live_task_definition"])
    new = registry.get("ecs.create_task_set").apply(
        call(registry, "ecs.create_task_set", create(arns, td, found["stable_task_set"]))
    )["task_set"]
    old = found["stable_task_set"]
    p = {"cluster": ecs.CLUSTER, "service": ecs.SERVICE, "task_set": new, "previous": old}
    req = call(registry, "ecs.set_primary", p)
    out = registry.get("ecs.set_primary").apply(req)
    clients.client("ecs", "us-east-1").delete_task_set(
        cluster=ecs.CLUSTER, service=ecs.SERVICE, taskSet=found["stable_task_set"]
    )
    with pytest.raises(ActionError, match=r"is gone; .* stays primary"):
        registry.get("ecs.set_primary").undo(req, out)
