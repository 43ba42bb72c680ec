"""plans/media-register-ecs.yaml (one EXTERNAL service, task sets) and
plans/media-register-ecs-services.yaml (a service per colour) as real
``deployctl apply`` processes against a moto server (ECS, ELBv2, EC2,
CloudWatch): healthy metrics promote, new tasks that never get healthy move
no traffic, and a breach in the middle of the canary puts everything back
on blue.  Every outcome is read back from AWS."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployctl.testing.aws import around_now
from deployctl.testing.cli import Running, run_cli
from deployctl.testing.moto import MotoServer
from deployctl.testing.worlds import ecs, media

BLUE_LIVE = {"blue": 100, "green": 0}
OLD_ONLY = [("PRIMARY", "media-register:1", "blue")]
SERVICES_BEFORE = {"blue": ("media-register:1", 2), "green": ("media-register:1", 0)}


def world(server: MotoServer, shape: str) -> dict[str, str]:
    arns = ecs.build(server, shape)
    ecs.metrics(server, arns, around_now(), errors=0.0)
    return arns


def test_task_sets_healthy_canary_leaves_the_new_task_set_alone_and_primary(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    arns = world(moto_server, "task-sets")
    done = run_cli(*ecs.apply_argv(moto_server, tmp_path, arns, "task-sets"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert media.weights(moto_server, arns) == {"blue": 0, "green": 100}
    assert ecs.task_sets(moto_server, arns) == [("PRIMARY", "media-register:2", "green")]
    assert ecs.images(moto_server)["media-register:2"] == ecs.NEW_IMAGE
    # A second apply of the same plan registers no new revision (the digest
    # finds :2) and moves the new version back onto blue, the idle side now.
    ecs.metrics(moto_server, arns, around_now(), errors=0.0, color="blue")
    again = run_cli(*ecs.apply_argv(moto_server, tmp_path, arns, "task-sets"))
    assert again.returncode == 0, again.stdout + again.stderr
    assert sorted(ecs.images(moto_server)) == ["media-register:1", "media-register:2"]
    assert ecs.task_sets(moto_server, arns) == [("PRIMARY", "media-register:2", "blue")]


def test_services_healthy_linear_moves_all_traffic_to_the_green_service(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    arns = world(moto_server, "services")
    done = run_cli(*ecs.apply_argv(moto_server, tmp_path, arns, "services"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert media.weights(moto_server, arns) == {"blue": 0, "green": 100}
    # Green runs the live task definition with the new image, as many tasks as blue.
    assert ecs.services(moto_server) == {
        "blue": ("media-register:1", 2),
        "green": ("media-register:2", 2),
    }
    assert ecs.images(moto_server)["media-register:2"] == ecs.NEW_IMAGE


@pytest.mark.parametrize("shape", ["task-sets", "services"])
def test_new_tasks_that_never_get_healthy_move_no_traffic(
    shape: str, moto_server: MotoServer, tmp_path: Path
) -> None:
    arns = world(moto_server, shape)
    ecs.stop_green(moto_server, arns)
    done = run_cli(*ecs.apply_argv(moto_server, tmp_path, arns, shape))
    assert done.returncode == 3, done.stdout + done.stderr
    assert "green side: target group media-register-green has 0 healthy target(s)" in done.stdout
    assert "alb.shift" not in done.stdout and "/shift" not in done.stdout.split("rolling back")[0]
    assert media.weights(moto_server, arns) == BLUE_LIVE
    if shape == "task-sets":
        assert "was deleted again" in done.stdout
        assert ecs.task_sets(moto_server, arns) == OLD_ONLY
    else:
        assert "service media-register-green is back on media-register:1" in done.stdout
        assert ecs.services(moto_server) == SERVICES_BEFORE


def test_task_sets_breach_mid_canary_rolls_back_to_the_old_task_set(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    arns = world(moto_server, "task-sets")
    run = Running(*ecs.apply_argv(moto_server, tmp_path, arns, "task-sets", canary="3s"))
    run.wait_for("done   us-east-1/canary/stage-1/shift")
    assert media.weights(moto_server, arns) == {"blue": 90, "green": 10}
    assert ecs.task_sets(moto_server, arns) == [
        ("PRIMARY", "media-register:1", "blue"),
        ("ACTIVE", "media-register:2", "green"),
    ]
    # Half the requests to the new task set fail, each taking 2 s.
    ecs.metrics(moto_server, arns, around_now(0, 30), errors=50.0)
    code = run.finish()
    assert code == 3, run.output
    assert "rollback trigger tripped" in run.output
    assert media.weights(moto_server, arns) == BLUE_LIVE
    assert ecs.task_sets(moto_server, arns) == OLD_ONLY


def test_services_breach_mid_rollout_puts_green_back_as_it_was(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    arns = world(moto_server, "services")
    run = Running(*ecs.apply_argv(moto_server, tmp_path, arns, "services", every="3s"))
    run.wait_for("done   us-east-1/linear/stage-1/shift")
    assert media.weights(moto_server, arns) == {"blue": 50, "green": 50}
    ecs.metrics(moto_server, arns, around_now(0, 30), errors=50.0)
    code = run.finish()
    assert code == 3, run.output
    assert "rollback trigger tripped" in run.output
    assert media.weights(moto_server, arns) == BLUE_LIVE
    assert ecs.services(moto_server) == SERVICES_BEFORE


def test_plan_shows_the_live_task_definition_image_and_weights(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    arns = world(moto_server, "task-sets")
    argv = list(ecs.apply_argv(moto_server, tmp_path, arns, "task-sets"))
    argv[0] = "plan"
    shown = run_cli(*argv)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "blue 100% / green 0% (live: blue)" in out
    assert "ecs-service us-east-1 media-register/media-register" in out
    old_image = ecs.task_definition()["containerDefinitions"][0]["image"]
    assert f"primary media-register:1 (api: {old_image}) on blue at 100%" in out
    assert f"media-register:2 (image {ecs.NEW_IMAGE})" in out
    assert "+ task set media-register:2 on green at 100%" in out
    assert "the new task set is primary" in out


def test_plan_of_two_services_shows_the_idle_service_getting_the_new_revision(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    arns = world(moto_server, "services")
    argv = list(ecs.apply_argv(moto_server, tmp_path, arns, "services"))
    argv[0] = "plan"
    shown = run_cli(*argv)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "blue 100% / green 0% (live: blue)  ->  blue 50% / green 50%" in out
    old_image = ecs.task_definition()["containerDefinitions"][0]["image"]
    assert (
        f"media-register:1 (api: {old_image}), 0 task(s), on green  ->  "
        "media-register:2, 2 task(s), stable and healthy before any traffic"
    ) in out
    assert (
        f"latest media-register:1 (api: {old_image})  ->  media-register:2 (image {ecs.NEW_IMAGE})"
        in out
    )
    assert "${" not in out
